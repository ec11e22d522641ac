// A/B of the proxy path: chroma-ha variants (binaries, environments) against HAProxy, interleaved,
// in both upstream set-ups of bench/suite.mjs part 1 (one nginx worker answering both instances'
// ports, "shared"; one nginx process per instance, "split"). For measuring one change at a time;
// bench/run.sh (parts proxy, proxy2) is the reference run.
//
//   node bench/proxy_ab.mjs [--rounds 3] [--secs 4] [--setups shared,split]
//        [--tests get64,post64,get1,post1] [--no-haproxy]
//        --variant 'base=/path/chroma-ha' --variant 'new=build/chroma-ha:LD_PRELOAD=/x.so,THREADS=2'
//
// Prints, per set-up and test, the median req/s, p99 and CPU µs per request of each contender,
// how busy the busiest nginx was (% of one core: near 100, its one worker is the ceiling and no
// proxy can go faster), and each variant's median per-round ratio to HAProxy (and to the first
// variant). Every process
// listens on 127.0.0.1 (free ports) and is stopped by PID; every load is one bounded wrk run.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { freePort, startChromaHa, waitFor, pidListensOn } from '../tests/e2e/harness.mjs';
import { cpuSeconds, envList, procTree } from './proc.mjs';
import { UUID, fakeUpstreamConf, haproxyConf } from './proxy_conf.mjs';

const argv = process.argv.slice(2);
const opt = (n, d) => (argv.indexOf(`--${n}`) >= 0 ? argv[argv.indexOf(`--${n}`) + 1] : d);
const all = (n) => argv.flatMap((a, i) => (a === `--${n}` ? [argv[i + 1]] : []));
const ROUNDS = Number(opt('rounds', 3));
const SECS = Number(opt('secs', 4));
const SETUPS = opt('setups', 'shared,split').split(',');
const TESTS = opt('tests', 'get64,post64,get1,post1').split(',');
const HAPROXY = !argv.includes('--no-haproxy');
const variants = all('variant').map((v) => {
  const [name, rest] = [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)];
  const [bin, envText] = [rest.split(':')[0], rest.split(':').slice(1).join(':')];
  const env = envList(envText);
  return { name, bin: path.resolve(bin), env };
});
if (variants.length === 0) throw new Error('give at least one --variant name=bin[:K=V,...]');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chroma-ha-proxy-ab-'));
const children = [];
const log = (...a) => console.log(`[${new Date().toISOString().slice(11, 19)}]`, ...a);
const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const cpu = (pid) => cpuSeconds(procTree(pid));

async function daemon(name, cmd, args, ports) {
  const out = fs.openSync(path.join(dir, `${name}.log`), 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', out, out] });
  children.push(child);
  await waitFor(() => {
    if (child.exitCode !== null) throw Object.assign(new Error(`${name} exited`), { fatal: true });
    return ports.every((p) => procTree(child.pid).some((pid) => pidListensOn(pid, p)));
  }, { timeoutMs: 10000, what: `${name} listening` });
  return child;
}

function wrk(url, conns, lua) {
  const args = ['-k', '5', String(SECS + 20), 'wrk', `-t${Math.min(2, conns)}`, `-c${conns}`, `-d${SECS}s`, '--latency'];
  if (lua) args.push('-s', lua);
  const r = spawnSync('timeout', [...args, url], { encoding: 'utf8' });
  const o = r.stdout;
  const m = /^\s+99%\s+([\d.]+)(us|ms|s)/m.exec(o);
  const p99 = m ? Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1) : NaN;
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(o)?.[1] ?? 0);
  if (non2xx) log(`${url}: ${non2xx} non-2xx answers`);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(o)?.[1] ?? NaN), requests: Number(/(\d+) requests in/.exec(o)?.[1] ?? 0), p99 };
}

let upstreamPids = []; // the nginx master processes of the set-up (their workers are children)

