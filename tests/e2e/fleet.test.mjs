// A fleet (issue 11): three chroma-ha processes on one PostgreSQL WAL in front of the same two
// real Chroma servers. The replica sits behind a relay that holds replayed writes back, so it
// lags right after every write. Shown here:
// - WAL order across proxies: workers send successive upserts of the same ids to different
//   proxies; both instances end with every id's last acknowledged value;
// - causal reads across proxies: written through A, read through B with the token: 0 stale;
// - READ_CONSISTENCY=fresh across proxies without a token: 0 stale;
// - one identity for the fleet: a collection created, renamed, deleted and re-created through
//   different proxies has the same id through every proxy at once;
// - the replay lease holder and a random proxy SIGKILLed and restarted five times under a write
//   load that sends each worker's successive writes to different proxies: takeover time, 0
//   acknowledged writes lost, both instances identical record by record.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDelayingRelay } from './delay_relay.mjs';
import {
  TD,
  createTestDatabase,
  dropTestDatabase,
  http as request,
  makeTempDir,
  startChroma,
  startChromaHa,
  testDatabaseAdminUrl,
  waitWalDrained,
  walStores,
} from './harness.mjs';

const JSON_CT = { 'content-type': 'application/json' };
const ROUNDS = 200;
const WORKERS = 4;
const WRITES_PER_WORKER = 30;
const KILL_ROUNDS = 5;

function percentileOf(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
}

const pgStore = walStores().find((s) => s.kind === 'postgres');

