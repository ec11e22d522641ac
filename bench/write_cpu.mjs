// chroma-ha's own CPU per write (issue 14, item 2): N `add` requests of BATCH records of DIM
// dimensions, with documents and metadatas (≈ 0.8 MB of JSON for 100 × 384), sent through
// chroma-ha (SQLite WAL) by CONNS connections to two real Chroma servers; per round, the CPU
// time (utime + stime from /proc/PID/stat) chroma-ha and the primary Chroma server (with its
// child processes) spent from the first request until the WAL is drained on both instances (the
// replay to the replica included), divided by N. CPU time, not throughput: the machine is shared.
//
//   node bench/write_cpu.mjs [--rounds 5] [--adds 40] [--conns 4] [--batch 100] [--dim 384]
//                            [--perf FILE [--perf-call-graph dwarf]] [--out FILE.md] [--json FILE.json]
//                            [--ha-env K=V,...] [--label NAME (the binary's commit; default HEAD)]
//
// --perf FILE records a `perf record -g` profile of chroma-ha during the last round (perf.data in
// FILE; read it with `perf report -i FILE`). Everything listens on loopback and is stopped at
// the end.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

import { TD, startStack, waitWalDrained, walStats } from '../tests/e2e/harness.mjs';
import { createCollection, median } from './add_load.mjs';
import { cpuSeconds, envList, procTree } from './proc.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
    return acc;
  }, []),
);
const ROUNDS = Number(args.rounds ?? 5);
const ADDS = Number(args.adds ?? 40);
const CONNS = Number(args.conns ?? 4);
const BATCH = Number(args.batch ?? 100);
const DIM = Number(args.dim ?? 384);

function loadavg() {
  return fs.readFileSync('/proc/loadavg', 'utf8').trim().split(/\s+/).slice(0, 3).map(Number);
}


// utime + stime of the processes, in ms.
const cpuMs = (pids) => cpuSeconds(pids) * 1000;

// Deterministic pseudo-random floats, spelled as JavaScript spells them (≈ 18 characters).
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  };
}

export function addBody(prefix, n, batch, dim) {
  const r = rng(n * 7919 + 1);
  const ids = [];
  const embeddings = [];
  const documents = [];
  const metadatas = [];
  for (let i = 0; i < batch; i++) {
    ids.push(`${prefix}-${n}-${i}`);
    embeddings.push(Array.from({ length: dim }, r));
    documents.push(`document ${n}/${i}: the quick brown fox jumps over the lazy dog, ${'é'.repeat(i % 5)} ${'x'.repeat(200)}`);
    metadatas.push({ source: `bench-${n % 7}`, page: i, score: r(), tags: `t${i % 3}`, ok: i % 2 === 0 });
  }
  return JSON.stringify({ ids, embeddings, documents, metadatas });
}

async function post(url, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await res.text();
  if (res.status !== 200 && res.status !== 201) throw new Error(`add: ${res.status} ${text.slice(0, 300)}`);
}

