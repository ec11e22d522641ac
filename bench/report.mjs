// Turns the JSON of bench/suite.mjs into docs/benchmarks.md and PNG charts (gnuplot).
//
//   node bench/report.mjs RESULTS.json docs/benchmarks.md docs/bench
//
// The hand-written analysis (why a target was missed, hot spots, what to fix) lives in
// bench/analysis.md and is appended as is.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [resultsFile, mdFile, pngDir] = process.argv.slice(2);
if (!resultsFile || !mdFile || !pngDir) {
  console.error('usage: node bench/report.mjs RESULTS.json OUT.md PNG_DIR');
  process.exit(2);
}
const HERE = path.dirname(fileURLToPath(import.meta.url));
const R = JSON.parse(fs.readFileSync(resultsFile, 'utf8'));
const P = R.parts;
fs.mkdirSync(pngDir, { recursive: true });
const relPng = path.relative(path.dirname(mdFile), pngDir);

const f0 = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const ms = (x) => (!Number.isFinite(x) ? '–' : x < 1 ? `${(x * 1000).toFixed(0)} µs` : x < 10 ? `${x.toFixed(2)} ms` : `${x.toFixed(1)} ms`);
const pct = (x) => (Number.isFinite(x) ? `${(x * 100).toFixed(0)} %` : '–');
const mb = (kb) => (Number.isFinite(kb) ? `${(kb / 1024).toFixed(1)} MB` : '–');
const load = (l) => (l ? l.map((x) => x.toFixed(2)).join(' ') : '–');
const loadRange = (runs) => {
  const all = runs.flatMap((r) => [r.loadBefore?.[0], r.loadAfter?.[0]]).filter(Number.isFinite);
  return all.length ? `${Math.min(...all).toFixed(1)}–${Math.max(...all).toFixed(1)}` : '–';
};
const allRuns = (part) => Object.values(part.runs).flatMap((byC) => Object.values(byC).flat());

// ---------------------------------------------------------------------------------------------
// Charts

const gp = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chroma-ha-report-'));
function chart(name, { title, ylabel, rows, cols, logscale = false }) {
  // rows: [[label, v1, v2, ...]], cols: series names
  const dat = path.join(tmp, `${name}.dat`);
  fs.writeFileSync(
    dat,
    `label\t${cols.map((c) => `"${c}"`).join('\t')}\n${rows.map((r) => [`"${r[0]}"`, ...r.slice(1).map((v) => (Number.isFinite(v) ? v : 0))].join('\t')).join('\n')}\n`,
  );
  gp.push(`set output '${path.join(pngDir, `${name}.png`)}'
set title "${title}"
set ylabel "${ylabel}"
${logscale ? 'set logscale y\nset yrange [*:*]' : 'unset logscale y\nset yrange [0:*]'}
plot for [i=2:${cols.length + 1}] '${dat}' using i:xtic(1) title columnheader(i)
`);
}

