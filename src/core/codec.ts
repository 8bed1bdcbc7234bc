/**
 * Canonical CBOR: the one byte form of every hashed or signed structure.
 *
 * Two equal values must always give the same bytes, or hashes of "the same"
 * event would differ between writer and verifier. cborg is deterministic
 * (length-first key order, which equals RFC 8949 order for string keys,
 * shortest integer forms); we pin `float64: true` so every non-integer (and
 * every integer beyond 2^53) is an 8-byte float regardless of cborg's
 * defaults. Decoding is strict and then re-encodes: any input whose
 * re-encoding differs (float widths, key order, integer widths) is refused,
 * because accepting it would give one value two hashes.
 */
import { decode, encode } from 'cborg';
import { bytesEqual, isWellFormed } from './bytes.js';
import { badRequest, TallyError } from './errors.js';
import { decodeStoredValue, type KeyNames } from './stored-value.js';

const ENCODE_OPTIONS = { float64: true } as const;
const DECODE_OPTIONS = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowNaN: false,
  allowInfinity: false,
  allowBigInt: false,
  rejectDuplicateMapKeys: true,
} as const;

/** Deepest nesting accepted in user data; bounds recursion on hostile input. */
export const MAX_DEPTH = 64;

/** A JSON value: what user data and event details may be. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A value the canonical codec accepts: JSON plus byte strings. */
export type CborValue = null | boolean | number | string | Uint8Array | CborValue[] | { [key: string]: CborValue };

/**
 * Checks that `value` is plain data with an exact canonical form.
 * Rejects undefined, functions, symbols, bigint, NaN, ±Infinity, cycles,
 * lone surrogates, non-plain objects and nesting deeper than {@link MAX_DEPTH}.
 * @param bytesAllowed whether `Uint8Array` leaves are allowed (headers: yes; user data: no, it is JSON).
 * @throws TallyError `bad_request` naming the path of the first offending value.
 */
export function assertPlain(value: unknown, path: string, bytesAllowed: boolean): void {
  const seen = new Set<object>();
  const walk = (v: unknown, at: string, depth: number): void => {
    if (depth > MAX_DEPTH) throw badRequest(`"${at}" nests deeper than ${MAX_DEPTH} levels`);
    switch (typeof v) {
      case 'string':
        if (!isWellFormed(v)) throw badRequest(`"${at}" contains a lone surrogate`);
        return;
      case 'boolean':
        return;
      case 'number':
        if (!Number.isFinite(v)) throw badRequest(`"${at}" is ${v}; only finite numbers are allowed`);
        return;
      case 'object': {
        if (v === null) return;
        if (v instanceof Uint8Array) {
          if (bytesAllowed) return;
          throw badRequest(`"${at}" is binary; data must be JSON`);
        }
        if (seen.has(v)) throw badRequest(`"${at}" is a circular reference`);
        if (Array.isArray(v)) {
          seen.add(v);
          for (let i = 0; i < v.length; i++) walk(v[i], `${at}[${i}]`, depth + 1);
          seen.delete(v);
          return;
        }
        const proto = Object.getPrototypeOf(v);
        if (proto !== Object.prototype && proto !== null) {
          throw badRequest(`"${at}" is a ${proto?.constructor?.name ?? 'non-plain object'}; only plain objects are allowed`);
        }
        seen.add(v);
        for (const [k, child] of Object.entries(v)) {
          if (!isWellFormed(k)) throw badRequest(`a key in "${at}" contains a lone surrogate`);
          walk(child, `${at}.${k}`, depth + 1);
        }
        seen.delete(v);
        return;
      }
      default:
        throw badRequest(`"${at}" is ${typeof v === 'undefined' ? 'undefined' : `a ${typeof v}`}; it has no canonical form`);
    }
  };
  walk(value, path, 0);
}

/**
 * Canonical CBOR bytes of a value the caller has already checked (or built).
 * Use {@link encodeData} for untrusted input.
 */
export function encodeCanonical(value: CborValue): Uint8Array {
  return encode(value, ENCODE_OPTIONS);
}

/**
 * Canonical CBOR bytes of user data (a JSON value).
 * @throws TallyError `bad_request` if the value is not plain JSON.
 */
export function encodeData(value: unknown, path = 'data'): Uint8Array {
  assertPlain(value, path, false);
  return encode(value, ENCODE_OPTIONS);
}

/**
 * Strictly decodes canonical CBOR: rejects indefinite lengths, undefined,
 * NaN, Infinity, bigints, duplicate keys, trailing bytes, and any input whose
 * canonical re-encoding is not byte-identical.
 * @throws TallyError `bad_request` on any of those.
 */
export function decodeCanonical(bytes: Uint8Array): CborValue {
  // The subset decoder first: it is faster, and it keeps a leading U+FEFF in a string, which cborg's
  // text decoding drops (the re-encoding check below would then refuse valid data).
  let value: unknown = decodeStoredValue(bytes);
  if (value === undefined) {
    try {
      value = decode(bytes, DECODE_OPTIONS);
    } catch (err) {
      throw badRequest(`invalid CBOR: ${(err as Error).message}`, err);
    }
  }
  if (value instanceof Map) throw badRequest('invalid CBOR: map keys must be strings');
  try {
    assertPlain(value, 'value', true);
  } catch (err) {
    throw badRequest(`invalid CBOR: ${(err as Error).message}`, err);
  }
  if (!bytesEqual(encode(value, ENCODE_OPTIONS), bytes)) throw badRequest('non-canonical CBOR: re-encoding differs');
  return value as CborValue;
}

/**
 * Decodes CBOR that Tally itself wrote canonically and stored (projection
 * records, stored payloads, stored headers): the same decoder options, but
 * without the re-encoding check (and through a fast decoder for the subset
 * the canonical encoder writes, cborg for the rest). Never use it on bytes from outside; those
 * go through {@link decodeCanonical}. `verify()` re-checks stored bytes strictly.
 * @throws TallyError `internal_error` if the bytes do not decode at all: stored
 * data that does not decode is corruption, not the caller's mistake.
 * @param keyNames key-name cache of the fast decoder (see decodeStoredValue).
 */
export function decodeTrusted(bytes: Uint8Array, keyNames?: KeyNames): CborValue {
  const fast = decodeStoredValue(bytes, keyNames);
  if (fast !== undefined) return fast;
  try {
    return decode(bytes, DECODE_OPTIONS) as CborValue;
  } catch (err) {
    throw new TallyError('internal_error', `stored data is corrupt (${(err as Error).message}); run \`tally verify\``, { cause: err });
  }
}
