// `chroma-ha resync` against a Node HTTP server impersonating chroma-ha's resync endpoints with a
// scripted sequence of states. Run once in a pseudo-terminal (util-linux `script`, from
// bsdutils, essential on Debian): the progress bar with records/s and ETA is redrawn in place;
// once through a pipe: plain lines. Done exits 0; failed exits 1 with the reason; a refusal (404)
// and an unreachable chroma-ha exit 2.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { CHROMA_HA_BIN, freePort } from './harness.mjs';

const TOKEN = 'admin-secret';

function state(over) {
  return {
    instance: 'replica', source: 'primary', state: 'running', reason: '',
    collections_done: 0, collections_total: 4, records_done: 0, records_total: 10000,
    records_recopied: 0, records_per_second: 0, eta_seconds: null,
    started_at_ms: 1000, finished_at_ms: null, ...over,
  };
}

const RUNNING = [
  state({ records_done: 2500, collections_done: 1, records_per_second: 1250, eta_seconds: 6 }),
  state({ records_done: 5000, collections_done: 2, records_per_second: 2500, eta_seconds: 2 }),
  state({ records_done: 7500, collections_done: 3, records_per_second: 2500, eta_seconds: 1 }),
];
const SCRIPTS = {
  replica: [...RUNNING, state({ state: 'done', records_done: 10000, collections_done: 4,
    records_per_second: 2500, eta_seconds: 0, finished_at_ms: 5000 })],
  broken: [...RUNNING.map((s) => ({ ...s, instance: 'broken' })),
    state({ instance: 'broken', state: 'failed', reason: 'source primary unreachable: connection refused',
      records_done: 7500, collections_done: 3, finished_at_ms: 5000 })],
};

// The fake chroma-ha: POST answers 202 with the first state; each GET the next one.
function startFake() {
  const seen = [];
  const cursor = {};
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
      const m = req.url.match(/^\/admin\/instances\/([^/]+)\/resync$/);
      const send = (status, obj) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(obj));
      };
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { error: 'Unauthorized', message: 'a valid admin token is required' });
      if (!m || !SCRIPTS[m[1]]) return send(404, { error: 'NotFound', message: `no instance named ${m ? m[1] : '?'}` });
      const script = SCRIPTS[m[1]];
      if (req.method === 'POST') {
        const running = cursor[m[1]] !== undefined && cursor[m[1]] < script.length - 1;
        if (!running) cursor[m[1]] = 0;
        return send(running ? 200 : 202, script[cursor[m[1]]]);
      }
      cursor[m[1]] = Math.min((cursor[m[1]] ?? 0) + 1, script.length - 1);
      return send(200, script[cursor[m[1]]]);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, seen, port: server.address().port })));
}

// Runs `chroma-ha resync ARGS`, through a pty when `tty`; resolves {code, stdout, stderr}.
function runResync(args, { port, tty = false, token = TOKEN }) {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', PROXY_URL: `http://127.0.0.1:${port}`, ADMIN_TOKEN: token, COLUMNS: '100' };
  const argv = [CHROMA_HA_BIN, 'resync', ...args, '--interval', '0.1'];
  const [cmd, cmdArgs] = tty
    ? ['script', ['-qfec', argv.map((a) => `'${a}'`).join(' '), '/dev/null']]
    : [argv[0], argv.slice(1)];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, cmdArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('chroma-ha resync', () => {
  let fake;
  before(async () => {
    fake = await startFake();
  });
  after(() => fake?.server.close());

  test('terminal: a bar redrawn in place with records/s and ETA, exit 0 when done', async () => {
    const res = await runResync(['replica', '--source', 'primary'], { port: fake.port, tty: true });
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    // Redrawn in place: carriage return + erase line before each frame, one final newline.
    const frames = res.stdout.split('\r\x1b[2K').filter((f) => f.startsWith('replica '));
    assert.ok(frames.length >= 4, JSON.stringify(res.stdout));
    assert.match(frames[0], /^replica #+-+\s+25%\s+2,500\/10,000 records\s+1,250 rec\/s\s+ETA 6s\s+1\/4 collections/);
    assert.ok(frames.some((f) => /50%\s+5,000\/10,000 records\s+2,500 rec\/s\s+ETA 2s/.test(f)), res.stdout);
    assert.match(frames.at(-1), /^replica #+\s+100%\s+10,000\/10,000 records .*4\/4 collections\s+done\r?\n/);
    assert.match(res.stdout, /started a resync of replica from primary/);  // stderr shares the pty
    assert.match(res.stdout, /replica done \(10000 records, 0 copied twice\)/);
    const post = fake.seen.find((r) => r.method === 'POST');
    assert.equal(post.url, '/admin/instances/replica/resync');
    assert.deepEqual(JSON.parse(post.body), { source: 'primary' });
  });

  test('pipe: plain progress lines, exit 1 with the reason when it fails', async () => {
    const res = await runResync(['broken'], { port: fake.port });
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    assert.ok(!res.stdout.includes('\r') && !res.stdout.includes('\x1b'), JSON.stringify(res.stdout));
    assert.deepEqual(res.stdout.trim().split('\n'), [
      'resync broken: running 25% records 2500/10000 collections 1/4 rate 1250 records/s eta 6 s',
      'resync broken: running 50% records 5000/10000 collections 2/4 rate 2500 records/s eta 2 s',
      'resync broken: running 75% records 7500/10000 collections 3/4 rate 2500 records/s eta 1 s',
      'resync broken: failed 75% records 7500/10000 collections 3/4 rate 0 records/s eta unknown reason: source primary unreachable: connection refused',
    ]);
    assert.match(res.stderr, /broken failed: source primary unreachable: connection refused/);
  });

  test('a resync already running (POST answers 200) is followed', async () => {
    SCRIPTS.busy = SCRIPTS.replica.map((s) => ({ ...s, instance: 'busy' }));
    const first = runResync(['busy'], { port: fake.port });
    const second = await runResync(['busy'], { port: fake.port });
    const res = await first;
    assert.equal(res.code, 0, res.stderr);
    assert.equal(second.code, 0, second.stderr);
    assert.match(res.stderr + second.stderr, /following the resync already running of busy/);
  });

  test('pipe: exit 0 when done', async () => {
    const res = await runResync(['replica'], { port: fake.port });
    assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stdout.trim().split('\n').at(-1), /^resync replica: done 100% records 10000\/10000 collections 4\/4/);
  });

  test('refused (unknown instance, wrong token) and unreachable: exit 2 with the message', async () => {
    let res = await runResync(['nobody'], { port: fake.port });
    assert.equal(res.code, 2);
    assert.match(res.stderr, /HTTP 404 NotFound: no instance named nobody/);
    res = await runResync(['replica'], { port: fake.port, token: 'wrong' });
    assert.equal(res.code, 2);
    assert.match(res.stderr, /HTTP 401 Unauthorized/);
    res = await runResync(['replica'], { port: await freePort() });
    assert.equal(res.code, 2);
    assert.match(res.stderr, /cannot reach chroma-ha at http:\/\/127\.0\.0\.1:\d+/);
    res = await runResync([], { port: fake.port });
    assert.equal(res.code, 2);
  });
});
