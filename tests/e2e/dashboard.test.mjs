// GET /dashboard in a real browser: headless Chromium (Debian's `chromium`) loads the page of a
// running stack with STATUS_TOKEN set, the token in the URL fragment; after the page's script ran,
// the DOM shows both instances and their health, and the browser logged no script error. Without
// the token the page says that a token is needed. A screenshot is saved in the stack's directory
// (and to docs/dashboard.png with CHROMA_HA_UPDATE_SCREENSHOT=1).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, TD, http, makeClient, startStack, waitFor } from './harness.mjs';

const STATUS_TOKEN = 'dash-status-4c1e8b7f';
const ADMIN_TOKEN = 'dash-admin-93d0a2c5';
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

// Runs chromium headless with `args` + `url`; resolves {status, stdout, stderr}. Killed (by its
// PID) after `timeoutMs`.
function chromium(dir, args, url, timeoutMs = 90000) {
  const profile = fs.mkdtempSync(path.join(dir, 'chromium-'));
  return new Promise((resolve, reject) => {
    const child = spawn(
      CHROMIUM,
      [
        '--headless=new',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--no-first-run',
        '--disable-extensions',
        '--disable-background-networking',
        `--user-data-dir=${profile}`,
        '--enable-logging=stderr',
        '--v=0',
        ...args,
        url,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      fs.rmSync(profile, { recursive: true, force: true });
      fs.writeFileSync(path.join(dir, `chromium-${Date.now()}.stderr.log`), stderr);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

// Script errors and console errors chromium printed with --enable-logging=stderr.
function consoleErrors(stderr) {
  return stderr
    .split('\n')
    .filter((l) => /Uncaught|CONSOLE\(\d+\)|:ERROR:CONSOLE|Refused to (execute|load|apply|connect)/.test(l))
    .filter((l) => /Uncaught|Error|error|Refused/.test(l));
}

function row(dom, name) {
  const m = new RegExp(`<tr[^>]*data-instance="${name}"[^>]*>([\\s\\S]*?)</tr>`).exec(dom);
  return m ? { tag: m[0].slice(0, m[0].indexOf('>') + 1), html: m[1] } : null;
}

describe('dashboard in headless Chromium', () => {
  let stack;

  before(async () => {
    stack = await startStack({
      name: 'dashboard',
      env: { STATUS_TOKEN, ADMIN_TOKEN, VERIFY_INTERVAL: '1', AUTO_RESYNC: 'false' },
      waitHealthy: false,
    });
    await waitFor(
      async () => {
        const r = await http(`${stack.ha.url}/status`, { headers: { authorization: `Bearer ${STATUS_TOKEN}` } });
        return r.status === 200 && r.json.instances.every((i) => i.healthy);
      },
      { timeoutMs: 15000, what: 'both instances healthy' },
    );
    // Some traffic, so that the page has something to show.
    const col = await makeClient(stack.ha.url).getOrCreateCollection({ name: 'dash', embeddingFunction: null });
    await col.add({ ids: ['a', 'b', 'c'], embeddings: [[1, 0], [0, 1], [1, 1]] });
    for (let i = 0; i < 10; i++) await http(`${stack.ha.url}${TD}/collections/${col.id}/count`);
    // A record deleted on the replica behind chroma-ha: the anti-entropy table shows it.
    await waitFor(async () => {
      const r = await http(`${stack.ha.url}/wal/status`, { headers: { authorization: `Bearer ${STATUS_TOKEN}` } });
      return r.status === 200 && r.json.instances.every((i) => i.pending_entries === 0);
    }, { timeoutMs: 15000, what: 'replication done' });
    const onReplica = await makeClient(stack.replica.url).getCollection({ name: 'dash', embeddingFunction: null });
    await onReplica.delete({ ids: ['a'] });
    await waitFor(async () => {
      const r = await http(`${stack.ha.url}/status`, { headers: { authorization: `Bearer ${STATUS_TOKEN}` } });
      return r.json.anti_entropy?.divergent.length === 1;
    }, { timeoutMs: 15000, what: 'the divergence' });
  });

  after(async () => {
    await stack?.stop();
  });

  test('with the token in the fragment, the DOM shows both instances healthy and no script error', { timeout: 120000 }, async () => {
    const r = await chromium(stack.dir, ['--virtual-time-budget=5000', '--dump-dom'], `${stack.ha.url}/dashboard#token=${STATUS_TOKEN}`);
    assert.equal(r.status, 0, `chromium exited ${r.status ?? r.signal}: ${r.stderr.slice(-2000)}`);
    const dom = r.stdout;
    assert.match(dom, /<body[^>]*data-loaded="true"/, `the page's script did not render /status:\n${dom.slice(0, 3000)}`);
    for (const name of ['primary', 'replica']) {
      const tr = row(dom, name);
      assert.ok(tr, `no row for ${name}`);
      assert.match(tr.tag, /data-healthy="true"/, `${name}: ${tr.tag}`);
      assert.match(tr.html, />healthy</, `${name} row does not say healthy: ${tr.html}`);
    }
    assert.match(dom, /id="conn" class="ok"/);
    assert.match(dom, /<polyline/, 'no chart was drawn');
    assert.match(dom, /<tr data-divergent="dash"><td>replica<\/td><td>default_tenant\/default_database\/dash<\/td><td class="num">1<\/td><td>no<\/td>/);
    assert.ok(!dom.includes(STATUS_TOKEN), 'the token is shown in the page');
    assert.deepEqual(consoleErrors(r.stderr), [], 'the browser logged script errors');
  });

  // Runs after the test above: the resync repairs the replica, so the divergence is gone.
  test('a resync of the replica shows in the Resync table, done at 100 %', { timeout: 120000 }, async () => {
    const started = await http(`${stack.ha.url}/admin/instances/replica/resync`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(started.status, 202, started.text);
    await waitFor(async () => {
      const r = await http(`${stack.ha.url}/status`, { headers: { authorization: `Bearer ${STATUS_TOKEN}` } });
      return r.json.resync?.some((x) => x.instance === 'replica' && x.state === 'done');
    }, { timeoutMs: 30000, what: 'the resync done in /status' });
    const r = await chromium(stack.dir, ['--virtual-time-budget=5000', '--dump-dom'], `${stack.ha.url}/dashboard#token=${STATUS_TOKEN}`);
    assert.equal(r.status, 0, `chromium exited ${r.status ?? r.signal}: ${r.stderr.slice(-2000)}`);
    const m = /<tr data-resync="replica" data-state="done">([\s\S]*?)<\/tr>/.exec(r.stdout);
    assert.ok(m, `no done row for the replica's resync:\n${r.stdout.slice(0, 4000)}`);
    assert.match(m[1], /<td class="num">3 \/ 3<\/td>/, m[1]);  // the three records of "dash"
    assert.match(m[1], /<progress max="100" value="100">/, m[1]);
    assert.deepEqual(consoleErrors(r.stderr), [], 'the browser logged script errors');
  });

  test('without the token, the page says a token is needed', { timeout: 120000 }, async () => {
    const r = await chromium(stack.dir, ['--virtual-time-budget=3000', '--dump-dom'], `${stack.ha.url}/dashboard`);
    assert.equal(r.status, 0, r.stderr.slice(-2000));
    assert.match(r.stdout, /STATUS_TOKEN is set/);
    assert.ok(!/data-instance="primary"/.test(r.stdout), 'instance data shown without the token');
    assert.ok(!/Uncaught/.test(r.stderr), r.stderr);
  });

  test('screenshot', { timeout: 120000 }, async () => {
    const file = path.join(stack.dir, 'dashboard.png');
    const r = await chromium(
      stack.dir,
      ['--virtual-time-budget=12000', `--screenshot=${file}`, '--window-size=1280,900', '--hide-scrollbars'],
      `${stack.ha.url}/dashboard#token=${STATUS_TOKEN}`,
    );
    assert.equal(r.status, 0, r.stderr.slice(-2000));
    const png = fs.readFileSync(file);
    assert.ok(png.length > 10000, `screenshot is only ${png.length} bytes`);
    assert.equal(png.subarray(1, 4).toString(), 'PNG');
    if (process.env.CHROMA_HA_UPDATE_SCREENSHOT === '1') {
      fs.mkdirSync(path.join(ROOT, 'docs'), { recursive: true });
      fs.copyFileSync(file, path.join(ROOT, 'docs', 'dashboard.png'));
    }
  });
});
