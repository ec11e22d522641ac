// The real binary with a configuration it cannot serve: a clean configuration error (exit status
// 2, a message naming the variable on stderr), never an abort (a ConfigError from building the
// parts used to escape as "terminate called ...", exit 134). https:// instances are served; a
// trust store (SSL_CERT_FILE) or listener certificate (TLS_CERT_FILE) that cannot be loaded is
// such an error.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { CHROMA_HA_BIN, makeTempDir } from './harness.mjs';

// Runs chroma-ha with only `env` (plus PATH) set; the start-up must end on its own.
function run(env, args = []) {
  if (!fs.existsSync(CHROMA_HA_BIN)) throw new Error(`${CHROMA_HA_BIN} does not exist: build it first`);
  const dir = makeTempDir('config-errors');
  const r = spawnSync(CHROMA_HA_BIN, args, {
    env: { PATH: process.env.PATH, LISTEN_ADDRESS: '127.0.0.1', WAL_PATH: `${dir}/wal.sqlite3`, ...env },
    encoding: 'utf8',
    timeout: 20000,
  });
  return { status: r.status, signal: r.signal, stderr: r.stderr, stdout: r.stdout };
}

describe('configuration errors of the real binary', () => {
  // https:// instances are served (issue 12); what cannot be served is refused at start.
  const cases = [
    ['SSL_CERT_FILE', { PRIMARY_URL: 'https://127.0.0.1:1', REPLICA_URL: 'http://127.0.0.1:2', SSL_CERT_FILE: '/nonexistent/ca.pem' },
      /^chroma-ha: configuration error: primary \(https:\/\/127\.0\.0\.1:1\): SSL_CERT_FILE: no certificate could be read from "\/nonexistent\/ca\.pem"/],
    ['TLS_KEY_FILE', { PRIMARY_URL: 'http://127.0.0.1:1', REPLICA_URL: 'http://127.0.0.1:2', TLS_CERT_FILE: '/x/cert.pem' },
      /^chroma-ha: configuration error: TLS_KEY_FILE: not set, but TLS_CERT_FILE is; set both to serve https, or neither\n$/],
    ['TLS_CERT_FILE', { PRIMARY_URL: 'http://127.0.0.1:1', REPLICA_URL: 'http://127.0.0.1:2', TLS_CERT_FILE: '/nonexistent/cert.pem', TLS_KEY_FILE: '/nonexistent/key.pem' },
      /^chroma-ha: configuration error: TLS_CERT_FILE: cannot load a certificate chain from "\/nonexistent\/cert\.pem": /],
  ];
  for (const [variable, env, message] of cases) {
    test(`${variable} that cannot be used: exit 2 with a message naming it`, () => {
      const r = run({ ...env, PORT: '1' }); // never bound: refused before the listener starts
      assert.equal(r.signal, null, `ended by a signal: ${r.signal}\n${r.stderr}`);
      assert.equal(r.status, 2, `exit status: ${r.status}\n${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /terminate called/);
    });
  }

  test('--help says instances may be http:// or https://', () => {
    const r = run({}, ['--help']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    const entry = (name) => {
      const i = lines.findIndex((l) => l.trimStart().startsWith(name));
      assert.ok(i >= 0, `--help lists ${name}`);
      let text = lines[i];
      for (let k = i + 1; k < lines.length && /^\s{40,}\S/.test(lines[k]); ++k) text += ` ${lines[k].trim()}`;
      return text;
    };
    for (const name of ['PRIMARY_URL', 'REPLICA_URL ', 'PROXY_URL']) {
      assert.match(entry(name), /http\(s\):\/\//, `${name}: ${entry(name)}`);
    }
    assert.match(entry('PRIMARY_URL'), /SSL_CERT_FILE/);
    assert.match(entry('TLS_CERT_FILE'), /SIGHUP/);
  });
});
