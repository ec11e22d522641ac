// Record-by-record comparison of two Chroma servers through their HTTP API (directly, not through
// chroma-ha):
//
//   const diffs = await compareServers(primary.url, replica.url);   // [] when identical
//   const { differences, stats } = await compareServersDetailed(a, b, { tenants: ['default_tenant'] });
//
// Compared: for each tenant given (default: default_tenant), the database names; in each database
// the collections by name with their metadata (parsed JSON, key order ignored) and configuration;
// in each collection every record: ids, embeddings (as float32), documents, metadatas (parsed JSON,
// key order ignored) and uris. Collections and records are read in pages. Server-assigned values
// (collection and database UUIDs, log positions, versions) are not compared.

import { http } from './harness.mjs';

const JSON_HEADERS = { 'content-type': 'application/json' };

async function getJson(url, { method = 'GET', body, timeoutMs = 30000 } = {}) {
  const r = await http(url, {
    method,
    headers: body === undefined ? {} : JSON_HEADERS,
    body: body === undefined ? undefined : JSON.stringify(body),
    timeoutMs,
  });
  if (r.status !== 200 || r.json === undefined) {
    throw new Error(`${method} ${url} answered ${r.status}: ${r.text.slice(0, 500)}`);
  }
  return r.json;
}

// Stable JSON text of a value: object keys sorted at every level.
export function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`)
      .join(',')}}`;
  }
  if (value === undefined) return 'null';
  return JSON.stringify(value);
}

function float32Equal(a, b) {
  if (a === null || a === undefined || b === null || b === undefined) return a == b; // eslint-disable-line eqeqeq
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (Math.fround(a[i]) !== Math.fround(b[i])) return false;
  return true;
}

// Everything a server holds under the given tenants:
// {tenant: {database: {collectionName: {metadata, configuration, records: Map(id -> record)}}}}
export async function snapshotServer(url, { tenants = ['default_tenant'], pageSize = 500 } = {}) {
  const out = {};
  for (const tenant of tenants) {
    out[tenant] = {};
    const dbs = [];
    for (let offset = 0; ; offset += pageSize) {
      const page = await getJson(
        `${url}/api/v2/tenants/${encodeURIComponent(tenant)}/databases?limit=${pageSize}&offset=${offset}`,
      );
      dbs.push(...page);
      if (page.length < pageSize) break;
    }
    for (const db of dbs) {
      const td = `${url}/api/v2/tenants/${encodeURIComponent(tenant)}/databases/${encodeURIComponent(db.name)}`;
      const cols = {};
      out[tenant][db.name] = cols;
      const listed = [];
      for (let offset = 0; ; offset += pageSize) {
        const page = await getJson(`${td}/collections?limit=${pageSize}&offset=${offset}`);
        listed.push(...page);
        if (page.length < pageSize) break;
      }
      for (const c of listed) {
        const records = new Map();
        for (let offset = 0; ; offset += pageSize) {
          const page = await getJson(`${td}/collections/${c.id}/get`, {
            method: 'POST',
            body: { limit: pageSize, offset, include: ['embeddings', 'documents', 'metadatas', 'uris'] },
          });
          const ids = page.ids ?? [];
          ids.forEach((id, i) => {
            records.set(id, {
              embedding: page.embeddings?.[i] ?? null,
              document: page.documents?.[i] ?? null,
              metadata: page.metadatas?.[i] ?? null,
              uri: page.uris?.[i] ?? null,
            });
          });
          if (ids.length < pageSize) break;
        }
        if (cols[c.name]) throw new Error(`${url}: two collections named ${c.name} in ${tenant}/${db.name}`);
        cols[c.name] = {
          metadata: c.metadata ?? null,
          configuration: c.configuration_json ?? null,
          dimension: c.dimension ?? null,
          records,
        };
      }
    }
  }
  return out;
}

function show(v) {
  const s = typeof v === 'string' ? JSON.stringify(v) : canonical(v);
  return s.length > 200 ? `${s.slice(0, 200)}...` : s;
}

