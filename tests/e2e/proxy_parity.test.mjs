// The same client cycle, once directly against a fresh Chroma server and once through chroma-ha
// (primary_only, in front of its own fresh pair), must give the same results. Collection ids differ
// between servers and are compared separately: through chroma-ha one collection keeps one id.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TD, http, makeClient, makeTempDir, startChroma, startStack } from './harness.mjs';

const EMB = {
  a: [1, 0, 0],
  b: [0, 1, 0],
  c: [0, 0, 1],
  d: [1, 1, 0],
  e: [0, 1, 1],
  f: [1, 0, 1],
};

// Plain data of a collection object, without its id.
function shape(col) {
  return { name: col.name, metadata: col.metadata ?? null };
}

async function expectError(fn) {
  try {
    await fn();
  } catch (e) {
    return { error: e.name, message: e.message };
  }
  return { error: 'none: the call succeeded' };
}

// Runs the cycle against `url`; returns {steps: [[label, result]...], ids: [[label, id]...]}.
async function runCycle(url) {
  const client = makeClient(url);
  const steps = [];
  const ids = [];
  const step = (label, value) => steps.push([label, JSON.parse(JSON.stringify(value ?? null))]);
  const seeId = (label, id) => ids.push([label, id]);

  const col = await client.createCollection({
    name: 'parity-a',
    metadata: { team: 'search', version: 1 },
    embeddingFunction: null,
  });
  step('createCollection', shape(col));
  seeId('createCollection', col.id);

  const again = await client.getOrCreateCollection({ name: 'parity-a', embeddingFunction: null });
  step('getOrCreateCollection existing', shape(again));
  seeId('getOrCreateCollection', again.id);

  const other = await client.getOrCreateCollection({
    name: 'parity-other',
    metadata: { kind: 'other' },
    embeddingFunction: null,
  });
  step('getOrCreateCollection new', shape(other));

  const listed = await client.listCollections();
  step('listCollections', listed.map(shape).sort((x, y) => x.name.localeCompare(y.name)));
  for (const c of listed) if (c.name === 'parity-a') seeId('listCollections', c.id);

  await col.add({
    ids: ['a', 'b', 'c', 'd', 'e'],
    embeddings: ['a', 'b', 'c', 'd', 'e'].map((k) => EMB[k]),
    documents: ['alpha', 'bravo', 'charlie', 'delta', 'echo'],
    metadatas: [
      { k: 1, document_id: 'doc-1' },
      { k: 2, document_id: 'doc-1' },
      { k: 3, document_id: 'doc-2' },
      { k: 4, document_id: 'doc-3' },
      { k: 5, document_id: 'doc-3' },
    ],
  });
  step('count after add', await col.count());
  step('get all', await col.get({ include: ['documents', 'metadatas', 'embeddings'] }));
  step('get by ids', await col.get({ ids: ['b', 'a'], include: ['documents', 'metadatas'] }));
  step('get by where', await col.get({ where: { document_id: 'doc-3' }, include: ['metadatas'] }));
  step(
    'query',
    await col.query({
      queryEmbeddings: [[1, 0.2, 0], [0.1, 0, 1]], // no ties in the first 3
      nResults: 3,
      include: ['documents', 'metadatas', 'distances'],
    }),
  );
  step(
    'query with where',
    await col.query({ queryEmbeddings: [[1, 0, 0]], nResults: 2, where: { k: { $gte: 3 } } }),
  );

  await col.update({
    ids: ['a'],
    embeddings: [[0.9, 0.1, 0]],
    documents: ['alpha-2'],
    metadatas: [{ k: 10, extra: 'x' }],
  });
  step('get after update', await col.get({ ids: ['a'], include: ['documents', 'metadatas'] }));

  await col.upsert({
    ids: ['b', 'f'],
    embeddings: [EMB.b, EMB.f],
    documents: ['bravo-2', 'foxtrot'],
    metadatas: [{ k: 20 }, { k: 6, document_id: 'doc-4' }],
  });
  step('count after upsert', await col.count());
  step('get after upsert', await col.get({ include: ['documents', 'metadatas'] }));

  await col.delete({ ids: ['c'] });
  step('count after delete ids', await col.count());
  await col.delete({ where: { document_id: 'doc-3' } });
  step('count after delete where', await col.count());
  step('get after deletes', await col.get({ include: ['documents', 'metadatas'] }));

  await col.modify({ name: 'parity-b', metadata: { team: 'ranking' } });
  step('collection after modify', shape(col));
  seeId('after modify', col.id);

  const renamed = await client.getCollection({ name: 'parity-b' });
  step('getCollection renamed', shape(renamed));
  seeId('getCollection renamed', renamed.id);
  step('count via renamed', await renamed.count());

  step('getCollection old name', await expectError(() => client.getCollection({ name: 'parity-a' })));
  step(
    'createCollection existing',
    await expectError(() => client.createCollection({ name: 'parity-b', embeddingFunction: null })),
  );
  step('getCollection missing', await expectError(() => client.getCollection({ name: 'no-such-collection' })));

  // The same errors over plain REST: status and JSON body.
  const dup = await http(`${url}${TD}/collections`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'parity-b' }),
  });
  step('REST create existing', { status: dup.status, body: dup.json });
  const missing = await http(`${url}${TD}/collections/no-such-collection`);
  step('REST get missing', { status: missing.status, body: missing.json });
  const got = await http(`${url}${TD}/collections/parity-b`);
  const { id: restId, ...restCollection } = got.json ?? {};
  step('REST get collection', { status: got.status, body: restCollection });
  seeId('REST get collection', restId);

  await client.deleteCollection({ name: 'parity-b' });
  step(
    'listCollections after delete',
    (await client.listCollections()).map(shape).sort((x, y) => x.name.localeCompare(y.name)),
  );
  step('getCollection deleted', await expectError(() => client.getCollection({ name: 'parity-b' })));
  await client.deleteCollection({ name: 'parity-other' });
  step('collection count at end', await client.countCollections());

  return { steps, ids };
}

