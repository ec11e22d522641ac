// Steps of the hardening scenarios that are more than a few lines (hardening.test.mjs): the
// `throw` failpoint phases and the in-doubt ordered pair. Each appends what it finds wrong to
// `problems`, so that the scenario still heals and reports every check.

import { http, sleep, waitFor, walStatus } from '../e2e/harness.mjs';
import { TD, errorMessage, send } from './workload.mjs';

function upsert(sc, key, v, timeoutMs = 10000) {
  return send(sc.ha.url, 'POST', `${TD}/collections/${sc.col.id}/upsert`,
    { ids: [key], embeddings: [[0, 0, 1]], documents: [v], metadatas: [{ v }] }, timeoutMs);
}

function describeOp(o) {
  return `${o.kind} ${o.ids[0]}: ${o.status || o.error} ${o.message ?? ''}`.trim();
}

// One phase of the `throw` scenario: chroma-ha restarted with `spec` (e.g.
// before_wal_append=throw@5), a small workload, then: exactly one write was answered 500 with a
// JSON error (the one that hit the throw), every other write was answered, chroma-ha is the same
// process, a further write of the collection is acknowledged and /status answers 200.
export async function throwPhase(sc, spec, { clients, opsPerClient, seedOffset, problems }) {
  await sc.restartHa(spec);
  const pid = sc.ha.pid;
  const point = spec.split('=')[0];
  const wl = sc.workload({ clients, opsPerClient, tag: `throw-${point}`, seedOffset, pauseMs: 10 });
  const running = wl.run();
  const finished = await Promise.race([running.then(() => true), sleep(30000).then(() => false)]);
  if (!finished) {
    problems.push(`${spec}: the workload (${clients} x ${opsPerClient} writes) did not finish within 30 s`);
    wl.stop();
    await running;
  }
  const fired = wl.ops.filter((o) => o.status === 500);
  if (fired.length !== 1) problems.push(`${spec}: expected exactly one write answered 500 (the one that hit the throw), got ${fired.length}`);
  for (const o of fired) if (o.message === undefined) problems.push(`${spec}: the 500 has no JSON error body`);
  const others = wl.ops.filter((o) => o.outcome !== 'ok' && o.status !== 500);
  if (others.length) problems.push(`${spec}: ${others.length} other writes failed: ${others.slice(0, 5).map(describeOp).join('; ')}`);

  const t0 = Date.now();
  const value = `after-${point}`;
  const w = await upsert(sc, 'hot-1', value, 5000);
  wl.ops.push({ client: -1, n: 0, kind: 'upsert', ids: ['hot-1'], value, outcome: w.outcome, status: w.status, error: w.error, message: errorMessage(w), t0, t: Date.now() });
  if (w.outcome !== 'ok') problems.push(`${spec}: afterwards a write of the collection got ${w.status || w.error} ${w.text ?? ''} after ${Date.now() - t0} ms`);
  let st;
  try {
    st = await http(`${sc.ha.url}/status`, { timeoutMs: 5000 });
  } catch (e) {
    st = { status: 0, text: e.message };
  }
  if (st.status !== 200 || !st.json) problems.push(`${spec}: afterwards GET /status answered ${st.status} ${st.text?.slice(0, 200)}`);
  const alive = sc.ha.alive() && sc.ha.pid === pid;
  if (!alive) problems.push(`${spec}: chroma-ha exited (exit code ${sc.ha.child?.exitCode}, signal ${sc.ha.child?.signalCode})\n${sc.ha.logTail(15)}`);
  return { wl, row: { spec, ops: wl.ops.length, answered_500: fired.length, other_failures: others.length, write_after: w.status || w.error, status_after: st.status, same_process: alive } };
}

// The operation logs of several workloads as one (for Scenario.heal).
export function mergedOps(sc, wls) {
  const all = sc.workload({ clients: 0, opsPerClient: 0, tag: 'all' });
  all.ops = wls.flatMap((w) => w.ops);
  return all;
}

// The in-doubt pair: chroma-ha restarted with `spec` (commit_ack_lost=error@1), `upsert hot-0 =
// doubt-a` must get 503 (its batch is durable, the outcome unknown to chroma-ha), then
// `upsert hot-0 = doubt-b` must be acknowledged; once nothing is unresolved or pending, both
// instances hold doubt-b (doubt-a, if applied at all, was applied before it). Returns a row; the
// acknowledged value becomes an allowed seed value of hot-0 for the later checks.
export async function orderPair(sc, spec, problems) {
  await sc.restartHa(spec);
  const a = await upsert(sc, 'hot-0', 'doubt-a');
  if (a.status !== 503) problems.push(`${spec}: the in-doubt upsert got ${a.status || a.error} ${a.text ?? ''} (503 expected: did the failpoint fire?)`);
  const b = await upsert(sc, 'hot-0', 'doubt-b');
  if (b.outcome !== 'ok') problems.push(`${spec}: the later upsert got ${b.status || b.error} ${b.text ?? ''}`);
  sc.col.initial.add('doubt-b');
  const values = {};
  try {
    await waitFor(async () => { const st = await walStatus(sc.ha); return st.unresolved_entries === 0 && st.instances.every((i) => i.pending_entries === 0); },
      { timeoutMs: 30000, intervalMs: 100, what: 'the in-doubt write resolved and replayed' });
    for (const [role, inst] of [['primary', sc.primary], ['replica', sc.replica]]) {
      const g = await http(`${inst.url}${TD}/collections/${sc.col.ids[role]}/get`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ids: ['hot-0'], include: ['documents'] }) });
      values[role] = g.json?.documents?.[0];
    }
    if (b.outcome === 'ok' && (values.primary !== 'doubt-b' || values.replica !== 'doubt-b')) {
      problems.push(`${spec}: hot-0 holds ${JSON.stringify(values)}, not the acknowledged later write doubt-b: the in-doubt write was applied after it`);
    }
  } catch (e) {
    problems.push(`${spec}: ${e.message}`);
  }
  return { a: a.status || a.error, a_message: errorMessage(a), b: b.status || b.error, values };
}
