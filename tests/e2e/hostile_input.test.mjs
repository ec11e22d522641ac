// Hostile input corpus (DESIGN.md §7), over raw sockets against the real binary and two real
// Chroma servers. For every case: the expected status, chroma-ha's JSON error body where it
// answers itself, the connection closed where the framing cannot be trusted, nothing appended to
// the WAL for a rejected request (/wal/stats "appended" unchanged), and chroma-ha still serving
// (/health 200) at the end. Accepted bodies are stored byte-exact (`\u0000` in ids and
// documents) and replicated; dangerous routes never reach the instances' reset.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ChromaClient } from 'chromadb';
import {
  TD,
  freePort,
  http,
  makeClient,
  makeTempDir,
  requestCounts,
  sleep,
  startChromaHa,
  startStack,
  waitWalDrained,
  walStats,
} from './harness.mjs';
import { assertJsonError, parseResponse } from './raw_http.mjs';

const MAX_BODY_BYTES = 200 * 1024; // room for a batch of max_batch_size + 1 small records
const HEADER_TIMEOUT_MS = 500;
const REPLY_DEADLINE_MS = 5000;
const JSON_CT = { 'content-type': 'application/json' };

// Opens a connection, runs `send(sock)` once connected, and collects what comes back until the
// server closes the connection or `deadlineMs` passes. Resolves {status, headers, body, json,
// closed, reset, raw, sock}. `send` may be async (trickling bytes); it should stop when
// `state.done` or `state.answered` is set.
function exchange(port, send, { deadlineMs = REPLY_DEADLINE_MS } = {}) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const state = { done: false, answered: false, closed: false, reset: false };
    const received = [];
    const finish = () => {
      if (state.done) return;
      state.done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ ...parseResponse(Buffer.concat(received)), closed: state.closed, reset: state.reset });
    };
    const timer = setTimeout(finish, deadlineMs);
    sock.on('connect', () => {
      Promise.resolve(send(sock, state)).catch(() => {});
    });
    sock.on('data', (d) => {
      received.push(d);
      state.answered = true;
    });
    for (const ev of ['end', 'close']) {
      sock.on(ev, () => {
        state.closed = true;
        finish();
      });
    }
    sock.on('error', (e) => {
      if (e.code === 'ECONNRESET' || e.code === 'EPIPE') state.reset = true;
      state.closed = true;
      finish();
    });
  });
}

// Writes `chunks` at once.
function raw(port, ...chunks) {
  return exchange(port, (sock) => {
    for (const c of chunks) sock.write(c);
  });
}

function show(res) {
  return `got ${res.status} (closed=${res.closed}, reset=${res.reset}) ${JSON.stringify(res.raw.slice(0, 300))}`;
}

// `status`, JSON error, and (when `close`) the connection closed by chroma-ha.
function assertRejected(res, status, what, { close = true } = {}) {
  assert.equal(res.status, status, `${what}: expected ${status}, ${show(res)}`);
  assertJsonError(res, what);
  if (close) {
    assert.ok(res.closed, `${what}: connection closed after the answer`);
    assert.equal(res.headers.connection?.toLowerCase(), 'close', `${what}: Connection: close`);
  }
}