const charts = [];
if (P.proxy) {
  const s = P.proxy.summary;
  const names = Object.keys(Object.values(s)[0]);
  chart('proxy-throughput', {
    title: 'Proxy overhead: throughput against a fixed fast upstream (median req/s)',
    ylabel: 'requests/s',
    cols: names,
    rows: Object.keys(s).map((t) => [t, ...names.map((n) => s[t][n]?.rps)]),
  });
  chart('proxy-p99', {
    title: 'Proxy overhead: p99 latency (median of rounds, ms, log scale)',
    ylabel: 'ms',
    cols: names,
    logscale: true,
    rows: Object.keys(s).map((t) => [t, ...names.map((n) => s[t][n]?.p99)]),
  });
  charts.push('proxy-throughput', 'proxy-p99');
}
if (P.reads) {
  const s = P.reads.summary;
  chart('chroma-reads', {
    title: 'Real Chroma reads: direct vs through chroma-ha (median req/s)',
    ylabel: 'requests/s',
    cols: ['direct', 'chroma-ha'],
    rows: Object.keys(s).map((t) => [t, s[t].direct?.rps, s[t]['chroma-ha']?.rps]),
  });
  charts.push('chroma-reads');
}
if (P.writes) {
  const s = P.writes.summary;
  const names = Object.keys(Object.values(s)[0]);
  chart('chroma-writes', {
    title: 'Real Chroma writes (add): records/s, median',
    ylabel: 'records/s',
    cols: names,
    rows: Object.keys(s).map((t) => {
      const batch = Number(/add (\d+)/.exec(t)?.[1] ?? 1);
      return [t, ...names.map((n) => s[t][n]?.rps * batch)];
    }),
  });
  charts.push('chroma-writes');
}
if (P.lag?.steady) {
  const dat = path.join(tmp, 'lag.dat');
  const stores = Object.keys(P.lag.steady);
  const blocks = stores.map((st) => {
    const l = P.lag.steady[st].lags;
    return l.map((v, i) => `${v}\t${((i + 1) / l.length).toFixed(4)}`).join('\n');
  });
  fs.writeFileSync(dat, `${blocks.join('\n\n\n')}\n`);
  gp.push(`set output '${path.join(pngDir, 'replication-lag.png')}'
set title "Replication lag at ${P.lag.steady[stores[0]].rate} writes/s: CDF (ack to readable on the replica)"
set style data lines
set xlabel "ms"
set ylabel "fraction of writes"
unset logscale y
set logscale x
plot ${stores.map((st, i) => `'${dat}' index ${i} using 1:2 with lines lw 2 title "${st} WAL"`).join(', ')}
unset logscale x
unset xlabel
set style data histogram
`);
  charts.push('replication-lag');
}
if (P.micro?.rows) {
  const rows = P.micro.rows;
  const get = (store, t) => Object.entries(rows).find(([k]) => k.includes(`/${store}/`) && k.endsWith(`threads:${t}`))?.[1]?.appendsPerSecond;
  chart('wal-append', {
    title: 'WAL append through GroupCommitter (appends/s, log scale)',
    ylabel: 'appends/s',
    cols: ['SQLite', 'PostgreSQL'],
    logscale: true,
    rows: [1, 8, 64].map((t) => [`${t} appenders`, get('sqlite', t), get('postgres', t)]),
  });
  charts.push('wal-append');
}
const script = `set terminal pngcairo size 900,480 font ",10"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top right
set grid ytics
set yrange [0:*]
set datafile separator "\\t"
${gp.join('\n')}
`;
fs.writeFileSync(path.join(tmp, 'charts.gp'), script);
const g = spawnSync('gnuplot', [path.join(tmp, 'charts.gp')], { encoding: 'utf8' });
if (g.status !== 0) console.error(`gnuplot: ${g.stderr}`);
fs.rmSync(tmp, { recursive: true, force: true });

// ---------------------------------------------------------------------------------------------
// Markdown

const md = [];
const w = (s = '') => md.push(s);
// A perf profile (by library, then top symbols) under its title, when the part has one.
function writeProfile(title, profile) {
  if (!profile) return;
  w(title);
  w();
  w('```');
  for (const l of profile.byDso ?? []) w(l);
  w('');
  for (const l of profile.top ?? [profile.error]) w(l);
  w('```');
  w();
}
const targets = [];

w('# Benchmarks');
w();
w('Generated by `bash bench/run.sh` (raw numbers: `build-bench/results.json`; this file and');
w('`docs/bench/*.png` are rewritten by each run). Not part of the test suite.');
w();
w(`- Run: ${R.started.slice(0, 16).replace('T', ' ')} – ${(R.finished ?? '').slice(11, 16)} UTC, ${R.quick ? '**quick** (1 round of 3 s)' : `${R.config.rounds} interleaved rounds of ${R.config.secs} s per contender and test`}.`);
w(`- chroma-ha: commit ${R.build?.commit || '?'} (binary built ${R.build?.binaryDate || '?'}), RelWithDebInfo (-O2 -g), THREADS=0 (= cores), LOG_LEVEL=warn.`);
w(`- Machine: ${R.machine.cores} cores (${R.machine.cpu}), ${R.machine.memGb} GB, Linux ${R.machine.kernel}. **Shared and noisy**: other engineers' builds and test suites ran during the whole run; 1-minute load average ${load(R.machine.loadavgStart)} at the start and ${load(R.machine.loadavgEnd)} at the end (on 2 cores: a load of 2 means saturated). Each run records /proc/loadavg before and after (raw file), and the per-part ranges are given below.`);
w('- Method: contenders run interleaved (A, B, C, D, A, B, C, D, … with the order rotated each round), so every contender sees the same background noise; tables show the **median over rounds**, and ratios are the median of the per-round ratios to the reference measured in the same round. Everything runs on 127.0.0.1: load generator, proxies and servers share the 2 cores, so absolute numbers are far below what a dedicated machine gives; the ratios are the useful part.');
for (const n of R.notes ?? []) w(`- Note: ${n}`);
w();

