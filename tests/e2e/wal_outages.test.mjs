// The WAL and sync promise through crashes, for each WAL store (SQLite; PostgreSQL when
// CHROMA_HA_TEST_DATABASE_URL is set, required when CHROMA_HA_REQUIRE_POSTGRES=1):
//
//  1. the primary is SIGKILLed in the middle of a write workload: the remaining writes keep
//     succeeding (on the replica; a 503 during the detection window may be retried and is
//     counted); the primary is restarted on the same port and data; once /wal/status shows no
//     backlog the two servers are identical and hold every acknowledged id;
//  2. chroma-ha itself is SIGKILLed during a write workload and restarted on the same WAL: every
//     write that got a 2xx is on both servers after convergence, and they are identical.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compareServersDetailed, snapshotIds } from './compare.mjs';
import { TD, http, startStack, waitFor, waitWalDrained, walStats, walStores } from './harness.mjs';

const JSON_HEADERS = { 'content-type': 'application/json' };
const COLLECTIONS = 3;

async function rest(base, method, p, body, timeoutMs = 15000) {
  return http(`${base}${p}`, {
    method,
    headers: body === undefined ? {} : JSON_HEADERS,
    body: body === undefined ? undefined : JSON.stringify(body),
    timeoutMs,
  });
}

function record(id, n) {
  return { ids: [id], embeddings: [[n % 97, Math.floor(n / 97), 1]], documents: [`document ${id}`], metadatas: [{ n, id }] };
}

// Creates `COLLECTIONS` collections through chroma-ha; returns their canonical ids, by name.
async function createCollections(ha, prefix) {
  const ids = {};
  for (let c = 0; c < COLLECTIONS; c++) {
    const name = `${prefix}-${c}`;
    const r = await rest(ha.url, 'POST', `${TD}/collections`, { name, metadata: { c } });
    assert.equal(r.status, 200, r.text);
    ids[name] = r.json.id;
  }
  return ids;
}

function fmt(n) {
  return Number.isFinite(n) ? n.toFixed(0) : String(n);
}

