// What the write benchmarks (writes.mjs, fleet.mjs, suite.mjs) share: percentiles, creating a collection,
// the body of one `add` of `batch` records of `dim` dimensions (deterministic values), the load loop.
import { performance } from 'node:perf_hooks';

import { TD, http } from '../tests/e2e/harness.mjs';

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export const median = (xs) => percentile([...xs].sort((a, b) => a - b), 50);

export async function createCollection(base, name) {
  const res = await http(`${base}${TD}/collections`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  if (res.status !== 200) throw new Error(`create ${name}: ${res.status} ${res.text}`);
  return res.json.id;
}

// Deterministic uniform numbers in [0, 1) from `seed`.
export function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

// A random vector of `dim` components in [-1, 1], three decimals.
export const randomVector = (r, dim = 384) =>
  Array.from({ length: dim }, () => Math.round((r() * 2 - 1) * 1000) / 1000);

// The records bench/suite.mjs writes (parts writes, lag, throughput, drain): record k of a run
// has one of 1,000 random 384-d vectors, EMBEDDINGS[k % 1000], and its id as its document. They
// cost a Chroma server about twice the CPU per record of addBody's below, whose vectors repeat
// every 97 records: a ceiling measured for the drain must use these (bench/ingest_ceiling.mjs).
export const EMBEDDINGS = (() => {
  const r = rng(99);
  return Array.from({ length: 1000 }, () => JSON.stringify(randomVector(r)));
})();

// The body of add number `n` of `batch` such records: records n*batch .. n*batch+batch-1, so
// single-record adds 0..k-1 coalesced in order are exactly recordsBody(prefix', 0, k).
export function recordsBody(prefix, n, batch) {
  const ids = [];
  const embs = [];
  for (let i = 0; i < batch; i++) {
    ids.push(`"${prefix}-${n}-${i}"`);
    embs.push(EMBEDDINGS[(n * batch + i) % EMBEDDINGS.length]);
  }
  return `{"ids":[${ids.join(',')}],"embeddings":[${embs.join(',')}],"documents":[${ids.join(',')}]}`;
}

export function addBody(prefix, n, batch, dim) {
  const ids = [];
  const embeddings = [];
  for (let i = 0; i < batch; i++) {
    ids.push(`${prefix}-${n}-${i}`);
    embeddings.push(Array.from({ length: dim }, (_, d) => ((n * 31 + i * 7 + d) % 97) / 97));
  }
  return JSON.stringify({ ids, embeddings, documents: ids });
}

// The bounded load loop every Node write benchmark shares: `conns` workers call `send(w, n)` (the
// n-th request, by worker w) until `secs` have passed or `maxRequests` were issued. `send`
// resolves to true for a success, or throws / resolves to false (its `lastError` is kept). One
// request of the "dual client" (bench/suite.mjs part throughput) is two adds awaited together.
export async function runLoad({ conns, secs, maxRequests, send }) {
  const deadline = performance.now() + secs * 1000;
  const lat = [];
  let errors = 0;
  let issued = 0;
  let lastError = '';
  async function worker(w) {
    while (performance.now() < deadline && issued < maxRequests) {
      const n = issued++;
      const t0 = performance.now();
      try {
        if (await send(w, n)) lat.push(performance.now() - t0);
        else errors++;
      } catch (e) {
        errors++;
        lastError = e.message;
      }
    }
  }
  const start = performance.now();
  await Promise.all(Array.from({ length: conns }, (_, w) => worker(w)));
  const elapsed = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  return { rps: lat.length / elapsed, p50: +percentile(lat, 50).toFixed(3), p99: +percentile(lat, 99).toFixed(3), requests: lat.length, errors, lastError: errors ? lastError : undefined, elapsed };
}

// POSTs one JSON body; true on 200/201, else an Error with the status and the start of the body.
export async function postJson(url, body, timeoutMs = 30000) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  if (res.status === 200 || res.status === 201) return true;
  throw new Error(`${res.status} ${text.slice(0, 200)}`);
}

// What one Chroma server at `base` ingests when sent the drain's shape of work (bench/suite.mjs
// part drain; bench/ingest_ceiling.mjs): `records` of the suite's records (recordsBody) spread
// evenly over `streams` fresh collections, each collection's share in requests of at most `per`
// records, all collections at once (one request in flight per collection). A drain replaying
// that backlog to this server cannot be faster. `cpu()`: CPU seconds of the server (optional),
// read around the requests only. Returns records/s, seconds, and the server's CPU per 1,000 records.
export async function ingestCeiling(base, { records, per, streams, name, cpu = null }) {
  const share = Math.ceil(records / streams);
  const plans = [];
  for (let s = 0; s < streams; s++) {
    const url = `${base}${TD}/collections/${await createCollection(base, `${name}-${s}`)}/add`;
    const bodies = [];
    for (let sent = 0, n = 0; sent < share; sent += per, n++) {
      bodies.push(recordsBody(`${name}-${s}`, n, Math.min(per, share - sent)));
    }
    plans.push({ url, bodies });
  }
  const cpu0 = cpu ? cpu() : 0;
  const t0 = performance.now();
  await Promise.all(plans.map(async ({ url, bodies }) => {
    for (const body of bodies) await postJson(url, body, 120000);
  }));
  const seconds = (performance.now() - t0) / 1000;
  const total = share * streams;
  return {
    records: total,
    per,
    streams,
    seconds: +seconds.toFixed(2),
    recordsPerSecond: +(total / seconds).toFixed(1),
    cpuMsPerThousand: cpu ? +(((cpu() - cpu0) * 1e6) / total).toFixed(0) : null,
  };
}
