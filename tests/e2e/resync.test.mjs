// Online resync (POST /admin/instances/{name}/resync) with real Chroma servers: a primary seeded
// directly with 10,500 records in four collections over two tenants and three databases, an
// empty replica; the resync runs while writes go through chroma-ha; chroma-ha is SIGKILLed in
// the middle and restarted: the resync resumes from its recorded page (records copied twice:
// at most one page per collection) and completes; then `chroma-ha verify` finds the instances
// identical and every acknowledged write is on both. Then, with AUTO_RESYNC, the replica loses
// its disk and comes back empty: chroma-ha resyncs it by itself.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { CHROMA_HA_BIN, http, makeTempDir, startChroma, startChromaHa, waitFor, waitWalDrained } from './harness.mjs';

const TOKEN = 'resync-admin-token';
const ADMIN = { 'x-admin-token': TOKEN, 'content-type': 'application/json' };
const JSON_HDR = { 'content-type': 'application/json' };
const PAGE = 200;
const DIM = 8;
const COLLECTIONS = [
  { tenant: 'default_tenant', db: 'default_database', name: 'col0', n: 4000 },
  { tenant: 'default_tenant', db: 'db_b', name: 'col1', n: 3000 },
  { tenant: 'tenant_two', db: 'db_c', name: 'col2', n: 2500 },
  { tenant: 'tenant_two', db: 'db_d', name: 'col3', n: 1000, space: 'ip' },
];
const base = (c) => `/api/v2/tenants/${c.tenant}/databases/${c.db}/collections`;
const vec = (i, salt = 0) => Array.from({ length: DIM }, (_, k) => ((i * 31 + k * 7 + salt) % 97) / 97);

async function must(url, opts, ok = [200, 201]) {
  const r = await http(url, { timeoutMs: 30000, ...opts });
  if (!ok.includes(r.status)) throw new Error(`${opts?.method ?? 'GET'} ${url}: ${r.status} ${r.text}`);
  return r;
}

async function seedPrimary(url) {
  for (const t of ['tenant_two']) await must(`${url}/api/v2/tenants`, { method: 'POST', headers: JSON_HDR, body: JSON.stringify({ name: t }) });
  for (const [t, d] of [['default_tenant', 'db_b'], ['tenant_two', 'db_c'], ['tenant_two', 'db_d']]) {
    await must(`${url}/api/v2/tenants/${t}/databases`, { method: 'POST', headers: JSON_HDR, body: JSON.stringify({ name: d }) });
  }
  for (const c of COLLECTIONS) {
    const made = await must(`${url}${base(c)}`, {
      method: 'POST', headers: JSON_HDR,
      // Not cosine: Chroma does not store a cosine collection's float32s exactly as written, so
      // no copy through its API is bit-identical there (docs/design.md "Resync", Limits).
      body: JSON.stringify({ name: c.name, metadata: { owner: c.tenant, n: c.n }, configuration: { hnsw: { space: c.space ?? 'l2' } } }),
    });
    for (let start = 0; start < c.n; start += 1000) {
      const ids = Array.from({ length: Math.min(1000, c.n - start) }, (_, k) => `s${start + k}`);
      await must(`${url}${base(c)}/${made.json.id}/add`, {
        method: 'POST', headers: JSON_HDR,
        body: JSON.stringify({
          ids,
          embeddings: ids.map((_, k) => vec(start + k)),
          documents: ids.map((id) => `seeded ${c.name} ${id}`),
          metadatas: ids.map((_, k) => ({ i: start + k, even: (start + k) % 2 === 0 })),
          uris: ids.map((id) => `s3://b/${c.name}/${id}`),
        }),
      });
    }
  }
}

