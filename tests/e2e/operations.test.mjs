// Operating chroma-ha: admin routes with no, wrong and right token; path variants that must not
// bypass the check (raw sockets, so nothing normalises them on the way); STATUS_TOKEN gating
// (/health stays open); /metrics parsed by the real Prometheus text parser (Debian's
// python3-prometheus-client) with values that move; and finally a grep of every log file of the
// run for the admin token, the status token, a Chroma auth token and a PostgreSQL password.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TD, http, makeClient, psql, startStack, waitFor, withDatabase } from './harness.mjs';

const ADMIN_TOKEN = 'ops-admin-7f3a9c21e5';
const STATUS_TOKEN = 'ops-status-b84d06e2aa';
const CHROMA_TOKEN = 'ops-chroma-auth-5521c9'; // a client's own Chroma credential: passes through
const PG_PASSWORD = 'ops-pg-pw-d3e9f0a7b1';

const ADMIN = { 'x-admin-token': ADMIN_TOKEN };
const STATUS = { authorization: `Bearer ${STATUS_TOKEN}` };

// One request over a fresh raw connection: the target and method go out exactly as given.
function rawRequest(port, method, target, { headers = {}, body = '' } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const chunks = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer to ${method} ${target}`));
    }, 10000);
    sock.on('connect', () => {
      const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
      for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
      if (body) lines.push('Content-Type: application/json');
      lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
      sock.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
    });
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('utf8');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
      const text = raw.slice(raw.indexOf('\r\n\r\n') + 4);
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      resolve({ status: m ? Number(m[1]) : undefined, text, json, raw });
    });
  });
}

// Parses Prometheus text with prometheus_client's parser; returns
// {family: {type, samples: [{name, labels, value}]}}.
const PARSER = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(sys.stdin.read()):
    out[f.name] = {"type": f.type, "samples": [
        {"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]}
json.dump(out, sys.stdout)
`;

function parseMetrics(text) {
  const r = spawnSync('/usr/bin/python3', ['-c', PARSER], { input: text, encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0) throw new Error(`prometheus_client could not parse /metrics (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function scrape(ha) {
  const r = await http(`${ha.url}/metrics`, { headers: STATUS });
  assert.equal(r.status, 200, r.text);
  return parseMetrics(r.text);
}

// The value of the sample `name` whose labels include `labels` (sum over all matches).
function value(families, family, labels = {}, name = family) {
  const f = families[family];
  if (!f) throw new Error(`no metric family ${family}`);
  let sum = 0;
  let found = false;
  for (const s of f.samples) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) {
      sum += s.value;
      found = true;
    }
  }
  if (!found) throw new Error(`no sample ${name}${JSON.stringify(labels)} in ${family}`);
  return sum;
}

async function statusWithToken(ha) {
  const r = await http(`${ha.url}/status`, { headers: STATUS });
  if (r.status !== 200) throw new Error(`/status answered ${r.status}: ${r.text}`);
  return r.json;
}

async function waitHealthy(ha, want = true, role) {
  return waitFor(
    async () => {
      const s = await statusWithToken(ha);
      return s.instances.filter((i) => !role || i.role === role).every((i) => i.healthy === want);
    },
    { timeoutMs: 15000, what: `instances ${role ?? 'all'} healthy=${want}` },
  );
}

async function primaryHasDatabase(stack, name) {
  const r = await http(`${stack.primary.url}/api/v2/tenants/default_tenant/databases/${name}`);
  return r.status === 200;
}

async function primaryHasTenant(stack, name) {
  const r = await http(`${stack.primary.url}/api/v2/tenants/${name}`);
  return r.status === 200;
}

const logDirs = [];

describe('operations: tokens, metrics, secrets', () => {
  let stack;

  before(async () => {
    stack = await startStack({
      name: 'operations',
      env: { ADMIN_TOKEN, STATUS_TOKEN, WAL_SYNC_INTERVAL: '1' },
      waitHealthy: false,
    });
    logDirs.push(stack.dir);
    await waitHealthy(stack.ha);
  });

  after(async () => {
    await stack?.stop();
  });

  test('admin routes: reset and /admin/* need ADMIN_TOKEN (401 JSON without); tenants and databases pass as on Chroma', { timeout: 60000 }, async () => {
    const url = stack.ha.url;
    // Tenant and database routes: no ADMIN_TOKEN needed (issue 12), whatever is sent.
    const create = (headers) =>
      http(`${url}/api/v2/tenants/default_tenant/databases`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ name: 'ops_db' }),
      });
    let r = await create({ 'x-admin-token': 'wrong', 'x-chroma-token': CHROMA_TOKEN });
    assert.equal(r.status, 200, r.text);
    assert.equal(await primaryHasDatabase(stack, 'ops_db'), true);
    r = await http(`${url}/api/v2/tenants/default_tenant/databases/ops_db`, { method: 'DELETE' });
    assert.equal(r.status, 200, r.text);
    assert.equal(await primaryHasDatabase(stack, 'ops_db'), false);
    r = await http(`${url}/api/v2/tenants`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'ops_tenant' }),
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(await primaryHasTenant(stack, 'ops_tenant'), true);

    // Reset: refused by chroma-ha without the token; with it, the request reaches the servers
    // (which refuse it themselves: they run without allow_reset).
    for (const headers of [{}, { 'x-admin-token': 'wrong' }, { authorization: 'Bearer wrong' }, STATUS, { 'x-chroma-token': ADMIN_TOKEN }]) {
      r = await http(`${url}/api/v2/reset`, { method: 'POST', headers });
      assert.equal(r.status, 401, `${JSON.stringify(Object.keys(headers))}: ${r.text}`);
      assert.equal(r.json?.error, 'Unauthorized');
      assert.equal(typeof r.json?.message, 'string');
      assert.ok(!r.text.includes(ADMIN_TOKEN));
    }
    r = await http(`${url}/api/v2/reset`, { method: 'POST', headers: ADMIN });
    assert.notEqual(r.status, 401, r.text);
    assert.ok(!['Unauthorized', 'Forbidden'].includes(r.json?.error), `chroma-ha refused it: ${r.text}`);

    // /admin/* own endpoints: 401 without, 400/404-ish (not 401/403) with.
    r = await http(`${url}/admin/wal/skip`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 401);
    r = await http(`${url}/admin/wal/skip`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', ...ADMIN } });
    assert.equal(r.status, 400, r.text);
    // {"seq"} alone rejects a pending entry: an unknown seq is 404, not a 400 about the body.
    r = await http(`${url}/admin/wal/skip`, { method: 'POST', body: '{"seq": 987654321}', headers: { 'content-type': 'application/json', ...ADMIN } });
    assert.equal(r.status, 404, r.text);
  });

  test('path variants of admin routes are rejected or still need the token', { timeout: 60000 }, async () => {
    const port = stack.ha.port;
    let r;
    const variants = [
      ['POST', '/api/v2/reset?x', ''],
      ['POST', '/api/v2/reset/', ''],
      ['POST', '/api/v2//reset', ''],
      ['POST', '//api/v2/reset', ''],
      ['POST', '/api/v2/RESET', ''],
      ['POST', '/api/v2/%72eset', ''],
      ['POST', '/api/v2/reset;x', ''],
      ['POST', '/api/v2/./reset', ''],
      ['POST', '/api/v2/%2e/reset', ''],
      ['POST', '/api/v2/%2E%2E/v2/reset', ''],
      ['POST', '/api/v2%2freset', ''],
      ['PUT', '/api/v2/reset', ''],
      ['post', '/api/v2/reset', ''],
      ['POST', '/admin/wal/skip?x', '{}'],
      ['POST', '/admin/wal/../wal/skip', '{}'],
    ];
    for (const [method, target, body] of variants) {
      r = await rawRequest(port, method, target, { headers: { 'x-admin-token': 'wrong' }, body });
      assert.ok(r.status === 400 || r.status === 401, `${method} ${target}: ${r.status} ${r.text}`);
      assert.equal(typeof r.json?.error, 'string', `${method} ${target}: not a JSON error: ${r.raw.slice(0, 200)}`);
    }
  });

  test('STATUS_TOKEN gates /status, /wal/*, /metrics; /health and the dashboard page stay open', { timeout: 30000 }, async () => {
    const url = stack.ha.url;
    assert.equal((await http(`${url}/health`)).status, 200);
    const page = await http(`${url}/dashboard`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /text\/html/);
    assert.ok(!page.text.includes(STATUS_TOKEN));
    for (const p of ['/status', '/wal/status', '/wal/stats', '/metrics']) {
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { 'x-status-token': 'wrong' }]) {
        const r = await http(`${url}${p}`, { headers });
        assert.equal(r.status, 401, `${p}: ${r.text}`);
        assert.equal(r.json?.error, 'Unauthorized');
      }
      for (const headers of [STATUS, { 'x-status-token': STATUS_TOKEN }, ADMIN]) {
        const r = await http(`${url}${p}`, { headers });
        assert.equal(r.status, 200, `${p} with ${Object.keys(headers)}: ${r.text}`);
      }
    }
    const s = await statusWithToken(stack.ha);
    const text = JSON.stringify(s);
    for (const secret of [ADMIN_TOKEN, STATUS_TOKEN]) assert.ok(!text.includes(secret), '/status holds a secret');
  });

  test('/metrics parses with prometheus_client and its values move', { timeout: 120000 }, async () => {
    let m = await scrape(stack.ha);
    for (const family of [
      'chroma_ha_requests',
      'chroma_ha_upstream_healthy',
      'chroma_ha_wal_backlog_entries',
      'chroma_ha_request_duration_seconds',
    ]) {
      assert.ok(m[family], `family ${family} missing; got ${Object.keys(m).join(', ')}`);
    }
    assert.equal(value(m, 'chroma_ha_upstream_healthy', { instance: 'replica' }), 1);
    const before = value(m, 'chroma_ha_requests', {}, 'chroma_ha_requests_total');

    // Traffic through the official client (with its own Chroma token, passed through).
    const client = makeClient(stack.ha.url);
    const col = await client.getOrCreateCollection({ name: 'ops_metrics', embeddingFunction: null });
    await col.add({ ids: ['a', 'b'], embeddings: [[1, 0], [0, 1]] });
    for (let i = 0; i < 5; i++) {
      const r = await http(`${stack.ha.url}${TD}/collections/${col.id}/count`, {
        headers: { authorization: `Bearer ${CHROMA_TOKEN}`, 'x-chroma-token': CHROMA_TOKEN },
      });
      assert.equal(r.status, 200, r.text);
    }
    m = await scrape(stack.ha);
    assert.ok(value(m, 'chroma_ha_requests', {}, 'chroma_ha_requests_total') >= before + 7, 'request counter did not rise');
    assert.ok(value(m, 'chroma_ha_requests', { route_class: 'write' }, 'chroma_ha_requests_total') >= 2);

    // Replica down: its health goes to 0, and writes pile up for it.
    await stack.replica.kill();
    await waitFor(async () => value(await scrape(stack.ha), 'chroma_ha_upstream_healthy', { instance: 'replica' }) === 0, {
      timeoutMs: 15000,
      what: 'chroma_ha_upstream_healthy{instance="replica"} 0',
    });
    for (let i = 0; i < 3; i++) await col.add({ ids: [`down${i}`], embeddings: [[i, 1]] });
    m = await scrape(stack.ha);
    assert.ok(value(m, 'chroma_ha_wal_backlog_entries', { instance: 'replica' }) >= 3, 'backlog did not rise');
    assert.equal(value(m, 'chroma_ha_wal_backlog_entries', { instance: 'primary' }), 0);

    // Back up: healthy again, and the backlog drains to 0.
    await stack.replica.start();
    await waitFor(
      async () => {
        const x = await scrape(stack.ha);
        return (
          value(x, 'chroma_ha_upstream_healthy', { instance: 'replica' }) === 1 &&
          value(x, 'chroma_ha_wal_backlog_entries', { instance: 'replica' }) === 0
        );
      },
      { timeoutMs: 60000, intervalMs: 250, what: 'replica healthy and its backlog 0' },
    );
    m = await scrape(stack.ha);
    assert.ok(value(m, 'chroma_ha_wal_replays', {}, 'chroma_ha_wal_replays_total') >= 3);
    // The three adds of one collection written while the replica was down went as fewer requests.
    assert.ok(value(m, 'chroma_ha_wal_coalesced_requests', {}, 'chroma_ha_wal_coalesced_requests_total') >= 1, 'no coalesced replay request');
    const stats = (await http(`${stack.ha.url}/wal/stats`, { headers: STATUS })).json;
    assert.ok(stats.coalesced_requests >= 1, JSON.stringify(stats));
  });
});

// A stack whose DATABASE_URL carries a password: a role with a password in the test PostgreSQL.
describe('operations: PostgreSQL password', () => {
  let stack;
  let adminUrl;
  const role = `e2e_ops_role_${process.pid}`;
  const db = `e2e_ops_pw_${process.pid}`;
  // This stack needs a PostgreSQL (scripts/test.sh starts one): without it the test fails.
  const missing = !process.env.CHROMA_HA_TEST_DATABASE_URL
    ? 'CHROMA_HA_TEST_DATABASE_URL is unset: this test needs a PostgreSQL (scripts/test.sh starts one)'
    : null;

  before(async () => {
    if (missing) return;
    adminUrl = process.env.CHROMA_HA_TEST_DATABASE_URL;
    psql(adminUrl, `CREATE ROLE ${role} LOGIN PASSWORD '${PG_PASSWORD}'`);
    psql(adminUrl, `CREATE DATABASE ${db} OWNER ${role}`);
    const u = new URL(withDatabase(adminUrl, db));
    u.username = role;
    u.password = PG_PASSWORD;
    stack = await startStack({
      name: 'operations-pg',
      env: { ADMIN_TOKEN, STATUS_TOKEN },
      databaseUrl: u.toString(),
      waitHealthy: false,
    });
    logDirs.push(stack.dir);
    await waitHealthy(stack.ha);
  });

  after(async () => {
    await stack?.stop();
    if (adminUrl) {
      try {
        psql(withDatabase(adminUrl, 'postgres'), `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
        psql(withDatabase(adminUrl, 'postgres'), `DROP ROLE IF EXISTS ${role}`);
      } catch {
        // best effort: the test server is thrown away anyway
      }
    }
  });

  test('writes through a WAL reached with a password; /status and /wal/status do not show it', { timeout: 60000 }, async () => {
    if (missing) assert.fail(missing);
    const client = makeClient(stack.ha.url);
    const col = await client.getOrCreateCollection({ name: 'ops_pg', embeddingFunction: null });
    await col.add({ ids: ['a'], embeddings: [[1, 2]] });
    assert.equal(await col.count(), 1);
    for (const p of ['/status', '/wal/status', '/wal/stats', '/metrics']) {
      const r = await http(`${stack.ha.url}${p}`, { headers: STATUS });
      assert.equal(r.status, 200, r.text);
      assert.ok(!r.text.includes(PG_PASSWORD), `${p} shows the PostgreSQL password`);
    }
  });
});

describe('operations: no secret in any log', () => {
  test('the logs of every stack above hold no token and no password', { timeout: 30000 }, async () => {
    assert.ok(logDirs.length >= 1, 'no stack ran');
    let files = 0;
    for (const dir of logDirs) {
      for (const f of fs.readdirSync(dir)) {
        if (!f.endsWith('.log')) continue;
        files++;
        const text = fs.readFileSync(path.join(dir, f), 'utf8');
        for (const secret of [ADMIN_TOKEN, STATUS_TOKEN, CHROMA_TOKEN, PG_PASSWORD]) {
          assert.ok(!text.includes(secret), `${f} in ${dir} contains a secret (${secret.slice(0, 8)}...)`);
        }
      }
    }
    assert.ok(files >= 2, `only ${files} log files found`);
    // The chroma-ha logs were written at LOG_LEVEL=debug (the harness default) and are not empty.
    const haLog = path.join(logDirs[0], 'chroma-ha.stderr.log');
    const haOut = path.join(logDirs[0], 'chroma-ha.stdout.log');
    const size = (p) => (fs.existsSync(p) ? fs.statSync(p).size : 0);
    assert.ok(size(haLog) + size(haOut) > 0, 'chroma-ha wrote no log at all');
  });
});
