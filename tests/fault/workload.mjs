// A seeded write workload through chroma-ha, recording each operation's outcome.
//
//   const wl = new Workload({ url: ha.url, collectionId, seed, clients: 4, opsPerClient: 40, tag: 'a' });
//   await wl.run();              // N concurrent clients, bounded op count
//   wl.summary()                 // counts by kind and outcome
//
// Operations: add (unique id), upsert / update of a small hot key set (each write carries a
// unique value in document and metadata `v`), delete of an id this client added with a 2xx.
// Outcomes: 'ok' (2xx), 'rejected' (4xx: definite), 'refused' (connection refused: never
// reached chroma-ha, definitely not applied), 'unknown' (other network error, 5xx, timeout).
// Each operation records when it was sent (t0) and answered (t), so that a test can check what
// happened inside a window in which the WAL store was down (see storeDownProblems).

export const TD = '/api/v2/tenants/default_tenant/databases/default_database';
export const HOT_KEYS = ['hot-0', 'hot-1', 'hot-2', 'hot-3', 'hot-4'];

// mulberry32: small, seeded, deterministic.
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pickSeed() {
  const env = process.env.FAULT_SEED;
  if (env !== undefined && env !== '') return Number.parseInt(env, 10) >>> 0;
  return Math.floor(Math.random() * 0xffffffff) >>> 0;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function errorCode(e) {
  return e?.cause?.code ?? e?.code ?? e?.name ?? 'error';
}

// One request; returns { outcome, status, error }.
export async function send(url, method, path, body, timeoutMs = 10000) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  try {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: ctl.signal,
    });
    const text = await res.text();
    const outcome = res.status >= 200 && res.status < 300 ? 'ok' : res.status >= 400 && res.status < 500 ? 'rejected' : 'unknown';
    return { outcome, status: res.status, text };
  } catch (e) {
    const code = errorCode(e);
    return { outcome: code === 'ECONNREFUSED' ? 'refused' : 'unknown', status: 0, error: code };
  } finally {
    clearTimeout(timer);
  }
}

// The "message" of a non-2xx JSON answer (what the client was told), else undefined.
export function errorMessage(res) {
  if (res.outcome === 'ok' || !res.text) return undefined;
  try {
    const m = JSON.parse(res.text)?.message;
    return typeof m === 'string' ? m.slice(0, 300) : undefined;
  } catch {
    return undefined;
  }
}

function vec(rand) {
  return [Math.round(rand() * 1000) / 1000, Math.round(rand() * 1000) / 1000, 1];
}

export class Workload {
  // `urls` (a fleet): client c sends its n-th operation to urls[(c + n) % urls.length], so its
  // successive writes of the same keys go through different proxies; else everything to `url`.
  constructor({ url, urls = null, collectionId, seed, clients = 4, opsPerClient = 40, tag = 'w', pauseMs = 5 }) {
    this.url = url; // may be changed while running (not needed: chroma-ha restarts on its port)
    this.urls = urls;
    this.collectionId = collectionId;
    this.seed = seed;
    this.clients = clients;
    this.opsPerClient = opsPerClient;
    this.tag = tag;
    this.pauseMs = pauseMs;
    this.ops = []; // { client, n, kind, ids, value, outcome, status, error, message, t0 (sent), t (answered) }
    this.stopped = false;
  }

  stop() {
    this.stopped = true;
  }

  async run() {
    const runs = [];
    for (let c = 0; c < this.clients; c++) runs.push(this.client(c));
    await Promise.all(runs);
    return this;
  }

  async client(c) {
    const rand = prng((this.seed ^ Math.imul(c + 1, 0x9e3779b1)) >>> 0);
    const added = []; // ids this client added with a 2xx and has not tried to delete
    const base = `${TD}/collections/${this.collectionId}`;
    for (let n = 0; n < this.opsPerClient && !this.stopped; n++) {
      const r = rand();
      const value = `${this.tag}-c${c}-n${n}`;
      let op;
      if (r < 0.45) {
        const id = `${this.tag}-add-c${c}-n${n}`;
        op = { kind: 'add', ids: [id], path: `${base}/add`, body: { ids: [id], embeddings: [vec(rand)], documents: [value], metadatas: [{ v: value }] } };
      } else if (r < 0.7) {
        const id = HOT_KEYS[Math.floor(rand() * HOT_KEYS.length)];
        op = { kind: 'upsert', ids: [id], value, path: `${base}/upsert`, body: { ids: [id], embeddings: [vec(rand)], documents: [value], metadatas: [{ v: value }] } };
      } else if (r < 0.85) {
        const id = HOT_KEYS[Math.floor(rand() * HOT_KEYS.length)];
        op = { kind: 'update', ids: [id], value, path: `${base}/update`, body: { ids: [id], documents: [value], metadatas: [{ v: value }] } };
      } else if (added.length > 0) {
        const id = added.splice(Math.floor(rand() * added.length), 1)[0];
        op = { kind: 'delete', ids: [id], path: `${base}/delete`, body: { ids: [id] } };
      } else {
        continue;
      }
      const t0 = Date.now();
      const url = this.urls ? this.urls[(c + n) % this.urls.length] : this.url;
      const res = await send(url, 'POST', op.path, op.body);
      this.ops.push({ client: c, n, kind: op.kind, ids: op.ids, value: op.value ?? value, outcome: res.outcome, status: res.status, error: res.error, message: errorMessage(res), t0, t: Date.now() });
      if (op.kind === 'add' && res.outcome === 'ok') added.push(op.ids[0]);
      if (res.outcome === 'refused' || res.outcome === 'unknown') await sleep(50 + Math.floor(rand() * 50));
      else if (this.pauseMs > 0) await sleep(this.pauseMs);
    }
  }

