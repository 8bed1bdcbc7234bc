import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tally } from '../../src/store/tally.js';
import { decodeBlockView, decodeState, decodeVersion, Projection } from '../../src/store/projection.js';
import { decodeTrusted } from '../../src/core/codec.js';
import { decodeStored } from '../../src/core/flat-record.js';
import type { Block, TenantHandle } from '../../src/store/tenant.js';
import type { BatchOp, IfVersion } from '../../src/store/write-plan.js';
import { tempDir } from '../helpers/tmpdir.js';
import { allBlocks, byUtf8, codeOf } from './contract.js';

/** A small key alphabet, so ops collide often. */
const KEYS = ['a', 'b', 'c', 'user:d', 'ключ😀'] as const;
const key = fc.constantFrom(...KEYS);
const kind = fc.constantFrom('user.login', 'invoice.paid');

const data: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0)),
  fc.string({ maxLength: 8, unit: 'grapheme' }),
  fc.constantFrom(null, true, false),
  fc.record({ n: fc.nat(), tags: fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }) }),
);

type Op =
  | { t: 'set'; key: string; data: unknown; v: number; ifVersion?: IfVersion }
  | { t: 'delete'; key: string; ifVersion?: IfVersion }
  | { t: 'redact' | 'unredact' | 'erase'; key: string }
  | { t: 'log'; kind: string; details: unknown }
  | { t: 'batch'; ops: BatchOp[] };

const anyIfVersion = fc.option(fc.oneof(fc.constant<IfVersion>('absent'), fc.nat(40)), { nil: undefined });
const withIfVersion = <T extends object>(o: T, ifVersion: IfVersion | undefined): T => (ifVersion === undefined ? o : { ...o, ifVersion });

const batchOp: fc.Arbitrary<BatchOp> = fc.oneof(
  fc.record({ key, data, v: fc.integer({ min: 0, max: 3 }), ifVersion: anyIfVersion }).map(({ ifVersion, ...o }) => withIfVersion({ op: 'set' as const, ...o }, ifVersion)),
  fc.record({ key, ifVersion: anyIfVersion }).map(({ ifVersion, ...o }) => withIfVersion({ op: 'delete' as const, ...o }, ifVersion)),
  fc.record({ kind, details: data }).map((o) => ({ op: 'log' as const, ...o })),
);

/** Every kind of write, including erase and random (mostly wrong) ifVersions. */
const anyOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ key, data, v: fc.integer({ min: 0, max: 3 }), ifVersion: anyIfVersion }).map(({ ifVersion, ...o }) => withIfVersion({ t: 'set' as const, ...o }, ifVersion)) },
  { weight: 2, arbitrary: fc.record({ key, ifVersion: anyIfVersion }).map(({ ifVersion, ...o }) => withIfVersion({ t: 'delete' as const, ...o }, ifVersion)) },
  { weight: 1, arbitrary: fc.record({ t: fc.constantFrom('redact' as const, 'unredact' as const, 'erase' as const), key }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('log' as const), kind, details: data }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('batch' as const), ops: fc.array(batchOp, { minLength: 1, maxLength: 4, size: 'max' }) }) },
);

async function run(t: TenantHandle, op: Op): Promise<{ receipt: { header: { seq: number; time: number } } }[]> {
  const opts = (o: { ifVersion?: IfVersion }) => (o.ifVersion === undefined ? {} : { ifVersion: o.ifVersion });
  switch (op.t) {
    case 'set':
      return [await t.set(op.key, op.data, { v: op.v, ...opts(op) })];
    case 'delete':
      return [await t.delete(op.key, opts(op))];
    case 'redact':
      return [await t.redact(op.key)];
    case 'unredact':
      return [await t.unredact(op.key)];
    case 'erase':
      return [await t.erase(op.key, { reason: 'property test' })];
    case 'log':
      return [await t.log(op.kind, op.details)];
    case 'batch':
      return (await t.batch(op.ops)).results;
  }
}

/** Codes a write may fail with for reasons of state rather than shape. */
const EXPECTED = new Set(['not_found', 'conflict']);