// Writes through chroma-ha until stopped: adds of new ids, upserts of seeded ids, deletes of its
// own earlier adds. `acked` is what chroma-ha acknowledged: id -> document (null: deleted).
function writeLoad(ha) {
  const acked = COLLECTIONS.map(() => new Map());
  let stop = false;
  let n = 0;
  let failed = 0;
  const run = (async () => {
    const ids = [];
    while (!stop) {
      const ci = n % COLLECTIONS.length;
      const c = COLLECTIONS[ci];
      n++;
      try {
        const col = await http(`${ha().url}${base(c)}/${c.name}`, { timeoutMs: 5000 });
        if (col.status !== 200) throw new Error(`get ${col.status}`);
        const at = `${ha().url}${base(c)}/${col.json.id}`;
        const kind = n % 5;
        let body;
        let effect;
        if (kind === 3) {  // upsert of seeded records
          const id = `s${(n * 37) % c.n}`;
          const doc = `upserted ${n}`;
          body = ['upsert', { ids: [id], embeddings: [vec(n, 5)], documents: [doc], metadatas: [{ w: n }] }];
          effect = () => acked[ci].set(id, doc);
        } else if (kind === 4 && ids.length > 0 && ids[ids.length - 1][0] === ci) {  // delete own add
          const [, id] = ids.pop();
          body = ['delete', { ids: [id] }];
          effect = () => acked[ci].set(id, null);
        } else {
          const id = `w${n}`;
          const doc = `written ${n}`;
          body = ['add', { ids: [id], embeddings: [vec(n, 3)], documents: [doc], metadatas: [{ w: n }] }];
          effect = () => { acked[ci].set(id, doc); ids.push([ci, id]); };
        }
        const r = await http(`${at}/${body[0]}`, { method: 'POST', headers: JSON_HDR, body: JSON.stringify(body[1]), timeoutMs: 5000 });
        if (r.status === 200 || r.status === 201) effect();
        else failed++;
      } catch {
        failed++;
        await new Promise((res) => setTimeout(res, 50));
      }
    }
  })();
  return { acked, stop: async () => { stop = true; await run; return { n, failed }; } };
}

function runCommand(args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(CHROMA_HA_BIN, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out }); });
  });
}
const runVerify = (args) => runCommand(['verify', ...args]);

async function documentsOn(url, c, ids) {
  const col = await must(`${url}${base(c)}/${c.name}`, {});
  const r = await must(`${url}${base(c)}/${col.json.id}/get`, { method: 'POST', headers: JSON_HDR, body: JSON.stringify({ ids, include: ['documents'] }) });
  return new Map(r.json.ids.map((id, i) => [id, r.json.documents[i]]));
}

