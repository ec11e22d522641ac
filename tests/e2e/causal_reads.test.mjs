// Causal reads (issue 11 item 5): every write answered 2xx carries X-Chroma-HA-Seq; a read that
// sends it back as X-Chroma-HA-Min-Seq is served only by an instance that has applied the
// collection's entries up to that sequence. Real Chroma servers; the replica sits behind an
// HTTP relay that holds every replayed write for REPLAY_DELAY_MS (reads pass at once), so the
// replica is always behind right after a write and READ_CONSISTENCY=eventual sends reads to it.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChromaClient } from 'chromadb';
import { startDelayingRelay } from './delay_relay.mjs';
import { TD, http as request, makeTempDir, startChroma, startChromaHa, waitWalDrained } from './harness.mjs';

const REPLAY_DELAY_MS = 300;
const ROUNDS = 200;
const CONTROL_ROUNDS = 10;

const JSON_CT = { 'content-type': 'application/json' };

describe('causal reads with X-Chroma-HA-Min-Seq', () => {
  let primary;
  let replica;
  let relay;
  let ha;
  let collectionId;

  before(async () => {
    const dir = makeTempDir('causal');
    [primary, replica] = await Promise.all([
      startChroma({ dir, name: 'primary' }),
      startChroma({ dir, name: 'replica' }),
    ]);
    relay = await startDelayingRelay(replica.port, REPLAY_DELAY_MS);
    ha = await startChromaHa({
      dir,
      primaryUrl: primary.url,
      replicaUrl: relay.url,
      env: { READ_CONSISTENCY: 'eventual', CAUSAL_WAIT_MS: '20' },
    });
    await ha.waitAllHealthy();
    const created = await request(`${ha.url}${TD}/collections`, {
      method: 'POST',
      headers: JSON_CT,
      body: JSON.stringify({ name: 'causal' }),
    });
    assert.equal(created.status, 200, created.text);
    collectionId = created.json.id;
  });

  after(async () => {
    await ha?.stop();
    await relay?.close();
    await Promise.all([primary?.destroy(), replica?.destroy()]);
  });

  async function add(id) {
    const r = await request(`${ha.url}${TD}/collections/${collectionId}/add`, {
      method: 'POST',
      headers: JSON_CT,
      body: JSON.stringify({ ids: [id], embeddings: [[1, 2, 3]], documents: [id] }),
    });
    assert.equal(r.status, 201, `add ${id}: ${r.status} ${r.text}`);
    return r;
  }

  async function get(id, headers = {}) {
    const r = await request(`${ha.url}${TD}/collections/${collectionId}/get`, {
      method: 'POST',
      headers: { ...JSON_CT, ...headers },
      body: JSON.stringify({ ids: [id] }),
    });
    assert.equal(r.status, 200, `get ${id}: ${r.status} ${r.text}`);
    return r.json.ids.includes(id);
  }

  test('without the token, reads right after a write go to the lagging replica (the control)', async () => {
    let stale = 0;
    for (let i = 0; i < CONTROL_ROUNDS; i += 1) {
      await add(`control-${i}`);
      if (!(await get(`control-${i}`))) stale += 1;
    }
    assert.ok(stale > 0, `the relay must make the replica lag: ${stale} stale of ${CONTROL_ROUNDS}`);
  });

  test(`with the token: 0 stale reads of ${ROUNDS}, and the tokens increase`, async () => {
    let stale = 0;
    let last = 0;
    const t0 = Date.now();
    for (let i = 0; i < ROUNDS; i += 1) {
      const w = await add(`causal-${i}`);
      const seq = Number(w.headers.get('x-chroma-ha-seq'));
      assert.ok(Number.isSafeInteger(seq) && seq > last, `X-Chroma-HA-Seq ${w.headers.get('x-chroma-ha-seq')} after ${last}`);
      last = seq;
      if (!(await get(`causal-${i}`, { 'X-Chroma-HA-Min-Seq': String(seq) }))) stale += 1;
    }
    const ms = Date.now() - t0;
    assert.equal(stale, 0, `${stale} stale reads of ${ROUNDS} with the token`);
    const status = await ha.status();
    const c = status.causal_reads;
    assert.equal(c.reads, ROUNDS, JSON.stringify(c));
    assert.equal(c.timeouts, 0, JSON.stringify(c));
    assert.ok(c.redirected > 0, `the primary served what the replica had not applied: ${JSON.stringify(c)}`);
    console.log(`causal reads: ${ROUNDS} write+read rounds in ${ms} ms, 0 stale; ${JSON.stringify(c)}; relay ${JSON.stringify(relay.stats)}`);
  });

  // The official clients cannot read a response header, but they send static headers on every
  // request: `X-Chroma-HA-Min-Seq: latest` gives read-your-writes without handling tokens.
  test('the official JS client with a static "latest" header: 0 stale reads of 50', async () => {
    const u = new URL(ha.url);
    const client = new ChromaClient({
      host: u.hostname,
      port: Number(u.port),
      ssl: false,
      headers: { 'X-Chroma-HA-Min-Seq': 'latest' },
    });
    const col = await client.getCollection({ name: 'causal' });
    let stale = 0;
    for (let i = 0; i < 50; i += 1) {
      await col.add({ ids: [`latest-${i}`], embeddings: [[4, 5, 6]], documents: ['x'] });
      const got = await col.get({ ids: [`latest-${i}`] });
      if (!got.ids.includes(`latest-${i}`)) stale += 1;
    }
    assert.equal(stale, 0, `${stale} stale reads of 50 with X-Chroma-HA-Min-Seq: latest`);
  });

  test('a token the replica has applied is served by the replica', async () => {
    const w = await add('settled');
    const seq = w.headers.get('x-chroma-ha-seq');
    const before = (await ha.status()).causal_reads;
    await waitWalDrained(ha, { timeoutMs: 60000 });  // the replica has applied everything
    assert.equal(await get('settled', { 'X-Chroma-HA-Min-Seq': seq }), true);
    const after = (await ha.status()).causal_reads;
    assert.equal(after.immediate, before.immediate + 1, JSON.stringify(after));
  });

  test('a malformed token is 400 JSON', async () => {
    const r = await request(`${ha.url}${TD}/collections/${collectionId}/get`, {
      method: 'POST',
      headers: { ...JSON_CT, 'X-Chroma-HA-Min-Seq': 'yesterday' },
      body: JSON.stringify({ ids: ['x'] }),
    });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json?.error, 'InvalidArgumentError', r.text);
    assert.match(r.json.message, /X-Chroma-HA-Seq/);
  });
});
