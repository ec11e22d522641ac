// The ceiling a backlog drain can reach (issue 14 item 4): how many records/s ONE Chroma server
// ingests when sent the same records as the drain replays (single-record adds of 384-d, coalesced
// into requests of `per` records), with `streams` requests in flight over as many collections.
// The drain of chroma-ha cannot be faster than this; compare its entries/s with these figures.
//
//   node bench/ingest_ceiling.mjs [--records 10000] [--per 200,1000] [--streams 1,2]
//
// Starts its own Chroma server (loopback, stopped at the end); bounded by --records per case.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

import { TD, makeTempDir, startChroma } from '../tests/e2e/harness.mjs';
import { addBody, createCollection, postJson } from './add_load.mjs';

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : def;
};
const RECORDS = Number(opt('records', 10000));
const PERS = opt('per', '200,1000').split(',').map(Number);
const STREAMS = opt('streams', '1,2').split(',').map(Number);
const loadavg = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

const server = await startChroma({ dir: makeTempDir('bench-ingest'), name: 'ingest' });
try {
  let k = 0;
  for (const streams of STREAMS) {
    for (const per of PERS) {
      const urls = [];
      for (let s = 0; s < streams; s++) urls.push(`${server.url}${TD}/collections/${await createCollection(server.url, `ingest-${k++}`)}/add`);
      const requests = Math.ceil(RECORDS / per);
      const bodies = Array.from({ length: requests }, (_, n) => addBody(`c${k}`, n, per, 384));
      const load0 = loadavg();
      let next = 0;
      const t0 = performance.now();
      await Promise.all(urls.map(async (url) => {
        while (next < requests) await postJson(url, bodies[next++], 120000);
      }));
      const secs = (performance.now() - t0) / 1000;
      console.log(`${streams} stream(s), ${per} records/request: ${(requests * per / secs).toFixed(0)} records/s (${secs.toFixed(1)} s), load ${load0} → ${loadavg()}`);
    }
  }
} finally {
  await server.destroy();
}
