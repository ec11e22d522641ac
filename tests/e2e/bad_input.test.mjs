// Hostile and malformed HTTP over raw sockets: chroma-ha must answer with the right status and a
// JSON error body ({"error": string, "message": string}), close the connection where the framing
// cannot be trusted, and keep serving afterwards.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { TD, http, makeTempDir, requestCounts, startChromaHa, startStack } from './harness.mjs';
import { assertJsonError, parseResponse } from './raw_http.mjs';

const MAX_BODY_BYTES = 1024;
const HEADER_TIMEOUT_MS = 500;
const REPLY_DEADLINE_MS = 5000;

// Sends `chunks` (strings or Buffers) on a fresh connection and collects what comes back until the
// server closes the connection or `deadlineMs` passes. Never ends the sending side itself unless
// `endAfterWrite`. Resolves {status, headers, body, json, closed, reset, raw}.
function rawExchange(port, chunks, { deadlineMs = REPLY_DEADLINE_MS, endAfterWrite = false } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const received = [];
    let closed = false;
    let reset = false;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ ...parseResponse(Buffer.concat(received)), closed, reset });
    };
    const timer = setTimeout(finish, deadlineMs);
    sock.on('connect', () => {
      for (const c of chunks) sock.write(c);
      if (endAfterWrite) sock.end();
    });
    sock.on('data', (d) => received.push(d));
    sock.on('end', () => {
      closed = true;
      finish();
    });
    sock.on('close', () => {
      closed = true;
      finish();
    });
    sock.on('error', (e) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') reset = true;
      closed = true;
      finish();
    });
  });
}

function assertStatus(res, status, what) {
  assert.equal(
    res.status,
    status,
    `${what}: expected ${status}, got ${res.status} (closed=${res.closed}, reset=${res.reset}) ${JSON.stringify(res.raw.slice(0, 300))}`,
  );
}

describe('bad input', () => {
  let stack;
  let port;

  before(async () => {
    stack = await startStack({
      name: 'bad-input',
      env: { MAX_BODY_BYTES: String(MAX_BODY_BYTES), HEADER_TIMEOUT_MS: String(HEADER_TIMEOUT_MS) },
    });
    port = stack.ha.port;
  });

  after(async () => {
    await stack?.stop();
  });

  test('Content-Length together with Transfer-Encoding: 400 and close', async () => {
    const res = await rawExchange(port, [
      `POST ${TD}/collections HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
        'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ]);
    assertStatus(res, 400, 'CL+TE');
    assertJsonError(res, 'CL+TE');
    assert.ok(res.closed, 'connection closed');
  });

  test('two different Content-Length headers: 400 and close', async () => {
    const res = await rawExchange(port, [
      `POST ${TD}/collections HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
        'Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x',
    ]);
    assertStatus(res, 400, 'duplicate Content-Length');
    assertJsonError(res, 'duplicate Content-Length');
    assert.ok(res.closed, 'connection closed');
  });

  test('headers over the cap: 431', async () => {
    const big = 'a'.repeat(20 * 1024);
    const res = await rawExchange(port, [
      `GET /api/v2/heartbeat HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${big}\r\n\r\n`,
    ]);
    assertStatus(res, 431, 'oversized headers');
    assertJsonError(res, 'oversized headers');
  });

  test('body over MAX_BODY_BYTES: 413 before the body has been sent', async () => {
    const declared = 10 * 1024 * 1024;
    const res = await rawExchange(port, [
      `POST ${TD}/collections HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${declared}\r\n\r\n{"name":`,
    ]);
    assertStatus(res, 413, 'oversized body');
    assertJsonError(res, 'oversized body');
  });

  test('no complete header within HEADER_TIMEOUT_MS: 408 and close', async () => {
    const t0 = Date.now();
    const res = await rawExchange(port, ['GET /api/v2/heartbeat HTTP/1.1\r\nHost: 127.0.0.1\r\n'], {
      deadlineMs: HEADER_TIMEOUT_MS + REPLY_DEADLINE_MS,
    });
    const elapsed = Date.now() - t0;
    assertStatus(res, 408, 'header timeout');
    assertJsonError(res, 'header timeout');
    assert.ok(res.closed, 'connection closed');
    assert.ok(elapsed >= HEADER_TIMEOUT_MS - 50, `answered after ${elapsed} ms, before the timeout`);
  });

  test('dot-segment paths: 400', async () => {
    for (const path of ['/api/v2/../api/v2/reset', '/api/v2/./heartbeat']) {
      const method = path.endsWith('reset') ? 'POST' : 'GET';
      const res = await rawExchange(port, [
        `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      ]);
      assertStatus(res, 400, path);
      assertJsonError(res, path);
    }
  });

  test('malformed JSON on a write: 400 JSON error', async () => {
    const res = await http(`${stack.ha.url}${TD}/collections`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{bad',
    });
    assert.equal(res.status, 400, res.text);
    assert.ok(res.json, `JSON body: ${res.text}`);
    assert.equal(typeof res.json.error, 'string');
    assert.equal(typeof res.json.message, 'string');
  });

  // A write to a route chroma-ha does not know (here one a newer Chroma might add) would reach the
  // primary alone, unlogged: the instances would diverge silently. Refused by default; forwarded
  // to the primary only with UNKNOWN_WRITE_ROUTES=primary, and counted.
  test('a write to an unknown route: 501 JSON naming it, nothing forwarded; primary mode forwards it', async () => {
    const route = `${TD}/snapshots`;
    const before = await requestCounts(stack.ha);
    const res = await http(`${stack.ha.url}${route}?token=hidden`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"to":1}',
    });
    assert.equal(res.status, 501, res.text);
    assert.equal(res.json?.error, 'NotImplementedError', res.text);
    assert.ok(res.json.message.includes(`POST ${route}`), res.json.message);
    assert.ok(!res.json.message.includes('hidden'), 'the query string is not echoed');
    assert.deepEqual(await requestCounts(stack.ha), before, 'nothing was forwarded');
    const metrics = await http(`${stack.ha.url}/metrics`);
    assert.match(metrics.text, /chroma_ha_unknown_writes_total\{outcome="refused"\} 1\b/);
    // A read of an unknown route still goes to the primary (Chroma answers it).
    const read = await http(`${stack.ha.url}/api/v2/not-a-route`);
    assert.equal(read.status, 404, read.text);

    const ha = await startChromaHa({
      dir: makeTempDir('unknown-primary'),
      primaryUrl: stack.primary.url,
      replicaUrl: stack.replica.url,
      env: { UNKNOWN_WRITE_ROUTES: 'primary' },
    });
    try {
      await ha.waitAllHealthy();
      const sent = await requestCounts(ha);
      const fwd = await http(`${ha.url}${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"to":1}',
      });
      assert.ok(fwd.status >= 400 && fwd.status < 500 && fwd.status !== 501, `Chroma's own answer: ${fwd.status} ${fwd.text}`);
      const after = await requestCounts(ha);
      assert.equal(after.primary, sent.primary + 1, 'sent to the primary');
      assert.equal(after.replica, sent.replica, 'not to the replica');
      const status = await ha.status();
      assert.equal(status.requests.unknown_writes_forwarded, 1, JSON.stringify(status.requests));
    } finally {
      await ha.stop();
    }
  });

  test('still serving afterwards', async () => {
    const res = await http(`${stack.ha.url}/health`);
    assert.equal(res.status, 200, res.text);
    assert.ok(stack.ha.alive(), 'chroma-ha is still running');
    const hb = await http(`${stack.ha.url}/api/v2/heartbeat`);
    assert.equal(hb.status, 200, hb.text);
  });
});
