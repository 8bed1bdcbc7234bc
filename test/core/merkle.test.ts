/**
 * Merkle tree tests: the RFC 9162 SHA-256 vectors of transparency-dev/merkle
 * (read from /work/shared at test time), the reference tree, an independent
 * recursive implementation of RFC 9162 §2.1 as an oracle, and fast-check
 * properties over random BLAKE3 trees.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blake3Tree, sha256Tree, type TreeHasher } from '../../src/core/hash.js';
import {
  consistencyProof,
  inclusionProof,
  MemoryTree,
  splitPoint,
  verifyConsistency,
  verifyInclusion,
} from '../../src/core/merkle.js';

const VECTORS = join(dirname(fileURLToPath(import.meta.url)), '../../../shared/vectors/rfc9162');

// ---------------------------------------------------------------------------
// helpers

/** Standard base64 via Node's Buffer (independent of src/core/bytes); "" is empty bytes. */
function b64(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64'));
}

function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

function listJson(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listJson(p));
    else if (name.endsWith('.json')) out.push(p);
  }
  return out;
}

/** Vector files grouped by their folder relative to VECTORS (e.g. "inclusion/additional/0"). */
function groupByFolder(kind: 'inclusion' | 'consistency'): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const file of listJson(join(VECTORS, kind))) {
    const folder = relative(VECTORS, dirname(file));
    const list = groups.get(folder) ?? [];
    list.push(file);
    groups.set(folder, list);
  }
  return groups;
}

