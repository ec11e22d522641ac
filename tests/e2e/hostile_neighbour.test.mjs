// Hostile neighbour (issue 10, item 1): malformed writes sent next to good ones must not fail the
// good ones. 300 good `add`s through chroma-ha (two real Chroma servers) go out concurrently with
// 300 `DELETE .../collections/%FF%FE` (a collection segment that is not UTF-8, no credentials
// needed). Every good write is answered 2xx, every hostile one 400 with a JSON error body, and
// none of the hostile ones counts as a WAL failure (/wal/stats). Before the classifier refused
// such segments, the store rejected the hostile entry and the group committer failed the whole
// batch with it: about half of the good writes were answered 503.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TD, http, makeClient, startStack, waitWalDrained, walStats, walStores } from './harness.mjs';

const GOOD = 300;
const HOSTILE = 300;
const COL = 'neighbour';

for (const store of walStores()) describe(`hostile neighbour, ${store.kind} WAL`, () => {
  let stack;
  let colId;

  before(async () => {
    if (store.missing) return; // the test fails with the reason
    // All 600 requests are admitted at once (the default cap, 128 per core, would refuse some of
    // the good writes with 503 on a small machine: that bound is tested on its own).
    stack = await startStack({ name: 'hostile-neighbour', store: store.kind, env: { MAX_CONCURRENT_REQUESTS: String(2 * (GOOD + HOSTILE)) } });
    const col = await stack.client().createCollection({ name: COL, embeddingFunction: null });
    colId = col.id;
    await waitWalDrained(stack.ha);
  });

  after(async () => {
    await stack?.stop();
  });

  test(`${GOOD} good adds next to ${HOSTILE} non-UTF-8 collection deletes: 0 good writes fail`, async () => {
    if (store.missing) throw new Error(store.missing);
    const base = stack.ha.url;
    const before = await walStats(stack.ha);
    const good = (i) =>
      http(`${base}${TD}/collections/${colId}/add`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ids: [`g${i}`], embeddings: [[i, 1, 0]], documents: [`doc ${i}`] }),
        timeoutMs: 60000,
      });
    const hostile = () => http(`${base}${TD}/collections/%FF%FE`, { method: 'DELETE', timeoutMs: 60000 });
    const sends = [];
    for (let i = 0; i < Math.max(GOOD, HOSTILE); ++i) {
      if (i < GOOD) sends.push(good(i).then((r) => ({ kind: 'good', r })));
      if (i < HOSTILE) sends.push(hostile().then((r) => ({ kind: 'hostile', r })));
    }
    const results = await Promise.all(sends);

    const goodFailed = results.filter((x) => x.kind === 'good' && (x.r.status < 200 || x.r.status > 299));
    const hostileWrong = results.filter(
      (x) =>
        x.kind === 'hostile' &&
        !(x.r.status === 400 && x.r.json?.error === 'InvalidArgumentError' && typeof x.r.json?.message === 'string'),
    );
    const byStatus = (list) => list.reduce((m, x) => ({ ...m, [x.r.status]: (m[x.r.status] ?? 0) + 1 }), {});
    const afterStats = await walStats(stack.ha);
    const walFailures = afterStats.wal_write_failures - before.wal_write_failures;
    console.log(
      `# good writes not 2xx: ${goodFailed.length}/${GOOD} ${JSON.stringify(byStatus(goodFailed))}; ` +
        `hostile not 400 JSON: ${hostileWrong.length}/${HOSTILE} ${JSON.stringify(byStatus(hostileWrong))}; ` +
        `WAL failures counted: ${walFailures}`,
    );
    assert.equal(goodFailed.length, 0, `good writes failed: ${JSON.stringify(byStatus(goodFailed))}, e.g. ${goodFailed[0]?.r.text}`);
    assert.equal(hostileWrong.length, 0, `hostile requests not 400 JSON: ${JSON.stringify(byStatus(hostileWrong))}, e.g. ${hostileWrong[0]?.r.text}`);

    assert.equal(walFailures, 0, 'no WAL failure counted');
    assert.equal(afterStats.appended - before.appended, GOOD, 'only the good writes were appended');

    // Every good record is on both instances once the WAL drained.
    await waitWalDrained(stack.ha);
    for (const s of [stack.primary, stack.replica]) {
      const col = await makeClient(s.url).getCollection({ name: COL, embeddingFunction: null });
      assert.equal(await col.count(), GOOD, `records on ${s.url}`);
    }
  });
});
