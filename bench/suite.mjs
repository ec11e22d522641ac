// The benchmark suite behind `bash bench/run.sh` (run that: it installs the tools, builds, starts
// PostgreSQL and writes docs/benchmarks.md). This script measures and writes a JSON file:
//
//   node bench/suite.mjs --out FILE [--quick] [--parts proxy,proxy2,reads,writes,lag,throughput,drain,micro,tls]
//                        [--ha-env K=V,K=V] [--drain-collections 1,8]
//                        [--wal-bench build-bench/wal_append_bench]
//
//  1. proxy   proxy overhead against a fixed fast upstream (a fake nginx): direct, nginx, HAProxy,
//             chroma-ha (WAL off); wrk GET and POST (2 KB) at 64 and 1 connections.
//  2. reads   real Chroma: get by ids and query (dim 384), direct vs through chroma-ha.
//  3. writes  real Chroma: add of 10 and 100 records at 8 connections, direct vs chroma-ha with
//             the SQLite WAL and with the PostgreSQL WAL ($CHROMA_HA_TEST_DATABASE_URL).
//  4. lag     replication lag at a steady write rate; drain time of a backlog.
//  5. micro   bench/wal_append_bench.cc (Google Benchmark), if built.
//  7. tls     TLS to the instances: GET through chroma-ha to a fixed fast upstream over http vs
//             over a local TLS front (nginx, certificates from a test CA), 64 and 1 connections.
//  8. throughput  add of 10 and 100 at 8 connections, one collection and eight: chroma-ha with the
//             PostgreSQL WAL vs a client that sends every add to both instances itself.
//  9. drain   replication lag at 100 writes/s, and the drain rate of a 10,000-entry backlog of
//             single-record adds (replica stopped, then started), one collection and eight.
//  6. resources (RSS, CPU per 10k requests) are sampled during 1-3.
//
// Contenders run interleaved (A, B, C, A, B, C, ...; the order rotates each round); every run
// records /proc/loadavg before and after. Everything listens on 127.0.0.1 (free ports) and is
// stopped by PID at the end; every load is bounded in time (and the Node loads in count).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

import {
  ROOT,
  TD,
  createTestDatabase,
  dropTestDatabase,
  freePort,
  http,
  makeTempDir,
  pidListensOn,
  sleep,
  startChroma,
  startChromaHa,
  startStack,
  waitFor,
  waitWalDrained,
  walStats,
  walStatus,
} from '../tests/e2e/harness.mjs';
import { makePki } from '../tests/e2e/tls_front.mjs';
import { EMBEDDINGS, ingestCeiling, postJson, randomVector, recordsBody, rng, runLoad } from './add_load.mjs';
import { cpuSeconds, envList, procTree } from './proc.mjs';
import { FAKE_BODY, LISTING, UUID, fakeUpstreamConf, haproxyConf, nginxCommon, nginxHttpCommon } from './proxy_conf.mjs';

// ---------------------------------------------------------------------------------------------
// Options

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : def;
};
const QUICK = flag('quick');
const OUT = opt('out', path.join(os.tmpdir(), 'chroma-ha-bench.json'));
const PARTS = new Set(opt('parts', 'proxy,proxy2,reads,writes,lag,throughput,drain,micro,tls').split(','));
const WAL_BENCH = opt('wal-bench', path.join(ROOT, 'build-bench', 'wal_append_bench'));
const CFG = QUICK
  ? { rounds: 1, secs: 3, writeSecs: 3, records: 2000, lagSecs: 5, backlog: 1000, backlogSecs: 15, drainSecs: 90, microMin: 0.3, microReps: 1 }
  : { rounds: 3, secs: 8, writeSecs: 8, records: 10000, lagSecs: 20, backlog: 10000, backlogSecs: 240, drainSecs: 240, microMin: 1, microReps: 3 };
// --drain-collections 1,8 (default): the backlogs part drain builds; '' = the lag run only.
const DRAIN_COLLECTIONS = opt('drain-collections', '1,8').split(',').filter(Boolean).map(Number);
const DIM = 384;
const MAX_NODE_REQUESTS = 200000; // Node-driven loads stop at this count even before their time
// --ha-env K=V,K=V: extra chroma-ha settings for every stack (to compare settings of one binary).
const HA_ENV = {
  LOG_LEVEL: 'warn',
  HEALTH_CHECK_INTERVAL_MS: undefined,
  FAILURE_THRESHOLD: undefined,
  HEALTHY_THRESHOLD: undefined,
  ...envList(opt('ha-env', '')),
};

const MERGE = flag('merge') && fs.existsSync(OUT) ? JSON.parse(fs.readFileSync(OUT, 'utf8')) : null;
const results = {
  started: new Date().toISOString(),
  quick: QUICK,
  config: CFG,
  machine: {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    memGb: +(os.totalmem() / 2 ** 30).toFixed(1),
    kernel: os.release(),
    loadavgStart: loadavg(),
  },
  build: { commit: opt('commit', ''), binaryDate: opt('binary-date', ''), binary: process.env.CHROMA_HA_BIN ?? 'build/chroma-ha', haEnv: opt('ha-env', '') },
  parts: {},
  notes: [],
};
if (MERGE) {
  // Re-running some parts: keep the others from the earlier run, and say so.
  for (const [k, v] of Object.entries(MERGE.parts ?? {})) if (!PARTS.has(k)) results.parts[k] = v;
  results.merged = { from: MERGE.started, loadavgStart: MERGE.machine?.loadavgStart, loadavgEnd: MERGE.machine?.loadavgEnd, parts: Object.keys(MERGE.parts ?? {}).filter((k) => !PARTS.has(k)) };
  // When each part was measured (carried over through successive partial re-runs).
  results.partStarted = {};
  for (const k of results.merged.parts) results.partStarted[k] = MERGE.partStarted?.[k] ?? MERGE.started;
  for (const k of PARTS) results.partStarted[k] = results.started;
  const at = (iso) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;
  results.notes.push(`parts measured at different times: ${Object.entries(results.partStarted).map(([k, t]) => `${k} ${at(t)}`).join(', ')}`);
  for (const n of MERGE.notes ?? []) if (!n.startsWith('parts ') && !results.notes.includes(n)) results.notes.push(n);
}
const cleanups = []; // run in reverse at the end
const log = (...a) => console.log(`[${new Date().toISOString().slice(11, 19)}]`, ...a);

