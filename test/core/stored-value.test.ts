import { decode, encode } from 'cborg';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utf8Length } from '../../src/core/bytes.js';
import { decodeTrusted, encodeCanonical, type CborValue } from '../../src/core/codec.js';
import { decodeStoredValue } from '../../src/core/stored-value.js';

const cborgDecode = (b: Uint8Array): unknown => decode(b, { strict: true, allowIndefinite: false, allowUndefined: false, allowNaN: false, allowInfinity: false, allowBigInt: false, rejectDuplicateMapKeys: true });

/** JSON values as user data holds them, with floats, deep nesting and non-ASCII text. */
const data = fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.parse(JSON.stringify(v)) as CborValue);
const withBytes = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ unit: 'grapheme' }),
    fc.uint8Array({ maxLength: 40 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 8 }), tie('value'), { maxKeys: 5 }),
  ),
})).value as fc.Arbitrary<CborValue>;

describe('decodeStoredValue', () => {
  it('decodes every canonical encoding of user data exactly as cborg does', () => {
    fc.assert(
      fc.property(data, (v) => {
        const bytes = encodeCanonical(v);
        const fast = decodeStoredValue(bytes);
        if (fast === undefined) {
          // The one case left to cborg in JSON data: a "__proto__" key, decoded as cborg decodes it.
          expect(JSON.stringify(v)).toContain('__proto__');
          return;
        }
        expect(fast).toEqual(cborgDecode(bytes));
        expect(fast).toEqual(v);
      }),
      { numRuns: 2000 },
    );
  });

  it('decodes values with byte strings, floats and long text as cborg does, and copies bytes', () => {
    fc.assert(
      fc.property(withBytes, (v) => {
        const bytes = encodeCanonical(v);
        const fast = decodeStoredValue(bytes);
        if (fast === undefined) return; // left to cborg (for instance a "__proto__" key)
        expect(fast).toEqual(cborgDecode(bytes));
        expect(encodeCanonical(fast)).toEqual(bytes);
      }),
      { numRuns: 2000 },
    );
    const inner = new Uint8Array([1, 2, 3]);
    const bytes = encodeCanonical({ b: inner });
    const out = decodeStoredValue(bytes) as { b: Uint8Array };
    bytes[bytes.length - 1] = 9;
    expect([...out.b]).toEqual([1, 2, 3]);
  });

  it('on arbitrary bytes either leaves the input to cborg or agrees with it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const fast = decodeStoredValue(bytes);
        if (fast === undefined) return;
        expect(fast).toEqual(cborgDecode(bytes));
      }),
      { numRuns: 20_000 },
    );
  });

  it('leaves what is outside the canonical subset to cborg: tags, half floats, NaN, indefinite lengths, big integers, duplicate and __proto__ keys, trailing bytes', () => {
    const cases: [string, number[]][] = [
      ['tag', [0xc1, 0x01]],
      ['float16', [0xf9, 0x3c, 0x00]],
      ['float32', [0xfa, 0x3f, 0x80, 0x00, 0x00]],
      ['NaN', [0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]],
      ['Infinity', [0xfb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0]],
      ['undefined', [0xf7]],
      ['indefinite array', [0x9f, 0x01, 0xff]],
      ['2^64-1', [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
      ['duplicate key', [0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]],
      ['__proto__ key', [0xa1, 0x69, ...Buffer.from('__proto__'), 0x01]],
      ['trailing byte', [0x01, 0x01]],
      ['truncated', [0x82, 0x01]],
      ['bad UTF-8', [0x62, 0xc3, 0x28]],
      ['integer map key', [0xa1, 0x01, 0x01]],
    ];
    for (const [what, bytes] of cases) expect(decodeStoredValue(new Uint8Array(bytes)), what).toBeUndefined();
    // decodeTrusted keeps cborg's answer on them: a value where cborg has one, internal_error where it refuses.
    expect(decodeTrusted(new Uint8Array([0xf9, 0x3c, 0x00]))).toBe(1);
    expect(() => decodeTrusted(new Uint8Array([0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]))).toThrow(expect.objectContaining({ code: 'internal_error' }));
  });

  it('decodes 200 levels of nesting through cborg rather than recursing further itself', () => {
    let v: CborValue = 1;
    for (let i = 0; i < 200; i++) v = [v];
    const bytes = encode(v);
    expect(decodeStoredValue(bytes)).toBeUndefined();
    expect(decodeTrusted(bytes)).toEqual(v);
  });
});

