// `chroma-ha verify`: two real Chroma servers compared record by record by the binary.
// Identical → "converged", exit 0; one extra record → exit 1 naming it; --wait converges once a
// background fix lands; an unreachable instance → exit 2; the configured URLs are the default.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runChromaHa } from './diverge.mjs';
import { SEED, http, makeClient, makeTempDir, freePort, seedDirect, startChroma } from './harness.mjs';

// Runs `chroma-ha verify ARGS`; resolves {code, stdout, stderr}.
const runVerify = (args, options) => runChromaHa(['verify', ...args], options);

// A collection larger than one verify page (--page-size 7), with every field set.
const PAGED = {
  name: 'paged',
  metadata: { kind: 'paged', nested_ok: 'yes' },
  records: {
    ids: Array.from({ length: 23 }, (_, i) => `p${String(i).padStart(2, '0')}`),
    embeddings: Array.from({ length: 23 }, (_, i) => [i * 0.1, 1 - i * 0.01, 0.5]),
    documents: Array.from({ length: 23 }, (_, i) => `document ${i}`),
    metadatas: Array.from({ length: 23 }, (_, i) => ({ i, even: i % 2 === 0, label: `l${i}` })),
    uris: Array.from({ length: 23 }, (_, i) => `s3://bucket/${i}`),
  },
};

async function addDirect(url, name, records) {
  const col = await makeClient(url).getCollection({ name, embeddingFunction: null });
  await col.add(records);
}

describe('chroma-ha verify', () => {
  let a;
  let b;
  const dir = makeTempDir('verify');

  before(async () => {
    [a, b] = await Promise.all([startChroma({ dir, name: 'a' }), startChroma({ dir, name: 'b' })]);
    for (const s of [a, b]) {
      await seedDirect(s.url);
      await seedDirect(s.url, PAGED);
      // A second database with a collection, and a second tenant (compared with --tenant).
      let r = await http(`${s.url}/api/v2/tenants/default_tenant/databases`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'second_db' }),
      });
      assert.equal(r.status, 200, r.text);
      r = await http(`${s.url}/api/v2/tenants/default_tenant/databases/second_db/collections`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'in-second', metadata: { b: 2, a: 1 } }),
      });
      assert.equal(r.status, 200, r.text);
    }
    const r = await http(`${a.url}/api/v2/tenants`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'only_on_a' }),
    });
    assert.equal(r.status, 200, r.text);
  });

  after(async () => {
    await Promise.all([a?.destroy(), b?.destroy()]);
  });

  test('identical servers: converged, exit 0 (paged reads)', async () => {
    const res = await runVerify([a.url, b.url, '--page-size', '7']);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /^converged: 2 instances, 2 databases, 3 collections, 26 records/);
  });

  test('configured PRIMARY_URL / REPLICA_URL are the default instances', async () => {
    const res = await runVerify([], { env: { PRIMARY_URL: a.url, REPLICA_URL: b.url } });
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /^converged/);
  });

  test('a tenant on one server only is a difference', async () => {
    const res = await runVerify([a.url, b.url, '--tenant', 'only_on_a']);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /^1 difference\n/);
    assert.ok(res.stdout.includes(`tenant only_on_a only on ${a.url}`), res.stdout);
  });

  test('one extra record on one server: exit 1 and the difference named', async () => {
    await addDirect(b.url, SEED.name, {
      ids: ['extra'],
      embeddings: [[0, 0, 0, 1]],
      documents: ['extra doc'],
    });
    const res = await runVerify([a.url, b.url, '--page-size', '2']);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /^1 difference\n/);
    assert.ok(
      res.stdout.includes(`default_tenant/default_database/${SEED.name} id "extra" only on ${b.url}`),
      res.stdout,
    );
    assert.ok(!/converged/.test(res.stdout), res.stdout);
  });

  test('--wait: converges once a background fix lands', async () => {
    const t0 = Date.now();
    const running = runVerify([a.url, b.url, '--wait', '30']);
    setTimeout(() => {
      addDirect(a.url, SEED.name, { ids: ['extra'], embeddings: [[0, 0, 0, 1]], documents: ['extra doc'] }).catch(
        (e) => console.error(`background fix failed: ${e.message}`),
      );
    }, 1500);
    const res = await running;
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /^converged/);
    assert.match(res.stderr, /attempt 1: 1 differences; retrying/);
    assert.ok(Date.now() - t0 < 30000);
  });

  test('--wait that runs out reports the differences, exit 1', async () => {
    // A different document and metadata value on one side (update, not add).
    const col = await makeClient(a.url).getCollection({ name: PAGED.name, embeddingFunction: null });
    const r = await http(`${a.url}/api/v2/tenants/default_tenant/databases/default_database/collections/${col.id}/update`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ids: ['p03'], documents: ['changed'], metadatas: [{ i: 3, even: false, label: 'X' }] }),
    });
    assert.equal(r.status, 200, r.text);
    const res = await runVerify([a.url, b.url, '--wait', '1.5']);
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /^2 differences\n/);
    assert.ok(res.stdout.includes('paged id "p03" document'), res.stdout);
    assert.ok(res.stdout.includes('paged id "p03" metadata'), res.stdout);
  });

  test('an unreachable instance: exit 2', async () => {
    const port = await freePort();
    const res = await runVerify([a.url, `http://127.0.0.1:${port}`]);
    assert.equal(res.code, 2, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /Unavailable/);
  });

  test('bad arguments: exit 2', async () => {
    assert.equal((await runVerify([a.url])).code, 2);
    assert.equal((await runVerify([a.url, b.url, '--wait'])).code, 2);
    assert.equal((await runVerify([a.url, 'ftp://x'])).code, 2);
  });
});
