/**
 * Canonical CBOR codec: round trips, float and integer widths, key order
 * (checked against a tiny independent encoder), refusal of non-JSON input,
 * and strict refusal of every non-canonical spelling.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCanonical, encodeCanonical, encodeData, MAX_DEPTH } from '../../src/core/codec.js';
import { TallyError } from '../../src/core/errors.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHexStr = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** JSON normalisation: turns -0 into 0 and null-prototype objects into plain ones. */
const normalise = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

/** Runs `f` and returns the TallyError code it threw, or 'no error' / the other error's name. */
function errorCode(f: () => unknown): string {
  try {
    f();
    return 'no error';
  } catch (err) {
    return err instanceof TallyError ? err.code : `${(err as Error)?.name ?? typeof err}: ${(err as Error)?.message}`;
  }
}

/** True when `s` has an exact UTF-8 form (oracle independent of src/core/bytes). */
const wellFormed = (s: string): boolean => new TextDecoder().decode(new TextEncoder().encode(s)) === s;

describe('encodeData / decodeCanonical round trip', () => {
  it('decodes every JSON value to a deep-equal value and re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const bytes = encodeData(v);
        const back = decodeCanonical(bytes);
        expect(back).toEqual(normalise(v));
        expect(encodeCanonical(back)).toEqual(bytes);
        expect(encodeData(normalise(v))).toEqual(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps non-integer numbers as floats and large numbers exact', () => {
    for (const v of [1.5, -1.5, 0.1, 1e20, -1e20, 2 ** 53, 1.7976931348623157e308, 5e-324, Number.MIN_VALUE, Number.EPSILON]) {
      const back = decodeCanonical(encodeData(v));
      expect(back).toBe(v);
    }
  });

  it('encodes -0 as the integer 0', () => {
    expect(toHexStr(encodeData(-0))).toBe('00');
    expect(Object.is(decodeCanonical(encodeData(-0)), 0)).toBe(true);
  });

  it('round-trips keys that look like prototype properties', () => {
    const v = JSON.parse('{"__proto__":{"x":1},"constructor":2,"toString":"s"}') as unknown;
    const back = decodeCanonical(encodeData(v));
    expect(back).toEqual(v);
    expect(Object.keys(back as object).sort()).toEqual(['__proto__', 'constructor', 'toString']);
    expect(Object.getPrototypeOf(back)).not.toEqual({ x: 1 });
  });
});

