// What the write benchmarks (writes.mjs, fleet.mjs) share: percentiles, creating a collection,
// and the body of one `add` of `batch` records of `dim` dimensions (deterministic values).
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