// Differences between two snapshots, as readable strings. At most `maxPerCollection` record
// differences are listed per collection (then a count of the rest).
export function diffSnapshots(a, b, { labels = ['A', 'B'], maxPerCollection = 20 } = {}) {
  const [la, lb] = labels;
  const diffs = [];
  const keys = (x, y) => [...new Set([...Object.keys(x ?? {}), ...Object.keys(y ?? {})])].sort();
  for (const tenant of keys(a, b)) {
    for (const db of keys(a[tenant], b[tenant])) {
      const ca = a[tenant]?.[db];
      const cb = b[tenant]?.[db];
      const where = `${tenant}/${db}`;
      if (!ca || !cb) {
        diffs.push(`database ${where} only on ${ca ? la : lb}`);
        continue;
      }
      for (const name of keys(ca, cb)) {
        const x = ca[name];
        const y = cb[name];
        const cw = `${where}/${name}`;
        if (!x || !y) {
          const has = x ?? y;
          diffs.push(`collection ${cw} only on ${x ? la : lb} (${has.records.size} records)`);
          continue;
        }
        if (canonical(x.metadata) !== canonical(y.metadata)) {
          diffs.push(`collection ${cw} metadata: ${la} ${show(x.metadata)} vs ${lb} ${show(y.metadata)}`);
        }
        if (canonical(x.configuration) !== canonical(y.configuration)) {
          diffs.push(`collection ${cw} configuration: ${la} ${show(x.configuration)} vs ${lb} ${show(y.configuration)}`);
        }
        if (x.dimension !== y.dimension && x.records.size > 0 && y.records.size > 0) {
          diffs.push(`collection ${cw} dimension: ${la} ${x.dimension} vs ${lb} ${y.dimension}`);
        }
        const recDiffs = [];
        for (const id of [...new Set([...x.records.keys(), ...y.records.keys()])].sort()) {
          const r = x.records.get(id);
          const s = y.records.get(id);
          if (!r || !s) {
            recDiffs.push(`${cw} id ${JSON.stringify(id)} only on ${r ? la : lb}`);
            continue;
          }
          if (!float32Equal(r.embedding, s.embedding)) {
            recDiffs.push(`${cw} id ${JSON.stringify(id)} embedding: ${la} ${show(r.embedding)} vs ${lb} ${show(s.embedding)}`);
          }
          if (r.document !== s.document) {
            recDiffs.push(`${cw} id ${JSON.stringify(id)} document: ${la} ${show(r.document)} vs ${lb} ${show(s.document)}`);
          }
          if (canonical(r.metadata) !== canonical(s.metadata)) {
            recDiffs.push(`${cw} id ${JSON.stringify(id)} metadata: ${la} ${show(r.metadata)} vs ${lb} ${show(s.metadata)}`);
          }
          if (r.uri !== s.uri) {
            recDiffs.push(`${cw} id ${JSON.stringify(id)} uri: ${la} ${show(r.uri)} vs ${lb} ${show(s.uri)}`);
          }
        }
        diffs.push(...recDiffs.slice(0, maxPerCollection));
        if (recDiffs.length > maxPerCollection) {
          diffs.push(`${cw}: ${recDiffs.length - maxPerCollection} more record differences`);
        }
      }
    }
  }
  return diffs;
}

function countSnapshot(snap) {
  let databases = 0;
  let collections = 0;
  let records = 0;
  for (const t of Object.values(snap)) {
    for (const cols of Object.values(t)) {
      databases++;
      for (const c of Object.values(cols)) {
        collections++;
        records += c.records.size;
      }
    }
  }
  return { databases, collections, records };
}

// {differences, stats: {a: {databases, collections, records}, b: {...}}, snapshots: [a, b]}
export async function compareServersDetailed(urlA, urlB, opts = {}) {
  const { labels = ['primary', 'replica'] } = opts;
  const [a, b] = await Promise.all([snapshotServer(urlA, opts), snapshotServer(urlB, opts)]);
  return {
    differences: diffSnapshots(a, b, { ...opts, labels }),
    stats: { [labels[0]]: countSnapshot(a), [labels[1]]: countSnapshot(b) },
    snapshots: [a, b],
  };
}

// The list of differences between two Chroma servers ([] when identical).
export async function compareServers(urlA, urlB, opts = {}) {
  return (await compareServersDetailed(urlA, urlB, opts)).differences;
}

// Ids of every record of collection `name` in tenant/database on a snapshot (a Set; empty if the
// collection is missing).
export function snapshotIds(snap, name, { tenant = 'default_tenant', database = 'default_database' } = {}) {
  return new Set(snap[tenant]?.[database]?.[name]?.records.keys() ?? []);
}