// Targets are filled in below, then inserted here.
const targetsAt = md.length;

for (const [part, setup] of [['proxy', 'shared'], ['proxy2', 'split']]) {
  const p = P[part];
  if (!p) continue;
  const s = p.summary;
  const names = Object.keys(Object.values(s)[0]);
  w(setup === 'shared' ? '## 1. Proxy overhead (fixed fast upstream: one nginx for both instances)' : '## 1b. Proxy overhead (fixed fast upstreams: one nginx per instance)');
  w();
  w(`${setup === 'shared' ? 'Upstream: one nginx (1 worker) answering every request on two ports (primary, replica)' : 'Upstreams: two nginx processes (1 worker each), one per instance (primary, replica), each'} answering with a fixed ${p.bodyBytes.response}-byte JSON body (and the collection listing chroma-ha resolves the collection id with). Contenders: **direct** to that upstream; **nginx** (${p.versions.nginx.replace('nginx version: ', '')}, workers = cores) and **HAProxy** (${(p.versions.haproxy.match(/version (\S+)/) ?? [])[1] ?? ''}, nbthread = cores) as read/write-splitting reverse proxies with upstream keep-alive (GET and POST …/get, …/query → replica port, the rest → primary port); **chroma-ha** with \`WAL_ENABLED=false\` (defaults otherwise, so \`CONNECTION_POOL_SIZE=32\`). Load: ${p.versions.wrk} with \`--latency\`; GET = \`GET /api/v2/heartbeat\` (a system read), POST = \`POST /api/v2/tenants/t/databases/d/collections/<id>/get\` with a ${p.bodyBytes.post}-byte JSON body; 64 connections (2 threads) for throughput, 1 connection for per-request latency. Load average during this part: ${loadRange(allRuns(p))}.`);
  w();
  w('| test | contender | req/s | vs direct | p50 | p99 | p99 vs direct | CPU s / 10k req | max RSS |');
  w('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const t of Object.keys(s)) {
    for (const n of names) {
      const x = s[t][n];
      if (!x) continue;
      w(`| ${t} | ${n} | ${f0(x.rps)} | ${pct(x.ratio)} | ${ms(x.p50)} | ${ms(x.p99)} | ${f2(x.p99Ratio)}× | ${f2(x.cpuSecondsPer10k)} | ${mb(x.rssMaxKb)} |`);
    }
  }
  w();
  w('chroma-ha relative to HAProxy (median of per-round ratios):');
  w();
  w('| test | chroma-ha req/s ÷ HAProxy | chroma-ha p99 ÷ HAProxy | chroma-ha req/s ÷ nginx |');
  w('|---|---:|---:|---:|');
  for (const t of Object.keys(s)) {
    const hv = p.haVsHaproxy[t];
    w(`| ${t} | ${f2(hv.rpsRatio)} | ${f2(hv.p99Ratio)} | ${f2(s[t]['chroma-ha'].rps / s[t].nginx.rps)} |`);
  }
  w();
  w('"direct" CPU/RSS is the fake upstream nginx itself; for the proxies they are the proxy\'s whole process tree (nginx master + workers), sampled from /proc every 200 ms.');
  w();
  if (setup === 'shared') {
    w(`![proxy throughput](${relPng}/proxy-throughput.png)`);
    w();
    w(`![proxy p99](${relPng}/proxy-p99.png)`);
    w();
  }
  writeProfile('Profile of chroma-ha under POST 2 KB at 64 connections (`perf record -g -F 499`, 3 s; self time by library, then symbols ≥ 0.7 %):', p.profile);
  const g64 = p.haVsHaproxy['GET c64'];
  const p64 = p.haVsHaproxy['POST 2KB c64'];
  const worst = Math.min(g64.rpsRatio, p64.rpsRatio);
  const worstP99 = Math.max(g64.p99Ratio, p64.p99Ratio);
  targets.push([
    `Proxy throughput ≥ 1.1 × HAProxy, p99 no worse (64 connections, ${setup} upstream)`,
    worst >= 1.1 && worstP99 <= 1.0 ? 'met' : 'missed',
    `GET: ${pct(g64.rpsRatio)} of HAProxy's req/s, p99 ${f2(g64.p99Ratio)}×; POST 2 KB: ${pct(p64.rpsRatio)} of HAProxy's req/s, p99 ${f2(p64.p99Ratio)}×`,
  ]);
  const n64 = Math.min(s['GET c64']['chroma-ha'].rps / s['GET c64'].nginx.rps, s['POST 2KB c64']['chroma-ha'].rps / s['POST 2KB c64'].nginx.rps);
  if (setup === 'shared') targets.push([
    'Proxy throughput well ahead of nginx',
    n64 >= 1.1 ? 'met' : 'missed',
    `chroma-ha ÷ nginx: GET ${f2(s['GET c64']['chroma-ha'].rps / s['GET c64'].nginx.rps)}, POST 2 KB ${f2(s['POST 2KB c64']['chroma-ha'].rps / s['POST 2KB c64'].nginx.rps)} (64 connections)`,
  ]);
}