describe('proxy parity (primary_only)', () => {
  let direct;
  let stack;
  let reference;

  before(async () => {
    direct = await startChroma({ dir: makeTempDir('parity-direct'), name: 'direct' });
  });

  after(async () => {
    await direct?.destroy();
    await stack?.stop();
  });

  test('reference cycle directly against Chroma', { timeout: 60000 }, async () => {
    reference = await runCycle(direct.url);
    if (process.env.E2E_VERBOSE) console.log(JSON.stringify(reference, null, 1));
    // Sanity: the direct server itself keeps one id per collection.
    assert.equal(new Set(reference.ids.map(([, id]) => id)).size, 1, JSON.stringify(reference.ids));
  });

  test('the same cycle through chroma-ha gives the same results', { timeout: 90000 }, async () => {
    assert.ok(reference, 'the reference cycle must have run');
    stack = await startStack({ name: 'parity', env: { LOAD_BALANCE_STRATEGY: 'primary_only' } });
    let proxied;
    try {
      proxied = await runCycle(stack.ha.url);
    } catch (e) {
      throw new Error(`${e.stack}\n${stack.ha.logTail()}`);
    }
    assert.equal(proxied.steps.length, reference.steps.length);
    for (let i = 0; i < reference.steps.length; i++) {
      assert.deepEqual(proxied.steps[i], reference.steps[i], `step ${reference.steps[i][0]}`);
    }
    // One collection, one id, whichever call returned it.
    const seen = new Set(proxied.ids.map(([, id]) => id));
    assert.equal(seen.size, 1, `ids seen through chroma-ha: ${JSON.stringify(proxied.ids)}`);
    assert.ok(stack.ha.alive(), 'chroma-ha is still running');
  });
});