const POST_HEAD = (path, extra) =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${extra}`;

describe('hostile input', () => {
  let stack;
  let port;
  let colId; // canonical id (as clients see it) of the collection the write cases target
  const COL = 'hostile';

  // The WAL's "appended" counter around `fn`: must not move for a rejected request.
  async function appendedUnchanged(what, fn) {
    const before = (await walStats(stack.ha)).appended;
    const res = await fn();
    const afterCount = (await walStats(stack.ha)).appended;
    assert.equal(afterCount, before, `${what}: nothing appended to the WAL (appended ${before} -> ${afterCount})`);
    return res;
  }

  async function directCount(url, name) {
    const col = await makeClient(url).getCollection({ name, embeddingFunction: null });
    return col.count();
  }

  before(async () => {
    stack = await startStack({
      name: 'hostile-input',
      env: { MAX_BODY_BYTES: String(MAX_BODY_BYTES), HEADER_TIMEOUT_MS: String(HEADER_TIMEOUT_MS) },
    });
    port = stack.ha.port;
    const client = stack.client();
    const col = await client.createCollection({ name: COL, metadata: { suite: 'hostile' }, embeddingFunction: null });
    colId = col.id;
    await col.add({ ids: ['keep1', 'keep2'], embeddings: [[1, 0], [0, 1]], documents: ['k1', 'k2'] });
    await waitWalDrained(stack.ha);
  });

  after(async () => {
    await stack?.stop();
  });

  // ---------------------------------------------------------------------------------------------
  // Framing: request smuggling vectors (400 and close, nothing logged)

  const addPath = () => `${TD}/collections/${colId}/add`;
  const smallAdd = '{"ids":["smuggled"],"embeddings":[[0.5,0.5]]}';
  const smuggling = () => [
    ['Content-Length then Transfer-Encoding', POST_HEAD(addPath(), `Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`)],
    ['Transfer-Encoding then Content-Length', POST_HEAD(addPath(), `Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`)],
    [
      'Transfer-Encoding: chunked with a Content-Length covering a second request',
      POST_HEAD(addPath(), `Transfer-Encoding: chunked\r\nContent-Length: ${smallAdd.length + 9}\r\n\r\n`) +
        `${smallAdd.length.toString(16)}\r\n${smallAdd}\r\n0\r\n\r\n`,
    ],
    ['Transfer-Encoding: chunked, identity', POST_HEAD(addPath(), 'Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n')],
    ['Transfer-Encoding: identity', POST_HEAD(addPath(), `Transfer-Encoding: identity\r\n\r\n${smallAdd}`)],
    ['two Transfer-Encoding headers', POST_HEAD(addPath(), 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')],
    [
      'obs-fold continuing Transfer-Encoding',
      POST_HEAD(addPath(), `Content-Length: 5\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`),
    ],
    ['duplicate Content-Length, same value', POST_HEAD(addPath(), `Content-Length: ${smallAdd.length}\r\nContent-Length: ${smallAdd.length}\r\n\r\n${smallAdd}`)],
    ['duplicate Content-Length, different values', POST_HEAD(addPath(), `Content-Length: 2\r\nContent-Length: ${smallAdd.length}\r\n\r\n${smallAdd}`)],
    ['negative Content-Length', POST_HEAD(addPath(), `Content-Length: -1\r\n\r\n${smallAdd}`)],
    ['Content-Length with a plus sign', POST_HEAD(addPath(), `Content-Length: +${smallAdd.length}\r\n\r\n${smallAdd}`)],
    ['bare LF line endings', `POST ${addPath()} HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\nContent-Length: ${smallAdd.length}\n\n${smallAdd}`],
    ['a bare LF inside CRLF headers', POST_HEAD(addPath(), `X-A: b\nContent-Length: ${smallAdd.length}\r\n\r\n${smallAdd}`)],
    ['a bare CR inside a header', POST_HEAD(addPath(), `X-A: b\rc\r\nContent-Length: ${smallAdd.length}\r\n\r\n${smallAdd}`)],
    ['NUL in a header value', POST_HEAD(addPath(), `X-A: a\u0000b\r\nContent-Length: ${smallAdd.length}\r\n\r\n${smallAdd}`)],
    ['NUL in a header name', POST_HEAD(addPath(), `X-\u0000A: b\r\nContent-Length: ${smallAdd.length}\r\n\r\n${smallAdd}`)],
    ['space before the colon', POST_HEAD(addPath(), `Content-Length : ${smallAdd.length}\r\n\r\n${smallAdd}`)],
    ['bad chunk size', POST_HEAD(addPath(), 'Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n')],
  ];

  test('request smuggling and malformed framing: 400 JSON, closed, nothing logged', async () => {
    const failures = [];
    for (const [what, request] of smuggling()) {
      try {
        await appendedUnchanged(what, async () => {
          const res = await raw(port, Buffer.from(request, 'latin1'));
          assertRejected(res, 400, what);
          return res;
        });
      } catch (e) {
        failures.push(e.message);
      }
    }
    assert.deepEqual(failures, [], failures.join('\n\n'));
    // Nothing of the smuggled add reached an instance.
    for (const s of [stack.primary, stack.replica]) {
      const got = await makeClient(s.url).getCollection({ name: COL, embeddingFunction: null });
      assert.deepEqual((await got.get({ ids: ['smuggled'] })).ids, [], `smuggled record on ${s.url}`);
    }
  });

  test('Content-Length as a list of identical values ("n, n"): 400 like two Content-Length lines', async () => {
    // DESIGN.md §7: duplicate Content-Length → 400 and close. RFC 9110 §8.6 treats a list of
    // identical values like repeated header lines; chroma-ha rejects the repeated lines (above)
    // but lets Beast accept the list form, so the two spellings of one request are treated
    // differently.
    const body = '{"ids":["cl-list"],"embeddings":[[0.5,0.5]]}';
    const res = await appendedUnchanged('Content-Length list', () =>
      raw(port, POST_HEAD(addPath(), `Content-Length: ${body.length}, ${body.length}\r\n\r\n${body}`)),
    );
    assertRejected(res, 400, 'Content-Length list "n, n"');
  });

  test('obs-fold hiding Transfer-Encoding: unfolded into the previous header, framed by Content-Length', async () => {
    // RFC 9112 §5.2: reject (400) or replace the fold with spaces. Beast unfolds, so
    // "Transfer-Encoding: chunked" is text inside X-Pad, and Content-Length frames one request.
    const body = '{"ids":["folded"],"embeddings":[[0.5,0.5]]}';
    const res = await raw(
      port,
      POST_HEAD(addPath(), `Content-Length: ${body.length}\r\nX-Pad: a\r\n Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body}`),
    );
    if (res.status === 400) {
      assertRejected(res, 400, 'obs-fold TE');
      return;
    }
    assert.equal(res.status, 201, `obs-fold TE: 400, or 201 framed by Content-Length: ${show(res)}`);
    // Exactly one response: the body was not read as a chunked stream or a second request.
    assert.equal(res.raw.split('HTTP/1.1 ').length - 1, 1, show(res));
  });

  test('obs-fold in an ordinary header: 400 and close, or unfolded (never forwarded raw)', async () => {
    const res = await appendedUnchanged('obs-fold', () =>
      raw(port, 'GET /api/v2/heartbeat HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Folded: a\r\n b\r\nConnection: close\r\n\r\n'),
    );
    if (res.status === 400) {
      assertRejected(res, 400, 'obs-fold');
    } else {
      assert.equal(res.status, 200, `obs-fold: 400 or 200, ${show(res)}`);
    }
  });

  // ---------------------------------------------------------------------------------------------
  // Limits and timeouts

  test('header over the cap: 431 and close', async () => {
    const res = await appendedUnchanged('huge header', () =>
      raw(port, POST_HEAD(addPath(), `X-Big: ${'a'.repeat(64 * 1024)}\r\nContent-Length: 2\r\n\r\n{}`)),
    );
    assertRejected(res, 431, 'huge header');
  });

  test('many small headers over the cap: 431', async () => {
    const many = Array.from({ length: 2000 }, (_, i) => `X-H${i}: v\r\n`).join('');
    const res = await appendedUnchanged('many headers', () => raw(port, `GET /api/v2/heartbeat HTTP/1.1\r\nHost: x\r\n${many}\r\n`));
    assertRejected(res, 431, 'many headers');
  });

  test('Content-Length over MAX_BODY_BYTES: 413 before the body is sent', async () => {
    let sentBody = false;
    const res = await appendedUnchanged('413 by Content-Length', () =>
      exchange(port, async (sock, state) => {
        sock.write(POST_HEAD(addPath(), `Content-Length: ${MAX_BODY_BYTES + 1}\r\n\r\n`));
        // Wait for the answer without sending a byte of the body.
        for (let i = 0; i < 100 && !state.answered && !state.done; i++) await sleep(20);
        if (!state.answered && !state.done) {
          sentBody = true;
          sock.write('x'.repeat(MAX_BODY_BYTES + 1));
        }
      }),
    );
    assert.equal(sentBody, false, 'chroma-ha waited for the body before answering');
    assertRejected(res, 413, 'Content-Length over the limit');
  });

  test('chunked body over MAX_BODY_BYTES without Content-Length: 413', async () => {
    const res = await appendedUnchanged('413 chunked', () =>
      exchange(port, async (sock, state) => {
        sock.write(POST_HEAD(addPath(), 'Transfer-Encoding: chunked\r\n\r\n'));
        const chunk = 'y'.repeat(8192);
        // Trickle chunks until chroma-ha answers (at most twice the limit).
        for (let sent = 0; sent <= 2 * MAX_BODY_BYTES && !state.answered && !state.done; sent += chunk.length) {
          sock.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
          await sleep(5);
        }
      }),
    );
    assertRejected(res, 413, 'chunked over the limit');
  });

  test('slowloris: header bytes trickled past HEADER_TIMEOUT_MS: 408 and close', async () => {
    const t0 = Date.now();
    const header = 'GET /api/v2/heartbeat HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ' + 'z'.repeat(60) + '\r\n\r\n';
    const res = await appendedUnchanged('slowloris', () =>
      exchange(
        port,
        async (sock, state) => {
          // One byte every 100 ms: each read is quick, the whole header is not.
          for (const ch of header) {
            if (state.done || state.answered) return;
            sock.write(ch);
            await sleep(100);
          }
        },
        { deadlineMs: HEADER_TIMEOUT_MS + REPLY_DEADLINE_MS },
      ),
    );
    const elapsed = Date.now() - t0;
    assertRejected(res, 408, 'slowloris');
    assert.ok(elapsed >= HEADER_TIMEOUT_MS - 50, `answered after ${elapsed} ms, before the timeout`);
    assert.ok(elapsed < HEADER_TIMEOUT_MS + 3000, `answered after ${elapsed} ms: the deadline is per header, not per read`);
  });

  test('slowloris on a keep-alive connection: the second request header is timed too', async () => {
    const res = await appendedUnchanged('slowloris keep-alive', () =>
      exchange(
        port,
        async (sock, state) => {
          sock.write('GET /api/v2/heartbeat HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
          await sleep(100);
          for (const ch of 'GET /api/v2/heartbeat HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: zzzzzzzzzzzzzzzzzzzz\r\n\r\n') {
            if (state.done) return;
            sock.write(ch);
            await sleep(100);
          }
        },
        { deadlineMs: HEADER_TIMEOUT_MS + REPLY_DEADLINE_MS },
      ),
    );
    // The first answer is the heartbeat; the connection must then end with a 408 once the second
    // header has taken HEADER_TIMEOUT_MS (not IDLE_TIMEOUT_MS: its bytes are arriving).
    assert.equal(res.status, 200, show(res));
    assert.ok(
      res.closed,
      `second request header trickled for ${REPLY_DEADLINE_MS} ms > HEADER_TIMEOUT_MS=${HEADER_TIMEOUT_MS} without a 408 or close: ` +
        'on a keep-alive connection the header deadline is IDLE_TIMEOUT_MS (armed once before the first byte), not HEADER_TIMEOUT_MS',
    );
    const rest = res.raw.slice(res.raw.indexOf('\r\n\r\n') + 4 + Number(res.headers['content-length'] ?? 0));
    const second = parseResponse(Buffer.from(rest, 'latin1'));
    assert.equal(second.status, 408, `second response: ${JSON.stringify(rest.slice(0, 200))}`);
  });

  // ---------------------------------------------------------------------------------------------
  // Bodies

  test('malformed and non-UTF-8 JSON on writes: 400 JSON error, nothing logged', async () => {
    const bodies = [
      ['truncated JSON', Buffer.from('{"ids":["a"],"embeddings":[[1,2]]')],
      ['not JSON', Buffer.from('{bad')],
      ['empty body', Buffer.alloc(0)],
      ['invalid UTF-8 byte in a string', Buffer.concat([Buffer.from('{"ids":["'), Buffer.from([0xff, 0xfe]), Buffer.from('"],"embeddings":[[1,2]]}')])],
      ['overlong UTF-8 encoding', Buffer.concat([Buffer.from('{"ids":["'), Buffer.from([0xc0, 0xaf]), Buffer.from('"],"embeddings":[[1,2]]}')])],
      ['UTF-8 encoded surrogate', Buffer.concat([Buffer.from('{"ids":["'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"],"embeddings":[[1,2]]}')])],
      ['lone surrogate escape', Buffer.from('{"ids":["\\ud800"],"embeddings":[[1,2]]}')],
      ['raw NUL byte inside a string', Buffer.from('{"ids":["a\u0000b"],"embeddings":[[1,2]]}')],
      ['trailing garbage', Buffer.from('{"ids":["a"],"embeddings":[[1,2]]} x')],
      ['UTF-16 body', Buffer.from('{"ids":["a"],"embeddings":[[1,2]]}', 'utf16le')],
    ];
    const targets = [
      ['add', addPath()],
      ['upsert', `${TD}/collections/${colId}/upsert`],
      ['create collection', `${TD}/collections`],
    ];
    const failures = [];
    for (const [what, body] of bodies) {
      for (const [route, path] of targets) {
        const label = `${what} on ${route}`;
        try {
          await appendedUnchanged(label, async () => {
            const res = await raw(
              port,
              Buffer.concat([Buffer.from(POST_HEAD(path, `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`)), body]),
            );
            assert.equal(res.status, 400, `${label}: ${show(res)}`);
            assertJsonError(res, label);
          });
        } catch (e) {
          failures.push(e.message);
        }
      }
    }
    assert.deepEqual(failures, [], failures.join('\n\n'));
  });

  test('\\u0000 in an id and a document: accepted, stored byte-exact, replicated', async () => {
    const id = 'nul\u0000id';
    const doc = 'doc\u0000with\u0000nuls \u00e9\u{1F600}';
    const meta = { note: 'a\u0000b' };
    const body = JSON.stringify({ ids: [id], embeddings: [[0.25, 0.75]], documents: [doc], metadatas: [meta] });
    assert.ok(body.includes('\\u0000'), 'the body carries the JSON escape');
    const before = (await walStats(stack.ha)).appended;
    const res = await http(`${stack.ha.url}${addPath()}`, { method: 'POST', headers: JSON_CT, body });
    assert.equal(res.status, 201, res.text);
    assert.equal((await walStats(stack.ha)).appended, before + 1, 'the write is in the WAL');

    const readBack = async (url, collectionId) => {
      const r = await http(`${url}${TD}/collections/${collectionId}/get`, {
        method: 'POST',
        headers: JSON_CT,
        body: JSON.stringify({ ids: [id], include: ['documents', 'metadatas', 'embeddings'] }),
      });
      assert.equal(r.status, 200, r.text);
      return r.json;
    };
    const viaProxy = await readBack(stack.ha.url, colId);
    assert.deepEqual(viaProxy.ids, [id], 'id read back through chroma-ha');
    assert.equal(viaProxy.documents[0], doc, 'document read back through chroma-ha');
    assert.deepEqual(viaProxy.metadatas[0], meta);

    await waitWalDrained(stack.ha);
    for (const s of [stack.primary, stack.replica]) {
      const direct = await makeClient(s.url).getCollection({ name: COL, embeddingFunction: null });
      const got = await readBack(s.url, direct.id);
      assert.deepEqual(got.ids, [id], `id on ${s.url}`);
      assert.equal(got.documents[0], doc, `document on ${s.url}`);
      assert.deepEqual(got.metadatas[0], meta, `metadata on ${s.url}`);
      assert.deepEqual(got.embeddings[0], [0.25, 0.75]);
    }
  });

  // ---------------------------------------------------------------------------------------------
  // Paths: traversal and encoded slashes never reach reset or tenant/database changes. (The
  // tenant and database routes themselves pass, as on Chroma: issue 12; their variants do not.)

  test('path traversal and encoded slashes against reset, tenant and database routes', async () => {
    const T = '/api/v2/tenants/default_tenant';
    const cases = [
      ['POST', '/api/v2/../api/v2/reset'],
      ['POST', '/api/v2/%2e%2e/v2/reset'],
      ['POST', '/api/v2/%2E%2E/api/v2/reset'],
      ['POST', '/api/v2/./reset'],
      ['POST', '/api/v2/reset/..'],
      ['POST', '/api/v2/reset/'],
      ['POST', '/api/v2//reset'],
      ['POST', '//api/v2/reset'],
      ['POST', '/api//v2/reset'],
      ['POST', '/api/v2/reset%2F'],
      ['POST', '/api/v2%2Freset'],
      ['POST', '/api/v2/re%73et'],
      ['POST', '/api/v2/RESET'],
      ['POST', '/api/v2/reset?x=/../'],
      ['POST', '/api/v2/reset;x=1'],
      ['POST', '/api/v2/reset'],
      ['POST', '/api/v2/reset%00'],
      ['POST', '/api/v2/tenants/'],
      ['POST', '/api/v2//tenants'],
      ['POST', `${T}/databases/`],
      ['POST', `${T}/databases/..%2F..%2F..%2Freset`],
      ['POST', `${T}/databases/%2e%2e/%2e%2e/%2e%2e/reset`],
      ['DELETE', `${T}/databases/default_database/`],
      ['DELETE', `${T}/databases/default_database/..`],
      ['DELETE', `${T}/databases/default_database%2F..`],
      ['DELETE', `${T}/databases/x/../default_database`],
      ['DELETE', `${T}/databases/default_database/collections/../../default_database`],
      ['DELETE', `/api/v2/tenants/default_tenant%2Fdatabases%2Fdefault_database`],
      ['DELETE', `/api/v2/tenants/..%2Fdefault_tenant/databases/default_database`],
      ['DELETE', `${T}//databases/default_database`],
    ];
    const failures = [];
    for (const [method, path] of cases) {
      const label = `${method} ${path}`;
      try {
        const sentBefore = await requestCounts(stack.ha);
        const res = await appendedUnchanged(label, async () => {
          const r = await raw(
            port,
            `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 18\r\nConnection: close\r\n\r\n{"name":"hostile"}`,
          );
          // 501: a write to a route chroma-ha does not know (e.g. with a trailing slash) is refused.
          assert.ok([400, 401, 403, 404, 501].includes(r.status), `${label}: expected 400/401/403/404/501, ${show(r)}`);
          if (r.status !== 404) assertJsonError(r, label);
          return r;
        });
        // Forwarded at all? Then only as a route the instance does not know (its own 404).
        const sentAfter = await requestCounts(stack.ha);
        const forwarded = sentAfter.primary + sentAfter.replica - sentBefore.primary - sentBefore.replica;
        if (forwarded > 0) {
          assert.equal(res.status, 404, `${label}: forwarded to an instance and answered ${res.status}`);
        }
      } catch (e) {
        failures.push(e.message);
      }
    }
    // The data and the database are still there on both instances; no tenant was created.
    for (const s of [stack.primary, stack.replica]) {
      const count = await directCount(s.url, COL);
      if (count < 2) failures.push(`${s.url}: collection ${COL} has ${count} records: a reset or delete got through`);
      const db = await http(`${s.url}${TD}`);
      if (db.status !== 200) failures.push(`${s.url}: default_database answered ${db.status}`);
      const t = await http(`${s.url}/api/v2/tenants/hostile`);
      if (t.status === 200) failures.push(`${s.url}: tenant "hostile" was created`);
    }
    assert.deepEqual(failures, [], failures.join('\n\n'));
  });

  // ---------------------------------------------------------------------------------------------
  // Batches larger than the server's max_batch_size

  test('batch larger than max_batch_size: the instance decides, nothing replayed on failure', async () => {
    const pre = await http(`${stack.ha.url}/api/v2/pre-flight-checks`);
    assert.equal(pre.status, 200, pre.text);
    const max = pre.json.max_batch_size;
    assert.ok(Number.isInteger(max) && max > 0, pre.text);
    const client = stack.client();
    const col = await client.createCollection({ name: 'hostile-batch', embeddingFunction: null });
    const n = max + 1;
    const body = JSON.stringify({
      ids: Array.from({ length: n }, (_, i) => `b${i}`),
      embeddings: Array.from({ length: n }, () => [0.5, 0.25]),
    });
    assert.ok(body.length < MAX_BODY_BYTES, `batch body ${body.length} bytes fits MAX_BODY_BYTES`);
    const statsBefore = await walStats(stack.ha);
    const res = await http(`${stack.ha.url}${TD}/collections/${col.id}/add`, {
      method: 'POST',
      headers: JSON_CT,
      body,
      timeoutMs: 60000,
    });
    await waitWalDrained(stack.ha, { timeoutMs: 60000 });
    const statsAfter = await walStats(stack.ha);
    const primary = await directCount(stack.primary.url, 'hostile-batch');
    const replica = await directCount(stack.replica.url, 'hostile-batch');
    if (res.status >= 200 && res.status < 300) {
      // Chroma 1.0 servers do not enforce max_batch_size (clients do): accepted and replicated.
      assert.equal(primary, n);
      assert.equal(replica, n);
      assert.equal(statsAfter.failed ?? 0, statsBefore.failed ?? 0, 'no replay failure');
    } else {
      // The instance's own error passes through and nothing is replayed.
      assert.ok(res.status >= 400 && res.status < 500, `instance error passes through: ${res.status} ${res.text.slice(0, 200)}`);
      assertJsonError({ ...res, raw: res.text, body: res.text }, 'batch error');
      assert.equal(statsAfter.replayed, statsBefore.replayed, 'nothing replayed');
      assert.equal(replica, 0);
    }
  });

  // A client that sends `Expect: 100-continue` waits for `100 Continue` before its body (curl does
  // so for large bodies): it is answered before the body is read, and only when the body fits.
  function expectContinue(head, bodyAfter100) {
    return new Promise((resolve) => {
      const sock = net.connect({ host: '127.0.0.1', port });
      let got = Buffer.alloc(0);
      let sentBody = false;
      let continued = false;
      const finish = (why) => {
        clearTimeout(timer);
        sock.destroy();
        const text = got.toString('latin1');
        const rest = continued ? text.slice(text.indexOf('\r\n\r\n') + 4) : text;
        resolve({ continued, why, ...parseResponse(Buffer.from(rest, 'latin1')) });
      };
      const timer = setTimeout(() => finish('deadline'), REPLY_DEADLINE_MS);
      sock.on('connect', () => sock.write(head));
      sock.on('data', (d) => {
        got = Buffer.concat([got, d]);
        const text = got.toString('latin1');
        if (!sentBody && text.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
          continued = true;
          sentBody = true;
          sock.write(bodyAfter100);
          return;
        }
        const res = parseResponse(Buffer.from(continued ? text.slice(text.indexOf('\r\n\r\n') + 4) : text, 'latin1'));
        if (res.status !== undefined && res.body.length >= Number(res.headers['content-length'] ?? 0)) finish('answered');
      });
      sock.on('close', () => finish('closed'));
      sock.on('error', () => finish('error'));
    });
  }

  test('Expect: 100-continue: 100 Continue before the body is sent, then the write is served', async () => {
    const body = '{"ids":["expect-1"],"embeddings":[[0.25,0.75]],"documents":["after 100"]}';
    const res = await expectContinue(
      Buffer.from(POST_HEAD(addPath(), `Expect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`), 'latin1'),
      body,
    );
    assert.ok(res.continued, `100 Continue came first: ${res.why} ${JSON.stringify(res.raw?.slice(0, 200))}`);
    assert.ok(res.status >= 200 && res.status < 300, `the write after the 100: ${res.status} ${res.raw?.slice(0, 300)}`);
    await waitWalDrained(stack.ha);
    for (const s of [stack.primary, stack.replica]) {
      const col = await makeClient(s.url).getCollection({ name: COL, embeddingFunction: null });
      assert.deepEqual((await col.get({ ids: ['expect-1'] })).ids, ['expect-1'], `on ${s.url}`);
    }
  });

  test('Expect: 100-continue with a body over MAX_BODY_BYTES: 413 at once, without the 100', async () => {
    const res = await appendedUnchanged('Expect with a large body', () =>
      expectContinue(
        Buffer.from(POST_HEAD(addPath(), `Expect: 100-continue\r\nContent-Length: ${MAX_BODY_BYTES + 1}\r\n\r\n`), 'latin1'),
        'x'.repeat(MAX_BODY_BYTES + 1),
      ),
    );
    assert.equal(res.continued, false, 'no 100 Continue');
    assert.equal(res.status, 413, JSON.stringify(res.raw?.slice(0, 300)));
    assertJsonError(res, 'Expect with a large body');
  });

  test('still serving afterwards', async () => {
    const res = await http(`${stack.ha.url}/health`);
    assert.equal(res.status, 200, res.text);
    assert.ok(stack.ha.alive(), 'chroma-ha is still running');
    const hb = await http(`${stack.ha.url}/api/v2/heartbeat`);
    assert.equal(hb.status, 200, hb.text);
    assert.equal(await directCount(stack.primary.url, COL), await directCount(stack.replica.url, COL));
  });
});