describe('a fleet of three proxies on one PostgreSQL WAL', () => {
  let primary;
  let replica;
  let relay;
  let databaseUrl;
  const proxies = [];

  before(async () => {
    if (!pgStore || pgStore.missing) return;
    const dir = makeTempDir('fleet');
    databaseUrl = createTestDatabase(testDatabaseAdminUrl(), 'fleet');
    [primary, replica] = await Promise.all([
      startChroma({ dir, name: 'primary' }),
      startChroma({ dir, name: 'replica' }),
    ]);
    relay = await startDelayingRelay(replica.port, 150);
    // A and C: fresh reads (the default); B: eventual, so only the token protects its reads.
    const envs = [{}, { READ_CONSISTENCY: 'eventual' }, {}];
    for (const [i, env] of envs.entries()) {
      proxies.push(
        await startChromaHa({
          dir: makeTempDir(`fleet-${i}`),
          primaryUrl: primary.url,
          replicaUrl: relay.url,
          env: { DATABASE_URL: databaseUrl, CAUSAL_WAIT_MS: '20', WAL_SYNC_INTERVAL: '1', ...env },
        }),
      );
    }
    await Promise.all(proxies.map((p) => p.waitAllHealthy()));
  });

  after(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
    await relay?.close();
    await Promise.all([primary?.destroy(), replica?.destroy()]);
    if (databaseUrl) dropTestDatabase(databaseUrl);
  });

  function requirePostgres() {
    assert.ok(pgStore, 'CHROMA_HA_TEST_DATABASE_URL is unset: a fleet needs a PostgreSQL WAL');
    assert.ok(!pgStore.missing, pgStore.missing);
  }

  async function create(proxy, name) {
    const r = await request(`${proxy.url}${TD}/collections`, {
      method: 'POST',
      headers: JSON_CT,
      body: JSON.stringify({ name, get_or_create: true }),
    });
    assert.equal(r.status, 200, r.text);
    return r.json.id;
  }

  async function write(proxy, id, op, ids, documents) {
    const r = await request(`${proxy.url}${TD}/collections/${id}/${op}`, {
      method: 'POST',
      headers: JSON_CT,
      body: JSON.stringify({ ids, embeddings: ids.map(() => [1, 2, 3]), documents }),
    });
    assert.ok(r.status === 200 || r.status === 201, `${op} through ${proxy.url}: ${r.status} ${r.text}`);
    return r;
  }

  async function read(proxy, id, ids, headers = {}) {
    const r = await request(`${proxy.url}${TD}/collections/${id}/get`, {
      method: 'POST',
      headers: { ...JSON_CT, ...headers },
      body: JSON.stringify({ ids, include: ['documents'] }),
    });
    assert.equal(r.status, 200, r.text);
    return r.json;
  }

  async function directDocuments(server, name, ids) {
    const col = await request(`${server.url}${TD}/collections/${name}`);
    assert.equal(col.status, 200, col.text);
    const got = await request(`${server.url}${TD}/collections/${col.json.id}/get`, {
      method: 'POST',
      headers: JSON_CT,
      body: JSON.stringify({ ids, include: ['documents'] }),
    });
    assert.equal(got.status, 200, got.text);
    return Object.fromEntries(got.json.ids.map((id, i) => [id, got.json.documents[i]]));
  }

  test(`successive upserts of the same ids through different proxies: last acknowledged value everywhere`, async () => {
    requirePostgres();
    const id = await create(proxies[0], 'fleet-order');
    const last = {};
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: WORKERS }, async (_, w) => {
        for (let k = 0; k < WRITES_PER_WORKER; k += 1) {
          const proxy = proxies[(w + k) % proxies.length];
          await write(proxy, id, 'upsert', [`key-${w}`, 'shared'], [`w${w}-v${k}`, `w${w}-v${k}`]);
          last[`key-${w}`] = `w${w}-v${k}`;
        }
      }),
    );
    const writeMs = Date.now() - t0;
    await waitWalDrained(proxies[1], { timeoutMs: 60000 });
    const ids = Object.keys(last);
    for (const server of [primary, replica]) {
      const docs = await directDocuments(server, 'fleet-order', [...ids, 'shared']);
      for (const key of ids) assert.equal(docs[key], last[key], `${server.url}: ${key}`);
      // "shared" was written by every worker: both instances hold the same last one.
      assert.ok(docs.shared, `${server.url}: shared is missing`);
    }
    const [p, r] = await Promise.all(
      [primary, replica].map((s) => directDocuments(s, 'fleet-order', ['shared'])),
    );
    assert.equal(p.shared, r.shared, 'the instances disagree on the id every worker wrote');
    const statuses = await Promise.all(proxies.map((x) => x.status()));
    console.log(`fleet order: ${WORKERS * WRITES_PER_WORKER} upserts through 3 proxies in ${writeMs} ms; fleet_order ${JSON.stringify(statuses.map((s) => s.fleet_order))}`);
  });

  test(`causal reads across proxies: written through A, read through B with the token, 0 stale of ${ROUNDS}`, async () => {
    requirePostgres();
    const id = await create(proxies[0], 'fleet-causal');
    let stale = 0;
    for (let i = 0; i < ROUNDS; i += 1) {
      const w = await write(proxies[0], id, 'add', [`t-${i}`], ['x']);
      const seq = w.headers.get('x-chroma-ha-seq');
      assert.match(seq ?? '', /^\d+$/);
      const got = await read(proxies[1], id, [`t-${i}`], { 'X-Chroma-HA-Min-Seq': seq });
      if (!got.ids.includes(`t-${i}`)) stale += 1;
    }
    assert.equal(stale, 0, `${stale} stale of ${ROUNDS}`);
    // Control: B reads the replica without a token and the replica lags.
    let unprotected = 0;
    for (let i = 0; i < 10; i += 1) {
      await write(proxies[0], id, 'add', [`u-${i}`], ['x']);
      if (!(await read(proxies[1], id, [`u-${i}`])).ids.includes(`u-${i}`)) unprotected += 1;
    }
    assert.ok(unprotected > 0, 'the relay must make the replica lag for this test to mean anything');
  });

  test('one identity for the fleet: created, renamed, deleted and re-created through different proxies, the same id everywhere', async () => {
    requirePostgres();
    const [a, b, c] = proxies;
    const byName = async (proxy, name, seq) => {
      const r = await request(`${proxy.url}${TD}/collections/${name}`, {
        headers: seq ? { 'X-Chroma-HA-Min-Seq': seq } : {},
      });
      return r;
    };
    const created = await request(`${a.url}${TD}/collections`, {
      method: 'POST',
      headers: JSON_CT,
      body: JSON.stringify({ name: 'fleet-identity' }),
    });
    assert.equal(created.status, 200, created.text);
    const id = created.json.id;
    const seq = created.headers.get('x-chroma-ha-seq');
    assert.match(seq ?? '', /^\d+$/);
    // B reads the lagging replica (its token makes it wait for the create there); C reads fresh.
    for (const [proxy, token] of [[b, seq], [c, null], [b, 'latest']]) {
      const r = await byName(proxy, 'fleet-identity', token);
      assert.equal(r.status, 200, `${proxy.url}: ${r.text}`);
      assert.equal(r.json.id, id, `${proxy.url} shows another id for a collection created through A`);
    }
    const listed = await request(`${c.url}${TD}/collections?limit=1000`);
    assert.equal(listed.json.find((x) => x.name === 'fleet-identity')?.id, id);

    // A's id works through C at once; the record is on both instances.
    const w = await write(c, id, 'add', ['i-1'], ['one']);
    const got = await read(b, id, ['i-1'], { 'X-Chroma-HA-Min-Seq': w.headers.get('x-chroma-ha-seq') });
    assert.deepEqual(got.ids, ['i-1']);

    // Renamed through B: the new name shows the same id through A and C, the old one is gone.
    const renamed = await request(`${b.url}${TD}/collections/${id}`, {
      method: 'PUT',
      headers: JSON_CT,
      body: JSON.stringify({ new_name: 'fleet-identity-2' }),
    });
    assert.equal(renamed.status, 200, renamed.text);
    for (const proxy of [a, c]) {
      const r = await byName(proxy, 'fleet-identity-2', 'latest');
      assert.equal(r.status, 200, `${proxy.url}: ${r.text}`);
      assert.equal(r.json.id, id, `${proxy.url}: another id after a rename through B`);
      assert.equal((await byName(proxy, 'fleet-identity', 'latest')).status, 404);
    }

    // Deleted through C, re-created through B: a new id, the same through every proxy; the old
    // id names nothing any more.
    const deleted = await request(`${c.url}${TD}/collections/fleet-identity-2`, { method: 'DELETE' });
    assert.equal(deleted.status, 200, deleted.text);
    const again = await request(`${b.url}${TD}/collections`, {
      method: 'POST',
      headers: JSON_CT,
      body: JSON.stringify({ name: 'fleet-identity-2' }),
    });
    assert.equal(again.status, 200, again.text);
    assert.notEqual(again.json.id, id);
    for (const proxy of [a, c, b]) {
      const r = await byName(proxy, 'fleet-identity-2', 'latest');
      assert.equal(r.json?.id, again.json.id, `${proxy.url}: ${r.text}`);
      const old = await request(`${proxy.url}${TD}/collections/${id}/count`, {
        headers: { 'X-Chroma-HA-Min-Seq': 'latest' },
      });
      assert.equal(old.status, 404, `${proxy.url}: the deleted collection's id still answers ${old.text}`);
    }
    const statuses = await Promise.all(proxies.map((x) => x.status()));
    console.log(`shared identity: ${JSON.stringify(statuses.map((s) => s.shared_identity))}`);
  });

  test(`READ_CONSISTENCY=fresh across proxies without a token: 0 stale of ${ROUNDS}`, async () => {
    requirePostgres();
    const id = await create(proxies[0], 'fleet-fresh');
    let stale = 0;
    for (let i = 0; i < ROUNDS; i += 1) {
      await write(proxies[0], id, 'add', [`f-${i}`], ['x']);
      if (!(await read(proxies[2], id, [`f-${i}`])).ids.includes(`f-${i}`)) stale += 1;
    }
    assert.equal(stale, 0, `${stale} stale of ${ROUNDS}`);
    const c = (await proxies[2].status()).causal_reads;
    assert.ok(c.fresh_redirected > 0, JSON.stringify(c));
  });

  async function walStatusOf(proxy) {
    const r = await request(`${proxy.url}/wal/status`, { timeoutMs: 2000 });
    return r.status === 200 ? r.json : null;
  }

  // The live holder of lease `name` as some live proxy sees it: {holder, term} or null.
  async function leaseHolder(name, live) {
    for (const p of live) {
      const s = await walStatusOf(p).catch(() => null);
      const lease = s?.leases?.find((l) => l.name === name && l.live);
      if (lease) return { holder: lease.holder, term: lease.term };
    }
    return null;
  }

  async function proxyOfMember(member) {
    for (const p of proxies) {
      if (!p.alive()) continue;
      const s = await walStatusOf(p).catch(() => null);
      if (s?.member === member) return p;
    }
    return null;
  }

  test(`the replay lease holder and a random proxy SIGKILLed and restarted ${KILL_ROUNDS} times under load: 0 acknowledged writes lost`, { timeout: 240000 }, async () => {
    requirePostgres();
    const id = await create(proxies[0], 'fleet-kill');
    const acked = new Set(); // ids of acknowledged adds
    const lastAcked = {}; // key -> value of its last acknowledged upsert
    const later = {}; // key -> values written after it whose outcome is unknown
    let stop = false;
    let answered = 0;
    let failed = 0;
    const failures = [];
    const workers = Array.from({ length: WORKERS }, async (_, w) => {
      for (let v = 0; v < 2000 && !stop; v += 1) {
        const proxy = proxies[(w + v) % proxies.length];
        const key = `key-${w}`;
        try {
          const r = await request(`${proxy.url}${TD}/collections/${id}/upsert`, {
            method: 'POST',
            headers: JSON_CT,
            body: JSON.stringify({ ids: [key, `add-${w}-${v}`], embeddings: [[1, 2, 3], [4, 5, 6]], documents: [`v${v}`, 'x'] }),
            timeoutMs: 10000,
          });
          if (r.status === 200) {
            answered += 1;
            acked.add(`add-${w}-${v}`);
            lastAcked[key] = `v${v}`;
            later[key] = [];
            continue;
          }
          if (r.status === 503 && !/not applied/.test(r.text)) (later[key] ??= []).push(`v${v}`);
          failed += 1;
          if (failures.length < 5) failures.push(`${r.status} ${r.text.slice(0, 200)}`);
        } catch (e) {
          if (failures.length < 5) failures.push(String(e));
          (later[key] ??= []).push(`v${v}`); // no answer: outcome unknown
          failed += 1;
        }
        await new Promise((res) => setTimeout(res, 20));
      }
    });
    const takeovers = [];
    try {
      // The load is running before the first kill.
      const loaded = Date.now() + 20000;
      while (answered < 20) {
        assert.ok(Date.now() < loaded, `the load did not start: ${failures.join(' | ')}`);
        await new Promise((res) => setTimeout(res, 50));
      }
      for (let round = 0; round < KILL_ROUNDS; round += 1) {
        // The lease's holder, once it is a running proxy (after the previous round's kill, the
        // dead process's lease stays until it expires and another takes it over).
        let before = null;
        let holder = null;
        const found = Date.now() + 15000;
        while (!holder) {
          before = await leaseHolder('replay/replica', proxies.filter((p) => p.alive()));
          holder = before ? await proxyOfMember(before.holder) : null;
          if (!holder) {
            assert.ok(Date.now() < found, `round ${round}: no running proxy holds replay/replica (${JSON.stringify(before)})`);
            await new Promise((res) => setTimeout(res, 50));
          }
        }
        const killedAt = Date.now();
        await holder.kill('SIGKILL');
        const others = proxies.filter((p) => p !== holder);
        const deadline = killedAt + 15000;
        for (;;) {
          const now = await leaseHolder('replay/replica', others);
          if (now && now.holder !== before.holder && now.term > before.term) break;
          assert.ok(Date.now() < deadline, `round ${round}: no takeover 15 s after the SIGKILL`);
          await new Promise((res) => setTimeout(res, 50));
        }
        takeovers.push(Date.now() - killedAt);
        await holder.restart();
        // A random proxy (maybe the one just restarted) dies too and comes back.
        const victim = proxies[Math.floor(Math.random() * proxies.length)];
        await victim.kill('SIGKILL');
        await new Promise((res) => setTimeout(res, 300));
        await victim.restart();
      }
    } finally {
      stop = true;
      await Promise.all(workers);
    }
    await Promise.all(proxies.map((p) => p.waitAllHealthy({ timeoutMs: 20000 })));
    await waitWalDrained(proxies[0], { timeoutMs: 90000 });
    const keys = Array.from({ length: WORKERS }, (_, w) => `key-${w}`);
    const all = [...keys, ...acked];
    const [onPrimary, onReplica] = await Promise.all([
      directDocuments(primary, 'fleet-kill', all),
      directDocuments(replica, 'fleet-kill', all),
    ]);
    const lost = [...acked].filter((a) => !(a in onPrimary) || !(a in onReplica));
    assert.deepEqual(lost, [], `${lost.length} acknowledged adds lost`);
    for (const key of keys) {
      if (!lastAcked[key]) continue;
      const allowed = [lastAcked[key], ...(later[key] ?? [])];
      assert.ok(allowed.includes(onPrimary[key]), `primary ${key}=${onPrimary[key]}, allowed ${allowed.join(',')}`);
      assert.equal(onReplica[key], onPrimary[key], `${key} differs between the instances`);
    }
    // Record by record: both instances hold the same records of the collection.
    const count = async (server) => {
      const col = await request(`${server.url}${TD}/collections/fleet-kill`);
      return (await request(`${server.url}${TD}/collections/${col.json.id}/count`)).json;
    };
    assert.equal(await count(primary), await count(replica), 'record counts differ');
    assert.ok(answered >= 100, `only ${answered} writes acknowledged (${failed} not): ${failures.join(' | ')}`);
    const p50 = percentileOf(takeovers, 50);
    const max = Math.max(...takeovers);
    console.log(`fleet kills: ${KILL_ROUNDS} rounds, ${answered} writes acknowledged, ${failed} not; takeover after SIGKILL p50 ${p50} ms, max ${max} ms (${takeovers.join(', ')}); 0 acknowledged writes lost`);
  });
});
