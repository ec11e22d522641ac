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
