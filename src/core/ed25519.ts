/**
 * Ed25519 through @noble/ed25519, configured once. noble v3 signs and
 * verifies synchronously only after `hashes.sha512` is set; doing it here,
 * in the one module that imports noble, means no caller can forget.
 * Verification is strict RFC 8032 (`zip215: false`): a malleated signature
 * or a non-canonical key is refused, so a note has one valid signature per key.
 */
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';

ed.hashes.sha512 = sha512;

/** Public key (32 bytes) of a 32-byte Ed25519 secret seed. */
export function publicKeyOf(seed: Uint8Array): Uint8Array {
  return ed.getPublicKey(seed);
}

/** RFC 8032 signature (64 bytes) of `message`. Deterministic. */
export function signEd25519(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return ed.sign(message, seed);
}

/** Strict RFC 8032 verification; false for any malformed input instead of throwing. */
export function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return ed.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

/** A fresh random 32-byte seed from the platform's CSPRNG (Web Crypto, present in browsers and Node 20). */
export function randomSeed(): Uint8Array {
  return ed.utils.randomSecretKey();
}
