// An HTTP relay in front of a Chroma server that holds back replayed writes, so the instance
// behind it lags right after every write while reads pass at once (causal and fresh reads).

import http from 'node:http';

// An HTTP relay to `targetPort` that delays POSTs to record-writing routes (add, upsert,
// update, delete) by `delayMs`; everything else passes at once. Counts what it delayed.
export async function startDelayingRelay(targetPort, delayMs) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const stats = { delayed: 0, passed: 0 };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const slow = req.method === 'POST' && /\/(add|upsert|update|delete)$/.test(req.url.split('?')[0]);
      const send = () => {
        const up = http.request(
          { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers, agent },
          (upRes) => {
            res.writeHead(upRes.statusCode, upRes.headers);
            upRes.pipe(res);
          },
        );
        up.on('error', () => res.destroy());
        up.end(body);
      };
      if (slow) {
        stats.delayed += 1;
        setTimeout(send, delayMs);
      } else {
        stats.passed += 1;
        send();
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () =>
      new Promise((resolve) => {
        agent.destroy();
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

