/**
 * Byte conversions for the wire formats: hex for docs and keys, standard
 * base64 (RFC 4648 §4, padded) for JSON and signed notes. Decoders are
 * strict — a string that does not re-encode to itself is rejected — because
 * a verifier must not accept two spellings of one hash.
 */

const HEX = '0123456789abcdef';

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += HEX[b >> 4]! + HEX[b & 15]!;
  return out;
}

/** Parses lower- or upper-case hex; throws `Error` on odd length or a non-hex digit. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0) throw new Error(`hex string has odd length ${hex.length}`);
  if (!/^[0-9a-fA-F]*$/.test(hex)) throw new Error('hex string has a non-hex digit');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Standard padded base64 of `bytes`. */
export function toBase64(bytes: Uint8Array): string {
  // Large inputs: btoa is native and fastest. Small ones (hashes, proofs, salts — most calls) are
  // written as ASCII codes into a scratch buffer and decoded once: one flat string, where building
  // it by concatenation made a chain of intermediate strings per call (most of a receipt's garbage).
  if (bytes.length > 1024) {
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000) as unknown as number[]);
    }
    return btoa(binary);
  }
  const o = base64Scratch;
  const n = bytes.length - (bytes.length % 3);
  let j = 0;
  for (let i = 0; i < n; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    o[j++] = CODES[v >> 18]!;
    o[j++] = CODES[(v >> 12) & 63]!;
    o[j++] = CODES[(v >> 6) & 63]!;
    o[j++] = CODES[v & 63]!;
  }
  const rest = bytes.length - n;
  if (rest > 0) {
    const v = (bytes[n]! << 16) | (rest === 2 ? bytes[n + 1]! << 8 : 0);
    o[j++] = CODES[v >> 18]!;
    o[j++] = CODES[(v >> 12) & 63]!;
    o[j++] = rest === 2 ? CODES[(v >> 6) & 63]! : PAD;
    o[j++] = PAD;
  }
  return latin1.decode((scratchViews[j] ??= o.subarray(0, j)));
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** The alphabet's ASCII codes, and '=': what toBase64 writes into its scratch buffer. */
const CODES = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
const PAD = 0x3d;
/** Room for the base64 of the largest input toBase64 encodes by hand (1024 bytes). */
const base64Scratch = new Uint8Array(1368);
/** Views of its first n bytes, made once per length: a view per call was most of what is left of its garbage. */
const scratchViews: Uint8Array[] = [];
// ASCII only ever reaches it, so latin1 (windows-1252 in the Encoding Standard) decodes each byte to its own character.
const latin1 = new TextDecoder('latin1');

/**
 * Decodes standard padded base64. Throws `Error` on any character outside the
 * alphabet, bad padding, or non-zero trailing bits (a non-canonical spelling).
 */
export function fromBase64(text: string): Uint8Array {
  if (text.length % 4 !== 0) throw new Error('base64 length is not a multiple of 4');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new Error('invalid base64 character');
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  // atob ignores non-zero trailing bits; re-encoding catches that spelling.
  if (toBase64(out) !== text) throw new Error('non-canonical base64');
  return out;
}

/** UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Length of the UTF-8 encoding of a well-formed string, without encoding it. */
export function utf8Length(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A surrogate pair is two UTF-16 units and four bytes; other units above 0x7f take one or two more bytes.
    if (c >= 0x80) n += c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 1 : 2;
  }
  return n;
}

/** Decodes UTF-8, throwing on malformed input. */
export function fromUtf8(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

/** Concatenates byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Byte-wise equality. Not constant-time: only for public data such as hashes. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when `text` is well-formed UTF-16 (no lone surrogates), so it has an exact UTF-8 form. */
export function isWellFormed(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return false;
    }
  }
  return true;
}
