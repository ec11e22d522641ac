// Helpers shared by the repair and anti-entropy tests: run a chroma-ha command, and change a
// Chroma server directly (behind chroma-ha's back).

import { spawn } from 'node:child_process';
import { CHROMA_HA_BIN, http, makeClient } from './harness.mjs';

// Runs `chroma-ha ARGS`; resolves {code, stdout, stderr}.
export function runChromaHa(args, { env = {}, timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(CHROMA_HA_BIN, args, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// A collection of `n` records with every field set.
export function records(prefix, n, dim = 3) {
  return {
    ids: Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, '0')}`),
    embeddings: Array.from({ length: n }, (_, i) => Array.from({ length: dim }, (_, d) => (i + d) * 0.01)),
    documents: Array.from({ length: n }, (_, i) => `document ${prefix} ${i}`),
    metadatas: Array.from({ length: n }, (_, i) => ({ i, label: `l${i}` })),
    uris: Array.from({ length: n }, (_, i) => `s3://bucket/${prefix}/${i}`),
  };
}

// A Chroma API call on `url` that must answer 200 or 201; returns the parsed body.
export async function chroma(url, method, path, body) {
  const r = await http(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status !== 200 && r.status !== 201) throw new Error(`${method} ${path}: HTTP ${r.status} ${r.text}`);
  return r.text ? JSON.parse(r.text) : null;
}

export async function collectionId(url, name) {
  return (await makeClient(url).getCollection({ name, embeddingFunction: null })).id;
}

const TD = '/api/v2/tenants/default_tenant/databases/default_database';

// On `url`, collection `name` (holding ids `${prefix}000`..): deletes 2 records, alters 3
// (document, metadata key, embedding) and adds 1. 6 record differences.
export async function divergeRecords(url, name, prefix) {
  const id = await collectionId(url, name);
  const at = `${TD}/collections/${id}`;
  await chroma(url, 'POST', `${at}/delete`, { ids: [`${prefix}001`, `${prefix}002`] });
  await chroma(url, 'POST', `${at}/update`, { ids: [`${prefix}003`], documents: ['altered'] });
  await chroma(url, 'POST', `${at}/update`, { ids: [`${prefix}004`], metadatas: [{ extra: 'key' }] });
  await chroma(url, 'POST', `${at}/update`, { ids: [`${prefix}005`], embeddings: [[9, 9, 9]] });
  await chroma(url, 'POST', `${at}/add`, {
    ids: ['intruder'],
    embeddings: [[1, 1, 1]],
    documents: ['not on the primary'],
  });
}
