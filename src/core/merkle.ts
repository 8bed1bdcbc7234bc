/**
 * RFC 9162 Merkle tree: roots, inclusion and consistency proofs, and their
 * verification, with the hash function as a parameter.
 *
 * Proof *generation* is written against one primitive, `perfect(level,
 * index)`: the hash of the complete subtree of 2^level leaves starting at
 * leaf index·2^level. Every range the RFC's recursive definitions ask for is
 * either such a subtree or a right edge that splits into O(log n) of them,
 * so a store that keeps complete subtrees answers any proof, to any past
 * tree size, in O(log n) lookups. Sizes can exceed 2^32, so index arithmetic
 * uses division, never 32-bit bit operators.
 */
import { bytesEqual } from './bytes.js';
import type { TreeHasher } from './hash.js';

/** Hash of the complete subtree of 2^level leaves starting at leaf `index · 2^level`. */
export type PerfectNode = (level: number, index: number) => Uint8Array;

/** Largest power of two strictly less than `n` (n ≥ 2). */
export function splitPoint(n: number): number {
  if (!Number.isSafeInteger(n) || n < 2) throw new RangeError(`no power of two is strictly below ${n}`);
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPow2(n: number): boolean {
  return n > 0 && Number.isInteger(Math.log2(n)) && 2 ** Math.log2(n) === n;
}

/**
 * MTH(D[start:end]) for a range of the tree whose start is aligned the way
 * RFC 9162's recursion produces it (a multiple of the largest power of two
 * below the range length, or of the range length when that is a power of two).
 */
export function rangeHash(hasher: TreeHasher, perfect: PerfectNode, start: number, end: number, memo?: Map<string, Uint8Array>): Uint8Array {
  const n = end - start;
  if (n === 0) return hasher.empty;
  if (isPow2(n) && start % n === 0) return perfect(Math.log2(n), start / n);
  const memoKey = memo ? `${start}:${end}` : '';
  const hit = memo?.get(memoKey);
  if (hit) return hit;
  const k = splitPoint(n);
  const h = hasher.node(rangeHash(hasher, perfect, start, start + k, memo), rangeHash(hasher, perfect, start + k, end, memo));
  memo?.set(memoKey, h);
  return h;
}

/** Root hash of a tree of `size` leaves. */
export function treeRoot(hasher: TreeHasher, perfect: PerfectNode, size: number): Uint8Array {
  return rangeHash(hasher, perfect, 0, size);
}

/**
 * Inclusion proof (RFC 9162 §2.1.3.1) of leaf `index` in the tree of `size`
 * leaves, ordered from the leaf upward. Pass one `memo` map when proving
 * many leaves of the same tree (a batch of receipts): shared ranges are
 * hashed once. A memo is valid only for lookups into one fixed tree.
 */
export function inclusionProof(hasher: TreeHasher, perfect: PerfectNode, index: number, size: number, memo?: Map<string, Uint8Array>): Uint8Array[] {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
    throw new RangeError(`leaf index ${index} is outside a tree of size ${size}`);
  }
  const out: Uint8Array[] = [];
  let start = 0;
  let end = size;
  // Walk down from the root, then reverse: the RFC lists the path leaf-first.
  while (end - start > 1) {
    const k = splitPoint(end - start);
    if (index < start + k) {
      out.push(rangeHash(hasher, perfect, start + k, end, memo));
      end = start + k;
    } else {
      out.push(rangeHash(hasher, perfect, start, start + k, memo));
      start = start + k;
    }
  }
  return out.reverse();
}

/**
 * Consistency proof (RFC 9162 §2.1.4.1) that the tree of `oldSize` leaves is a
 * prefix of the tree of `newSize` leaves. Empty when the sizes are equal.
 */
export function consistencyProof(hasher: TreeHasher, perfect: PerfectNode, oldSize: number, newSize: number): Uint8Array[] {
  if (!Number.isSafeInteger(oldSize) || !Number.isSafeInteger(newSize) || oldSize <= 0 || oldSize > newSize) {
    throw new RangeError(`no consistency proof from size ${oldSize} to ${newSize}`);
  }
  const out: Uint8Array[] = [];
  let m = oldSize;
  let start = 0;
  let end = newSize;
  let complete = true; // SUBPROOF's flag b: the old tree is the whole current subtree
  while (m !== end - start) {
    const k = splitPoint(end - start);
    if (m <= k) {
      out.push(rangeHash(hasher, perfect, start + k, end));
      end = start + k;
    } else {
      out.push(rangeHash(hasher, perfect, start, start + k));
      start = start + k;
      m -= k;
      complete = false;
    }
  }
  if (!complete) out.push(rangeHash(hasher, perfect, start, end));
  return out.reverse();
}

function validHash(hasher: TreeHasher, h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.length === hasher.empty.length;
}

function validSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/**
 * Verifies an inclusion proof (RFC 9162 §2.1.3.2).
 * @returns true only if the proof is well-formed and folds `leafHash` into `root`.
 */
