// Helpers for the hardening scenarios (hardening.test.mjs): freezing a PostgreSQL with SIGSTOP,
// timing chroma-ha's own endpoints while a fault lasts, writes that probe for recovery, hostile
// requests, and the checks that go with them.

import fs from 'node:fs';
import { TD, send } from './workload.mjs';

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// The PIDs of a PostgreSQL server: its postmaster and every process whose parent it is (the
// backends, checkpointer, walwriter, ...), read from /proc.
export function pgProcesses(pg) {
  const postmaster = pg.postmasterPid();
  if (!postmaster) throw new Error(`no postmaster.pid in ${pg.dataDir}`);
  const children = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone
    }
    // pid (comm) state ppid ...: comm may contain spaces, so parse after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === postmaster) children.push(Number(entry));
  }
  return [postmaster, ...children];
}

function signal(pids, sig) {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // exited meanwhile
    }
  }
}

// SIGSTOP to the postmaster first (it forks no new backend then), then to all its children: the
// server keeps its connections open and answers nothing. Returns the frozen PIDs for thaw().
export function freezePostgres(pg) {
  const [postmaster] = pgProcesses(pg);
  signal([postmaster], 'SIGSTOP');
  const pids = pgProcesses(pg);
  signal(pids.slice(1), 'SIGSTOP');
  return pids;
}

// SIGCONT to the frozen children, then the postmaster (and any child it has now).
export function thawPostgres(pg, pids) {
  signal(pids.slice(1), 'SIGCONT');
  signal([pids[0]], 'SIGCONT');
  signal(pgProcesses(pg), 'SIGCONT');
}

// GETs `url` every `everyMs` until stop(); each sample is { t0, ms, status } (status 0: no
// answer within `timeoutMs`, or a network error). stop() resolves the samples.
export function pollLatency(url, { everyMs = 200, timeoutMs = 2000 } = {}) {
  const samples = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const t0 = Date.now();
      const start = performance.now();
      const ctl = new AbortController();
      const timer = setTimeout(() => ctl.abort(), timeoutMs);
      let status = 0;
      try {
        const res = await fetch(url, { signal: ctl.signal });
        await res.text();
        status = res.status;
      } catch {
        status = 0;
      } finally {
        clearTimeout(timer);
      }
      samples.push({ t0, ms: Math.round(performance.now() - start), status });
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return samples;
    },
  };
}

// After a fault is healed at `healedAt`: adds a fresh id to the scenario collection every 100 ms
// (recorded in wl.ops like a workload write, so the loss checks cover them) until one is
// acknowledged. Returns the ms from the heal to that 2xx, or null if none within `deadlineMs`.
export async function recoverWrites(sc, wl, healedAt, { deadlineMs = 30000, tag = 'recover' } = {}) {
  for (let n = 0; Date.now() - healedAt < deadlineMs; n++) {
    const id = `${tag}-${wl.ops.length}-${n}`;
    const t0 = Date.now();
    const res = await send(sc.ha.url, 'POST', `${TD}/collections/${sc.col.id}/add`,
      { ids: [id], embeddings: [[0, 1, 0]], documents: [id], metadatas: [{ v: id }] }, 5000);
    wl.ops.push({ client: -1, n, kind: 'add', ids: [id], value: id, outcome: res.outcome, status: res.status, error: res.error, t0, t: Date.now() });
    if (res.outcome === 'ok') return Date.now() - healedAt;
    await sleep(100);
  }
  return null;
}

// Writes that overlap a fault window ({ from, to }) and were not answered within `boundMs`.
// Returns { longest, slow: [description] } over the writes that overlap any window.
export function slowAnswers(ops, windows, boundMs) {
  let longest = 0;
  const slow = [];
  for (const op of ops) {
    const w = windows.find((x) => op.t > x.from && op.t0 < x.to);
    if (!w) continue;
    const ms = op.t - op.t0;
    longest = Math.max(longest, ms);
    if (ms > boundMs) slow.push(`${op.kind} ${op.ids[0]}: ${op.outcome} ${op.status || op.error} after ${ms} ms (sent ${op.t0 - w.from} ms after ${w.label} began)`);
  }
  return { longest, slow };
}

// The client's answer must be true: no write sent and answered inside a window in which the
// store could commit nothing got a 2xx; no add whose 5xx answer said "not applied" is on an
// instance. `instances`: { label: Map id -> record }.
export function answersTrueProblems(ops, windows, instances) {
  const problems = [];
  for (const op of ops) {
    const w = windows.find((x) => op.t0 >= x.from && op.t <= x.to);
    if (w && op.outcome === 'ok') problems.push(`${op.kind} ${op.ids[0]} got ${op.status} while the store could commit nothing (${w.label})`);
    if (op.kind === 'add' && op.status >= 500 && /not applied/i.test(op.message ?? '')) {
      for (const [label, recs] of Object.entries(instances)) {
        if (recs.has(op.ids[0])) problems.push(`${label}: ${op.ids[0]} is present, but its client was told ${op.status} "${op.message}"`);
      }
    }
  }
  return problems;
}

