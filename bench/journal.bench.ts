/**
 * npm run bench:journal [-- --json] [--ms 2000] [--rounds 3] [--verify-events 200000] [--verify-rounds 3]
 *
 * Durable appends/s through Tally (each appender awaits its receipt) beside
 * raw lmdb-js puts of the same bytes awaiting `flushed`, at 1, 8, 64 and
 * 1,024 concurrent appenders, interleaved in rounds in one run; the ratio is
 * the figure that counts. A third column puts, per append, the five records
 * Tally stores per event (header, payload, key index entry, tree leaf, and
 * on average one inner tree node) with raw lmdb-js: no hashing, signing or
 * receipts, so its ratio to raw is a ceiling for any design that stores
 * those records. Then `verify()` events/s over the journal the appends
 * left, filled to `--verify-events`: the median of `--verify-rounds`
 * passes, and the first pass alone.
 */
import { open } from 'lmdb';
import { encodeData } from '../src/core/codec.js';
import { Tally } from '../src/store/tally.js';
import { benchDir, fmt, median, numberArg, report, throughput } from './harness.js';

const ms = numberArg('ms', 2000);
const rounds = numberArg('rounds', 3);
const verifyEvents = numberArg('verify-events', 200_000);
const verifyRounds = numberArg('verify-rounds', 3);
const levels = [1, 8, 64, 1024];
const details = { user: 'alice@corp.com', action: 'login', ip: '10.0.0.1', n: 42 };

const db = await Tally.open(benchDir('tally-bench-j-'));
const tenant = db.tenant('bench');
const raw = open({ path: benchDir('tally-bench-raw-'), overlappingSync: true, encoding: 'binary' });
// The same bytes Tally stores per event: a header (~200 B) and the payload with its salt.
const first = await tenant.log('bench.event', details);
const sample = new Uint8Array(Buffer.from(JSON.stringify(first.receipt.header)).length + encodeData(details).length + 16);
// Tally's records of one log event, at their sizes (src/journal/journal.ts, append).
const headerBytes = new Uint8Array(Buffer.from(JSON.stringify(first.receipt.header)).length);
const payloadBytes = new Uint8Array(encodeData(details).length + 16);
const hashBytes = new Uint8Array(32).fill(7);
const recordDbs = {
  events: raw.openDB<Uint8Array, [number, number]>({ name: 'events', encoding: 'binary' }),
  payloads: raw.openDB<Uint8Array, [number, number]>({ name: 'payloads', encoding: 'binary' }),
  keyIndex: raw.openDB<Uint8Array, [number, string, string, number]>({ name: 'key-index', encoding: 'binary' }),
  nodes: raw.openDB<Uint8Array, [number, number, number]>({ name: 'nodes', encoding: 'binary' }),
};

const rows: Record<string, string | number>[] = [];
const result: Record<string, unknown> = { appends: {} as Record<string, unknown> };
for (const c of levels) {
  const tallyRuns: number[] = [];
  const rawRuns: number[] = [];
  const recordRuns: number[] = [];
  let rawSeq = 0;
  let recordSeq = 0;
  for (let r = 0; r < rounds; r++) {
    tallyRuns.push(await throughput(c, ms, () => tenant.log('bench.event', details)));
    rawRuns.push(
      await throughput(c, ms, async () => {
        await raw.put(rawSeq++, sample);
        await raw.flushed;
      }),
    );
    recordRuns.push(
      await throughput(c, ms, async () => {
        const seq = recordSeq++;
        void recordDbs.events.put([1, seq], headerBytes);
        void recordDbs.payloads.put([1, seq], payloadBytes);
        void recordDbs.keyIndex.put([1, 'l', 'bench.event', seq], hashBytes);
        void recordDbs.nodes.put([1, 0, seq], hashBytes);
        await recordDbs.nodes.put([1, 1, seq], hashBytes);
        await raw.flushed;
      }),
    );
  }
  const t = median(tallyRuns);
  const l = median(rawRuns);
  const f = median(recordRuns);
  rows.push({ appenders: c, 'tally appends/s': fmt(t), 'raw lmdb puts/s': fmt(l), ratio: fmt(t / l, 2), "raw lmdb, Tally's 5 records/s": fmt(f), 'records ratio': fmt(f / l, 2) });
  (result['appends'] as Record<string, unknown>)[c] = { tally: fmt(t), raw: fmt(l), ratio: fmt(t / l, 3), records: fmt(f), recordsRatio: fmt(f / l, 3) };
}

// verify(): fill to verifyEvents, then time a full re-check.
const tid = db.journal.tenant('bench')!.id;
let size = db.journal.size(tid);
while (size < verifyEvents) {
  const n = Math.min(1000, verifyEvents - size);
  await Promise.all(Array.from({ length: n }, () => tenant.log('bench.event', details)));
  size += n;
}
// One pass is also what a lone `tally` command pays; the first also loads the re-check's worker thread and warms
// its code, so the median of the passes is the steady figure and the first is reported beside it.
const passes: { secs: number; verdict: Awaited<ReturnType<typeof tenant.verify>> }[] = [];
for (let p = 0; p < verifyRounds; p++) {
  const t0 = performance.now();
  const verdict = await tenant.verify();
  passes.push({ secs: (performance.now() - t0) / 1000, verdict });
  if (!verdict.ok) throw new Error(`verify failed: ${JSON.stringify(verdict)}`);
}
const verdict = passes[0]!.verdict as { checked: number; checkpoints: number };
const secs = median(passes.map((p) => p.secs));
const firstSecs = passes[0]!.secs;
rows.push({ appenders: 'verify()', 'tally appends/s': `${fmt(verdict.checked / secs)} events/s (first pass ${fmt(verdict.checked / firstSecs)})`, 'raw lmdb puts/s': `${verdict.checked} events, ${verdict.checkpoints} checkpoints`, ratio: '', "raw lmdb, Tally's 5 records/s": '', 'records ratio': '' });
result['verify'] = { events: verdict.checked, checkpoints: verdict.checkpoints, passes: verifyRounds, seconds: fmt(secs, 2), eventsPerSecond: fmt(verdict.checked / secs), firstPassEventsPerSecond: fmt(verdict.checked / firstSecs) };

await db.close();
await raw.close();
report(`durable appends (median of ${rounds} interleaved rounds of ${ms} ms)`, rows, result);
