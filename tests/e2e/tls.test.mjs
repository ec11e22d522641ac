// TLS (issue 12): real Chroma servers behind local TLS fronts (Node `tls`, certificates made by the
// `openssl` CLI with a private CA).
//  - https:// instances, CA trusted through SSL_CERT_FILE: the official JS client's full cycle
//    works through chroma-ha over TLS to both instances, the WAL replay reaches the replica
//    over TLS after its front was down, and `chroma-ha verify` compares them over TLS.
//  - A certificate from an untrusted CA, one for another host name, and a front that accepts and
//    never answers: each instance is reported down with a clear error in /status, and not one
//    byte is sent to it after a handshake; clients are served by the primary meanwhile.
//  - TLS on the listener (TLS_CERT_FILE / TLS_KEY_FILE): an https client (the official one,
//    trusting the CA) works; SIGHUP serves a new certificate to new connections while an open
//    connection keeps working; a bad file on SIGHUP keeps the old certificate.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import {
  CHROMA_HA_BIN,
  ROOT,
  chromaHaEnv,
  freePort,
  http,
  makeClient,
  makeTempDir,
  startChroma,
  startChromaHa,
  waitFor,
  waitWalDrained,
  walStatus,
} from './harness.mjs';
import { TlsFront, fileFingerprint, makePki, servedFingerprint, startSilentFront } from './tls_front.mjs';

const RECORDS = {
  ids: ['a', 'b', 'c'],
  embeddings: [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
  ],
  documents: ['alpha', 'beta', 'gamma'],
  metadatas: [{ n: 1 }, { n: 2 }, { n: 3 }],
};

// The sorted ids of collection `name` read directly from a Chroma server (around chroma-ha).
async function directIds(url, name) {
  const col = await makeClient(url).getCollection({ name });
  return (await col.get()).ids.sort();
}

let dir;
let pki;
let primary;
let replica;

before(async () => {
  dir = makeTempDir('tls');
  pki = makePki(dir);
  [primary, replica] = await Promise.all([startChroma({ dir, name: 'primary' }), startChroma({ dir, name: 'replica' })]);
});

after(async () => {
  await Promise.all([primary?.destroy(), replica?.destroy()]);
});

describe('https:// instances with the CA trusted (SSL_CERT_FILE)', () => {
  let frontP;
  let frontR;
  let ha;

  before(async () => {
    frontP = await TlsFront.start({ target: primary.port, ...pki.cert('localhost') });
    frontR = await TlsFront.start({ target: replica.port, ...pki.cert('localhost') });
    ha = await startChromaHa({
      dir,
      primaryUrl: `https://localhost:${frontP.port}`,
      replicaUrl: `https://localhost:${frontR.port}`,
      env: { SSL_CERT_FILE: pki.ca, WAL_SYNC_INTERVAL: '1', WAL_PATH: path.join(dir, 'wal-trusted.sqlite3') },
    });
    await ha.waitAllHealthy();
  });

  after(async () => {
    await ha?.stop();
    await Promise.all([frontP?.stop(), frontR?.stop()]);
  });

  test('the official client: create, add, query, get, delete over TLS to both instances', { timeout: 30000 }, async () => {
    const client = makeClient(ha.url);
    const col = await client.createCollection({ name: 'tls-docs', embeddingFunction: null });
    await col.add(RECORDS);
    const q = await col.query({ queryEmbeddings: [[1, 0, 0]], nResults: 1 });
    assert.deepEqual(q.ids, [['a']]);
    const got = await col.get({ ids: ['b'], include: ['documents', 'metadatas'] });
    assert.deepEqual(got.documents, ['beta']);
    assert.deepEqual(got.metadatas, [{ n: 2 }]);
    await col.delete({ ids: ['c'] });
    assert.equal(await col.count(), 2);
    await waitWalDrained(ha);
    assert.deepEqual(await directIds(primary.url, 'tls-docs'), ['a', 'b']);
    assert.deepEqual(await directIds(replica.url, 'tls-docs'), ['a', 'b']);
    // Everything went through the fronts, over TLS, on reused connections.
    assert.ok(frontP.bytesAfterHandshake > 0 && frontR.bytesAfterHandshake > 0);
    const s = await ha.status();
    for (const inst of s.instances) {
      assert.match(inst.url, /^https:\/\/localhost:/);
      assert.equal(inst.healthy, true, JSON.stringify(inst));
    }
  });

  test('the WAL backlog is replayed to the replica over TLS once its front is back', { timeout: 45000 }, async () => {
    await frontR.stop();
    await waitFor(async () => (await ha.instance('replica')).healthy === false, { timeoutMs: 10000, what: 'replica down' });
    const col = await makeClient(ha.url).getCollection({ name: 'tls-docs' });
    await col.add({ ids: ['d', 'e'], embeddings: [[1, 1, 0], [0, 1, 1]], documents: ['delta', 'epsilon'] });
    const pending = (await walStatus(ha)).instances.find((i) => i.name === 'replica');
    assert.ok(pending.pending_entries > 0, JSON.stringify(pending));
    const handshakes = frontR.handshakes;
    await frontR.start(); // the same port
    await waitWalDrained(ha, { timeoutMs: 30000 });
    assert.ok(frontR.handshakes > handshakes, 'the replay came through the TLS front');
    assert.deepEqual(await directIds(replica.url, 'tls-docs'), ['a', 'b', 'd', 'e']);
    assert.deepEqual(await directIds(primary.url, 'tls-docs'), ['a', 'b', 'd', 'e']);
  });

  test('chroma-ha verify compares the instances over TLS', { timeout: 30000 }, async () => {
    const urls = [`https://localhost:${frontP.port}`, `https://localhost:${frontR.port}`];
    // Asynchronously: the TLS fronts run in this process.
    const run = (env) =>
      new Promise((resolve) => {
        const child = spawn(CHROMA_HA_BIN, ['verify', ...urls], { env: { PATH: process.env.PATH, ...env } });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
        child.on('close', (status) => {
          clearTimeout(timer);
          resolve({ status, stdout, stderr });
        });
      });
    const ok = await run({ SSL_CERT_FILE: pki.ca });
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^converged/m);
    const untrusted = await run({});
    assert.equal(untrusted.status, 2, untrusted.stdout + untrusted.stderr);
    assert.match(untrusted.stdout + untrusted.stderr, /certificate not trusted/);
  });
});

