// Pins the chroma-ha binary for the whole fault run: copies $CHROMA_HA_BIN (default
// build/chroma-ha) to a private file and points $CHROMA_HA_BIN at the copy, so that a rebuild of
// build/chroma-ha while the suite runs (a shared tree) cannot make a restart fail or mix two
// builds in one run. Import it before anything that imports tests/e2e/harness.mjs (which reads
// $CHROMA_HA_BIN when it is loaded). The copy is removed when the process exits.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const source = process.env.CHROMA_HA_BIN || path.join(ROOT, 'build', 'chroma-ha');

function pin() {
  if (!fs.existsSync(source)) return null; // the harness reports the missing binary
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chroma-ha-fault-bin-'));
  const copy = path.join(dir, 'chroma-ha');
  // The source may be being rewritten by a build right now: retry until a copy runs (deadline).
  const deadline = Date.now() + 120000;
  for (;;) {
    const before = fs.statSync(source).mtimeMs;
    fs.copyFileSync(source, copy);
    fs.chmodSync(copy, 0o755);
    const r = spawnSync(copy, ['--help'], { encoding: 'utf8', timeout: 10000 });
    if (r.status === 0 && fs.statSync(source).mtimeMs === before) {
      process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
      return { copy, mtime: new Date(before).toISOString() };
    }
    if (Date.now() > deadline) throw new Error(`could not pin ${source}: ${r.status ?? r.signal} ${r.stderr ?? r.error}`);
    spawnSync('sleep', ['1']);
  }
}

export const pinned = pin();
if (pinned) {
  process.env.CHROMA_HA_BIN = pinned.copy;
  console.log(`fault suite: chroma-ha pinned: ${source} (built ${pinned.mtime}) copied to ${pinned.copy}`);
}
