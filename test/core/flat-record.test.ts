import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeCanonical } from '../../src/core/codec.js';
import { encodeFlat } from '../../src/core/flat-record.js';

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
});
