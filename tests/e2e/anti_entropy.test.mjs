// The background anti-entropy checker (VERIFY_INTERVAL, AUTO_REPAIR) with two real Chroma
// servers behind chroma-ha. Data written through chroma-ha replicates; then the replica is changed
// behind chroma-ha's back (records deleted, altered and added directly): the next pass finds the
// collection divergent (/wal/status "anti_entropy", /metrics), and only that collection; a plain
// `verify` agrees. Restarted with AUTO_REPAIR=true, the checker repairs it and `verify` finds the
// servers converged.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TD, http, startStack, waitFor } from './harness.mjs';
import { chroma, collectionId, divergeRecords, records, runChromaHa } from './diverge.mjs';

const INTERVAL_S = 1.5;

async function antiEntropy(ha) {
  const r = await http(`${ha.url}/wal/status`);
  assert.equal(r.status, 200, r.text);
  const ae = JSON.parse(r.text).anti_entropy;
  assert.ok(ae, `no anti_entropy in /wal/status: ${r.text}`);
  return ae;
}

describe('anti-entropy checker', () => {
  let stack;

  before(async () => {
    stack = await startStack({
      name: 'anti-entropy',
      env: { VERIFY_INTERVAL: String(INTERVAL_S), WAL_SYNC_INTERVAL: '0.2' },
    });
    for (const [name, prefix] of [['docs', 'd'], ['calm', 'c']]) {
      await chroma(stack.ha.url, 'POST', `${TD}/collections`, { name, metadata: { name } });
      const id = await collectionId(stack.ha.url, name);
      await chroma(stack.ha.url, 'POST', `${TD}/collections/${id}/add`, records(prefix, 25));
    }
    const converged = await runChromaHa(
      ['verify', stack.primary.url, stack.replica.url, '--wait', '20'],
    );
    assert.equal(converged.code, 0, `${converged.stdout}\n${converged.stderr}`);
  });

  after(async () => {
    await stack?.stop();
  });

  test('writes through chroma-ha while passes run are behind, never divergent', async () => {
    const id = await collectionId(stack.ha.url, 'docs');
    const start = (await antiEntropy(stack.ha)).passes;
    let i = 0;
    // Writes until at least two passes ran during them.
    while ((await antiEntropy(stack.ha)).passes < start + 2) {
      await chroma(stack.ha.url, 'POST', `${TD}/collections/${id}/upsert`, {
        ids: [`d${String(i % 25).padStart(3, '0')}`],
        embeddings: [[i * 0.01, 0.01, 0.02]],
        documents: [`document d ${i % 25}`],
        metadatas: [{ i: i % 25, label: `l${i % 25}` }],
        uris: [`s3://bucket/d/${i % 25}`],
      });
      i++;
    }
    const converged = await runChromaHa(
      ['verify', stack.primary.url, stack.replica.url, '--wait', '20'],
    );
    assert.equal(converged.code, 0, converged.stdout);
    const ae = await antiEntropy(stack.ha);
    console.log(`anti-entropy under load: ${i} upserts, ${ae.passes - start} passes, last skipped ${ae.collections_skipped}`);
    assert.equal(ae.divergences_total, 0, JSON.stringify(ae));
  });

  test('a replica changed behind chroma-ha is found within one interval', async () => {
    // A clean pass first: replication alone is never reported.
    await waitFor(async () => {
      const ae = await antiEntropy(stack.ha);
      return ae.passes >= 1 && ae.divergent.length === 0 && ae.collections_checked === 2;
    }, { timeoutMs: 15000, what: 'a clean anti-entropy pass' });
    await divergeRecords(stack.replica.url, 'docs', 'd');
    const changedAt = Date.now();
    const passesAtChange = (await antiEntropy(stack.ha)).passes;
    let found;
    await waitFor(async () => {
      const ae = await antiEntropy(stack.ha);
      found = ae;
      return ae.divergent.length > 0;
    }, { timeoutMs: INTERVAL_S * 1000 * 2 + 5000, intervalMs: 100, what: 'the divergence' });
    const elapsed = Date.now() - changedAt;
    console.log(`anti-entropy: divergence found ${elapsed} ms after the change (interval ${INTERVAL_S} s, pass ${found.last_pass_duration_ms} ms)`);
    // The pass running at the change may miss it; the next one (started within one interval) finds it.
    assert.ok(found.passes <= passesAtChange + 2, JSON.stringify(found));
    assert.equal(found.divergent.length, 1, JSON.stringify(found.divergent));
    const d = found.divergent[0];
    assert.deepEqual(
      [d.instance, d.tenant, d.database, d.collection, d.differences, d.repaired],
      ['replica', 'default_tenant', 'default_database', 'docs', 6, false],
    );
    assert.ok(found.digest_mismatches >= 1);
    const metrics = (await http(`${stack.ha.url}/metrics`)).text;
    assert.match(metrics, /chroma_ha_divergent_collections\{instance="replica"\} 1\n/);
    assert.match(metrics, /chroma_ha_divergences_total [1-9]/);
    const status = JSON.parse((await http(`${stack.ha.url}/status`)).text);
    assert.equal(status.anti_entropy.divergent[0].collection, 'docs');
    // Without AUTO_REPAIR nothing is changed: verify still sees the 6 differences.
    const res = await runChromaHa(['verify', stack.primary.url, stack.replica.url]);
    assert.equal(res.code, 1, res.stdout);
    assert.match(res.stdout, /^6 differences\n/);
  });

  test('AUTO_REPAIR=true repairs the divergent collection', async () => {
    stack.ha.env = { ...stack.ha.env, AUTO_REPAIR: 'true' };
    await stack.restartHa();
    await stack.ha.waitAllHealthy();
    let repaired;
    await waitFor(async () => {
      const ae = await antiEntropy(stack.ha);
      repaired = ae;
      return ae.repairs_ok_total >= 1;
    }, { timeoutMs: INTERVAL_S * 1000 * 2 + 10000, intervalMs: 100, what: 'the repair' });
    assert.equal(repaired.auto_repair, true);
    assert.equal(repaired.divergent[0].collection, 'docs');
    assert.equal(repaired.divergent[0].repaired, true, JSON.stringify(repaired.divergent));
    const res = await runChromaHa(['verify', stack.primary.url, stack.replica.url]);
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout, /^converged: 2 instances, 1 databases, 2 collections, 50 records/);
    // The next pass finds nothing, and the metric is back to 0.
    await waitFor(async () => (await antiEntropy(stack.ha)).divergent.length === 0 &&
      (await antiEntropy(stack.ha)).passes > repaired.passes,
    { timeoutMs: INTERVAL_S * 1000 * 2 + 5000, what: 'a clean pass after the repair' });
    const metrics = (await http(`${stack.ha.url}/metrics`)).text;
    assert.match(metrics, /chroma_ha_divergent_collections\{instance="replica"\} 0\n/);
    assert.match(metrics, /chroma_ha_anti_entropy_repairs_total\{result="ok"\} 1\n/);
  });
});
