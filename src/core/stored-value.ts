/**
 * A fast decoder for canonical CBOR that Tally wrote itself: block data,
 * log details, stored headers and projection records (flat-record.ts reads
 * those through it), every value a read hands back. Reads decode one
 * payload per block, so this is the hottest decode of the read path; cborg's
 * general token machinery costs several times what the value does.
 *
 * It reads the subset the canonical encoder writes — definite-length maps
 * with text keys, arrays, safe integers, 64-bit floats, text, bytes, true,
 * false and null — and returns `undefined` for anything else (tags,
 * indefinite lengths, other float widths, NaN, ±Infinity, big integers,
 * malformed UTF-8, duplicate or `__proto__` keys, deep nesting, trailing
 * bytes), so the caller falls back to cborg and keeps its exact behaviour
 * on odd input. Heads are always checked to be minimal; it does not
 * check canonical form otherwise (callers that need it use decodeCanonical).
 * test/core/stored-value.test.ts checks that it agrees with cborg on random
 * values and random bytes.
 *
 * {@link readHeader} reads an event header through the same heads and
 * texts, walking the header's one fixed layout.
 */
import type { CborValue } from './codec.js';
import type { EventHeader, Op } from './event.js';

const fatalDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Deeper values are left to cborg (which bounds them itself). */
const MAX_FAST_DEPTH = 80;

// Decoder state: module-level rather than closures, since this runs for every value a read returns.
let src: Uint8Array = new Uint8Array(0);
let pos = 0;
let arg = 0;
/** Set when the input leaves the subset; the result is then discarded. */
let bail = false;

const EMPTY = new Uint8Array(0);
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const BIG_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 0;

/**
 * Decodes a value Tally stored, or returns undefined when the bytes leave
 * the canonical subset (the caller then uses the general decoder).
 * @param keyNames the key-name cache to use: a kind of record that repeats
 * its keys keeps its own, so other values do not evict them.
 */
export function decodeStoredValue(bytes: Uint8Array, keyNames: KeyNames = dataNames): CborValue | undefined {
  namesAt = keyNames;
  // A plain view, so that slices are plain copies (a Buffer's slices are views or Buffers); `length`, not
  // `byteLength`, because LMDB's reusable read buffer (getBinaryFast) carries the value's size as its length.
  src = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  pos = 0;
  bail = false;
  try {
    const v = readValue(0);
    return bail || pos !== src.length ? undefined : v;
  } finally {
    src = EMPTY;
  }
}

/** Reads a head; leaves the argument in `arg` and returns the major type, or -1 outside the subset. */
function readHead(): number {
  if (pos >= src.length) return -1;
  const b = src[pos++]!;
  const info = b & 0x1f;
  const major = b >> 5;
  // Of major type 7 only float64 is read here (true, false and null never reach readHead).
  if (major === 7) return info === 27 ? 7 : -1;
  if (info < 24) {
    arg = info;
    return major;
  }
  const len = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
  if (len === 0 || pos + len > src.length) return -1;
  let n = 0;
  for (let i = 0; i < len; i++) n = n * 256 + src[pos + i]!;
  pos += len;
  arg = n;
  // A longer head than needed is not what the canonical encoder writes (and strict cborg refuses it).
  const min = len === 1 ? 24 : len === 2 ? 0x100 : len === 4 ? 0x10000 : 0x100000000;
  return Number.isSafeInteger(n) && n >= min ? major : -1;
}

function readText(n: number): string | undefined {
  if (pos + n > src.length) return undefined;
  if (n <= 64) {
    // ASCII fast path: the TextDecoder call costs more than a short string.
    let r = '';
    let i = pos;
    for (; i < pos + n && src[i]! < 0x80; i++) r += String.fromCharCode(src[i]!);
    if (i === pos + n) {
      pos = i;
      return r;
    }
  }
  try {
    return fatalDecoder.decode(src.subarray(pos, (pos += n)));
  } catch {
    return undefined;
  }
}