function save() {
  fs.writeFileSync(OUT, `${JSON.stringify(results, null, 1)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Measurement helpers

function loadavg() {
  return fs.readFileSync('/proc/loadavg', 'utf8').trim().split(/\s+/).slice(0, 3).map(Number);
}

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}


function rssKb(pids) {
  let kb = 0;
  for (const p of pids) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // exited
    }
  }
  return kb;
}

// Samples RSS (every 200 ms) and CPU time of a process tree during a run.
function startSampler(pid) {
  if (!pid) return { stop: () => null };
  const pids = procTree(pid);
  const cpu0 = cpuSeconds(pids);
  const rssStart = rssKb(pids);
  let max = rssStart;
  const timer = setInterval(() => {
    max = Math.max(max, rssKb(pids));
  }, 200);
  return {
    stop() {
      clearInterval(timer);
      const end = rssKb(pids);
      return { cpuSeconds: +(cpuSeconds(pids) - cpu0).toFixed(3), rssStartKb: rssStart, rssMaxKb: Math.max(max, end), rssEndKb: end };
    },
  };
}

function runProcess(cmd, args, { timeoutMs, env = process.env }) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

function toMs(v, unit) {
  const x = Number(v);
  return unit === 'us' ? x / 1000 : unit === 'ms' ? x : unit === 's' ? x * 1000 : unit === 'm' ? x * 60000 : x;
}

// wrk with --latency; bounded by its duration (and `timeout` as a backstop).
async function wrk(url, { conns, secs, lua }) {
  const threads = Math.min(2, conns);
  const args = ['-k', '5', String(secs + 30), 'wrk', `-t${threads}`, `-c${conns}`, `-d${secs}s`, '--timeout', '5s', '--latency'];
  if (lua) args.push('-s', lua);
  args.push(url);
  const r = await runProcess('timeout', args, { timeoutMs: (secs + 40) * 1000 });
  const o = r.out;
  const lat = (p) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(o);
    return m ? +toMs(m[1], m[2]).toFixed(3) : NaN;
  };
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(o)?.[1] ?? NaN);
  const requests = Number(/(\d+) requests in/.exec(o)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(o)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(o);
  const socketErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  if (!Number.isFinite(rps)) log(`wrk failed on ${url}: ${r.err || o}`);
  return { rps, p50: lat(50), p90: lat(90), p99: lat(99), requests, non2xx, socketErrors };
}

function luaPost(file, body) {
  if (body.includes(']==]')) throw new Error('body contains the Lua delimiter');
  fs.writeFileSync(
    file,
    `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [==[${body}]==]\n`,
  );
  return file;
}

// One measured run: loadavg before/after, resources of `pid`'s tree.
async function measured(fn, pid) {
  const load0 = loadavg();
  const sampler = startSampler(pid);
  const t0 = performance.now();
  const r = await fn();
  r.wallSeconds = +((performance.now() - t0) / 1000).toFixed(2);
  const res = sampler.stop();
  if (res) {
    r.res = res;
    if (r.requests > 0) r.res.cpuSecondsPer10k = +((res.cpuSeconds / r.requests) * 10000).toFixed(3);
  }
  r.loadBefore = load0;
  r.loadAfter = loadavg();
  return r;
}

// Interleaved rounds: for each round, for each test, every contender (order rotated per round).
// Stores runs[test][contender] = [run per round] and, per round, ratio to `ref`.
async function interleave({ tests, contenders, ref, run, label }) {
  const runs = {};
  for (const t of tests) runs[t.name] = Object.fromEntries(contenders.map((c) => [c.name, []]));
  for (let round = 0; round < CFG.rounds; round++) {
    for (const t of tests) {
      const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]);
      for (const c of order) {
        const r = await run(t, c, round);
        r.round = round;
        runs[t.name][c.name].push(r);
        log(
          `${label} round ${round} ${t.name} ${c.name}: ${r.rps.toFixed(1)} req/s p50 ${r.p50} ms p99 ${r.p99} ms` +
            `${r.non2xx || r.socketErrors || r.errors ? ` errors ${r.non2xx ?? 0}/${r.socketErrors ?? 0}/${r.errors ?? 0}` : ''}` +
            ` load ${r.loadBefore.join(' ')}`,
        );
      }
      for (const c of contenders) {
        const mine = runs[t.name][c.name][round];
        const base = runs[t.name][ref][round];
        mine.ratio = +(mine.rps / base.rps).toFixed(3);
        mine.p99Ratio = +(mine.p99 / base.p99).toFixed(3);
      }
    }
    save();
  }
  return summarize(runs, contenders);
}

function summarize(runs, contenders) {
  const summary = {};
  for (const [test, byC] of Object.entries(runs)) {
    summary[test] = {};
    for (const c of contenders) {
      const rs = byC[c.name];
      const s = {
        rps: +median(rs.map((r) => r.rps)).toFixed(1),
        p50: +median(rs.map((r) => r.p50)).toFixed(3),
        p99: +median(rs.map((r) => r.p99)).toFixed(3),
        ratio: +median(rs.map((r) => r.ratio)).toFixed(3),
        p99Ratio: +median(rs.map((r) => r.p99Ratio)).toFixed(3),
        errors: rs.reduce((a, r) => a + (r.non2xx ?? 0) + (r.socketErrors ?? 0) + (r.errors ?? 0), 0),
        rounds: rs.length,
      };
      const withRes = rs.filter((r) => r.res);
      if (withRes.length) {
        s.rssMaxKb = Math.max(...withRes.map((r) => r.res.rssMaxKb));
        s.cpuSecondsPer10k = +median(withRes.map((r) => r.res.cpuSecondsPer10k)).toFixed(3);
      }
      summary[test][c.name] = s;
    }
  }
  return { runs, summary };
}

// ---------------------------------------------------------------------------------------------
// Process management for nginx / HAProxy (started by PID, stopped by PID)

async function startDaemon(name, cmd, args, port, dir) {
  const out = fs.openSync(path.join(dir, `${name}.log`), 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    try {
      process.kill(child.pid, 'SIGTERM');
    } catch {
      return;
    }
    const t = setTimeout(() => {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, 5000);
    await exited;
    clearTimeout(t);
  };
  cleanups.push(stop);
  process.on('exit', () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    for (const pid of procTree(child.pid)) {
      try {
        process.kill(pid, 'SIGKILL'); // the master and its workers (they outlive a killed master)
      } catch {
        // gone
      }
    }
  });
  const ports = Array.isArray(port) ? port : [port];
  await waitFor(
    () => {
      if (child.exitCode !== null) throw Object.assign(new Error(`${name} exited: ${fs.readFileSync(path.join(dir, `${name}.log`), 'utf8')}`), { fatal: true });
      const tree = procTree(child.pid);
      return ports.every((p) => tree.some((pid) => pidListensOn(pid, p)));
    },
    { timeoutMs: 10000, what: `${name} listening` },
  );
  return { pid: child.pid, stop };
}

// ---------------------------------------------------------------------------------------------
// 1. Proxy overhead

// Part 1 in two set-ups: `shared`, one nginx worker answering on both the primary's and the
// replica's port (part "proxy"), and `split`, two nginx processes of one worker each, one per
// instance (part "proxy2"). With --alt-bin PATH a second chroma-ha binary ("chroma-ha alt") runs
// interleaved with the first (to compare a change against its parent); --proxy-only NAMES limits
// the contenders (e.g. haproxy,chroma-ha,chroma-ha alt).
async function partProxy(dir, setup = 'shared') {
  log(`part 1: proxy overhead (${setup} upstream)`);
  dir = fs.mkdtempSync(path.join(dir, `proxy-${setup}-`));
  const [pPrimary, pReplica, pNginx, pHaproxy] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  if (new Set([pPrimary, pReplica, pNginx, pHaproxy]).size < 4) throw new Error('port clash, run again');
  if (FAKE_BODY.includes("'") || LISTING.includes("'") || FAKE_BODY.includes('$')) throw new Error('bad fake body');
  const upstreams =
    setup === 'shared'
      ? [{ name: 'fake-nginx', ports: [pPrimary, pReplica] }]
      : [
          { name: 'fake-primary', ports: [pPrimary] },
          { name: 'fake-replica', ports: [pReplica] },
        ];
  const proxyConf = path.join(dir, 'nginx-proxy.conf');
  fs.writeFileSync(
    proxyConf,
    `${nginxCommon(dir, 'nginx-proxy', 'auto')}http {
${nginxHttpCommon(dir, 'nginx-proxy')}  upstream primary { server 127.0.0.1:${pPrimary}; keepalive 64; }
  upstream replica { server 127.0.0.1:${pReplica}; keepalive 64; }
  map "$request_method:$uri" $chroma_backend {
    default primary;
    "~^(GET|HEAD):" replica;
    "~^POST:.*/(get|query)$" replica;
  }
  server {
    listen 127.0.0.1:${pNginx};
    location / {
      proxy_pass http://$chroma_backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering on;
    }
  }
}
`,
  );
  const haConf = haproxyConf(dir, 'haproxy', pHaproxy, pPrimary, pReplica);
  const fakes = [];
  for (const u of upstreams) {
    const conf = fakeUpstreamConf(dir, u.name, u.ports);
    fakes.push(await startDaemon(u.name, 'nginx', ['-p', dir, '-c', conf, '-e', path.join(dir, `${u.name}-error.log`)], u.ports, dir));
  }
  const fake = fakes[fakes.length - 1]; // the one answering the replica's port (where reads go)
  const ngx = await startDaemon('nginx-proxy', 'nginx', ['-p', dir, '-c', proxyConf, '-e', path.join(dir, 'nginx-proxy-error.log')], pNginx, dir);
  const hap = await startDaemon('haproxy', 'haproxy', ['-db', '-f', haConf], pHaproxy, dir);
  const ha = await startChromaHa({
    dir,
    primaryUrl: `http://127.0.0.1:${pPrimary}`,
    replicaUrl: `http://127.0.0.1:${pReplica}`,
    env: { ...HA_ENV, WAL_ENABLED: 'false' },
  });
  cleanups.push(() => ha.stop());
  // Diagnostic variant: an idle pool as large as the client concurrency (the default keeps 32).
  await ha.waitAllHealthy({ timeoutMs: 15000 });
  const contenders = [
    { name: 'direct', base: `http://127.0.0.1:${pReplica}`, pid: fake.pid },
    { name: 'nginx', base: `http://127.0.0.1:${pNginx}`, pid: ngx.pid },
    { name: 'haproxy', base: `http://127.0.0.1:${pHaproxy}`, pid: hap.pid },
    { name: 'chroma-ha', base: ha.url, pid: ha.pid },
  ];
  const altBin = opt('alt-bin', '');
  if (altBin) {
    const alt = await startChromaHa({
      dir: fs.mkdtempSync(path.join(dir, 'ha-alt-')),
      primaryUrl: `http://127.0.0.1:${pPrimary}`,
      replicaUrl: `http://127.0.0.1:${pReplica}`,
      env: { ...HA_ENV, WAL_ENABLED: 'false' },
      bin: altBin,
    });
    cleanups.push(() => alt.stop());
    await alt.waitAllHealthy({ timeoutMs: 15000 });
    contenders.push({ name: 'chroma-ha alt', base: alt.url, pid: alt.pid });
  }
  const only = opt('proxy-only', '');
  if (only) {
    const keep = new Set(['direct', ...only.split(',')]);
    contenders.splice(0, contenders.length, ...contenders.filter((c) => keep.has(c.name)));
  }
  const postPath = `/api/v2/tenants/t/databases/d/collections/${UUID}/get`;
  const body2k = JSON.stringify({
    ids: Array.from({ length: 60 }, (_, i) => `record-id-${String(i).padStart(6, '0')}`),
    where: { category: { $in: ['alpha', 'beta', 'gamma'] } },
    include: ['documents', 'metadatas'],
    limit: 100,
    pad: '',
  });
  const body = body2k.replace('"pad":""', `"pad":"${'p'.repeat(Math.max(0, 2048 - body2k.length))}"`);
  const lua = luaPost(path.join(dir, 'post2k.lua'), body);

  // Sanity: every contender answers both requests with 200 and the fake's body.
  for (const c of contenders) {
    const g = await http(`${c.base}/api/v2/heartbeat`);
    const p = await http(`${c.base}${postPath}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    if (g.status !== 200 || p.status !== 200) throw new Error(`${c.name}: GET ${g.status} ${g.text} / POST ${p.status} ${p.text}`);
  }
  const idleRssKb = rssKb([ha.pid]);
  const tests = [
    { name: 'GET c64', conns: 64, path: '/api/v2/heartbeat' },
    { name: 'POST 2KB c64', conns: 64, path: postPath, lua },
    { name: 'GET c1', conns: 1, path: '/api/v2/heartbeat' },
    { name: 'POST 2KB c1', conns: 1, path: postPath, lua },
  ];
  const out = await interleave({
    tests,
    contenders,
    ref: 'direct',
    label: 'proxy',
    run: (t, c) => measured(() => wrk(`${c.base}${t.path}`, { conns: t.conns, secs: CFG.secs, lua: t.lua }), c.pid),
  });
  // chroma-ha against HAProxy, per round.
  out.haVsHaproxy = {};
  for (const t of tests) {
    const a = out.runs[t.name]['chroma-ha'];
    const b = out.runs[t.name].haproxy;
    out.haVsHaproxy[t.name] = {
      rpsRatio: +median(a.map((r, i) => r.rps / b[i].rps)).toFixed(3),
      p99Ratio: +median(a.map((r, i) => r.p99 / b[i].p99)).toFixed(3),
    };
  }
  if (altBin) {
    out.altVsMain = {};
    for (const t of tests) {
      const a = out.runs[t.name]['chroma-ha alt'];
      const b = out.runs[t.name]['chroma-ha'];
      out.altVsMain[t.name] = { bin: altBin, rpsRatio: +median(a.map((r, i) => r.rps / b[i].rps)).toFixed(3), p99Ratio: +median(a.map((r, i) => r.p99 / b[i].p99)).toFixed(3) };
    }
  }
  out.setup = setup;
  out.bodyBytes = { response: FAKE_BODY.length, post: body.length };
  out.chromaHaIdleRssKb = idleRssKb;
  out.versions = {
    nginx: spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim(),
    haproxy: spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0],
    wrk: spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0].replace(/ \[.*/, ''),
  };
  // Profile chroma-ha if it is behind HAProxy on GET c64.
  if (!flag('no-profile') && out.haVsHaproxy['GET c64'].rpsRatio < 1 || out.haVsHaproxy['POST 2KB c64'].rpsRatio < 1) {
    out.profile = await profile(ha.pid, () => wrk(`${ha.url}${postPath}`, { conns: 64, secs: Math.max(4, CFG.secs), lua }), dir);
  }
  out.metrics = await grabMetrics(ha); // last: see grabMetrics
  results.parts[setup === 'shared' ? 'proxy' : 'proxy2'] = out;
  save();
  await ha.stop();
  await hap.stop();
  await ngx.stop();
  await fake.stop();
}

// GET /metrics, called only after a stack's measurements: some builds crashed on it.
async function grabMetrics(ha) {
  try {
    const r = await http(`${ha.url}/metrics`);
    return (r.text ?? '')
      .split('\n')
      .filter((l) => /^chroma_ha_(process_resident_memory_bytes|process_cpu_seconds_total|wal_group_commit)/.test(l));
  } catch (e) {
    await sleep(200);
    const note = `GET /metrics failed (${e.cause?.code ?? e.message}); chroma-ha ${ha.alive() ? 'still runs' : `exited (code ${ha.child?.exitCode}, signal ${ha.child?.signalCode})`}`;
    if (!results.notes.includes(note)) results.notes.push(note);
    return { error: note };
  }
}

async function profile(pid, load, dir) {
  const data = path.join(dir, 'perf.data');
  const loadP = load();
  await sleep(1000);
  const rec = await runProcess('perf', ['record', '-F', '499', '-g', '-p', String(pid), '-o', data, '--', 'sleep', '3'], { timeoutMs: 30000 });
  await loadP;
  if (rec.code !== 0) return { error: `perf record failed: ${rec.err.slice(0, 500)}` };
  const rep = await runProcess('perf', ['report', '-i', data, '--stdio', '--no-children', '--sort', 'dso,symbol', '-g', 'none', '--percent-limit', '0.7'], {
    timeoutMs: 120000,
  });
  const lines = rep.out
    .split('\n')
    .filter((l) => /^\s+\d+\.\d+%/.test(l))
    .slice(0, 30)
    .map((l) => l.trim().replace(/\s+/g, ' ').slice(0, 160));
  const dso = await runProcess('perf', ['report', '-i', data, '--stdio', '--no-children', '--sort', 'dso', '-g', 'none'], { timeoutMs: 120000 });
  const byDso = dso.out
    .split('\n')
    .filter((l) => /^\s+\d+\.\d+%/.test(l))
    .slice(0, 8)
    .map((l) => l.trim().replace(/\s+/g, ' '));
  return { top: lines, byDso };
}

// ---------------------------------------------------------------------------------------------
// 2. Real Chroma reads

const vec = (r) => randomVector(r, DIM);

async function createCollectionOn(base, name) {
  const res = await http(`${base}${TD}/collections`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  if (res.status !== 200) throw new Error(`create ${name} on ${base}: ${res.status} ${res.text}`);
  return res.json.id;
}

async function seed(bases, name, n) {
  const ids = await Promise.all(bases.map((b) => createCollectionOn(b, name)));
  const r = rng(42);
  const batch = 500;
  for (let start = 0; start < n; start += batch) {
    const count = Math.min(batch, n - start);
    const rec = { ids: [], embeddings: [], documents: [], metadatas: [] };
    for (let i = start; i < start + count; i++) {
      rec.ids.push(`id-${i}`);
      rec.embeddings.push(vec(r));
      rec.documents.push(`document number ${i}`);
      rec.metadatas.push({ i, bucket: i % 10 });
    }
    const body = JSON.stringify(rec);
    await Promise.all(
      bases.map(async (b, k) => {
        const res = await http(`${b}${TD}/collections/${ids[k]}/add`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          timeoutMs: 120000,
        });
        if (res.status !== 201 && res.status !== 200) throw new Error(`seed add on ${b}: ${res.status} ${res.text}`);
      }),
    );
  }
  return ids;
}

async function partReads() {
  log(`part 2: real Chroma reads (${CFG.records} records, dim ${DIM})`);
  const stack = await startStack({ name: 'bench-reads', env: HA_ENV });
  cleanups.push(() => stack.stop());
  const dir = stack.dir;
  const t0 = performance.now();
  const name = 'bench-reads';
  const [, replicaId] = await seed([stack.primary.url, stack.replica.url], name, CFG.records);
  const seedSeconds = (performance.now() - t0) / 1000;
  const listing = await http(`${stack.ha.url}${TD}/collections`);
  const haId = listing.json?.find((c) => c.name === name)?.id;
  if (!haId) throw new Error(`chroma-ha does not list ${name}: ${listing.status} ${listing.text}`);
  const r = rng(7);
  const getBody = JSON.stringify({ ids: Array.from({ length: 10 }, () => `id-${Math.floor(r() * CFG.records)}`), include: ['documents', 'metadatas'] });
  const queryBody = JSON.stringify({ query_embeddings: [vec(r)], n_results: 10, include: ['documents', 'metadatas', 'distances'] });
  const luaGet = luaPost(path.join(dir, 'get.lua'), getBody);
  const luaQuery = luaPost(path.join(dir, 'query.lua'), queryBody);
  const contenders = [
    { name: 'direct', url: (op) => `${stack.replica.url}${TD}/collections/${replicaId}/${op}`, pid: null },
    { name: 'chroma-ha', url: (op) => `${stack.ha.url}${TD}/collections/${haId}/${op}`, pid: stack.ha.pid },
  ];
  for (const c of contenders) {
    for (const [op, b] of [['get', getBody], ['query', queryBody]]) {
      const res = await http(c.url(op), { method: 'POST', headers: { 'content-type': 'application/json' }, body: b });
      if (res.status !== 200) throw new Error(`${c.name} ${op}: ${res.status} ${res.text}`);
    }
  }
  const before = await requestCountsSafe(stack.ha);
  const tests = [
    { name: 'get c32', op: 'get', conns: 32, lua: luaGet },
    { name: 'query c32', op: 'query', conns: 32, lua: luaQuery },
    { name: 'get c1', op: 'get', conns: 1, lua: luaGet },
    { name: 'query c1', op: 'query', conns: 1, lua: luaQuery },
  ];
  const out = await interleave({
    tests,
    contenders,
    ref: 'direct',
    label: 'reads',
    run: (t, c) => measured(() => wrk(c.url(t.op), { conns: t.conns, secs: CFG.secs, lua: t.lua }), c.pid),
  });
  out.seedSeconds = +seedSeconds.toFixed(1);
  out.records = CFG.records;
  out.requestCounts = { before, after: await requestCountsSafe(stack.ha) };
  results.parts.reads = out;
  save();
  await stack.stop();
}

async function requestCountsSafe(ha) {
  try {
    const s = await ha.status();
    return Object.fromEntries((s.instances ?? []).map((i) => [i.role ?? i.name, i.requests]));
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Writes (the approach of bench/writes.mjs: Node fetch workers, unique ids, fresh collection;
// the records of bench/add_load.mjs recordsBody)

// `url` is one URL or a function of the worker's number (e.g. one collection per worker); with
// `dual`, every add goes to both URLs `url(w)` returns (an array), awaited together.
async function nodeLoad(url, { conns, secs, batch, prefix, maxRequests = MAX_NODE_REQUESTS }) {
  const urlOf = typeof url === 'function' ? url : () => url;
  const r = await runLoad({
    conns,
    secs,
    maxRequests,
    send: async (w, n) => {
      const body = recordsBody(`${prefix}w${w}`, n, batch);
      const u = urlOf(w);
      if (Array.isArray(u)) return (await Promise.all(u.map((x) => postJson(x, body)))).every(Boolean);
      return postJson(u, body);
    },
  });
  return { ...r, recordsPerSecond: r.rps * batch, elapsed: undefined };
}

async function partWrites() {
  const pgAdmin = process.env.CHROMA_HA_TEST_DATABASE_URL;
  log(`part 3: writes (PostgreSQL: ${pgAdmin ? 'yes' : 'no, CHROMA_HA_TEST_DATABASE_URL unset'})`);
  const dir = makeTempDir('bench-writes');
  const direct = await startChroma({ dir, name: 'direct' });
  cleanups.push(() => direct.destroy());
  const contenders = [{ name: 'direct', base: direct.url, pid: null }];
  const stacks = {};
  for (const store of pgAdmin ? ['sqlite', 'postgres'] : ['sqlite']) {
    const stack = await startStack({ name: `bench-${store}`, store, env: HA_ENV });
    cleanups.push(() => stack.stop());
    stacks[store] = stack;
    contenders.push({ name: `chroma-ha ${store}`, base: stack.ha.url, pid: stack.ha.pid, stack });
  }
  if (!pgAdmin) results.notes.push('CHROMA_HA_TEST_DATABASE_URL unset: no PostgreSQL WAL contender');
  // One collection for all 8 connections (chroma-ha forwards its writes one at a time, in WAL
  // order), and one collection per connection (forwarded in parallel).
  const tests = [
    { name: 'add 10 c8', batch: 10, conns: 8, collections: 1 },
    { name: 'add 100 c8', batch: 100, conns: 8, collections: 1 },
    { name: 'add 10 c8, 8 collections', batch: 10, conns: 8, collections: 8 },
  ];
  let k = 0;
  const out = await interleave({
    tests,
    contenders,
    ref: 'direct',
    label: 'writes',
    run: async (t, c, round) => {
      const ids = [];
      for (let i = 0; i < t.collections; i++) ids.push(await createCollectionOn(c.base, `bench-w-${round}-${t.batch}-${k++}`));
      const gc0 = c.stack ? await walStats(c.stack.ha) : null;
      const r = await measured(
        () => nodeLoad((w) => `${c.base}${TD}/collections/${ids[w % ids.length]}/add`, { conns: t.conns, secs: CFG.writeSecs, batch: t.batch, prefix: `r${round}` }),
        c.pid,
      );
      if (c.stack) {
        const gc1 = await walStats(c.stack.ha);
        r.groupCommit = {
          commits: gc1.group_commits - gc0.group_commits,
          entries: gc1.group_commit_entries - gc0.group_commit_entries,
          maxBatch: gc1.group_commit_max_batch,
        };
        r.groupCommit.meanBatch = +(r.groupCommit.entries / Math.max(1, r.groupCommit.commits)).toFixed(2);
        // Let the replica catch up before the next contender runs (replay is not measured here).
        const t0 = performance.now();
        try {
          await waitWalDrained(c.stack.ha, { timeoutMs: 120000, intervalMs: 200 });
        } catch (e) {
          r.drainError = e.message.slice(0, 300);
        }
        r.drainSeconds = +((performance.now() - t0) / 1000).toFixed(2);
      }
      return r;
    },
  });
  out.groupCommit = {};
  out.metrics = {};
  for (const [store, stack] of Object.entries(stacks)) {
    const s = await walStats(stack.ha);
    out.groupCommit[store] = {
      group_commits: s.group_commits,
      group_commit_entries: s.group_commit_entries,
      group_commit_max_batch: s.group_commit_max_batch,
      mean: +(s.group_commit_entries / Math.max(1, s.group_commits)).toFixed(2),
    };
  }
  // Where chroma-ha's CPU goes on the write path (add 100 through the SQLite WAL, replay included).
  try {
    const st = stacks.sqlite;
    const id = await createCollectionOn(st.ha.url, `bench-w-profile-${Date.now()}`);
    out.profile = await profile(
      st.ha.pid,
      () => nodeLoad(`${st.ha.url}${TD}/collections/${id}/add`, { conns: 8, secs: 6, batch: 100, prefix: 'prof' }),
      dir,
    );
    await waitWalDrained(st.ha, { timeoutMs: 120000, intervalMs: 200 }).catch(() => {});
  } catch (e) {
    out.profile = { error: e.message.slice(0, 300) };
  }
  results.parts.writes = out;
  save();
  // The stacks stay up for part 4; /metrics is read after it.
  return { stacks, direct };
}

// ---------------------------------------------------------------------------------------------
// 4. Replication lag and backlog drain

async function replicaCollectionId(stack, name) {
  return waitFor(
    async () => {
      const r = await http(`${stack.replica.url}${TD}/collections`);
      return r.json?.find?.((c) => c.name === name)?.id;
    },
    { timeoutMs: 30000, what: `${name} on the replica` },
  );
}

// Writes at a fixed rate through chroma-ha; ONE poller reads all outstanding ids from the replica
// directly (one `get` at a time, every ~3 ms), so the measurement adds a constant, small read
// load however far the replica falls behind (one poller per write would flood it).
async function lagRun(stack, label, rate = 20) {
  const name = `bench-lag-${label}-${Date.now()}`;
  const haId = await createCollectionOn(stack.ha.url, name);
  const repId = await replicaCollectionId(stack, name);
  await waitWalDrained(stack.ha, { timeoutMs: 60000, intervalMs: 100 });
  const total = rate * CFG.lagSecs;
  const acked = new Map(); // id -> time of the 2xx
  const lags = [];
  let errors = 0;
  let writing = true;
  const load0 = loadavg();
  const poller = (async () => {
    const deadlineAfterWrites = 30000;
    let stopAt = Infinity;
    while (performance.now() < stopAt) {
      if (!writing && stopAt === Infinity) stopAt = performance.now() + deadlineAfterWrites;
      if (!writing && acked.size === 0) break;
      if (acked.size === 0) {
        await sleep(3);
        continue;
      }
      const ids = [...acked.keys()].slice(0, 500);
      const g = await http(`${stack.replica.url}${TD}/collections/${repId}/get`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ids, include: [] }),
      }).catch(() => null);
      const now = performance.now();
      for (const id of g?.json?.ids ?? []) {
        if (acked.has(id)) {
          lags.push(now - acked.get(id));
          acked.delete(id);
        }
      }
      await sleep(3);
    }
  })();
  const inflight = [];
  const start = performance.now();
  for (let n = 0; n < total; n++) {
    const due = start + (n * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    inflight.push(
      (async () => {
        const id = `lag-${n}`;
        const body = `{"ids":["${id}"],"embeddings":[${EMBEDDINGS[n % EMBEDDINGS.length]}],"documents":["${id}"]}`;
        const res = await http(`${stack.ha.url}${TD}/collections/${haId}/add`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, timeoutMs: 30000 }).catch(() => null);
        if (!res || (res.status !== 200 && res.status !== 201)) errors++;
        else acked.set(id, performance.now());
      })(),
    );
  }
  const writeSeconds = (performance.now() - start) / 1000;
  await Promise.all(inflight);
  writing = false;
  await poller;
  lags.sort((a, b) => a - b);
  return {
    rate,
    seconds: CFG.lagSecs,
    writes: total,
    writeSeconds: +writeSeconds.toFixed(1),
    measured: lags.length,
    missed: acked.size,
    errors,
    p50: +percentile(lags, 50).toFixed(1),
    p90: +percentile(lags, 90).toFixed(1),
    p99: +percentile(lags, 99).toFixed(1),
    max: +(lags[lags.length - 1] ?? NaN).toFixed(1),
    lags: lags.map((x) => +x.toFixed(1)),
    loadBefore: load0,
    loadAfter: loadavg(),
  };
}

// Until `pids` use under 5 % of a core over half a second (at most `timeoutMs`; then goes on).
async function waitIdle(pids, timeoutMs = 30000) {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const c0 = cpuSeconds(pids);
    await sleep(500);
    if (cpuSeconds(pids) - c0 < 0.025) return true;
  }
  return false;
}

// Writes to one collection are forwarded one at a time (WAL order), so the backlog is written
// to `collections` collections by `conns` connections (bounded in count and time).
async function backlogRun(stack, { collections: BACKLOG_COLLECTIONS = 16, conns: BACKLOG_CONNS = 32 } = {}) {
  const stamp = Date.now();
  const urls = [];
  for (let c = 0; c < BACKLOG_COLLECTIONS; c++) {
    const name = `bench-backlog-${stamp}-${c}`;
    const haId = await createCollectionOn(stack.ha.url, name);
    await replicaCollectionId(stack, name);
    urls.push(`${stack.ha.url}${TD}/collections/${haId}/add`);
  }
  await waitWalDrained(stack.ha, { timeoutMs: 60000, intervalMs: 100 });
  const load0 = loadavg();
  await stack.replica.stop();
  await waitFor(async () => (await stack.ha.instance('replica')).healthy === false, { timeoutMs: 30000, what: 'replica marked down' });
  log(`backlog: replica stopped; writing up to ${CFG.backlog} small adds through chroma-ha to ${BACKLOG_COLLECTIONS} collections (${BACKLOG_CONNS} connections, at most ${CFG.backlogSecs} s)`);
  const sampler = startSampler(stack.ha.pid);
  const w = await nodeLoad((k) => urls[k % urls.length], { conns: BACKLOG_CONNS, secs: CFG.backlogSecs, batch: 1, prefix: 'bl', maxRequests: CFG.backlog });
  const st = await walStatus(stack.ha);
  const pendingAtStart = Math.max(...(st.instances ?? []).map((i) => i.pending_entries ?? 0));
  log(`backlog: ${w.requests} writes in ${(w.requests / w.rps).toFixed(1)} s, pending ${pendingAtStart}; starting the replica`);
  const t0 = performance.now();
  await stack.replica.start();
  const replicaReady = (performance.now() - t0) / 1000;  // its heartbeat answers
  // Where the drain's time goes: CPU of chroma-ha and of the replica's tree during the drain, and,
  // with --perf-drain FILE, a perf profile of chroma-ha (perf.data in FILE.<collections>).
  const drainPids = { ha: [stack.ha.pid], replica: procTree(stack.replica.pid), primary: procTree(stack.primary.pid) };
  const drainCpu0 = Object.fromEntries(Object.entries(drainPids).map(([k, v]) => [k, cpuSeconds(v)]));
  const perfFile = opt('perf-drain', '') && `${opt('perf-drain', '')}.${BACKLOG_COLLECTIONS}`;
  const perf = perfFile ? spawn('perf', ['record', '-F', '499', '-g', '-p', String(stack.ha.pid), '-o', perfFile], { stdio: 'ignore' }) : null;
  const series = [];
  let healthy = null; // chroma-ha has marked the replica up again: replay can start
  let firstProgress = null;
  let drained = null;
  const deadline = t0 + CFG.drainSecs * 1000;
  while (performance.now() < deadline) {
    if (healthy === null && (await stack.ha.instance('replica').catch(() => ({}))).healthy === true) {
      healthy = (performance.now() - t0) / 1000;
    }
    const s = await walStatus(stack.ha).catch(() => null);
    const pending = s ? Math.max(...(s.instances ?? []).map((i) => i.pending_entries ?? 0)) : NaN;
    const t = (performance.now() - t0) / 1000;
    series.push([+t.toFixed(2), pending]);
    if (firstProgress === null && pending < pendingAtStart) firstProgress = t;
    if (pending === 0) {
      drained = t;
      break;
    }
    await sleep(100);
  }
  const drainWall = (performance.now() - t0) / 1000;
  const drainCpu = Object.fromEntries(Object.entries(drainPids).map(([k, v]) => [k, +(cpuSeconds(v) - drainCpu0[k]).toFixed(2)]));
  if (perf) {
    perf.kill('SIGINT');
    await new Promise((r) => perf.once('exit', r));
  }
  const res = sampler.stop();
  // The replica's own ceiling for this backlog's shape (its records spread over as many fresh
  // collections, in requests of a drain page's size per collection): the drain's share of it
  // compares across machines, where entries/s alone follow the machine.
  let ceiling = null;
  let replicaIdleSeconds = null;  // how long the replica stayed busy after the drain (null: > 30 s)
  const entriesPerSecond = drained ? pendingAtStart / (drained - (healthy ?? 0) || drained) : null;
  if (drained) {
    const per = Number(HA_ENV.WAL_HIGH_VOLUME_BATCH_SIZE ?? 1000);
    const pids = procTree(stack.replica.pid);
    const idle0 = performance.now();
    const idle = await waitIdle(pids);  // what the drain left it to do (Chroma indexes after it answers)
    replicaIdleSeconds = idle ? +((performance.now() - idle0) / 1000).toFixed(1) : null;
    ceiling = await ingestCeiling(stack.replica.url, { records: pendingAtStart, per, streams: BACKLOG_COLLECTIONS, name: `bench-ceiling-${stamp}`, cpu: () => cpuSeconds(pids) })
      .catch((e) => ({ error: e.message.slice(0, 200) }));
    log(`backlog ${BACKLOG_COLLECTIONS} coll: drained at ${entriesPerSecond.toFixed(0)} entries/s; the replica alone ingests the same records at ${ceiling.recordsPerSecond ?? ceiling.error}/s`);
  }
  return {
    drainCpuSeconds: drainCpu,
    drainWallSeconds: +drainWall.toFixed(2),
    target: CFG.backlog,
    collections: BACKLOG_COLLECTIONS,
    connections: BACKLOG_CONNS,
    written: w.requests,
    writeErrors: w.errors,
    writeRps: +w.rps.toFixed(1),
    writeSeconds: +(w.requests / w.rps).toFixed(1),
    pendingAtStart,
    replicaReadySeconds: +replicaReady.toFixed(2),
    firstProgressSeconds: firstProgress === null ? null : +firstProgress.toFixed(2),
    drainSeconds: drained === null ? null : +drained.toFixed(2),
    drainLimitSeconds: CFG.drainSecs,
    replicaHealthySeconds: healthy === null ? null : +healthy.toFixed(2),
    // From the moment chroma-ha marked the replica up (the health check's delay excluded). Until
    // 2026-12-06 14:15 UTC this counted from the first replayed page, which left out the first
    // page's own time: larger pages looked faster than they were.
    entriesPerSecond: entriesPerSecond === null ? null : +entriesPerSecond.toFixed(1),
    replicaCeiling: ceiling,
    replicaIdleSeconds,
    ofCeiling: entriesPerSecond && ceiling?.recordsPerSecond ? +(entriesPerSecond / ceiling.recordsPerSecond).toFixed(3) : null,
    entriesPerSecondAfterFirstPage: drained && firstProgress !== null ? +(pendingAtStart / (drained - firstProgress)).toFixed(1) : null,
    series: series.filter((_, i) => i % 5 === 0 || i === series.length - 1),
    res,
    loadBefore: load0,
    loadAfter: loadavg(),
  };
}

async function partLag(stacks) {
  log('part 4: replication lag');
  const out = { steady: {} };
  for (const [store, stack] of Object.entries(stacks)) {
    out.steady[store] = await lagRun(stack, store);
    const s = out.steady[store];
    log(`lag ${store}: p50 ${s.p50} ms p99 ${s.p99} ms max ${s.max} ms (${s.measured}/${s.writes}, missed ${s.missed}, errors ${s.errors})`);
    save();
  }
  const store = stacks.sqlite ? 'sqlite' : Object.keys(stacks)[0];
  out.backlog = { store, ...(await backlogRun(stacks[store])) };
  log(`backlog: ${JSON.stringify({ ...out.backlog, series: undefined })}`);
  results.parts.lag = out;
  save();
}

// ---------------------------------------------------------------------------------------------
// 8. Write throughput against a dual-writing client (issue 14 item 3), PostgreSQL WAL

// The reference is a client that sends every add to the primary and to the replica itself and
// awaits both (what replication costs without a proxy, on the same two Chroma servers and the
// same machine); chroma-ha (PostgreSQL WAL, fsync on) acknowledges after the WAL append and the
// primary's answer and replays to the replica behind. Each run uses fresh collections; runs are
// interleaved, and chroma-ha's WAL is drained before the next run (not timed).
async function partThroughput() {
  const pgAdmin = process.env.CHROMA_HA_TEST_DATABASE_URL;
  if (!pgAdmin) {
    results.notes.push('CHROMA_HA_TEST_DATABASE_URL unset: no throughput part');
    return;
  }
  log('part 8: write throughput, chroma-ha (PostgreSQL WAL) vs a dual-writing client');
  const stack = await startStack({ name: 'bench-throughput', store: 'postgres', env: HA_ENV });
  cleanups.push(() => stack.stop());
  const contenders = [
    { name: 'dual client', pid: null },
    { name: 'chroma-ha postgres', pid: stack.ha.pid },
  ];
  const tests = [];
  for (const collections of [1, 8]) for (const batch of [10, 100]) tests.push({ name: `add ${batch} c8, ${collections} coll`, batch, conns: 8, collections });
  let k = 0;
  const out = await interleave({
    tests,
    contenders,
    ref: 'dual client',
    label: 'throughput',
    run: async (t, c, round) => {
      const urls = [];
      for (let i = 0; i < t.collections; i++) {
        const name = `bench-tp-${round}-${t.batch}-${k++}`;
        if (c.pid) {
          const id = await createCollectionOn(stack.ha.url, name);
          urls.push(`${stack.ha.url}${TD}/collections/${id}/add`);
        } else {
          const ids = [await createCollectionOn(stack.primary.url, name), await createCollectionOn(stack.replica.url, name)];
          urls.push([`${stack.primary.url}${TD}/collections/${ids[0]}/add`, `${stack.replica.url}${TD}/collections/${ids[1]}/add`]);
        }
      }
      await waitWalDrained(stack.ha, { timeoutMs: 120000, intervalMs: 200 }); // no replay competes
      const r = await measured(() => nodeLoad((w) => urls[w % urls.length], { conns: t.conns, secs: CFG.writeSecs, batch: t.batch, prefix: `tp${round}` }), c.pid);
      if (c.pid) {
        const t0 = performance.now();
        await waitWalDrained(stack.ha, { timeoutMs: 180000, intervalMs: 200 }).catch((e) => (r.drainError = e.message.slice(0, 200)));
        r.drainSeconds = +((performance.now() - t0) / 1000).toFixed(2);
      }
      return r;
    },
  });
  results.parts.throughput = out;
  save();
  await stack.stop();
}

// ---------------------------------------------------------------------------------------------
// 9. Replication lag at 100 writes/s and backlog drain (issue 14 item 4), PostgreSQL WAL

async function partDrain() {
  const store = process.env.CHROMA_HA_TEST_DATABASE_URL ? 'postgres' : 'sqlite';
  log(`part 9: lag at 100 writes/s and backlog drain (${store} WAL)`);
  const stack = await startStack({ name: `bench-drain-${store}`, store, env: HA_ENV });
  cleanups.push(() => stack.stop());
  const out = { store, lag100: await lagRun(stack, `${store}-100`, 100), backlog: {} };
  const s = out.lag100;
  log(`lag ${store} at 100/s: p50 ${s.p50} ms p99 ${s.p99} ms max ${s.max} ms (${s.measured}/${s.writes}, missed ${s.missed}, errors ${s.errors}) load ${s.loadBefore.join(' ')}`);
  results.parts.drain = out;
  save();
  for (const collections of DRAIN_COLLECTIONS) {
    const b = await backlogRun(stack, { collections, conns: 16 });
    out.backlog[collections] = b;
    log(`backlog ${collections} coll: ${JSON.stringify({ ...b, series: undefined, res: undefined })}`);
    save();
  }
  await stack.stop();
}

// ---------------------------------------------------------------------------------------------
// 5. WAL append micro-benchmark

async function partMicro() {
  if (!fs.existsSync(WAL_BENCH)) {
    results.notes.push(`${WAL_BENCH} not built: no WAL append micro-benchmark`);
    return;
  }
  log('part 5: WAL append micro-benchmark');
  const jsonOut = path.join(os.tmpdir(), `chroma-ha-wal-bench-${process.pid}.json`);
  const load0 = loadavg();
  const env = { ...process.env, BENCH_WAL_DIR: os.tmpdir() };
  let ownDb = null;
  if (!env.BENCH_WAL_DATABASE_URL && process.env.CHROMA_HA_TEST_DATABASE_URL) {
    ownDb = createTestDatabase(process.env.CHROMA_HA_TEST_DATABASE_URL, 'walbench');
    env.BENCH_WAL_DATABASE_URL = ownDb;
  }
  const r = await runProcess(
    WAL_BENCH,
    [
      '--benchmark_filter=WalAppend',  // WalRead (the drain's page read) is run by hand
      `--benchmark_min_time=${CFG.microMin}`,
      `--benchmark_repetitions=${CFG.microReps}`,
      '--benchmark_enable_random_interleaving=true',
      `--benchmark_out=${jsonOut}`,
      '--benchmark_out_format=json',
    ],
    { timeoutMs: 600000, env },
  );
  if (ownDb) dropTestDatabase(ownDb);
  if (!fs.existsSync(jsonOut)) {
    results.notes.push(`wal_append_bench failed (${r.code}): ${r.err.slice(0, 500)}`);
    return;
  }
  // Google Benchmark writes NaN / inf for some counters: not JSON.
  const j = JSON.parse(fs.readFileSync(jsonOut, 'utf8').replace(/:\s*-?(nan|NaN|inf|Infinity)\b/g, ': null'));
  fs.rmSync(jsonOut, { force: true });
  const rows = {};
  for (const b of j.benchmarks) {
    if (b.error_occurred) {
      rows[b.run_name] = { error: b.error_message };
      continue;
    }
    if (CFG.microReps > 1 && b.aggregate_name !== 'median') continue;
    rows[b.run_name] = {
      threads: b.threads,
      appendsPerSecond: +(b.appends_per_s ?? b.items_per_second).toFixed(0),
      p50us: +(b.p50_us ?? NaN).toFixed(1),
      p99us: +(b.p99_us ?? NaN).toFixed(1),
      batchMean: b.batch_mean,
      batchMax: b.batch_max,
    };
  }
  results.parts.micro = { rows, context: j.context, loadBefore: load0, loadAfter: loadavg(), stderr: r.err.slice(0, 300) };
  save();
}

// ---------------------------------------------------------------------------------------------
// 7. TLS to the instances

// One fake upstream (nginx, 1 worker) answering on a plain port and, with a certificate of a
// test CA, on a TLS port; chroma-ha (WAL off, primary only) in front of each. The difference is
// what TLS to an instance costs chroma-ha (keep-alive connections: handshakes are rare).
async function partTls(dir) {
  log('part 7: TLS to the instances');
  const pki = makePki(dir);
  const cert = pki.cert('localhost');
  const [pPlain, pTls] = await Promise.all([freePort(), freePort()]);
  const conf = path.join(dir, 'tls-fake.conf');
  fs.writeFileSync(
    conf,
    `${nginxCommon(dir, 'tls-fake', 1)}http {
${nginxHttpCommon(dir, 'tls-fake')}  default_type application/json;
  server {
    listen 127.0.0.1:${pPlain};
    listen 127.0.0.1:${pTls} ssl;
    ssl_certificate ${cert.certFile};
    ssl_certificate_key ${cert.keyFile};
    location / { return 200 '${FAKE_BODY}'; }
  }
}
`,
  );
  const fake = await startDaemon('tls-fake', 'nginx', ['-p', dir, '-c', conf, '-e', path.join(dir, 'tls-fake-error.log')], [pPlain, pTls], dir);
  const env = { ...HA_ENV, WAL_ENABLED: 'false', REPLICA_URL: undefined };
  const plain = await startChromaHa({ dir: fs.mkdtempSync(path.join(dir, 'ha-http-')), primaryUrl: `http://127.0.0.1:${pPlain}`, env });
  cleanups.push(() => plain.stop());
  const secure = await startChromaHa({
    dir: fs.mkdtempSync(path.join(dir, 'ha-https-')),
    primaryUrl: `https://localhost:${pTls}`,
    env: { ...env, SSL_CERT_FILE: pki.ca },
  });
  cleanups.push(() => secure.stop());
  await plain.waitAllHealthy({ timeoutMs: 15000 });
  await secure.waitAllHealthy({ timeoutMs: 15000 });
  const contenders = [
    { name: 'direct', base: `http://127.0.0.1:${pPlain}`, pid: fake.pid },
    { name: 'chroma-ha → http', base: plain.url, pid: plain.pid },
    { name: 'chroma-ha → https', base: secure.url, pid: secure.pid },
  ];
  for (const c of contenders) {
    const g = await http(`${c.base}/api/v2/heartbeat`);
    if (g.status !== 200) throw new Error(`${c.name}: GET ${g.status} ${g.text}`);
  }
  const tests = [
    { name: 'GET c64', conns: 64 },
    { name: 'GET c1', conns: 1 },
  ];
  const out = await interleave({
    tests,
    contenders,
    ref: 'chroma-ha → http',
    label: 'tls',
    run: (t, c) => measured(() => wrk(`${c.base}/api/v2/heartbeat`, { conns: t.conns, secs: CFG.secs }), c.pid),
  });
  out.bodyBytes = FAKE_BODY.length;
  results.parts.tls = out;
  save();
  await secure.stop();
  await plain.stop();
  await fake.stop();
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const dir = makeTempDir('bench');
  log(`results → ${OUT}; ${QUICK ? 'quick' : 'full'} run; load ${loadavg().join(' ')}`);
  try {
    if (PARTS.has('proxy')) await partProxy(dir, 'shared');
    if (PARTS.has('proxy2')) await partProxy(dir, 'split');
    if (PARTS.has('reads')) await partReads();
    if (PARTS.has('writes')) {
      const { stacks } = await partWrites();
      if (PARTS.has('lag')) await partLag(stacks);
      for (const [store, stack] of Object.entries(stacks)) results.parts.writes.metrics[store] = await grabMetrics(stack.ha);
    } else if (PARTS.has('lag')) {
      const stacks = {};
      for (const store of process.env.CHROMA_HA_TEST_DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite']) {
        stacks[store] = await startStack({ name: `bench-lag-${store}`, store, env: HA_ENV });
        cleanups.push(() => stacks[store].stop());
      }
      await partLag(stacks);
    }
    if (PARTS.has('throughput')) await partThroughput();
    if (PARTS.has('drain')) await partDrain();
    if (PARTS.has('micro')) await partMicro();
    if (PARTS.has('tls')) await partTls(dir);
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (e) {
        log(`cleanup: ${e.message}`);
      }
    }
    results.finished = new Date().toISOString();
    results.machine.loadavgEnd = loadavg();
    save();
  }
  fs.rmSync(dir, { recursive: true, force: true }); // kept (with the logs) when something failed
  log('done');
}

await main();
process.exit(0);
