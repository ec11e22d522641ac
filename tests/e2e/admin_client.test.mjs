// Issue 12, item 1: the official JS AdminClient through chroma-ha (no client auth configured)
// behaves as against a direct Chroma server: every operation, errors included (error class and
// message from the client, status and JSON body from the server), and its tenant and database
// changes are replicated to both instances.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AdminClient } from 'chromadb';
import { http, makeTempDir, startChroma, startStack, waitWalDrained } from './harness.mjs';

function adminFor(url, headers) {
  const u = new URL(url);
  return new AdminClient({ host: u.hostname, port: Number(u.port), ssl: false, headers });
}

// Messages name the server's URL: compared without it.
async function outcome(fn, url) {
  try {
    const value = await fn();
    return { ok: JSON.parse(JSON.stringify(value ?? null)) };
  } catch (e) {
    return { error: e.name, message: e.message.replaceAll(url, 'URL') };
  }
}

// The AdminClient cycle, successes and failures; returns [[label, outcome]...].
async function adminCycle(url) {
  const admin = adminFor(url);
  const steps = [];
  const step = async (label, fn) => steps.push([label, await outcome(fn, url)]);
  await step('createTenant', () => admin.createTenant({ name: 'acme' }));
  await step('getTenant', () => admin.getTenant({ name: 'acme' }));
  await step('createTenant again', () => admin.createTenant({ name: 'acme' }));
  await step('getTenant missing', () => admin.getTenant({ name: 'nobody' }));
  await step('createDatabase', () => admin.createDatabase({ name: 'sales', tenant: 'acme' }));
  await step('createDatabase 2', () => admin.createDatabase({ name: 'ops', tenant: 'acme' }));
  await step('createDatabase again', () => admin.createDatabase({ name: 'sales', tenant: 'acme' }));
  await step('createDatabase in a missing tenant', () =>
    admin.createDatabase({ name: 'xyz', tenant: 'nobody' }),
  );
  await step('getDatabase', async () => {
    const db = await admin.getDatabase({ name: 'sales', tenant: 'acme' });
    return { name: db.name, tenant: db.tenant };
  });
  await step('getDatabase missing', () => admin.getDatabase({ name: 'nope', tenant: 'acme' }));
  await step('listDatabases', async () =>
    (await admin.listDatabases({ tenant: 'acme' })).map((d) => d.name).sort(),
  );
  await step('listDatabases limit 1', async () =>
    (await admin.listDatabases({ tenant: 'acme', limit: 1 })).length,
  );
  await step('deleteDatabase', () => admin.deleteDatabase({ name: 'ops', tenant: 'acme' }));
  await step('deleteDatabase missing', () => admin.deleteDatabase({ name: 'ops', tenant: 'acme' }));
  await step('listDatabases after delete', async () =>
    (await admin.listDatabases({ tenant: 'acme' })).map((d) => d.name).sort(),
  );
  return steps;
}

// Raw HTTP errors: status and JSON body (error name and message).
async function rawErrors(url) {
  const out = [];
  const see = async (label, method, path, body) => {
    const r = await http(`${url}${path}`, {
      method,
      headers: body ? { 'content-type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    out.push([label, r.status, r.json]);
  };
  await see('tenant exists', 'POST', '/api/v2/tenants', { name: 'acme' });
  await see('tenant missing', 'GET', '/api/v2/tenants/nobody');
  await see('database exists', 'POST', '/api/v2/tenants/acme/databases', { name: 'sales' });
  await see('database missing', 'GET', '/api/v2/tenants/acme/databases/nope');
  await see('delete missing database', 'DELETE', '/api/v2/tenants/acme/databases/nope');
  await see('database in missing tenant', 'POST', '/api/v2/tenants/nobody/databases', { name: 'xyz' });
  return out;
}

describe('AdminClient through chroma-ha (no client auth)', () => {
  let direct;
  let stack;

  before(async () => {
    const dir = makeTempDir('admin-direct');
    [direct, stack] = await Promise.all([
      startChroma({ dir, name: 'direct' }),
      startStack({ name: 'admin-client', env: { LOAD_BALANCE_STRATEGY: 'primary_only' } }),
    ]);
  });

  after(async () => {
    await Promise.all([direct?.destroy(), stack?.stop()]);
  });

  test('every operation, errors included, as against a direct server; replicated to both instances', async () => {
    const want = await adminCycle(direct.url);
    const got = await adminCycle(stack.ha.url);
    for (let i = 0; i < want.length; i++) {
      assert.deepEqual(got[i], want[i], `step ${want[i][0]}`);
    }
    assert.ok(got.find(([l]) => l === 'createTenant')[1].ok !== undefined, 'createTenant passed');
    assert.deepEqual(got.find(([l]) => l === 'listDatabases after delete')[1], { ok: ['sales'] });

    const wantRaw = await rawErrors(direct.url);
    const gotRaw = await rawErrors(stack.ha.url);
    assert.deepEqual(gotRaw, wantRaw, 'error statuses and JSON bodies');

    // Replicated: both instances hold the tenant and the remaining database, not the deleted one.
    await waitWalDrained(stack.ha);
    for (const inst of [stack.primary, stack.replica]) {
      const tenant = await http(`${inst.url}/api/v2/tenants/acme`);
      assert.equal(tenant.status, 200, `${inst.url}: tenant acme: ${tenant.text}`);
      const dbs = await http(`${inst.url}/api/v2/tenants/acme/databases`);
      assert.equal(dbs.status, 200, dbs.text);
      assert.deepEqual(dbs.json.map((d) => d.name).sort(), ['sales'], `${inst.url}: databases`);
    }
  });
});
