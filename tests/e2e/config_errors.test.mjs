// The real binary with a configuration it cannot serve: a clean configuration error (exit status
// 2, a message naming the variable on stderr), never an abort. TLS to the instances is not
// implemented yet, so an https:// instance URL is such an error (it used to escape as an uncaught
// ConfigError from the upstream pool: "terminate called ...", exit 134), and --help says so.

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
  const cases = [
    ['PRIMARY_URL', { PRIMARY_URL: 'https://127.0.0.1:1', REPLICA_URL: 'http://127.0.0.1:2' }],
    ['REPLICA_URL', { PRIMARY_URL: 'http://127.0.0.1:1', REPLICA_URL: 'HTTPS://127.0.0.1:2' }],
    ['REPLICA_URLS', { PRIMARY_URL: 'http://127.0.0.1:1', REPLICA_URLS: 'http://127.0.0.1:2,https://127.0.0.1:3' }],
  ];
  for (const [variable, env] of cases) {
    test(`an https:// ${variable}: exit 2 with a message naming ${variable}`, () => {
      const r = run({ ...env, PORT: '1' }); // never reached: the configuration is refused first
      assert.equal(r.signal, null, `ended by a signal: ${r.signal}\n${r.stderr}`);
      assert.equal(r.status, 2, `exit status: ${r.status}\n${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(`^chroma-ha: configuration error: ${variable}: ".*" is an https:// URL: https:// instances are not supported yet \\(TLS to instances is not implemented\\); use http://\\n$`),
      );
      assert.doesNotMatch(r.stderr, /terminate called/);
    });
  }

  test('the monitor refuses an https:// PROXY_URL the same way', () => {
    const r = run({ PROXY_URL: 'https://127.0.0.1:1', PRIMARY_URL: 'http://127.0.0.1:1', REPLICA_URL: 'http://127.0.0.1:2' }, ['monitor']);
    assert.equal(r.status, 2, `exit status: ${r.status}\n${r.stderr}`);
    assert.match(r.stderr, /configuration error: PROXY_URL: ".*" is an https:\/\/ URL/);
  });

  test('--help says instances are http:// only', () => {
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
      const text = entry(name);
      assert.doesNotMatch(text, /http\(s\)|https:\/\/host/, `${name}: ${text}`);
      assert.match(text, /http:\/\//, `${name}: ${text}`);
    }
    assert.match(entry('PRIMARY_URL'), /https:\/\/ instances are refused/);
  });
});
