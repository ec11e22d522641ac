// The fault suite's settings and its scenario wrapper, shared by fault.test.mjs and
// hardening.test.mjs (docs/reliability.md).
//
//   FAULT_FULL=1      the full set (more clients and operations, scenarios marked `full`)
//   FAULT_SEED=N      the run seed (printed; each scenario's seed is derived from it)
//   FAULT_ONLY=a,b    only scenarios whose name contains one of these
//   FAULT_REPORT=F    write the result rows as JSON to F (hardening.test.mjs: F with
//                     ".hardening" before its extension)

import fs from 'node:fs';
import { test } from 'node:test';
import { pinned } from './pin_binary.mjs';
import { Scenario, stopSharedPostgres } from './scenario.mjs';
import { pickSeed } from './workload.mjs';

export const FULL = process.env.FAULT_FULL === '1';
export const ONLY = process.env.FAULT_ONLY || '';
export const SEED = pickSeed();
export const CLIENTS = FULL ? 8 : 4;
export const OPS = FULL ? 150 : 40; // per client, the base figure; scenarios scale it
export const LONG = FULL ? OPS : OPS * 2; // scenarios whose fault needs the load to last a while
export const CONVERGE_S = FULL ? 60 : 30; // the stated bound: verify --wait
export const TIMEOUT_MS = FULL ? 240000 : 90000; // per scenario

// A suite of scenarios: `scenario(name, opts, body)` defines one node:test test on its own stack
// (Scenario.start), runs `body(sc)` (inject the fault, heal) and stops the stack after (its data
// kept if it failed). `full` = only with FAULT_FULL=1 (then not defined at all). `seedBase`
// keeps the seeds of two suites apart. `report()` (in an after() hook) prints the rows and
// writes FAULT_REPORT.
export function makeSuite({ name, seedBase = 0, reportSuffix = '' }) {
  const results = [];
  const start = Date.now();
  let scenarioNo = seedBase;
  console.log(`${name}: seed ${SEED} (FAULT_SEED=${SEED} to repeat), ${FULL ? 'FULL' : 'short'}: ${CLIENTS} clients, base ${OPS} ops per client`);

  function scenario(label, { full = false, store = 'sqlite', relay = null, env = {}, convergeS = CONVERGE_S, timeout = TIMEOUT_MS, fleet = 1 } = {}, body) {
    const seed = (SEED + ++scenarioNo) >>> 0;
    if (full && !FULL) return;
    if (ONLY && !ONLY.split(',').some((part) => label.includes(part))) return;
    test(`${label} [${store}]`, { timeout }, async () => {
      const sc = await Scenario.start(label, { seed, store, relay, env, convergeS, results, fleet });
      let ok = false;
      try {
        await body(sc);
        ok = true;
      } finally {
        await sc.stop({ keep: !ok });
      }
    });
  }

  function report() {
    stopSharedPostgres();
    const lines = results.map((r) => JSON.stringify(r));
    const total = results.reduce((a, r) => ({ ops: a.ops + (r.ops ?? 0), ok: a.ok + (r.ok ?? 0), lost: a.lost + (r.lost ?? 0) }), { ops: 0, ok: 0, lost: 0 });
    console.log(`${name} results (seed ${SEED}, ${((Date.now() - start) / 1000).toFixed(0)} s; ${total.ops} ops, ${total.ok} acknowledged, ${total.lost} lost):\n${lines.join('\n')}`);
    if (process.env.FAULT_REPORT) {
      const file = reportSuffix ? process.env.FAULT_REPORT.replace(/(\.[^./]*)?$/, (ext) => `${reportSuffix}${ext}`) : process.env.FAULT_REPORT;
      fs.writeFileSync(file, `${JSON.stringify({ seed: SEED, full: FULL, binary_built: pinned?.mtime, clients: CLIENTS, ops: OPS, seconds: (Date.now() - start) / 1000, results }, null, 2)}\n`);
    }
  }

  return { scenario, results, report };
}