// Hostile credential headers with client auth on (issue 12): never served, never logged to the
// WAL, answered 401 in Chroma's JSON (or 400/431 by the listener), chroma-ha still serving.
describe('hostile auth headers', () => {
  const TOKEN = 'hostile-auth-token-7f3e9a1c';
  let stack;
  let port;
  let colId;

  before(async () => {
    stack = await startStack({
      name: 'hostile-auth',
      env: { CHROMA_SERVER_AUTHN_CREDENTIALS: TOKEN, AUTH_FAILURES_PER_MINUTE: '0' },
    });
    port = stack.ha.port;
    const u = new URL(stack.ha.url);
    const client = new ChromaClient({ host: u.hostname, port: Number(u.port), headers: { Authorization: `Bearer ${TOKEN}` } });
    colId = (await client.createCollection({ name: 'hostile-auth', embeddingFunction: null })).id;
  });

  after(async () => {
    await stack?.stop();
  });

  const body = '{"ids":["h1"],"embeddings":[[0.5,0.5]]}';
  // Header lines (raw bytes, latin1) sent with an add; the statuses allowed for each.
  const cases = () => [
    ['no credential', '', [401]],
    ['empty Bearer', 'Authorization: Bearer \r\n', [401]],
    ['Bearer without a token', 'Authorization: Bearer\r\n', [401]],
    ['empty Authorization', 'Authorization: \r\n', [401]],
    ['Basic with the token', `Authorization: Basic ${Buffer.from(TOKEN).toString('base64')}\r\n`, [401]],
    ['the token without Bearer', `Authorization: ${TOKEN}\r\n`, [401]],
    ['the token as X-Chroma-Token (other transport)', `X-Chroma-Token: ${TOKEN}\r\n`, [401]],
    ['a prefix of the token', `Authorization: Bearer ${TOKEN.slice(0, -1)}\r\n`, [401]],
    ['the token with a suffix', `Authorization: Bearer ${TOKEN}x\r\n`, [401]],
    ['the token twice in one value', `Authorization: Bearer ${TOKEN}, Bearer ${TOKEN}\r\n`, [401]],
    ['the token with a space inside', `Authorization: Bearer ${TOKEN.slice(0, 5)} ${TOKEN.slice(5)}\r\n`, [401]],
    ['repeated Authorization, both right', `Authorization: Bearer ${TOKEN}\r\nAuthorization: Bearer ${TOKEN}\r\n`, [401]],
    ['repeated Authorization, wrong first', `Authorization: Bearer wrong\r\nAuthorization: Bearer ${TOKEN}\r\n`, [401]],
    ['fifty Authorization lines', `Authorization: Bearer x\r\n`.repeat(50), [401]],
    ['a 12 KB token', `Authorization: Bearer ${'A'.repeat(12 * 1024)}\r\n`, [401]],
    ['a 40 KB token (over the header cap)', `Authorization: Bearer ${'B'.repeat(40 * 1024)}\r\n`, [431]],
    ['non-ASCII (UTF-8) token', `Authorization: Bearer ${Buffer.from(`${TOKEN}\u00e9\u{1F600}`).toString('latin1')}\r\n`, [401]],
    ['latin1 bytes in the token', `Authorization: Bearer ${TOKEN}\xff\xfe\r\n`, [401]],
    ['a control byte in the token', `Authorization: Bearer ${TOKEN}\x01\r\n`, [400, 401]],
    ['DEL in the token', `Authorization: Bearer ${TOKEN}\x7f\r\n`, [400, 401]],
  ];

  test('every hostile credential is refused, nothing reaches the WAL', async () => {
    const failures = [];
    for (const [what, headers, allowed] of cases()) {
      try {
        const before = (await walStats(stack.ha)).appended;
        const res = await raw(
          port,
          Buffer.from(POST_HEAD(`${TD}/collections/${colId}/add`, `${headers}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`), 'latin1'),
        );
        assert.ok(allowed.includes(res.status), `${what}: expected ${allowed.join('/')}, ${show(res)}`);
        assertJsonError(res, what);
        if (res.status === 401) assert.equal(res.json.error, 'AuthorizationError', `${what}: ${show(res)}`);
        assert.ok(!res.raw.includes(TOKEN), `${what}: the token was echoed`);
        assert.equal((await walStats(stack.ha)).appended, before, `${what}: nothing appended`);
      } catch (e) {
        failures.push(e.message);
      }
    }
    assert.deepEqual(failures, [], failures.join('\n\n'));
  });

  test('the right token, in any case of "Bearer" and with spaces around it, is served', async () => {
    for (const header of [`Authorization: Bearer ${TOKEN}`, `authorization: bearer ${TOKEN}`, `AUTHORIZATION:   Bearer   ${TOKEN}  `]) {
      const before = (await walStats(stack.ha)).appended;
      const res = await raw(
        port,
        POST_HEAD(`${TD}/collections/${colId}/add`, `${header}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`),
      );
      assert.ok(res.status >= 200 && res.status < 300, `${header}: ${show(res)}`);
      assert.equal((await walStats(stack.ha)).appended, before + 1, header);
    }
  });

  test('still serving, and no token in the log', async () => {
    assert.equal((await http(`${stack.ha.url}/health`)).status, 200);
    assert.ok(stack.ha.alive());
    const fs = await import('node:fs');
    const logs = fs.readFileSync(stack.ha.stderrPath, 'utf8') + fs.readFileSync(stack.ha.stdoutPath, 'utf8');
    assert.ok(!logs.includes(TOKEN), 'the token was logged');
  });
});

