/**
 * The straight-line header reader against the general decoders: on valid
 * headers it returns what they return; on corrupted bytes it accepts only
 * what the strict canonical decoder accepts as the same object, so
 * decodeHeader's verdict (header or error code) is what it was without it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCanonical } from '../../src/core/codec.js';
import { TallyError } from '../../src/core/errors.js';
import { assertHeader, decodeHeader, decodeStoredHeader, encodeHeader, OPS, type EventHeader } from '../../src/core/event.js';
import { decodeFlat, decodeStored } from '../../src/core/flat-record.js';
import { readHeader } from '../../src/core/header-reader.js';

const hash = fc.uint8Array({ minLength: 32, maxLength: 32 });
const text = fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }), fc.constantFrom('admin', 'user:000001', 'é', '日本'));
const safeInt = fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 70_000 }), fc.maxSafeNat());

const header: fc.Arbitrary<EventHeader> = fc.record({
  fmt: fc.constant(1),
  journal: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
  seq: safeInt,
  time: safeInt,
  op: fc.constantFrom(...OPS),
  key: text,
  prev: hash,
  keyPrev: fc.option(hash, { nil: null }),
  payload: fc.option(hash, { nil: null }),
  v: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  validFrom: safeInt,
  actor: fc.oneof(fc.constant('admin'), text),
});

/** decodeHeader as it was before the reader: canonical flat read or strict decode, then the header's rules. */
function generalDecodeHeader(bytes: Uint8Array): EventHeader {
  const value = decodeFlat(bytes, true) ?? decodeCanonical(bytes);
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) throw new TallyError('bad_request', 'not a map');
  assertHeader(value as unknown as EventHeader);
  return value as unknown as EventHeader;
}

function verdict(f: () => EventHeader): { ok: true; h: EventHeader } | { ok: false; code: string } {
  try {
    return { ok: true, h: f() };
  } catch (err) {
    return { ok: false, code: err instanceof TallyError ? err.code : `not a TallyError: ${String(err)}` };
  }
}

/** One corruption of `bytes`: a flipped bit, a changed byte, a cut, an insertion or a removal. */
const corrupted = (bytes: Uint8Array) =>
  fc.oneof(
    fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 7 })).map(([i, bit]) => {
      const b = bytes.slice();
      b[i]! ^= 1 << bit;
      return b;
    }),
    fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })).map(([i, v]) => {
      const b = bytes.slice();
      b[i] = v;
      return b;
    }),
    fc.nat(bytes.length).map((n) => bytes.slice(0, n)),
    fc.tuple(fc.nat(bytes.length), fc.integer({ min: 0, max: 255 })).map(([i, v]) => Uint8Array.of(...bytes.subarray(0, i), v, ...bytes.subarray(i))),
    fc.nat(bytes.length - 1).map((i) => Uint8Array.of(...bytes.subarray(0, i), ...bytes.subarray(i + 1))),
  );

describe('readHeader', () => {
  it('reads every valid header as the general decoders do', () => {
    fc.assert(
      fc.property(header, (h) => {
        const bytes = encodeHeader(h);
        const fast = readHeader(bytes);
        expect(fast).toEqual(h);
        expect(fast).toEqual(decodeStored(bytes));
        expect(decodeHeader(bytes)).toEqual(generalDecodeHeader(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('accepts a corrupted header only when the strict decoder reads the same map, and leaves decodeHeader\'s verdict unchanged', () => {
    let accepted = 0;
    fc.assert(
      fc.property(
        header.chain((h) => corrupted(encodeHeader(h))),
        (bytes) => {
          const fast = readHeader(bytes);
          if (fast) {
            accepted++;
            expect(decodeCanonical(bytes)).toEqual(fast);
          }
          expect(verdict(() => decodeHeader(bytes))).toEqual(verdict(() => generalDecodeHeader(bytes)));
        },
      ),
      { numRuns: 3000 },
    );
    // Some corruptions only change a value (a digit of the seq, a letter of the key): those must still be read.
    expect(accepted).toBeGreaterThan(0);
  });

  it('copies byte fields out of a reusable buffer', () => {
    const h: EventHeader = { fmt: 1, journal: 'acme', seq: 3, time: 5, op: 'set', key: 'k', prev: new Uint8Array(32).fill(1), keyPrev: new Uint8Array(32).fill(2), payload: new Uint8Array(32).fill(3), v: 1, validFrom: 5, actor: 'admin' };
    const buf = Buffer.from(encodeHeader(h));
    const read = decodeStoredHeader(buf);
    buf.fill(0);
    expect(read).toEqual(h);
  });

  it('does not carry a repeated text over to a header whose text differs', () => {
    const base: EventHeader = { fmt: 1, journal: 'acme', seq: 0, time: 1, op: 'set', key: 'a', prev: new Uint8Array(32), keyPrev: null, payload: null, v: 1, validFrom: 1, actor: 'alice' };
    for (const h of [base, { ...base, actor: 'alicia', journal: 'acme2', op: 'log' as const }, { ...base, actor: 'alic' }, base]) {
      expect(readHeader(encodeHeader(h))).toEqual(h);
    }
  });
});
