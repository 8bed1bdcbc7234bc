/**
 * Replaying state from a bundle must give what the store gives for the same
 * point (docs/TIME.md): the worked table, random histories with backdated
 * writes, corrections, deletes, redactions and erasures, and a reader whose
 * clock lags behind the journal.
 */
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseVerifierKey } from '../../src/core/note.js';
import { writeLines } from '../../src/evidence/bundle-file.js';
import { exportBundle } from '../../src/evidence/export.js';
import { replayBundle } from '../../src/evidence/replay-bundle.js';
import { Tally } from '../../src/store/tally.js';
import type { Block } from '../../src/store/tenant.js';
import { tempDir } from '../helpers/tmpdir.js';

const day = (iso: string) => Date.parse(`${iso}T00:00:00Z`);

async function storeState(db: Tally, tenant: string, asOf: number | string, validAt?: number): Promise<Block[]> {
  const out: Block[] = [];
  for await (const b of db.tenant(tenant, { create: false }).stateAt(asOf, { includeHidden: true, ...(validAt !== undefined ? { validAt } : {}) })) out.push(b);
  return out;
}

async function bundleFile(db: Tally, tenant: string, dir: string): Promise<string> {
  const path = join(dir, `${tenant}.jsonl`);
  await writeLines(path, exportBundle(db, tenant));
  return path;
}

describe('replayBundle', () => {
  it('answers the worked table of docs/TIME.md like the store', async () => {
    let clock = day('2026-05-01');
    const db = await Tally.open(tempDir(), { now: () => clock });
    const t = db.tenant('acme');
    await t.set('contract:42', { party: 'Acme Ltd' }, { validFrom: '2026-01-01' });
    clock = day('2026-05-10');
    await t.set('contract:42', { party: 'Acme Group' }, { validFrom: '2026-06-01' });
    clock = day('2026-09-01');
    await t.set('contract:42', { party: 'ACME Limited' }, { validFrom: '2026-01-01' });
    clock = day('2026-10-02');
    await t.delete('contract:42', { validFrom: '2026-10-01' });
    clock = day('2026-12-01');
    const keys = db.verifierKeys().map((k) => parseVerifierKey(k));
    const file = await bundleFile(db, 'acme', tempDir());
    const rows: [string, string, string | null][] = [
      ['2026-03-01', '3', 'ACME Limited'],
      ['2026-03-01', '2026-05-15T00:00:00Z', 'Acme Ltd'],
      ['2026-06-15', '0', 'Acme Ltd'],
      ['2026-06-15', '3', 'Acme Group'],
      ['2026-10-01', '3', null],
      ['2026-10-01', '2', 'Acme Group'],
      ['2025-12-31', '3', null],
      ['2026-04-01', '2026-04-01T00:00:00Z', null],
    ];
    for (const [validAt, asOf, party] of rows) {
      const r = await replayBundle(file, keys, asOf, '', validAt, clock);
      expect(r.audit.ok).toBe(true);
      expect(r.blocks.map((b) => (b.data as { party: string }).party), `validAt ${validAt}, asOf ${asOf}`).toEqual(party === null ? [] : [party]);
      expect(r.blocks, `validAt ${validAt}, asOf ${asOf}`).toEqual(await storeState(db, 'acme', /^\d+$/.test(asOf) ? Number(asOf) : asOf, day(validAt)));
    }
    await db.close();
  });

  it('agrees with the store on random histories, at random points', async () => {
    let clock = day('2026-01-01');
    const db = await Tally.open(tempDir(), { now: () => clock });
    const dir = tempDir();
    const keys = db.verifierKeys().map((k) => parseVerifierKey(k));
    const KEYS = ['k0', 'k1', 'k2'];
    const op = fc.record({
      kind: fc.constantFrom('set', 'set', 'set', 'delete', 'erase', 'redact', 'unredact', 'log'),
      key: fc.constantFrom(...KEYS),
      // validFrom offset in seconds from the write (negative: backdated), or the default
      offset: fc.option(fc.integer({ min: -8, max: 3 }), { nil: undefined }),
      v: fc.integer({ min: 0, max: 2 }),
    });
    const point = fc.record({ asOf: fc.nat(), validOffset: fc.option(fc.integer({ min: -10, max: 30 }), { nil: undefined }) });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 14 }), fc.array(point, { minLength: 3, maxLength: 5 }), async (ops, points) => {
        const tenant = `r${run++}`;
        clock += 1_000_000;
        const start = clock;
        const t = db.tenant(tenant);
        for (const o of ops) {
          clock += 1000;
          const validFrom = o.offset === undefined ? {} : { validFrom: clock + o.offset * 1000 };
          try {
            if (o.kind === 'set') await t.set(o.key, { at: clock, v: o.v }, { v: o.v, ...validFrom });
            else if (o.kind === 'delete') await t.delete(o.key, validFrom);
            else if (o.kind === 'erase') await t.erase(o.key, { reason: 'test' });
            else if (o.kind === 'redact') await t.redact(o.key);
            else if (o.kind === 'unredact') await t.unredact(o.key);
            else await t.log('note', { at: clock });
          } catch (err) {
            if (!['not_found', 'conflict'].includes((err as { code?: string }).code ?? '')) throw err;
          }
        }
        const rec = db.journal.tenant(tenant);
        fc.pre(rec !== undefined && db.journal.size(rec.id) > 0);
        clock += 60_000; // the reader's clock is after every write
        const size = db.journal.size(rec!.id);
        const file = await bundleFile(db, tenant, dir);
        for (const p of points) {
          const asOf = p.asOf % size;
          const validAt = p.validOffset === undefined ? undefined : start + p.validOffset * 1000;
          const r = await replayBundle(file, keys, String(asOf), '', validAt === undefined ? undefined : String(validAt), clock);
          expect(r.audit.ok).toBe(true);
          expect(r.blocks, `asOf ${asOf}, validAt ${validAt}`).toEqual(await storeState(db, tenant, asOf, validAt));
        }
      }),
      { numRuns: 30 },
    );
    await db.close();
  });

  it('"valid now" is never before the journal\'s latest time, for a reader whose clock lags', async () => {
    // docs/TIME.md rule 3: leaving out validAt means valid now, never earlier than the journal's
    // own latest time. An auditor's clock a little behind the server's must not hide the latest writes.
    let clock = day('2026-07-01');
    const db = await Tally.open(tempDir(), { now: () => clock });
    const t = db.tenant('acme');
    await t.set('a', { n: 1 });
    clock += 1000;
    await t.set('b', { n: 2 });
    const keys = db.verifierKeys().map((k) => parseVerifierKey(k));
    const file = await bundleFile(db, 'acme', tempDir());
    const lagging = clock - 5 * 60_000; // five minutes behind
    clock = lagging;
    const fromStore = await storeState(db, 'acme', 1);
    expect(fromStore.map((b) => b.key)).toEqual(['a', 'b']);
    const r = await replayBundle(file, keys, '1', '', undefined, lagging);
    expect(r.audit.ok).toBe(true);
    expect(r.blocks).toEqual(fromStore);
    await db.close();
  });
});
