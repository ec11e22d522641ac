// One fault scenario's world and its checks (docs/reliability.md).
//
//   const sc = await Scenario.start('primary SIGKILL', { seed, store: 'sqlite' });
//   const wl = sc.workload({ clients: 4, opsPerClient: 80, tag: 'pk' });
//   ... inject faults while wl.run() is pending ...
//   await sc.heal(wl, { faults: 1 });   // converge + the promise's checks + the re-run; throws
//   await sc.stop();                    // in finally
//
// Each scenario has its own stack: two fresh Chroma servers, build/chroma-ha with its own WAL
// (SQLite in the scenario directory; or a fresh database on a PostgreSQL server: the test one
// ($CHROMA_HA_TEST_DATABASE_URL) or one the suite starts, or a PostgreSQL the scenario starts for
// itself), and optionally a TCP relay (relay.mjs) in front of the replica, the primary or its own
// PostgreSQL. So `chroma-ha verify`, which compares whole instances, sees only this scenario's
// data, and one diverging scenario cannot fail the next.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import path from 'node:path';
import {
  CHROMA_HA_BIN,
  PG_BIN,
  PostgresServer,
  createTestDatabase,
  dropTestDatabase,
  http,
  makeTempDir,
  startChroma,
  startChromaHa,
  waitFor,
  walStatus,
} from '../e2e/harness.mjs';
import { Relay } from './relay.mjs';
import { HOT_KEYS, TD, Workload, checkRecords, send, storeDownProblems } from './workload.mjs';

export const SYNC_INTERVAL_S = 1;

// A PostgreSQL server for scenarios that only need a PostgreSQL WAL (not to stop it): the test
// one if $CHROMA_HA_TEST_DATABASE_URL is set, else one this process starts once (stopped at exit).
let sharedPg = null;
export async function sharedPostgresAdminUrl() {
  if (process.env.CHROMA_HA_TEST_DATABASE_URL) return process.env.CHROMA_HA_TEST_DATABASE_URL;
  sharedPg ??= await PostgresServer.start('fault-pg');
  return sharedPg.url;
}
export function stopSharedPostgres() {
  sharedPg?.destroy();
  sharedPg = null;
}

function runVerify(primaryUrl, replicaUrl, waitS) {
  return new Promise((resolve) => {
    const args = ['verify', primaryUrl, replicaUrl];
    if (waitS) args.push('--wait', String(waitS));
    execFile(CHROMA_HA_BIN, args, { timeout: (waitS + 60) * 1000 }, (err, stdout, stderr) => {
      const out = `${stdout}${stderr}`.trim();
      resolve({ code: err ? (err.code ?? 1) : 0, out: err && !out ? `chroma-ha verify: ${err.message}` : out });
    });
  });
}

// Records of a collection on one instance (by name): Map id -> { document, metadata }.
async function records(url, name) {
  const c = await http(`${url}${TD}/collections/${name}`, { timeoutMs: 10000 });
  assert.equal(c.status, 200, `collection ${name} on ${url}: ${c.status} ${c.text}`);
  const r = await http(`${url}${TD}/collections/${c.json.id}/get`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ limit: 100000, include: ['documents', 'metadatas'] }),
    timeoutMs: 20000,
  });
  assert.equal(r.status, 200, r.text);
  const m = new Map();
  r.json.ids.forEach((id, i) => m.set(id, { document: r.json.documents?.[i], metadata: r.json.metadatas?.[i] }));
  return m;
}

// A valid Chroma collection name (3-512 of [a-zA-Z0-9._-], alphanumeric at both ends).
function collectionName(prefix, label) {
  return `${prefix}-${label}`.replace(/[^a-zA-Z0-9_-]+/g, '-').slice(0, 60).replace(/[^a-zA-Z0-9]+$/, '');
}

function sameRecords(a, b) {
  if (a.size !== b.size) return false;
  for (const [id, rec] of a) if (JSON.stringify(rec) !== JSON.stringify(b.get(id))) return false;
  return true;
}

// A fresh snapshot only: while the store was unreachable /wal/status serves its last one (marked
// stale), which can predate a write still being carried (answered "outcome unknown").
function drained(st) {
  return st.store_snapshot?.stale === false && st.unresolved_entries === 0 && (st.instances ?? []).length > 0 &&
    st.instances.every((i) => i.pending_entries === 0) && (st.blocked ?? []).length === 0;
}

