/**
 * A straight-line reader for event headers in their canonical bytes.
 *
 * `verify()` and `rebuild()` decode every header of a journal. A header is
 * always the same map: twelve fields, keys in canonical order, each value
 * of one type. This reader walks exactly that layout and returns
 * `undefined` at the first byte that differs from it (another field set or
 * order, a non-minimal head, a wrong type, a byte string that is not 32
 * bytes, malformed UTF-8, trailing bytes). Whatever it accepts is therefore
 * the canonical encoding of a map with exactly the header's fields, which
 * the general decoder would also accept and decode to the same object;
 * anything else is left to that decoder, which keeps its own verdict and
 * error messages. test/core/header-reader.test.ts checks both on random
 * headers and random corruptions of them.
 *
 * The values are not checked beyond their CBOR type here (a seq may exceed
 * 2^53, an op may be unknown): `decodeHeader` still applies the header's
 * rules to what this returns.
 */
import type { EventHeader, Op } from './event.js';

const utf8 = new TextEncoder();
const fatalDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The header's keys in canonical order (shorter first, then bytewise), each as its CBOR text encoding. */
const KEYS = ['v', 'op', 'fmt', 'key', 'seq', 'prev', 'time', 'actor', 'journal', 'keyPrev', 'payload', 'validFrom'].map((k) => {
  const b = utf8.encode(k);
  return Uint8Array.of(0x60 | b.length, ...b);
});

let src: Uint8Array = new Uint8Array(0);
let end = 0;
let pos = 0;
let ok = true;

/**
 * The header in `bytes` when they are a canonical header map, else undefined.
 * Byte fields are copies, so `bytes` may be a reusable buffer.
 */
export function readHeader(bytes: Uint8Array): EventHeader | undefined {
  // `length`, not `byteLength`: LMDB's reusable read buffer carries the value's size as its length.
  // A plain view, so that slices are copies (a Buffer's slice is a view).
  src = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  end = bytes.length;
  pos = 0;
  ok = true;
  try {
    if (src[pos++] !== 0xac) return undefined; // a map of 12
    key(0);
    const v = uint();
    key(1);
    const op = repeatedText(0);
    key(2);
    const fmt = uint();
    key(3);
    const k = text();
    key(4);
    const seq = uint();
    key(5);
    const prev = hash();
    key(6);
    const time = uint();
    key(7);
    const actor = repeatedText(1);
    key(8);
    const journal = repeatedText(2);
    key(9);
    const keyPrev = hashOrNull();
    key(10);
    const payload = hashOrNull();
    key(11);
    const validFrom = uint();
    if (!ok || pos !== end || prev === null) return undefined;
    // One literal in the encoder's field order: every header read gets the same object shape.
    return { fmt, journal, seq, time, op: op as Op, key: k, prev, keyPrev, payload, v, validFrom, actor };
  } finally {
    src = EMPTY;
  }
}

const EMPTY = new Uint8Array(0);
const EMPTY_TEXT = new Uint8Array(0);

function key(i: number): void {
  const want = KEYS[i]!;
  if (pos + want.length > end) {
    ok = false;
    return;
  }
  for (let j = 0; j < want.length; j++) {
    if (src[pos + j] !== want[j]) {
      ok = false;
      return;
    }
  }
  pos += want.length;
}

/** The argument of a head of major type `major`, minimal length only; -1 otherwise. */
function head(major: number): number {
  if (!ok || pos >= end) return fail();
  const b = src[pos++]!;
  if (b >> 5 !== major) return fail();
  const info = b & 0x1f;
  if (info < 24) return info;
  const len = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
  if (len === 0 || pos + len > end) return fail();
  let n = 0;
  for (let i = 0; i < len; i++) n = n * 256 + src[pos + i]!;
  pos += len;
  const min = len === 1 ? 24 : len === 2 ? 0x100 : len === 4 ? 0x10000 : 0x100000000;
  // Above 2^53 the sum above is not exact: the general decoder gets those bytes.
  return n >= min && Number.isSafeInteger(n) ? n : fail();
}

function uint(): number {
  return head(0);
}

function text(): string {
  const n = head(3);
  if (n < 0 || pos + n > end) return failText();
  // ASCII fast path: a TextDecoder call costs more than a short string.
  let r = '';
  let i = pos;
  const stop = pos + n;
  for (; i < stop && src[i]! < 0x80; i++) r += String.fromCharCode(src[i]!);
  if (i === stop) {
    pos = stop;
    return r;
  }
  try {
    r = fatalDecoder.decode(src.subarray(pos, stop));
  } catch {
    return failText();
  }
  pos = stop;
  return r;
}

/**
 * The op, actor and journal of consecutive headers are mostly the same
 * text: the last one read in each slot is kept with its bytes and reused
 * when the bytes match, so no string is built.
 */
const lastText: { bytes: Uint8Array; text: string }[] = [0, 1, 2].map(() => ({ bytes: EMPTY_TEXT, text: '' }));

function repeatedText(slot: number): string {
  const last = lastText[slot]!;
  const b = last.bytes;
  const start = pos;
  if (b.length > 0 && start + b.length <= end) {
    let j = 0;
    while (j < b.length && src[start + j] === b[j]) j++;
    if (j === b.length) {
      pos += b.length;
      return last.text;
    }
  }
  const t = text();
  if (ok && pos - start <= 64) lastText[slot] = { bytes: src.slice(start, pos), text: t };
  return t;
}

function hash(): Uint8Array | null {
  if (!ok || pos >= end || src[pos] !== 0x58 || src[pos + 1] !== 32 || pos + 34 > end) {
    ok = false;
    return null;
  }
  pos += 2;
  return src.slice(pos, (pos += 32));
}

function hashOrNull(): Uint8Array | null {
  if (ok && src[pos] === 0xf6) {
    pos++;
    return null;
  }
  return hash();
}

function fail(): number {
  ok = false;
  return -1;
}

function failText(): string {
  ok = false;
  return '';
}
