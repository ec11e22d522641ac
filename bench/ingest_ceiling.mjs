// The ceiling a backlog drain can reach (issue 14 item 4): how many records/s ONE Chroma server
// ingests when sent the same records as the drain replays (bench/suite.mjs part drain: adds of
// one record, recordsBody in bench/add_load.mjs, coalesced into requests of `per` records), with
// `streams` requests in flight over as many collections, and the server's CPU per record.
// The drain of chroma-ha cannot be faster than this; compare its entries/s with these figures.
// (Before 2026-12-07 this used addBody's records, whose vectors repeat every 97 records and cost
// Chroma half the CPU: it reported 4,700-6,600 records/s where the drain's records allow 3,900.)
//
//   node bench/ingest_ceiling.mjs [--records 10000] [--per 200,1000] [--streams 1,8]
//
// Starts its own Chroma server (loopback, stopped at the end); bounded by --records per case.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

import { TD, makeTempDir, startChroma } from '../tests/e2e/harness.mjs';
import { createCollection, postJson, recordsBody } from './add_load.mjs';
import { cpuSeconds, procTree } from './proc.mjs';

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : def;
};
const RECORDS = Number(opt('records', 10000));
const PERS = opt('per', '200,1000').split(',').map(Number);
const STREAMS = opt('streams', '1,8').split(',').map(Number);
const loadavg = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

const server = await startChroma({ dir: makeTempDir('bench-ingest'), name: 'ingest' });
try {
  let k = 0;
  for (const streams of STREAMS) {
    for (const per of PERS) {
      const urls = [];
      for (let s = 0; s < streams; s++) urls.push(`${server.url}${TD}/collections/${await createCollection(server.url, `ingest-${k++}`)}/add`);
      const requests = Math.ceil(RECORDS / per);
      const bodies = Array.from({ length: requests }, (_, n) => recordsBody(`c${k}`, n, per));
      const pids = procTree(server.pid);
      const cpu0 = cpuSeconds(pids);
      const load0 = loadavg();
      let next = 0;
      const t0 = performance.now();
      await Promise.all(urls.map(async (url) => {
        while (next < requests) await postJson(url, bodies[next++], 120000);
      }));
      const secs = (performance.now() - t0) / 1000;
      const cpuMsPerThousand = ((cpuSeconds(pids) - cpu0) * 1e6) / (requests * per);
      console.log(`${streams} stream(s), ${per} records/request: ${(requests * per / secs).toFixed(0)} records/s (${secs.toFixed(1)} s, server CPU ${cpuMsPerThousand.toFixed(0)} ms per 1,000 records), load ${load0} → ${loadavg()}`);
    }
  }
} finally {
  await server.destroy();
}
