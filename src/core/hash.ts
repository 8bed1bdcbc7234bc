/**
 * Hash functions and domain tags. Every hash Tally computes starts with a
 * tag naming what is hashed, so bytes valid as one structure can never be
 * passed off as another (an event header as a payload, a leaf as a node).
 * The Merkle tree uses RFC 9162's one-byte prefixes (0x00 leaf, 0x01 node)
 * with the hash as a parameter, so the same code passes the SHA-256 vectors.
 */
import { blake3 } from '@noble/hashes/blake3.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8 } from './bytes.js';

/** Length in bytes of every hash Tally stores or sends. */
export const HASH_LENGTH = 32;

/** Domain tag for event headers: the ASCII text followed by one zero byte. */
export const EVENT_TAG = utf8('tally/event/v1\0');
/** Domain tag for payload commitments. */
export const PAYLOAD_TAG = utf8('tally/payload/v1\0');

/** Length of the random salt of a payload commitment. */
export const SALT_LENGTH = 16;

/** A hash function as the Merkle tree sees it. */
export interface TreeHasher {
  /** Hash of the empty tree (RFC 9162: the hash of the empty string). */
  readonly empty: Uint8Array;
  /** Leaf hash: H(0x00 ‖ data). */
  leaf(data: Uint8Array): Uint8Array;
  /** Interior node hash: H(0x01 ‖ left ‖ right). */
  node(left: Uint8Array, right: Uint8Array): Uint8Array;
}

const LEAF_PREFIX = new Uint8Array([0]);

function makeTreeHasher(h: (data: Uint8Array) => Uint8Array): TreeHasher {
  return {
    empty: h(new Uint8Array(0)),
    leaf: (data) => h(concatBytes(LEAF_PREFIX, data)),
    node: (left, right) => {
      const buf = new Uint8Array(1 + left.length + right.length);
      buf[0] = 1;
      buf.set(left, 1);
      buf.set(right, 1 + left.length);
      return h(buf);
    },
  };
}

/** Tally's tree hash: RFC 9162 structure with BLAKE3-256. */
export const blake3Tree: TreeHasher = makeTreeHasher((d) => blake3(d));
/** RFC 9162's own tree hash (SHA-256); used to check the tree code against published vectors. */
export const sha256Tree: TreeHasher = makeTreeHasher((d) => sha256(d));

/** BLAKE3-256 of `data`. */
export function blake3Hash(data: Uint8Array): Uint8Array {
  return blake3(data);
}

/** SHA-256 of `data`. */
export function sha256Hash(data: Uint8Array): Uint8Array {
  return sha256(data);
}

/** Event hash: BLAKE3(EVENT_TAG ‖ canonical header bytes). */
export function eventHash(headerBytes: Uint8Array): Uint8Array {
  return blake3(concatBytes(EVENT_TAG, headerBytes));
}

/**
 * Payload commitment: BLAKE3(PAYLOAD_TAG ‖ salt ‖ payload). The salt keeps a
 * short payload from being guessed from its commitment once it is erased.
 */
export function payloadCommitment(salt: Uint8Array, payload: Uint8Array): Uint8Array {
  return blake3(concatBytes(PAYLOAD_TAG, salt, payload));
}
