/**
 * The worker half of a split verify(): it loads from the compiled package
 * as from the TypeScript sources, a worker that cannot do its part leaves
 * the calling thread to do it (same verdict), a half given up on does not
 * hold up the next re-check, and progress only goes forward. Split verdicts
 * under tampering are compared with single-scan ones in
 * tamper-lmdb.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyPrevList } from '../../src/journal/journal-scan.js';
import { SegmentCheck } from '../../src/journal/segment-check.js';
import { splitCounts, verifyJournal } from '../../src/journal/verify-journal.js';
import { Tally } from '../../src/store/tally.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
let scratch: string;
let db: Tally;
const EVENTS = 600;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'tally-segment-'));
  db = await Tally.open(join(scratch, 'db'));
  const t = db.tenant('acme');
  for (let i = 0; i < EVENTS; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => (j % 3 ? t.set(`k${(i + j) % 40}`, { i: i + j }) : t.log('tick', { i: i + j }))));
  }
});

afterAll(async () => {
  await db.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('split verify()', () => {
  it('runs its worker half from the compiled package too', () => {
    const dir = join(scratch, 'built');
    const script = join(scratch, 'built.mjs');
    writeFileSync(
      script,
      `import { Tally } from ${JSON.stringify(join(root, 'dist/store/tally.js'))};
import { splitCounts, verifyJournal } from ${JSON.stringify(join(root, 'dist/journal/verify-journal.js'))};
const db = await Tally.open(${JSON.stringify(dir)});
const t = db.tenant('acme');
for (let i = 0; i < 20; i++) await Promise.all([t.set('a', { i }), t.log('l', { i }), t.set('b' + i, { i })]);
const verdict = await verifyJournal(db.journal, 'acme', { splitFrom: 0 });
await db.close();
console.log(JSON.stringify({ verdict, splitCounts }));
`,
    );
    const out = JSON.parse(execFileSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 }).trim().split('\n').at(-1)!);
    expect(out.verdict).toMatchObject({ ok: true, checked: 60 });
    expect(out.splitCounts).toMatchObject({ started: 1, confirmed: 1, redone: 0 });
  });

  it('confirms the worker half and reports progress that only goes forward, ending at the count', async () => {
    const before = { ...splitCounts };
    const seen: number[] = [];
    const verdict = await verifyJournal(db.journal, 'acme', { splitFrom: 0, progressEvery: 50, onProgress: (n) => seen.push(n) });
    expect(verdict).toMatchObject({ ok: true, checked: EVENTS });
    expect(splitCounts.confirmed - before.confirmed).toBe(1);
    expect(seen.length).toBeGreaterThan(2);
    expect(seen.every((n, i) => i === 0 || n >= seen[i - 1]!)).toBe(true);
    expect(seen.at(-1)).toBe(EVENTS);
  });

  it('reports progress that only goes forward when the calling thread redoes the worker half', async () => {
    const dir = join(scratch, 'redo');
    const other = await Tally.open(dir);
    const t = other.tenant('acme');
    for (let i = 0; i < 5000; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => t.set(`k${j}`, { i: i + j })));
    const tid = other.journal.tenant('acme')!.id;
    const h = other.journal.header(tid, 4990);
    await other.journal.storage.keyIndex.put([tid, 'b', h.key, 4990], new Uint8Array(32));
    const before = { ...splitCounts };
    const seen: number[] = [];
    // The worker counts its progress every 1,024 events; this thread's first half adds it to what it reports.
    const verdict = await verifyJournal(other.journal, 'acme', { splitFrom: 0, splitAt: 1000, progressEvery: 100, onProgress: (n) => seen.push(n) });
    expect(verdict).toMatchObject({ ok: false, seq: 4990, code: 'index_mismatch' });
    expect(await verifyJournal(other.journal, 'acme', { splitFrom: Infinity })).toEqual(verdict);
    expect(splitCounts.redone - before.redone).toBe(1);
    expect(seen.every((n, i) => i === 0 || n > seen[i - 1]!)).toBe(true);
    await other.close();
  });

  it('gives the verdict of one scan when the record before the split is also stored under a shorter encoding of its key', async () => {
    // ordered-binary also reads a number's 9-byte form with its zero tail dropped: such a key sorts just before the
    // canonical one and decodes to the same [tid, seq]. The genuine record goes there and other bytes under the
    // canonical key (what point reads return): the worker's part, which starts past the canonical key, must not make
    // the first part's scan miss them.
    for (const name of ['events', 'payloads'] as const) {
      const other = await Tally.open(join(scratch, `alias-${name}`));
      try {
        const t = other.tenant('acme');
        for (let i = 0; i < 24; i++) await t.set(`k${i % 7}`, { i });
        const tid = other.journal.tenant('acme')!.id;
        const { root } = other.journal.storage;
        const handle = other.journal.storage[name];
        const rawKeys = root.openDB<Uint8Array, Uint8Array>({ name, encoding: 'binary', keyEncoding: 'binary' } as never);
        const seq = 11;
        const genuine = Uint8Array.from(handle.get([tid, seq])!);
        // The record's own key bytes: the one holding its value (headers and salted payloads are unique).
        const canonical = Uint8Array.from([...rawKeys.getRange({})].find((e) => Buffer.from(e.value).equals(Buffer.from(genuine)))!.key);
        const forged = Uint8Array.from(genuine);
        forged[forged.length - 1]! ^= 1;
        root.transactionSync(() => {
          rawKeys.putSync(canonical.subarray(0, canonical.length - 5), genuine);
          handle.putSync([tid, seq], forged);
        });
        // Two records now read as [tid, seq], the genuine one first.
        const read = [...handle.getRange({ start: [tid, seq - 0.5], end: [tid, seq + 0.5] })];
        expect(read.map((e) => [e.key[1], Buffer.from(e.value).equals(Buffer.from(genuine))]), name).toEqual([[seq, true], [seq, false]]);
        const single = await verifyJournal(other.journal, 'acme', { splitFrom: Infinity });
        expect(single, name).toMatchObject({ ok: false });
        expect(await verifyJournal(other.journal, 'acme', { splitFrom: 0, splitAt: seq + 1 }), name).toEqual(single);
      } finally {
        await other.close();
      }
    }
  });

  it('gives the same verdict, checked on the calling thread, when the worker cannot open the environment', async () => {
    const target = { storage: db.journal.storage, tid: db.journal.tenant('acme')!.id, name: 'acme', origin: db.journal.origin('acme'), keys: db.journal.verifierKeys() };
    const notADir = join(scratch, 'not-a-dir');
    writeFileSync(notADir, 'x');
    const half = SegmentCheck.start(notADir, target, EVENTS / 2)!;
    expect(half.wait()).toBeUndefined();
  });

  it('answers the next re-check after one whose first half failed and gave its worker half up', async () => {
    // A tenant whose first event no longer chains: the first half fails at once and cancels the worker's half.
    const dir = join(scratch, 'broken');
    const broken = await Tally.open(dir);
    const t = broken.tenant('acme');
    for (let i = 0; i < 10; i++) await Promise.all([t.set('a', { i }), t.log('l', { i })]);
    const tid = broken.journal.tenant('acme')!.id;
    const storage = broken.journal.storage;
    const first = storage.events.get([tid, 0])!;
    const altered = Uint8Array.from(first);
    altered[altered.length - 1]! ^= 1;
    await storage.events.put([tid, 0], altered);
    const before = { ...splitCounts };
    const bad = await verifyJournal(broken.journal, 'acme', { splitFrom: 0 });
    expect(bad.ok).toBe(false);
    expect(await verifyJournal(broken.journal, 'acme', { splitFrom: Infinity })).toEqual(bad);
    expect(splitCounts.started - before.started).toBe(1);
    await broken.close();
    const good = await verifyJournal(db.journal, 'acme', { splitFrom: 0 });
    expect(good).toMatchObject({ ok: true, checked: EVENTS });
    expect(splitCounts.confirmed - before.confirmed).toBe(1);
  });
});

describe('KeyPrevList', () => {
  it('gives back every (key, keyPrev) pair in order, any key text and keyPrev length', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.option(fc.uint8Array({ minLength: 0, maxLength: 40 }), { nil: null })), { maxLength: 300 }), (pairs) => {
        const list = new KeyPrevList();
        for (const [k, v] of pairs) list.add(k, v);
        expect([...KeyPrevList.entries(list.bytes())].map(([k, v]) => [k, v === null ? null : [...v]])).toEqual(pairs.map(([k, v]) => [k, v === null ? null : [...v]]));
      }),
    );
  });
});
