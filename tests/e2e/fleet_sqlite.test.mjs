// SQLite stays one process per WAL file (issue 11 item 6, DESIGN.md §8): a second chroma-ha
// started on the WAL file of a running one is refused at start (exit status 1, a message saying
// the file is in use by another process and naming its pid), never silently shared; the first
// keeps serving reads and writes. Once the first is gone (SIGKILL), the file can be opened again.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { CHROMA_HA_BIN, TD, freePort, http, startStack, walStatus } from './harness.mjs';

const JSON_HEADERS = { 'content-type': 'application/json' };

// Starts a second chroma-ha with the first one's environment but its own port; it must end on
// its own (within 20 s).
async function runSecond(stack) {
  const port = await freePort();
  const r = spawnSync(CHROMA_HA_BIN, [], {
    env: { ...stack.ha.env, PORT: String(port) },
    encoding: 'utf8',
    timeout: 20000,
  });
  return { status: r.status, signal: r.signal, output: `${r.stdout}${r.stderr}`, port };
}

describe('two chroma-ha processes on one SQLite WAL file', () => {
  let stack;
  before(async () => {
    stack = await startStack({ name: 'fleet-sqlite' });
  });
  after(async () => {
    await stack?.stop();
  });

  test('the second is refused with a clear message and a non-zero exit; the first keeps serving', async () => {
    const r = await runSecond(stack);
    assert.equal(r.signal, null, `the second ended by a signal: ${r.signal}\n${r.output}`);
    assert.equal(r.status, 1, `exit status ${r.status}\n${r.output}`);
    assert.match(r.output, new RegExp(`is in use by another chroma-ha process \\(pid ${stack.ha.pid}\\)`));
    assert.match(r.output, /SQLite allows one process per WAL file/);

    // The first still answers, and a write through it is logged and acknowledged.
    const created = await http(`${stack.ha.url}${TD}/collections`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ name: 'after-refusal' }),
      timeoutMs: 15000,
    });
    assert.equal(created.status, 200, created.text);
    const add = await http(`${stack.ha.url}${TD}/collections/${created.json.id}/add`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ ids: ['a'], embeddings: [[1, 2, 3]] }),
      timeoutMs: 15000,
    });
    assert.ok(add.status >= 200 && add.status < 300, `${add.status} ${add.text}`);
    const status = await walStatus(stack.ha);
    assert.equal(status.store, 'sqlite');
  });

  test('after the first is SIGKILLed, the file opens again', async () => {
    await stack.ha.kill('SIGKILL');
    await stack.restartHa();
    const again = await http(`${stack.ha.url}/health`);
    assert.ok(again.status === 200 || again.status === 503, `${again.status}`);
  });
});
