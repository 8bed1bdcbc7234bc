import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { factAt, MemoryFacts, type FactLinks, type FactReader, type FactRef } from '../../src/store/valid-chain.js';

/**
 * One key's facts, recorded the way the fold records them (seqs ascending,
 * each linked against the facts before it) in the projection's in-memory
 * index, with every read counted.
 */
class Facts {
  private readonly mem = new MemoryFacts();
  reads = 0;
  /** The greatest fact in order: what the fold passes as the winner. */
  private last: FactRef | undefined;
  private n = 0;

  readonly reader: FactReader<FactLinks> = {
    get: (seq) => (this.reads++, this.mem.reader.get(seq)),
    before: (ref) => (this.reads++, this.mem.reader.before(ref)),
    atOrBefore: (validAt) => (this.reads++, this.mem.reader.atOrBefore(validAt)),
  };

  /** The facts in order, each with its place. */
  get list(): { ref: FactRef; fact: FactLinks }[] {
    return this.mem.facts().map((f) => ({ ref: { validFrom: f.validFrom, seq: f.seq }, fact: f.fact }));
  }

  add(validFrom: number): void {
    const at = { validFrom, seq: this.n++ };
    this.mem.add(at, this.last, this.reader);
    if (!this.last || validFrom >= this.last.validFrom) this.last = at;
  }

  /** The rule by brute force: latest validFrom ≤ validAt among seq ≤ asOf, later seq on ties. */
  reference(validAt: number, asOf: number): number | undefined {
    let win: FactRef | undefined;
    for (const { ref } of this.list) {
      if (ref.seq > asOf || ref.validFrom > validAt) continue;
      if (!win || ref.validFrom > win.validFrom || (ref.validFrom === win.validFrom && ref.seq > win.seq)) win = ref;
    }
    return win?.seq;
  }

  /** The indexed answer and the reads it took. */
  query(validAt: number, asOf: number): { seq: number | undefined; reads: number } {
    this.reads = 0;
    return { seq: factAt(this.reader, validAt, asOf)?.seq, reads: this.reads };
  }
}

/** Reads allowed per query for n facts: one seek plus the jump search up a chain of at most n. */
const bound = (n: number) => 1 + 3 * Math.ceil(Math.log2(n + 1));

describe('valid-time index (src/store/valid-chain.ts)', () => {
  // witnesses: INV-BITEMPORAL-LOG-N
  it('answers every (validAt, asOf) like a brute-force scan, in O(log n) reads, on random histories', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 120 }), (vfs) => {
        const f = new Facts();
        for (const vf of vfs) f.add(vf);
        for (let asOf = -1; asOf <= vfs.length; asOf++) {
          for (let validAt = -1; validAt <= 41; validAt++) {
            const got = f.query(validAt, asOf);
            expect(got.seq, `validAt ${validAt} asOf ${asOf}`).toBe(f.reference(validAt, asOf));
            expect(got.reads).toBeLessThanOrEqual(bound(vfs.length));
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('stays O(log n) on the histories that defeat a scan: backfills in either order after a current value', () => {
    const n = 4096;
    for (const order of ['ascending', 'descending', 'interleaved'] as const) {
      const f = new Facts();
      f.add(1_000_000); // the value valid now, written first
      for (let i = 0; i < n; i++) {
        const vf = order === 'ascending' ? i : order === 'descending' ? n - i : i % 2 ? i : n + n - i;
        f.add(vf);
      }
      let worst = 0;
      for (let q = 0; q < 2000; q++) {
        // Deterministic spread of queries over both axes.
        const asOf = (q * 7919) % (n + 1);
        const validAt = (q * 104_729) % (2 * n + 2);
        const got = f.query(validAt, asOf);
        expect(got.seq, `${order}: validAt ${validAt} asOf ${asOf}`).toBe(f.reference(validAt, asOf));
        worst = Math.max(worst, got.reads);
      }
      // A scan past the facts recorded after asOf would take up to n reads here.
      expect(worst, order).toBeLessThanOrEqual(bound(n + 1));
      console.log(`valid-chain ${order} backfill of ${n}: at most ${worst} reads per query (bound ${bound(n + 1)})`);
    }
  });

  it('links the first fact of an epoch as a root, and the next ones to it without a seek when valid no earlier', () => {
    const f = new Facts();
    f.add(10);
    expect(f.list[0]!.fact).toMatchObject({ d: 0, p: -1, j: 0, jd: 0 });
    f.reads = 0;
    f.add(20);
    expect(f.list[1]!.fact).toMatchObject({ d: 1, p: 0, j: 0, jd: 0 });
    // Reads the parent only (its jump is itself): no seek for the usual valid-from-now write.
    expect(f.reads).toBe(1);
    f.add(5);
    // Sorts before everything: a second root, reached by no chain from facts after it in order.
    expect(f.list[0]!.fact).toMatchObject({ d: 0, p: -1 });
    expect(f.query(7, 1).seq).toBeUndefined();
    expect(f.query(7, 2).seq).toBe(2);
    expect(f.query(15, 2).seq).toBe(0);
  });
});
