// The connection cap of the real binary (MAX_CONNECTIONS), over raw sockets: a connection over
// the cap is answered 503 JSON with Retry-After: 1 and Connection: close at once (before it sends
// anything), and once a connection ends its place is given to the next one.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { http, startStack, waitFor } from './harness.mjs';
import { assertJsonError, parseResponse } from './raw_http.mjs';

const MAX_CONNECTIONS = 4;

// A raw connection; `next()` resolves the next complete response (or {closed: true}).
function connect(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    let closed = false;
    let waiter = null;
    const check = () => {
      if (!waiter) return;
      const res = parseResponse(buf);
      const len = Number(res.headers['content-length'] ?? 0);
      if (res.status !== undefined && Buffer.byteLength(res.body, 'latin1') >= len) {
        const head = buf.indexOf('\r\n\r\n');
        buf = buf.subarray(head + 4 + len);
        const w = waiter;
        waiter = null;
        w({ ...res, closed });
      } else if (closed) {
        const w = waiter;
        waiter = null;
        w({ closed: true, raw: buf.toString('latin1') });
      }
    };
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      check();
    });
    sock.on('close', () => {
      closed = true;
      check();
    });
    sock.on('error', () => {});
    sock.on('connect', () =>
      resolve({
        sock,
        next: (timeoutMs = 5000) =>
          new Promise((res) => {
            const timer = setTimeout(() => res({ timedOut: true }), timeoutMs);
            waiter = (r) => {
              clearTimeout(timer);
              res(r);
            };
            check();
          }),
        get: (path) => sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`),
        closed: () => closed,
      }),
    );
    sock.on('error', reject);
  });
}

describe('client edge limits', () => {
  let stack;
  before(async () => {
    stack = await startStack({ name: 'edge-limits', env: { MAX_CONNECTIONS: String(MAX_CONNECTIONS) } });
  });
  after(async () => {
    await stack?.stop();
  });

  test(`MAX_CONNECTIONS=${MAX_CONNECTIONS}: the connection over the cap gets 503 + Retry-After, unread`, async () => {
    const port = stack.ha.port;
    const admitted = [];
    let refused = null;
    // Open connections (each served once, then held idle) until one is refused. The harness's
    // own keep-alive connections may hold some places, so the refusal comes at or before the cap.
    for (let i = 0; i <= MAX_CONNECTIONS && !refused; ++i) {
      const c = await connect(port);
      const first = await c.next(300); // an over-cap connection is answered before it sends
      if (first.status === 503) {
        refused = { c, res: first };
        break;
      }
      assert.ok(first.timedOut, `an admitted connection says nothing first: ${JSON.stringify(first)}`);
      c.get('/api/v2/heartbeat');
      const r = await c.next();
      if (r.status === 503) {
        refused = { c, res: r }; // answered later than the short wait above (a loaded machine)
        break;
      }
      assert.equal(r.status, 200, `connection ${i}: ${JSON.stringify(r)}`);
      admitted.push(c);
    }
    assert.ok(refused, `a connection was refused within ${MAX_CONNECTIONS + 1}`);
    assert.ok(admitted.length >= 1 && admitted.length <= MAX_CONNECTIONS, `admitted ${admitted.length}`);
    const { c, res } = refused;
    assert.equal(res.headers['retry-after'], '1');
    assert.equal(res.headers.connection?.toLowerCase(), 'close');
    assertJsonError(res, 'over MAX_CONNECTIONS');
    await waitFor(() => c.closed(), { what: 'the refused connection closed' });

    // The admitted ones keep working; when one ends, a new connection is admitted.
    admitted[0].get('/api/v2/heartbeat');
    assert.equal((await admitted[0].next()).status, 200);
    admitted.pop().sock.destroy();
    await waitFor(
      async () => {
        const n = await connect(port);
        n.get('/api/v2/heartbeat');
        const r = await n.next();
        n.sock.destroy();
        return r.status === 200;
      },
      { what: 'a new connection admitted once one ended' },
    );
    for (const a of admitted) a.sock.destroy();
    assert.equal((await http(`${stack.ha.url}/health`)).status, 200);
  });
});