for (const store of walStores()) {
  describe(`WAL and sync through crashes, ${store.kind} WAL`, () => {
    test('primary SIGKILLed mid-workload: writes continue on the replica, the primary catches up', { timeout: 120000 }, async (t) => {
      if (store.missing) throw new Error(store.missing);
      const stack = await startStack({
        name: `primary-kill-${store.kind}`,
        store: store.kind,
        env: { WAL_SYNC_INTERVAL: '1', CIRCUIT_BREAKER_TIMEOUT: '1' },
      });
      try {
        const cols = await createCollections(stack.ha, 'pk');
        await waitWalDrained(stack.ha);

        const TOTAL = 300;
        const KILL_AT = 100;
        const acked = new Map(); // name -> Set(ids)
        for (const name of Object.keys(cols)) acked.set(name, new Set());
        const errors = [];
        let ackedCount = 0;
        let retried503 = 0;
        let killPromise = null;
        let killedAt = 0;
        let maxLatencyAfterKill = 0;
        const latencies = [];
        const names = Object.keys(cols);

        const t0 = performance.now();
        // One worker per collection, TOTAL / COLLECTIONS adds each, one record per add.
        await Promise.all(
          names.map(async (name, w) => {
            for (let i = 0; i < TOTAL / COLLECTIONS; i++) {
              const id = `${name}-${i}`;
              const deadline = Date.now() + 20000;
              const start = performance.now();
              for (;;) {
                let r;
                try {
                  r = await rest(stack.ha.url, 'POST', `${TD}/collections/${cols[name]}/add`, record(id, i * COLLECTIONS + w));
                } catch (e) {
                  r = { status: 0, text: String(e) };
                }
                if (r.status === 201 || r.status === 200) {
                  acked.get(name).add(id);
                  ackedCount++;
                  break;
                }
                if (r.status === 503 && Date.now() < deadline) {
                  if (r.json?.error === undefined) errors.push(`503 without a JSON error for ${id}: ${r.text}`);
                  retried503++;
                  await new Promise((res) => setTimeout(res, 50));
                  continue;
                }
                errors.push(`add ${id}: ${r.status} ${r.text.slice(0, 200)}`);
                break;
              }
              const ms = performance.now() - start;
              latencies.push(ms);
              if (killedAt) maxLatencyAfterKill = Math.max(maxLatencyAfterKill, ms);
              if (ackedCount >= KILL_AT && !killPromise) {
                killedAt = performance.now();
                killPromise = stack.primary.kill('SIGKILL');
              }
            }
          }),
        );
        const workloadMs = performance.now() - t0;
        await killPromise;
        const statsOutage = await walStats(stack.ha);
        const line1 = `primary kill (${store.kind}): ${ackedCount}/${TOTAL} adds acknowledged in ${fmt(workloadMs)} ms (${fmt((ackedCount * 1000) / workloadMs)} writes/s), ${retried503} retries after 503, ${errors.length} errors; max add latency after the kill ${fmt(maxLatencyAfterKill)} ms; write_failovers=${statsOutage.write_failovers}`;
        console.log(`# ${line1}`);
        t.diagnostic(line1);
        assert.deepEqual(errors.slice(0, 10), [], `${errors.length} writes failed (other than a retried 503)\n${stack.ha.logTail(30)}`);
        assert.equal(ackedCount, TOTAL);

        // Reads still work meanwhile (replica).
        const cnt = await rest(stack.ha.url, 'GET', `${TD}/collections/${cols[names[0]]}/count`);
        assert.equal(cnt.status, 200, cnt.text);

        const tRestart = performance.now();
        await stack.primary.start();
        await waitFor(async () => (await stack.ha.instance('primary')).healthy, {
          timeoutMs: 15000,
          what: 'primary healthy again in /status',
        });
        await waitWalDrained(stack.ha, { timeoutMs: 60000 });
        const drainedMs = performance.now() - tRestart;
        const result = await compareServersDetailed(stack.primary.url, stack.replica.url);
        const line2 = `primary kill (${store.kind}): backlog drained ${fmt(drainedMs)} ms after the primary restart began; ${JSON.stringify(result.stats)}`;
        console.log(`# ${line2}`);
        t.diagnostic(line2);
        assert.deepEqual(result.differences, [], `primary and replica differ after the primary came back\n${stack.ha.logTail(30)}`);
        for (const [name, ids] of acked) {
          for (const [label, snap] of [['primary', result.snapshots[0]], ['replica', result.snapshots[1]]]) {
            const have = snapshotIds(snap, name);
            const missing = [...ids].filter((id) => !have.has(id));
            assert.deepEqual(missing, [], `acknowledged ids missing on the ${label} in ${name}`);
            assert.equal(have.size, ids.size, `${name} on the ${label}: ${have.size} records, ${ids.size} acknowledged`);
          }
        }
        const stats = await walStats(stack.ha);
        t.diagnostic(`wal/stats: ${JSON.stringify(stats)}`);
        assert.ok(stack.ha.alive(), 'chroma-ha still runs');
      } finally {
        await stack.stop();
      }
    });

    test('chroma-ha SIGKILLed during writes, restarted on the same WAL: every acknowledged write is on both', { timeout: 120000 }, async (t) => {
      if (store.missing) throw new Error(store.missing);
      const stack = await startStack({
        name: `ha-kill-${store.kind}`,
        store: store.kind,
        env: { WAL_SYNC_INTERVAL: '1' },
      });
      try {
        const cols = await createCollections(stack.ha, 'hk');
        await waitWalDrained(stack.ha);
        const names = Object.keys(cols);
        const acked = new Map(names.map((n) => [n, new Set()]));
        const unanswered = []; // ids whose add got no 2xx (in flight at the kill, or refused)
        const otherStatus = [];
        let ackedCount = 0;
        let n = 0;

        // Phase 1: concurrent writers until chroma-ha is killed (after KILL_AT acknowledgements).
        const KILL_AT = 60;
        const WRITERS = 6;
        let killed = false;
        let killPromise = null;
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: WRITERS }, async (_, w) => {
            const name = names[w % names.length];
            for (let i = 0; !killed; i++) {
              const id = `${name}-w${w}-${i}`;
              let r;
              try {
                r = await rest(stack.ha.url, 'POST', `${TD}/collections/${cols[name]}/add`, record(id, n++));
              } catch (e) {
                r = { status: 0, text: String(e) };
              }
              if (r.status === 201 || r.status === 200) {
                acked.get(name).add(id);
                ackedCount++;
              } else {
                unanswered.push(id);
                if (r.status !== 0 && r.status !== 503) otherStatus.push(`${id}: ${r.status} ${r.text.slice(0, 200)}`);
              }
              if (ackedCount >= KILL_AT && !killPromise) {
                killed = true;
                killPromise = stack.ha.kill('SIGKILL');
              }
              if (killed) break;
            }
          }),
        );
        await killPromise;
        const phase1Ms = performance.now() - t0;
        const ackedBefore = ackedCount;

        // Restart on the same port and WAL.
        const tRestart = performance.now();
        await stack.restartHa();
        await stack.ha.waitAllHealthy({ timeoutMs: 15000 });
        const restartMs = performance.now() - tRestart;

        // Phase 2: a few more writes through the restarted chroma-ha.
        await Promise.all(
          names.map(async (name) => {
            for (let i = 0; i < 10; i++) {
              const id = `${name}-after-${i}`;
              const r = await rest(stack.ha.url, 'POST', `${TD}/collections/${cols[name]}/add`, record(id, n++));
              assert.ok(r.status === 201 || r.status === 200, `add ${id} after the restart: ${r.status} ${r.text}`);
              acked.get(name).add(id);
              ackedCount++;
            }
          }),
        );

        const tDrain = performance.now();
        await waitWalDrained(stack.ha, { timeoutMs: 60000 });
        const drainedMs = performance.now() - tDrain;
        const result = await compareServersDetailed(stack.primary.url, stack.replica.url);
        const stats = await walStats(stack.ha);
        const line = `chroma-ha kill (${store.kind}): ${ackedBefore} adds acknowledged in ${fmt(phase1Ms)} ms before the SIGKILL, ${unanswered.length} unanswered (${otherStatus.length} with an unexpected status); restart to all-healthy ${fmt(restartMs)} ms; +${ackedCount - ackedBefore} after; drained ${fmt(drainedMs)} ms after the last write; recovered=${stats.recovered} unknown_outcome=${stats.unknown_outcome}; ${JSON.stringify(result.stats)}`;
        console.log(`# ${line}`);
        t.diagnostic(line);
        assert.deepEqual(otherStatus, [], 'writes answered with a status other than 2xx/503 or no answer');
        assert.deepEqual(result.differences, [], `primary and replica differ after chroma-ha's restart\n${stack.ha.logTail(30)}`);
        for (const [name, ids] of acked) {
          for (const [label, snap] of [['primary', result.snapshots[0]], ['replica', result.snapshots[1]]]) {
            const have = snapshotIds(snap, name);
            const missing = [...ids].filter((id) => !have.has(id));
            assert.deepEqual(missing, [], `acknowledged ids missing on the ${label} in ${name}`);
          }
        }
      } finally {
        await stack.stop();
      }
    });
  });
}
