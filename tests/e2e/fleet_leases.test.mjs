// Two chroma-ha processes on one PostgreSQL WAL (issue 11 item 2; docs/design.md "Fleet"):
// replay and recovery are claimed with leases in the database, so exactly one process holds
// each of `recovery`, `replay/primary`, `replay/replica`; /wal/status of either shows the two
// members, the holders and the terms. Writes through the non-holder are replayed by the holder.
// When the holder is SIGKILLed, the other takes every lease over (new terms) within
// LEASE_TTL_MS + a tick, and replays from then on. The takeover time is printed.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ChromaHa, TD, freePort, http, startStack, waitFor, waitWalDrained, walStatus, walStores } from './harness.mjs';

const JSON_HEADERS = { 'content-type': 'application/json' };
const LEASES = ['recovery', 'replay/primary', 'replay/replica'];
const TTL_MS = 3000;

async function post(url, p, body) {
  const r = await http(`${url}${p}`, { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(body), timeoutMs: 15000 });
  assert.ok(r.status >= 200 && r.status < 300, `${p}: ${r.status} ${r.text}`);
  return r.json;
}

// The ids the replica itself has in collection `name` (asked directly, not through a proxy).
async function replicaIds(replicaUrl, name) {
  const c = await http(`${replicaUrl}${TD}/collections/${name}`);
  if (c.status !== 200) return [];
  const got = await http(`${replicaUrl}${TD}/collections/${c.json.id}/get`, {
    method: 'POST',
    headers: JSON_HEADERS,
    body: JSON.stringify({}),
  });
  return got.json?.ids ?? [];
}

function leasesOf(status) {
  return Object.fromEntries((status.leases ?? []).map((l) => [l.name, l]));
}

const pg = walStores().find((s) => s.kind === 'postgres');

describe('a fleet of two proxies on one PostgreSQL WAL: leases', () => {
  if (!pg) return; // walStores() printed why (no PostgreSQL configured, none required)
  let stack;
  let second;
  before(async () => {
    if (pg.missing) throw new Error(pg.missing);
    stack = await startStack({ name: 'fleet-leases', store: 'postgres', env: { LEASE_TTL_MS: TTL_MS } });
    const port = await freePort();
    second = new ChromaHa({
      port,
      env: { ...stack.ha.env, PORT: String(port) },
      logBase: path.join(stack.dir, 'chroma-ha-2'),
    });
    await second.start();
  });
  after(async () => {
    await second?.stop();
    await stack?.stop();
  });

  let firstTerms;
  test('one holder per lease, two live members, seen the same way through either proxy', async () => {
    const [a, b] = await waitFor(
      async () => {
        const s = await Promise.all([walStatus(stack.ha), walStatus(second)]);
        const ok = s.every((x) => (x.members ?? []).filter((m) => m.live).length === 2 && LEASES.every((n) => leasesOf(x)[n]?.live));
        return ok && s;
      },
      { timeoutMs: 10000, what: 'two live members and three live leases in /wal/status' },
    );
    assert.notEqual(a.member, b.member);
    assert.match(a.member, /^.+:\d+:[0-9a-f]{8}$/);
    for (const name of LEASES) {
      const la = leasesOf(a)[name];
      const lb = leasesOf(b)[name];
      assert.equal(la.holder, a.member, `${name}: the first proxy started first and holds it`);
      assert.equal(la.mine, true);
      assert.equal(lb.mine, false);
      assert.ok(la.term >= 1);
      assert.ok(la.expires_in_ms > 0 && la.expires_in_ms <= TTL_MS, JSON.stringify(la));
    }
    assert.equal(a.lease_ttl_ms, TTL_MS);
    firstTerms = Object.fromEntries(LEASES.map((n) => [n, leasesOf(a)[n].term]));
  });

  test('a write through the non-holder is replayed by the holder', async () => {
    await post(second.url, `${TD}/collections`, { name: 'fleet1' });
    const c = await http(`${second.url}${TD}/collections/fleet1`);
    await post(second.url, `${TD}/collections/${c.json.id}/add`, { ids: ['x1'], embeddings: [[1, 2, 3]] });
    await waitWalDrained(second, { timeoutMs: 30000 });
    assert.deepEqual(await replicaIds(stack.replica.url, 'fleet1'), ['x1']);
    const stats = await http(`${stack.ha.url}/wal/stats`);
    assert.ok(stats.status === 200);
  });

  test('the holder SIGKILLed: the other takes every lease over within the TTL and a tick, and replays', async () => {
    const firstMember = (await walStatus(stack.ha)).member;
    await stack.ha.kill('SIGKILL');
    const t0 = Date.now();
    const s = await waitFor(
      async () => {
        const x = await walStatus(second);
        return LEASES.every((n) => leasesOf(x)[n]?.mine) && x;
      },
      { timeoutMs: 15000, intervalMs: 20, what: 'the second proxy holding every lease' },
    );
    const takeoverMs = Date.now() - t0;
    console.log(`# takeover after SIGKILL of the holder: ${takeoverMs} ms (LEASE_TTL_MS=${TTL_MS})`);
    assert.ok(takeoverMs < TTL_MS + TTL_MS / 3 + 1500, `takeover took ${takeoverMs} ms`);
    for (const name of LEASES) {
      assert.equal(leasesOf(s)[name].holder, s.member);
      assert.equal(leasesOf(s)[name].term, firstTerms[name] + 1, `${name}: a new term`);
    }
    assert.ok((s.members ?? []).some((m) => m.member === firstMember), 'the dead member is still listed');

    const c = await http(`${second.url}${TD}/collections/fleet1`);
    await post(second.url, `${TD}/collections/${c.json.id}/add`, { ids: ['x2'], embeddings: [[4, 5, 6]] });
    await waitWalDrained(second, { timeoutMs: 30000 });
    assert.deepEqual((await replicaIds(stack.replica.url, 'fleet1')).sort(), ['x1', 'x2']);
  });
});
