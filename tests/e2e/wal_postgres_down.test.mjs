// PostgreSQL WAL outage: with its own PostgreSQL (scripts/postgres.sh), chroma-ha answers writes
// with 503 and a JSON error while PostgreSQL is stopped ("no WAL, no write"), keeps serving reads,
// and accepts writes again once PostgreSQL is back on the same port, without a restart. Writes
// refused meanwhile are on neither server; everything acknowledged is on both.
//
// Runs when the PostgreSQL WAL variants run (CHROMA_HA_TEST_DATABASE_URL set); fails when
// CHROMA_HA_REQUIRE_POSTGRES=1 and that variable is unset. scripts/postgres.sh start would pick a
// new free port on a restart (leaving chroma-ha's DATABASE_URL stale), so the restart here calls
// pg_ctl with the port the server had (PostgresServer.startSamePort).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { compareServersDetailed, snapshotIds } from './compare.mjs';
import { PostgresServer, TD, http, startStack, waitFor, waitWalDrained, walStats, walStores } from './harness.mjs';

const JSON_HEADERS = { 'content-type': 'application/json' };

async function rest(base, method, p, body, timeoutMs = 20000) {
  return http(`${base}${p}`, {
    method,
    headers: body === undefined ? {} : JSON_HEADERS,
    body: body === undefined ? undefined : JSON.stringify(body),
    timeoutMs,
  });
}

function rec(id, n) {
  return { ids: [id], embeddings: [[n, 1, 0]], documents: [`doc ${id}`], metadatas: [{ n }] };
}

const pgStore = walStores().find((s) => s.kind === 'postgres');