if (P.reads) {
  const p = P.reads;
  const s = p.summary;
  w('## 2. Real Chroma: reads');
  w();
  w(`Two Chroma servers seeded directly (around the proxy) with the same ${f0(p.records)} records (dimension 384, documents and metadata; ${f1(p.seedSeconds)} s to seed both), chroma-ha in front (SQLite WAL, \`READ_CONSISTENCY=fresh\`). **direct** = the replica (where chroma-ha sends reads), with the replica's collection id; **chroma-ha** with the id its listing shows. \`get\` = 10 ids with documents and metadatas; \`query\` = one 384-d embedding, \`n_results\` 10. wrk with a Lua POST script. Load average during this part: ${loadRange(allRuns(p))}.`);
  w();
  w('| test | contender | req/s | vs direct | p50 | p99 | p99 vs direct | chroma-ha CPU s / 10k req | max RSS |');
  w('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const t of Object.keys(s)) {
    for (const n of ['direct', 'chroma-ha']) {
      const x = s[t][n];
      w(`| ${t} | ${n} | ${f0(x.rps)} | ${pct(x.ratio)} | ${ms(x.p50)} | ${ms(x.p99)} | ${f2(x.p99Ratio)}× | ${n === 'chroma-ha' ? f2(x.cpuSecondsPer10k) : ''} | ${n === 'chroma-ha' ? mb(x.rssMaxKb) : ''} |`);
    }
  }
  w();
  w(`![real Chroma reads](${relPng}/chroma-reads.png)`);
  w();
}

