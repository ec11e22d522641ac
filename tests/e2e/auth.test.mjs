// Issue 12, item 2: client authentication compatible with Chroma's token auth, end to end with
// the official JS client and two real Chroma servers.
//  - Proxy A: CHROMA_SERVER_AUTHN_CREDENTIALS_FILE (scoped users, one token stored as SHA-256),
//    transport Authorization: Bearer (the default).
//  - Proxy B, on the same instances: CHROMA_SERVER_AUTHN_CREDENTIALS (one token), transport
//    X-Chroma-Token.
// Shown: the client with its auth headers does the full cycle (replicated); no or a wrong token
// is 401, out of scope or read-only 403, both in Chroma's error JSON shape; the identity
// endpoint; AdminClient with a manage token; SIGHUP reload (new token in, removed token out, an
// open connection kept, an invalid file refused); counted in /metrics; no token in any log.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AdminClient, ChromaClient, ChromaForbiddenError, ChromaUnauthorizedError } from 'chromadb';
import { TD, http, makeClient, makeTempDir, startChromaHa, startStack, waitFor, waitWalDrained } from './harness.mjs';
import { parseResponse } from './raw_http.mjs';

const T = {
  admin: 'tok-admin-4f1c9e2a7b',
  writer: 'tok-writer-8d2e5a1f3c',
  reader: 'tok-reader-2b7c4e9d1a',
  other: 'tok-other-6a3f8c2e5d',
  fresh: 'tok-fresh-9e1d7b3a6c',
  single: 'tok-single-5c8a2f7e1b',
};
const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');

function usersFile({ withReader = true, withFresh = false } = {}) {
  const users = [
    { id: 'admin', tokens: [T.admin], manage: true },
    { id: 'writer', token_sha256: [sha256(T.writer)], tenant: 'default_tenant', databases: ['default_database'] },
    { id: 'other', tokens: [T.other], tenant: 'acme' },
  ];
  if (withReader) {
    users.push({ id: 'reader', tokens: [T.reader], tenant: 'default_tenant', databases: ['default_database'], access: 'read_only' });
  }
  if (withFresh) users.push({ id: 'fresh', tokens: [T.fresh] });
  return JSON.stringify({ users }, null, 2);
}

function clientFor(url, opts = {}) {
  const u = new URL(url);
  return new ChromaClient({ host: u.hostname, port: Number(u.port), ssl: false, ...opts });
}
const bearer = (token) => ({ Authorization: `Bearer ${token}` });

// The class of the client's error, by name ('no error' when the call succeeded).
async function errorOf(promise) {
  try {
    await promise;
  } catch (e) {
    if (e instanceof ChromaUnauthorizedError) return 'ChromaUnauthorizedError';
    if (e instanceof ChromaForbiddenError) return 'ChromaForbiddenError';
    return `${e.name}: ${e.message}`;
  }
  return 'no error';
}

// One keep-alive connection: send() writes a request and resolves with its parsed response.
function keepAlive(port) {
  const sock = net.connect({ host: '127.0.0.1', port });
  let buf = Buffer.alloc(0);
  let waiter = null;
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    const head = buf.indexOf('\r\n\r\n');
    if (head < 0 || !waiter) return;
    const len = Number(/content-length:\s*(\d+)/i.exec(buf.subarray(0, head).toString())?.[1] ?? 0);
    if (buf.length < head + 4 + len) return;
    const res = parseResponse(buf.subarray(0, head + 4 + len));
    buf = buf.subarray(head + 4 + len);
    const w = waiter;
    waiter = null;
    w.resolve(res);
  });
  sock.on('close', () => waiter?.reject(new Error('the connection was closed')));
  return {
    ready: new Promise((resolve) => sock.once('connect', resolve)),
    closed: () => sock.destroyed || sock.readyState !== 'open',
    send(pathname, token) {
      return new Promise((resolve, reject) => {
        waiter = { resolve, reject };
        sock.write(`GET ${pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`);
      });
    },
    close: () => sock.destroy(),
  };
}