export function verifyInclusion(
  hasher: TreeHasher,
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!validSize(index) || !validSize(size) || index >= size) return false;
  if (!validHash(hasher, leafHash) || !validHash(hasher, root) || !proof.every((p) => validHash(hasher, p))) return false;
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = hasher.node(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = hasher.node(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && bytesEqual(r, root);
}

/**
 * Verifies a consistency proof (RFC 9162 §2.1.4.2) between a tree of
 * `oldSize` leaves with root `oldRoot` and one of `newSize` leaves with root
 * `newRoot`. A proof from the empty tree is refused: it proves nothing.
 */
export function verifyConsistency(
  hasher: TreeHasher,
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!validSize(oldSize) || !validSize(newSize) || oldSize > newSize) return false;
  // A proof from the empty tree proves nothing, so it is always refused.
  if (oldSize === 0) return false;
  // Equal sizes: the trees are consistent exactly when the roots are the same bytes.
  if (oldSize === newSize) return proof.length === 0 && bytesEqual(oldRoot, newRoot);
  if (!validHash(hasher, oldRoot) || !validHash(hasher, newRoot) || !proof.every((p) => validHash(hasher, p))) return false;
  if (proof.length === 0) return false;
  const path = isPow2(oldSize) ? [oldRoot, ...proof] : [...proof];
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = hasher.node(c, fr);
      sr = hasher.node(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = hasher.node(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && bytesEqual(fr, oldRoot) && bytesEqual(sr, newRoot);
}

/**
 * Complete subtrees of an in-memory list of leaf hashes, for callers (tests,
 * the offline auditor) that hold every leaf.
 */
export class MemoryTree {
  private readonly levels: Uint8Array[][] = [[]];

  constructor(private readonly hasher: TreeHasher) {}

  /** Number of leaves. */
  get size(): number {
    return this.levels[0]!.length;
  }

  /** Appends a leaf hash (already `hasher.leaf(...)`-ed), completing any subtrees it closes. */
  push(leafHash: Uint8Array): void {
    let level = 0;
    let h = leafHash;
    for (;;) {
      const row = (this.levels[level] ??= []);
      row.push(h);
      if (row.length % 2 === 1) return;
      h = this.hasher.node(row[row.length - 2]!, h);
      level++;
    }
  }

  /** The {@link PerfectNode} lookup over this tree. */
  readonly perfect: PerfectNode = (level, index) => {
    const h = this.levels[level]?.[index];
    if (!h) throw new RangeError(`no complete subtree at level ${level} index ${index}`);
    return h;
  };

  /** Root of the first `size` leaves (default: all). */
  root(size = this.size): Uint8Array {
    return treeRoot(this.hasher, this.perfect, size);
  }

  /** Inclusion proof of `index` in the first `size` leaves. */
  inclusion(index: number, size = this.size): Uint8Array[] {
    return inclusionProof(this.hasher, this.perfect, index, size);
  }

  /** Consistency proof from `oldSize` to `newSize` leaves. */
  consistency(oldSize: number, newSize = this.size): Uint8Array[] {
    return consistencyProof(this.hasher, this.perfect, oldSize, newSize);
  }
}

/**
 * A tree grown one leaf at a time keeping only its right edge: O(log n)
 * memory, so a verifier can stream a journal of any length and still
 * compute the root at every checkpoint size.
 */
export class IncrementalTree {
  /** Complete subtrees on the right edge, largest first: (level, hash). */
  private readonly edge: { level: number; hash: Uint8Array }[] = [];
  private count = 0;

  constructor(private readonly hasher: TreeHasher) {}

  /**
   * A tree of `size` leaves given only its right edge: the complete subtrees
   * of the binary decomposition of `size`, largest first (what
   * {@link frontierOf} returns). Lets a verifier continue a tree from a
   * checkpoint without the earlier leaves.
   * @throws RangeError when the hashes do not fit `size`.
   */
  static fromFrontier(hasher: TreeHasher, size: number, hashes: readonly Uint8Array[]): IncrementalTree {
    const levels = frontierLevels(size);
    if (levels.length !== hashes.length) throw new RangeError(`a tree of size ${size} has ${levels.length} frontier hashes, got ${hashes.length}`);
    const t = new IncrementalTree(hasher);
    levels.forEach((level, i) => t.edge.push({ level, hash: hashes[i]! }));
    t.count = size;
    return t;
  }

  /** The right-edge hashes, largest subtree first. */
  frontier(): Uint8Array[] {
    return this.edge.map((e) => e.hash);
  }

  /** Number of leaves pushed. */
  get size(): number {
    return this.count;
  }

  /**
   * Appends a leaf hash. Returns the complete subtrees this leaf closed,
   * smallest first, as (level, index, hash) — the nodes a store would persist.
   */
  push(leafHash: Uint8Array): { level: number; index: number; hash: Uint8Array }[] {
    const closed = [{ level: 0, index: this.count, hash: leafHash }];
    let level = 0;
    let hash = leafHash;
    let index = this.count;
    while (this.edge.length > 0 && this.edge[this.edge.length - 1]!.level === level) {
      const left = this.edge.pop()!;
      hash = this.hasher.node(left.hash, hash);
      level++;
      index = Math.floor(index / 2);
      closed.push({ level, index, hash });
    }
    this.edge.push({ level, hash });
    this.count++;
    return closed;
  }

  /** Root of the current tree. */
  root(): Uint8Array {
    if (this.edge.length === 0) return this.hasher.empty;
    let acc = this.edge[this.edge.length - 1]!.hash;
    for (let i = this.edge.length - 2; i >= 0; i--) acc = this.hasher.node(this.edge[i]!.hash, acc);
    return acc;
  }
}

/** Levels of the complete subtrees that make up a tree of `size` leaves, largest first. */
export function frontierLevels(size: number): number[] {
  const levels: number[] = [];
  for (let level = 52; level >= 0; level--) if (Math.floor(size / 2 ** level) % 2 === 1) levels.push(level);
  return levels;
}

/** The right edge of the tree of `size` leaves, from a complete-subtree lookup, largest first. */
export function frontierOf(perfect: PerfectNode, size: number): Uint8Array[] {
  let start = 0;
  return frontierLevels(size).map((level) => {
    const h = perfect(level, start / 2 ** level);
    start += 2 ** level;
    return h;
  });
}