// The hostile neighbour's requests (kind, method, path, body: a string or Buffer, sent as is).
export function hostileRequests(collectionId) {
  const col = `${TD}/collections/${collectionId}`;
  const good = JSON.stringify({ ids: ['h'], embeddings: [[1, 0, 0]], documents: ['h'] });
  return [
    ['DELETE a collection named %FF%FE', 'DELETE', `${TD}/collections/%FF%FE`, undefined],
    ['add to a collection named %FF%FE', 'POST', `${TD}/collections/%FF%FE/add`, good],
    ['DELETE a collection named a%00b', 'DELETE', `${TD}/collections/a%00b`, undefined],
    ['add in database %FF', 'POST', `/api/v2/tenants/default_tenant/databases/%FF/collections/${collectionId}/add`, good],
    ['add with a truncated JSON body', 'POST', `${col}/add`, '{"ids": ["hostile-truncated"], "embeddings": [[1, 0'],
    ['upsert with an id of raw bytes FF FE', 'POST', `${col}/upsert`,
      Buffer.concat([Buffer.from('{"ids": ["hostile-'), Buffer.from([0xff, 0xfe]), Buffer.from('"], "embeddings": [[1, 0, 0]], "documents": ["x"]}')])],
    ['add with an id holding a lone surrogate escape', 'POST', `${col}/add`, '{"ids": ["hostile-\\udc80"], "embeddings": [[1, 0, 0]], "documents": ["x"]}'],
    ['delete with a body that is not JSON', 'POST', `${col}/delete`, 'ids=hostile'],
  ];
}

// Sends the hostile requests round-robin, `pauseMs` apart, until `until` settles. Each result:
// { kind, status, json, ms }.
export async function hostileNeighbour(url, collectionId, until, { pauseMs = 5 } = {}) {
  const reqs = hostileRequests(collectionId);
  const results = [];
  let done = false;
  until.finally(() => { done = true; });
  for (let i = 0; !done; i++) {
    const [kind, method, path, body] = reqs[i % reqs.length];
    const t0 = Date.now();
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), 10000);
    try {
      const res = await fetch(`${url}${path}`, { method, headers: { 'content-type': 'application/json' }, body, signal: ctl.signal });
      const text = await res.text();
      let json;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      results.push({ kind, status: res.status, json, text: text.slice(0, 200), ms: Date.now() - t0 });
    } catch (e) {
      results.push({ kind, status: 0, error: e?.cause?.code ?? e?.name, ms: Date.now() - t0 });
    } finally {
      clearTimeout(timer);
    }
    await sleep(pauseMs);
  }
  return results;
}

// The hostile requests' answers that are not 4xx with a JSON {error, message} body, grouped.
export function hostileProblems(results) {
  const bad = new Map();
  for (const r of results) {
    const ok = r.status >= 400 && r.status < 500 && typeof r.json?.error === 'string' && typeof r.json?.message === 'string';
    if (ok) continue;
    const key = `${r.kind}: ${r.status || r.error} ${r.text ?? ''}`;
    bad.set(key, (bad.get(key) ?? 0) + 1);
  }
  return [...bad].map(([k, n]) => `${n}x ${k}`);
}

// WAL order for one serial client (each write answered before the next is sent, so its send
// order is the WAL order of its logged writes): each hot key must hold the value of the key's
// last acknowledged write, or of an unknown-outcome write sent after it (it may have been
// applied, in its place in the order), never an older value: an in-doubt write applied after a
// later acknowledged write of its collection shows here. `initial`: the key's seed value.
export function serialOrderProblems(label, records, ops, seedValue) {
  const problems = [];
  const byKey = new Map();
  for (const op of ops) {
    if (op.kind !== 'upsert' && op.kind !== 'update') continue;
    if (!byKey.has(op.ids[0])) byKey.set(op.ids[0], []);
    byKey.get(op.ids[0]).push(op);
  }
  for (const [key, writes] of byKey) {
    writes.sort((a, b) => a.t0 - b.t0);
    let lastOk = -1;
    writes.forEach((w, i) => { if (w.outcome === 'ok') lastOk = i; });
    const allowed = new Set([lastOk >= 0 ? writes[lastOk].value : seedValue(key)]);
    for (const w of writes.slice(lastOk + 1)) if (w.outcome === 'unknown') allowed.add(w.value);
    const v = records.get(key)?.metadata?.v;
    if (!allowed.has(v)) {
      const at = writes.findIndex((w) => w.value === v);
      problems.push(`${label}: ${key} holds ${JSON.stringify(v)}${at >= 0 ? ` (write ${at + 1} of ${writes.length}, ${writes[at].outcome} ${writes[at].status})` : ''}, but the last acknowledged write of it was ${lastOk >= 0 ? JSON.stringify(writes[lastOk].value) : 'none'}: a write applied out of WAL order`);
    }
  }
  return problems;
}
