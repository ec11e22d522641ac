// Two chroma-ha processes on one PostgreSQL WAL, and a forward slower than recovery's age limit
// (docs/design.md "Fleet", "Recovery and live writers"). The second proxy reaches the primary
// through a relay that holds its writes back for 4 s; the first holds the recovery lease and runs
// recovery every second. An upsert of record x through the second proxy is still on its way to
// the primary when an upsert of x through the first is appended after it.
//
// Recovery used to resolve every pending entry older than 2 s: it sent the slow entry to the
// primary itself, which let the later upsert go; then the slow original landed and undid the
// later upsert on the primary, while the replica (replayed in WAL order) kept it. Entries now
// record the member that appended them, and recovery leaves a live member's entries to it: the
// later upsert waits for the slow one's outcome, and both instances end with its value.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDelayingRelay } from './delay_relay.mjs';
import { ChromaHa, TD, freePort, http, startStack, waitFor, waitWalDrained, walStats, walStatus, walStores } from './harness.mjs';

const JSON_HEADERS = { 'content-type': 'application/json' };
const SLOW_MS = 4000; // > recovery's 2 s age limit + a recovery round (WAL_SYNC_INTERVAL=1)

async function post(url, p, body, timeoutMs = 30000) {
  const r = await http(`${url}${p}`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(body), timeoutMs });
  assert.ok(r.status >= 200 && r.status < 300, `${p}: ${r.status} ${r.text}`);
  return r.json;
}

// Record `id`'s document on one Chroma server itself (not through a proxy).
async function documentOn(serverUrl, name, id) {
  const c = await http(`${serverUrl}${TD}/collections/${name}`);
  assert.equal(c.status, 200, `${serverUrl}: collection ${name}: ${c.status} ${c.text}`);
  const got = await post(serverUrl, `${TD}/collections/${c.json.id}/get`, { ids: [id], include: ['documents'] });
  return got.documents?.[0];
}

const pg = walStores().find((s) => s.kind === 'postgres');

describe('a fleet: a forward slower than recovery is left to its live writer', () => {
  if (!pg) return; // walStores() printed why (no PostgreSQL configured, none required)
  let stack;
  let relay;
  let slowProxy;
  before(async () => {
    if (pg.missing) throw new Error(pg.missing);
    // The first proxy starts first, so it holds every lease (recovery included).
    stack = await startStack({ name: 'fleet-slow', store: 'postgres', env: { WAL_SYNC_INTERVAL: '1' } });
    relay = await startDelayingRelay(stack.primary.port, SLOW_MS);
    const port = await freePort();
    slowProxy = new ChromaHa({
      port,
      env: { ...stack.ha.env, PORT: String(port), PRIMARY_URL: relay.url },
      logBase: path.join(stack.dir, 'chroma-ha-slow'),
    });
    await slowProxy.start();
    await slowProxy.waitAllHealthy();
    await waitFor(
      async () => {
        const s = await walStatus(stack.ha);
        return (s.leases ?? []).some((l) => l.name === 'recovery' && l.mine) && (s.members ?? []).filter((m) => m.live).length === 2;
      },
      { timeoutMs: 15000, what: 'the first proxy holding the recovery lease, two live members' },
    );
  });
  after(async () => {
    await slowProxy?.stop();
    await relay?.close();
    await stack?.stop();
  });

  test(`an upsert held ${SLOW_MS} ms on its way to the primary is not sent by recovery; the later upsert of its record wins on both instances`, async () => {
    const fast = stack.ha.url;
    await post(fast, `${TD}/collections`, { name: 'slowfwd' });
    const id = (await http(`${fast}${TD}/collections/slowfwd`)).json.id;
    await post(fast, `${TD}/collections/${id}/add`, { ids: ['x'], embeddings: [[1, 2, 3]], documents: ['v0'] });
    const recoveredBefore = (await walStats(stack.ha)).recovered;

    // Through the slow proxy: appended at once, held by the relay for SLOW_MS.
    const slowWrite = post(slowProxy.url, `${TD}/collections/${id}/upsert`, { ids: ['x'], embeddings: [[1, 2, 3]], documents: ['slow'] });
    await waitFor(async () => relay.stats.delayed === 1, { timeoutMs: 10000, intervalMs: 10, what: 'the slow upsert at the relay' });
    // Appended after it (its entry is pending: this one waits for its outcome before it is sent).
    const t0 = Date.now();
    await post(fast, `${TD}/collections/${id}/upsert`, { ids: ['x'], embeddings: [[1, 2, 3]], documents: ['fast'] });
    const waitedMs = Date.now() - t0;
    await slowWrite;
    console.log(`# the later upsert waited ${waitedMs} ms for the slow one's outcome`);

    await waitWalDrained(stack.ha, { timeoutMs: 30000 });
    assert.equal(await documentOn(stack.replica.url, 'slowfwd', 'x'), 'fast', 'the replica, replayed in WAL order');
    assert.equal(await documentOn(stack.primary.url, 'slowfwd', 'x'), 'fast', 'the primary: the slow upsert landed after the later one');
    assert.equal((await walStats(stack.ha)).recovered, recoveredBefore, 'recovery sent an entry its live writer was carrying');
    assert.equal(relay.stats.delayed, 1);
  });
});
