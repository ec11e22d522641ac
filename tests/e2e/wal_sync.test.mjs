// The WAL and sync promise, end to end, for each WAL store (SQLite; PostgreSQL when
// CHROMA_HA_TEST_DATABASE_URL is set, required when CHROMA_HA_REQUIRE_POSTGRES=1):
//
//  1. a full client cycle through chroma-ha (default strategy, default WAL_SYNC_INTERVAL) ends with
//     the two servers identical, record by record (compare.mjs), once /wal/status shows no backlog;
//     the time from the last acknowledged write to convergence is printed;
//  2. read-your-write: 200 x (add one record, get it by id) through chroma-ha always sees the write;
//     replication lag (2xx -> readable directly on the replica) is measured and printed;
//  3. a database created with the admin token, and its collections, reach the replica too;
//  4. deletion conversion: chunks written around the proxy with different ids on the replica are
//     deleted there by their document_id, and nothing else is.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChromaClient } from 'chromadb';
import { compareServersDetailed, snapshotIds } from './compare.mjs';
import {
  TD,
  http,
  makeClient,
  requestCounts,
  startStack,
  waitFor,
  waitWalDrained,
  walStats,
  walStores,
} from './harness.mjs';

const ADMIN_TOKEN = 'e2e-admin-token';
const JSON_HEADERS = { 'content-type': 'application/json' };

