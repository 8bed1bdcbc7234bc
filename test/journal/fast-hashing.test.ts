import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nobleHashing } from '../../src/core/hash.js';
import { fastHashing } from '../../src/journal/fast-hashing.js';

describe('fastHashing (WASM BLAKE3)', () => {
  it('computes exactly the noble event hash, payload commitment, leaf, node and empty root', () => {
    expect(fastHashing.tree.empty).toEqual(nobleHashing.tree.empty);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (data, salt, h) => {
        expect(fastHashing.eventHash(data)).toEqual(nobleHashing.eventHash(data));
        expect(fastHashing.payloadCommitment(salt, data)).toEqual(nobleHashing.payloadCommitment(salt, data));
        expect(fastHashing.tree.leaf(h)).toEqual(nobleHashing.tree.leaf(h));
        expect(fastHashing.tree.node(h, salt)).toEqual(nobleHashing.tree.node(h, salt));
      }),
      { numRuns: 300 },
    );
  });

  it('agrees on inputs past its scratch buffer, which grows for them', () => {
    const salt = new Uint8Array(16).fill(3);
    for (const n of [1000, 1024, 1025, 5000, 65_536, 65_537, 300_000]) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff);
      expect(fastHashing.payloadCommitment(salt, data), `${n}`).toEqual(nobleHashing.payloadCommitment(salt, data));
      expect(fastHashing.eventHash(data), `${n}`).toEqual(nobleHashing.eventHash(data));
    }
    // A small input after large ones still hashes alone (nothing left over in the buffer).
    expect(fastHashing.eventHash(new Uint8Array([1, 2, 3]))).toEqual(nobleHashing.eventHash(new Uint8Array([1, 2, 3])));
  });
});
