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
 * left, filled to `--verify-events`, and over one as large written in
 * batches of 1,000: the median of `--verify-rounds` passes, the first pass
 * alone, and beside them passes on the calling thread alone.
 */
import { open } from 'lmdb';
import { encodeData, Tally, verifyJournal } from './shipped.js';
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

// verify(): fill to verifyEvents, then time full re-checks.
const tid = db.journal.tenant('bench')!.id;
await fill('bench', db.journal.size(tid));
// A second tenant of the same size written in batches of 1,000 only: few checkpoints, whose signature checks
// weigh as much as about nine events each, where the appends above left one per batch of a few events.
await fill('batched', 0);

/** Appends log events to `name` in batches of up to 1,000 until it holds verifyEvents. */
async function fill(name: string, size: number): Promise<void> {
  const t = db.tenant(name);
  while (size < verifyEvents) {
    const n = Math.min(1000, verifyEvents - size);
    await Promise.all(Array.from({ length: n }, () => t.log('bench.event', details)));
    size += n;
  }
}

/**
 * `verifyRounds` passes of verify() over `name` (the public API: on two threads from 50,000 events),
 * interleaved with passes on the calling thread alone, side by side. The first pass also loads the
 * worker thread and warms its code, so the medians are the steady figures and the first is reported too.
 */
async function timeVerify(name: string): Promise<Record<string, number>> {
  const split: number[] = [];
  const single: number[] = [];
  let events = 0;
  let checkpoints = 0;
  for (let p = 0; p < verifyRounds; p++) {
    for (const [times, run] of [
      [split, () => db.tenant(name).verify()],
      [single, () => verifyJournal(db.journal, name, { splitFrom: Infinity })],
    ] as const) {
      const t0 = performance.now();
      const verdict = await run();
      times.push((performance.now() - t0) / 1000);
      if (!verdict.ok) throw new Error(`verify failed: ${JSON.stringify(verdict)}`);
      events = verdict.checked;
      checkpoints = verdict.checkpoints;
    }
  }
  const rate = (secs: number) => fmt(events / secs);
  const out = { events, checkpoints, passes: verifyRounds, eventsPerSecond: rate(median(split)), firstPassEventsPerSecond: rate(split[0]!), oneThreadEventsPerSecond: rate(median(single)), ratioToOneThread: fmt(median(single) / median(split), 2) };
  rows.push({ appenders: `verify() ${name}`, 'tally appends/s': `${out.eventsPerSecond} events/s (first pass ${out.firstPassEventsPerSecond})`, 'raw lmdb puts/s': `one thread: ${out.oneThreadEventsPerSecond} (×${out.ratioToOneThread})`, ratio: '', "raw lmdb, Tally's 5 records/s": `${events} events`, 'records ratio': `${checkpoints} checkpoints` });
  return out;
}
result['verify'] = await timeVerify('bench');
result['verifyBatched'] = await timeVerify('batched');

await db.close();
await raw.close();
report(`durable appends (median of ${rounds} interleaved rounds of ${ms} ms)`, rows, result);
