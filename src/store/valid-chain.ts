/**
 * The valid-time index: a key's set/delete facts ordered by valid time,
 * with links that answer "the latest fact valid at `validAt` among those
 * known at seq `asOf`" in O(log n) reads whatever the history.
 *
 * Facts of one key and erase epoch are ordered under
 * `[tid, key, epoch, validFrom, seq]`, so they sort by (validFrom, seq) —
 * the order in which facts win. A read seeks back from `(validAt, ∞)` to
 * the last fact at or before `validAt`; that fact may have been recorded
 * after `asOf`, and so may many before it (a backfill of old values). The
 * answer is the nearest fact to its left with seq ≤ `asOf`.
 *
 * Each fact links to its *parent*: the fact just before it in that order
 * when it was recorded. Every fact recorded later has a larger seq, so the
 * parent is also the nearest fact to the left with a smaller seq, for
 * ever: the links never change, and seqs fall strictly along any chain of
 * parents. The answer is therefore the first fact on the chain from the
 * seek's fact with seq ≤ `asOf`, a monotone search along a path, which
 * skew-binary jump pointers (Myers, "An applicative random-access stack",
 * 1983) make O(log n) with one extra link per fact: each fact keeps its
 * depth, its parent and one jump further up the chain, and the depth of
 * that jump's target. Links name facts by seq; the projection keeps them
 * in the fact's own version record.
 */

/** Where a fact sits in its epoch's order. */
export interface FactRef {
  validFrom: number;
  seq: number;
}

/** A fact's links. */
export interface FactLinks {
  /** Depth: the number of parents above it (0 at a root, which has none). */
  d: number;
  /** Parent's seq, or -1 at a root. */
  p: number;
  /** Jump target's seq: the fact itself at a root. */
  j: number;
  /** Jump target's depth. */
  jd: number;
}

/** A fact as a read needs it: what it says, and its links. */
export interface ValidFact extends FactLinks {
  op: string;
  /** The fact's visibility. */
  fv: number;
}

/** A fact and its seq. */
export interface SeqFact<F extends FactLinks = ValidFact> {
  seq: number;
  fact: F;
}

/** Reads facts of one key and epoch; linking needs only their links. */
export interface FactReader<F extends FactLinks = ValidFact> {
  /** The fact recorded at `seq`. */
  get(seq: number): F | undefined;
  /** The last fact strictly before `at` in (validFrom, seq) order. */
  before(at: FactRef): SeqFact<F> | undefined;
  /** The last fact at or before (validAt, ∞). */
  atOrBefore(validAt: number): SeqFact<F> | undefined;
}

/**
 * The links of a new fact at `seq` whose parent (the fact just before it
 * in (validFrom, seq) order) is `parent`, or none. `parentJump` is the
 * links of the parent's jump target, which is the parent itself at a root.
 */
export function linkTo(seq: number, parent: SeqFact<FactLinks> | undefined, parentJump: FactLinks | undefined): FactLinks {
  if (!parent) return { d: 0, p: -1, j: seq, jd: 0 };
  const p = parent.fact;
  const j1 = parentJump ?? p;
  // Skew-binary jumps: jump two equal-length jumps at once when the parent's jump and its jump's jump
  // are equally long, else jump to the parent. Any ancestor is then reached in O(log depth) steps.
  const far = p.d - p.jd === p.jd - j1.jd;
  return { d: p.d + 1, p: parent.seq, j: far ? j1.j : parent.seq, jd: far ? j1.jd : p.d };
}

/**
 * The links of a new fact, found by reading its neighbours. `last` is the
 * epoch's greatest fact in (validFrom, seq) order — the key's current
 * winner — or undefined when the epoch has none; when the new fact sorts
 * after it (the usual case: valid from now) it is the parent without a
 * seek.
 */
export function linkFact(read: FactReader<FactLinks>, at: FactRef, last: FactRef | undefined): FactLinks {
  let parent: SeqFact<FactLinks> | undefined;
  if (last && at.validFrom >= last.validFrom) {
    const fact = read.get(last.seq);
    if (fact) parent = { seq: last.seq, fact };
  } else if (last) {
    parent = read.before(at);
  }
  const jump = parent && parent.fact.j !== parent.seq ? read.get(parent.fact.j) : undefined;
  return linkTo(at.seq, parent, jump);
}

/**
 * The jump path from an epoch's greatest fact: the fact, then its jump
 * target, and so on to a root. A new fact valid no earlier than the
 * greatest links from this path alone, and its own path shares the rest,
 * so a replay that keeps one path per key links the usual fact with no
 * reads.
 */
export interface JumpPath extends SeqFact<FactLinks> {
  /** The path of this fact's jump target; undefined at a root (whose jump is itself). */
  next: JumpPath | undefined;
}

/** Links a fact at `seq` that sorts after `path`'s fact, and returns the new fact's path. */
export function extendPath(path: JumpPath, seq: number): JumpPath {
  const fact = linkTo(seq, path, path.next?.fact);
  const j1 = path.next ?? path;
  return { seq, fact, next: fact.j === path.seq ? path : (j1.next ?? j1) };
}

/**
 * The winning fact at `validAt` among those with seq ≤ `asOf`: the latest
 * validFrom ≤ validAt, the later seq on ties. One seek, then O(log n)
 * steps up the parent chain.
 */
export function factAt<F extends FactLinks>(read: FactReader<F>, validAt: number, asOf: number): SeqFact<F> | undefined {
  const start = read.atOrBefore(validAt);
  if (!start) return undefined;
  let { seq, fact } = start;
  for (;;) {
    if (seq <= asOf) return { seq, fact };
    if (fact.p < 0) return undefined;
    // Seqs fall along the chain, so a jump target still after asOf means everything it skips is too.
    const up = fact.j > asOf && fact.j !== seq ? fact.j : fact.p;
    // Links point to earlier facts only; one that does not, or a missing fact, is a damaged index
    // (`verify({ projection: true })` reports it): reads find nothing rather than guess or loop.
    const next = up < seq ? read.get(up) : undefined;
    if (!next) return undefined;
    seq = up;
    fact = next;
  }
}

/**
 * One key epoch's facts in memory, in (validFrom, seq) order, with their
 * links: the valid-time index of a replay that must not touch LMDB.
 */
export class MemoryFacts {
  private readonly list: (SeqFact<FactLinks> & { validFrom: number })[] = [];
  private readonly bySeq = new Map<number, FactLinks>();

  /** Reads this list. */
  readonly reader: FactReader<FactLinks> = {
    get: (seq) => this.bySeq.get(seq),
    before: (ref) => this.list[this.after(ref.validFrom, ref.seq - 1) - 1],
    atOrBefore: (validAt) => this.list[this.after(validAt, Number.MAX_SAFE_INTEGER) - 1],
  };

  /** Links a new fact (see {@link linkFact}) through `read` (a view of this list), places it, and returns its links. */
  add(at: FactRef, last: FactRef | undefined, read: FactReader<FactLinks> = this.reader): FactLinks {
    const fact = linkFact(read, at, last);
    this.list.splice(this.after(at.validFrom, at.seq), 0, { seq: at.seq, validFrom: at.validFrom, fact });
    this.bySeq.set(at.seq, fact);
    return fact;
  }

  /** The facts in (validFrom, seq) order. */
  facts(): readonly (SeqFact<FactLinks> & { validFrom: number })[] {
    return this.list;
  }

  /** Index of the first fact after (validFrom, seq), by binary search. */
  private after(vf: number, seq: number): number {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const m = this.list[mid]!;
      if (m.validFrom < vf || (m.validFrom === vf && m.seq <= seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
