/**
 * A fast canonical CBOR encoder for flat records — maps whose values are
 * safe integers, booleans, null, strings or byte strings — which is what
 * the projection stores several times per event. It writes the same bytes
 * as {@link encodeCanonical} (length-first key order, shortest integers);
 * test/core/flat-record.test.ts checks that on random records. Anything
 * else (floats, nested values) is handed to the general encoder. Its
 * decoder reads the same records back, and event headers, which are flat
 * too, go through both.
 */
import { decodeTrusted, encodeCanonical, type CborValue } from './codec.js';
import { decodeStoredValue, type KeyNames } from './stored-value.js';

/** A map of text keys to safe integers, booleans, null, text or bytes. */
export type FlatRecord = Record<string, number | boolean | null | string | Uint8Array>;

const textEncoder = new TextEncoder();

interface Schema {
  names: string[];
  keys: string[];
  bytes: Uint8Array[];
}

/** Recently used key sets: records of one kind share one, so a match is a few pointer compares. */
const schemas: Schema[] = [];

function sortedKeys(obj: object): Schema {
  const names = Object.keys(obj);
  for (const s of schemas) if (sameNames(s.names, names)) return s;
  const encoded = names.map((k) => ({ k, b: textEncoder.encode(k) }));
  // Canonical order for text keys: shorter encoding first, then bytewise.
  encoded.sort((x, y) => x.b.length - y.b.length || compareBytes(x.b, y.b));
  const hit = { names, keys: encoded.map((e) => e.k), bytes: encoded.map((e) => headed(3, e.b.length, e.b)) };
  schemas.unshift(hit);
  if (schemas.length > 16) schemas.pop();
  return hit;
}

function sameNames(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** UTF-8 of `s`; ASCII (every key and most values here) skips the TextEncoder call. */
function utf8Of(s: string): Uint8Array {
  if (s.length > 64) return textEncoder.encode(s);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return textEncoder.encode(s);
    out[i] = c;
  }
  return out;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Bytes the CBOR head of argument `n` takes. */
function headSize(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9;
}

/** Writes a CBOR head at `off`; returns the offset after it. */
function writeHead(out: Uint8Array, off: number, major: number, n: number): number {
  const m = major << 5;
  if (n < 24) {
    out[off] = m | n;
    return off + 1;
  }
  if (n < 0x100) {
    out[off] = m | 24;
    out[off + 1] = n;
    return off + 2;
  }
  if (n < 0x10000) {
    out[off] = m | 25;
    out[off + 1] = n >> 8;
    out[off + 2] = n & 0xff;
    return off + 3;
  }
  if (n < 0x100000000) {
    out[off] = m | 26;
    writeU32(out, off + 1, n);
    return off + 5;
  }
  out[off] = m | 27;
  writeU32(out, off + 1, Math.floor(n / 0x100000000));
  writeU32(out, off + 5, n >>> 0);
  return off + 9;
}

function writeU32(out: Uint8Array, off: number, n: number): void {
  out[off] = (n >>> 24) & 0xff;
  out[off + 1] = (n >>> 16) & 0xff;
  out[off + 2] = (n >>> 8) & 0xff;
  out[off + 3] = n & 0xff;
}

function headed(major: number, n: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(headSize(n) + body.length);
  out.set(body, writeHead(out, 0, major, n));
  return out;
}

/**
 * Canonical CBOR of a flat record; byte-identical to {@link encodeCanonical}.
 * Two passes (size, then write) into one buffer: this runs several times
 * per appended event.
 */
export function encodeFlat(obj: FlatRecord): Uint8Array {
  return encodeWith(sortedKeys(obj), obj);
}

/**
 * An encoder for records that always have the given keys (in any order):
 * the key order is settled once, not per record. Same bytes as {@link encodeFlat}.
 *
 * With `{ scratch: true }` the bytes are written into a buffer shared by
 * every scratch encoder and returned as a view of it, valid only until the
 * next scratch encode: for records handed straight to a synchronous LMDB
 * put (which copies them), so that the hottest writes allocate nothing.
 */
export function flatEncoder<K extends string>(names: readonly K[], opts: { scratch?: boolean } = {}): (obj: Record<K, FlatRecord[string]>) => Uint8Array {
  const schema = sortedKeys(Object.fromEntries(names.map((n) => [n, null])));
  const scratch = opts.scratch === true;
  return (obj) => encodeWith(schema, obj as FlatRecord, scratch);
}

let scratchBuffer = new Uint8Array(4096);

function encodeWith({ keys, bytes }: Schema, obj: FlatRecord, scratch = false): Uint8Array {
  let texts: (Uint8Array | undefined)[] | undefined;
  let size = headSize(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const v = obj[keys[i]!];
    size += bytes[i]!.length;
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) return encodeCanonical(obj as unknown as CborValue);
      size += headSize(v >= 0 ? v : -1 - v);
    } else if (typeof v === 'boolean' || v === null) size += 1;
    else if (typeof v === 'string') {
      const b = utf8Of(v);
      (texts ??= new Array(keys.length))[i] = b;
      size += headSize(b.length) + b.length;
    } else if (v instanceof Uint8Array) size += headSize(v.length) + v.length;
    else return encodeCanonical(obj as unknown as CborValue);
  }
  let out: Uint8Array;
  if (scratch) {
    if (scratchBuffer.length < size) scratchBuffer = new Uint8Array(Math.max(size, scratchBuffer.length * 2));
    out = scratchBuffer;
  } else out = new Uint8Array(size);
  let off = writeHead(out, 0, 5, keys.length);
  for (let i = 0; i < keys.length; i++) {
    const v = obj[keys[i]!]!;
    const kb = bytes[i]!;
    // Key heads are a few bytes: a loop beats TypedArray#set's call overhead.
    for (let k = 0; k < kb.length; k++) out[off + k] = kb[k]!;
    off += kb.length;
    if (typeof v === 'number') off = v >= 0 ? writeHead(out, off, 0, v) : writeHead(out, off, 1, -1 - v);
    else if (typeof v === 'boolean') out[off++] = v ? 0xf5 : 0xf4;
    else if (v === null) out[off++] = 0xf6;
    else {
      const b = typeof v === 'string' ? texts![i]! : (v as Uint8Array);
      off = writeHead(out, off, typeof v === 'string' ? 3 : 2, b.length);
      out.set(b, off);
      off += b.length;
    }
  }
  return scratch ? out.subarray(0, size) : out;
}

/** Key names of stored records (headers, key states), apart from those of user data. */
const recordNames: KeyNames = [];

/**
 * Decodes a flat record, or returns undefined for anything that is not a
 * map of text keys to safe integers, booleans, null, text or bytes (the
 * caller then uses the general decoder). It reads through the stored-value
 * decoder and checks the shape; it does not check canonical form. Byte
 * strings are copies, never views of `bytes`.
 */
export function decodeFlat(bytes: Uint8Array): FlatRecord | undefined {
  const v = decodeStoredValue(bytes, recordNames);
  if (v === undefined || v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) return undefined;
  for (const k in v) {
    const x = v[k];
    if (typeof x === 'number' ? !Number.isSafeInteger(x) : x !== null && typeof x === 'object' && !(x instanceof Uint8Array)) return undefined;
  }
  return v as FlatRecord;
}

/**
 * Decodes a record Tally stored itself (a header, a key state, a version or
 * valid-time record; see {@link decodeTrusted}), with the records' own
 * key-name cache.
 */
export function decodeStored(bytes: Uint8Array): CborValue {
  return decodeTrusted(bytes, recordNames);
}