export class Scenario {
  // opts: seed, store ('sqlite' | 'postgres' | 'postgres-own'), relay ('replica' | 'primary' |
  // 'postgres': between chroma-ha and the scenario's own PostgreSQL, with store 'postgres-own'),
  // env (extra chroma-ha environment), convergeS (verify --wait bound), results (array), fleet
  // (how many chroma-ha processes share the WAL: `ha` and fleet - 1 `others`; PostgreSQL only).
  static async start(label, opts) {
    const sc = new Scenario(label, opts);
    try {
      await sc.boot();
    } catch (e) {
      await sc.stop({ keep: true });
      throw e;
    }
    return sc;
  }

  constructor(label, { seed, store = 'sqlite', relay = null, env = {}, convergeS = 30, results = [], fleet = 1 }) {
    this.fleet = fleet;
    this.others = []; // the fleet's other chroma-ha processes
    this.label = label;
    this.seed = seed;
    this.store = store;
    this.relayFor = relay;
    this.extraEnv = env;
    this.convergeS = convergeS;
    this.results = results;
    this.started = Date.now();
    this.dir = makeTempDir(`fault-${label.replace(/[^a-zA-Z0-9]+/g, '-').slice(0, 30)}`);
    this.primary = null;
    this.replica = null;
    this.ha = null;
    this.relay = null;
    this.pg = null; // a PostgreSQL of this scenario's own
    this.database = null; // a database this scenario created
    this.col = null;
    this.storeDown = []; // [{ from, to, label }]
  }

  async boot() {
    const servers = await Promise.allSettled([
      startChroma({ dir: this.dir, name: 'primary' }),
      startChroma({ dir: this.dir, name: 'replica' }),
    ]);
    this.primary = servers[0].value ?? null;
    this.replica = servers[1].value ?? null;
    for (const s of servers) if (s.status === 'rejected') throw s.reason;
    let primaryUrl = this.primary.url;
    let replicaUrl = this.replica.url;
    if (this.relayFor === 'replica') {
      this.relay = await Relay.start(this.replica.port);
      replicaUrl = this.relay.url;
    } else if (this.relayFor === 'primary') {
      this.relay = await Relay.start(this.primary.port);
      primaryUrl = this.relay.url;
    }
    const env = {
      WAL_SYNC_INTERVAL: String(SYNC_INTERVAL_S),
      CIRCUIT_BREAKER_TIMEOUT: '1',
      REQUEST_TIMEOUT: '5',
      LOG_LEVEL: process.env.FAULT_LOG_LEVEL || 'info',
      ...this.extraEnv,
    };
    if (this.store === 'postgres-own') {
      this.pg = await PostgresServer.start('fault-own-pg');
      env.DATABASE_URL = this.pg.url;
      if (this.relayFor === 'postgres') {
        // chroma-ha reaches its PostgreSQL through the relay only.
        this.relay = await Relay.start(this.pg.port);
        const u = new URL(this.pg.url);
        u.port = String(this.relay.port);
        env.DATABASE_URL = u.toString();
      }
    } else if (this.store === 'postgres') {
      this.database = createTestDatabase(await sharedPostgresAdminUrl(), 'fault');
      env.DATABASE_URL = this.database;
    } else if (this.store !== 'sqlite') {
      throw new Error(`unknown store ${this.store}`);
    }
    if (this.relayFor === 'postgres' && !this.relay) throw new Error('a relay to PostgreSQL needs store postgres-own');
    this.ha = await startChromaHa({ dir: this.dir, primaryUrl, replicaUrl, env });
    await this.ha.waitAllHealthy({ timeoutMs: 20000 });
    if (this.fleet > 1 && !env.DATABASE_URL) throw new Error('a fleet needs a PostgreSQL WAL');
    for (let i = 1; i < this.fleet; i++) {
      const other = await startChromaHa({ dir: makeTempDir(`fault-fleet-${i}`), primaryUrl, replicaUrl, env });
      this.others.push(other);
      await other.waitAllHealthy({ timeoutMs: 20000 });
    }
    await this.prepare();
  }

  // Stops what this scenario started. Data directories are removed unless `keep` (a failed
  // scenario keeps them, and its logs, for a post-mortem: the directory is in the failure).
  async stop({ keep = false } = {}) {
    for (const other of this.others) {
      if (other.pid) try { process.kill(other.pid, 'SIGCONT'); } catch { /* gone */ }
      await other.stop();
    }
    await this.ha?.stop();
    await this.relay?.close();
    if (keep) await Promise.all([this.primary?.stop(), this.replica?.stop()]);
    else await Promise.all([this.primary?.destroy(), this.replica?.destroy()]);
    if (this.database) {
      try {
        dropTestDatabase(this.database);
      } catch {
        // best effort: the test server is thrown away anyway
      }
    }
    this.pg?.destroy();
    if (!keep) {
      for (const f of fs.existsSync(this.dir) ? fs.readdirSync(this.dir) : []) {
        if (f.startsWith('wal.sqlite3')) fs.rmSync(path.join(this.dir, f), { force: true, recursive: true });
      }
    }
  }

