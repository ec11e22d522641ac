// A TCP relay (node:net) between chroma-ha and one Chroma server, for network faults.
//
//   const relay = await Relay.start(replica.port);   // listens on a free 127.0.0.1 port
//   REPLICA_URL = relay.url                          // chroma-ha talks to the relay
//   relay.setMode('blackhole' | 'delay' | 'reset' | 'pass');
//   await relay.close();
//
// Modes (a mode change applies to the connections open at that moment and to new ones):
//   pass       bytes are forwarded both ways as they come.
//   blackhole  connections are accepted and never forwarded to or answered: a connection open
//              when the blackhole starts, or accepted during it, forwards nothing more in either
//              direction, ever (its bytes are read and dropped; a close by one side is not passed
//              on), so no request is delivered in part and completed later. Healing (any other
//              mode) destroys those connections with a RST, as a NAT that lost its entry would.
//   delay      each chunk is forwarded `delayMs` (300) after it arrived, in order per direction.
//   reset      open connections are destroyed with a RST on both sides; new ones are accepted
//              and reset at once.
// Counters (relay.stats): connections accepted, blackholed, reset; chunks delayed; bytes.

import net from 'node:net';

const MODES = new Set(['pass', 'blackhole', 'delay', 'reset']);

function rst(socket) {
  if (socket.destroyed) return;
  if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
  else socket.destroy();
}

export class Relay {
  constructor(targetPort, { delayMs = 300, host = '127.0.0.1' } = {}) {
    this.targetPort = targetPort;
    this.host = host;
    this.delayMs = delayMs;
    this.mode = 'pass';
    this.server = null;
    this.port = null;
    this.conns = new Set();
    this.sockets = new Set();
    this.stats = { accepted: 0, blackholed: 0, reset: 0, delayedChunks: 0, bytes: 0, modeChanges: 0 };
  }

  static async start(targetPort, opts) {
    const relay = new Relay(targetPort, opts);
    await relay.listen();
    return relay;
  }

  get url() {
    return `http://${this.host}:${this.port}`;
  }

  listen() {
    return new Promise((resolve, reject) => {
      this.server = net.createServer({ pauseOnConnect: false }, (client) => this.accept(client));
      this.server.on('error', reject);
      this.server.listen(0, this.host, () => {
        this.port = this.server.address().port;
        resolve(this);
      });
    });
  }

  setMode(mode) {
    if (!MODES.has(mode)) throw new Error(`relay: unknown mode ${mode}`);
    if (mode === this.mode) return;
    this.mode = mode;
    this.stats.modeChanges++;
    for (const c of [...this.conns]) {
      if (mode === 'reset') this.reset(c);
      else if (mode === 'blackhole') this.blackhole(c);
      else if (c.blackholed) this.reset(c); // healed: a blackholed connection is gone
    }
  }

  // Every socket of the relay until it has closed (close() destroys those left).
  track(socket) {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    return socket;
  }

  accept(client) {
    this.track(client);
    this.stats.accepted++;
    const c = { client, upstream: null, blackholed: false, queues: { up: Promise.resolve(), down: Promise.resolve() } };
    this.conns.add(c);
    client.on('error', () => {});
    client.once('close', () => this.drop(c));
    if (this.mode === 'reset') {
      this.reset(c);
      return;
    }
    if (this.mode === 'blackhole') {
      this.blackhole(c);
      return;
    }
    const upstream = this.track(net.connect(this.targetPort, this.host));
    c.upstream = upstream;
    upstream.on('error', () => {});
    upstream.once('close', () => this.drop(c));
    client.on('data', (chunk) => this.forward(c, chunk, upstream, 'up'));
    upstream.on('data', (chunk) => this.forward(c, chunk, client, 'down'));
    client.on('end', () => this.after(c, 'up', () => upstream.end()));
    upstream.on('end', () => this.after(c, 'down', () => client.end()));
  }

  forward(c, chunk, to, dir) {
    if (c.blackholed) return; // dropped
    this.stats.bytes += chunk.length;
    if (this.mode === 'delay') {
      this.stats.delayedChunks++;
      const ms = this.delayMs;
      c.queues[dir] = c.queues[dir].then(() => new Promise((r) => setTimeout(r, ms))).then(() => {
        if (!c.blackholed && !to.destroyed) to.write(chunk);
      });
    } else {
      c.queues[dir] = c.queues[dir].then(() => {
        if (!c.blackholed && !to.destroyed) to.write(chunk);
      });
    }
  }

  // Runs `fn` after the chunks queued in direction `dir` (a close follows the data it ends).
  after(c, dir, fn) {
    c.queues[dir] = c.queues[dir].then(() => {
      if (!c.blackholed) fn();
    });
  }

  blackhole(c) {
    if (c.blackholed) return;
    c.blackholed = true;
    this.stats.blackholed++;
    // Bytes keep being read and are dropped (forward() checks c.blackholed), and a close by
    // either side is not passed on (after() and drop() check it); Node's own 'end' handling of
    // each socket is left alone.
  }

  reset(c) {
    this.stats.reset++;
    rst(c.client);
    if (c.upstream) rst(c.upstream);
    this.conns.delete(c);
  }

  drop(c) {
    if (c.blackholed) {
      // One side went away; the other learns nothing until healed (then it is reset).
      if (c.client.destroyed && (!c.upstream || c.upstream.destroyed)) this.conns.delete(c);
      return;
    }
    // Closed by one side: the other is closed once the bytes already queued to it are written.
    this.conns.delete(c);
    Promise.all([c.queues.up, c.queues.down]).then(() => {
      if (!c.client.destroyed) c.client.destroySoon();
      if (c.upstream && !c.upstream.destroyed) c.upstream.destroySoon();
    });
  }

  async close() {
    for (const c of [...this.conns]) this.reset(c);
    const closing = [...this.sockets].map((s) => new Promise((resolve) => {
      if (s.closed) resolve();
      else s.once('close', resolve);
      s.destroy();
    }));
    if (this.server) await new Promise((resolve) => this.server.close(() => resolve()));
    await Promise.all(closing);
    this.server = null;
  }
}
