// Reads go to the replica under the default strategy (optimized_read_replica), and the client sees
// one id per collection although each server gave the collection its own UUID.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SEED, makeClient, requestCounts, seedDirect, startStack } from './harness.mjs';

describe('read routing (optimized_read_replica)', () => {
  let stack;
  const serverIds = {};

  before(async () => {
    stack = await startStack({ name: 'routing' });
    serverIds.primary = await seedDirect(stack.primary.url);
    serverIds.replica = await seedDirect(stack.replica.url);
  });

  after(async () => {
    await stack?.stop();
  });

  test('seeded servers gave the collection different ids', () => {
    assert.notEqual(serverIds.primary, serverIds.replica);
  });

  test('/status reports both instances, their roles and the strategy', async () => {
    const s = await stack.ha.status();
    assert.equal(s.strategy, 'optimized_read_replica');
    assert.equal(typeof s.version, 'string');
    const roles = s.instances.map((i) => i.role).sort();
    assert.deepEqual(roles, ['primary', 'replica']);
    for (const i of s.instances) {
      assert.equal(typeof i.name, 'string');
      assert.equal(typeof i.url, 'string');
      assert.equal(i.healthy, true, JSON.stringify(i));
    }
    assert.equal(s.instances.find((i) => i.role === 'primary').url, stack.primary.url);
    assert.equal(s.instances.find((i) => i.role === 'replica').url, stack.replica.url);
  });

  test('reads through chroma-ha go to the replica and return the seeded data', { timeout: 30000 }, async () => {
    const client = makeClient(stack.ha.url);
    // Let chroma-ha learn the collection (name -> per-instance ids) before counting.
    const warm = await client.getCollection({ name: SEED.name });
    assert.ok(warm.id);

    const before = await requestCounts(stack.ha);
    const col = await client.getCollection({ name: SEED.name });
    const got = await col.get({ include: ['documents', 'metadatas', 'embeddings'] });
    assert.deepEqual(got.ids, SEED.records.ids);
    assert.deepEqual(got.documents, SEED.records.documents);
    assert.deepEqual(got.metadatas, SEED.records.metadatas);
    assert.deepEqual(got.embeddings, SEED.records.embeddings);

    const q = await col.query({ queryEmbeddings: [[0, 0.9, 0.1, 0]], nResults: 2 });
    assert.deepEqual(q.ids, [['r2', 'r3']]);

    assert.equal(await col.count(), 3);
    const listed = await client.listCollections();
    assert.deepEqual(listed.map((c) => c.name), [SEED.name]);
    const reads = 5; // getCollection, get, query, count, listCollections

    const afterCounts = await requestCounts(stack.ha);
    assert.ok(
      afterCounts.replica - before.replica >= reads,
      `replica requests went ${before.replica} -> ${afterCounts.replica}, expected +${reads}`,
    );
    assert.equal(
      afterCounts.primary,
      before.primary,
      `primary requests went ${before.primary} -> ${afterCounts.primary}; reads must not reach it`,
    );
  });

  test('the client sees one stable id for the collection', { timeout: 30000 }, async () => {
    const client = makeClient(stack.ha.url);
    const ids = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await client.getCollection({ name: SEED.name })).id);
      const listed = await client.listCollections();
      ids.push(listed.find((c) => c.name === SEED.name)?.id);
      ids.push((await client.getOrCreateCollection({ name: SEED.name, embeddingFunction: null })).id);
    }
    assert.equal(new Set(ids).size, 1, `ids seen: ${JSON.stringify(ids)}`);
    assert.ok(
      [serverIds.primary, serverIds.replica].includes(ids[0]),
      `the canonical id ${ids[0]} is one of the servers' ids ${JSON.stringify(serverIds)}`,
    );
    // Operations by that id work whichever instance serves them.
    const col = await client.getCollection({ name: SEED.name });
    assert.equal(await col.count(), 3);
  });
});
