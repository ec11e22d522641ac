// End-to-end harness: starts real Chroma servers and the real build/chroma-ha on loopback, on free
// ports, with throw-away data directories, and stops only the processes it started (by PID).
//
//   const stack = await startStack({ name: 'parity', env: { LOAD_BALANCE_STRATEGY: 'primary_only' } });
//   const client = stack.client();            // official chromadb JS client pointed at chroma-ha
//   ... await stack.stop();                   // in after()
//
// Every wait polls with a deadline. Logs of every process go to files in the stack's directory
// (under $CHROMA_HA_E2E_DIR if set, else the system temp dir); data directories are removed on
// stop, logs are kept. If $CHROMA_HA_E2E_PIDDIR is set, each started PID is also recorded there as
// a file so that scripts/test.sh can stop leftovers if this process is killed before after() runs.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChromaClient } from 'chromadb';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHROMA_BIN = path.join(ROOT, 'node_modules', '.bin', 'chroma');
export const CHROMA_HA_BIN = process.env.CHROMA_HA_BIN || path.join(ROOT, 'build', 'chroma-ha');

// Fast health checks so that failover tests finish quickly.
export const FAST_HEALTH_ENV = Object.freeze({
  HEALTH_CHECK_INTERVAL_MS: '200',
  FAILURE_THRESHOLD: '2',
  HEALTHY_THRESHOLD: '1',
});

const started = new Map(); // pid -> ChildProcess, for the exit backstop
const pidDir = process.env.CHROMA_HA_E2E_PIDDIR;

function killStarted() {
  for (const [pid, child] of started) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
process.on('exit', killStarted);
// Interrupted (Ctrl-C, or the test runner / scripts/test.sh giving up): stop what we started.
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.once(signal, () => {
    killStarted();
    process.exit(code);
  });
}