describe('certificates that must be refused, and a silent TLS front', () => {
  let frontOther;
  let frontStranger;
  let silent;
  let ha;

  before(async () => {
    frontOther = await TlsFront.start({ target: replica.port, ...pki.cert('other') });
    frontStranger = await TlsFront.start({ target: replica.port, ...pki.cert('stranger') });
    silent = await startSilentFront();
    ha = await startChromaHa({
      dir,
      primaryUrl: primary.url,
      replicaUrl: undefined,
      env: {
        REPLICA_URL: undefined,
        REPLICA_URLS: [frontOther.port, frontStranger.port, silent.port].map((p) => `https://localhost:${p}`).join(','),
        SSL_CERT_FILE: pki.ca,
        CONNECT_TIMEOUT_MS: '500',
        WAL_PATH: path.join(dir, 'wal-refused.sqlite3'),
      },
    });
  });

  after(async () => {
    await ha?.stop();
    await Promise.all([frontOther?.stop(), frontStranger?.stop(), silent?.stop()]);
  });

  test('each is reported down with its reason; nothing is sent to them', { timeout: 30000 }, async () => {
    const expected = {
      replica: /TLS handshake failed: certificate does not match the instance's host name/,
      replica2: /TLS handshake failed: certificate not trusted: unable to get local issuer certificate/,
      replica3: /TLS handshake timed out/,
    };
    await waitFor(
      async () => {
        const s = await ha.status();
        return Object.entries(expected).every(([name, re]) => {
          const inst = s.instances.find((i) => i.name === name);
          return inst && inst.healthy === false && re.test(inst.last_error);
        });
      },
      { timeoutMs: 15000, what: 'the three TLS replicas down with their reasons' },
    );
    const health = await http(`${ha.url}/health`);
    assert.equal(health.status, 200, health.text);

    // Clients are served (by the primary) while the replicas are refused.
    const col = await makeClient(ha.url).createCollection({ name: 'refused-docs', embeddingFunction: null });
    await col.add(RECORDS);
    assert.deepEqual((await col.get({ ids: ['a'] })).ids, ['a']);
    assert.equal(await col.count(), 3);

    for (const front of [frontOther, frontStranger]) {
      assert.equal(front.handshakes, 0);
      assert.equal(front.bytesAfterHandshake, 0);
    }
    // The replica behind the refused fronts never saw the collection.
    const names = (await makeClient(replica.url).listCollections()).map((c) => c.name ?? c);
    assert.ok(!names.includes('refused-docs'), JSON.stringify(names));
  });
});

// chroma-ha started by this test (the harness probes over plain http), stopped by PID.
class HttpsHa {
  constructor(env, logBase) {
    this.env = env;
    this.logBase = logBase;
    this.child = null;
  }