// A body that stops halfway (a silent client, not a closed one): 408 within REQUEST_TIMEOUT, as
// for a header, nothing logged or forwarded. The instances are never reached, so none runs here
// (their URLs point at free ports nothing listens on).
describe('a request body that stops halfway', () => {
  const REQUEST_TIMEOUT_S = 1;
  let ha;
  let port;

  before(async () => {
    ha = await startChromaHa({
      dir: makeTempDir('hostile-body-stall'),
      primaryUrl: `http://127.0.0.1:${await freePort()}`,
      replicaUrl: `http://127.0.0.1:${await freePort()}`,
      env: { REQUEST_TIMEOUT: String(REQUEST_TIMEOUT_S) },
    });
    port = ha.port;
  });

  after(async () => {
    await ha?.stop();
  });

  const cases = [
    // Large: read past the parser, straight into the request (src/server/listener.cc).
    ['a large body', `Content-Length: 1000000\r\n\r\n${'x'.repeat(400000)}`],
    // Small and chunked: read through the parser.
    ['a chunked body', 'Transfer-Encoding: chunked\r\n\r\n5\r\nab'],
  ];
  for (const [what, rest] of cases) {
    test(`${what} that stops halfway: 408 within REQUEST_TIMEOUT, and close`, async () => {
      const before = (await walStats(ha)).appended;
      const t0 = Date.now();
      const res = await raw(port, POST_HEAD(`${TD}/collections/00000000-0000-0000-0000-000000000001/add`, rest));
      const elapsed = Date.now() - t0;
      assertRejected(res, 408, what);
      assert.match(res.json.message, /request body not received in time/, show(res));
      assert.ok(elapsed >= REQUEST_TIMEOUT_S * 1000 - 50, `${what}: answered after ${elapsed} ms, before the timeout`);
      assert.equal((await walStats(ha)).appended, before, `${what}: nothing appended`);
      assert.ok([200, 503].includes((await http(`${ha.url}/health`)).status), `${what}: /health answers`);
      assert.ok(ha.alive());
    });
  }
});