function track(child, marker) {
  started.set(child.pid, child);
  if (pidDir) {
    try {
      fs.mkdirSync(pidDir, { recursive: true });
      fs.writeFileSync(path.join(pidDir, String(child.pid)), marker);
    } catch {
      // the backstop is best effort; after() is the real cleanup
    }
  }
  child.once('exit', () => {
    started.delete(child.pid);
    if (pidDir) fs.rmSync(path.join(pidDir, String(child.pid)), { force: true });
  });
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Polls `fn` every `intervalMs` until it returns a truthy value (returned) or `timeoutMs` passes
// (throws, with the last error or value in the message).
export async function waitFor(fn, { timeoutMs = 10000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      if (e?.fatal) throw e;
      last = e;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${detail})`);
    }
    await sleep(intervalMs);
  }
}

// A TCP port free on 127.0.0.1 right now (picked by the kernel).
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// True if process `pid` holds a listening TCP socket on `port` (Linux /proc), so a server that
// lost a port clash is never mistaken for the one that holds the port.
export function pidListensOn(pid, port) {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && cols[3] === '0A' && cols[1].endsWith(`:${hex}`)) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return false;
  let fds = [];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1])) return true;
    } catch {
      // fd closed meanwhile
    }
  }
  return false;
}

// fetch with a per-request deadline; returns {status, headers, text, json}.
export async function http(url, { method = 'GET', headers = {}, body, timeoutMs = 5000 } = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  try {
    const res = await fetch(url, { method, headers, body, signal: ctl.signal });
    const text = await res.text();
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  } finally {
    clearTimeout(timer);
  }
}

function alive(child) {
  return child.exitCode === null && child.signalCode === null;
}

function exitPromise(child) {
  if (!alive(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

// Sends `signal` to the child (by PID) and waits for it to exit; SIGKILL after `graceMs`.
async function stopChild(child, signal = 'SIGTERM', graceMs = 10000) {
  if (!child || !alive(child)) return;
  const exited = exitPromise(child);
  try {
    process.kill(child.pid, signal);
  } catch {
    return;
  }
  if (!(await exitedWithin(exited, graceMs)) && alive(child)) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // gone
    }
    await exitedWithin(exited, 5000);
  }
}

// Resolves true when `exited` settles within `ms`, false otherwise; leaves no timer behind (a
// pending timer would keep this test process alive).
function exitedWithin(exited, ms) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([exited.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

function spawnLogged(bin, args, { env, logBase, marker }) {
  const out = fs.openSync(`${logBase}.stdout.log`, 'a');
  const err = fs.openSync(`${logBase}.stderr.log`, 'a');
  try {
    const child = spawn(bin, args, { env, stdio: ['ignore', out, err], cwd: ROOT });
    child.on('error', () => {}); // spawn errors surface as an exit; readiness reports them
    if (child.pid !== undefined) track(child, marker);
    return child;
  } finally {
    fs.closeSync(out);
    fs.closeSync(err);
  }
}

function tail(file, lines = 30) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

// Waits until `child` listens on `port` and `probe()` resolves truthy; throws if the child exits.
async function waitReady(child, port, probe, { timeoutMs, what, logBase }) {
  try {
    await waitFor(
      async () => {
        if (!alive(child)) {
          throw Object.assign(new Error(`${what} exited (code ${child.exitCode}, signal ${child.signalCode})`), {
            fatal: true,
          });
        }
        return pidListensOn(child.pid, port) && (await probe());
      },
      { timeoutMs, intervalMs: 50, what },
    );
  } catch (e) {
    await stopChild(child, 'SIGKILL', 1000);
    throw new Error(`${e.message}\n--- ${logBase}.stderr.log (tail) ---\n${tail(`${logBase}.stderr.log`)}`);
  }
}

// A real Chroma server on 127.0.0.1.
export class ChromaServer {
  constructor({ dataDir, port, logBase }) {
    this.dataDir = dataDir;
    this.port = port;
    this.logBase = logBase;
    this.url = `http://127.0.0.1:${port}`;
    this.child = null;
  }

  get pid() {
    return this.child?.pid;
  }

  async start({ timeoutMs = 30000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    // On a restart the port may briefly still be held; retry until the deadline.
    for (let attempt = 1; ; attempt++) {
      fs.mkdirSync(this.dataDir, { recursive: true });
      this.child = spawnLogged(
        CHROMA_BIN,
        ['run', '--path', this.dataDir, '--host', '127.0.0.1', '--port', String(this.port)],
        { env: process.env, logBase: this.logBase, marker: 'chroma' },
      );
      try {
        await waitReady(
          this.child,
          this.port,
          async () => (await http(`${this.url}/api/v2/heartbeat`, { timeoutMs: 2000 })).status === 200,
          { timeoutMs: Math.max(1000, deadline - Date.now()), what: `chroma on port ${this.port}`, logBase: this.logBase },
        );
        return this;
      } catch (e) {
        if (Date.now() >= deadline || attempt >= 20) throw e;
        await sleep(200);
      }
    }
  }

  // SIGKILL by default: a crash, not a shutdown.
  async kill(signal = 'SIGKILL') {
    await stopChild(this.child, signal, 5000);
  }

  async restart(opts) {
    await this.kill('SIGTERM');
    return this.start(opts);
  }

  async stop() {
    await stopChild(this.child, 'SIGTERM', 5000);
  }

  // Stops the server and deletes its data directory (its log is kept).
  async destroy() {
    await this.stop();
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export async function startChroma({ dir, name = 'chroma', port } = {}) {
  const base = dir ?? makeTempDir(name);
  const server = new ChromaServer({
    dataDir: path.join(base, name),
    port: port ?? (await freePort()),
    logBase: path.join(base, name),
  });
  return server.start();
}

// The real chroma-ha binary.
export class ChromaHa {
  constructor({ port, env, logBase }) {
    this.port = port;
    this.env = env;
    this.logBase = logBase;
    this.url = `http://127.0.0.1:${port}`;
    this.child = null;
  }

  get pid() {
    return this.child?.pid;
  }

  get stdoutPath() {
    return `${this.logBase}.stdout.log`;
  }

  get stderrPath() {
    return `${this.logBase}.stderr.log`;
  }

  async start({ timeoutMs = 30000 } = {}) {
    const bin = this.bin ?? CHROMA_HA_BIN;
    if (!fs.existsSync(bin)) {
      throw new Error(`${bin} does not exist: build it first (bash scripts/build.sh)`);
    }
    this.child = spawnLogged(bin, [], { env: this.env, logBase: this.logBase, marker: 'chroma-ha' });
    // Ready = it listens and /health answers at all (200 or 503); health itself is checked by tests.
    await waitReady(
      this.child,
      this.port,
      async () => {
        const r = await http(`${this.url}/health`, { timeoutMs: 2000 });
        return r.status === 200 || r.status === 503;
      },
      { timeoutMs, what: `chroma-ha on port ${this.port}`, logBase: this.logBase },
    );
    return this;
  }

  async stop() {
    await stopChild(this.child, 'SIGTERM', 15000);
  }

  // SIGKILL by default: a crash, not a shutdown.
  async kill(signal = 'SIGKILL') {
    await stopChild(this.child, signal, 5000);
  }

  // Starts a stopped (or killed) chroma-ha again with the same environment (same port, same WAL:
  // WAL_PATH or DATABASE_URL). The port may briefly still be held: retries until the deadline.
  async restart({ timeoutMs = 30000 } = {}) {
    if (this.alive()) await this.stop();
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.start({ timeoutMs: Math.max(1000, deadline - Date.now()) });
      } catch (e) {
        if (Date.now() >= deadline || attempt >= 20) throw e;
        await sleep(200);
      }
    }
  }

  alive() {
    return this.child !== null && alive(this.child);
  }

  async status() {
    const r = await http(`${this.url}/status`);
    if (r.status !== 200 || !r.json) throw new Error(`/status answered ${r.status}: ${r.text}`);
    return r.json;
  }

  async instance(role) {
    const s = await this.status();
    const found = (s.instances ?? []).find((i) => i.role === role);
    if (!found) throw new Error(`/status has no instance with role ${role}: ${JSON.stringify(s)}`);
    return found;
  }

  // Polls /status until every instance is healthy.
  async waitAllHealthy({ timeoutMs = 10000 } = {}) {
    return waitFor(
      async () => {
        const s = await this.status();
        return (s.instances ?? []).length > 0 && s.instances.every((i) => i.healthy === true) && s;
      },
      { timeoutMs, what: 'all instances healthy in /status' },
    );
  }

  logTail(lines = 40) {
    return `--- ${this.stderrPath} ---\n${tail(this.stderrPath, lines)}\n--- ${this.stdoutPath} ---\n${tail(this.stdoutPath, lines)}`;
  }
}

export function makeTempDir(name = 'e2e') {
  const base = process.env.CHROMA_HA_E2E_DIR || os.tmpdir();
  fs.mkdirSync(base, { recursive: true });
  return fs.mkdtempSync(path.join(base, `chroma-ha-${name}-`));
}

// Environment for chroma-ha: only PATH/HOME from this process (so a DATABASE_URL or other config in
// the caller's environment cannot leak in), loopback listener, embedded SQLite WAL in `dir`.
export function chromaHaEnv({ port, primaryUrl, replicaUrl, dir, env = {} }) {
  const base = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    LISTEN_ADDRESS: '127.0.0.1',
    PORT: String(port),
    PRIMARY_URL: primaryUrl,
    REPLICA_URL: replicaUrl,
    WAL_PATH: path.join(dir, 'wal.sqlite3'),
    LOG_LEVEL: 'debug',
    ...FAST_HEALTH_ENV,
  };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || v === null) delete base[k];
    else base[k] = String(v);
  }
  return base;
}