describe('projection', () => {
  it('keeps the live projection byte-identical to a rebuild from the journal, for sequential and concurrent writes', async () => {
    const db = await Tally.open(tempDir());
    let run_ = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.array(anyOp, { minLength: 1, maxLength: 6, size: 'max' }), { minLength: 1, maxLength: 12, size: 'max' }), async (waves) => {
          const name = `p${run_++}`;
          const t = db.tenant(name);
          await t.log('start', {});
          for (const wave of waves) {
            // Ops of a wave run concurrently, so they often share a group-commit transaction.
            const settled = await Promise.allSettled(wave.map((op) => run(t, op)));
            for (const s of settled) if (s.status === 'rejected' && !EXPECTED.has((s.reason as { code?: string }).code ?? '')) throw s.reason;
          }
          const tid = db.journal.tenant(name)!.id;
          const live = db.projection.dump(tid);
          expect(await t.verify({ projection: true })).toMatchObject({ ok: true });
          expect((await t.me()).blocks_used).toBe((await allBlocks(t)).length);
          // The fixed-layout readers of states and version records read every stored record as the general decoder does.
          const general = (b: Uint8Array) => decodeStored(b) as Record<string, unknown>;
          for (const { value } of db.projection.blocks.getRange({ start: [tid], end: [tid + 1] })) {
            const st = decodeState(value)!;
            expect(st).toEqual(general(value));
            expect(Object.keys(st)).toEqual(Object.keys(general(value)));
            const { data, ...rest } = st;
            expect(decodeBlockView(value)).toEqual({ ...rest, value: data.length > 0 ? decodeTrusted(data) : undefined });
          }
          for (const { value } of db.projection.versions.getRange({ start: [tid], end: [tid + 1] })) {
            const v = decodeVersion(value);
            expect(v).toEqual(general(value));
            expect(Object.keys(v)).toEqual(Object.keys(general(value)));
          }
          // Every other run checks the stored records from a second thread, as a rebuild of a large journal does.
          Projection.checksOnWorkerFrom = run_ % 2 === 0 ? 0 : 20_000;
          try {
            await t.rebuild();
          } finally {
            Projection.checksOnWorkerFrom = 20_000;
          }
          expect(db.projection.dump(tid)).toEqual(live);
          expect(await t.verify({ projection: true })).toMatchObject({ ok: true });
        }),
        { numRuns: 50 },
      );
    } finally {
      await db.close();
    }
  });

  describe('as-of reads', () => {
    /** What the test expects a block to be, built from write results alone. */
    type ModelBlock = Omit<Block, 'key'>;
    /** The live blocks, plus what outlives a delete: which keys have history, and which are redacted. */
    interface Model {
      blocks: Map<string, ModelBlock>;
      known: Set<string>;
      hidden: Set<string>;
    }
    const copy = (m: Model): Model => ({ blocks: new Map(m.blocks), known: new Set(m.known), hidden: new Set(m.hidden) });

    /** ifVersion as the model should resolve it: none, create-only, the current version, or one that is certainly stale. */
    type IfChoice = undefined | 'absent' | 'current' | 'stale';
    const ifChoice = fc.constantFrom<IfChoice>(undefined, undefined, 'absent', 'current', 'stale');
    type MOp =
      | { t: 'set'; key: string; data: unknown; v: number; if: IfChoice }
      | { t: 'delete'; key: string; if: IfChoice }
      | { t: 'redact' | 'unredact'; key: string }
      | { t: 'log'; kind: string; details: unknown };
    type MWrite = MOp | { t: 'batch'; ops: MOp[] };

    const setOp = fc.record({ t: fc.constant('set' as const), key, data, v: fc.integer({ min: 0, max: 3 }), if: ifChoice });
    const deleteOp = fc.record({ t: fc.constant('delete' as const), key, if: ifChoice });
    const logOp = fc.record({ t: fc.constant('log' as const), kind, details: data });
    const mWrite: fc.Arbitrary<MWrite> = fc.oneof(
      { weight: 4, arbitrary: setOp },
      { weight: 2, arbitrary: deleteOp },
      { weight: 2, arbitrary: fc.record({ t: fc.constantFrom('redact' as const, 'unredact' as const), key }) },
      { weight: 1, arbitrary: logOp },
      { weight: 2, arbitrary: fc.record({ t: fc.constant('batch' as const), ops: fc.array(fc.oneof(setOp, deleteOp, logOp), { minLength: 1, maxLength: 4, size: 'max' }) }) },
    );

    const resolveIf = (model: Model, k: string, c: IfChoice): IfVersion | undefined => {
      const cur = model.blocks.get(k);
      if (c === 'current') return cur ? cur.version : 'absent';
      if (c === 'stale') return cur ? cur.version + 1 : 0;
      return c;
    };

    /** The error the model predicts for one op against `model`, or undefined; applies it when it succeeds. */
    function predict(model: Model, op: MOp, ifVersion: IfVersion | undefined): string | undefined {
      if ((op.t === 'set' || op.t === 'delete') && ifVersion !== undefined) {
        const cur = model.blocks.get(op.key);
        if ((cur ? cur.version : 'absent') !== ifVersion) return 'conflict';
      }
      if (op.t === 'delete' && !model.blocks.has(op.key)) return 'not_found';
      // Redaction is of a key's history, so a deleted block can be redacted; a key never written cannot.
      if ((op.t === 'redact' || op.t === 'unredact') && !model.known.has(op.key)) return 'not_found';
      return undefined;
    }

    function apply(model: Model, op: MOp, seq: number, time: number): void {
      const cur = model.blocks.get(op.t === 'log' ? '' : op.key);
      switch (op.t) {
        case 'set':
          model.known.add(op.key);
          // A redacted key stays redacted through a delete and a new set, until unredacted.
          model.blocks.set(op.key, { f: cur ? cur.f : time, l: time, v: op.v, h: model.hidden.has(op.key) ? 1 : 0, data: op.data as Block['data'], version: seq });
          return;
        case 'delete':
          model.blocks.delete(op.key);
          return;
        case 'redact':
        case 'unredact':
          if (op.t === 'redact') model.hidden.add(op.key);
          else model.hidden.delete(op.key);
          if (cur) model.blocks.set(op.key, { ...cur, h: op.t === 'redact' ? 1 : 0, version: seq });
          return;
        case 'log':
          return;
      }
    }

    it('equals a brute-force fold of the writes at every seq', async () => {
      const db = await Tally.open(tempDir());
      let run_ = 0;
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(mWrite, { minLength: 1, maxLength: 40, size: 'max' }), async (writes) => {
            const t = db.tenant(`m${run_++}`);
            const model: Model = { blocks: new Map(), known: new Set(), hidden: new Set() };
            /** snapshots[seq]: the model right after event seq. */
            const snapshots: Model[] = [];

            for (const w of writes) {
              const ops = w.t === 'batch' ? w.ops : [w];
              // Predict against a scratch copy, op by op, as the store plans a batch.
              const scratch = copy(model);
              const resolved: (IfVersion | undefined)[] = [];
              let expected: string | undefined;
              for (const [i, op] of ops.entries()) {
                const ifVersion = op.t === 'set' || op.t === 'delete' ? resolveIf(scratch, op.key, op.if) : undefined;
                resolved.push(ifVersion);
                expected = predict(scratch, op, ifVersion);
                if (expected) break;
                apply(scratch, op, snapshots.length + i, 0);
              }
              const withIf = <T extends object>(o: T, i: number): T & { ifVersion?: IfVersion } => (resolved[i] === undefined ? o : { ...o, ifVersion: resolved[i]! });
              let receipts: { receipt: { header: { seq: number; time: number } } }[] = [];
              const code = await codeOf(async () => {
                if (w.t === 'batch') {
                  const batchOps = w.ops.map((op, i) =>
                    withIf(op.t === 'log' ? { op: 'log', kind: op.kind, details: op.details } : op.t === 'set' ? { op: 'set', key: op.key, data: op.data, v: op.v } : { op: 'delete', key: op.key }, i),
                  ) as BatchOp[];
                  receipts = (await t.batch(batchOps)).results;
                } else if (w.t === 'set') receipts = [await t.set(w.key, w.data, withIf({ v: w.v }, 0))];
                else if (w.t === 'delete') receipts = [await t.delete(w.key, withIf({}, 0))];
                else if (w.t === 'log') receipts = [await t.log(w.kind, w.details)];
                else receipts = [await t[w.t](w.key)];
              });
              expect(code, JSON.stringify(w)).toBe(expected ?? 'ok');
              if (code !== 'ok') continue;
              ops.forEach((op, i) => {
                const { seq, time } = receipts[i]!.receipt.header;
                expect(seq).toBe(snapshots.length);
                apply(model, op, seq, time);
                snapshots.push(copy(model));
              });
            }

            for (let seq = 0; seq < snapshots.length; seq++) {
              const expected = [...snapshots[seq]!.blocks.entries()].sort(([a], [b]) => byUtf8(a, b)).map(([k, b]) => ({ key: k, ...b }));
              const listed = await t.list({ asOf: seq, limit: 1000, includeHidden: true });
              expect(listed.blocks, `list as of ${seq}`).toEqual(expected);
              for (const k of KEYS) {
                const want = snapshots[seq]!.blocks.get(k);
                const got = await t.get(k, { asOf: seq, includeHidden: true }).catch((e: { code: string }) => e.code);
                expect(got, `${k} as of ${seq}`).toEqual(want ? { key: k, ...want } : 'not_found');
              }
            }
            // and the live state is the last snapshot
            const last = snapshots.at(-1)?.blocks ?? new Map();
            expect((await allBlocks(t)).map((b) => b.key)).toEqual([...last.keys()].sort(byUtf8));
          }),
          { numRuns: 50 },
        );
      } finally {
        await db.close();
      }
    });
  });
});
