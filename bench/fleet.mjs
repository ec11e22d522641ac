// Write throughput of a fleet: 1, 2 and 3 chroma-ha processes on one PostgreSQL WAL in front of
// the same two Chroma servers, `add` requests at a fixed concurrency spread over the proxies
// (worker w talks to proxy w mod n), into one shared collection and into one collection per
// worker. Writes of one collection through different proxies are forwarded in WAL order
// (src/server/fleet_order.h): the one-collection rows show what that ordering costs; the
// per-worker-collection rows are the same load without cross-proxy waits. Contenders run
// interleaved for several rounds; medians are reported, with the load average.
//
//   CHROMA_HA_TEST_DATABASE_URL=postgresql://... node bench/fleet.mjs \
//     [--rounds 3] [--seconds 8] [--concurrency 8] [--batch 10] [--dim 384] [--out FILE]
//
// Everything runs on loopback and is stopped at the end (by PID, through the test harness).
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';

import {
  TD,
  createTestDatabase,
  dropTestDatabase,
  makeTempDir,
  startChroma,
  startChromaHa,
} from '../tests/e2e/harness.mjs';
import { addBody, createCollection, median, percentile } from './add_load.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => {
    if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
    return acc;
  }, []),
);
const ROUNDS = Number(args.rounds ?? 3);
const SECONDS = Number(args.seconds ?? 8);
const CONCURRENCY = Number(args.concurrency ?? 8);
const BATCH = Number(args.batch ?? 10);
const DIM = Number(args.dim ?? 384);
const MAX_REQUESTS = 100000; // per run: bounded in count as well as in time

// SECONDS of adds by CONCURRENCY workers, worker w through proxies[w % n]; `shared`: all into
// one collection, else one collection per worker.
async function load(proxies, label, shared) {
  const ids = [];
  if (shared) {
    const id = await createCollection(proxies[0].url, `fleet-${label}`);
    for (let w = 0; w < CONCURRENCY; w++) ids.push(id);
  } else {
    for (let w = 0; w < CONCURRENCY; w++) {
      ids.push(await createCollection(proxies[w % proxies.length].url, `fleet-${label}-${w}`));
    }
  }
  const latencies = [];
  let errors = 0;
  let issued = 0;
  const deadline = performance.now() + SECONDS * 1000;
  async function worker(w) {
    const url = `${proxies[w % proxies.length].url}${TD}/collections/${ids[w]}/add`;
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
  return { rps: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}

async function main() {
  const pgAdmin = process.env.CHROMA_HA_TEST_DATABASE_URL;
  if (!pgAdmin) throw new Error('CHROMA_HA_TEST_DATABASE_URL is unset: a fleet needs PostgreSQL');
  const dir = makeTempDir('bench-fleet');
  const databaseUrl = createTestDatabase(pgAdmin, 'benchfleet');
  const stops = [];
  const loadStart = os.loadavg();
  try {
    const [primary, replica] = await Promise.all([
      startChroma({ dir, name: 'primary' }),
      startChroma({ dir, name: 'replica' }),
    ]);
    stops.push(() => primary.destroy(), () => replica.destroy());
    const proxies = [];
    for (let i = 0; i < 3; i++) {
      const ha = await startChromaHa({
        dir: makeTempDir(`bench-fleet-${i}`),
        primaryUrl: primary.url,
        replicaUrl: replica.url,
        env: { DATABASE_URL: databaseUrl, LOG_LEVEL: 'info' },
      });
      stops.push(() => ha.stop());
      proxies.push(ha);
    }
    await Promise.all(proxies.map((p) => p.waitAllHealthy()));
    const contenders = [];
    for (const n of [1, 2, 3]) {
      for (const shared of [true, false]) contenders.push({ n, shared, runs: [] });
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of contenders) {
        const r = await load(proxies.slice(0, c.n), `${c.n}-${c.shared ? 'one' : 'many'}-${round}`, c.shared);
        c.runs.push(r);
        console.log(
          `round ${round}: ${c.n} prox${c.n === 1 ? 'y' : 'ies'}, ${c.shared ? 'one collection' : 'a collection per worker'}: ` +
            `${r.rps.toFixed(1)} req/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, errors ${r.errors}`,
        );
      }
    }
    const statuses = await Promise.all(proxies.map((p) => p.status()));
    const rows = contenders.map((c) => ({
      proxies: c.n,
      collections: c.shared ? 'one' : `${CONCURRENCY} (one per worker)`,
      rps: median(c.runs.map((r) => r.rps)),
      p50: median(c.runs.map((r) => r.p50)),
      p99: median(c.runs.map((r) => r.p99)),
      errors: c.runs.reduce((a, r) => a + r.errors, 0),
    }));
    const base = Object.fromEntries(rows.filter((r) => r.proxies === 1).map((r) => [r.collections, r.rps]));
    const lines = [
      `add of ${BATCH} records (dim ${DIM}), ${CONCURRENCY} connections spread over the proxies, ${ROUNDS} interleaved rounds of ${SECONDS} s, medians; ` +
        `load average ${loadStart.map((x) => x.toFixed(2)).join(' ')} before, ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} after; ${os.cpus().length} cores`,
      '',
      '| proxies | collections | writes/s | vs 1 proxy | p50 ms | p99 ms | errors |',
      '|---|---|---|---|---|---|---|',
      ...rows.map(
        (r) =>
          `| ${r.proxies} | ${r.collections} | ${r.rps.toFixed(1)} | ${(r.rps / base[r.collections]).toFixed(2)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.errors} |`,
      ),
      '',
      `fleet_order per proxy after the run: ${JSON.stringify(statuses.map((s) => s.fleet_order))}`,
    ];
    console.log(`\n${lines.join('\n')}`);
    if (args.out) fs.writeFileSync(args.out, `${lines.join('\n')}\n`);
  } finally {
    for (const stop of stops.reverse()) await stop();
    dropTestDatabase(databaseUrl);
  }
}

await main();