// `bin`: another chroma-ha binary than CHROMA_HA_BIN (benchmarks compare two builds).
export async function startChromaHa({ dir, primaryUrl, replicaUrl, env = {}, port, bin } = {}) {
  const haPort = port ?? (await freePort());
  const ha = new ChromaHa({
    port: haPort,
    env: chromaHaEnv({ port: haPort, primaryUrl, replicaUrl, dir, env }),
    logBase: path.join(dir, 'chroma-ha'),
  });
  ha.bin = bin;
  return ha.start();
}

export function makeClient(url) {
  const u = new URL(url);
  return new ChromaClient({ host: u.hostname, port: Number(u.port), ssl: false });
}

// Two fresh Chroma servers (primary, replica) and chroma-ha in front of them.
//
// WAL store: `store: 'sqlite'` (default: WAL_PATH in the stack's directory) or `store: 'postgres'`
// (a fresh database created on $CHROMA_HA_TEST_DATABASE_URL's server for this stack and dropped by
// stop(); throws if that variable is unset). `databaseUrl` sets DATABASE_URL explicitly (a
// database the caller owns). stack.databaseUrl is the URL in use (undefined for SQLite).
export async function startStack({ name = 'stack', env = {}, waitHealthy = true, store, databaseUrl } = {}) {
  if (!fs.existsSync(CHROMA_HA_BIN)) {
    throw new Error(`${CHROMA_HA_BIN} does not exist: build it first (bash scripts/build.sh)`);
  }
  const dir = makeTempDir(name);
  const stack = { dir, primary: null, replica: null, ha: null, store: store ?? (databaseUrl ? 'postgres' : 'sqlite') };
  let ownDatabase = null;
  stack.stop = async () => {
    await stack.ha?.stop();
    await Promise.all([stack.primary?.destroy(), stack.replica?.destroy()]);
    for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      if (f.startsWith('wal.sqlite3')) fs.rmSync(path.join(dir, f), { force: true, recursive: true });
    }
    if (ownDatabase) {
      try {
        dropTestDatabase(ownDatabase);
      } catch {
        // best effort: the test server is thrown away anyway
      }
      ownDatabase = null;
    }
  };
  // chroma-ha killed or stopped: start it again on the same port and WAL.
  stack.restartHa = (opts) => stack.ha.restart(opts);
  if (databaseUrl) {
    stack.databaseUrl = databaseUrl;
  } else if (stack.store === 'postgres') {
    ownDatabase = createTestDatabase(testDatabaseAdminUrl(), name);
    stack.databaseUrl = ownDatabase;
  } else if (stack.store !== 'sqlite') {
    throw new Error(`unknown WAL store ${stack.store}`);
  }
  if (stack.databaseUrl) env = { ...env, DATABASE_URL: stack.databaseUrl };
  try {
    const servers = await Promise.allSettled([
      startChroma({ dir, name: 'primary' }),
      startChroma({ dir, name: 'replica' }),
    ]);
    stack.primary = servers[0].value ?? null;
    stack.replica = servers[1].value ?? null;
    for (const s of servers) if (s.status === 'rejected') throw s.reason;
    stack.ha = await startChromaHa({
      dir,
      primaryUrl: stack.primary.url,
      replicaUrl: stack.replica.url,
      env,
    });
    if (waitHealthy) await stack.ha.waitAllHealthy();
  } catch (e) {
    const logs = stack.ha ? `\n${stack.ha.logTail()}` : '';
    await stack.stop();
    throw new Error(`${e.message}${logs}`);
  }
  stack.client = () => makeClient(stack.ha.url);
  return stack;
}