async function round(stack, id, r, perfFile) {
  const url = `${stack.ha.url}${TD}/collections/${id}/add`;
  const bodies = Array.from({ length: ADDS }, (_, n) => addBody(`r${r}`, n, BATCH, DIM));
  const haPids = [stack.ha.pid];
  const primaryPids = procTree(stack.primary.pid);
  const replicaPids = procTree(stack.replica.pid);
  let perf = null;
  if (perfFile) {
    const graph = args['perf-call-graph'] ? ['--call-graph', args['perf-call-graph']] : ['-g'];
    perf = spawn('perf', ['record', '-F', '999', ...graph, '-p', String(stack.ha.pid), '-o', perfFile], { stdio: 'ignore' });
    await new Promise((res) => setTimeout(res, 300)); // perf attaches; no correctness depends on it
  }
  const load0 = loadavg();
  const ha0 = cpuMs(haPids);
  const p0 = cpuMs(primaryPids);
  const q0 = cpuMs(replicaPids);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNS }, async () => {
      while (next < ADDS) await post(url, bodies[next++]);
    }),
  );
  const haAcked = cpuMs(haPids) - ha0;
  await waitWalDrained(stack.ha, { timeoutMs: 120000, intervalMs: 50 });
  const elapsed = performance.now() - t0;
  const out = {
    haMsPerAdd: (cpuMs(haPids) - ha0) / ADDS,
    haMsPerAddAcked: haAcked / ADDS,
    primaryMsPerAdd: (cpuMs(primaryPids) - p0) / ADDS,
    replicaMsPerAdd: (cpuMs(replicaPids) - q0) / ADDS,
    seconds: elapsed / 1000,
    bodyBytes: bodies[0].length,
    load: [load0, loadavg()],
  };
  try {
    out.haPeakRssMb = Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${stack.ha.pid}/status`, 'utf8'))[1]) / 1024;
  } catch {
    out.haPeakRssMb = NaN;
  }
  if (perf) {
    perf.kill('SIGINT');
    await new Promise((res) => perf.once('exit', res));
  }
  return out;
}

// --ha-env K=V,K2=V2: extra environment for chroma-ha (e.g. GLIBC_TUNABLES for an experiment).
const haEnv = envList(args['ha-env']);

async function main() {
  const stack = await startStack({
    name: 'bench-write-cpu',
    store: 'sqlite',
    env: { LOG_LEVEL: 'warn', WAL_SYNC_INTERVAL: '1', ...haEnv },
  });
  const rows = [];
  try {
    const id = await createCollection(stack.ha.url, `write-cpu-${Date.now()}`);
    // A warm-up add: connections, the collection's id resolution, page caches.
    await post(`${stack.ha.url}${TD}/collections/${id}/add`, addBody('warm', 0, BATCH, DIM));
    await waitWalDrained(stack.ha, { timeoutMs: 60000 });
    for (let r = 0; r < ROUNDS; r++) {
      const row = await round(stack, id, r, r === ROUNDS - 1 ? args.perf : undefined);
      rows.push(row);
      console.log(
        `round ${r}: chroma-ha ${row.haMsPerAdd.toFixed(2)} ms/add (${row.haMsPerAddAcked.toFixed(2)} until acknowledged), ` +
          `primary Chroma ${row.primaryMsPerAdd.toFixed(1)} ms/add, replica ${row.replicaMsPerAdd.toFixed(1)} ms/add, ` +
          `ratio ${((100 * row.haMsPerAdd) / row.primaryMsPerAdd).toFixed(1)} %, ${row.seconds.toFixed(1)} s, chroma-ha peak RSS ${row.haPeakRssMb.toFixed(0)} MB, load ${row.load[0][0]}→${row.load[1][0]}`,
      );
    }
    const st = await walStats(stack.ha);
    console.log(`replay: ${st.replayed} entries replayed, ${st.coalesced_requests} requests carried several`);
  } finally {
    await stack.stop();
  }
  const m = (f) => median(rows.map(f));
  const summary = {
    commit: args.label ?? spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim(),
    at: new Date().toISOString(),
    rounds: ROUNDS,
    adds: ADDS,
    conns: CONNS,
    batch: BATCH,
    dim: DIM,
    bodyBytes: rows[0]?.bodyBytes,
    haMsPerAdd: m((r) => r.haMsPerAdd),
    haMsPerAddAcked: m((r) => r.haMsPerAddAcked),
    primaryMsPerAdd: m((r) => r.primaryMsPerAdd),
    replicaMsPerAdd: m((r) => r.replicaMsPerAdd),
    ratioPct: m((r) => (100 * r.haMsPerAdd) / r.primaryMsPerAdd),
    haPeakRssMb: Math.max(...rows.map((r) => r.haPeakRssMb)),
    loadRange: [Math.min(...rows.flatMap((r) => [r.load[0][0], r.load[1][0]])), Math.max(...rows.flatMap((r) => [r.load[0][0], r.load[1][0]]))],
    cores: os.cpus().length,
  };
  const md = [
    `| commit | rounds × adds | body | chroma-ha ms/add (until acked) | primary Chroma ms/add | replica ms/add | chroma-ha ÷ Chroma | chroma-ha peak RSS | load (1 min) |`,
    `|---|---|---|---:|---:|---:|---:|---:|---|`,
    `| ${summary.commit} | ${ROUNDS} × ${ADDS} (${BATCH} × ${DIM}-d, ${CONNS} conns) | ${(summary.bodyBytes / 1e6).toFixed(2)} MB | ` +
      `${summary.haMsPerAdd.toFixed(2)} (${summary.haMsPerAddAcked.toFixed(2)}) | ${summary.primaryMsPerAdd.toFixed(1)} | ` +
      `${summary.replicaMsPerAdd.toFixed(1)} | ${summary.ratioPct.toFixed(1)} % | ${summary.haPeakRssMb.toFixed(0)} MB | ${summary.loadRange[0]}–${summary.loadRange[1]} |`,
  ].join('\n');
  console.log(`\nmedians over ${ROUNDS} rounds (${os.cpus().length} cores):\n${md}`);
  if (args.out) fs.writeFileSync(args.out, `${md}\n`);
  if (args.json) fs.writeFileSync(args.json, `${JSON.stringify({ summary, rows }, null, 2)}\n`);
}

await main();
