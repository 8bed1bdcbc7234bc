import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCanonical } from '../../src/core/codec.js';
import { decodeCanonical } from '../../src/core/codec.js';
import { decodeFlat, encodeFlat } from '../../src/core/flat-record.js';

describe('encodeFlat', () => {
  it('writes exactly the bytes of the general canonical encoder for flat records', () => {
    const value = fc.oneof(
      fc.maxSafeInteger(),
      fc.integer({ min: -70000, max: 70000 }),
      fc.constantFrom(0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -1, -24, -25, -256, -257, -(2 ** 32), Number.MIN_SAFE_INTEGER),
      fc.boolean(),
      fc.constant(null),
      fc.string(),
      fc.uint8Array({ maxLength: 300 }),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
    );
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 12 }), value, { maxKeys: 12 }), (rec) => {
        expect(Buffer.from(encodeFlat(rec)).toString('hex')).toBe(Buffer.from(encodeCanonical(rec)).toString('hex'));
      }),
      { numRuns: 500 },
    );
  });

  it('reads back every flat record it writes, with byte strings as copies', () => {
    const value = fc.oneof(fc.maxSafeInteger(), fc.boolean(), fc.constant(null), fc.string(), fc.uint8Array({ maxLength: 300 }));
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 12 }).filter((k) => k !== '__proto__'), value, { maxKeys: 12 }), (rec) => {
        const bytes = encodeFlat(rec);
        const back = decodeFlat(bytes)!;
        expect(back).toEqual(rec);
        for (const v of Object.values(back)) if (v instanceof Uint8Array && v.length > 0) expect(v.buffer).not.toBe(bytes.buffer);
      }),
      { numRuns: 500 },
    );
  });

  it('returns undefined for anything but a flat map, and agrees with the strict decoder on what it accepts', () => {
    for (const v of [1, 'x', [1], { a: [1] }, { a: { b: 1 } }, { a: 1.5 }]) expect(decodeFlat(encodeCanonical(v as never))).toBeUndefined();
    expect(decodeFlat(Uint8Array.of(0xa1, 0x61))).toBeUndefined(); // truncated
    expect(decodeFlat(Uint8Array.of(0xa1, 0x61, 0x61, 0x01, 0x00))).toBeUndefined(); // trailing byte
    expect(decodeFlat(Uint8Array.of(0xa1, 0x61, 0xff, 0x01))).toBeUndefined(); // key is not UTF-8
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const flat = decodeFlat(bytes);
        let strict: unknown;
        try {
          strict = decodeCanonical(bytes);
        } catch {
          strict = undefined;
        }
        // Whatever is both flat and canonical decodes to the same value either way.
        if (flat !== undefined && strict !== undefined) expect(flat).toEqual(strict);
      }),
      { numRuns: 2000 },
    );
  });
});