// Path prefix of the default tenant and database.
export const TD = '/api/v2/tenants/default_tenant/databases/default_database';

// A small collection that tests seed directly into each server (around the proxy).
export const SEED = {
  name: 'routing-docs',
  metadata: { purpose: 'routing' },
  records: {
    ids: ['r1', 'r2', 'r3'],
    embeddings: [
      [1, 0, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 1, 0],
    ],
    documents: ['one', 'two', 'three'],
    metadatas: [{ n: 1 }, { n: 2 }, { n: 3 }],
  },
};

// Creates the same collection and records directly on a server (around the proxy).
export async function seedDirect(url, seed = SEED) {
  const client = makeClient(url);
  const col = await client.createCollection({
    name: seed.name,
    metadata: seed.metadata,
    embeddingFunction: null,
  });
  await col.add(seed.records);
  return col.id;
}

// Per-role request counters from /status.
export async function requestCounts(ha) {
  const s = await ha.status();
  const count = (role) => {
    const inst = s.instances.find((i) => i.role === role);
    if (!inst) throw new Error(`/status lists no ${role}: ${JSON.stringify(s)}`);
    if (typeof inst.requests !== 'number') {
      throw new Error(`${role}.requests is not a number: ${JSON.stringify(inst)}`);
    }
    return inst.requests;
  };
  return { primary: count('primary'), replica: count('replica') };
}


