/**
 * The event header: the hashed, chained record of one write.
 *
 * Every field is part of the canonical CBOR map that is hashed, so a receipt
 * that proves the header proves every field (INV-RECEIPT-COVERS-HEADER).
 * Validation is strict in both directions — building a header and decoding
 * one — because a verifier must reject anything a writer could not produce.
 */
import { fromBase64, isWellFormed, toBase64, utf8Length } from './bytes.js';
import { decodeCanonical } from './codec.js';
import { decodeStored, encodeFlat, type FlatRecord } from './flat-record.js';
import { badRequest } from './errors.js';
import { HASH_LENGTH } from './hash.js';
import { readHeader } from './stored-value.js';

/** Header format version. */
export const FORMAT_VERSION = 1;

/** Every kind of event. */
export const OPS = ['set', 'delete', 'log', 'redact', 'unredact', 'erase'] as const;
/** A kind of event. */
export type Op = (typeof OPS)[number];

/** Keyspace of an op in the key index: log kinds chain apart from block keys. */
export function keyspaceOf(op: Op): 'b' | 'k' {
  return op === 'log' ? 'k' : 'b';
}

/** Longest block key or event kind, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;
/** Longest actor name, in UTF-8 bytes. */
export const MAX_ACTOR_BYTES = 256;
/** Largest visibility level. */
export const MAX_VISIBILITY = 2 ** 31 - 1;

/** The 32 zero bytes that stand for "no previous event". */
export const ZERO_HASH = new Uint8Array(HASH_LENGTH);

/** One event header. Byte fields are raw; see {@link HeaderJson} for the wire form. */
export interface EventHeader {
  /** Format version, {@link FORMAT_VERSION}. */
  readonly fmt: number;
  /** The journal (tenant) name. */
  readonly journal: string;
  /** 0-based position in the journal; equals the Merkle leaf index. */
  readonly seq: number;
  /** Transaction time, Unix ms; never decreases within a journal. */
  readonly time: number;
  readonly op: Op;
  /** Block key, or event kind for `log`. */
  readonly key: string;
  /** Hash of the previous event of the journal, or 32 zero bytes for seq 0. */
  readonly prev: Uint8Array;
  /** Hash of the previous event of the same key (same kind for `log`), or null. */
  readonly keyPrev: Uint8Array | null;
  /** Payload commitment, or null when the event has no payload. */
  readonly payload: Uint8Array | null;
  /** Visibility level of the block this event writes. */
  readonly v: number;
  /** Valid time, Unix ms: when the fact became true in the world. */
  readonly validFrom: number;
  /** Who wrote the event. */
  readonly actor: string;
}

/** JSON form of a header: byte fields as standard base64. */
export interface HeaderJson {
  fmt: number;
  journal: string;
  seq: number;
  time: number;
  op: Op;
  key: string;
  prev: string;
  keyPrev: string | null;
  payload: string | null;
  v: number;
  validFrom: number;
  actor: string;
}

const HEADER_FIELDS = ['fmt', 'journal', 'seq', 'time', 'op', 'key', 'prev', 'keyPrev', 'payload', 'v', 'validFrom', 'actor'] as const;

/** True when `name` is a valid tenant (journal) name. */
export function isValidTenantName(name: unknown): name is string {
  return typeof name === 'string' && /^[a-z0-9][a-z0-9._-]{0,62}$/.test(name);
}

/**
 * Checks a block key or event kind.
 * @throws TallyError `bad_request` if empty, longer than {@link MAX_KEY_BYTES} UTF-8 bytes, not a string or with a lone surrogate.
 */
