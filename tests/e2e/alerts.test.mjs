// Alerts end to end: chroma-ha posts to a webhook (a tiny HTTP receiver here) when the replica
// goes down and comes back, keeps a flapping replica within the rate limit, and reports a
// collection whose replication is blocked; `chroma-ha monitor` reports chroma-ha itself down.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import httpServer from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CHROMA_HA_BIN, TD, http, sleep, startStack, waitFor, waitWalDrained } from './harness.mjs';

const MIN_INTERVAL_S = 4; // ALERT_MIN_INTERVAL_SECONDS for the proxy under test
const ALERT_DEADLINE_MS = 20000;

// A webhook receiver on a free loopback port: keeps every JSON body it is sent.
async function startReceiver() {
  const messages = [];
  const server = httpServer.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      try {
        messages.push({ path: req.url, at: Date.now(), ...JSON.parse(body) });
      } catch {
        messages.push({ path: req.url, at: Date.now(), invalid: body });
      }
      res.writeHead(204).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}/hook`;
  return {
    url,
    messages,
    forKey: (key) => messages.filter((m) => m.key === key),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function waitMessage(rx, pred, what) {
  return waitFor(() => rx.messages.find(pred), {
    timeoutMs: ALERT_DEADLINE_MS,
    intervalMs: 100,
    what: `${what} (received: ${JSON.stringify(rx.messages.map((m) => [m.key, m.resolved]))})`,
  });
}

async function replicaHealthy(ha) {
  return (await ha.instance('replica')).healthy;
}

describe('alerts from chroma-ha', () => {
  let stack;
  let rx;

  before(async () => {
    rx = await startReceiver();
    stack = await startStack({
      name: 'alerts',
      env: {
        ALERT_WEBHOOK_URL: rx.url,
        ALERT_MIN_INTERVAL_SECONDS: String(MIN_INTERVAL_S),
        ALERT_MAX_PER_MINUTE: '100',
        WAL_SYNC_INTERVAL: '1',
      },
    });
  });

  after(async () => {
    await stack?.stop();
    await rx?.close();
  });

  test('replica killed: "instance down"; restarted: "recovered"', { timeout: 60000 }, async () => {
    assert.equal(rx.messages.length, 0, 'nothing to report while all is well');
    await stack.replica.kill();
    const down = await waitMessage(rx, (m) => m.key === 'instance_down/replica' && !m.resolved, 'instance down alert');
    assert.equal(down.path, '/hook');
    assert.equal(down.severity, 'critical');
    assert.match(down.title, /replica/);
    assert.match(down.time, /^\d{4}-\d\d-\d\dT/);
    await stack.replica.start();
    await waitMessage(rx, (m) => m.key === 'instance_down/replica' && m.resolved === true, 'recovered alert');
    assert.equal(rx.forKey('instance_down/replica').length, 2);
    const metrics = await http(`${stack.ha.url}/metrics`);
    assert.match(metrics.text, /chroma_ha_alerts_total\{result="sent"\} [1-9]/);
  });

  test('a flapping replica stays within the rate limit and ends resolved', { timeout: 90000 }, async () => {
    // Let the per-key interval of the previous test's messages pass.
    await sleep(MIN_INTERVAL_S * 1000);
    const before = rx.forKey('instance_down/replica').length;
    const start = Date.now();
    const FLAPS = 4;
    for (let i = 0; i < FLAPS; i++) {
      await stack.replica.kill();
      await waitFor(async () => !(await replicaHealthy(stack.ha)), { timeoutMs: 10000, what: 'replica down' });
      await stack.replica.start();
      await waitFor(() => replicaHealthy(stack.ha), { timeoutMs: 10000, what: 'replica up' });
    }
    const flapMs = Date.now() - start;
    // The final "recovered" goes out at most one interval after the last message.
    await waitFor(
      () => {
        const msgs = rx.forKey('instance_down/replica');
        return msgs.length > before && msgs.at(-1).resolved === true;
      },
      { timeoutMs: MIN_INTERVAL_S * 1000 + ALERT_DEADLINE_MS, intervalMs: 100, what: 'final recovered message' },
    );
    const elapsed = Date.now() - start;
    const sent = rx.forKey('instance_down/replica').length - before;
    const bound = Math.floor(elapsed / (MIN_INTERVAL_S * 1000)) + 1;
    assert.ok(sent <= bound, `${sent} messages in ${elapsed} ms (flaps took ${flapMs} ms), at most ${bound} allowed`);
    assert.ok(sent < 2 * FLAPS, `${sent} messages for ${2 * FLAPS} state changes: not rate limited`);
    const metrics = await http(`${stack.ha.url}/metrics`);
    assert.match(metrics.text, /chroma_ha_alerts_total\{result="suppressed"\} [1-9]/);
  });

  test('a collection whose replay is rejected: "replication blocked"', { timeout: 60000 }, async () => {
    const name = 'alerts-blocked';
    const created = await http(`${stack.ha.url}${TD}/collections`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    assert.equal(created.status, 200, created.text);
    await waitWalDrained(stack.ha);
    // Around the proxy, the replica's copy gets 3-dimensional records; the proxy then accepts
    // 4-dimensional ones on the primary, which the replica must reject (400): a permanent failure.
    const onReplica = await http(`${stack.replica.url}${TD}/collections/${name}`);
    assert.equal(onReplica.status, 200, onReplica.text);
    const direct = await http(`${stack.replica.url}${TD}/collections/${onReplica.json.id}/add`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ids: ['d1'], embeddings: [[1, 2, 3]] }),
    });
    assert.ok(direct.status < 300, direct.text);
    const add = await http(`${stack.ha.url}${TD}/collections/${created.json.id}/add`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ids: ['p1'], embeddings: [[1, 2, 3, 4]] }),
    });
    assert.ok(add.status < 300, add.text);
    const blocked = await waitMessage(
      rx,
      (m) => m.key?.startsWith('replication_blocked/replica/') && !m.resolved,
      'replication blocked alert',
    );
    assert.equal(blocked.key, `replication_blocked/replica/default_tenant/default_database/${name}`);
    assert.equal(blocked.severity, 'critical');
  });
});

describe('chroma-ha monitor', () => {
  let stack;
  let rx;
  let monitor;
  let logBase;

  before(async () => {
    rx = await startReceiver();
    stack = await startStack({ name: 'monitor' });
  });

  after(async () => {
    if (monitor && monitor.exitCode === null && monitor.signalCode === null) monitor.kill('SIGKILL');
    await stack?.stop();
    await rx?.close();
  });

  test('chroma-ha killed: "proxy down"; back: resolved; SIGTERM stops it', { timeout: 90000 }, async () => {
    logBase = path.join(stack.dir, 'monitor');
    const out = fs.openSync(`${logBase}.log`, 'a');
    monitor = spawn(CHROMA_HA_BIN, ['monitor'], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        PROXY_URL: stack.ha.url.replace(/^http:\/\//, ''), // host:port, as Render wires it
        PRIMARY_URL: stack.primary.url,
        REPLICA_URL: stack.replica.url,
        MONITOR_INTERVAL: '1',
        ALERT_WEBHOOK_URL: rx.url,
        ALERT_MIN_INTERVAL_SECONDS: '1',
        LOG_LEVEL: 'debug',
      },
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    const exited = new Promise((resolve) => monitor.once('exit', (code, signal) => resolve({ code, signal })));
    const logTail = () => fs.readFileSync(`${logBase}.log`, 'utf8').split('\n').slice(-20).join('\n');
    // A couple of healthy rounds first: nothing to report.
    await waitFor(() => /instance\(s\) answer/.test(fs.readFileSync(`${logBase}.log`, 'utf8')), {
      timeoutMs: 15000,
      what: 'a monitor round',
    }).catch((e) => {
      throw new Error(`${e.message}\n${logTail()}`);
    });
    await sleep(1500);
    assert.deepEqual(rx.messages, [], 'no alert while everything is up');

    await stack.ha.kill();
    const down = await waitMessage(rx, (m) => m.key === 'proxy_down' && !m.resolved, 'proxy down alert');
    assert.equal(down.severity, 'critical');

    await stack.restartHa();
    await waitMessage(rx, (m) => m.key === 'proxy_down' && m.resolved === true, 'proxy recovered alert');

    monitor.kill('SIGTERM');
    const { code, signal } = await Promise.race([
      exited,
      sleep(15000).then(() => ({ code: 'timeout' })),
    ]);
    assert.equal(code, 0, `monitor exit: ${code} ${signal}\n${logTail()}`);
  });
});