describe('decodeStoredValue in canonical mode', () => {
  /** Canonical encodings with one byte changed, inserted or dropped: mostly non-canonical or malformed. */
  const mutated = fc.tuple(withBytes, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'insert', 'drop', 'swap')).map(([v, at, b, how]) => {
    const bytes = encodeCanonical(v);
    const i = bytes.length === 0 ? 0 : at % bytes.length;
    if (how === 'flip') bytes[i] = b;
    if (how === 'insert') return Uint8Array.from([...bytes.subarray(0, i), b, ...bytes.subarray(i)]);
    if (how === 'drop') return Uint8Array.from([...bytes.subarray(0, i), ...bytes.subarray(i + 1)]);
    if (how === 'swap' && i + 1 < bytes.length) [bytes[i], bytes[i + 1]] = [bytes[i + 1]!, bytes[i]!];
    return bytes;
  });

  it('accepts nothing whose canonical re-encoding differs: random bytes and mutated encodings', () => {
    const sound = (bytes: Uint8Array) => {
      const v = decodeStoredValue(bytes, undefined, true);
      if (v !== undefined) expect([...encodeCanonical(v)], Buffer.from(bytes).toString('hex')).toEqual([...bytes]);
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), sound), { numRuns: 20_000 });
    fc.assert(fc.property(mutated, sound), { numRuns: 20_000 });
  });

  it('accepts the canonical encoding of every value without floats', () => {
    fc.assert(
      fc.property(withBytes, (v) => {
        const bytes = encodeCanonical(v);
        const got = decodeStoredValue(bytes, undefined, true);
        const floats = (x: unknown): boolean =>
          typeof x === 'number' ? !Number.isSafeInteger(x) || Object.is(x, -0) : x !== null && typeof x === 'object' && !(x instanceof Uint8Array) && Object.values(x).some(floats);
        // Floats are left to the re-encoding check, and "__proto__" keys to cborg.
        if (got === undefined) expect(floats(v) || JSON.stringify(v).includes('__proto__'), Buffer.from(bytes).toString('hex')).toBe(true);
        else expect([...encodeCanonical(got)]).toEqual([...bytes]);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses keys out of canonical order, an integral float and a long head, which the lenient mode reads', () => {
    const cases: [string, string][] = [
      ['keys by length then bytes: "bb" before "a"', 'a2' + '626262' + '01' + '6161' + '02'],
      ['keys bytewise out of order', 'a2' + '6162' + '01' + '6161' + '02'],
      ['1.0 as a float64', 'a1' + '6161' + 'fb3ff0000000000000'],
      ['0 in a two-byte head', 'a1' + '6161' + '1800'],
    ];
    for (const [name, hex] of cases) {
      const bytes = Uint8Array.from(Buffer.from(hex, 'hex'));
      expect(decodeStoredValue(bytes, undefined, true), name).toBeUndefined();
    }
    expect(decodeStoredValue(Uint8Array.from(Buffer.from('a2626262016161' + '02', 'hex')))).toEqual({ bb: 1, a: 2 });
  });
});

describe('text that starts with U+FEFF', () => {
  it('survives every decoder, so a receipt of such data verifies (cborg alone drops the mark)', async () => {
    const { decodeCanonical, encodeData } = await import('../../src/core/codec.js');
    const bytes = encodeData({ name: '\uFEFFhello', list: ['\uFEFF'] });
    const want = { name: '\uFEFFhello', list: ['\uFEFF'] };
    expect(decodeStoredValue(bytes)).toEqual(want);
    expect(decodeTrusted(bytes)).toEqual(want);
    expect(decodeCanonical(bytes)).toEqual(want);
  });

  it('leaves -2^53 (not a safe integer) to cborg, which refuses it', () => {
    const bytes = new Uint8Array([0x3b, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(decodeStoredValue(bytes)).toBeUndefined();
    expect(() => decodeTrusted(bytes)).toThrow(expect.objectContaining({ code: 'internal_error' }));
    expect(decodeStoredValue(new Uint8Array([0x3b, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]))).toBe(-(2 ** 53) + 1);
  });
});

describe('utf8Length', () => {
  it('equals the length of the UTF-8 encoding of any well-formed string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(utf8Length(s)).toBe(new TextEncoder().encode(s).length);
      }),
      { numRuns: 5000 },
    );
  });
});