if (P.writes) {
  const p = P.writes;
  const s = p.summary;
  const names = Object.keys(Object.values(s)[0]);
  w('## 3. Real Chroma: writes');
  w();
  w(`\`add\` of 10 and of 100 records (dimension 384, unique ids, a fresh collection per run; "8 collections": a fresh collection per connection) at 8 connections (Node fetch workers, as bench/writes.mjs), **direct** to a Chroma server vs through chroma-ha with the SQLite WAL and with the PostgreSQL WAL (fsync on; a throw-away PostgreSQL 15 from scripts/postgres.sh on the same machine). After each chroma-ha run the suite waits for the replica to catch up (not timed in the run) so replay does not steal CPU from the next contender. Load average during this part: ${loadRange(allRuns(p))}.`);
  w();
  w('| test | contender | req/s | records/s | vs direct | p50 | p99 | group commits (mean / max batch) | chroma-ha CPU s / 10k req | max RSS |');
  w('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const t of Object.keys(s)) {
    const batch = Number(/add (\d+)/.exec(t)?.[1] ?? 1);
    for (const n of names) {
      const x = s[t][n];
      const runs = p.runs[t][n];
      const gc = runs[0].groupCommit
        ? (() => {
            const c = runs.reduce((a, r) => a + r.groupCommit.commits, 0);
            const e = runs.reduce((a, r) => a + r.groupCommit.entries, 0);
            return `${f0(c)} (${f2(e / Math.max(1, c))} / ${Math.max(...runs.map((r) => r.groupCommit.maxBatch))})`;
          })()
        : '';
      w(`| ${t} | ${n} | ${f1(x.rps)} | ${f0(x.rps * batch)} | ${pct(x.ratio)} | ${ms(x.p50)} | ${ms(x.p99)} | ${gc} | ${x.cpuSecondsPer10k !== undefined ? f1(x.cpuSecondsPer10k) : ''} | ${x.rssMaxKb ? mb(x.rssMaxKb) : ''} |`);
    }
  }
  w();
  w('Group commit over the whole part (`/wal/stats`: group_commits, group_commit_entries, group_commit_max_batch):');
  w();
  for (const [store, gc] of Object.entries(p.groupCommit)) {
    w(`- ${store}: ${gc.group_commits} commits for ${gc.group_commit_entries} entries (mean batch ${gc.mean}, max ${gc.group_commit_max_batch}).`);
  }
  for (const [store, m] of Object.entries(p.metrics ?? {})) {
    if (Array.isArray(m)) {
      const lines = m.filter((l) => /^chroma_ha_wal_group_commit_batches(_bucket)?\{/.test(l));
      if (lines.length) w(`- ${store} \`/metrics\` chroma_ha_wal_group_commit_batches (batch size ≤ le: batches), read at the end of parts 3 and 4 (so including the lag and backlog writes): ${lines.map((l) => `${/le="([^"]+)"/.exec(l)?.[1]}: ${l.split(' ').pop()}`).join(', ')}`);
    } else if (m?.error) {
      w(`- ${store} \`/metrics\`: not read: ${m.error}.`);
    }
  }
  w();
  w(`![real Chroma writes](${relPng}/chroma-writes.png)`);
  w();
  writeProfile('Profile of chroma-ha (SQLite WAL) under add 100 at 8 connections, replay to the replica included (`perf record -g -F 499`, 3 s; self time by library, then symbols ≥ 0.7 %):', p.profile);
  const pg = names.find((n) => n.includes('postgres'));
  if (pg) {
    const r10 = s['add 10 c8'][pg].ratio;
    const r100 = s['add 100 c8'][pg].ratio;
    const r8 = s['add 10 c8, 8 collections']?.[pg]?.ratio;
    const spread = r8 === undefined ? '' : `; add 10 over 8 collections: ${pct(r8)}`;
    targets.push(['Writes with the PostgreSQL WAL ≥ 90 % of direct', Math.min(r10, r100) >= 0.9 ? 'met' : 'missed', `one collection: add 10: ${pct(r10)}, add 100: ${pct(r100)} of direct (median of per-round ratios)${spread}`]);
  } else {
    targets.push(['Writes with the PostgreSQL WAL ≥ 90 % of direct', 'not measured', 'no PostgreSQL']);
  }
}

if (P.lag) {
  const p = P.lag;
  w('## 4. Replication lag');
  w();
  const first = Object.values(p.steady)[0];
  w(`Steady load: ${first.rate} single-record adds (dimension 384) per second through chroma-ha for ${first.seconds} s, each sent on schedule without waiting for the previous one. One poller reads the replica **directly** (one \`get\` of all ids acknowledged but not yet seen, back to back with a 3 ms pause, so the measurement adds one small read at a time however far the replica falls behind). Lag = time from the write's 2xx to the poll that first returns the record (so it includes up to one poll round trip).`);
  w();
  w('| WAL | writes | readable | p50 | p90 | p99 | max | load before → after |');
  w('|---|---:|---:|---:|---:|---:|---:|---|');
  for (const [st, x] of Object.entries(p.steady)) {
    w(`| ${st} | ${x.writes} (${x.errors} errors) | ${x.measured}${x.missed ? ` (${x.missed} not within 30 s of the last write)` : ''} | ${ms(x.p50)} | ${ms(x.p90)} | ${ms(x.p99)} | ${ms(x.max)} | ${load(x.loadBefore)} → ${load(x.loadAfter)} |`);
  }
  w();
  w(`![replication lag](${relPng}/replication-lag.png)`);
  w();
  const b = p.backlog;
  w(`Backlog drain (${b.store} WAL): the replica is stopped, single-record adds are written through chroma-ha (${b.connections ?? 16} connections${b.collections ? ` over ${b.collections} collections` : ''}, at most ${b.target} and at most ${R.config.backlogSecs} s), then the replica is started again and \`/wal/status\` is polled until pending_entries is 0 (at most ${b.drainLimitSeconds} s).`);
  w();
  w(`- Written while the replica was down: **${f0(b.written)}** entries${b.written < b.target ? ` (fewer than the ${f0(b.target)} asked for: chroma-ha, with Chroma behind it, accepted only ${f1(b.writeRps)} single-record adds/s on this machine, so the time bound of ${R.config.backlogSecs} s ended the phase)` : ''} in ${f1(b.writeSeconds)} s; ${b.writeErrors} errors; pending at restart: ${f0(b.pendingAtStart)}.`);
  w(`- First entry replayed ${f2(b.firstProgressSeconds)} s after the replica was started (replica start-up${b.replicaReadySeconds != null ? `: its heartbeat answered after ${f2(b.replicaReadySeconds)} s` : ''}, then the health check marking it up, which wakes the sync worker); backlog 0 after **${b.drainSeconds === null ? `more than ${b.drainLimitSeconds} s (not drained)` : `${f1(b.drainSeconds)} s`}**${b.entriesPerSecond ? ` (≈ ${f1(b.entriesPerSecond)} entries/s from ${b.replicaHealthySeconds != null ? `${f2(b.replicaHealthySeconds)} s, when chroma-ha marked the replica up` : 'the first replayed entry (older result)'})` : ''}.`);
  w(`- chroma-ha during the backlog phase: max RSS ${mb(b.res?.rssMaxKb)}, ${f1(b.res?.cpuSeconds)} CPU s. Load ${load(b.loadBefore)} → ${load(b.loadAfter)}.`);
  w();
  const worstP99 = Math.max(...Object.values(p.steady).map((x) => x.p99));
  targets.push([
    `Replication lag p99 < 100 ms at ${first.rate} writes/s`,
    worstP99 < 100 ? 'met' : 'missed',
    Object.entries(p.steady).map(([st, x]) => `${st}: p99 ${ms(x.p99)} (p50 ${ms(x.p50)})`).join('; '),
  ]);
}

if (P.micro) {
  w('## 5. WAL append micro-benchmark');
  w();
  w('`bench/wal_append_bench.cc` (Google Benchmark, built into build-bench/ by bench/CMakeLists.txt): N appender threads each enqueue one ~2 KB `add` entry into `GroupCommitter` (max batch 200, as the server) and wait for its durable commit. SQLite file on the ext4 root disk (/tmp), PostgreSQL 15 on loopback with fsync on. Medians of repetitions run in random interleaving; latency percentiles are per appender thread, averaged over the threads.');
  w();
  w('| store | appenders | appends/s | p50 | p99 | mean batch | max batch |');
  w('|---|---:|---:|---:|---:|---:|---:|');
  const rows = Object.entries(P.micro.rows).sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }));
  for (const [k, x] of rows) {
    const store = k.includes('/sqlite/') ? 'SQLite' : 'PostgreSQL';
    if (x.error) {
      w(`| ${store} | ${k.split(':').pop()} | ${x.error} | | | | |`);
      continue;
    }
    w(`| ${store} | ${x.threads} | ${f0(x.appendsPerSecond)} | ${ms(x.p50us / 1000)} | ${ms(x.p99us / 1000)} | ${f1(x.batchMean)} | ${x.batchMax ?? '–'} |`);
  }
  w();
  w(`Load ${load(P.micro.loadBefore)} → ${load(P.micro.loadAfter)}.`);
  w();
  w(`![WAL append](${relPng}/wal-append.png)`);
  w();
}