async function setup(kind) {
  const [pp, pr, ph] = [await freePort(), await freePort(), await freePort()];
  const upstreams = kind === 'shared' ? [[`${kind}-fake`, [pp, pr]]] : [[`${kind}-primary`, [pp]], [`${kind}-replica`, [pr]]];
  upstreamPids = [];
  for (const [name, ports] of upstreams) upstreamPids.push((await daemon(name, 'nginx', ['-p', dir, '-c', fakeUpstreamConf(dir, name, ports)], ports)).pid);
  const contenders = [];
  if (HAPROXY) {
    const cfg = haproxyConf(dir, `${kind}-haproxy`, ph, pp, pr);
    const h = await daemon(`${kind}-haproxy`, 'haproxy', ['-db', '-f', cfg], [ph]);
    contenders.push({ name: 'haproxy', url: `http://127.0.0.1:${ph}`, pid: h.pid });
  }
  for (const v of variants) {
    const ha = await startChromaHa({
      dir: fs.mkdtempSync(path.join(dir, `${kind}-${v.name}-`)),
      primaryUrl: `http://127.0.0.1:${pp}`,
      replicaUrl: `http://127.0.0.1:${pr}`,
      env: { LOG_LEVEL: 'warn', WAL_ENABLED: 'false', HEALTH_CHECK_INTERVAL_MS: undefined, FAILURE_THRESHOLD: undefined, HEALTHY_THRESHOLD: undefined, ...v.env },
      bin: v.bin,
    });
    children.push({ kill: () => ha.stop() });
    await ha.waitAllHealthy({ timeoutMs: 15000 });
    contenders.push({ name: v.name, url: ha.url, pid: ha.pid });
  }
  return contenders;
}

const body = `{"ids":[${Array.from({ length: 60 }, (_, i) => `"record-id-${String(i).padStart(6, '0')}"`).join(',')}],"include":["documents","metadatas"],"pad":"`;
const post = body + 'p'.repeat(2048 - body.length - 2) + '"}';
const lua = path.join(dir, 'post.lua');
fs.writeFileSync(lua, `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [==[${post}]==]\n`);
const TEST = {
  get64: { conns: 64, path: '/api/v2/heartbeat' },
  post64: { conns: 64, path: `/api/v2/tenants/t/databases/d/collections/${UUID}/get`, lua },
  get1: { conns: 1, path: '/api/v2/heartbeat' },
  post1: { conns: 1, path: `/api/v2/tenants/t/databases/d/collections/${UUID}/get`, lua },
};

try {
  const report = {};
  for (const kind of SETUPS) {
    const contenders = await setup(kind);
    for (const t of TESTS) {
      const runs = Object.fromEntries(contenders.map((c) => [c.name, []]));
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < contenders.length; i++) {
          const c = contenders[(i + round) % contenders.length];
          const cpu0 = cpu(c.pid);
          const nginx0 = upstreamPids.map(cpu);
          const t0 = performance.now();
          const r = wrk(`${c.url}${TEST[t].path}`, TEST[t].conns, TEST[t].lua);
          const wall = (performance.now() - t0) / 1000;
          r.cpuUs = ((cpu(c.pid) - cpu0) / r.requests) * 1e6;
          // The busiest nginx (one worker each) in % of one core: near 100, it is the ceiling.
          r.nginxBusy = Math.max(...upstreamPids.map((p, k) => ((cpu(p) - nginx0[k]) / wall) * 100));
          r.load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
          runs[c.name].push(r);
        }
      }
      const ref = variants[0].name;
      const rows = contenders.map((c) => {
        const rs = runs[c.name];
        const ratio = (other) => (runs[other] ? median(rs.map((r, i) => r.rps / runs[other][i].rps)).toFixed(3) : '–');
        return { contender: c.name, rps: Math.round(median(rs.map((r) => r.rps))), p99ms: median(rs.map((r) => r.p99)), cpuUsPerReq: +median(rs.map((r) => r.cpuUs)).toFixed(2), nginxBusyPct: Math.round(median(rs.map((r) => r.nginxBusy))), vsHaproxy: ratio('haproxy'), vsFirst: ratio(ref), load: rs.map((r) => r.load).join(' ') };
      });
      report[`${kind} ${t}`] = rows;
      log(`${kind} ${t}`);
      console.table(rows);
    }
    for (const c of children.splice(0)) c.kill();
  }
  fs.writeFileSync(path.join(dir, 'report.json'), JSON.stringify(report, null, 1));
  log(`report: ${path.join(dir, 'report.json')}`);
} finally {
  for (const c of children) c.kill();
}
