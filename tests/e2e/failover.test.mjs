// Replica crash and recovery: reads keep working through the primary while the replica is down,
// /health stays 200 (degraded), and once the replica is back /status marks it healthy within the
// time the configured thresholds allow and reads go to it again.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  FAST_HEALTH_ENV,
  SEED,
  http,
  makeClient,
  requestCounts,
  seedDirect,
  startStack,
  waitFor,
} from './harness.mjs';

const INTERVAL_MS = Number(FAST_HEALTH_ENV.HEALTH_CHECK_INTERVAL_MS);
const FAILURE_THRESHOLD = Number(FAST_HEALTH_ENV.FAILURE_THRESHOLD);
const HEALTHY_THRESHOLD = Number(FAST_HEALTH_ENV.HEALTHY_THRESHOLD);
const SLACK_MS = 3000; // scheduling on a busy 2-core machine, plus the health-check timeout
const DOWN_DEADLINE_MS = INTERVAL_MS * (FAILURE_THRESHOLD + 2) + SLACK_MS;
const CIRCUIT_BREAKER_S = 1; // CIRCUIT_BREAKER_TIMEOUT (seconds) for this test
const UP_DEADLINE_MS = INTERVAL_MS * (HEALTHY_THRESHOLD + 2) + SLACK_MS;

// One full read through the client: getCollection, get, query, count. Returns nothing; throws on
// any client error or wrong answer.
async function readAll(client) {
  const col = await client.getCollection({ name: SEED.name });
  const got = await col.get({ include: ['documents'] });
  assert.deepEqual(got.ids, SEED.records.ids);
  assert.deepEqual(got.documents, SEED.records.documents);
  const q = await col.query({ queryEmbeddings: [[1, 0, 0, 0]], nResults: 1 });
  assert.deepEqual(q.ids, [['r1']]);
  assert.equal(await col.count(), SEED.records.ids.length);
}

async function replicaHealthy(ha) {
  return (await ha.instance('replica')).healthy;
}

describe('failover when the replica crashes', () => {
  let stack;
  let client;

  before(async () => {
    stack = await startStack({
      name: 'failover',
      env: { CIRCUIT_BREAKER_TIMEOUT: String(CIRCUIT_BREAKER_S) },
    });
    await seedDirect(stack.primary.url);
    await seedDirect(stack.replica.url);
    client = makeClient(stack.ha.url);
  });

  after(async () => {
    await stack?.stop();
  });

  test('with both up, reads go to the replica', { timeout: 30000 }, async () => {
    await readAll(client); // warm-up: chroma-ha learns the collection
    const before = await requestCounts(stack.ha);
    await readAll(client);
    const now = await requestCounts(stack.ha);
    assert.ok(now.replica > before.replica, `replica ${before.replica} -> ${now.replica}`);
    assert.equal(now.primary, before.primary, `primary ${before.primary} -> ${now.primary}`);
  });

  test('replica killed: reads keep succeeding through the primary', { timeout: 60000 }, async () => {
    const before = await requestCounts(stack.ha);
    await stack.replica.kill('SIGKILL');

    // Read continuously from the moment of the crash until /status has marked the replica down
    // (and a little after): no read may fail, including those before the health checks notice.
    let reads = 0;
    const deadline = Date.now() + DOWN_DEADLINE_MS;
    let down = false;
    while (Date.now() < deadline) {
      await readAll(client);
      reads++;
      if (!(await replicaHealthy(stack.ha))) {
        down = true;
        break;
      }
    }
    assert.ok(down, `replica still healthy in /status ${DOWN_DEADLINE_MS} ms after SIGKILL`);
    for (let i = 0; i < 3; i++, reads++) await readAll(client);

    const now = await requestCounts(stack.ha);
    assert.ok(now.primary > before.primary, `primary served reads: ${before.primary} -> ${now.primary}`);
    assert.ok(reads >= 3);

    const health = await http(`${stack.ha.url}/health`);
    assert.equal(health.status, 200, health.text);
    assert.equal(health.json?.status, 'degraded', health.text);
    const primary = await stack.ha.instance('primary');
    assert.equal(primary.healthy, true);
  });

  test('replica restarted: healthy again within the thresholds, reads return to it', { timeout: 60000 }, async () => {
    await stack.replica.start();
    const t0 = Date.now();
    await waitFor(() => replicaHealthy(stack.ha), {
      timeoutMs: UP_DEADLINE_MS,
      intervalMs: 50,
      what: `replica healthy in /status (deadline ${UP_DEADLINE_MS} ms)`,
    });
    const tookMs = Date.now() - t0;

    const health = await http(`${stack.ha.url}/health`);
    assert.equal(health.status, 200, health.text);
    assert.equal(health.json?.status, 'healthy', health.text);

    // Reads go to the replica again: at the latest once the circuit breaker (passive failures seen
    // during the outage) lets client traffic try it again, then every read.
    await waitFor(
      async () => {
        const b = await requestCounts(stack.ha);
        await readAll(client);
        return (await requestCounts(stack.ha)).replica > b.replica;
      },
      { timeoutMs: CIRCUIT_BREAKER_S * 1000 + SLACK_MS, intervalMs: 100, what: 'a read served by the replica' },
    );
    const before = await requestCounts(stack.ha);
    await readAll(client);
    await readAll(client);
    const now = await requestCounts(stack.ha);
    assert.ok(now.replica > before.replica, `replica ${before.replica} -> ${now.replica} (healthy after ${tookMs} ms)`);
    assert.equal(now.primary, before.primary, `primary ${before.primary} -> ${now.primary}`);
  });
});