  summary() {
    const s = { total: this.ops.length, ok: 0, rejected: 0, refused: 0, unknown: 0, byKind: {} };
    for (const op of this.ops) {
      s[op.outcome]++;
      const k = (s.byKind[op.kind] ??= { ok: 0, rejected: 0, refused: 0, unknown: 0 });
      k[op.outcome]++;
    }
    return s;
  }
}

// What must hold on an instance, given the operation log (see checkRecords).
export function expectations(ops) {
  const mustHave = new Set();
  const mustNotHave = new Set();
  const maybeDeleted = new Set();
  const hotAllowed = new Map(HOT_KEYS.map((k) => [k, new Set()]));
  const hotForbidden = new Map(HOT_KEYS.map((k) => [k, new Set()]));
  for (const op of ops) {
    if (op.kind === 'delete' && (op.outcome === 'ok' || op.outcome === 'unknown')) maybeDeleted.add(op.ids[0]);
  }
  for (const op of ops) {
    if (op.kind === 'add') {
      if (op.outcome === 'ok' && !maybeDeleted.has(op.ids[0])) mustHave.add(op.ids[0]);
      if (op.outcome === 'rejected' || op.outcome === 'refused') mustNotHave.add(op.ids[0]);
    }
    if (op.kind === 'delete' && op.outcome === 'ok') mustNotHave.add(op.ids[0]);
    if (op.kind === 'upsert' || op.kind === 'update') {
      const set = op.outcome === 'ok' || op.outcome === 'unknown' ? hotAllowed : hotForbidden;
      set.get(op.ids[0]).add(op.value);
    }
  }
  return { mustHave, mustNotHave, hotAllowed, hotForbidden };
}

// Checks one instance's records ({ id -> { document, metadata } }) against the log. `initial` is
// the set of hot-key values written before the workload (seed values). Returns a list of problems.
export function checkRecords(label, records, ops, initial = new Set()) {
  const { mustHave, mustNotHave, hotAllowed } = expectations(ops);
  const problems = [];
  for (const id of mustHave) if (!records.has(id)) problems.push(`${label}: acknowledged add ${id} is missing`);
  for (const id of mustNotHave) if (records.has(id)) problems.push(`${label}: ${id} is present but was refused/rejected or deleted with a 2xx`);
  for (const key of HOT_KEYS) {
    const rec = records.get(key);
    if (!rec) {
      problems.push(`${label}: hot key ${key} is missing`);
      continue;
    }
    const v = rec.metadata?.v;
    if (!hotAllowed.get(key).has(v) && !initial.has(v)) {
      problems.push(`${label}: hot key ${key} holds ${JSON.stringify(v)}, not the value of an acknowledged or unknown-outcome write`);
    }
    if (rec.document !== v) problems.push(`${label}: hot key ${key} document ${JSON.stringify(rec.document)} != metadata v ${JSON.stringify(v)}`);
  }
  return problems;
}

// A write sent after the WAL store went down and answered before it came back cannot have been
// logged, so it must not get a 2xx ("no WAL, no write") and must never be applied. `windows` are
// [{ from, to, label }] in Date.now() ms, measured from the test's side: `from` after the store
// was down (e.g. `pg_ctl stop -m immediate` returned), `to` before it was started again.
// Returns { inWindow, problems } (problems: 2xx answers inside a window, and ids added inside a
// window that are on an instance; `instances` maps a label to that instance's records).
export function storeDownProblems(ops, windows, instances = {}) {
  const problems = [];
  let inWindow = 0;
  for (const w of windows) {
    for (const op of ops) {
      if (op.t0 < w.from || op.t > w.to) continue;
      inWindow++;
      if (op.outcome === 'ok') {
        problems.push(`${op.kind} ${op.ids[0]} got ${op.status} while the WAL store was down (${w.label}: sent +${op.t0 - w.from} ms, answered ${w.to - op.t} ms before it was back)`);
      }
      if (op.kind === 'add') {
        for (const [label, recs] of Object.entries(instances)) {
          if (recs.has(op.ids[0])) problems.push(`${label}: ${op.ids[0]} was added while the WAL store was down (${w.label}) and is present`);
        }
      }
    }
  }
  return { inWindow, problems };
}