describe('canonical byte forms', () => {
  it('encodes non-integers as 8-byte float64 (0xfb)', () => {
    expect(toHexStr(encodeData(1.5))).toBe('fb3ff8000000000000');
    expect(toHexStr(encodeData(-0.5))).toBe('fbbfe0000000000000');
    expect(toHexStr(encodeData(1e20))).toBe('fb4415af1d78b58c40');
  });

  it('encodes integers beyond 2^53 as float64', () => {
    expect(toHexStr(encodeData(2 ** 53))).toBe('fb4340000000000000');
    expect(toHexStr(encodeData(-(2 ** 53)))).toBe('fbc340000000000000');
  });

  it('encodes safe integers in their shortest form', () => {
    const cases: [number, string][] = [
      [0, '00'],
      [23, '17'],
      [24, '1818'],
      [255, '18ff'],
      [256, '190100'],
      [65535, '19ffff'],
      [65536, '1a00010000'],
      [2 ** 32 - 1, '1affffffff'],
      [2 ** 32, '1b0000000100000000'],
      [2 ** 53 - 1, '1b001fffffffffffff'],
      [-1, '20'],
      [-24, '37'],
      [-25, '3818'],
      [-(2 ** 53 - 1), '3b001ffffffffffffe'],
    ];
    for (const [n, h] of cases) {
      expect(toHexStr(encodeData(n))).toBe(h);
      expect(decodeCanonical(hex(h))).toBe(n);
    }
  });

  it('encodes null, booleans, strings and arrays in their RFC 8949 forms', () => {
    expect(toHexStr(encodeData(null))).toBe('f6');
    expect(toHexStr(encodeData(false))).toBe('f4');
    expect(toHexStr(encodeData(true))).toBe('f5');
    expect(toHexStr(encodeData(''))).toBe('60');
    expect(toHexStr(encodeData('a'))).toBe('6161');
    expect(toHexStr(encodeData('\u00fc'))).toBe('62c3bc');
    expect(toHexStr(encodeData([1, [2, 3]]))).toBe('8201820203');
    expect(toHexStr(encodeData({}))).toBe('a0');
  });

  it('sorts map keys canonically regardless of insertion order', () => {
    expect(encodeData({ b: 1, a: 2 })).toEqual(encodeData({ a: 2, b: 1 }));
    expect(toHexStr(encodeData({ b: 1, a: 2 }))).toBe('a2616102616201');
    // Shorter keys first (bytewise order of the encoded key), then bytewise.
    expect(toHexStr(encodeData({ aa: 1, b: 2 }))).toBe('a261620262616101');
  });

  it('orders keys as the bytewise order of their encoded form (RFC 8949 §4.2.1), checked against an independent encoder', () => {
    const textHeader = (len: number): number[] =>
      len < 24 ? [0x60 + len] : len < 256 ? [0x78, len] : [0x79, len >> 8, len & 255];
    const encodeKey = (k: string): Uint8Array => {
      const u = new TextEncoder().encode(k);
      return Uint8Array.of(...textHeader(u.length), ...u);
    };
    const cmp = (a: Uint8Array, b: Uint8Array): number => {
      for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
      return a.length - b.length;
    };
    const keyArb = fc.string({ unit: 'binary', maxLength: 30 }).filter(wellFormed);
    fc.assert(
      fc.property(fc.dictionary(keyArb, fc.integer({ min: 0, max: 23 }), { maxKeys: 23 }), (obj) => {
        const entries = Object.entries(obj).map(([k, v]) => [encodeKey(k), v] as const);
        entries.sort((x, y) => cmp(x[0], y[0]));
        const expected = [0xa0 + entries.length];
        for (const [k, v] of entries) expected.push(...k, v);
        expect(toHexStr(encodeData(obj))).toBe(toHexStr(Uint8Array.from(expected)));
      }),
      { numRuns: 300 },
    );
  });

  it('accepts nesting exactly MAX_DEPTH levels deep', () => {
    let v: unknown = 1;
    for (let i = 0; i < MAX_DEPTH; i++) v = i % 2 === 0 ? [v] : { k: v };
    const bytes = encodeData(v);
    expect(decodeCanonical(bytes)).toEqual(v);
  });
});

