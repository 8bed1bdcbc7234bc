/**
 * Hash functions and domain tags. Every hash Tally computes starts with a
 * tag naming what is hashed, so bytes valid as one structure can never be
 * passed off as another (an event header as a payload, a leaf as a node).
 * The Merkle tree uses RFC 9162's one-byte prefixes (0x00 leaf, 0x01 node)
 * with the hash as a parameter, so the same code passes the SHA-256 vectors.
 *
 * The BLAKE3 implementation is a parameter too: `core/` uses @noble/hashes
 * (pure JS, runs in any browser); the Node journal plugs in a WASM BLAKE3
 * about ten times faster on these short inputs. A test checks both agree.
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

/** A hash over the concatenation of its arguments. */
export type HashParts = (...parts: Uint8Array[]) => Uint8Array;

/** A hash function as the Merkle tree sees it. */
export interface TreeHasher {
  /** Hash of the empty tree (RFC 9162: the hash of the empty string). */
  readonly empty: Uint8Array;
  /** Leaf hash: H(0x00 ‖ data). */
  leaf(data: Uint8Array): Uint8Array;
  /** Interior node hash: H(0x01 ‖ left ‖ right). */
  node(left: Uint8Array, right: Uint8Array): Uint8Array;
}

/** Every hash of the formats, over one BLAKE3 implementation. */
export interface Hashing {
  readonly tree: TreeHasher;
  /** Event hash: BLAKE3(EVENT_TAG ‖ canonical header bytes). */
  eventHash(headerBytes: Uint8Array): Uint8Array;
  /** Payload commitment: BLAKE3(PAYLOAD_TAG ‖ salt ‖ payload). */
  payloadCommitment(salt: Uint8Array, payload: Uint8Array): Uint8Array;
}

const LEAF_PREFIX = Uint8Array.of(0);
const NODE_PREFIX = Uint8Array.of(1);
const EMPTY = new Uint8Array(0);

/** The RFC 9162 tree hasher over a hash function. */
export function makeTreeHasher(h: HashParts): TreeHasher {
  return {
    empty: h(EMPTY),
    leaf: (data) => h(LEAF_PREFIX, data),
    node: (left, right) => h(NODE_PREFIX, left, right),
  };
}

/** Every format hash over one BLAKE3 implementation. */
export function makeHashing(blake: HashParts): Hashing {
  return {
    tree: makeTreeHasher(blake),
    eventHash: (headerBytes) => blake(EVENT_TAG, headerBytes),
    // The salt keeps a short payload from being guessed from its commitment once it is erased.
    payloadCommitment: (salt, payload) => blake(PAYLOAD_TAG, salt, payload),
  };
}

const nobleBlake3: HashParts = (...parts) => blake3(parts.length === 1 ? parts[0]! : concatBytes(...parts));

/** Format hashes over @noble/hashes BLAKE3 (portable; what auditors run). */
export const nobleHashing: Hashing = makeHashing(nobleBlake3);

/** Tally's tree hash: RFC 9162 structure with BLAKE3-256. */
export const blake3Tree: TreeHasher = nobleHashing.tree;
/** RFC 9162's own tree hash (SHA-256); used to check the tree code against published vectors. */
export const sha256Tree: TreeHasher = makeTreeHasher((...parts) => sha256(concatBytes(...parts)));

/** BLAKE3-256 of `data`. */
export function blake3Hash(data: Uint8Array): Uint8Array {
  return blake3(data);
}

/** SHA-256 of `data`. */
export function sha256Hash(data: Uint8Array): Uint8Array {
  return sha256(data);
}

/** Event hash: BLAKE3(EVENT_TAG ‖ canonical header bytes). */
export const eventHash = nobleHashing.eventHash;

/** Payload commitment: BLAKE3(PAYLOAD_TAG ‖ salt ‖ payload). */
export const payloadCommitment = nobleHashing.payloadCommitment;
