import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { open } from 'lmdb';
import { encodeFlat, decodeStored } from '../../src/core/flat-record.js';
import { Tally } from '../../src/store/tally.js';
import { Projection } from '../../src/store/projection.js';
import { tempDir } from '../helpers/tmpdir.js';

const D = (iso: string) => Date.parse(iso);

async function codeOf(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

describe('bi-temporal reads (docs/TIME.md)', () => {
  it('answers the scenario table: a rename effective 1 June, a late correction, a retraction, and queries before any fact', async () => {
    let now = D('2026-05-01T00:00:00Z');
    const db = await Tally.open(tempDir(), { now: () => now });
    const t = db.tenant('acme');
    // May: the contract is with "Acme Ltd", valid from 1 January.
    const s1 = await t.set('contract:42', { party: 'Acme Ltd' }, { validFrom: '2026-01-01' });
    // 10 May: we learn of a rename effective 1 June.
    now = D('2026-05-10T00:00:00Z');
    const s2 = await t.set('contract:42', { party: 'Acme Group' }, { validFrom: '2026-06-01' });
    // September: a correction — the January fact was wrong, the name was "ACME Limited".
    now = D('2026-09-01T00:00:00Z');
    const s3 = await t.set('contract:42', { party: 'ACME Limited' }, { validFrom: '2026-01-01' });
    // October: the contract is retracted from 1 October.
    now = D('2026-10-02T00:00:00Z');
    await t.delete('contract:42', { validFrom: '2026-10-01' });

    const at = async (validAt: string, asOf?: number | string) =>
      codeOf(async () => (await t.get('contract:42', { validAt, ...(asOf !== undefined ? { asOf } : {}) })).data).then(
        async (c) => (c === 'ok' ? ((await t.get('contract:42', { validAt, ...(asOf !== undefined ? { asOf } : {}) })).data as { party: string }).party : c),
      );
    expect(await at('2025-12-31')).toBe('not_found'); // before any fact
    expect(await at('2026-03-01')).toBe('ACME Limited'); // corrected January fact
    expect(await at('2026-03-01', s2.version)).toBe('Acme Ltd'); // as known in May, before the correction
    expect(await at('2026-03-01', '2026-05-15T00:00:00Z')).toBe('Acme Ltd');
    expect(await at('2026-06-01')).toBe('Acme Group'); // the rename
    expect(await at('2026-06-15', s1.version)).toBe('Acme Ltd'); // as known before the rename was recorded
    expect(await at('2026-09-30')).toBe('Acme Group');
    expect(await at('2026-10-01')).toBe('not_found'); // retracted
    expect(await at('2026-10-01', s3.version)).toBe('Acme Group'); // before the retraction was recorded
    expect(await codeOf(() => t.get('contract:42'))).toBe('not_found'); // valid now: retracted
    expect(await codeOf(() => t.get('contract:42', { validAt: '2026-03-01', asOf: '2026-04-01T00:00:00Z' }))).toBe('not_found'); // known nothing yet
    await db.close();
  });

  it('shows a future-dated fact only once it is valid', async () => {
    let now = D('2026-05-01T00:00:00Z');
    const db = await Tally.open(tempDir(), { now: () => now });
    const t = db.tenant('acme');
    await t.set('price', 10);
    await t.set('price', 12, { validFrom: '2026-07-01' });
    expect((await t.get('price')).data).toBe(10);
    expect((await t.list()).blocks.map((b) => b.data)).toEqual([10]);
    now = D('2026-07-01T00:00:00Z');
    expect((await t.get('price')).data).toBe(12);
    expect((await t.list()).blocks.map((b) => b.data)).toEqual([12]);
    await db.close();
  });

  it('lets a retroactive write change later asOf answers but never earlier ones', async () => {
    let now = D('2026-05-01T00:00:00Z');
    const db = await Tally.open(tempDir(), { now: () => now });
    const t = db.tenant('acme');
    const a = await t.set('k', 'may', { validFrom: '2026-05-01' });
    now += 1000;
    const before = (await t.get('k', { validAt: '2026-04-15', asOf: a.version }).catch((e) => e.code)) as unknown;
    const b = await t.set('k', 'april', { validFrom: '2026-04-01' });
    expect(await t.get('k', { validAt: '2026-04-15', asOf: a.version }).catch((e) => e.code)).toEqual(before);
    expect((await t.get('k', { validAt: '2026-04-15', asOf: b.version })).data).toBe('april');
    expect((await t.get('k')).data).toBe('may'); // valid now: the May fact still wins
    await db.close();
  });

  it('accepts ms timestamps and ISO dates with zones as instants, compared as instants', async () => {
    const db = await Tally.open(tempDir(), { now: () => D('2026-05-01T00:00:00Z') });
    const t = db.tenant('acme');
    await t.set('k', 'x', { validFrom: '2026-03-01T02:00:00+02:00' });
    expect((await t.get('k', { validAt: D('2026-03-01T00:00:00Z') })).data).toBe('x');
    expect(await codeOf(() => t.get('k', { validAt: '2026-02-28T23:59:59.999Z' }))).toBe('not_found');
    expect((await t.get('k', { validAt: '2026-03-01' })).data).toBe('x');
    expect(await codeOf(() => t.get('k', { validAt: 'yesterday' }))).toBe('bad_request');
    await db.close();
  });

  it('equals a brute-force reference on random histories of writes, corrections, retroactive writes, deletes and erasures', async () => {
    const T0 = D('2026-06-01T00:00:00Z');
    const instants = [-3, -2, -1, 0, 1, 2, 3].map((d) => T0 + d * 86_400_000);
    const keys = ['a', 'b', 'c'];
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), key: fc.constantFrom(...keys), vf: fc.option(fc.constantFrom(...instants), { nil: undefined }), data: fc.integer({ min: 0, max: 99 }) }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom(...keys), vf: fc.option(fc.constantFrom(...instants), { nil: undefined }) }),
      fc.record({ kind: fc.constant('erase' as const), key: fc.constantFrom(...keys) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        let now = T0 - 4 * 86_400_000;
        const db = await Tally.open(tempDir(), { now: () => now });
        const t = db.tenant('acme');
        type Ev = { seq: number; key: string; op: 'set' | 'delete' | 'erase'; vf: number; data?: number };
        const log: Ev[] = [];
        for (const o of ops) {
          now += 3_600_000;
          try {
            if (o.kind === 'set') {
              const r = await t.set(o.key, o.data, o.vf !== undefined ? { validFrom: o.vf } : {});
              log.push({ seq: r.version, key: o.key, op: 'set', vf: r.receipt.header.validFrom, data: o.data });
            } else if (o.kind === 'delete') {
              const r = await t.delete(o.key, o.vf !== undefined ? { validFrom: o.vf } : {});
              log.push({ seq: r.receipt.header.seq, key: o.key, op: 'delete', vf: r.receipt.header.validFrom });
            } else {
              const r = await t.erase(o.key, { reason: 'test' });
              log.push({ seq: r.receipt.header.seq, key: o.key, op: 'erase', vf: 0 });
            }
          } catch (e) {
            if ((e as { code?: string }).code !== 'not_found') throw e;
          }
        }
        // The reference: among facts known at asOf after the key's last erase, latest validFrom ≤ validAt wins, later seq on ties.
        const reference = (key: string, asOf: number, validAt: number): number | 'none' | 'erased' => {
          const known = log.filter((e) => e.key === key && e.seq <= asOf);
          const lastErase = Math.max(-1, ...known.filter((e) => e.op === 'erase').map((e) => e.seq));
          let win: Ev | undefined;
          for (const e of known) if (e.op !== 'erase' && e.seq > lastErase && e.vf <= validAt && (!win || e.vf > win.vf || (e.vf === win.vf && e.seq > win.seq))) win = e;
          if (!win || win.op === 'delete') return 'none';
          // An erased payload reads as null.
          return log.some((e) => e.key === key && e.op === 'erase' && e.seq > win!.seq) ? 'erased' : win.data!;
        };
        const maxSeq = log.length ? Math.max(...log.map((e) => e.seq)) : 0;
        for (const key of keys) {
          for (let asOf = 0; asOf <= maxSeq; asOf++) {
            for (const validAt of instants) {
              const want = reference(key, asOf, validAt);
              const got = await t.get(key, { asOf, validAt }).then((b) => (b.data === null ? 'erased' : (b.data as number)), (e) => ((e as { code: string }).code === 'not_found' ? 'none' : Promise.reject(e)));
              expect(got, `${key} asOf ${asOf} validAt ${new Date(validAt).toISOString()}`).toEqual(want);
            }
          }
          // Everything known now, valid now.
          const wantNow = reference(key, Number.MAX_SAFE_INTEGER, now);
          const gotNow = await t.get(key).then((b) => (b.data === null ? 'erased' : (b.data as number)), (e) => ((e as { code: string }).code === 'not_found' ? 'none' : Promise.reject(e)));
          expect(gotNow, `${key} now`).toEqual(wantNow);
        }
        expect(await t.verify({ projection: true })).toMatchObject({ ok: true });
        // A rebuild relinks the valid-time index from the journal alone, to the same bytes.
        await t.rebuild();
        expect(await t.verify({ projection: true })).toMatchObject({ ok: true });
        await db.close();
      }),
      { numRuns: 40 },
    );
  });

  it('answers a long backfill of past values (each recorded after the current one) at every asOf, live and after a rebuild', async () => {
    const T0 = D('2026-01-01T00:00:00Z');
    const day = 86_400_000;
    let now = T0 + 1000 * day;
    const db = await Tally.open(tempDir(), { now: () => now });
    const t = db.tenant('acme');
    const first = await t.set('rate', 'current');
    // Backfill 300 days, newest first: every write sorts before everything recorded earlier.
    const seqOfDay: number[] = [];
    for (let d = 299; d >= 0; d--) {
      now += 1000;
      seqOfDay[d] = (await t.set('rate', `day ${d}`, { validFrom: T0 + d * day })).version;
    }
    const check = async () => {
      for (const d of [0, 1, 150, 298, 299]) {
        // Before day d was backfilled only later days were known, so nothing was valid on day d;
        // from then on day d answers for itself, whatever was recorded after.
        expect(await codeOf(() => t.get('rate', { validAt: T0 + d * day, asOf: seqOfDay[d]! - 1 }))).toBe('not_found');
        expect((await t.get('rate', { validAt: T0 + d * day + 1, asOf: seqOfDay[d]! })).data).toBe(`day ${d}`);
        expect((await t.get('rate', { validAt: T0 + d * day + 1 })).data).toBe(`day ${d}`);
      }
      // Day 151 was known before day 150, but is not valid on day 150.
      expect(await codeOf(() => t.get('rate', { validAt: T0 + 150 * day, asOf: seqOfDay[151]! }))).toBe('not_found');
      expect((await t.get('rate', { validAt: T0 + 200.5 * day, asOf: seqOfDay[100]! })).data).toBe('day 200');
      expect((await t.get('rate')).data).toBe('current');
    };
    // The first fact alone answers nothing before its own validFrom.
    expect(await codeOf(() => t.get('rate', { validAt: T0, asOf: first.version }))).toBe('not_found');
    await check();
    await t.rebuild();
    await check();
    expect(await t.verify({ projection: true })).toMatchObject({ ok: true });
    await db.close();
  });

  it('finds nothing, rather than looping, when a link of the valid-time index is damaged', async () => {
    const T0 = D('2026-01-01T00:00:00Z');
    const day = 86_400_000;
    const db = await Tally.open(tempDir(), { now: () => T0 + 100 * day });
    const t = db.tenant('acme');
    await t.set('a', 'current', { validFrom: T0 + 10 * day });
    await t.set('a', 'old', { validFrom: T0 });
    const mid = await t.set('a', 'mid', { validFrom: T0 + day });
    const tid = db.journal.tenant('acme')!.id;
    const rec = decodeStored(db.projection.versions.get([tid, 'a', mid.version])!) as Record<string, number | string | boolean>;
    // A link to itself: a walk that trusted it would never end.
    await db.projection.versions.put([tid, 'a', mid.version], encodeFlat({ ...rec, p: mid.version, j: mid.version }));
    expect(await codeOf(() => t.get('a', { asOf: mid.version - 1, validAt: T0 + day + 1 }))).toBe('not_found');
    expect(await t.verify({ projection: true })).toMatchObject({ ok: false, code: 'projection_mismatch' });
    await t.rebuild();
    expect((await t.get('a', { asOf: mid.version - 1, validAt: T0 + day + 1 })).data).toBe('old');
    await db.close();
  });

  it('relinks a retroactive fact from its repaired neighbour when a rebuild checks stored records from a second thread', async () => {
    const T0 = D('2026-01-01T00:00:00Z');
    const day = 86_400_000;
    const db = await Tally.open(tempDir(), { now: () => T0 + 100 * day });
    const t = db.tenant('acme');
    await t.set('a', 'current', { validFrom: T0 + 10 * day });
    const old = await t.set('a', 'old', { validFrom: T0 });
    // Linking this retroactive fact reads the record of 'old', its neighbour in valid time.
    await t.set('a', 'mid', { validFrom: T0 + day });
    const tid = db.journal.tenant('acme')!.id;
    const rec = decodeStored(db.projection.versions.get([tid, 'a', old.version])!) as Record<string, number | string | boolean>;
    await db.projection.versions.put([tid, 'a', old.version], encodeFlat({ ...rec, d: 7 }));
    expect(await t.verify({ projection: true })).toMatchObject({ ok: false, code: 'projection_mismatch' });
    Projection.checksOnWorkerFrom = 0;
    try {
      await t.rebuild();
    } finally {
      Projection.checksOnWorkerFrom = 20_000;
    }
    expect(await t.verify({ projection: true })).toMatchObject({ ok: true });
    expect((await t.get('a', { validAt: T0 + day + 1 })).data).toBe('mid');
    await db.close();
  });

  describe('projection layout marker', () => {
    /** A data directory with a retroactive fact, closed, then altered through raw LMDB. */
    async function directory(alter: (root: ReturnType<typeof open>) => void): Promise<{ dir: string; asOf: number }> {
      const dir = tempDir();
      let now = D('2026-06-01T00:00:00Z');
      const db = await Tally.open(dir, { now: () => now });
      const t = db.tenant('acme');
      const a = await t.set('k', 'june');
      now += 1000;
      await t.set('k', 'may', { validFrom: '2026-05-01' });
      await db.close();
      const root = open({ path: join(dir, 'journal'), maxDbs: 32 });
      await root.transaction(() => alter(root));
      await root.close();
      return { dir, asOf: a.version };
    }
    const emptyChain = (root: ReturnType<typeof open>) => {
      const chain = root.openDB({ name: 'valid-chain', encoding: 'binary' });
      for (const k of chain.getKeys()) chain.removeSync(k);
    };
    const readsRight = async (dir: string, asOf: number) => {
      const db = await Tally.open(dir);
      const t = db.tenant('acme');
      expect((await t.get('k', { validAt: '2026-05-15' })).data).toBe('may');
      expect(await codeOf(() => t.get('k', { validAt: '2026-05-15', asOf }))).toBe('not_found');
      expect(await t.verify({ projection: true })).toMatchObject({ ok: true });
      await db.close();
    };

    it('rebuilds, once, the projection of a data directory that kept valid-time facts in the older layout', async () => {
      // An older directory: no layout marker, facts in 'valid-time', none in 'valid-chain'.
      const { dir, asOf } = await directory((root) => {
        emptyChain(root);
        root.openDB({ name: 'valid-time', encoding: 'binary' }).putSync([1, 'k', 0, 0], new Uint8Array([0xa0]));
        root.removeSync('projection-layout');
      });
      await readsRight(dir, asOf);
      const after = open({ path: join(dir, 'journal'), maxDbs: 32 });
      expect([...after.openDB({ name: 'valid-time', encoding: 'binary' }).getKeys()]).toEqual([]);
      expect(after.get('projection-layout')).toBe(2);
      await after.close();
    });

    it('rebuilds a directory with no marker, even without an old valid-time database', async () => {
      const { dir, asOf } = await directory((root) => {
        emptyChain(root);
        root.removeSync('projection-layout');
      });
      await readsRight(dir, asOf);
    });

    it('rebuilds again when an older Tally wrote valid-time records after the upgrade', async () => {
      const { dir, asOf } = await directory((root) => {
        emptyChain(root);
        root.openDB({ name: 'valid-time', encoding: 'binary' }).putSync([1, 'k', 0, 0], new Uint8Array([0xa0]));
      });
      await readsRight(dir, asOf);
    });

    it('refuses a directory of a newer layout, and a read-only open that would need a rebuild', async () => {
      const newer = await directory((root) => root.putSync('projection-layout', 3));
      expect(await codeOf(() => Tally.open(newer.dir))).toBe('internal_error');
      const stale = await directory((root) => root.removeSync('projection-layout'));
      expect(await codeOf(() => Tally.open(stale.dir, { readOnly: true }))).toBe('internal_error');
      await readsRight(stale.dir, stale.asOf);
    });
  });
});
