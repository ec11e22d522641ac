// Write throughput and replication lag: `add` requests at a fixed concurrency, directly against
// a Chroma server and through chroma-ha with the SQLite WAL and with the PostgreSQL WAL, run
// interleaved (direct, sqlite, postgres, direct, ...) for several rounds; medians are reported.
//
//   node bench/writes.mjs [--rounds 3] [--seconds 10] [--concurrency 8] [--batch 10] [--dim 384]
//
// PostgreSQL: set CHROMA_HA_TEST_DATABASE_URL (scripts/postgres.sh start DIR prints one), else the
// PostgreSQL contender is left out. Everything runs on loopback and is stopped at the end.
import { performance } from 'node:perf_hooks';
import os from 'node:os';

import { TD, http, makeTempDir, startChroma, startStack } from '../tests/e2e/harness.mjs';
import { addBody, createCollection, median, percentile } from './add_load.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
    return acc;
  }, []),
);
const ROUNDS = Number(args.rounds ?? 3);
const SECONDS = Number(args.seconds ?? 10);
const CONCURRENCY = Number(args.concurrency ?? 8);
const BATCH = Number(args.batch ?? 10);
const DIM = Number(args.dim ?? 384);
const MAX_REQUESTS = 100000; // per run: the load loop is bounded in count as well as in time

// Runs the write load against `base` for SECONDS; returns throughput and latencies.
async function load(base, label) {
  const id = await createCollection(base, `bench-${label}-${Date.now()}`);
  const url = `${base}${TD}/collections/${id}/add`;
  const deadline = performance.now() + SECONDS * 1000;
  const latencies = [];
  let errors = 0;
  let issued = 0;
  async function worker(w) {
    while (performance.now() < deadline && issued < MAX_REQUESTS) {
      const n = issued++;
      const t0 = performance.now();
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: addBody(`w${w}`, n, BATCH, DIM),
      });
      await res.arrayBuffer();
      if (res.status === 201 || res.status === 200) latencies.push(performance.now() - t0);
      else errors++;
    }
  }
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, w) => worker(w)));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    rps: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors,
  };
}

async function groupCommitStats(haUrl) {
  const res = await http(`${haUrl}/wal/stats`);
  return res.json;
}

async function main() {
  const dir = makeTempDir('bench-writes');
  const contenders = [{ name: 'direct' }, { name: 'sqlite' }];
  const pgUrl = process.env.CHROMA_HA_TEST_DATABASE_URL;
  if (pgUrl) contenders.push({ name: 'postgres' });
  const started = []; // objects with stop()
  try {
    for (const c of contenders) {
      if (c.name === 'direct') {
        const server = await startChroma({ dir, name: 'direct' });
        started.push({ stop: () => server.destroy() });
        c.url = server.url;
        continue;
      }
      const stack = await startStack({
        name: `bench-${c.name}`,
        store: c.name,
        env: { WAL_SYNC_INTERVAL: '1', LOG_LEVEL: 'info' },
      });
      started.push(stack);
      c.ha = stack.ha;
      c.url = stack.ha.url;
    }
    const results = Object.fromEntries(contenders.map((c) => [c.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of contenders) {
        const r = await load(c.url, `${c.name}-${round}`);
        results[c.name].push(r);
        console.log(
          `round ${round} ${c.name}: ${r.rps.toFixed(1)} req/s (${(r.rps * BATCH).toFixed(0)} records/s), ` +
            `p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, errors ${r.errors}`,
        );
      }
    }
    console.log(`\nload average: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${os.cpus().length} cores`);
    console.log(`add of ${BATCH} records (dim ${DIM}) at ${CONCURRENCY} connections, ${ROUNDS} rounds of ${SECONDS} s, medians:`);
    const direct = median(results.direct.map((r) => r.rps));
    for (const c of contenders) {
      const rps = median(results[c.name].map((r) => r.rps));
      const p50 = median(results[c.name].map((r) => r.p50));
      const p99 = median(results[c.name].map((r) => r.p99));
      console.log(
        `  ${c.name.padEnd(8)} ${rps.toFixed(1).padStart(8)} req/s  ${((100 * rps) / direct).toFixed(0).padStart(4)} % of direct  ` +
          `p50 ${p50.toFixed(1)} ms  p99 ${p99.toFixed(1)} ms`,
      );
      if (c.ha) {
        const s = await groupCommitStats(c.ha.url);
        console.log(
          `           group commits ${s.group_commits}, entries ${s.group_commit_entries}, ` +
            `mean batch ${(s.group_commit_entries / Math.max(1, s.group_commits)).toFixed(2)}, max ${s.group_commit_max_batch}`,
        );
      }
    }
  } finally {
    for (const p of started.reverse()) await p.stop();
  }
}

await main();
