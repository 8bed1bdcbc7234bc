/**
 * npm run bench:store [-- --json] [--big 1000000] [--small 20000]
 *
 * Side by side in one run: point gets through Tally beside raw lmdb-js gets
 * of the same bytes; `list` of 1000; as-of get latency on a 10k-event
 * journal beside a 1M-event one (the ratio shows the cost's growth with
 * size); and `rebuild()` events/s.
 */
import { open } from 'lmdb';
import { encodeData, Tally, type TenantHandle } from './shipped.js';
import { benchDir, fmt, jsonOutput, numberArg, report } from './harness.js';

const big = numberArg('big', 1_000_000);
const small = numberArg('small', 20_000);
const keysPerJournal = 10_000;
const value = { name: 'Alice', plan: 'pro', n: 42, tags: ['a', 'b'] };

async function fill(t: TenantHandle, events: number): Promise<void> {
  for (let done = 0; done < events; ) {
    const n = Math.min(1000, events - done);
    await t.batch(Array.from({ length: n }, (_, i) => ({ op: 'set' as const, key: `user:${String((done + i) % keysPerJournal).padStart(6, '0')}`, data: { ...value, i: done + i } })));
    done += n;
    if (!jsonOutput && done % 100_000 === 0) process.stderr.write(`  filled ${done}/${events}\r`);
  }
}

function time(n: number, fn: (i: number) => unknown): number {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  return (performance.now() - t0) / n; // ms per op
}

async function timeAsync(n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  return (performance.now() - t0) / n;
}

const db = await Tally.open(benchDir('tally-bench-s-'));
const smallT = db.tenant('small');
const bigT = db.tenant('big');
await fill(smallT, small);
await fill(bigT, big);

// Raw lmdb-js: the same value bytes under the same keys.
const raw = open({ path: benchDir('tally-bench-sraw-'), encoding: 'binary' });
const bytes = encodeData({ ...value, i: 0 });
await raw.transaction(() => {
  for (let i = 0; i < keysPerJournal; i++) raw.putSync(`user:${String(i).padStart(6, '0')}`, bytes);
});

const key = (i: number) => `user:${String((i * 7919) % keysPerJournal).padStart(6, '0')}`;
const N = 20_000;
const rows: Record<string, string | number>[] = [];
const result: Record<string, unknown> = {};
// Interleave rounds so both sides see the same noise.
const tallyGets: number[] = [];
const rawGets: number[] = [];
for (let r = 0; r < 3; r++) {
  tallyGets.push(await timeAsync(N, (i) => bigT.get(key(i))));
  rawGets.push(time(N, (i) => raw.get(key(i))));
}
const tg = 1000 / Math.min(...tallyGets);
const rg = 1000 / Math.min(...rawGets);
rows.push({ measure: `point get (${big}-event journal)`, tally: `${fmt(tg)} gets/s`, peer: `${fmt(rg)} raw lmdb gets/s`, ratio: fmt(tg / rg, 2) });
result['get'] = { tally: fmt(tg), raw: fmt(rg), ratio: fmt(tg / rg, 3) };

const listMs = await timeAsync(50, () => bigT.list({ prefix: 'user:', limit: 1000 }));
rows.push({ measure: 'list of 1000', tally: `${fmt(listMs, 2)} ms`, peer: '', ratio: '' });
result['list1000Ms'] = fmt(listMs, 3);

const smallSize = db.journal.size(db.journal.tenant('small')!.id);
const bigSize = db.journal.size(db.journal.tenant('big')!.id);
// A past point after every key was first written, halfway through the journal.
const midpoint = (size: number, i: number) => keysPerJournal + Math.floor((size - keysPerJournal) / 2) - (i % 100);
const asOfSmall = await timeAsync(N, (i) => smallT.get(key(i), { asOf: midpoint(smallSize, i) }));
const asOfBig = await timeAsync(N, (i) => bigT.get(key(i), { asOf: midpoint(bigSize, i) }));
rows.push({ measure: `as-of get, ${small} vs ${big} events`, tally: `${fmt(asOfSmall * 1000, 1)} µs vs ${fmt(asOfBig * 1000, 1)} µs`, peer: '', ratio: fmt(asOfBig / asOfSmall, 2) });
result['asOf'] = { smallUs: fmt(asOfSmall * 1000, 2), bigUs: fmt(asOfBig * 1000, 2), ratio: fmt(asOfBig / asOfSmall, 3) };

const t0 = performance.now();
const rebuilt = await bigT.rebuild();
const rebuildRate = rebuilt.events / ((performance.now() - t0) / 1000);
rows.push({ measure: 'rebuild()', tally: `${fmt(rebuildRate)} events/s`, peer: `${rebuilt.events} events`, ratio: '' });
result['rebuild'] = { events: rebuilt.events, eventsPerSecond: fmt(rebuildRate) };

await db.close();
await raw.close();
report('block store', rows, result);