interface InclusionVector {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

interface ConsistencyVector {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

interface ReferenceTree {
  leafInputs: string[];
  nodeHashes: string[][];
  rootHashes: string[];
}

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[(bit >> 3) % out.length]! ^= 1 << (bit & 7);
  return out;
}

function treeOf(hasher: TreeHasher, leafHashes: readonly Uint8Array[]): MemoryTree {
  const t = new MemoryTree(hasher);
  for (const h of leafHashes) t.push(h);
  return t;
}

// ---- an independent oracle: RFC 9162 §2.1 written as its recursive definitions

/** Largest power of two strictly below n (n >= 2), written independently of src. */
function largestPow2Below(n: number): number {
  let k = 1;
  while (k << 1 < n) k <<= 1;
  return k;
}

/** Naive hash functions over SHA-256 straight from @noble (not sha256Tree). */
const naiveSha: TreeHasher = {
  empty: sha256(new Uint8Array(0)),
  leaf: (d) => sha256(Uint8Array.of(0, ...d)),
  node: (l, r) => sha256(Uint8Array.of(1, ...l, ...r)),
};

/** MTH(D[n]) over already-hashed leaves. */
function mth(h: TreeHasher, leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return h.empty;
  if (leaves.length === 1) return leaves[0]!;
  const k = largestPow2Below(leaves.length);
  return h.node(mth(h, leaves.slice(0, k)), mth(h, leaves.slice(k)));
}

/** PATH(m, D[n]) of RFC 9162 §2.1.3.1. */
function path(h: TreeHasher, m: number, leaves: readonly Uint8Array[]): Uint8Array[] {
  if (leaves.length <= 1) return [];
  const k = largestPow2Below(leaves.length);
  if (m < k) return [...path(h, m, leaves.slice(0, k)), mth(h, leaves.slice(k))];
  return [...path(h, m - k, leaves.slice(k)), mth(h, leaves.slice(0, k))];
}

/** SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1. */
function subproof(h: TreeHasher, m: number, leaves: readonly Uint8Array[], b: boolean): Uint8Array[] {
  const n = leaves.length;
  if (m === n) return b ? [] : [mth(h, leaves)];
  const k = largestPow2Below(n);
  if (m <= k) return [...subproof(h, m, leaves.slice(0, k), b), mth(h, leaves.slice(k))];
  return [...subproof(h, m - k, leaves.slice(k), false), mth(h, leaves.slice(0, k))];
}

/**
 * The "shape" of an inclusion path: for each step from the leaf up, whether
 * the sibling is on the left. Two (index, size) pairs fold a proof the same
 * way exactly when their shapes are equal.
 */
function pathShape(m: number, n: number): boolean[] {
  if (n <= 1) return [];
  const k = largestPow2Below(n);
  if (m < k) return [...pathShape(m, k), false];
  return [...pathShape(m - k, n - k), true];
}

// ---------------------------------------------------------------------------
// RFC 9162 vectors

const inclusionGroups = groupByFolder('inclusion');
const consistencyGroups = groupByFolder('consistency');

describe('RFC 9162 vectors are present', () => {
  it('finds the inclusion and consistency vector files', () => {
    const incl = [...inclusionGroups.values()].flat().length;
    const cons = [...consistencyGroups.values()].flat().length;
    expect(incl).toBeGreaterThan(50);
    expect(cons).toBeGreaterThan(50);
  });
});

describe('RFC 9162 inclusion vectors (SHA-256)', () => {
  for (const [folder, files] of inclusionGroups) {
    describe(folder, () => {
      for (const file of files) {
        const v = JSON.parse(readFileSync(file, 'utf8')) as InclusionVector;
        const name = `${v.wantErr ? 'rejects' : 'accepts'} ${v.desc} (${file.slice(file.lastIndexOf('/') + 1)})`;
        it(name, () => {
          const ok = verifyInclusion(sha256Tree, v.leafIdx, v.treeSize, b64(v.leafHash), (v.proof ?? []).map(b64), b64(v.root));
          expect(ok).toBe(!v.wantErr);
        });
      }
    });
  }
});

describe('RFC 9162 consistency vectors (SHA-256)', () => {
  for (const [folder, files] of consistencyGroups) {
    describe(folder, () => {
      for (const file of files) {
        const v = JSON.parse(readFileSync(file, 'utf8')) as ConsistencyVector;
        const name = `${v.wantErr ? 'rejects' : 'accepts'} ${v.desc} (${file.slice(file.lastIndexOf('/') + 1)})`;
        it(name, () => {
          const ok = verifyConsistency(sha256Tree, v.size1, v.size2, b64(v.root1), b64(v.root2), (v.proof ?? []).map(b64));
          expect(ok).toBe(!v.wantErr);
        });
      }
    });
  }
});

// ---------------------------------------------------------------------------
// reference tree

describe('reference tree (SHA-256, sizes 0..8)', () => {
  const ref = JSON.parse(readFileSync(join(VECTORS, 'reference-tree.json'), 'utf8')) as ReferenceTree;
  const leafHashes = ref.leafInputs.map((x) => sha256Tree.leaf(hex(x)));
  const full = treeOf(sha256Tree, leafHashes);
  const roots = ref.rootHashes.map(hex);

  it('has eight leaves and nine roots', () => {
    expect(ref.leafInputs).toHaveLength(8);
    expect(ref.rootHashes).toHaveLength(9);
  });

  it('hashes leaves as SHA-256(0x00 || data), matching nodeHashes[0]', () => {
    expect(leafHashes.map((h) => Buffer.from(h).toString('hex'))).toEqual(ref.nodeHashes[0]);
  });

  it('gives the empty tree the hash of the empty string', () => {
    expect(new MemoryTree(sha256Tree).root()).toEqual(roots[0]);
    expect(sha256Tree.empty).toEqual(roots[0]);
  });

  for (let size = 0; size <= 8; size++) {
    it(`computes rootHashes[${size}] for a tree of exactly ${size} leaves and as a past size of the full tree`, () => {
      const t = treeOf(sha256Tree, leafHashes.slice(0, size));
      expect(t.size).toBe(size);
      expect(t.root()).toEqual(roots[size]);
      expect(full.root(size)).toEqual(roots[size]);
      expect(mth(naiveSha, leafHashes.slice(0, size))).toEqual(roots[size]);
    });
  }

  it('answers perfect(level, index) with nodeHashes[level][index]', () => {
    let checked = 0;
    ref.nodeHashes.forEach((row, level) =>
      row.forEach((h, index) => {
        expect(full.perfect(level, index)).toEqual(hex(h));
        checked++;
      }),
    );
    expect(checked).toBe(8 + 4 + 2 + 1);
  });

  it('throws RangeError for a complete subtree that does not exist yet', () => {
    expect(() => full.perfect(0, 8)).toThrow(RangeError);
    expect(() => full.perfect(3, 1)).toThrow(RangeError);
    expect(() => full.perfect(4, 0)).toThrow(RangeError);
  });

  it('generates inclusion proofs equal to RFC 9162 PATH that verify for every (index, size) up to 8', () => {
    for (let size = 1; size <= 8; size++) {
      for (let index = 0; index < size; index++) {
        const proof = full.inclusion(index, size);
        expect(proof).toEqual(path(naiveSha, index, leafHashes.slice(0, size)));
        expect(verifyInclusion(sha256Tree, index, size, leafHashes[index]!, proof, roots[size]!)).toBe(true);
      }
    }
  });

  it('generates consistency proofs equal to RFC 9162 PROOF that verify for every 1 <= m <= n <= 8', () => {
    for (let n = 1; n <= 8; n++) {
      for (let m = 1; m <= n; m++) {
        const proof = full.consistency(m, n);
        expect(proof).toEqual(subproof(naiveSha, m, leafHashes.slice(0, n), true));
        expect(verifyConsistency(sha256Tree, m, n, roots[m]!, roots[n]!, proof)).toBe(true);
      }
    }
  });

  it('reproduces the inclusion and consistency happy-path vectors from the reference tree', () => {
    for (const file of [...inclusionGroups.values()].flat().filter((f) => f.endsWith('/happy-path.json'))) {
      const v = JSON.parse(readFileSync(file, 'utf8')) as InclusionVector;
      expect(b64(v.root)).toEqual(roots[v.treeSize]);
      expect(full.inclusion(v.leafIdx, v.treeSize)).toEqual((v.proof ?? []).map(b64));
    }
    for (const file of [...consistencyGroups.values()].flat().filter((f) => f.endsWith('/happy-path.json'))) {
      const v = JSON.parse(readFileSync(file, 'utf8')) as ConsistencyVector;
      expect(b64(v.root1)).toEqual(roots[v.size1]);
      expect(b64(v.root2)).toEqual(roots[v.size2]);
      expect(full.consistency(v.size1, v.size2)).toEqual((v.proof ?? []).map(b64));
    }
  });
});

// ---------------------------------------------------------------------------
// properties over random BLAKE3 trees

const RUNS = 150;

/**
 * Random trees: 1..300 distinct random 32-byte leaf inputs hashed with
 * blake3Tree.leaf, plus three free naturals to pick sizes, indexes and bits.
 * The inputs are kept distinct because fast-check's bias would otherwise
 * produce equal leaves, for which node(a, b) = node(b, a) and an index
 * change can legitimately still verify.
 */
const treeCase = fc
  .tuple(
    fc.uniqueArray(fc.uint8Array({ minLength: 32, maxLength: 32 }), {
      minLength: 1,
      maxLength: 300,
      selector: (d) => Buffer.from(d).toString('hex'),
    }),
    fc.nat(),
    fc.nat(),
    fc.nat(),
  )
  .map(([data, a, b, c]) => {
    const leaves = data.map((d) => blake3Tree.leaf(d));
    return { leaves, tree: treeOf(blake3Tree, leaves), a, b, c };
  });

describe('inclusion proofs over random BLAKE3 trees', () => {
  it('verifies every inclusion proof of a random (index, size <= n) against root(size)', () => {
    fc.assert(
      fc.property(treeCase, ({ leaves, tree, a, b }) => {
        const size = 1 + (a % leaves.length);
        const index = b % size;
        const proof = tree.inclusion(index, size);
        expect(verifyInclusion(blake3Tree, index, size, leaves[index]!, proof, tree.root(size))).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it('matches the RFC 9162 PATH and MTH definitions on small random trees', () => {
    fc.assert(
      fc.property(treeCase, ({ leaves, tree, a, b }) => {
        const n = Math.min(leaves.length, 40);
        const size = 1 + (a % n);
        const index = b % size;
        expect(tree.root(size)).toEqual(mth(blake3Tree, leaves.slice(0, size)));
        expect(tree.inclusion(index, size)).toEqual(path(blake3Tree, index, leaves.slice(0, size)));
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects an inclusion proof with a flipped bit in any proof element', () => {
    fc.assert(
      fc.property(treeCase, ({ leaves, tree, a, b, c }) => {
        const size = 1 + (a % leaves.length);
        const index = b % size;
        const proof = tree.inclusion(index, size);
        if (proof.length === 0) return;
        const at = c % proof.length;
        const bad = proof.map((p, i) => (i === at ? flipBit(p, c >>> 3) : p));
        expect(verifyInclusion(blake3Tree, index, size, leaves[index]!, bad, tree.root(size))).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects an inclusion proof against a root with a flipped bit', () => {
    fc.assert(
      fc.property(treeCase, ({ leaves, tree, a, b, c }) => {
        const size = 1 + (a % leaves.length);
        const index = b % size;
        const proof = tree.inclusion(index, size);
        expect(verifyInclusion(blake3Tree, index, size, leaves[index]!, proof, flipBit(tree.root(size), c))).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects an inclusion proof for a leaf hash with a flipped bit', () => {
    fc.assert(
      fc.property(treeCase, ({ leaves, tree, a, b, c }) => {
        const size = 1 + (a % leaves.length);
        const index = b % size;
        const proof = tree.inclusion(index, size);
        expect(verifyInclusion(blake3Tree, index, size, flipBit(leaves[index]!, c), proof, tree.root(size))).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects an inclusion proof checked at index + 1 or index - 1', () => {
    fc.assert(
      fc.property(treeCase, ({ leaves, tree, a, b }) => {
        const size = 1 + (a % leaves.length);
        const index = b % size;
        const proof = tree.inclusion(index, size);
        const root = tree.root(size);
        if (index + 1 < size) expect(verifyInclusion(blake3Tree, index + 1, size, leaves[index]!, proof, root)).toBe(false);
        if (index > 0) expect(verifyInclusion(blake3Tree, index - 1, size, leaves[index]!, proof, root)).toBe(false);
        // An index at or past the size is refused outright.
        expect(verifyInclusion(blake3Tree, size, size, leaves[index]!, proof, root)).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });

  it('accepts a proof at another tree size exactly when that size gives the leaf the same path shape', () => {
    // A verifier cannot tell sizes apart that fold the proof identically (e.g. leaf 0 in sizes 3 and 4);
    // every other wrong size must fail.
    fc.assert(
      fc.property(treeCase, ({ leaves, tree, a, b, c }) => {
        const size = 1 + (a % leaves.length);
        const index = b % size;
        const other = 1 + (c % (leaves.length + 4));
        if (other === size) return;
        const proof = tree.inclusion(index, size);
        const same = index < other && JSON.stringify(pathShape(index, other)) === JSON.stringify(pathShape(index, size));
        expect(verifyInclusion(blake3Tree, index, other, leaves[index]!, proof, tree.root(size))).toBe(same);
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('rejects an inclusion proof with an extra element appended or its last element dropped', () => {
    fc.assert(
      fc.property(treeCase, ({ leaves, tree, a, b }) => {
        const size = 1 + (a % leaves.length);
        const index = b % size;
        const proof = tree.inclusion(index, size);
        const root = tree.root(size);
        expect(verifyInclusion(blake3Tree, index, size, leaves[index]!, [...proof, leaves[0]!], root)).toBe(false);
        if (proof.length > 0) {
          expect(verifyInclusion(blake3Tree, index, size, leaves[index]!, proof.slice(0, -1), root)).toBe(false);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects an inclusion proof against the root of a different tree size', () => {
    fc.assert(
      fc.property(treeCase, ({ leaves, tree, a, b, c }) => {
        const size = 1 + (a % leaves.length);
        const index = b % size;
        const other = 1 + (c % leaves.length);
        if (other === size) return;
        expect(verifyInclusion(blake3Tree, index, size, leaves[index]!, tree.inclusion(index, size), tree.root(other))).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('consistency proofs over random BLAKE3 trees', () => {
  it('verifies every consistency proof for random 1 <= m <= n', () => {
    fc.assert(
      fc.property(treeCase, ({ leaves, tree, a, b }) => {
        const n = 1 + (a % leaves.length);
        const m = 1 + (b % n);
        const proof = tree.consistency(m, n);
        expect(verifyConsistency(blake3Tree, m, n, tree.root(m), tree.root(n), proof)).toBe(true);
        if (m === n) expect(proof).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });

  it('matches the RFC 9162 SUBPROOF definition on small random trees', () => {
    fc.assert(
      fc.property(treeCase, ({ leaves, tree, a, b }) => {
        const n = 1 + (a % Math.min(leaves.length, 40));
        const m = 1 + (b % n);
        expect(tree.consistency(m, n)).toEqual(subproof(blake3Tree, m, leaves.slice(0, n), true));
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects a consistency proof with a flipped bit in any proof element', () => {
    fc.assert(
      fc.property(treeCase, ({ leaves, tree, a, b, c }) => {
        const n = 1 + (a % leaves.length);
        const m = 1 + (b % n);
        const proof = tree.consistency(m, n);
        if (proof.length === 0) return;
        const at = c % proof.length;
        const bad = proof.map((p, i) => (i === at ? flipBit(p, c >>> 3) : p));
        expect(verifyConsistency(blake3Tree, m, n, tree.root(m), tree.root(n), bad)).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects a consistency proof whose old or new root has a flipped bit', () => {
    fc.assert(
      fc.property(treeCase, ({ leaves, tree, a, b, c }) => {
        const n = 1 + (a % leaves.length);
        const m = 1 + (b % n);
        const proof = tree.consistency(m, n);
        expect(verifyConsistency(blake3Tree, m, n, flipBit(tree.root(m), c), tree.root(n), proof)).toBe(false);
        expect(verifyConsistency(blake3Tree, m, n, tree.root(m), flipBit(tree.root(n), c), proof)).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects a consistency proof against the old root of a different size', () => {
    fc.assert(
      fc.property(treeCase, ({ leaves, tree, a, b, c }) => {
        const n = 1 + (a % leaves.length);
        const m = 1 + (b % n);
        const other = 1 + (c % n);
        if (other === m) return;
        expect(verifyConsistency(blake3Tree, m, n, tree.root(other), tree.root(n), tree.consistency(m, n))).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects a consistency proof with an extra element appended or its last element dropped', () => {
    fc.assert(
      fc.property(treeCase, ({ leaves, tree, a, b }) => {
        const n = 1 + (a % leaves.length);
        const m = 1 + (b % n);
        const proof = tree.consistency(m, n);
        expect(verifyConsistency(blake3Tree, m, n, tree.root(m), tree.root(n), [...proof, leaves[0]!])).toBe(false);
        if (proof.length > 0) {
          expect(verifyConsistency(blake3Tree, m, n, tree.root(m), tree.root(n), proof.slice(0, -1))).toBe(false);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('rejects swapped roots and a new size smaller than the old one', () => {
    fc.assert(
      fc.property(treeCase, ({ leaves, tree, a, b }) => {
        const n = 1 + (a % leaves.length);
        const m = 1 + (b % n);
        if (m === n) return;
        const proof = tree.consistency(m, n);
        expect(verifyConsistency(blake3Tree, m, n, tree.root(n), tree.root(m), proof)).toBe(false);
        expect(verifyConsistency(blake3Tree, n, m, tree.root(n), tree.root(m), proof)).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('verification input checks', () => {
  const leaves = Array.from({ length: 5 }, (_, i) => blake3Tree.leaf(Uint8Array.of(i)));
  const tree = treeOf(blake3Tree, leaves);

  it('rejects hashes that are not 32 bytes', () => {
    const proof = tree.inclusion(1, 5);
    expect(verifyInclusion(blake3Tree, 1, 5, leaves[1]!.slice(0, 31), proof, tree.root())).toBe(false);
    expect(verifyInclusion(blake3Tree, 1, 5, leaves[1]!, proof, tree.root().slice(0, 31))).toBe(false);
    expect(verifyInclusion(blake3Tree, 1, 5, leaves[1]!, [proof[0]!.slice(0, 31), ...proof.slice(1)], tree.root())).toBe(false);
  });

  it('rejects non-integer, negative and unsafe sizes and indexes', () => {
    const proof = tree.inclusion(1, 5);
    for (const [i, s] of [[1.5, 5], [1, 5.5], [-1, 5], [1, Number.NaN], [1, Infinity], [1, 2 ** 53]] as const) {
      expect(verifyInclusion(blake3Tree, i, s, leaves[1]!, proof, tree.root())).toBe(false);
    }
    const cproof = tree.consistency(2, 5);
    for (const [m, n] of [[2.5, 5], [2, 5.5], [-2, 5], [Number.NaN, 5], [2, Infinity], [2, 2 ** 53]] as const) {
      expect(verifyConsistency(blake3Tree, m, n, tree.root(2), tree.root(), cproof)).toBe(false);
    }
  });

  it('refuses a consistency proof from the empty tree', () => {
    expect(verifyConsistency(blake3Tree, 0, 5, blake3Tree.empty, tree.root(), [tree.root()])).toBe(false);
    expect(verifyConsistency(blake3Tree, 0, 5, blake3Tree.empty, tree.root(), [])).toBe(false);
  });
});

// ---------------------------------------------------------------------------
// range checks of the generators

/**
 * A hasher and a total `perfect` that answer every request but throw a plain
 * Error after a fixed budget of calls, so that a generator which fails to
 * validate its arguments fails the test instead of looping until the worker
 * runs out of memory.
 */
function guarded(): { hasher: TreeHasher; perfect: (level: number, index: number) => Uint8Array } {
  let budget = 0;
  const spend = (): void => {
    if (++budget > 5000) throw new Error('runaway proof generation: argument was not range-checked');
  };
  return {
    hasher: {
      get empty() {
        spend();
        return blake3Tree.empty;
      },
      leaf: (d) => {
        spend();
        return blake3Tree.leaf(d);
      },
      node: (l, r) => {
        spend();
        return blake3Tree.node(l, r);
      },
    },
    perfect: (level, index) => {
      spend();
      return blake3Tree.leaf(Uint8Array.of(level & 255, index & 255));
    },
  };
}

/**
 * What calling `f` did: 'RangeError' for a validation RangeError, otherwise
 * a short description ('returned', 'stack overflow', 'runaway', or another
 * error's name) so that a failing case says what went wrong.
 */
function outcome(f: () => unknown): string {
  try {
    f();
    return 'returned';
  } catch (err) {
    const msg = String((err as Error).message);
    if (/call stack/i.test(msg)) return 'stack overflow';
    if (/^runaway/.test(msg)) return 'runaway';
    return (err as Error).name;
  }
}

describe('range checks', () => {
  it('splitPoint returns the largest power of two strictly below n', () => {
    const cases: [number, number][] = [[2, 1], [3, 2], [4, 2], [5, 4], [8, 4], [9, 8], [2 ** 40 + 1, 2 ** 40], [2 ** 53 - 1, 2 ** 52]];
    for (const [n, k] of cases) expect(splitPoint(n)).toBe(k);
  });

  it('splitPoint throws RangeError when no power of two is strictly below n (n < 2, NaN)', () => {
    for (const n of [1, 0, -1, Number.NaN]) expect.soft(outcome(() => splitPoint(n)), `splitPoint(${n})`).toBe('RangeError');
  });

  it('inclusionProof throws RangeError for an index outside the tree', () => {
    for (const [index, size] of [[-1, 4], [4, 4], [5, 4], [0, 0], [Number.NaN, 4], [0, Number.NaN]] as const) {
      const g = guarded();
      expect.soft(outcome(() => inclusionProof(g.hasher, g.perfect, index, size)), `inclusionProof(${index}, ${size})`).toBe('RangeError');
    }
  });

  it('inclusionProof throws RangeError for a non-integer or unsafe index or size', () => {
    for (const [index, size] of [[1.5, 4], [0, 4.5], [0, Infinity], [2 ** 53, 2 ** 53 + 2]] as const) {
      const g = guarded();
      expect.soft(outcome(() => inclusionProof(g.hasher, g.perfect, index, size)), `inclusionProof(${index}, ${size})`).toBe('RangeError');
    }
  });

  it('consistencyProof throws RangeError unless 1 <= oldSize <= newSize', () => {
    for (const [m, n] of [[0, 4], [5, 4], [-1, 4], [0, 0], [Number.NaN, 4], [1, Number.NaN]] as const) {
      const g = guarded();
      expect.soft(outcome(() => consistencyProof(g.hasher, g.perfect, m, n)), `consistencyProof(${m}, ${n})`).toBe('RangeError');
    }
  });

  it('consistencyProof throws RangeError for a non-integer or unsafe size', () => {
    for (const [m, n] of [[1.5, 4], [1, 4.5], [1, Infinity], [Infinity, Infinity], [2 ** 53 + 2, 2 ** 53 + 2]] as const) {
      const g = guarded();
      expect.soft(outcome(() => consistencyProof(g.hasher, g.perfect, m, n)), `consistencyProof(${m}, ${n})`).toBe('RangeError');
    }
  });

  it('MemoryTree refuses proofs past its size with RangeError', () => {
    const tree = treeOf(blake3Tree, [blake3Tree.leaf(Uint8Array.of(1)), blake3Tree.leaf(Uint8Array.of(2))]);
    expect(() => tree.inclusion(0, 3)).toThrow(RangeError);
    expect(() => tree.consistency(1, 3)).toThrow(RangeError);
    expect(() => tree.root(3)).toThrow(RangeError);
  });
});