  // Creates the scenario's collection through chroma-ha and seeds the hot keys.
  async prepare() {
    const name = collectionName('fault', this.label);
    const c = await send(this.ha.url, 'POST', `${TD}/collections`, { name });
    assert.equal(c.outcome, 'ok', `create ${name}: ${c.status} ${c.text ?? c.error}`);
    const id = JSON.parse(c.text).id;
    const u = await send(this.ha.url, 'POST', `${TD}/collections/${id}/upsert`, {
      ids: HOT_KEYS,
      embeddings: HOT_KEYS.map(() => [0, 0, 1]),
      documents: HOT_KEYS.map((k) => `seed-${k}`),
      metadatas: HOT_KEYS.map((k) => ({ v: `seed-${k}` })),
    });
    assert.equal(u.outcome, 'ok', `seed upsert: ${u.status} ${u.text ?? u.error}`);
    this.col = { name, id, initial: new Set(HOT_KEYS.map((k) => `seed-${k}`)) };
    this.col.ids = await this.instanceIds(name, { wait: true });
  }

  // The collection's own UUID on each instance, read directly: { primary, replica }. An instance
  // that lost a collection (and had it re-created by the sync worker's heal) shows a new UUID.
  async instanceIds(name, { wait = false } = {}) {
    const read = async (inst) => {
      const r = await http(`${inst.url}${TD}/collections/${name}`, { timeoutMs: 10000 });
      return r.status === 200 ? r.json.id : `(${r.status})`;
    };
    const get = async () => ({ primary: await read(this.primary), replica: await read(this.replica) });
    if (!wait) return get();
    return waitFor(async () => { const ids = await get(); return !ids.primary.startsWith('(') && !ids.replica.startsWith('(') && ids; },
      { timeoutMs: 20000, intervalMs: 50, what: `collection ${name} on both instances` });
  }

  // A second collection written to only while the WAL store is down (probeWhileDown), so that
  // its writes are not queued behind the workload's in-flight writes of the main collection.
  async createProbe() {
    const name = collectionName('probe', this.label);
    const c = await send(this.ha.url, 'POST', `${TD}/collections`, { name });
    assert.equal(c.outcome, 'ok', `create ${name}: ${c.status} ${c.text ?? c.error}`);
    this.probe = { name, id: JSON.parse(c.text).id, ops: [] };
  }