/**
 * The map key names last read at each position of a map. Records of one
 * kind repeat their keys in one order, so a name is usually recognised by a
 * byte compare and reused: no string is built, and objects get their
 * properties under the same (internalised) names, which V8 handles much faster.
 * A few names are kept per position, because reads alternate between kinds
 * of records (a key's state, then a version record) whose keys differ.
 */
/** A key-name cache: the names last read at each position of a map, most recent first. */
export type KeyNames = { bytes: Uint8Array; name: string }[][];
const dataNames: KeyNames = [];
let namesAt: KeyNames = dataNames;
const NAMES_PER_POSITION = 4;

/** Reads a map key of `n` bytes at position `i` of its map. */
function readName(i: number, n: number): string | undefined {
  const known = namesAt[i];
  if (known !== undefined && pos + n <= src.length) {
    for (let c = 0; c < known.length; c++) {
      const b = known[c]!.bytes;
      if (b.length !== n) continue;
      let k = 0;
      while (k < n && src[pos + k] === b[k]) k++;
      if (k === n) {
        pos += n;
        return known[c]!.name;
      }
    }
  }
  const start = pos;
  const name = readText(n);
  if (name !== undefined && i < 32) {
    const list = (namesAt[i] ??= []);
    list.unshift({ bytes: src.slice(start, pos), name });
    if (list.length > NAMES_PER_POSITION) list.pop();
  }
  return name;
}

function readValue(depth: number): CborValue {
  if (depth > MAX_FAST_DEPTH) return fail();
  const b = src[pos];
  if (b === 0xf4 || b === 0xf5 || b === 0xf6) {
    pos++;
    return b === 0xf6 ? null : b === 0xf5;
  }
  const major = readHead();
  switch (major) {
    case 0:
      return arg;
    case 1:
      // -1 - arg must be safe too: -2^53 is not.
      return arg < Number.MAX_SAFE_INTEGER ? -1 - arg : fail();
    case 2:
      if (pos + arg > src.length) return fail();
      return src.slice(pos, (pos += arg));
    case 3: {
      const t = readText(arg);
      return t === undefined ? fail() : t;
    }
    case 4: {
      const n = arg;
      if (n > src.length - pos) return fail();
      const out: CborValue[] = new Array(n);
      for (let i = 0; i < n && !bail; i++) out[i] = readValue(depth + 1);
      return out;
    }
    case 5: {
      const n = arg;
      if (n > src.length - pos) return fail();
      const out: { [key: string]: CborValue } = {};
      for (let i = 0; i < n && !bail; i++) {
        if (readHead() !== 3) return fail();
        const name = readName(i, arg);
        if (name === undefined || name === '__proto__' || Object.hasOwn(out, name)) return fail();
        out[name] = readValue(depth + 1);
      }
      return out;
    }
    case 7: {
      if (pos + 8 > src.length) return fail();
      // Big-endian on the wire; through a scratch word rather than a DataView per decode.
      for (let i = 0; i < 8; i++) f64Bytes[BIG_ENDIAN ? i : 7 - i] = src[pos + i]!;
      const f = f64[0]!;
      pos += 8;
      return Number.isFinite(f) ? f : fail();
    }
    default:
      return fail();
  }
}

function fail(): null {
  bail = true;
  return null;
}

/**
 * The integer under the ASCII key `name` of the flat map in `bytes` (a record Tally
 * stored: integers, booleans, null, text and bytes), read without decoding
 * the rest; undefined when the key is missing, its value is no integer or
 * the bytes are not such a map (the caller then decodes the whole record).
 */
