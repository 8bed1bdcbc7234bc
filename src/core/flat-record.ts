/**
 * A fast canonical CBOR encoder for flat records — maps whose values are
 * safe integers, booleans, null, strings or byte strings — which is what
 * the projection stores several times per event. It writes the same bytes
 * as {@link encodeCanonical} (length-first key order, shortest integers);
 * test/core/flat-record.test.ts checks that on random records. Anything
 * else (floats, nested values) is handed to the general encoder.
 */
import { encodeCanonical, type CborValue } from './codec.js';

type Flat = Record<string, number | boolean | null | string | Uint8Array>;

const textEncoder = new TextEncoder();
const keyCache = new Map<string, { keys: string[]; bytes: Uint8Array[] }>();

function sortedKeys(obj: object): { keys: string[]; bytes: Uint8Array[] } {
  const names = Object.keys(obj);
  const sig = JSON.stringify(names);
  let hit = keyCache.get(sig);
  if (!hit) {
    const encoded = names.map((k) => ({ k, b: textEncoder.encode(k) }));
    // Canonical order for text keys: shorter encoding first, then bytewise.
    encoded.sort((x, y) => x.b.length - y.b.length || compareBytes(x.b, y.b));
    hit = { keys: encoded.map((e) => e.k), bytes: encoded.map((e) => headed(3, e.b.length, e.b)) };
    if (keyCache.size < 256) keyCache.set(sig, hit);
  }
  return hit;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** CBOR head (major type + argument) followed by `body`. */
function headed(major: number, n: number, body?: Uint8Array): Uint8Array {
  const head = headBytes(major, n);
  if (!body) return head;
  const out = new Uint8Array(head.length + body.length);
  out.set(head, 0);
  out.set(body, head.length);
  return out;
}

function headBytes(major: number, n: number): Uint8Array {
  const m = major << 5;
  if (n < 24) return Uint8Array.of(m | n);
  if (n < 0x100) return Uint8Array.of(m | 24, n);
  if (n < 0x10000) return Uint8Array.of(m | 25, n >> 8, n & 0xff);
  if (n < 0x100000000) return Uint8Array.of(m | 26, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  const hi = Math.floor(n / 0x100000000);
  const lo = n >>> 0;
  return Uint8Array.of(m | 27, (hi >>> 24) & 0xff, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff, (lo >>> 24) & 0xff, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff);
}

/** Canonical CBOR of a flat record; byte-identical to {@link encodeCanonical}. */
export function encodeFlat(obj: Flat): Uint8Array {
  const { keys, bytes } = sortedKeys(obj);
  const parts: Uint8Array[] = [headBytes(5, keys.length)];
  let size = parts[0]!.length;
  for (let i = 0; i < keys.length; i++) {
    const v = obj[keys[i]!];
    let enc: Uint8Array;
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) return encodeCanonical(obj as unknown as CborValue);
      enc = v >= 0 ? headBytes(0, v) : headBytes(1, -1 - v);
    } else if (typeof v === 'boolean') enc = Uint8Array.of(v ? 0xf5 : 0xf4);
    else if (v === null) enc = Uint8Array.of(0xf6);
    else if (typeof v === 'string') {
      const b = textEncoder.encode(v);
      enc = headed(3, b.length, b);
    } else if (v instanceof Uint8Array) enc = headed(2, v.length, v);
    else return encodeCanonical(obj as unknown as CborValue);
    parts.push(bytes[i]!, enc);
    size += bytes[i]!.length + enc.length;
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