async function metricsText(ha) {
  return (await http(`${ha.url}/metrics`)).text;
}
function counter(text, name, labels) {
  const m = new RegExp(`^${name}\\{${labels}\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe('client authentication', () => {
  let stack;
  let haB;
  let credsPath;
  let dirB;

  before(async () => {
    const dir = makeTempDir('auth-creds');
    credsPath = path.join(dir, 'credentials.json');
    fs.writeFileSync(credsPath, usersFile());
    stack = await startStack({
      name: 'auth',
      env: { CHROMA_SERVER_AUTHN_CREDENTIALS_FILE: credsPath, AUTH_FAILURES_PER_MINUTE: '1000' },
    });
    dirB = makeTempDir('auth-b');
    haB = await startChromaHa({
      dir: dirB,
      primaryUrl: stack.primary.url,
      replicaUrl: stack.replica.url,
      env: { CHROMA_SERVER_AUTHN_CREDENTIALS: T.single, CHROMA_AUTH_TOKEN_TRANSPORT_HEADER: 'X-Chroma-Token' },
    });
    await haB.waitAllHealthy();
  });

  after(async () => {
    await haB?.stop();
    await stack?.stop();
  });

  test('Authorization: Bearer: the official client with its headers does the full cycle, replicated', async () => {
    const client = clientFor(stack.ha.url, { headers: bearer(T.writer) });
    const col = await client.createCollection({ name: 'auth-cycle', embeddingFunction: null });
    await col.add({ ids: ['a', 'b'], embeddings: [[1, 0], [0, 1]], documents: ['da', 'db'] });
    const q = await col.query({ queryEmbeddings: [[1, 0]], nResults: 1 });
    assert.deepEqual(q.ids, [['a']]);
    assert.equal(await col.count(), 2);
    await waitWalDrained(stack.ha);
    const onReplica = await makeClient(stack.replica.url).getCollection({ name: 'auth-cycle', embeddingFunction: null });
    assert.equal(await onReplica.count(), 2, 'replicated to the replica');
  });

  test('no token or a wrong one: 401; out of scope or read-only: 403; Chroma error JSON', async () => {
    const url = stack.ha.url;
    assert.equal(await errorOf(clientFor(url).listCollections()), 'ChromaUnauthorizedError');
    assert.equal(await errorOf(clientFor(url, { headers: bearer('tok-wrong') }).listCollections()), 'ChromaUnauthorizedError');
    assert.equal(await errorOf(clientFor(url, { headers: bearer(T.other) }).listCollections()), 'ChromaForbiddenError');
    assert.equal(await errorOf(clientFor(url, { headers: { 'X-Chroma-Token': T.writer } }).listCollections()),
      'ChromaUnauthorizedError', 'the other transport is not accepted');
    // heartbeat stays open, as on Chroma; /health too.
    assert.equal(typeof (await clientFor(url).heartbeat()), 'number');
    assert.equal((await http(`${url}/health`)).status, 200);

    const reader = clientFor(url, { headers: bearer(T.reader) });
    const col = await reader.getCollection({ name: 'auth-cycle', embeddingFunction: null });
    assert.equal(await col.count(), 2, 'a read-only token reads');
    assert.equal(await errorOf(col.add({ ids: ['r'], embeddings: [[1, 1]] })), 'ChromaForbiddenError');

    const none = await http(`${url}${TD}/collections`);
    assert.equal(none.status, 401);
    assert.equal(none.json.error, 'AuthorizationError');
    assert.equal(typeof none.json.message, 'string');
    const forbidden = await http(`${url}${TD}/collections`, { headers: bearer(T.other) });
    assert.equal(forbidden.status, 403);
    assert.equal(forbidden.json.error, 'AuthError');
    assert.match(forbidden.json.message, /default_tenant/);
    const text = await metricsText(stack.ha);
    assert.ok(counter(text, 'chroma_ha_auth_failures_total', 'reason="missing"') >= 2, text);
    assert.ok(counter(text, 'chroma_ha_auth_failures_total', 'reason="invalid"') >= 1);
    assert.ok(counter(text, 'chroma_ha_auth_failures_total', 'reason="forbidden"') >= 2);
  });

  test('every route class through the real binary: no token 401, wrong token 401, out of scope 403, read-only refused on writes', async () => {
    const url = stack.ha.url;
    const col = await clientFor(url, { headers: bearer(T.writer) }).getCollection({ name: 'auth-cycle', embeddingFunction: null });
    const C = `${TD}/collections/${col.id}`;
    const json = { 'content-type': 'application/json' };
    // [route class, method, path, body, status with: none, wrong, other tenant, reader, writer]
    const table = [
      ['system_read (heartbeat)', 'GET', '/api/v2/heartbeat', undefined, [200, 200, 200, 200, 200]],
      ['system_read (identity)', 'GET', '/api/v2/auth/identity', undefined, [401, 401, 200, 200, 200]],
      ['read (tenant)', 'GET', '/api/v2/tenants/default_tenant', undefined, [401, 401, 403, 200, 200]],
      ['read (databases)', 'GET', '/api/v2/tenants/default_tenant/databases', undefined, [401, 401, 403, 200, 200]],
      ['read (collections)', 'GET', `${TD}/collections`, undefined, [401, 401, 403, 200, 200]],
      ['read (get)', 'POST', `${C}/get`, '{}', [401, 401, 403, 200, 200]],
      ['read (count)', 'GET', `${C}/count`, undefined, [401, 401, 403, 200, 200]],
      ['write (upsert)', 'POST', `${C}/upsert`, '{"ids":["t1"],"embeddings":[[1,1]]}', [401, 401, 403, 403, 200]],
      ['write (create database)', 'POST', '/api/v2/tenants/default_tenant/databases', '{"name":"nope"}', [401, 401, 403, 403, 403]],
      ['write (reset)', 'POST', '/api/v2/reset', undefined, [401, 401, 403, 403, 403]],
      ['unknown', 'GET', '/api/v1/heartbeat', undefined, [401, 401, 403, 403, 403]],
      ['invalid', 'GET', '/api/v2/tenants/%ZZ', undefined, [401, 401, 400, 400, 400]],
      ['own (/health)', 'GET', '/health', undefined, [200, 200, 200, 200, 200]],
    ];
    const tokens = [undefined, 'tok-wrong', T.other, T.reader, T.writer];
    const failures = [];
    for (const [cls, method, p, body, want] of table) {
      for (let i = 0; i < tokens.length; i++) {
        const headers = { ...(body ? json : {}), ...(tokens[i] ? bearer(tokens[i]) : {}) };
        const r = await http(`${url}${p}`, { method, headers, body });
        const label = `${cls} ${method} ${p} with ${tokens[i] ? `token ${i}` : 'no token'}`;
        if (r.status !== want[i]) failures.push(`${label}: ${r.status} (want ${want[i]}) ${r.text.slice(0, 200)}`);
        if (r.status === 401 && r.json?.error !== 'AuthorizationError') failures.push(`${label}: ${r.text}`);
        if (r.status === 403 && r.json?.error !== 'AuthError') failures.push(`${label}: ${r.text}`);
      }
    }
    assert.deepEqual(failures, [], failures.join('\n'));
  });

  test('GET /api/v2/auth/identity is answered from the token; the client picks its tenant and database from it', async () => {
    const url = stack.ha.url;
    const identity = await clientFor(url, { headers: bearer(T.writer) }).getUserIdentity();
    assert.deepEqual(identity, { user_id: 'writer', tenant: 'default_tenant', databases: ['default_database'] });
    const none = await http(`${url}/api/v2/auth/identity`);
    assert.equal(none.status, 401);
    // A client given no tenant/database asks the identity endpoint, then uses what it names.
    const picking = clientFor(url, { headers: bearer(T.writer), tenant: '', database: '' });
    const names = (await picking.listCollections()).map((c) => c.name);
    assert.ok(names.includes('auth-cycle'), JSON.stringify(names));
    assert.equal(picking.tenant, 'default_tenant');
    assert.equal(picking.database, 'default_database');
  });

  test('AdminClient: a manage token creates tenants and databases (replicated); others may not', async () => {
    const u = new URL(stack.ha.url);
    const admin = new AdminClient({ host: u.hostname, port: Number(u.port), headers: bearer(T.admin) });
    await admin.createTenant({ name: 'acme' });
    await admin.createDatabase({ name: 'crm', tenant: 'acme' });
    assert.equal(await admin.getTenant({ name: 'acme' }), 'acme');
    assert.deepEqual((await admin.listDatabases({ tenant: 'acme' })).map((d) => d.name), ['crm']);
    const writerAdmin = new AdminClient({ host: u.hostname, port: Number(u.port), headers: bearer(T.writer) });
    assert.equal(await errorOf(writerAdmin.createDatabase({ name: 'more', tenant: 'default_tenant' })), 'ChromaForbiddenError');
    const anonymous = new AdminClient({ host: u.hostname, port: Number(u.port) });
    assert.equal(await errorOf(anonymous.createTenant({ name: 'evil' })), 'ChromaUnauthorizedError');
    // The "other" user (tenant acme) works inside its tenant.
    const otherClient = clientFor(stack.ha.url, { headers: bearer(T.other), tenant: 'acme', database: 'crm' });
    await otherClient.createCollection({ name: 'in-acme', embeddingFunction: null });
    await waitWalDrained(stack.ha);
    for (const inst of [stack.primary, stack.replica]) {
      const dbs = await http(`${inst.url}/api/v2/tenants/acme/databases`);
      assert.deepEqual(dbs.json.map((d) => d.name), ['crm'], `${inst.url}`);
      const cols = await http(`${inst.url}/api/v2/tenants/acme/databases/crm/collections`);
      assert.deepEqual(cols.json.map((c) => c.name), ['in-acme'], `${inst.url}`);
    }
  });

  test('X-Chroma-Token transport: the client with its headers (and its deprecated auth option)', async () => {
    const viaHeader = clientFor(haB.url, { headers: { 'x-chroma-token': T.single } });
    const col = await viaHeader.getOrCreateCollection({ name: 'via-b', embeddingFunction: null });
    await col.add({ ids: ['x'], embeddings: [[1, 2]] });
    assert.equal(await col.count(), 1);
    const viaAuth = clientFor(haB.url, { auth: { provider: 'token', credentials: T.single, tokenHeaderType: 'X_CHROMA_TOKEN' } });
    assert.ok((await viaAuth.listCollections()).some((c) => c.name === 'via-b'));
    assert.equal(await errorOf(clientFor(haB.url, { headers: bearer(T.single) }).listCollections()), 'ChromaUnauthorizedError');
    assert.equal(await errorOf(clientFor(haB.url).listCollections()), 'ChromaUnauthorizedError');
    const identity = await viaHeader.getUserIdentity();
    assert.deepEqual(identity, { user_id: 'anonymous', tenant: 'default_tenant', databases: ['*'] });
  });

  test('failed attempts are limited per client address: 429 with Retry-After, even for the right token', async () => {
    // Proxy B runs with the default AUTH_FAILURES_PER_MINUTE=10 (every request here is from
    // 127.0.0.1; the test above already failed twice): wrong tokens get 401 until the 11th.
    const p = `${TD}/collections`;
    const statuses = [];
    for (let i = 0; i < 11; i++) {
      statuses.push((await http(`${haB.url}${p}`, { headers: { 'x-chroma-token': `wrong-${i}` } })).status);
    }
    const firstLimited = statuses.indexOf(429);
    assert.ok(firstLimited >= 1 && firstLimited <= 10, JSON.stringify(statuses));
    assert.ok(statuses.slice(0, firstLimited).every((s) => s === 401), JSON.stringify(statuses));
    assert.ok(statuses.slice(firstLimited).every((s) => s === 429), JSON.stringify(statuses));
    const limited = await http(`${haB.url}${p}`, { headers: { 'x-chroma-token': T.single } });
    assert.equal(limited.status, 429, limited.text);
    assert.equal(limited.json.error, 'RateLimitError');
    const retry = Number(limited.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 6, `Retry-After ${retry}`);
    assert.equal((await http(`${haB.url}/api/v2/heartbeat`)).status, 200, 'open routes stay open');
    assert.equal((await http(`${haB.url}/health`)).status, 200);
    const text = await metricsText(haB);
    assert.ok(counter(text, 'chroma_ha_auth_failures_total', 'reason="limited"') >= 1, text);
  });

  test('SIGHUP reloads the credentials file: a new token works, a removed one gets 401, an open connection survives', async () => {
    const url = stack.ha.url;
    const conn = keepAlive(stack.ha.port);
    await conn.ready;
    const first = await conn.send('/api/v2/tenants/default_tenant', T.writer);
    assert.equal(first.status, 200, first.raw);
    assert.equal((await http(`${url}${TD}/collections`, { headers: bearer(T.fresh) })).status, 401);
    assert.equal((await http(`${url}${TD}/collections`, { headers: bearer(T.reader) })).status, 200);

    fs.writeFileSync(credsPath, usersFile({ withReader: false, withFresh: true }));
    process.kill(stack.ha.pid, 'SIGHUP');
    await waitFor(async () => (await http(`${url}${TD}/collections`, { headers: bearer(T.fresh) })).status === 200, {
      timeoutMs: 10000,
      what: 'the new token accepted after SIGHUP',
    });
    assert.equal((await http(`${url}${TD}/collections`, { headers: bearer(T.reader) })).status, 401, 'removed token');
    const second = await conn.send('/api/v2/tenants/default_tenant', T.writer);
    assert.equal(second.status, 200, 'the connection opened before the reload still serves');
    assert.ok(!conn.closed());

    // An invalid file: refused, logged, counted; the credentials in force stay.
    const failedBefore = counter(await metricsText(stack.ha), 'chroma_ha_auth_reloads_total', 'result="failed"');
    fs.writeFileSync(credsPath, '{"users": [ {"id": "broken"');
    process.kill(stack.ha.pid, 'SIGHUP');
    await waitFor(
      async () => counter(await metricsText(stack.ha), 'chroma_ha_auth_reloads_total', 'result="failed"') === failedBefore + 1,
      { timeoutMs: 10000, what: 'the failed reload counted' },
    );
    assert.equal((await http(`${url}${TD}/collections`, { headers: bearer(T.fresh) })).status, 200);
    const third = await conn.send('/api/v2/tenants/default_tenant', T.writer);
    assert.equal(third.status, 200);
    conn.close();
    assert.match(fs.readFileSync(stack.ha.stderrPath, 'utf8') + fs.readFileSync(stack.ha.stdoutPath, 'utf8'), /NOT reloaded/);
    assert.ok(stack.ha.alive(), 'still running');
  });

  test('no token appears in any chroma-ha log', async () => {
    const logs = [stack.ha, haB].map((ha) => fs.readFileSync(ha.stderrPath, 'utf8') + fs.readFileSync(ha.stdoutPath, 'utf8')).join('\n');
    assert.ok(logs.length > 0);
    for (const [name, token] of Object.entries(T)) {
      assert.ok(!logs.includes(token), `the ${name} token was logged`);
    }
  });
});