describe('encodeData refuses values without a canonical JSON form', () => {
  const cycle: Record<string, unknown> = { a: 1 };
  cycle['self'] = cycle;
  const arrayCycle: unknown[] = [1];
  arrayCycle.push(arrayCycle);
  const loneKey: Record<string, unknown> = {};
  loneKey['\uD800'] = 1;
  let deep: unknown = 1;
  for (let i = 0; i <= MAX_DEPTH; i++) deep = [deep];
  let deepObj: unknown = 1;
  for (let i = 0; i <= MAX_DEPTH; i++) deepObj = { k: deepObj };
  class Point {
    x = 1;
  }

  const cases: [string, unknown][] = [
    ['undefined', undefined],
    ['a function', () => 1],
    ['a Symbol', Symbol('s')],
    ['a bigint', 10n],
    ['NaN', Number.NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['an object cycle', cycle],
    ['an array cycle', arrayCycle],
    ['a Date', new Date(0)],
    ['a Map', new Map([['a', 1]])],
    ['a Set', new Set([1])],
    ['a class instance', new Point()],
    ['a Uint8Array', new Uint8Array(1)],
    ['a lone high surrogate string', '\uD800'],
    ['a lone low surrogate string', 'a\uDC00b'],
    ['an object key with a lone surrogate', loneKey],
    ['undefined inside an array', [1, undefined]],
    ['a hole in an array', [1, , 3]],
    ['undefined as an object value', { a: undefined }],
    ['NaN nested in an object', { a: { b: [Number.NaN] } }],
    [`arrays nested deeper than MAX_DEPTH (${MAX_DEPTH})`, deep],
    [`objects nested deeper than MAX_DEPTH (${MAX_DEPTH})`, deepObj],
  ];

  it.each(cases)('rejects %s with bad_request', (_name, value) => {
    expect(errorCode(() => encodeData(value))).toBe('bad_request');
  });

  it('accepts a shared (non-cyclic) sub-object referenced twice', () => {
    const shared = { x: 1 };
    expect(decodeCanonical(encodeData({ a: shared, b: shared }))).toEqual({ a: { x: 1 }, b: { x: 1 } });
  });
});

describe('decodeCanonical refuses non-canonical or invalid CBOR', () => {
  const cases: [string, string][] = [
    ['a half-float 1.5', 'f93e00'],
    ['a float32 1.5', 'fa3fc00000'],
    ['a float64 holding an integer (1.0)', 'fb3ff0000000000000'],
    ['a float64 -0', 'fb8000000000000000'],
    ['an integer in a longer form than needed (0x18 0x05)', '1805'],
    ['a 16-bit form of a small integer', '190005'],
    ['a negative integer in a longer form', '3800'],
    ['a 64-bit integer beyond 2^53', '1b0020000000000001'],
    ['a negative 64-bit integer beyond -2^53', '3b0020000000000000'],
    ['a text-string length in a longer form', '780161'],
    ['unsorted map keys {"b":1,"a":2}', 'a2 6162 01 6161 02'],
    ['map keys in lexical rather than length-first order {"aa":1,"b":2}', 'a2 626161 01 6162 02'],
    ['duplicate map keys', 'a2 6161 01 6161 02'],
    ['an indefinite-length array', '9f 01 02 ff'],
    ['an indefinite-length map', 'bf 6161 01 ff'],
    ['an indefinite-length text string', '7f 6161 ff'],
    ['trailing bytes', '01 00'],
    ['undefined (0xf7)', 'f7'],
    ['a float64 NaN', 'fb7ff8000000000000'],
    ['a half-float NaN', 'f97e00'],
    ['a float64 Infinity', 'fb7ff0000000000000'],
    ['a float64 -Infinity', 'fbfff0000000000000'],
    ['a map with an integer key', 'a1 01 01'],
    ['a map with a byte-string key', 'a1 4161 01'],
    ['a tag', 'c1 01'],
    ['a bignum tag', 'c2 41 01'],
    ['an unassigned simple value', 'e0'],
    ['a two-byte simple value', 'f820'],
    ['invalid UTF-8 in a text string', '62 c328'],
    ['a UTF-8-encoded lone surrogate', '63 eda080'],
    ['a truncated text string', '62 61'],
    ['a truncated array', '82 01'],
    ['empty input', ''],
  ];

  it.each(cases)('rejects %s with bad_request', (_name, h) => {
    expect(errorCode(() => decodeCanonical(hex(h)))).toBe('bad_request');
  });

  it('accepts the canonical spellings of the same values', () => {
    expect(decodeCanonical(hex('fb3ff8000000000000'))).toBe(1.5);
    expect(decodeCanonical(hex('05'))).toBe(5);
    expect(decodeCanonical(hex('a2 6161 02 6162 01'))).toEqual({ a: 2, b: 1 });
    expect(decodeCanonical(hex('a2 6162 02 626161 01'))).toEqual({ aa: 1, b: 2 });
    expect(decodeCanonical(hex('82 01 02'))).toEqual([1, 2]);
  });

  it('rejects very deep nesting with bad_request instead of overflowing the stack', () => {
    const bytes = new Uint8Array(100_001).fill(0x81);
    bytes[100_000] = 0x01;
    expect(errorCode(() => decodeCanonical(bytes))).toBe('bad_request');
    const justTooDeep = new Uint8Array(MAX_DEPTH + 2).fill(0x81);
    justTooDeep[MAX_DEPTH + 1] = 0x01;
    expect(errorCode(() => decodeCanonical(justTooDeep))).toBe('bad_request');
  });

  it('on random bytes either throws TallyError bad_request or returns a value that re-encodes identically', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        let value: unknown;
        try {
          value = decodeCanonical(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(TallyError);
          expect((err as TallyError).code).toBe('bad_request');
          return;
        }
        expect(toHexStr(encodeCanonical(value as never))).toBe(toHexStr(bytes));
      }),
      { numRuns: 3000 },
    );
  });

  it('on mutated canonical encodings either throws TallyError bad_request or returns a value that re-encodes identically', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.nat(), fc.integer({ min: 0, max: 255 }), (v, pos, byte) => {
        const bytes = encodeData(v).slice();
        bytes[pos % bytes.length] = byte;
        let value: unknown;
        try {
          value = decodeCanonical(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(TallyError);
          expect((err as TallyError).code).toBe('bad_request');
          return;
        }
        expect(toHexStr(encodeCanonical(value as never))).toBe(toHexStr(bytes));
      }),
      { numRuns: 1000 },
    );
  });
});