// ---------------------------------------------------------------------------------------------
// WAL stores and PostgreSQL

export const PG_BIN = process.env.PG_BIN || '/usr/lib/postgresql/15/bin';

function psqlBin() {
  for (const p of ['/usr/bin/psql', path.join(PG_BIN, 'psql')]) if (fs.existsSync(p)) return p;
  return 'psql';
}

// Runs one SQL command with psql against `url`; throws with psql's stderr on failure.
export function psql(url, sql, { timeoutMs = 30000 } = {}) {
  const r = spawnSync(psqlBin(), [url, '-v', 'ON_ERROR_STOP=1', '-X', '-q', '-tA', '-c', sql], {
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  if (r.status !== 0) throw new Error(`psql ${JSON.stringify(sql)} failed (${r.status ?? r.signal}): ${r.stderr || r.error}`);
  return r.stdout;
}

// $CHROMA_HA_TEST_DATABASE_URL, or an error saying it is missing.
export function testDatabaseAdminUrl() {
  const url = process.env.CHROMA_HA_TEST_DATABASE_URL;
  if (!url) {
    throw new Error(
      'CHROMA_HA_TEST_DATABASE_URL is unset: start PostgreSQL with scripts/postgres.sh start DIR and export its URL' +
        (process.env.CHROMA_HA_REQUIRE_POSTGRES === '1' ? ' (CHROMA_HA_REQUIRE_POSTGRES=1: PostgreSQL is required)' : ''),
    );
  }
  return url;
}

// The same server URL with another database name.
export function withDatabase(url, db) {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

let dbCounter = 0;
// Creates a fresh, uniquely named database on the server of `adminUrl`; returns its URL.
export function createTestDatabase(adminUrl, name = 'e2e') {
  const clean = name.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 30);
  const db = `e2e_${clean}_${process.pid}_${Date.now().toString(36)}_${++dbCounter}`;
  psql(adminUrl, `CREATE DATABASE ${db}`);
  return withDatabase(adminUrl, db);
}

export function dropTestDatabase(url) {
  const u = new URL(url);
  const db = u.pathname.replace(/^\//, '');
  if (!/^e2e_[a-z0-9_]+$/.test(db)) throw new Error(`refusing to drop ${db}: not a test database`);
  psql(withDatabase(url, 'postgres'), `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
}

// The WAL store variants every WAL/sync suite runs for: SQLite always; PostgreSQL when
// $CHROMA_HA_TEST_DATABASE_URL is set. When it is unset but CHROMA_HA_REQUIRE_POSTGRES=1, the
// PostgreSQL variant is still listed (with `missing` set) so that its suites FAIL instead of
// silently passing; when neither is set it is left out (and that is printed).
export function walStores() {
  const stores = [{ kind: 'sqlite' }];
  if (process.env.CHROMA_HA_TEST_DATABASE_URL) {
    stores.push({ kind: 'postgres' });
  } else if (process.env.CHROMA_HA_REQUIRE_POSTGRES === '1') {
    stores.push({
      kind: 'postgres',
      missing: 'CHROMA_HA_REQUIRE_POSTGRES=1 but CHROMA_HA_TEST_DATABASE_URL is unset: the PostgreSQL WAL cannot be tested',
    });
  } else {
    console.log('# CHROMA_HA_TEST_DATABASE_URL unset: PostgreSQL WAL variants left out');
  }
  return stores;
}

const startedPostgres = new Set();
// Backstop: a PostgreSQL a test started is stopped (synchronously) when this process exits.
process.on('exit', () => {
  for (const pg of startedPostgres) {
    try {
      pg.destroy();
    } catch {
      // best effort
    }
  }
});

// A PostgreSQL server of its own (scripts/postgres.sh) for a test that stops and starts it.
// stop() is a fast shutdown; startSamePort() starts it again on the port it had (postgres.sh start
// would pick a new free port, which would leave chroma-ha's DATABASE_URL stale).
export class PostgresServer {
  constructor(dir) {
    this.dir = dir;
    this.url = null;
    this.port = null;
  }

  static async start(name = 'pg') {
    // The postgres user must be able to traverse the parents: use a directory under /tmp.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `chroma-ha-${name}-`));
    fs.chmodSync(dir, 0o755);
    const pg = new PostgresServer(dir);
    const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'postgres.sh'), 'start', path.join(dir, 'pg')], {
      encoding: 'utf8',
      timeout: 120000,
    });
    const url = r.stdout.trim().split('\n').pop();
    if (r.status !== 0 || !url?.startsWith('postgres')) {
      throw new Error(`scripts/postgres.sh start failed (${r.status ?? r.signal}): ${r.stderr}`);
    }
    pg.url = url;
    pg.port = Number(new URL(url).port);
    startedPostgres.add(pg);
    pg.recordPid();
    return pg;
  }

  get dataDir() {
    return path.join(this.dir, 'pg');
  }

  // The postmaster's PID (for scripts/test.sh's leftover backstop), or null.
  postmasterPid() {
    try {
      return Number(fs.readFileSync(path.join(this.dataDir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]) || null;
    } catch {
      return null;
    }
  }

  recordPid() {
    const pid = this.postmasterPid();
    if (!pidDir || !pid) return;
    try {
      fs.mkdirSync(pidDir, { recursive: true });
      fs.writeFileSync(path.join(pidDir, String(pid)), this.dataDir);
    } catch {
      // best effort
    }
  }

  forgetPid() {
    const pid = this.postmasterPid();
    if (pidDir && pid) fs.rmSync(path.join(pidDir, String(pid)), { force: true });
  }

  asPostgres(args, timeoutMs = 60000) {
    const argv = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', ...args]] : [args[0], args.slice(1)];
    return spawnSync(argv[0], argv[1], { encoding: 'utf8', timeout: timeoutMs, cwd: this.dataDir });
  }

  running() {
    const r = this.asPostgres([path.join(PG_BIN, 'pg_ctl'), '-D', path.join(this.dataDir, 'data'), 'status']);
    return r.status === 0;
  }

  stop() {
    this.forgetPid();
    const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'postgres.sh'), 'stop', this.dataDir], {
      encoding: 'utf8',
      timeout: 60000,
    });
    if (r.status !== 0) throw new Error(`scripts/postgres.sh stop failed: ${r.stderr}`);
  }

  startSamePort() {
    const d = this.dataDir;
    const r = this.asPostgres([
      path.join(PG_BIN, 'pg_ctl'),
      '-D',
      path.join(d, 'data'),
      '-l',
      path.join(d, 'postgres.log'),
      '-w',
      '-t',
      '30',
      '-o',
      `-c listen_addresses=127.0.0.1 -p ${this.port} -k ${d}`,
      'start',
    ]);
    if (r.status !== 0) throw new Error(`pg_ctl start on port ${this.port} failed: ${r.stderr}${r.stdout}`);
    this.recordPid();
  }

  destroy() {
    startedPostgres.delete(this);
    try {
      if (this.running()) this.stop();
    } finally {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

// /wal/status and /wal/stats of a chroma-ha.
export async function walStatus(ha) {
  const r = await http(`${ha.url}/wal/status`);
  if (r.status !== 200 || !r.json) throw new Error(`/wal/status answered ${r.status}: ${r.text}`);
  return r.json;
}

export async function walStats(ha) {
  const r = await http(`${ha.url}/wal/stats`);
  if (r.status !== 200 || !r.json) throw new Error(`/wal/stats answered ${r.status}: ${r.text}`);
  return r.json;
}

// Polls /wal/status until every instance has zero pending entries and nothing is blocked; returns
// the last status. Throws (with the last status) after the deadline.
export async function waitWalDrained(ha, { timeoutMs = 30000, intervalMs = 20 } = {}) {
  let last;
  try {
    return await waitFor(
      async () => {
        last = await walStatus(ha);
        const insts = last.instances ?? [];
        return insts.length > 0 && insts.every((i) => i.pending_entries === 0) && (last.blocked ?? []).length === 0 && last;
      },
      { timeoutMs, intervalMs, what: 'WAL backlog 0 on every instance' },
    );
  } catch (e) {
    throw new Error(`${e.message}\nlast /wal/status: ${JSON.stringify(last)}`);
  }
}
