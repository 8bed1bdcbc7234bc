/**
 * npm run bench:audit [-- --json] [--events 1000000]
 *
 * Export and audit events/s on a journal of `--events` events (a mix of
 * block sets over 50,000 keys and log events), and the peak memory (max
 * RSS) of the audit, measured in a child process of its own that runs the
 * built library with plain node, as `tally audit` does.
 */
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { exportBundle, Tally, writeLines } from './shipped.js';
import { benchDir, fmt, jsonOutput, numberArg, report } from './harness.js';

const events = numberArg('events', 1_000_000);
const dir = benchDir('tally-bench-audit-');
const db = await Tally.open(join(dir, 'data'));
const t = db.tenant('acme');
for (let done = 0; done < events; ) {
  const n = Math.min(1000, events - done);
  await t.batch(
    Array.from({ length: n }, (_, i) =>
      (done + i) % 4 === 3
        ? { op: 'log' as const, kind: 'user.login', details: { user: `u${(done + i) % 997}`, ip: '10.0.0.1' } }
        : { op: 'set' as const, key: `doc:${String((done + i) % 50_000).padStart(6, '0')}`, data: { rev: done + i, body: 'lorem ipsum dolor sit amet' } },
    ),
  );
  done += n;
  if (!jsonOutput && done % 100_000 === 0) process.stderr.write(`  filled ${done}/${events}\r`);
}
const keys = db.verifierKeys();
const bundle = join(dir, 'bundle.jsonl');
const t0 = performance.now();
await writeLines(bundle, exportBundle(db, 'acme'));
const exportSecs = (performance.now() - t0) / 1000;
await db.close();

const { stdout } = await promisify(execFile)(process.execPath, [join(import.meta.dirname, 'audit-child.mjs'), bundle, ...keys], { maxBuffer: 1 << 20 });
const audit = JSON.parse(stdout.trim().split('\n').pop()!) as { ok: boolean; events: number; seconds: number; maxRssMb: number; code?: string };
if (!audit.ok) throw new Error(`audit failed: ${audit.code}`);
const sizeMb = statSync(bundle).size / 1024 / 1024;
const result = {
  events,
  bundleMb: fmt(sizeMb, 1),
  export: { seconds: fmt(exportSecs, 2), eventsPerSecond: fmt(events / exportSecs) },
  audit: { seconds: fmt(audit.seconds, 2), eventsPerSecond: fmt(audit.events / audit.seconds), peakRssMb: fmt(audit.maxRssMb, 1) },
};
report(`export and audit of ${events} events (bundle ${fmt(sizeMb, 1)} MB)`, [
  { step: 'export', 'events/s': result.export.eventsPerSecond, seconds: result.export.seconds, 'peak RSS MB': '' },
  { step: 'audit (own process)', 'events/s': result.audit.eventsPerSecond, seconds: result.audit.seconds, 'peak RSS MB': result.audit.peakRssMb },
], result);
