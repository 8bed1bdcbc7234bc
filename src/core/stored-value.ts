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
 * on odd input. Heads are always checked to be minimal; with `canonical`
 * it also requires map keys in canonical order and refuses floats, so that
 * whatever it accepts is exactly what the canonical encoder writes (other
 * callers that need canonical form use decodeCanonical, which re-encodes).
 * test/core/stored-value.test.ts checks that it agrees with cborg on random
 * values and random bytes, and that canonical mode accepts nothing whose
 * re-encoding differs.
 */
import type { CborValue } from './codec.js';

const fatalDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Deeper values are left to cborg (which bounds them itself). */
const MAX_FAST_DEPTH = 80;

// Decoder state: module-level rather than closures, since this runs for every value a read returns.
let src: Uint8Array = new Uint8Array(0);
let pos = 0;
let arg = 0;
/** Set when the input leaves the subset; the result is then discarded. */
let bail = false;
/** Canonical mode: keys in canonical order, no floats (see the file comment). */
let canonical = false;

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
export function decodeStoredValue(bytes: Uint8Array, keyNames: KeyNames = dataNames, canonicalOnly = false): CborValue | undefined {
  namesAt = keyNames;
  canonical = canonicalOnly;
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
      let prevAt = -1;
      let prevLen = 0;
      for (let i = 0; i < n && !bail; i++) {
        if (readHead() !== 3) return fail();
        if (canonical) {
          // Canonical key order: shorter encodings first, then bytewise; strictly rising, so no duplicates.
          if (prevAt >= 0 && !keyAfter(prevAt, prevLen, pos, arg)) return fail();
          prevAt = pos;
          prevLen = arg;
        }
        const name = readName(i, arg);
        if (name === undefined || name === '__proto__' || Object.hasOwn(out, name)) return fail();
        out[name] = readValue(depth + 1);
      }
      return out;
    }
    case 7: {
      // The canonical encoder writes integral numbers as integers; a float reading is left to the re-encoding check.
      if (canonical || pos + 8 > src.length) return fail();
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

/** True when the key text at `b` (`bLen` bytes) sorts after the one at `a` in canonical order. */
function keyAfter(a: number, aLen: number, b: number, bLen: number): boolean {
  if (bLen !== aLen) return bLen > aLen;
  if (b + bLen > src.length) return false;
  for (let i = 0; i < aLen; i++) {
    const d = src[b + i]! - src[a + i]!;
    if (d !== 0) return d > 0;
  }
  return false;
}

function fail(): null {
  bail = true;
  return null;
}
