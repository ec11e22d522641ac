// Resync rate (src/resync/): copying N records of D dimensions from a primary to an empty replica
// with POST /admin/instances/replica/resync, against the rate of Chroma's own page-read + add
// between the same two servers (a client doing `get` by pages of P records with embeddings,
// documents and metadatas, and `add` of each page to the other server, embeddings as base64
// float32 like Chroma's clients send them). Each round: the baseline copy, the replica's
// collection deleted, then the resync; the medians are reported.
//
//   node bench/resync.mjs [--records 100000] [--dim 384] [--page 1000] [--rounds 1] [--out FILE]
//
// Starts two Chroma servers and chroma-ha (SQLite WAL) on free loopback ports and stops them by PID.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { http, makeTempDir, startChroma, startChromaHa, waitFor } from '../tests/e2e/harness.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const RECORDS = Number(args.records ?? 100000);
const DIM = Number(args.dim ?? 384);
const PAGE = Number(args.page ?? 1000);
const ROUNDS = Number(args.rounds ?? 1);
const TOKEN = 'bench-resync';
const H = { 'content-type': 'application/json' };
const TD = '/api/v2/tenants/default_tenant/databases/default_database/collections';
const b64 = (floats) => Buffer.from(Float32Array.from(floats).buffer).toString('base64');

async function must(url, opts = {}, ok = [200, 201]) {
  const r = await http(url, { timeoutMs: 120000, ...opts });
  if (!ok.includes(r.status)) throw new Error(`${opts.method ?? 'GET'} ${url}: ${r.status} ${r.text.slice(0, 300)}`);
  return r;
}

async function seed(url) {
  const col = (await must(`${url}${TD}`, { method: 'POST', headers: H, body: JSON.stringify({ name: 'bench_resync' }) })).json;
  let x = 12345;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let start = 0; start < RECORDS; start += 1000) {
    const ids = Array.from({ length: Math.min(1000, RECORDS - start) }, (_, k) => `id${start + k}`);
    await must(`${url}${TD}/${col.id}/add`, {
      method: 'POST', headers: H,
      body: JSON.stringify({
        ids,
        embeddings: ids.map(() => b64(Array.from({ length: DIM }, rnd))),
        documents: ids.map((id) => `document ${id}`),
        metadatas: ids.map((_, k) => ({ n: start + k, tag: `t${(start + k) % 7}` })),
      }),
    });
  }
  return col;
}

// Chroma's own page-read + add, primary -> replica; returns records/s.
async function baseline(from, to) {
  const src = (await must(`${from}${TD}/bench_resync`)).json;
  const dst = (await must(`${to}${TD}`, { method: 'POST', headers: H, body: JSON.stringify({ name: 'bench_resync' }) })).json;
  const t0 = performance.now();
  let copied = 0;
  for (let offset = 0; ; offset += PAGE) {
    const page = (await must(`${from}${TD}/${src.id}/get`, {
      method: 'POST', headers: H, body: JSON.stringify({ limit: PAGE, offset, include: ['embeddings', 'documents', 'metadatas'] }),
    })).json;
    if (page.ids.length === 0) break;
    await must(`${to}${TD}/${dst.id}/add`, {
      method: 'POST', headers: H,
      body: JSON.stringify({ ids: page.ids, embeddings: page.embeddings.map(b64), documents: page.documents, metadatas: page.metadatas }),
    });
    copied += page.ids.length;
    if (page.ids.length < PAGE) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  if (copied !== RECORDS) throw new Error(`baseline copied ${copied} of ${RECORDS}`);
  return copied / seconds;
}

async function resync(ha) {
  const admin = { ...H, 'x-admin-token': TOKEN };
  const t0 = performance.now();
  const started = await must(`${ha.url}/admin/instances/replica/resync`, { method: 'POST', headers: admin, body: '{}' }, [202]);
  if (started.json.state !== 'running') throw new Error(started.text);
  const done = await waitFor(async () => {
    const s = (await http(`${ha.url}/admin/instances/replica/resync`, { headers: admin })).json;
    if (s.state === 'failed') throw new Error(`resync failed: ${s.reason}`);
    return s.state === 'done' && s;
  }, { timeoutMs: 3600000, intervalMs: 100, what: 'resync done' });
  const seconds = (performance.now() - t0) / 1000;
  if (done.records_done !== RECORDS) throw new Error(`resync copied ${done.records_done} of ${RECORDS}`);
  return RECORDS / seconds;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = makeTempDir('bench-resync');
const [primary, replica] = await Promise.all([startChroma({ dir, name: 'primary' }), startChroma({ dir, name: 'replica' })]);
let ha;
try {
  console.error(`seeding ${RECORDS} records of ${DIM} dimensions`);
  await seed(primary.url);
  ha = await startChromaHa({
    dir, primaryUrl: primary.url, replicaUrl: replica.url,
    env: { ADMIN_TOKEN: TOKEN, RESYNC_PAGE_SIZE: PAGE, AUTO_RESYNC: 'false', LOG_LEVEL: 'info' },
  });
  const base = [];
  const ours = [];
  for (let round = 0; round < ROUNDS; round++) {
    base.push(await baseline(primary.url, replica.url));
    await must(`${replica.url}${TD}/bench_resync`, { method: 'DELETE' });
    ours.push(await resync(ha));
    console.error(`round ${round + 1}: baseline ${base.at(-1).toFixed(0)} records/s, resync ${ours.at(-1).toFixed(0)} records/s`);
    if (round + 1 < ROUNDS) await must(`${replica.url}${TD}/bench_resync`, { method: 'DELETE' });
  }
  const b = median(base);
  const r = median(ours);
  const table = [
    `${RECORDS} records of ${DIM} dimensions (documents and metadata), pages of ${PAGE}, ${ROUNDS} round(s), median:`,
    '',
    '| copy | records/s | vs Chroma page-read + add |',
    '|---|---|---|',
    `| Chroma page-read + add (client, base64 embeddings) | ${b.toFixed(0)} | 1.00 |`,
    `| chroma-ha resync | ${r.toFixed(0)} | ${(r / b).toFixed(2)} |`,
    '',
  ].join('\n');
  console.log(table);
  if (args.out) fs.writeFileSync(args.out, table);
} finally {
  for (const s of [ha, primary, replica]) await s?.stop().catch(() => {});
}
