// TLS for the end-to-end tests: a private PKI made with the `openssl` CLI in a temp dir, and a
// TLS front (Node `tls`) on 127.0.0.1 that terminates TLS and relays the bytes to a plain TCP
// target (a Chroma server), counting what it receives after each completed handshake.
//
//   const pki = makePki(dir);                       // pki.ca, pki.cert('localhost'), ...
//   const front = await TlsFront.start({ target: 8001, ...pki.cert('localhost') });
//   ... front.port, front.handshakes, front.bytesAfterHandshake ...
//   await front.stop(); await front.start();       // the same port again

import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';

function openssl(args, cwd) {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.status ?? r.error}): ${r.stderr}`);
}

// A CA named `ca` in `dir` (ca.key, ca.pem).
function makeCa(dir, ca) {
  openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '2', '-subj', `/CN=chroma-ha test ${ca}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    dir,
  );
}

// A server certificate NAME.crt / NAME.key for `san`, signed by CA `ca`.
function makeServer(dir, ca, name, san) {
  openssl(
    ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`,
      '-out', `${name}.csr`, '-subj', `/CN=${name}`],
    dir,
  );
  fs.writeFileSync(path.join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\nsubjectAltName=${san}\n`);
  openssl(
    ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial',
      '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`],
    dir,
  );
}

// The test PKI: `ca` (trusted by the tests through SSL_CERT_FILE) signs `localhost` (DNS:localhost,
// IP:127.0.0.1), `localhost2` (the same names, another key: for reload tests) and `other` (a
// certificate for another host name); `stranger-ca` (trusted by nobody) signs `stranger`
// (DNS:localhost, IP:127.0.0.1).
export function makePki(dir) {
  const pkiDir = path.join(dir, 'pki');
  fs.mkdirSync(pkiDir, { recursive: true });
  makeCa(pkiDir, 'ca');
  makeCa(pkiDir, 'stranger-ca');
  makeServer(pkiDir, 'ca', 'localhost', 'DNS:localhost,IP:127.0.0.1');
  makeServer(pkiDir, 'ca', 'localhost2', 'DNS:localhost,IP:127.0.0.1');
  makeServer(pkiDir, 'ca', 'other', 'DNS:other.example');
  makeServer(pkiDir, 'stranger-ca', 'stranger', 'DNS:localhost,IP:127.0.0.1');
  const file = (f) => path.join(pkiDir, f);
  return {
    dir: pkiDir,
    ca: file('ca.pem'),
    // {certFile, keyFile, cert, key} of server certificate `name`.
    cert(name) {
      return {
        certFile: file(`${name}.crt`),
        keyFile: file(`${name}.key`),
        cert: fs.readFileSync(file(`${name}.crt`)),
        key: fs.readFileSync(file(`${name}.key`)),
      };
    },
  };
}

export class TlsFront {
  constructor({ target, cert, key, port = 0 }) {
    this.target = target;
    this.options = { cert, key };
    this.port = port;
    this.server = null;
    this.sockets = new Set();
    this.handshakes = 0; // completed TLS handshakes
    this.bytesAfterHandshake = 0; // application bytes received from clients
  }

  static async start(opts) {
    const front = new TlsFront(opts);
    await front.start();
    return front;
  }

  start() {
    const server = tls.createServer(this.options, (clear) => {
      this.handshakes++;
      this.sockets.add(clear);
      const upstream = net.connect(this.target, '127.0.0.1');
      this.sockets.add(upstream);
      clear.on('data', (chunk) => {
        this.bytesAfterHandshake += chunk.length;
      });
      clear.pipe(upstream);
      upstream.pipe(clear);
      const done = () => {
        clear.destroy();
        upstream.destroy();
        this.sockets.delete(clear);
        this.sockets.delete(upstream);
      };
      for (const s of [clear, upstream]) {
        s.on('error', done);
        s.on('close', done);
      }
    });
    server.on('tlsClientError', () => {}); // refused handshakes are what some tests expect
    server.on('connection', (raw) => {
      this.sockets.add(raw);
      raw.on('close', () => this.sockets.delete(raw));
      raw.on('error', () => {});
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        this.port = server.address().port;
        resolve(this);
      });
    });
  }

  // Closes the listener and every connection (a front that went away).
  stop() {
    const server = this.server;
    this.server = null;
    if (!server) return Promise.resolve();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}

// A TCP listener on 127.0.0.1 that accepts and never answers (a silent TLS front).
export async function startSilentFront() {
  const sockets = new Set();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    accepted: () => server.connections ?? sockets.size,
    stop: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// The SHA-256 fingerprint of the certificate served at 127.0.0.1:`port` (servername localhost),
// trusting `ca`.
export function servedFingerprint(port, ca) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: fs.readFileSync(ca) }, () => {
      const fp = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fp);
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('TLS connect timed out')));
    socket.on('error', reject);
  });
}

// The SHA-256 fingerprint of a PEM certificate file.
export function fileFingerprint(certFile) {
  return new crypto.X509Certificate(fs.readFileSync(certFile)).fingerprint256;
}
