// Fault suite, part 2: the faults of issue 10 ("no request can hurt another, and no silent
// dependency can hang chroma-ha"), each with a workload through chroma-ha on a real PostgreSQL 15
// WAL (docs/reliability.md, "Hardening scenarios"):
//
//   a. PostgreSQL frozen (SIGSTOP of its postmaster and backends), then SIGCONT;
//   b. a TCP relay in front of PostgreSQL that blackholes, then passes;
//   c. a hostile neighbour: malformed writes next to the workload;
//   d. the `throw` failpoint at the request, before the WAL append and after the forward;
//   e. an in-doubt commit (`commit_ack_lost`: durable, but the writers are told "unknown").
//
// Same commands and variables as fault.test.mjs (node --test tests/fault/, FAULT_FULL=1,
// FAULT_SEED, FAULT_ONLY, FAULT_REPORT: this file writes F.hardening.json); same checks at the
// end of each scenario (Scenario.heal), plus each scenario's own.

import './pin_binary.mjs'; // first: before the harness reads $CHROMA_HA_BIN
import { after, describe } from 'node:test';
import { sleep, walStats } from '../e2e/harness.mjs';
import { CLIENTS, FULL, LONG, OPS, SEED, makeSuite } from './suite.mjs';
import {
  answersTrueProblems,
  freezePostgres,
  hostileNeighbour,
  hostileProblems,
  pollLatency,
  recoverWrites,
  slowAnswers,
  thawPostgres,
} from './stall.mjs';
import { mergedOps, orderPair, throwPhase } from './hardening_steps.mjs';

const { scenario, report } = makeSuite({ name: 'fault suite (hardening)', seedBase: 100, reportSuffix: '.hardening' });

const APPEND_TIMEOUT_MS = 1000; // WAL_APPEND_TIMEOUT_MS in these scenarios
const ANSWER_MARGIN_MS = 1000; // forward to Chroma and scheduling on a loaded 2-core machine
const WRITE_BOUND_MS = APPEND_TIMEOUT_MS + ANSWER_MARGIN_MS;
const OWN_ENDPOINT_BOUND_MS = 100; // issue 10: own endpoints answer from cached state
const STALL_MS = FULL ? 8000 : 4000;
const STALLS = FULL ? 2 : 1;
const RECOVER_DEADLINE_MS = 30000;