export function assertKey(key: unknown, name = 'key'): asserts key is string {
  if (typeof key !== 'string') throw badRequest(`"${name}" must be a string`);
  if (key.length === 0) throw badRequest(`"${name}" must not be empty`);
  if (!isWellFormed(key)) throw badRequest(`"${name}" contains a lone surrogate`);
  // Every UTF-16 unit is at most 3 UTF-8 bytes, so short keys need no count (reads check every key).
  const n = key.length * 3 <= MAX_KEY_BYTES ? 0 : utf8Length(key);
  if (n > MAX_KEY_BYTES) throw badRequest(`"${name}" expected <= ${MAX_KEY_BYTES} UTF-8 bytes, got ${n}`);
}

/**
 * Checks the key of a new block or the kind of a new log event: an
 * {@link assertKey} key that LMDB can store and give back. Storage keys are
 * lmdb-js ordered-binary arrays, whose string encoding escapes the
 * characters U+0000–U+0004 only in strings shorter than 64 UTF-16 units;
 * in a longer one they collide with its separators and type bytes, and the
 * key would not read back. Such keys are refused. Keys written before the
 * rule stay readable, deletable and erasable as far as they ever were.
 * @throws TallyError `bad_request`.
 */
export function assertNewKey(key: unknown, name = 'key'): asserts key is string {
  assertKey(key, name);
  if (!isStorableKey(key)) throw badRequest(`"${name}" of 64 or more characters must not contain U+0000 to U+0004 (a limit of the storage key encoding)`);
}

/** False for a string the storage key encoding cannot hold: 64 or more UTF-16 units with a character U+0000–U+0004. */
export function isStorableKey(text: string): boolean {
  if (text.length < 64) return true;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) <= 4) return false;
  return true;
}

/**
 * Checks a visibility level.
 * @throws TallyError `bad_request` unless an integer in 0..{@link MAX_VISIBILITY}.
 */
export function assertVisibility(v: unknown, name = 'v'): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_VISIBILITY) {
    throw badRequest(`"${name}" expected an integer in 0..${MAX_VISIBILITY}, got ${described(v)}`);
  }
}

/**
 * A bad value as an error message names it: a number itself, anything
 * else by its type. String() of an arbitrary object from JSON may throw
 * (an own, non-callable toString) instead of the error being reported.
 */
function described(v: unknown): string {
  return typeof v === 'number' ? String(v) : v === null ? 'null' : `a ${typeof v}`;
}

function isTime(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function isHash(b: unknown): b is Uint8Array {
  return b instanceof Uint8Array && b.length === HASH_LENGTH;
}

/**
 * Checks every field of a header.
 * @throws TallyError `bad_request` naming the first invalid field.
 */
export function assertHeader(h: EventHeader): void {
  const keys = Object.keys(h);
  if (keys.length !== HEADER_FIELDS.length || !HEADER_FIELDS.every((f) => keys.includes(f))) {
    throw badRequest(`header must have exactly the fields ${HEADER_FIELDS.join(', ')}`);
  }
  assertHeaderValues(h);
}

/** The rules of {@link assertHeader} for each field, for a header known to have exactly the fields. */
function assertHeaderValues(h: EventHeader): void {
  if (h.fmt !== FORMAT_VERSION) throw badRequest(`header "fmt" must be ${FORMAT_VERSION}, got ${described(h.fmt)}`);
  if (!isValidTenantName(h.journal)) throw badRequest('header "journal" is not a valid tenant name');
  if (!isTime(h.seq)) throw badRequest('header "seq" must be a non-negative safe integer');
  if (!isTime(h.time)) throw badRequest('header "time" must be a non-negative safe integer (Unix ms)');
  if (!(OPS as readonly string[]).includes(h.op)) throw badRequest(`header "op" must be one of ${OPS.join(', ')}`);
  assertKey(h.key, 'header.key');
  if (!isHash(h.prev)) throw badRequest('header "prev" must be 32 bytes');
  if (h.keyPrev !== null && !isHash(h.keyPrev)) throw badRequest('header "keyPrev" must be 32 bytes or null');
  if (h.payload !== null && !isHash(h.payload)) throw badRequest('header "payload" must be 32 bytes or null');
  assertVisibility(h.v, 'header.v');
  if (!isTime(h.validFrom)) throw badRequest('header "validFrom" must be a non-negative safe integer (Unix ms)');
  if (typeof h.actor !== 'string' || !isWellFormed(h.actor) || utf8Length(h.actor) > MAX_ACTOR_BYTES) {
    throw badRequest(`header "actor" must be a string of at most ${MAX_ACTOR_BYTES} UTF-8 bytes`);
  }
}

/**
 * Canonical bytes of a header (the input of its hash).
 * @throws TallyError `bad_request` if the header is invalid.
 */
export function encodeHeader(h: EventHeader): Uint8Array {
  assertHeader(h);
  // Every header field is flat (integers, text, bytes, null): the fast encoder writes the same canonical bytes.
  return encodeFlat(h as unknown as FlatRecord);
}

/**
 * Decodes canonical header bytes.
 * @throws TallyError `bad_request` if the bytes are not a canonical, valid header.
 */
export function decodeHeader(bytes: Uint8Array): EventHeader {
  // justifies: INV-CANONICAL-BYTES
  // Fast path: what readHeader accepts is a canonical map of exactly the header's fields. Anything else
  // takes the general strict decoder, which re-encodes and names what is wrong.
  const fast = readHeader(bytes);
  if (fast) {
    assertHeaderValues(fast);
    return fast;
  }
  const value = decodeCanonical(bytes);
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw badRequest('header must be a CBOR map');
  }
  const h = value as unknown as EventHeader;
  assertHeader(h);
  return h;
}