// Resources
{
  w('## 6. Resources of chroma-ha');
  w();
  w('Resident memory (VmRSS of the chroma-ha process, sampled every 200 ms) and CPU seconds (utime + stime from /proc/PID/stat before and after the run) per 10,000 requests, medians over rounds.');
  w();
  w('| load | idle RSS | max RSS under load | CPU s / 10k requests |');
  w('|---|---:|---:|---:|');
  let rss64 = NaN;
  if (P.proxy) {
    for (const [t, byC] of Object.entries(P.proxy.summary)) {
      const x = byC['chroma-ha'];
      if (t.includes('c64')) rss64 = Math.max(Number.isFinite(rss64) ? rss64 : 0, x.rssMaxKb);
      w(`| proxy ${t} (WAL off) | ${mb(P.proxy.chromaHaIdleRssKb)} | ${mb(x.rssMaxKb)} | ${f2(x.cpuSecondsPer10k)} |`);
    }
  }
  if (P.reads) for (const [t, byC] of Object.entries(P.reads.summary)) w(`| Chroma ${t} | | ${mb(byC['chroma-ha'].rssMaxKb)} | ${f2(byC['chroma-ha'].cpuSecondsPer10k)} |`);
  if (P.writes) {
    for (const [t, byC] of Object.entries(P.writes.summary)) {
      for (const [n, x] of Object.entries(byC)) if (n !== 'direct') w(`| Chroma ${t}, ${n} | | ${mb(x.rssMaxKb)} | ${f1(x.cpuSecondsPer10k)} |`);
    }
  }
  w();
  if (Number.isFinite(rss64)) targets.push(['< 50 MB resident at 64 connections', rss64 < 50 * 1024 ? 'met' : 'missed', `max ${mb(rss64)} (idle ${mb(P.proxy.chromaHaIdleRssKb)})`]);
}