  async start(port) {
    this.port = port;
    const out = fs.openSync(`${this.logBase}.log`, 'a');
    this.child = spawn(CHROMA_HA_BIN, [], { env: this.env, stdio: ['ignore', out, out], cwd: ROOT });
    fs.closeSync(out);
    process.once('exit', () => this.child?.kill('SIGKILL'));
    await waitFor(async () => (await this.get('/health')).status === 200, { timeoutMs: 20000, what: 'chroma-ha over https' });
  }

  // GET over https trusting the test CA, on a new connection.
  get(target) {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: this.port, servername: 'localhost', ca: fs.readFileSync(pki.ca) }, () => {
        socket.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
      });
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (d) => (text += d));
      socket.on('end', () => resolve({ status: Number(text.split(' ')[1]), text }));
      socket.on('error', reject);
      socket.setTimeout(5000, () => socket.destroy(new Error('timed out')));
    });
  }

  log() {
    return fs.existsSync(`${this.logBase}.log`) ? fs.readFileSync(`${this.logBase}.log`, 'utf8') : '';
  }

  async stop() {
    if (!this.child || this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

describe('TLS on the listener (TLS_CERT_FILE / TLS_KEY_FILE)', () => {
  let ha;
  let certFile;
  let keyFile;

  before(async () => {
    certFile = path.join(dir, 'listener.crt');
    keyFile = path.join(dir, 'listener.key');
    fs.copyFileSync(pki.cert('localhost').certFile, certFile);
    fs.copyFileSync(pki.cert('localhost').keyFile, keyFile);
    const port = await freePort();
    const env = chromaHaEnv({
      port,
      primaryUrl: primary.url,
      replicaUrl: replica.url,
      dir,
      env: { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, WAL_PATH: path.join(dir, 'wal-listener.sqlite3') },
    });
    ha = new HttpsHa(env, path.join(dir, 'chroma-ha-https'));
    await ha.start(port);
  });

  after(async () => {
    await ha?.stop();
  });

  test('the official client over https, trusting the test CA', { timeout: 30000 }, async () => {
    // Node's fetch reads extra CAs at start only: the client runs in a child with NODE_EXTRA_CA_CERTS.
    const script = `
      import { ChromaClient } from 'chromadb';
      const client = new ChromaClient({ host: 'localhost', port: ${ha.port}, ssl: true });
      const col = await client.createCollection({ name: 'https-docs', embeddingFunction: null });
      await col.add({ ids: ['x', 'y'], embeddings: [[1, 0], [0, 1]], documents: ['ex', 'why'] });
      const got = await col.get({ ids: ['y'], include: ['documents'] });
      console.log(JSON.stringify({ docs: got.documents, count: await col.count() }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: ROOT,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: pki.ca },
      encoding: 'utf8',
      timeout: 20000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()), { docs: ['why'], count: 2 });
    // Plain http on the https port is not served.
    await assert.rejects(http(`http://127.0.0.1:${ha.port}/health`, { timeoutMs: 3000 }));
  });

  test('SIGHUP: new connections get the new certificate, an open one keeps working', { timeout: 30000 }, async () => {
    const first = pki.cert('localhost').certFile;
    const second = pki.cert('localhost2').certFile;
    assert.equal(await servedFingerprint(ha.port, pki.ca), fileFingerprint(first));

    // A keep-alive connection opened before the reload.
    const open = tls.connect({ host: '127.0.0.1', port: ha.port, servername: 'localhost', ca: fs.readFileSync(pki.ca) });
    await new Promise((resolve, reject) => open.once('secureConnect', resolve).once('error', reject));

    fs.copyFileSync(second, certFile);
    fs.copyFileSync(pki.cert('localhost2').keyFile, keyFile);
    process.kill(ha.child.pid, 'SIGHUP');
    await waitFor(async () => (await servedFingerprint(ha.port, pki.ca)) === fileFingerprint(second), {
      timeoutMs: 10000,
      what: 'the new certificate served after SIGHUP',
    });

    const answer = new Promise((resolve, reject) => {
      let text = '';
      open.setEncoding('utf8');
      open.on('data', (d) => {
        text += d;
        if (text.includes('\r\n\r\n')) resolve(text);
      });
      open.once('error', reject);
    });
    open.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
    assert.match(await answer, /^HTTP\/1\.1 200 /);
    assert.equal(open.getPeerCertificate().fingerprint256, fileFingerprint(first));
    open.destroy();

    // A bad file on SIGHUP: logged, and the certificate in use stays.
    fs.writeFileSync(certFile, 'not a certificate\n');
    process.kill(ha.child.pid, 'SIGHUP');
    await waitFor(() => /listener TLS reload failed/.test(ha.log()), { timeoutMs: 10000, what: 'the failed reload' });
    assert.equal(await servedFingerprint(ha.port, pki.ca), fileFingerprint(second));
    assert.equal((await ha.get('/health')).status, 200);
  });
});
