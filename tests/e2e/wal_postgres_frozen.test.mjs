// PostgreSQL frozen with its connections left open (SIGSTOP of the postmaster and its backends:
// what a network partition or a managed-database failover looks like). Issue 10 measured
// `GET /wal/status` with no answer in 30 s. Here every own endpoint (/health, /status,
// /wal/status, /wal/stats, /metrics, /dashboard) must answer within 100 ms from cached state,
// /wal/status marking its store snapshot stale; after SIGCONT the snapshot is fresh again.
//
// Only the PostgreSQL this test started is signalled, by PID: its postmaster (postmaster.pid)
// and that postmaster's children (read from /proc). Runs when the PostgreSQL WAL variants run
// (CHROMA_HA_TEST_DATABASE_URL set; see wal_postgres_down.test.mjs).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { PostgresServer, TD, http, startStack, waitFor, waitWalDrained, walStores } from './harness.mjs';

const ENDPOINTS = ['/health', '/status', '/wal/status', '/wal/stats', '/metrics', '/dashboard'];
const TRIES = 5;
const LIMIT_MS = 100;

const pgStore = walStores().find((s) => s.kind === 'postgres');

// PIDs whose parent is `ppid` (from /proc/<pid>/stat: "pid (comm) state ppid ...").
function childrenOf(ppid) {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function signalAll(pids, signal) {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone
    }
  }
}

async function timed(url) {
  const t0 = performance.now();
  const r = await http(url, { timeoutMs: 5000 });
  return { ms: performance.now() - t0, r };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

if (pgStore) {
  describe('PostgreSQL frozen (SIGSTOP): the own endpoints answer from cached state', () => {
    let pg;
    let stack;
    let frozen = [];

    function freeze() {
      const postmaster = pg.postmasterPid();
      assert.ok(postmaster, 'postmaster PID');
      // The postmaster first, so that it starts no new backend; then every child it has.
      frozen = [postmaster];
      signalAll([postmaster], 'SIGSTOP');
      const children = childrenOf(postmaster);
      signalAll(children, 'SIGSTOP');
      frozen.push(...children);
      return frozen;
    }
    function thaw() {
      signalAll([...frozen].reverse(), 'SIGCONT');
      frozen = [];
    }

    before(async () => {
      if (pgStore.missing) return;
      pg = await PostgresServer.start('pgfrozen');
      stack = await startStack({ name: 'pg-frozen', databaseUrl: pg.url, env: { WAL_SYNC_INTERVAL: '1' } });
      const r = await http(`${stack.ha.url}${TD}/collections`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'frozen' }),
        timeoutMs: 20000,
      });
      assert.equal(r.status, 200, r.text);
      await waitWalDrained(stack.ha);
    });

    after(async () => {
      if (frozen.length) thaw();
      await stack?.stop();
      pg?.destroy();
    });

    test('every own endpoint answers within 100 ms while PostgreSQL is frozen, fresh again after SIGCONT', { timeout: 120000 }, async (t) => {
      if (pgStore.missing) throw new Error(pgStore.missing);
      const pids = freeze();
      t.diagnostic(`SIGSTOP sent to PostgreSQL PIDs ${pids.join(', ')}`);

      // The first request after the freeze starts a read that hangs and waits out its budget.
      const first = await timed(`${stack.ha.url}/wal/status`);
      assert.equal(first.r.status, 200, first.r.text);
      assert.equal(first.r.json?.store_snapshot?.stale, true, first.r.text);
      assert.ok(first.ms < LIMIT_MS, `first /wal/status after SIGSTOP took ${first.ms.toFixed(1)} ms`);

      // The snapshot's refresh hangs on the frozen server. A request at once gets the last read
      // marked stale ("no WAL store read finished within 50 ms of this request"); once the hung
      // read is past its deadline (2 s) the cache itself says so, and /health shows it too.
      const t0 = performance.now();
      const stale = await waitFor(
        async () => {
          const r = await http(`${stack.ha.url}/wal/status`, { timeoutMs: 2000 });
          const snap = r.json?.store_snapshot;
          return r.status === 200 && snap?.stale === true && !/within 50 ms of this request/.test(snap.error) && r.json;
        },
        { timeoutMs: 15000, intervalMs: 100, what: '/wal/status marking its store snapshot stale' },
      );
      const staleAfterMs = performance.now() - t0;
      assert.match(String(stale.store_snapshot.error), /not answered|timeout|unavailable/i, JSON.stringify(stale.store_snapshot));
      assert.equal(stale.store, 'postgres');
      assert.ok(Array.isArray(stale.instances) && stale.instances.length === 2, JSON.stringify(stale));

      const lines = [];
      for (const p of ENDPOINTS) {
        const times = [];
        for (let i = 0; i < TRIES; i++) {
          const { ms, r } = await timed(`${stack.ha.url}${p}`);
          assert.equal(r.status, 200, `${p} with PostgreSQL frozen: ${r.status} ${r.text.slice(0, 300)}`);
          times.push(ms);
        }
        lines.push(`${p}: median ${median(times).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms (${times.map((x) => x.toFixed(1)).join(', ')})`);
        assert.ok(median(times) < LIMIT_MS, `${p}: median ${median(times).toFixed(1)} ms >= ${LIMIT_MS} ms (${times.join(', ')})`);
        assert.ok(Math.max(...times) < 10 * LIMIT_MS, `${p}: one answer took ${Math.max(...times).toFixed(1)} ms`);
      }
      const metrics = (await http(`${stack.ha.url}/metrics`)).text;
      assert.match(metrics, /^chroma_ha_wal_store_up 0$/m);
      const health = (await http(`${stack.ha.url}/health`)).json;
      assert.equal(health.wal.store_snapshot.stale, true, JSON.stringify(health.wal));
      const summary = `first /wal/status after SIGSTOP: ${first.ms.toFixed(1)} ms; the cache marked stale ${staleAfterMs.toFixed(0)} ms after SIGSTOP; with PostgreSQL frozen:\n${lines.join('\n')}`;
      console.log(`# ${summary.replaceAll('\n', '\n# ')}`);
      t.diagnostic(summary);

      // Thawed: the snapshot is fresh again, without a restart.
      const t1 = performance.now();
      thaw();
      await waitFor(
        async () => {
          const r = await http(`${stack.ha.url}/wal/status`, { timeoutMs: 2000 });
          return r.status === 200 && r.json?.store_snapshot?.stale === false;
        },
        { timeoutMs: 60000, intervalMs: 100, what: '/wal/status fresh after SIGCONT' },
      );
      const freshMs = performance.now() - t1;
      assert.match((await http(`${stack.ha.url}/metrics`)).text, /^chroma_ha_wal_store_up 1$/m);
      console.log(`# fresh again ${freshMs.toFixed(0)} ms after SIGCONT`);
      t.diagnostic(`fresh again ${freshMs.toFixed(0)} ms after SIGCONT`);
    });
  });
}