if (P.tls) {
  const p = P.tls;
  const s = p.summary;
  w('## 7. TLS to the instances');
  w();
  w(`One fake upstream (nginx, 1 worker, a fixed ${p.bodyBytes}-byte JSON body) on a plain port and, with a certificate from a test CA, on a TLS port (TLS 1.3). **chroma-ha → http**: chroma-ha (\`WAL_ENABLED=false\`, primary only) to the plain port; **chroma-ha → https**: the same to \`https://localhost:PORT\` with \`SSL_CERT_FILE\` = the test CA; **direct**: the plain port. \`GET /api/v2/heartbeat\` with wrk, 64 and 1 connections. Ratios are to chroma-ha → http. Measured ${(R.partStarted?.tls ?? R.started).slice(0, 16).replace('T', ' ')} UTC; load average during this part: ${loadRange(allRuns(p))}.`);
  w();
  w('| test | contender | req/s | vs http | p50 | p99 | p99 vs http | CPU s / 10k req |');
  w('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const t of Object.keys(s)) {
    for (const [n, x] of Object.entries(s[t])) {
      w(`| ${t} | ${n} | ${f0(x.rps)} | ${pct(x.ratio)} | ${ms(x.p50)} | ${ms(x.p99)} | ${f2(x.p99Ratio)}× | ${f2(x.cpuSecondsPer10k)} |`);
    }
  }
  w();
}

const tmd = ['## Targets', '', '| target | result | measured |', '|---|---|---|', ...targets.map(([a, b, c]) => `| ${a} | **${b}** | ${c} |`), '', 'Why, and what to fix: see [Analysis](#analysis).', ''];
md.splice(targetsAt, 0, ...tmd);

const analysis = path.join(HERE, 'analysis.md');
if (fs.existsSync(analysis)) {
  w(fs.readFileSync(analysis, 'utf8').trimEnd());
  w();
}
fs.writeFileSync(mdFile, `${md.join('\n')}\n`);
console.log(`wrote ${mdFile} and ${charts.length} charts in ${pngDir}`);
