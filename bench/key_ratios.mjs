// The "Key ratios per commit" table of docs/benchmarks.md (issue 14 item 5): one row per run of
// bench/run.sh, kept in docs/bench/key_ratios.md (a Markdown table, newest row last), so a
// regression shows at a glance. Reads what the run measured:
//
//   node bench/key_ratios.mjs --results build-bench/results.json [--write-cpu build-bench/write_cpu.json]
//                             --table docs/bench/key_ratios.md [--commit C]
//
// Appends a row to --table (creating the header) and prints the whole table. A cell is "–" when
// its part was not run; parts carried over from an earlier run (--merge) are not repeated.
import fs from 'node:fs';

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : def;
};
const results = JSON.parse(fs.readFileSync(opt('results', 'build-bench/results.json'), 'utf8'));
const wcpuFile = opt('write-cpu', '');
const table = opt('table', 'docs/bench/key_ratios.md');
const carried = new Set(results.merged?.parts ?? []);
const fresh = (part) => (carried.has(part) ? undefined : results.parts?.[part]);

const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const loads = [];
const noteLoad = (runs) => runs.forEach((r) => r.loadBefore && loads.push(r.loadBefore[0], r.loadAfter?.[0] ?? r.loadBefore[0]));

// chroma-ha ÷ HAProxy req/s (median of per-round ratios), per proxy test at 64 connections, in
// both upstream set-ups: part "proxy" (one nginx worker for both instances, "shared") and part
// "proxy2" (one nginx per instance, "split").
function proxyRatios() {
  const cells = [];
  for (const [part, setup] of [['proxy', 'shared'], ['proxy2', 'split']]) {
    const p = fresh(part);
    if (!p?.runs) continue;
    for (const [test, byC] of Object.entries(p.runs)) {
      if (!/c64/.test(test) || !byC.haproxy || !byC['chroma-ha']) continue;
      noteLoad(byC['chroma-ha']);
      cells.push(`${setup} ${test.replace(' c64', '')} ${f2(median(byC['chroma-ha'].map((r, i) => r.rps / byC.haproxy[i]?.rps)))}`);
    }
  }
  return cells.join(', ') || '–';
}

// chroma-ha (PostgreSQL WAL) ÷ dual client req/s per test; "sustained" counts the time chroma-ha
// needed after the load to finish replaying its backlog too.
function throughputRatios() {
  const t = fresh('throughput');
  if (!t?.runs) return '–';
  const cells = [];
  for (const [test, byC] of Object.entries(t.runs)) {
    const ha = byC['chroma-ha postgres'];
    const ref = byC['dual client'];
    noteLoad([...ha, ...ref]);
    const ratio = median(ha.map((r, i) => r.rps / ref[i]?.rps));
    const sustained = median(ha.map((r, i) => r.requests / (r.wallSeconds + (r.drainSeconds ?? 0)) / ref[i]?.rps));
    cells.push(`${test.replace(' c8', '').replace(' coll', 'c')} ${f2(ratio)} (${f2(sustained)})`);
  }
  return cells.join(', ');
}

function lagAndDrain() {
  const d = fresh('drain');
  if (!d) return ['–', '–'];
  const lag = d.lag100;
  if (lag) noteLoad([lag]);
  const drains = Object.entries(d.backlog ?? {}).map(([n, b]) => {
    noteLoad([b]);
    if (!b.entriesPerSecond) return `${n} coll not drained`;
    const c = b.replicaCeiling?.recordsPerSecond;  // measured since 2026-12-07
    return `${n} coll ${Math.round(b.entriesPerSecond)}${c ? ` (${f2(b.ofCeiling)} of ${Math.round(c)})` : ''}`;
  });
  return [lag ? `${lag.p99.toFixed(0)} ms (${d.store})` : '–', drains.join(', ') || '–'];
}

function writeCpu() {
  if (!wcpuFile || !fs.existsSync(wcpuFile)) return '–';
  const s = JSON.parse(fs.readFileSync(wcpuFile, 'utf8')).summary;
  if (Date.parse(s.at) < Date.parse(results.started)) return '–'; // from an earlier run
  loads.push(...s.loadRange);
  return `${s.ratioPct.toFixed(1)} %`;
}

const proxy = proxyRatios();
const tp = throughputRatios();
const [lag, drain] = lagAndDrain();
const cpu = writeCpu();
const header = [
  '| commit | date (UTC) | load (1 min, range) | proxy ÷ HAProxy (c64) | write CPU ÷ Chroma | throughput ÷ dual client: req/s (sustained) | lag p99 at 100/s | drain (entries/s; share of the replica\'s own rate) |',
  '|---|---|---|---|---:|---|---:|---|',
];
const row = `| ${opt('commit', results.build?.commit ?? '?')}${results.quick ? ' (quick run)' : ''} | ${results.started.slice(0, 16).replace('T', ' ')} | ${loads.length ? `${Math.min(...loads)}–${Math.max(...loads)}` : '–'} | ${proxy} | ${cpu} | ${tp} | ${lag} | ${drain} |`;
let text = fs.existsSync(table) ? fs.readFileSync(table, 'utf8') : `${header.join('\n')}\n`;
text += `${row}\n`;
fs.writeFileSync(table, text);
process.stdout.write(text);