export function peekInt(bytes: Uint8Array, name: string): number | undefined {
  src = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  pos = 0;
  try {
    if (readHead() !== 5) return undefined;
    const n = arg;
    for (let i = 0; i < n; i++) {
      if (readHead() !== 3 || pos + arg > src.length) return undefined;
      let same = arg === name.length;
      for (let k = 0; same && k < arg; k++) same = src[pos + k] === name.charCodeAt(k);
      pos += arg;
      const b = src[pos];
      if (b === 0xf4 || b === 0xf5 || b === 0xf6) {
        if (same) return undefined;
        pos++;
        continue;
      }
      const major = readHead();
      if (same) return major === 0 ? arg : major === 1 && arg < Number.MAX_SAFE_INTEGER ? -1 - arg : undefined;
      if (major === 2 || major === 3) pos += arg;
      else if (major !== 0 && major !== 1) return undefined;
    }
    return undefined;
  } finally {
    src = EMPTY;
  }
}

// ---- records of one fixed layout ------------------------------------------------

/**
 * The CBOR type of a field of a {@link layoutReader}'s record: a safe
 * integer, a boolean, a byte string (copied) or a text. `view` is a byte
 * string handed to `build` as a view of the input, valid only while `build`
 * runs: for a field `build` decodes at once, which spares allocating a copy.
 */
export type FieldKind = 'int' | 'bool' | 'bytes' | 'view' | 'text';

/**
 * A reader for a record that is always the same map: these fields, each of
 * its kind (a key state, a version record). Like {@link readHeader} it walks
 * that one layout and gives up (returns undefined) at the first byte that
 * differs from it, leaving the record to the general decoder. It hands the
 * values, in the order `fields` lists them, to `build`, which returns the
 * record as one object literal: every record read then has one shape, where
 * setting properties by computed names made each read slow. What it accepts
 * `build` must turn into what the general decoder gives. Byte fields are
 * copies, so the input may be LMDB's reusable read buffer; the values array
 * is reused, so `build` must not keep it.
 */
export function layoutReader<T>(fields: Readonly<Record<string, FieldKind>>, build: (values: readonly (number | boolean | Uint8Array | string)[]) => T): (bytes: Uint8Array) => T | undefined {
  const listed = Object.keys(fields);
  if (listed.some((n) => /[^\x20-\x7e]/.test(n) || n.length >= 24) || listed.length >= 24) throw new Error('layoutReader takes fewer than 24 short ASCII field names');
  // Canonical key order: shorter first, then bytewise (ASCII, so code units compare as bytes).
  const names = [...listed].sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
  const heads = names.map((n) => Uint8Array.of(0x60 | n.length, ...Array.from(n, (c) => c.charCodeAt(0))));
  const kinds = names.map((n) => fields[n]!);
  const slots = names.map((n) => listed.indexOf(n));
  const viewSlots = listed.flatMap((n, i) => (fields[n] === 'view' ? [i] : []));
  const mapHead = 0xa0 | names.length;
  const texts: KeyNames = [];
  const values: (number | boolean | Uint8Array | string)[] = new Array(names.length).fill(0);
  return (bytes) => {
    src = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
    pos = 0;
    bail = false;
    const saved = namesAt;
    namesAt = texts;
    try {
      if (src[pos++] !== mapHead) return undefined;
      for (let i = 0; i < names.length; i++) {
        const head = heads[i]!;
        for (let j = 0; j < head.length; j++) if (src[pos + j] !== head[j]) return undefined;
        pos += head.length;
        const kind = kinds[i];
        let v: number | boolean | Uint8Array | string | undefined;
        if (kind === 'bool') {
          const b = src[pos++];
          v = b === 0xf5 ? true : b === 0xf4 ? false : undefined;
        } else {
          const major = readHead();
          if (kind === 'int') v = major === 0 ? arg : major === 1 && arg < Number.MAX_SAFE_INTEGER ? -1 - arg : undefined;
          else if (kind === 'bytes') v = major === 2 && pos + arg <= src.length ? src.slice(pos, (pos += arg)) : undefined;
          else if (kind === 'view') v = major === 2 && pos + arg <= src.length ? src.subarray(pos, (pos += arg)) : undefined;
          else v = major === 3 ? readName(i, arg) : undefined;
        }
        if (v === undefined) return undefined;
        values[slots[i]!] = v;
      }
      if (pos !== src.length) return undefined;
      // `build` may decode a view field, which reuses this module's decoder state: the walk is over.
      src = EMPTY;
      namesAt = saved;
      const out = build(values);
      for (const i of viewSlots) values[i] = 0; // hold no view of the input past the call
      return out;
    } finally {
      namesAt = saved;
      src = EMPTY;
    }
  };
}

