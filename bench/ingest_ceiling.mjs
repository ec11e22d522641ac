// The ceiling a backlog drain can reach (issue 14 item 4): how many records/s ONE Chroma server
// ingests when sent the same records as the drain replays (bench/suite.mjs part drain: adds of
// one record, recordsBody in bench/add_load.mjs, coalesced into requests of `per` records), over
// `streams` collections at once, and the server's CPU per record (ingestCeiling in add_load.mjs).
// The drain of chroma-ha cannot be faster than this; suite.mjs part drain measures it on the
// replica after each drain and reports the drain's share of it.
// (Before 2026-12-07 this used addBody's records, whose vectors repeat every 97 records and cost
// Chroma half the CPU: it reported 4,700-6,600 records/s where the drain's records allow 3,900.
// Until 2026-12-07 04:00 UTC the streams took requests of `per` from one shared queue, so some
// collections got two and some one; now each collection gets its even share, as in the drain.)
//
//   node bench/ingest_ceiling.mjs [--records 10000] [--per 200,1000] [--streams 1,8]
//
// Starts its own Chroma server (loopback, stopped at the end); bounded by --records per case.
import fs from 'node:fs';

import { makeTempDir, startChroma } from '../tests/e2e/harness.mjs';
import { ingestCeiling } from './add_load.mjs';
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
      const load0 = loadavg();
      const pids = procTree(server.pid);
      const r = await ingestCeiling(server.url, { records: RECORDS, per, streams, name: `ingest-${k++}`, cpu: () => cpuSeconds(pids) });
      console.log(`${streams} stream(s), ${per} records/request: ${r.recordsPerSecond.toFixed(0)} records/s (${r.seconds.toFixed(1)} s, server CPU ${r.cpuMsPerThousand} ms per 1,000 records), load ${load0} → ${loadavg()}`);
    }
  }
} finally {
  await server.destroy();
}