  // One client adding unique ids to the probe collection, one at a time, until `deadline` (less
  // the request timeout). Each op is recorded like a workload op (t0 sent, t answered).
  async probeWhileDown(deadline, timeoutMs = 2000) {
    for (let n = 0; Date.now() + timeoutMs + 200 < deadline; n++) {
      const id = `probe-${this.probe.ops.length}`;
      const t0 = Date.now();
      const res = await send(this.ha.url, 'POST', `${TD}/collections/${this.probe.id}/add`,
        { ids: [id], embeddings: [[1, 0, 0]], documents: [id], metadatas: [{ v: id }] }, timeoutMs);
      this.probe.ops.push({ kind: 'add', ids: [id], outcome: res.outcome, status: res.status, error: res.error, t0, t: Date.now() });
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  // Every chroma-ha process of the scenario (one unless it is a fleet).
  get proxies() {
    return [this.ha, ...this.others];
  }

  // The process holding lease `name` (e.g. "replay/replica") as the live processes but `paused`
  // show it, once `accept(holder)` holds; waits up to 15 s. { proxy, member, term }.
  async leaseHolder(name, { paused = null, accept = () => true } = {}) {
    const live = () => this.proxies.filter((x) => x.alive() && x !== paused);
    return waitFor(async () => {
      for (const p of live()) {
        const st = await walStatus(p).catch(() => null);
        const lease = st?.leases?.find((l) => l.name === name && l.live);
        if (!lease) continue;
        for (const q of live()) {
          if ((await walStatus(q).catch(() => null))?.member !== lease.holder) continue;
          const holder = { proxy: q, term: lease.term, member: lease.holder };
          if (accept(holder)) return holder;
        }
      }
      return null;
    }, { timeoutMs: 15000, intervalMs: 50, what: `a live holder of lease ${name}` });
  }

  workload({ clients, opsPerClient, tag, pauseMs = 20, seedOffset = 0 }) {
    const urls = this.others.length ? this.proxies.map((p) => p.url) : null;
    return new Workload({ url: this.ha.url, urls, collectionId: this.col.id, seed: (this.seed + seedOffset) >>> 0, clients, opsPerClient, tag, pauseMs });
  }

  // Restarts chroma-ha with `failpoints` (a CHROMA_HA_FAILPOINTS value) or none.
  async restartHa(failpoints) {
    if (failpoints) this.ha.env.CHROMA_HA_FAILPOINTS = failpoints;
    else delete this.ha.env.CHROMA_HA_FAILPOINTS;
    await this.ha.restart({ timeoutMs: 30000 });
  }

  // Keeps chroma-ha up while `until` is pending: a crash is followed by a restart without
  // failpoints. Returns the number of crashes seen.
  async superviseHa(until) {
    let crashes = 0;
    let done = false;
    until.finally(() => { done = true; });
    for (;;) {
      if (!this.ha.alive()) {
        crashes++;
        await this.restartHa(null);
      }
      if (done) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return crashes;
  }

  // Convergence within convergeS, the promise's checks, then the re-run. Records a result row and
  // throws (assert) listing every problem found. `check({ primary, replica })`, if given, returns
  // more problems from the scenario collection's records on each instance (read once converged).
  async heal(wl, { faults, extra = {}, check = null }) {
    const healStart = Date.now();
    if (!this.ha.alive()) await this.restartHa(null);
    for (const other of this.others) {
      if (other.pid) try { process.kill(other.pid, 'SIGCONT'); } catch { /* gone */ }
      if (!other.alive()) await other.restart({ timeoutMs: 30000 });
    }
    if (this.relay) this.relay.setMode('pass');
    const v = await runVerify(this.primary.url, this.replica.url, this.convergeS);
    const convergeMs = Date.now() - healStart;
    const ids = await this.instanceIds(this.col.name);
    const idProblems = [];
    for (const role of ['primary', 'replica']) {
      if (ids[role] !== this.col.ids[role]) {
        idProblems.push(`${role}: collection ${this.col.name} is ${ids[role]}, was ${this.col.ids[role]} before the faults (lost by the instance, or re-created by the sync worker's heal)`);
      }
    }
    if (Object.values(ids).some((id) => id.startsWith('('))) {
      const st = await walStatus(this.ha).catch((e) => e.message);
      assert.fail(`${this.label} (seed ${this.seed}; data kept in ${this.dir}): ${idProblems.join('; ')}\nverify: ${v.out}\n/wal/status: ${JSON.stringify(st)}`);
    }
    // Every write resolved and replayed before the records are read: a write answered "outcome
    // unknown" may still be carried (forwarded once the store answers) after verify compared.
    const drainProblems = [];
    try {
      await waitFor(async () => { const x = await walStatus(this.ha); return drained(x) && x; },
        { timeoutMs: 30000, intervalMs: 100, what: '/wal/status: unresolved 0, backlog 0, nothing blocked' });
    } catch (e) {
      drainProblems.push(`${e.message} (last: ${JSON.stringify(await walStatus(this.ha).catch((x) => x.message))})`);
    }
    const [p, r] = await Promise.all([records(this.primary.url, this.col.name), records(this.replica.url, this.col.name)]);
    const problems = [
      ...idProblems,
      ...drainProblems,
      ...checkRecords('primary', p, wl.ops, this.col.initial),
      ...checkRecords('replica', r, wl.ops, this.col.initial),
    ];
    if (check) problems.push(...check({ primary: p, replica: r }));
    const down = storeDownProblems(wl.ops, this.storeDown, { primary: p, replica: r });
    problems.push(...down.problems);
    if (this.probe) {
      // Converged or not, no probe write (each sent and answered while the store was down) may
      // have a 2xx or be on an instance.
      const [pp, pr] = await Promise.all([records(this.primary.url, this.probe.name), records(this.replica.url, this.probe.name)]);
      const pd = storeDownProblems(this.probe.ops, this.storeDown, { primary: pp, replica: pr });
      problems.push(...pd.problems);
      if (pd.inWindow !== this.probe.ops.length) problems.push(`${this.probe.ops.length - pd.inWindow} probe writes were not sent and answered inside a store-down window`);
      if (pd.inWindow === 0) problems.push('no probe write was sent while the WAL store was down');
      down.inWindow += pd.inWindow;
    }
    const s = wl.summary();
    const row = { scenario: this.label, store: this.store, seed: this.seed, ops: s.total, ok: s.ok, unknown: s.unknown, refused: s.refused, rejected: s.rejected, faults, ...(typeof extra === 'function' ? {} : extra) };
    if (this.storeDown.length) row.in_store_down_window = down.inWindow;
    if (v.code !== 0) {
      const st = await walStatus(this.ha).catch((e) => e.message);
      this.results.push({ ...row, converged: false, problems: problems.length });
      assert.fail(`${this.label}: verify --wait ${this.convergeS} did not converge (seed ${this.seed}; data kept in ${this.dir}):\n` +
        `${v.out.split('\n').filter((l) => !l.includes('retrying')).join('\n')}\n` +
        `checks against the operation log (${JSON.stringify(s)}):\n${problems.join('\n')}\n/wal/status: ${JSON.stringify(st)}`);
    }
    if (!sameRecords(p, r)) problems.push('primary and replica differ on the scenario collection');

    // Replaying again changes nothing: restart chroma-ha on the same WAL and wait until a sync
    // pass has finished one full interval after the restart. (A fleet's other processes stop
    // first and give their leases back, so the restarted one replays.)
    for (const other of this.others) await other.stop();
    await this.restartHa(null);
    const restarted = Date.now();
    try {
      await waitFor(async () => (await walStatus(this.ha)).last_sync_ms >= restarted + SYNC_INTERVAL_S * 1000,
        { timeoutMs: 30000, intervalMs: 100, what: 'a sync pass one interval after the restart' });
    } catch (e) {
      problems.push(`after the re-run: ${e.message}`);
    }
    const v2 = await runVerify(this.primary.url, this.replica.url, 0);
    if (v2.code !== 0) problems.push(`after the re-run: not converged: ${v2.out}`);
    const st2 = await walStatus(this.ha);
    if (!drained(st2)) problems.push(`after the re-run: /wal/status not drained: ${JSON.stringify(st2)}`);
    const [p2, r2] = await Promise.all([records(this.primary.url, this.col.name), records(this.replica.url, this.col.name)]);
    if (!sameRecords(p, p2)) problems.push(`after the re-run the primary changed (${p.size} -> ${p2.size} records)`);
    if (!sameRecords(r, r2)) problems.push(`after the re-run the replica changed (${r.size} -> ${r2.size} records)`);

    const lost = problems.filter((x) => x.includes('is missing')).length;
    if (typeof extra === 'function') Object.assign(row, extra());
    Object.assign(row, { records: p.size, lost, problems: problems.length, converge_ms: convergeMs, total_ms: Date.now() - this.started });
    this.results.push(row);
    console.log(`  ${this.label}: ${JSON.stringify(row)}`);
    assert.deepEqual(problems, [], `${this.label}: the promise is broken (seed ${this.seed}; data kept in ${this.dir}):\n${problems.join('\n')}`);
    return row;
  }
}

// Runs pg_ctl on `pg` (a PostgresServer) as the postgres user, without blocking the event loop
// (the workload keeps running meanwhile). Throws with pg_ctl's output on failure.
export async function pgCtl(pg, args, timeoutMs = 60000) {
  const argv = [path.join(PG_BIN, 'pg_ctl'), '-D', path.join(pg.dataDir, 'data'), ...args];
  const [bin, rest] = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', ...argv]] : [argv[0], argv.slice(1)];
  try {
    await promisify(execFile)(bin, rest, { timeout: timeoutMs, cwd: pg.dataDir });
  } catch (e) {
    throw new Error(`pg_ctl ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

// `pg_ctl stop -m immediate` (no shutdown checkpoint: crash recovery at the next start), then
// start again on the same port. Returns { from, to }: from = the stop has returned (the server
// is gone), to = just before the start is issued.
// `during(deadline)`, if given, runs while it is down (it must settle by the deadline).
export async function pgImmediateRestart(pg, downMs, during) {
  pg.forgetPid();
  await pgCtl(pg, ['-m', 'immediate', '-w', 'stop']);
  const from = Date.now();
  await Promise.all([new Promise((r) => setTimeout(r, downMs)), during?.(from + downMs)]);
  const to = Date.now();
  const d = pg.dataDir;
  await pgCtl(pg, ['-l', path.join(d, 'postgres.log'), '-w', '-t', '60', '-o', `-c listen_addresses=127.0.0.1 -p ${pg.port} -k ${d}`, 'start']);
  pg.recordPid();
  return { from, to };
}