if (pgStore) {
  describe('PostgreSQL WAL stopped and started again', () => {
    let pg;
    let stack;
    let colId;
    const refused = [];

    before(async () => {
      if (pgStore.missing) return; // each test fails with the reason
      pg = await PostgresServer.start('pgdown');
      stack = await startStack({ name: 'pg-down', databaseUrl: pg.url, env: { WAL_SYNC_INTERVAL: '1' } });
      const r = await rest(stack.ha.url, 'POST', `${TD}/collections`, { name: 'pgd', metadata: { m: 1 } });
      assert.equal(r.status, 200, r.text);
      colId = r.json.id;
      for (let i = 0; i < 5; i++) {
        const w = await rest(stack.ha.url, 'POST', `${TD}/collections/${colId}/add`, rec(`a${i}`, i));
        assert.equal(w.status, 201, w.text);
      }
      await waitWalDrained(stack.ha);
    });

    after(async () => {
      await stack?.stop();
      pg?.destroy();
    });

    test('PostgreSQL stopped: writes get 503 with a JSON error, reads keep working', { timeout: 60000 }, async (t) => {
      if (pgStore.missing) throw new Error(pgStore.missing);
      const pid = stack.ha.pid;
      pg.stop();
      assert.equal(pg.running(), false, 'PostgreSQL stopped');

      const writes = [
        ['add', 'POST', `${TD}/collections/${colId}/add`, rec('down-1', 100), 'down-1'],
        ['add again', 'POST', `${TD}/collections/${colId}/add`, rec('down-2', 101), 'down-2'],
        ['upsert', 'POST', `${TD}/collections/${colId}/upsert`, rec('down-3', 102), 'down-3'],
        ['delete by ids', 'POST', `${TD}/collections/${colId}/delete`, { ids: ['a0'] }, null],
        ['create collection', 'POST', `${TD}/collections`, { name: 'pgd-created-while-down' }, null],
        ['modify', 'PUT', `${TD}/collections/${colId}`, { new_metadata: { m: 2 } }, null],
      ];
      const seen = [];
      for (const [label, method, p, body, id] of writes) {
        const t0 = performance.now();
        const r = await rest(stack.ha.url, method, p, body);
        const ms = performance.now() - t0;
        seen.push(`${label}: ${r.status} in ${ms.toFixed(0)} ms ${r.text.slice(0, 160)}`);
        assert.equal(r.status, 503, `${label} with PostgreSQL down: ${r.status} ${r.text}\n${stack.ha.logTail(20)}`);
        assert.equal(typeof r.json?.error, 'string', `${label}: JSON error body: ${r.text}`);
        assert.equal(typeof r.json?.message, 'string', `${label}: JSON error body: ${r.text}`);
        if (id) refused.push(id);
      }
      t.diagnostic(`writes with PostgreSQL down:\n${seen.join('\n')}`);
      console.log(`# writes with PostgreSQL down:\n# ${seen.join('\n# ')}`);

      // Reads: get, query, count, collection by name, list.
      const got = await rest(stack.ha.url, 'POST', `${TD}/collections/${colId}/get`, { include: ['documents'] });
      assert.equal(got.status, 200, got.text);
      assert.deepEqual([...got.json.ids].sort(), ['a0', 'a1', 'a2', 'a3', 'a4']);
      const q = await rest(stack.ha.url, 'POST', `${TD}/collections/${colId}/query`, {
        query_embeddings: [[2, 1, 0]],
        n_results: 1,
      });
      assert.equal(q.status, 200, q.text);
      assert.deepEqual(q.json.ids, [['a2']]);
      const count = await rest(stack.ha.url, 'GET', `${TD}/collections/${colId}/count`);
      assert.equal(count.status, 200, count.text);
      assert.equal(count.json, 5);
      const byName = await rest(stack.ha.url, 'GET', `${TD}/collections/pgd`);
      assert.equal(byName.status, 200, byName.text);
      assert.deepEqual(byName.json.metadata, { m: 1 });
      const list = await rest(stack.ha.url, 'GET', `${TD}/collections`);
      assert.equal(list.status, 200, list.text);
      assert.deepEqual(list.json.map((c) => c.name), ['pgd']);

      const health = await http(`${stack.ha.url}/health`);
      const walStatus = await http(`${stack.ha.url}/wal/status`);
      t.diagnostic(`/health ${health.status} ${health.text.slice(0, 200)}; /wal/status ${walStatus.status} ${walStatus.text.slice(0, 300)}`);
      assert.equal(health.status, 200, `both Chroma servers serve: /health ${health.status} ${health.text}`);
      assert.equal(stack.ha.pid, pid);
      assert.ok(stack.ha.alive(), 'chroma-ha still runs');
      const stats = await walStats(stack.ha);
      t.diagnostic(`wal/stats: ${JSON.stringify(stats)}`);
      assert.ok(stats.wal_write_failures >= refused.length, `wal_write_failures ${stats.wal_write_failures}`);
    });

    test('PostgreSQL started again on the same port: writes work again without restarting chroma-ha', { timeout: 90000 }, async (t) => {
      if (pgStore.missing) throw new Error(pgStore.missing);
      const pid = stack.ha.pid;
      const tStart = performance.now();
      pg.startSamePort();
      const pgUpMs = performance.now() - tStart;

      // Poll with real writes until one is accepted: every answer before that must be a 503.
      let attempts = 0;
      let i = 0;
      const ok = await waitFor(
        async () => {
          attempts++;
          const id = `back-${i++}`;
          const r = await rest(stack.ha.url, 'POST', `${TD}/collections/${colId}/add`, rec(id, 200 + i));
          if (r.status === 201) return id;
          if (r.status !== 503) {
            throw Object.assign(new Error(`add ${id} after PostgreSQL restart: ${r.status} ${r.text}`), { fatal: true });
          }
          refused.push(id);
          return false;
        },
        { timeoutMs: 60000, intervalMs: 100, what: 'a write accepted after PostgreSQL restarted' },
      );
      const firstOkMs = performance.now() - tStart;
      const line = `PostgreSQL back (pg_ctl start ${pgUpMs.toFixed(0)} ms): first write accepted ${firstOkMs.toFixed(0)} ms after the restart began, after ${attempts - 1} refused attempts`;
      console.log(`# ${line}`);
      t.diagnostic(line);

      // More writes of every kind, then convergence.
      const more = [
        ['POST', `${TD}/collections/${colId}/add`, rec('later-1', 301)],
        ['POST', `${TD}/collections/${colId}/upsert`, rec('later-2', 302)],
        ['POST', `${TD}/collections/${colId}/delete`, { ids: ['a0'] }],
        ['PUT', `${TD}/collections/${colId}`, { new_metadata: { m: 3 } }],
        ['POST', `${TD}/collections`, { name: 'pgd-after' }],
      ];
      for (const [method, p, body] of more) {
        const r = await rest(stack.ha.url, method, p, body);
        assert.ok(r.status === 200 || r.status === 201, `${method} ${p}: ${r.status} ${r.text}`);
      }
      assert.equal(stack.ha.pid, pid, 'chroma-ha was not restarted');
      await waitWalDrained(stack.ha, { timeoutMs: 30000 });
      const result = await compareServersDetailed(stack.primary.url, stack.replica.url);
      assert.deepEqual(result.differences, [], `primary and replica differ\n${stack.ha.logTail(30)}`);
      const ids = snapshotIds(result.snapshots[0], 'pgd');
      const expected = ['a1', 'a2', 'a3', 'a4', ok, 'later-1', 'later-2'].sort();
      assert.deepEqual([...ids].sort(), expected, `refused writes must be on neither server (refused: ${refused.join(', ')})`);
      const cols = result.snapshots[0].default_tenant.default_database;
      assert.deepEqual(Object.keys(cols).sort(), ['pgd', 'pgd-after']);
      assert.deepEqual(cols.pgd.metadata, { m: 3 });
    });
  });
}
