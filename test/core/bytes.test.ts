/**
 * Byte conversions, with Node's Buffer and TextEncoder/TextDecoder as oracles.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bytesEqual,
  concatBytes,
  fromBase64,
  fromHex,
  fromUtf8,
  isWellFormed,
  toBase64,
  toHex,
  utf8,
} from '../../src/core/bytes.js';

const B64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Canonical standard padded base64, decided independently: shape by regex, value by Buffer. */
function isCanonicalBase64(s: string): boolean {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) return false;
  return Buffer.from(s, 'base64').toString('base64') === s;
}

/** Strings of UTF-16 code units, lone surrogates included. */
const utf16 = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 20 });
/** Strings biased towards surrogates. */
const surrogateHeavy = fc.string({
  unit: fc.oneof(
    fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
    fc.constantFrom('a', '\u00e9', '\ud83d\ude00'),
  ),
  maxLength: 8,
});

describe('hex', () => {
  it('toHex matches Buffer and fromHex inverts it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        const h = toHex(b);
        expect(h).toBe(Buffer.from(b).toString('hex'));
        expect(fromHex(h)).toEqual(b);
      }),
      { numRuns: 300 },
    );
  });

  it('fromHex accepts upper-case digits', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 50 }), (b) => {
        expect(fromHex(Buffer.from(b).toString('hex').toUpperCase())).toEqual(b);
      }),
    );
  });

  it.each([
    ['an odd length', 'abc'],
    ['a non-hex digit', 'zz'],
    ['a 0x prefix', '0x12'],
    ['a space', ' 12'],
    ['a sign', '-1'],
    ['a non-ASCII digit', '\u0661\u0661'],
  ])('fromHex rejects %s', (_what, s) => {
    expect(() => fromHex(s)).toThrow();
  });

  it('fromHex of the empty string is empty', () => {
    expect(fromHex('')).toEqual(new Uint8Array(0));
  });
});

describe('base64', () => {
  it('toBase64 matches Buffer and fromBase64 inverts it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (b) => {
        const s = toBase64(b);
        expect(s).toBe(Buffer.from(b).toString('base64'));
        const back = fromBase64(s);
        expect(back).toEqual(b);
        expect(back).toBeInstanceOf(Uint8Array);
      }),
      { numRuns: 300 },
    );
    // Every padding case, on both sides of the 1 KiB switch to btoa.
    for (const n of [0, 1, 2, 3, 4, 5, 1021, 1022, 1023, 1024, 1025, 1026]) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
      expect(toBase64(b)).toBe(Buffer.from(b).toString('base64'));
    }
  });

  it('fromBase64 accepts a string exactly when it is canonical standard padded base64', () => {
    const chars = fc.constantFrom(...(B64_ALPHABET + '=').split(''));
    const candidate = fc.oneof(
      fc.string({ unit: chars, maxLength: 12 }),
      // near-canonical strings: a real encoding with one character changed
      fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 10 }), fc.nat(), chars).map(([b, i, c]) => {
        const s = Buffer.from(b).toString('base64');
        const at = i % s.length;
        return s.slice(0, at) + c + s.slice(at + 1);
      }),
    );
    fc.assert(
      fc.property(candidate, (s) => {
        let accepted: Uint8Array | undefined;
        try {
          accepted = fromBase64(s);
        } catch {
          accepted = undefined;
        }
        expect(accepted !== undefined).toBe(isCanonicalBase64(s));
        if (accepted) expect(accepted).toEqual(new Uint8Array(Buffer.from(s, 'base64')));
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['non-zero trailing bits with two pads (QR==)', 'QR=='],
    ['non-zero trailing bits with one pad (QUJ=)', 'QUJ='],
    ['non-zero trailing bits in a longer string', 'AAAAQR=='],
    ['a character outside the alphabet', 'QQ=!'],
    ['a space', 'Q Q='],
    ['URL-safe characters', 'QQ-_'],
    ['a non-ASCII character', 'QQ\u00e9='],
    ['a length of 1', 'Q'],
    ['a length of 3', 'QQ='],
    ['a length of 5', 'QUFBQ'],
    ['missing padding', 'QQ'],
    ['padding in the middle', 'Q=Q='],
    ['a padding group before data', 'QQ==QUFB'],
    ['only padding', '===='],
    ['three pads', 'Q==='],
    ['a newline', 'QUFB\n'],
  ])('fromBase64 rejects %s', (_what, s) => {
    expect(() => fromBase64(s)).toThrow();
  });

  it('fromBase64 accepts the canonical spellings of those values', () => {
    expect(fromBase64('QQ==')).toEqual(Uint8Array.of(0x41));
    expect(fromBase64('QUI=')).toEqual(Uint8Array.of(0x41, 0x42));
    expect(fromBase64('')).toEqual(new Uint8Array(0));
    expect(fromBase64('+/+/')).toEqual(Uint8Array.of(0xfb, 0xff, 0xbf));
  });
});

describe('UTF-8 and well-formedness', () => {
  it('isWellFormed agrees with a TextEncoder/TextDecoder round trip', () => {
    // ignoreBOM: a default TextDecoder drops a leading U+FEFF, which would make the oracle call "\uFEFF" ill-formed.
    const oracle = (s: string): boolean => new TextDecoder('utf-8', { ignoreBOM: true }).decode(new TextEncoder().encode(s)) === s;
    fc.assert(
      fc.property(fc.oneof(utf16, surrogateHeavy), (s) => {
        expect(isWellFormed(s)).toBe(oracle(s));
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['a leading byte order mark', '\uFEFFabc', true],
    ['a lone high surrogate', '\uD800', false],
    ['a lone low surrogate', '\uDC00', false],
    ['a high surrogate at the end', 'abc\uD83D', false],
    ['a low surrogate at the start', '\uDE00abc', false],
    ['a reversed pair', '\uDE00\uD83D', false],
    ['two high surrogates', '\uD83D\uD83D\uDE00', false],
    ['a proper pair', '\uD83D\uDE00', true],
    ['the empty string', '', true],
    ['BMP text', 'caf\u00e9 \u4e2d\u6587', true],
  ])('isWellFormed is right for %s', (_what, s, want) => {
    expect(isWellFormed(s)).toBe(want);
  });

  it('utf8 and fromUtf8 round-trip well-formed strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 30 }).filter(isWellFormed), (s) => {
        expect(utf8(s)).toEqual(new Uint8Array(Buffer.from(s, 'utf8')));
        expect(fromUtf8(utf8(s))).toBe(s);
      }),
    );
  });

  it('fromUtf8 throws on malformed UTF-8', () => {
    for (const bad of [[0xff], [0xc3], [0xc0, 0xaf], [0xed, 0xa0, 0x80]]) {
      expect(() => fromUtf8(Uint8Array.from(bad))).toThrow();
    }
  });
});

describe('concatBytes and bytesEqual', () => {
  it('concatBytes matches Buffer.concat', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 10 }), { maxLength: 5 }), (parts) => {
        expect(concatBytes(...parts)).toEqual(new Uint8Array(Buffer.concat(parts)));
      }),
    );
  });

  it('bytesEqual matches Buffer.equals', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4 }), fc.uint8Array({ maxLength: 4 }), (a, b) => {
        expect(bytesEqual(a, b)).toBe(Buffer.from(a).equals(Buffer.from(b)));
        expect(bytesEqual(a, a.slice())).toBe(true);
      }),
    );
  });
});