describe(`fault suite, hardening (seed ${SEED})`, { concurrency: 1 }, () => {
  after(report);

  // (a), (b) The WAL store stops answering with its connections left open. While it lasts: every
  // write overlapping it is answered within WAL_APPEND_TIMEOUT_MS + margin, /wal/status within
  // 100 ms, no write sent and answered inside it gets a 2xx, and no add told "not applied" is
  // ever applied. After it: writes are acknowledged again without restarting chroma-ha.
  const stalls = [
    ['PostgreSQL frozen (SIGSTOP), then SIGCONT', {}, (sc) => freezePostgres(sc.pg), (sc, pids) => thawPostgres(sc.pg, pids)],
    ['TCP relay to PostgreSQL blackholes, then passes', { relay: 'postgres' }, (sc) => sc.relay.setMode('blackhole'), (sc) => sc.relay.setMode('pass')],
  ];
  for (const [label, opts, stall, resume] of stalls) {
    scenario(label, { store: 'postgres-own', env: { WAL_APPEND_TIMEOUT_MS: String(APPEND_TIMEOUT_MS) }, ...opts }, async (sc) => {
      const pid = sc.ha.pid;
      const wl = sc.workload({ clients: CLIENTS, opsPerClient: LONG, tag: 'stall', pauseMs: 20 });
      const running = wl.run();
      const windows = [];
      const statusSamples = [];
      const recoverMs = [];
      const baseline = []; // /wal/status before each fault, for comparison (not checked)
      for (let i = 0; i < STALLS; i++) {
        const before = pollLatency(`${sc.ha.url}/wal/status`);
        await sleep(1500);
        baseline.push(...(await before.stop()));
        const handle = stall(sc);
        const from = Date.now();
        const poll = pollLatency(`${sc.ha.url}/wal/status`);
        try {
          await sleep(STALL_MS);
        } finally {
          resume(sc, handle);
        }
        const to = Date.now();
        statusSamples.push(...(await poll.stop()));
        windows.push({ from, to, label: `${label} #${i + 1}` });
        recoverMs.push(await recoverWrites(sc, wl, to, { deadlineMs: RECOVER_DEADLINE_MS }));
      }
      await running;
      const pre = [];
      const { longest, slow } = slowAnswers(wl.ops, windows, WRITE_BOUND_MS);
      if (slow.length) pre.push(`${slow.length} writes overlapping the fault were not answered within ${WRITE_BOUND_MS} ms (WAL_APPEND_TIMEOUT_MS ${APPEND_TIMEOUT_MS} + ${ANSWER_MARGIN_MS}): ${slow.slice(0, 8).join('; ')}`);
      const badStatus = statusSamples.filter((x) => x.status !== 200 || x.ms > OWN_ENDPOINT_BOUND_MS);
      if (badStatus.length) pre.push(`GET /wal/status during the fault: ${badStatus.length} of ${statusSamples.length} not 200 within ${OWN_ENDPOINT_BOUND_MS} ms: ${badStatus.slice(0, 5).map((x) => `${x.status || 'no answer'} after ${x.ms} ms`).join(', ')}`);
      if (statusSamples.length === 0) pre.push('GET /wal/status was never sent during the fault');
      recoverMs.forEach((ms, i) => { if (ms === null) pre.push(`no write was acknowledged within ${RECOVER_DEADLINE_MS} ms after fault #${i + 1} was healed`); });
      if (!sc.ha.alive() || sc.ha.pid !== pid) pre.push('chroma-ha exited during the scenario (writes must recover without a restart)');
      const inWindow = wl.ops.filter((o) => windows.some((w) => o.t > w.from && o.t0 < w.to)).length;
      if (inWindow === 0) pre.push('no write overlapped the fault');
      await sc.heal(wl, {
        faults: STALLS,
        extra: { writes_overlapping: inWindow, longest_write_ms: longest, status_samples: statusSamples.length, status_max_ms: Math.max(0, ...statusSamples.map((x) => x.ms)), status_baseline_max_ms: Math.max(0, ...baseline.map((x) => x.ms)), recover_ms: recoverMs },
        check: (instances) => [...pre, ...answersTrueProblems(wl.ops, windows, instances)],
      });
    });
  }

  // (c) A hostile neighbour: malformed writes (non-UTF-8 and NUL path segments, bodies that are
  // not JSON or hold invalid UTF-8) sent next to the workload. Every good write is acknowledged;
  // every hostile one gets a 4xx JSON error; /wal/stats wal_write_failures does not move.
  scenario('hostile neighbour: malformed writes next to the workload', { store: 'postgres' }, async (sc) => {
    const before = (await walStats(sc.ha)).wal_write_failures;
    const wl = sc.workload({ clients: CLIENTS, opsPerClient: OPS, tag: 'good', pauseMs: 5 });
    const running = wl.run();
    const hostile = await hostileNeighbour(sc.ha.url, sc.col.id, running);
    await running;
    const afterFailures = (await walStats(sc.ha)).wal_write_failures;
    const pre = [];
    const failed = new Map();
    for (const o of wl.ops.filter((x) => x.outcome !== 'ok')) {
      const key = `${o.status || o.error} ${o.message ?? ''}`;
      failed.set(key, (failed.get(key) ?? 0) + 1);
    }
    if (failed.size) pre.push(`${[...failed.values()].reduce((a, b) => a + b, 0)} of ${wl.ops.length} good writes failed: ${[...failed].map(([k, n]) => `${n}x ${k}`).join('; ')}`);
    const hp = hostileProblems(hostile);
    if (hp.length) pre.push(`hostile requests not answered 4xx JSON: ${hp.join('; ')}`);
    if (afterFailures !== before) pre.push(`/wal/stats wal_write_failures went from ${before} to ${afterFailures}`);
    if (hostile.length === 0) pre.push('no hostile request was sent');
    await sc.heal(wl, { faults: hostile.length, extra: { hostile: hostile.length, hostile_4xx: hostile.filter((r) => r.status >= 400 && r.status < 500).length, wal_write_failures: afterFailures - before }, check: () => pre });
  });

  // (d) The `throw` action at each stage, one at a time (chroma-ha restarted with each spec): the
  // write that hits it gets 500 JSON, and afterwards chroma-ha is the same process, the
  // collection still accepts writes and /status answers.
  scenario('failpoint throw: request, before_wal_append, after_forward', { store: 'postgres', timeout: FULL ? 300000 : 150000 }, async (sc) => {
    const pre = [];
    const phases = [];
    for (const [i, spec] of ['request=throw@5', 'before_wal_append=throw@5', 'after_forward=throw@5'].entries()) {
      phases.push(await throwPhase(sc, spec, { clients: 2, opsPerClient: FULL ? 40 : 10, seedOffset: i + 1, problems: pre }));
    }
    await sc.heal(mergedOps(sc, phases.map((p) => p.wl)), { faults: 3, extra: { phases: phases.map((p) => p.row) }, check: () => pre });
  });

  // (e) An in-doubt commit through the write path: `commit_ack_lost=error@N` makes a batch
  // durable and tells its writers the outcome is unknown. First a deterministic pair (the
  // in-doubt upsert of hot-0, then an acknowledged one: hot-0 must end with the acknowledged,
  // later value on both instances), then a workload whose Nth batch is in doubt (its clients get
  // 503; nothing acknowledged lost).
  scenario('in-doubt commit (commit_ack_lost), then later writes of the collection', { store: 'postgres' }, async (sc) => {
    const pre = [];
    const pair = await orderPair(sc, 'commit_ack_lost=error@1', pre);
    await sc.restartHa(`commit_ack_lost=error@${FULL ? 20 : 5}`);
    const wl = sc.workload({ clients: CLIENTS, opsPerClient: OPS, tag: 'doubt', pauseMs: 10 });
    await wl.run();
    const fiveXX = wl.ops.filter((o) => o.status >= 500);
    if (fiveXX.length === 0) pre.push('commit_ack_lost did not fire in the workload (no 5xx)');
    const not503 = fiveXX.filter((o) => o.status !== 503);
    if (not503.length) pre.push(`clients of the in-doubt batch must get 503: ${not503.map((o) => `${o.kind} ${o.ids[0]}: ${o.status} ${o.message ?? o.error}`).join('; ')}`);
    await sc.heal(wl, { faults: 2, extra: { pair, in_doubt_writes: fiveXX.map((o) => `${o.kind} ${o.ids[0]} ${o.status}`) }, check: () => pre });
  });
});