/** JSON form of a header. */
export function headerToJson(h: EventHeader): HeaderJson {
  return {
    fmt: h.fmt,
    journal: h.journal,
    seq: h.seq,
    time: h.time,
    op: h.op,
    key: h.key,
    prev: toBase64(h.prev),
    keyPrev: h.keyPrev === null ? null : toBase64(h.keyPrev),
    payload: h.payload === null ? null : toBase64(h.payload),
    v: h.v,
    validFrom: h.validFrom,
    actor: h.actor,
  };
}

/**
 * Header from its JSON form; exact field set, strict base64.
 * @throws TallyError `bad_request` naming what is wrong.
 */
export function headerFromJson(j: unknown): EventHeader {
  if (j === null || typeof j !== 'object' || Array.isArray(j)) throw badRequest('header must be an object');
  const o = j as Record<string, unknown>;
  const bytes = (name: string, nullable: boolean): Uint8Array | null => {
    const v = o[name];
    if (v === null && nullable) return null;
    if (typeof v !== 'string') throw badRequest(`header "${name}" must be a base64 string${nullable ? ' or null' : ''}`);
    try {
      return fromBase64(v);
    } catch {
      throw badRequest(`header "${name}" is not valid base64`);
    }
  };
  const h = {
    fmt: o['fmt'],
    journal: o['journal'],
    seq: o['seq'],
    time: o['time'],
    op: o['op'],
    key: o['key'],
    prev: bytes('prev', false),
    keyPrev: bytes('keyPrev', true),
    payload: bytes('payload', true),
    v: o['v'],
    validFrom: o['validFrom'],
    actor: o['actor'],
  } as unknown as EventHeader;
  const extra = Object.keys(o).filter((k) => !(HEADER_FIELDS as readonly string[]).includes(k));
  if (extra.length > 0) throw badRequest(`header has unknown field "${extra[0]}"`);
  for (const f of HEADER_FIELDS) if (!(f in o)) throw badRequest(`header is missing "${f}"`);
  assertHeader(h);
  return h;
}

/** Decodes header bytes that Tally stored itself, skipping the canonical re-check (see `decodeTrusted`). */
export function decodeStoredHeader(bytes: Uint8Array): EventHeader {
  return readHeader(bytes) ?? (decodeStored(bytes) as unknown as EventHeader);
}