async function rest(base, method, p, body, headers = {}) {
  return http(`${base}${p}`, {
    method,
    headers: body === undefined ? headers : { ...JSON_HEADERS, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    timeoutMs: 15000,
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

// Waits for the WAL to drain and the two servers to be identical; returns {drainedMs, identicalMs,
// result} measured from `t0` (performance.now() of the last acknowledged write).
async function converge(stack, t0, opts = {}) {
  await waitWalDrained(stack.ha, { timeoutMs: opts.timeoutMs ?? 30000 });
  const drainedMs = performance.now() - t0;
  const result = await compareServersDetailed(stack.primary.url, stack.replica.url, opts);
  return { drainedMs, result };
}

function assertIdentical(result, stack, what) {
  assert.deepEqual(
    result.differences,
    [],
    `${what}: primary and replica differ (${result.differences.length} differences)\n${stack.ha.logTail(30)}`,
  );
}

for (const store of walStores()) {
  describe(`WAL and sync, ${store.kind} WAL`, () => {
    let stack;

    before(async () => {
      if (store.missing) return; // each test fails with the reason
      stack = await startStack({
        name: `wal-sync-${store.kind}`,
        store: store.kind,
        env: { ADMIN_TOKEN }, // default strategy, READ_CONSISTENCY, WAL_SYNC_INTERVAL
      });
    });

    after(async () => {
      await stack?.stop();
    });

    test('full client cycle through chroma-ha: the servers converge to identical contents', { timeout: 90000 }, async (t) => {
      if (store.missing) throw new Error(store.missing);
      const client = makeClient(stack.ha.url);
      const ids = new Set();

      const col = await client.createCollection({
        name: 'cycle-a',
        metadata: { team: 'search', version: 1 },
        embeddingFunction: null,
      });
      ids.add(col.id);
      const again = await client.getOrCreateCollection({ name: 'cycle-a', embeddingFunction: null });
      ids.add(again.id);
      assert.deepEqual(again.metadata, { team: 'search', version: 1 });
      const other = await client.getOrCreateCollection({
        name: 'cycle-other',
        metadata: { kind: 'other' },
        embeddingFunction: null,
      });
      const listed = (await client.listCollections()).map((c) => c.name).sort();
      assert.deepEqual(listed, ['cycle-a', 'cycle-other']);

      await col.add({
        ids: ['a', 'b', 'c', 'd', 'e'],
        embeddings: [
          [1, 0, 0],
          [0, 1, 0],
          [0, 0, 1],
          [1, 1, 0],
          [0, 1, 1],
        ],
        documents: ['alpha', 'bravo', 'charlie', 'delta', 'echo'],
        metadatas: [
          { k: 1, document_id: 'doc-1' },
          { k: 2, document_id: 'doc-1' },
          { k: 3, document_id: 'doc-2' },
          { k: 4, document_id: 'doc-3', tags: 'x' },
          { k: 5, document_id: 'doc-3' },
        ],
        uris: ['uri-a', 'uri-b', 'uri-c', 'uri-d', 'uri-e'],
      });
      assert.equal(await col.count(), 5);
      const all = await col.get({ include: ['documents', 'metadatas', 'embeddings'] });
      assert.deepEqual([...all.ids].sort(), ['a', 'b', 'c', 'd', 'e']);
      const byIds = await col.get({ ids: ['b', 'a'], include: ['documents'] });
      assert.deepEqual([...byIds.documents].sort(), ['alpha', 'bravo']);
      const q = await col.query({ queryEmbeddings: [[1, 0.2, 0]], nResults: 2 });
      assert.deepEqual(q.ids, [['a', 'd']]);

      await col.update({ ids: ['a'], embeddings: [[0.9, 0.1, 0]], documents: ['alpha-2'], metadatas: [{ k: 10, extra: 'x' }] });
      await col.upsert({
        ids: ['b', 'f'],
        embeddings: [
          [0, 1, 0.5],
          [1, 0, 1],
        ],
        documents: ['bravo-2', 'foxtrot'],
        metadatas: [{ k: 20 }, { k: 6, document_id: 'doc-4' }],
      });
      await col.delete({ ids: ['c'] });
      await col.delete({ where: { document_id: 'doc-3' } });
      assert.equal(await col.count(), 3);

      await col.modify({ name: 'cycle-b', metadata: { team: 'ranking' } });
      ids.add(col.id);
      // (Reading the collection by its new name right after the rename is the next test's subject;
      // here it is read after convergence.)

      // A collection created, written and deleted.
      const temp = await client.createCollection({ name: 'cycle-temp', embeddingFunction: null });
      await temp.add({ ids: ['t1', 't2'], embeddings: [[1, 2], [3, 4]] });
      await client.deleteCollection({ name: 'cycle-temp' });
      await col.add({ ids: ['g'], embeddings: [[0.5, 0.5, 0.5]], documents: ['golf'], metadatas: [{ k: 7 }] });

      // Error cases: answered like Chroma, rejected writes are not replayed.
      const statsBefore = await walStats(stack.ha);
      const dup = await rest(stack.ha.url, 'POST', `${TD}/collections`, { name: 'cycle-b' });
      assert.equal(dup.status, 409, dup.text);
      assert.equal(typeof dup.json?.error, 'string', dup.text);
      const oldName = await rest(stack.ha.url, 'GET', `${TD}/collections/cycle-a`);
      assert.equal(oldName.status, 404, oldName.text);
      const missing = await rest(stack.ha.url, 'GET', `${TD}/collections/no-such-collection`);
      assert.equal(missing.status, 404, missing.text);
      assert.equal(typeof missing.json?.error, 'string', missing.text);
      const delMissing = await rest(stack.ha.url, 'DELETE', `${TD}/collections/no-such-collection`);
      assert.equal(delMissing.status, 404, delMissing.text);

      // The last write.
      await other.add({ ids: ['o1'], embeddings: [[0.5, 0.25]], documents: ['other'], metadatas: [{ last: true }] });
      const tAck = performance.now();

      const { drainedMs, result } = await converge(stack, tAck);
      const identicalMs = performance.now() - tAck;
      const stats = await walStats(stack.ha);
      const figures = `convergence after the last acknowledged write (${store.kind}): WAL drained in ${drainedMs.toFixed(0)} ms, servers compared identical at ${identicalMs.toFixed(0)} ms; ${JSON.stringify(result.stats)}`;
      console.log(`# ${figures}`);
      t.diagnostic(figures);
      t.diagnostic(`wal/stats: ${JSON.stringify(stats)}`);
      assertIdentical(result, stack, 'after the full cycle');

      assert.ok(stats.rejected >= statsBefore.rejected + 2, `409 and 404 writes counted as rejected: ${JSON.stringify(stats)}`);
      assert.equal(stats.failed, 0, JSON.stringify(stats));

      const renamed = await client.getCollection({ name: 'cycle-b' });
      ids.add(renamed.id);
      assert.equal(ids.size, 1, `one collection id through chroma-ha: ${[...ids]}`);
      await assert.rejects(client.getCollection({ name: 'cycle-temp' }));

      // And the identical contents are the expected ones (not two equally wrong servers).
      const [snap] = result.snapshots;
      const cols = snap.default_tenant.default_database;
      assert.deepEqual(Object.keys(cols).sort(), ['cycle-b', 'cycle-other']);
      assert.deepEqual(cols['cycle-b'].metadata, { team: 'ranking' });
      assert.deepEqual(cols['cycle-other'].metadata, { kind: 'other' });
      const recs = cols['cycle-b'].records;
      assert.deepEqual([...recs.keys()].sort(), ['a', 'b', 'f', 'g']);
      assert.equal(recs.get('a').document, 'alpha-2');
      assert.deepEqual(recs.get('a').metadata, { k: 10, extra: 'x', document_id: 'doc-1' });
      assert.equal(recs.get('a').uri, 'uri-a');
      assert.equal(recs.get('b').document, 'bravo-2');
      assert.deepEqual(recs.get('b').metadata, { k: 20, document_id: 'doc-1' });
      assert.deepEqual(recs.get('f').metadata, { k: 6, document_id: 'doc-4' });
      assert.deepEqual([...cols['cycle-other'].records.keys()], ['o1']);
    });

    test('read-your-write for collection changes: create, rename, delete, then read by name at once', { timeout: 60000 }, async (t) => {
      if (store.missing) throw new Error(store.missing);
      // READ_CONSISTENCY=fresh promises that no client reads stale data. Reads of a collection by
      // name right after a create / rename / delete through chroma-ha must see that change.
      const client = makeClient(stack.ha.url);
      const wrong = [];
      const ROUNDS = 5;
      for (let k = 0; k < ROUNDS; k++) {
        const col = await client.createCollection({ name: `cc-${k}`, embeddingFunction: null });
        const afterCreate = await rest(stack.ha.url, 'GET', `${TD}/collections/cc-${k}`);
        if (afterCreate.status !== 200) wrong.push(`GET cc-${k} right after its create: ${afterCreate.status} ${afterCreate.text}`);
        await col.add({ ids: ['a', 'b'], embeddings: [[1, 2], [2, 3]] });
        await col.delete({ ids: ['a'] });
        const put = await rest(stack.ha.url, 'PUT', `${TD}/collections/${col.id}`, { new_name: `cc-${k}-new`, new_metadata: { k } });
        assert.equal(put.status, 200, put.text);
        const byNew = await rest(stack.ha.url, 'GET', `${TD}/collections/cc-${k}-new`);
        if (byNew.status !== 200) wrong.push(`GET cc-${k}-new right after PUT ${col.id} {new_name: cc-${k}-new}: ${byNew.status} ${byNew.text}`);
        const byOld = await rest(stack.ha.url, 'GET', `${TD}/collections/cc-${k}`);
        if (byOld.status !== 404) wrong.push(`GET cc-${k} (old name) right after the rename: ${byOld.status} (expected 404)`);
        const del = await rest(stack.ha.url, 'DELETE', `${TD}/collections/cc-${k}-new`);
        assert.equal(del.status, 200, del.text);
        const afterDelete = await rest(stack.ha.url, 'GET', `${TD}/collections/cc-${k}-new`);
        if (afterDelete.status !== 404) wrong.push(`GET cc-${k}-new right after its DELETE: ${afterDelete.status} (expected 404)`);
      }
      const line = `collection read-your-write (${store.kind}): ${wrong.length} stale reads of ${ROUNDS * 4}`;
      console.log(`# ${line}`);
      t.diagnostic(line);
      const { result } = await converge(stack, performance.now());
      assertIdentical(result, stack, 'after the collection changes');
      assert.equal(wrong.length, 0, `stale collection reads through chroma-ha (READ_CONSISTENCY=fresh):\n${wrong.join('\n')}`);
    });

    test('read-your-write: 200 x add then get by id through chroma-ha; replication lag', { timeout: 120000 }, async (t) => {
      if (store.missing) throw new Error(store.missing);
      const client = makeClient(stack.ha.url);
      const col = await client.createCollection({ name: 'ryw', embeddingFunction: null });
      const N = 200;
      const misses = [];
      const countsBefore = await requestCounts(stack.ha);
      const t0 = performance.now();
      for (let i = 0; i < N; i++) {
        const id = `ryw-${i}`;
        await col.add({ ids: [id], embeddings: [[i, 1, 0]], documents: [`doc ${i}`], metadatas: [{ i }] });
        const got = await col.get({ ids: [id], include: ['documents', 'metadatas'] });
        if (got.ids.length !== 1 || got.documents[0] !== `doc ${i}` || got.metadatas[0]?.i !== i) {
          misses.push({ i, got: { ids: got.ids, documents: got.documents, metadatas: got.metadatas } });
        }
      }
      const loopMs = performance.now() - t0;
      const stats = await walStats(stack.ha);
      const countsAfter = await requestCounts(stack.ha);
      const line = `read-your-write (${store.kind}): ${N} add+get pairs in ${loopMs.toFixed(0)} ms (${((N * 1000) / loopMs).toFixed(0)} pairs/s), ${misses.length} stale reads; requests primary +${countsAfter.primary - countsBefore.primary}, replica +${countsAfter.replica - countsBefore.replica}; fresh_reads_redirected=${stats.fresh_reads_redirected}`;
      console.log(`# ${line}`);
      t.diagnostic(line);
      assert.deepEqual(misses.slice(0, 5), [], `${misses.length} of ${N} reads did not see their write`);

      // Replication lag: from the 2xx of a write through chroma-ha to the record being readable
      // directly on the replica.
      const replicaCol = await waitFor(
        async () => {
          const r = await rest(stack.replica.url, 'GET', `${TD}/collections/ryw`);
          return r.status === 200 && r.json;
        },
        { timeoutMs: 15000, what: 'collection ryw on the replica' },
      );
      const SAMPLES = 50;
      const lags = [];
      for (let i = 0; i < SAMPLES; i++) {
        const id = `lag-${i}`;
        const w = await rest(stack.ha.url, 'POST', `${TD}/collections/${col.id}/add`, {
          ids: [id],
          embeddings: [[i, 2, 0]],
          documents: [`lag ${i}`],
        });
        const tAck = performance.now();
        assert.equal(w.status, 201, w.text);
        await waitFor(
          async () => {
            const g = await rest(stack.replica.url, 'POST', `${TD}/collections/${replicaCol.id}/get`, { ids: [id] });
            return g.status === 200 && g.json?.ids?.length === 1;
          },
          { timeoutMs: 15000, intervalMs: 2, what: `${id} readable on the replica` },
        );
        lags.push(performance.now() - tAck);
      }
      lags.sort((a, b) => a - b);
      const lagLine = `replication lag (${store.kind}, ${SAMPLES} sequential writes, 2xx -> readable on the replica): p50 ${percentile(lags, 50).toFixed(1)} ms, p99 ${percentile(lags, 99).toFixed(1)} ms, max ${lags[lags.length - 1].toFixed(1)} ms`;
      console.log(`# ${lagLine}`);
      t.diagnostic(lagLine);

      const tLast = performance.now();
      const { drainedMs, result } = await converge(stack, tLast);
      t.diagnostic(`drained ${drainedMs.toFixed(0)} ms after the last write`);
      assertIdentical(result, stack, 'after read-your-write');
      assert.equal(snapshotIds(result.snapshots[1], 'ryw').size, N + SAMPLES);
    });

    // SQLite: this process's counters decide, counted in /wal/stats fresh_reads_redirected.
    // PostgreSQL (a fleet may share it): the store decides, counted in /status
    // causal_reads.fresh_redirected.
    const redirects = async () =>
      store.kind === 'postgres'
        ? (await stack.ha.status()).causal_reads.fresh_redirected
        : (await walStats(stack.ha)).fresh_reads_redirected;
    test('reads sent to the primary by READ_CONSISTENCY=fresh are counted', { timeout: 30000 }, async (t) => {
      if (store.missing) throw new Error(store.missing);
      // Make sure the replica is stale for this collection: several writes back to back, then a
      // read at once. Whether the read went to the primary is seen in /status request counts.
      const client = makeClient(stack.ha.url);
      const col = await client.createCollection({ name: 'fresh-count', embeddingFunction: null });
      await waitWalDrained(stack.ha);
      let redirectedReads = 0;
      const before = await redirects();
      for (let i = 0; i < 10; i++) {
        await col.add({ ids: [`f-${i}`], embeddings: [[i, 1]] });
        const c0 = await requestCounts(stack.ha);
        const got = await col.get({ ids: [`f-${i}`] });
        const c1 = await requestCounts(stack.ha);
        assert.deepEqual(got.ids, [`f-${i}`]);
        // /status itself is not counted as an instance request.
        if (c1.primary > c0.primary) redirectedReads++;
      }
      const after = await redirects();
      const line = `fresh reads (${store.kind}): ${redirectedReads} of 10 reads right after a write were served by the primary; redirects counted ${before} -> ${after}`;
      console.log(`# ${line}`);
      t.diagnostic(line);
      if (redirectedReads > 0) {
        assert.ok(
          after - before >= redirectedReads,
          `${redirectedReads} reads were redirected to the primary, but the count went ${before} -> ${after}`,
        );
      }
      await waitWalDrained(stack.ha);
    });

    test('a database created with the admin token and its collections reach the replica', { timeout: 60000 }, async () => {
      if (store.missing) throw new Error(store.missing);
      const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
      const created = await rest(stack.ha.url, 'POST', '/api/v2/tenants/default_tenant/databases', { name: 'e2e_db2' }, auth);
      assert.equal(created.status, 200, created.text);
      const c2 = new ChromaClient({
        host: '127.0.0.1',
        port: stack.ha.port,
        ssl: false,
        database: 'e2e_db2',
      });
      const col = await c2.createCollection({ name: 'in-db2', metadata: { db: 2 }, embeddingFunction: null });
      await col.add({ ids: ['x1', 'x2'], embeddings: [[1, 0], [0, 1]], documents: ['x1', 'x2'] });
      const { result } = await converge(stack, performance.now());
      assertIdentical(result, stack, 'after creating a database');
      assert.deepEqual([...snapshotIds(result.snapshots[1], 'in-db2', { database: 'e2e_db2' })].sort(), ['x1', 'x2']);
    });

    test('deletion conversion: chunks with other ids on the replica are deleted by document_id, nothing else', { timeout: 60000 }, async () => {
      if (store.missing) throw new Error(store.missing);
      const name = 'dc-chunks';
      const emb = (i) => [i, 1, 0.5];
      const docs = ['doc-a', 'doc-a', 'doc-b', 'doc-c'];
      const seed = async (url, prefix) => {
        const col = await makeClient(url).createCollection({ name, embeddingFunction: null });
        await col.add({
          ids: [1, 2, 3, 4].map((i) => `${prefix}-${i}`).concat(['u-1', 'u-2']),
          embeddings: [1, 2, 3, 4, 5, 6].map(emb),
          documents: ['a1', 'a2', 'b1', 'c1', 'unrelated 1', 'unrelated 2'],
          metadatas: docs.map((d, i) => ({ document_id: d, chunk: i })).concat([{ document_id: 'doc-z' }, { other: 1 }]),
        });
      };
      await seed(stack.primary.url, 'p');
      await seed(stack.replica.url, 'r');
      const before = await walStats(stack.ha);

      const col = await makeClient(stack.ha.url).getCollection({ name, embeddingFunction: null });
      await col.delete({ ids: ['p-1', 'p-2'] }); // the chunks of doc-a, by the primary's ids
      let { result } = await converge(stack, performance.now());
      let [p, r] = result.snapshots;
      assert.deepEqual([...snapshotIds(p, name)].sort(), ['p-3', 'p-4', 'u-1', 'u-2']);
      assert.deepEqual([...snapshotIds(r, name)].sort(), ['r-3', 'r-4', 'u-1', 'u-2'], stack.ha.logTail(20));
      const mid = await walStats(stack.ha);
      assert.ok(mid.deletion_conversions >= before.deletion_conversions + 1, `deletion_conversions ${before.deletion_conversions} -> ${mid.deletion_conversions}`);

      // Mixed: u-1 exists on the replica (deleted by id), p-3 does not (its document doc-b is).
      await col.delete({ ids: ['p-3', 'u-1'] });
      ({ result } = await converge(stack, performance.now()));
      [p, r] = result.snapshots;
      assert.deepEqual([...snapshotIds(p, name)].sort(), ['p-4', 'u-2']);
      assert.deepEqual([...snapshotIds(r, name)].sort(), ['r-4', 'u-2'], stack.ha.logTail(20));
      const end = await walStats(stack.ha);
      assert.ok(end.deletion_conversions >= mid.deletion_conversions + 1, `deletion_conversions ${mid.deletion_conversions} -> ${end.deletion_conversions}`);
      assert.equal(end.failed, 0, JSON.stringify(end));
      // Everything else is still identical.
      const otherDiffs = result.differences.filter((d) => !d.includes(`/${name}`));
      assert.deepEqual(otherDiffs, []);
    });
  });
}