describe('online resync', () => {
  const dir = makeTempDir('resync');
  let primary;
  let replica;
  let ha;

  before(async () => {
    [primary, replica] = await Promise.all([startChroma({ dir, name: 'primary' }), startChroma({ dir, name: 'replica' })]);
    await seedPrimary(primary.url);
    ha = await startChromaHa({
      dir, primaryUrl: primary.url, replicaUrl: replica.url,
      env: { ADMIN_TOKEN: TOKEN, RESYNC_PAGE_SIZE: PAGE, AUTO_RESYNC: 'false', LOG_LEVEL: 'info', WAL_SYNC_INTERVAL: 1 },
    });
    await ha.waitAllHealthy();
  });

  after(async () => {
    for (const s of [ha, primary, replica]) await s?.stop().catch(() => {});
  });

  test('copies 10,500 records under a write load, survives a SIGKILL, converges', async () => {
    const url = (p) => `${ha.url}/admin/instances/replica/resync${p ?? ''}`;
    const idle = await must(url(), { headers: ADMIN });
    assert.equal(idle.json.state, 'idle');
    assert.equal((await http(url(), { method: 'POST', headers: JSON_HDR })).status, 401);
    assert.equal((await http(url(), { method: 'POST', headers: ADMIN, body: '{"source":"replica"}' })).status, 400);
    assert.equal((await http(`${ha.url}/admin/instances/nope/resync`, { method: 'POST', headers: ADMIN })).status, 404);

    const started = await http(url(), { method: 'POST', headers: ADMIN, body: JSON.stringify({ tenants: ['tenant_two'] }) });
    assert.equal(started.status, 202, started.text);
    assert.equal(started.json.state, 'running');
    assert.equal(started.json.source, 'primary');
    const again = await http(url(), { method: 'POST', headers: ADMIN, body: '{}' });
    assert.equal(again.status, 200, 'a second POST follows the running resync');

    const load = writeLoad(() => ha);
    // SIGKILL once a third of the records are copied, then restart with the same WAL.
    const mid = await waitFor(async () => {
      const s = (await http(url(), { headers: ADMIN })).json;
      return s.records_done >= 3500 && s;
    }, { timeoutMs: 60000, intervalMs: 20, what: 'a third of the records copied' });
    assert.ok(mid.records_done < mid.records_total, `killed too late: ${JSON.stringify(mid)}`);
    await ha.kill('SIGKILL');
    await ha.restart();
    const resumed = (await must(url(), { headers: ADMIN })).json;
    assert.equal(resumed.state, 'running', JSON.stringify(resumed));
    assert.ok(resumed.records_done >= mid.records_done - PAGE, 'resumed from the recorded page');

    const done = await waitFor(async () => {
      const s = (await http(url(), { headers: ADMIN })).json;
      if (s.state === 'failed') throw new Error(`resync failed: ${s.reason}`);
      return s.state === 'done' && s;
    }, { timeoutMs: 60000, intervalMs: 100, what: 'resync done' });
    const { n, failed } = await load.stop();
    assert.equal(done.collections_done, 4);
    assert.equal(done.collections_total, 4);
    assert.ok(done.records_total >= 10500, `records_total ${done.records_total}`);
    assert.ok(done.records_recopied <= PAGE * 4, `recopied ${done.records_recopied}`);
    assert.ok(done.finished_at_ms >= done.started_at_ms);
    console.log(`resync: ${JSON.stringify(done)}; load: ${n} writes, ${failed} not acknowledged`);

    const metrics = await http(`${ha.url}/metrics`);
    assert.match(metrics.text, /chroma_ha_resync_records\{instance="replica",state="total"\} 105\d\d\b/);

    await waitWalDrained(ha, { timeoutMs: 30000 });
    const verify = await runVerify([primary.url, replica.url, '--tenant', 'tenant_two', '--wait', '20']);
    assert.equal(verify.code, 0, verify.out);

    for (const [ci, c] of COLLECTIONS.entries()) {
      const ids = [...load.acked[ci].keys()];
      if (ids.length === 0) continue;
      for (const server of [primary, replica]) {
        const have = await documentsOn(server.url, c, ids);
        for (const [id, doc] of load.acked[ci]) {
          assert.equal(have.get(id) ?? null, doc, `${server.url} ${c.name} ${id}`);
        }
      }
    }
  });

  test('AUTO_RESYNC: a replica that comes back empty is resynced by itself', async () => {
    ha.env.AUTO_RESYNC = 'true';
    await ha.restart();
    await ha.waitAllHealthy();
    await replica.destroy();  // its disk is lost: it comes back empty on the same port
    await replica.start();
    const done = await waitFor(async () => {
      const s = (await http(`${ha.url}/admin/instances/replica/resync`, { headers: ADMIN })).json;
      return s.state === 'done' && s.trigger.startsWith('auto:') && s;
    }, { timeoutMs: 40000, intervalMs: 200, what: 'an automatic resync done' });
    assert.match(done.trigger, /came back empty/);
    const metrics = await http(`${ha.url}/metrics`);
    assert.match(metrics.text, /chroma_ha_resyncs_started_total\{trigger="auto"\} 1/);
    await waitWalDrained(ha, { timeoutMs: 30000 });
    const verify = await runVerify([primary.url, replica.url, '--tenant', 'tenant_two', '--wait', '20']);
    assert.equal(verify.code, 0, verify.out);
  });

  test('`chroma-ha resync replica` starts one through the endpoint and exits 0 when done', async () => {
    const before = (await must(`${ha.url}/admin/instances/replica/resync`, { headers: ADMIN })).json;
    const cli = await runCommand(['resync', 'replica', '--interval', '0.2'], { PROXY_URL: ha.url, ADMIN_TOKEN: TOKEN });
    assert.equal(cli.code, 0, cli.out);
    const after = (await must(`${ha.url}/admin/instances/replica/resync`, { headers: ADMIN })).json;
    assert.equal(after.state, 'done');
    assert.equal(after.trigger, 'admin');
    assert.ok(after.started_at_ms > before.started_at_ms);
    assert.ok(after.records_done >= 10500);
  });
});