// ---- event headers ------------------------------------------------------------

/** The header's keys in canonical order (shorter first, then bytewise), each as its CBOR text encoding. */
const HEADER_KEYS = ['v', 'op', 'fmt', 'key', 'seq', 'prev', 'time', 'actor', 'journal', 'keyPrev', 'payload', 'validFrom'].map((k) =>
  Uint8Array.of(0x60 | k.length, ...Array.from(k, (c) => c.charCodeAt(0))),
);
/** Op, actor and journal repeat from header to header: their texts are cached by position like map keys. */
const headerTexts: KeyNames = [];

/**
 * The event header in `bytes` when they are a canonical header map, else
 * undefined. `verify()` and `rebuild()` decode every header of a journal,
 * and a header is always the same map: twelve fields, keys in canonical
 * order, each value of one type. This walks exactly that layout and gives
 * up at the first byte that differs from it (another field set or order, a
 * non-minimal head, a wrong type, a byte string that is not 32 bytes,
 * malformed UTF-8, trailing bytes). So whatever it accepts is the canonical
 * encoding of a map with exactly the header's fields, which the general
 * decoders would also accept and decode to the same object; anything else is
 * left to them and keeps their verdict and messages (checked on random and
 * corrupted headers in test/core/stored-value.test.ts). Values are not
 * checked beyond their CBOR type: `decodeHeader` applies the header's rules.
 * Byte fields are copies, so `bytes` may be a reusable buffer.
 */
export function readHeader(bytes: Uint8Array): EventHeader | undefined {
  namesAt = headerTexts;
  // As in decodeStoredValue: a plain view, and `length` for LMDB's reusable buffer.
  src = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  pos = 0;
  bail = false;
  try {
    if (src[pos++] !== 0xac) return undefined; // a map of 12
    const v = headerInt(0);
    const op = headerText(1, 0);
    const fmt = headerInt(2);
    const key = headerText(3);
    const seq = headerInt(4);
    const prev = headerHash(5, false);
    const time = headerInt(6);
    const actor = headerText(7, 1);
    const journal = headerText(8, 2);
    const keyPrev = headerHash(9, true);
    const payload = headerHash(10, true);
    const validFrom = headerInt(11);
    if (bail || pos !== src.length) return undefined;
    // One literal in the encoder's field order: every header read gets the same object shape.
    return { fmt, journal, seq, time, op: op as Op, key, prev: prev!, keyPrev, payload, v, validFrom, actor };
  } finally {
    src = EMPTY;
  }
}

/** Steps over key `i` of the header layout, or fails. */
function headerKey(i: number): void {
  const want = HEADER_KEYS[i]!;
  for (let j = 0; j < want.length; j++) {
    if (src[pos + j] !== want[j]) {
      fail();
      return;
    }
  }
  pos += want.length;
}

function headerInt(i: number): number {
  headerKey(i);
  if (!bail && readHead() === 0) return arg;
  fail();
  return 0;
}

/** A text value; with a cache slot, a repeated text is recognised by its bytes (see readName). */
function headerText(i: number, slot = -1): string {
  headerKey(i);
  const t = !bail && readHead() === 3 ? (slot >= 0 ? readName(slot, arg) : readText(arg)) : undefined;
  if (t !== undefined) return t;
  fail();
  return '';
}

function headerHash(i: number, nullable: boolean): Uint8Array | null {
  headerKey(i);
  if (bail) return null;
  if (nullable && src[pos] === 0xf6) {
    pos++;
    return null;
  }
  if (readHead() === 2 && arg === 32 && pos + 32 <= src.length) return src.slice(pos, (pos += 32));
  fail();
  return null;
}
