// `chroma-ha verify --repair` with two real Chroma servers: records deleted, altered and added
// directly on the second, a collection dropped there, an extra collection and an extra database
// there, a database and a tenant missing there. --repair reports each change per collection, and
// a plain `verify` afterwards finds the two converged.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeTempDir, startChroma } from './harness.mjs';
import { chroma, collectionId, divergeRecords, records, runChromaHa } from './diverge.mjs';

const T = '/api/v2/tenants';
const TD = `${T}/default_tenant/databases/default_database`;

async function seed(url, { full }) {
  await chroma(url, 'POST', `${TD}/collections`, { name: 'docs', metadata: { kind: 'docs' } });
  const docs = await collectionId(url, 'docs');
  await chroma(url, 'POST', `${TD}/collections/${docs}/add`, records('d', 40));
  if (!full) return;
  // Only on the first server: a collection, a database with a collection, a tenant.
  const c = await chroma(url, 'POST', `${TD}/collections`, { name: 'dropped', metadata: { x: 1 } });
  await chroma(url, 'POST', `${TD}/collections/${c.id}/add`, records('x', 5));
  await chroma(url, 'POST', `${T}/default_tenant/databases`, { name: 'db2' });
  await chroma(url, 'POST', `${T}/default_tenant/databases/db2/collections`, { name: 'in-db2' });
  await chroma(url, 'POST', T, { name: 'tenant2' });
  await chroma(url, 'POST', `${T}/tenant2/databases`, { name: 'db3' });
  const t = await chroma(url, 'POST', `${T}/tenant2/databases/db3/collections`, { name: 'far' });
  await chroma(url, 'POST', `${T}/tenant2/databases/db3/collections/${t.id}/add`, records('t', 3));
}

describe('chroma-ha verify --repair', () => {
  let a;
  let b;
  const dir = makeTempDir('verify-repair');

  before(async () => {
    [a, b] = await Promise.all([startChroma({ dir, name: 'a' }), startChroma({ dir, name: 'b' })]);
    await seed(a.url, { full: true });
    await seed(b.url, { full: false });
    await divergeRecords(b.url, 'docs', 'd');
    // Only on the second server: a collection and a database.
    await chroma(b.url, 'POST', `${TD}/collections`, { name: 'stray' });
    await chroma(b.url, 'POST', `${T}/default_tenant/databases`, { name: 'stray_db' });
  });

  after(async () => {
    await Promise.all([a?.destroy(), b?.destroy()]);
  });

  test('reports what it changed, then verify finds the servers converged', async () => {
    const args = [a.url, b.url, '--tenant', 'tenant2', '--page-size', '7'];
    const before = await runChromaHa(['verify', ...args]);
    assert.equal(before.code, 1, `${before.stdout}\n${before.stderr}`);

    const res = await runChromaHa(['verify', '--repair', ...args]);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    const out = res.stdout;
    assert.match(out, new RegExp(`^repaired ${b.url}: 5 collections changed, 14 records\\n`), out);
    assert.ok(out.includes(`created tenant tenant2 on ${b.url}`), out);
    assert.ok(out.includes(`created database default_tenant/db2 on ${b.url}`), out);
    assert.ok(out.includes(`created database tenant2/db3 on ${b.url}`), out);
    assert.ok(out.includes(`deleted database default_tenant/stray_db on ${b.url}`), out);
    assert.ok(out.includes('default_tenant/default_database/docs: 2 added, 1 removed, 3 replaced'), out);
    assert.ok(out.includes('default_tenant/default_database/dropped: collection created, 5 added'), out);
    assert.ok(out.includes('default_tenant/default_database/stray: collection deleted'), out);
    assert.ok(out.includes('default_tenant/db2/in-db2: collection created, 0 added'), out);
    assert.ok(out.includes('tenant2/db3/far: collection created, 3 added'), out);
    assert.match(out, /\nconverged: 2 instances, 3 databases, 4 collections, 48 records\n/);

    const after = await runChromaHa(['verify', ...args]);
    assert.equal(after.code, 0, `${after.stdout}\n${after.stderr}`);
    assert.match(after.stdout, /^converged: 2 instances, 3 databases, 4 collections, 48 records/);
    // Collection metadata came across too.
    const dropped = await chroma(b.url, 'GET', `${TD}/collections/dropped`);
    assert.deepEqual(dropped.metadata, { x: 1 });
  });

  test('a repair with nothing to do changes nothing', async () => {
    const res = await runChromaHa(['verify', '--repair', a.url, b.url, '--tenant', 'tenant2']);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, new RegExp(`^repaired ${b.url}: 0 collections changed, 0 records\\n`));
  });
});
