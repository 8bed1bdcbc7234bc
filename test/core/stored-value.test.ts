import { decode, encode } from 'cborg';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utf8Length } from '../../src/core/bytes.js';
import { decodeCanonical, decodeTrusted, encodeCanonical, type CborValue } from '../../src/core/codec.js';
import { TallyError } from '../../src/core/errors.js';
import { assertHeader, decodeHeader, decodeStoredHeader, encodeHeader, OPS, type EventHeader } from '../../src/core/event.js';
import { decodeStored } from '../../src/core/flat-record.js';
import { decodeStoredValue, layoutReader, peekInt, readHeader } from '../../src/core/stored-value.js';

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

describe('peekInt', () => {
  const flatValue = fc.oneof(fc.constant(null), fc.boolean(), fc.maxSafeInteger(), fc.string({ unit: 'grapheme', maxLength: 30 }), fc.uint8Array({ maxLength: 40 }));
  const names = fc.constantFrom('h', 'f', 'l', 'data', 'hh', 'exists', 'é');

  it('finds the integer under a key of a stored flat record exactly where a full decode does', () => {
    fc.assert(
      fc.property(fc.dictionary(names, flatValue, { maxKeys: 7 }), names.filter((n) => n !== 'é'), (record, name) => {
        const bytes = encodeCanonical(record as CborValue);
        const full = decodeStored(bytes) as Record<string, unknown>;
        const v = Object.hasOwn(full, name) ? full[name] : undefined;
        expect(peekInt(bytes, name)).toBe(typeof v === 'number' ? v : undefined);
      }),
      { numRuns: 500 },
    );
  });

  it('gives up on anything that is not a flat map, or a value that is no integer', () => {
    for (const v of [[1, 2], 7, 'h', { h: [1] }, { h: 1.5 }, { h: true }, { a: { h: 1 }, h: 2 }]) expect(peekInt(encodeCanonical(v as CborValue), 'h')).toBeUndefined();
    expect(peekInt(Uint8Array.of(0xa1, 0x61), 'h')).toBeUndefined(); // truncated
  });
});

describe('layoutReader', () => {
  const fields = { exists: 'bool', f: 'int', since: 'int', data: 'bytes', op: 'text', validFrom: 'int' } as const;
  // Built in canonical key order, as the general decoder builds it; values come in the order `fields` lists them.
  const read = layoutReader(fields, (x) => ({ f: x[1], op: x[4], data: x[3], since: x[2], exists: x[0], validFrom: x[5] }));
  const record = fc.record({
    exists: fc.boolean(),
    f: fc.maxSafeInteger(),
    since: fc.maxSafeInteger(),
    data: fc.uint8Array({ maxLength: 60 }),
    op: fc.string({ unit: 'grapheme', maxLength: 12 }),
    validFrom: fc.integer({ min: -1, max: 2 ** 45 }),
  });

  it('reads a record of its layout exactly as the general decoder does, with byte fields copied', () => {
    fc.assert(
      fc.property(record, (r) => {
        const bytes = encodeCanonical(r as unknown as CborValue);
        const got = read(bytes)!;
        expect(got).toEqual(decodeStored(bytes));
        expect(Object.keys(got)).toEqual(Object.keys(decodeStored(bytes) as object));
        expect((got.data as Uint8Array).buffer).not.toBe(bytes.buffer);
      }),
      { numRuns: 300 },
    );
  });

  it('on altered bytes either gives up or agrees with the general decoder', () => {
    fc.assert(
      fc.property(record, fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean(), (r, at, xor, cut) => {
        const bytes = encodeCanonical(r as unknown as CborValue).slice();
        const i = at % bytes.length;
        const altered = cut ? bytes.subarray(0, i) : (bytes.fill(bytes[i]! ^ xor, i, i + 1), bytes);
        const got = read(altered);
        if (got === undefined) return;
        expect(got).toEqual(cborgDecode(altered));
      }),
      { numRuns: 1000 },
    );
  });

  it('hands a view field to build as a view of the input, valid while build runs', () => {
    const readView = layoutReader({ f: 'int', data: 'view' }, (x) => ({ f: x[0], value: decodeStoredValue(x[1] as Uint8Array), view: x[1] as Uint8Array }));
    fc.assert(
      fc.property(fc.maxSafeInteger(), data, (f, value) => {
        const bytes = encodeCanonical({ f, data: encodeCanonical(value) });
        // LMDB's reusable read buffer: a longer buffer whose `length` is the value's size.
        const buffer = Buffer.alloc(bytes.length + 64, 0xff);
        buffer.set(bytes);
        Object.defineProperty(buffer, 'length', { value: bytes.length });
        const got = readView(buffer)!;
        expect(got.f).toBe(f);
        expect(got.value).toEqual(cborgDecode(encodeCanonical(value)));
        expect(got.view.buffer).toBe(buffer.buffer); // no copy was made
      }),
      { numRuns: 200 },
    );
  });

  it('gives up on a record of another layout: a missing, extra or retyped field', () => {
    const base = { exists: true, f: 1, since: -1, data: new Uint8Array([1]), op: 'set', validFrom: 5 };
    const { f: _f, ...missing } = base;
    for (const other of [missing, { ...base, x: 1 }, { ...base, f: 'one' }, { ...base, exists: 1 }, { ...base, data: 'x' }, { ...base, validFrom: 1.5 }]) {
      expect(read(encodeCanonical(other as unknown as CborValue))).toBeUndefined();
    }
    const whole = encodeCanonical(base as unknown as CborValue);
    expect(read(whole)).toEqual(base);
    expect(read(Uint8Array.of(...whole, 0))).toBeUndefined(); // trailing bytes
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

const hash32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const text = fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }), fc.constantFrom('admin', 'user:000001', 'é', '日本'));
const safeInt = fc.oneof(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 70_000 }), fc.maxSafeNat());

const headerArb: fc.Arbitrary<EventHeader> = fc.record({
  fmt: fc.constant(1),
  journal: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
  seq: safeInt,
  time: safeInt,
  op: fc.constantFrom(...OPS),
  key: text,
  prev: hash32,
  keyPrev: fc.option(hash32, { nil: null }),
  payload: fc.option(hash32, { nil: null }),
  v: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  validFrom: safeInt,
  actor: fc.oneof(fc.constant('admin'), text),
});

/** decodeHeader without the layout reader: the strict decoder, then the header's rules. */
function generalDecodeHeader(bytes: Uint8Array): EventHeader {
  const value = decodeCanonical(bytes);
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

/*
 * readHeader, the header layout reader, against the general decoders: on
 * valid headers it returns what they return; on corrupted bytes it accepts
 * only what the strict canonical decoder accepts as the same object, so
 * decodeHeader's verdict (header or error code) is what it is without it.
 */
describe('readHeader', () => {
  it('reads every valid header as the general decoders do', () => {
    fc.assert(
      fc.property(headerArb, (h) => {
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
        headerArb.chain((h) => corrupted(encodeHeader(h))),
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
