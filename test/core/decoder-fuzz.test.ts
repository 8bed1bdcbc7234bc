/**
 * Decoder fuzz: arbitrary bytes and text, generated CBOR of every shape, and
 * mutations of real encodings go into every parser of the formats — the
 * canonical CBOR decoder, event headers (CBOR and JSON), receipts (JSON and
 * CBOR), signed notes, checkpoints, verifier keys, bundle records and the
 * bundle auditor. Each either returns a value or throws a TallyError with a
 * stable code (the verifiers return a failure with a stable code instead);
 * nothing throws a TypeError or RangeError, nothing hangs. What is accepted
 * is exact: decoded CBOR re-encodes byte for byte, a parsed header or
 * checkpoint re-formats to its input, and a receipt, note or bundle that
 * verifies after a mutation proves exactly what the original proved.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditBundle, type AuditResult } from '../../src/core/audit-bundle.js';
import { parseRecord } from '../../src/core/bundle.js';
import { formatCheckpoint, parseCheckpoint } from '../../src/core/checkpoint.js';
import { decodeCanonical, encodeCanonical, encodeData } from '../../src/core/codec.js';
import { ERROR_STATUS, TallyError } from '../../src/core/errors.js';
import { decodeHeader, encodeHeader, headerFromJson, headerToJson, type EventHeader } from '../../src/core/event.js';
import { parseNote, parseVerifierKey, verifyNote, type VerifierKey } from '../../src/core/note.js';
import { receiptFromCbor, receiptFromJson, receiptToCbor, receiptToJson, type ReceiptJson } from '../../src/core/receipt.js';
import { verifyReceipt } from '../../src/core/verify-receipt.js';
import { exportBundle } from '../../src/evidence/export.js';
import { auditFast } from '../../src/evidence/node-audit.js';
import { Tally } from '../../src/store/tally.js';
import { collect, toAsync } from '../evidence/bundle-helpers.js';
import { craftBundle, craftEvent, craftKey, editLines, lineEdit, seal } from './crafted-bundle.js';

/** Runs of each property; raise with TALLY_FUZZ_RUNS for a longer search. */
const RUNS = Number(process.env['TALLY_FUZZ_RUNS'] ?? 2000);
/** A single parse taking longer than this is a hang. */
const SLOW_MS = 2000;

/**
 * Runs a parser: 'ok' with its value, or the TallyError code it threw. Any
 * other throw, or a call slower than {@link SLOW_MS}, fails with the input.
 */
function attempt<T>(f: () => T, input: () => string): { code: 'ok'; value: T } | { code: string } {
  const t0 = performance.now();
  try {
    const value = f();
    return { code: 'ok', value };
  } catch (err) {
    if (err instanceof TallyError && Object.hasOwn(ERROR_STATUS, err.code) && err.message.length > 0) return { code: err.code };
    const e = err as Error;
    throw new Error(`${input()}: threw ${e?.constructor?.name ?? typeof err} (${e?.message}) instead of a TallyError`, { cause: err });
  } finally {
    expect(performance.now() - t0, `${input()}: took too long`).toBeLessThan(SLOW_MS);
  }
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// ---- byte and text mutations ------------------------------------------------

const INTERESTING = [0x00, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1f, 0x20, 0x38, 0x40, 0x58, 0x5f, 0x60, 0x78, 0x7f, 0x80, 0x98, 0x9f, 0xa0, 0xb8, 0xbf, 0xc0, 0xc2, 0xd8, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xff];
type ByteEdit = { k: 'flip'; at: number; bit: number } | { k: 'set'; at: number; v: number } | { k: 'ins'; at: number; bytes: Uint8Array } | { k: 'del'; at: number; n: number } | { k: 'cut'; at: number } | { k: 'dup'; at: number; n: number };
const byteEdit: fc.Arbitrary<ByteEdit> = fc.oneof(
  fc.record({ k: fc.constant<'flip'>('flip'), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ k: fc.constant<'set'>('set'), at: fc.nat(), v: fc.oneof(fc.constantFrom(...INTERESTING), fc.nat(255)) }),
  fc.record({ k: fc.constant<'ins'>('ins'), at: fc.nat(), bytes: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 4 }), fc.constantFrom(...INTERESTING).map((b) => Uint8Array.of(b))) }),
  fc.record({ k: fc.constant<'del'>('del'), at: fc.nat(), n: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ k: fc.constant<'cut'>('cut'), at: fc.nat() }),
  fc.record({ k: fc.constant<'dup'>('dup'), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
);
function editBytes(input: Uint8Array, edits: readonly ByteEdit[]): Uint8Array {
  let b = Uint8Array.from(input);
  for (const e of edits) {
    const at = b.length === 0 ? 0 : e.at % (b.length + (e.k === 'ins' ? 1 : 0));
    if (e.k === 'flip' && b.length > 0) b[at]! ^= 1 << e.bit;
    else if (e.k === 'set' && b.length > 0) b[at] = e.v;
    else if (e.k === 'ins') b = Uint8Array.from([...b.subarray(0, at), ...e.bytes, ...b.subarray(at)]);
    else if (e.k === 'del') b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + e.n)]);
    else if (e.k === 'cut') b = b.subarray(0, at);
    else if (e.k === 'dup') b = Uint8Array.from([...b.subarray(0, at + e.n), ...b.subarray(at)]);
  }
  return b;
}
const byteEdits = fc.array(byteEdit, { minLength: 1, maxLength: 3 });

type TextEdit = { k: 'ins'; at: number; s: string } | { k: 'del'; at: number; n: number } | { k: 'dup'; at: number; n: number } | { k: 'cut'; at: number };
const textEdit: fc.Arbitrary<TextEdit> = fc.oneof(
  fc.record({ k: fc.constant<'ins'>('ins'), at: fc.nat(), s: fc.oneof(fc.string({ unit: 'binary', maxLength: 4 }), fc.constantFrom('\n', '\n\n', '\u2014 ', ' ', '+', '=', '"', '{', '}', ',', ':', '0', '-1', 'null', '\t', '\r', '\u0000', '\uFEFF')) }),
  fc.record({ k: fc.constant<'del'>('del'), at: fc.nat(), n: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ k: fc.constant<'dup'>('dup'), at: fc.nat(), n: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ k: fc.constant<'cut'>('cut'), at: fc.nat() }),
);
function editText(input: string, edits: readonly TextEdit[]): string {
  let s = input;
  for (const e of edits) {
    const at = e.at % (s.length + 1);
    if (e.k === 'ins') s = s.slice(0, at) + e.s + s.slice(at);
    else if (e.k === 'del') s = s.slice(0, at) + s.slice(at + e.n);
    else if (e.k === 'dup') s = s.slice(0, at + e.n) + s.slice(at);
    else s = s.slice(0, at);
  }
  return s;
}
const textEdits = fc.array(textEdit, { minLength: 1, maxLength: 3 });

/** A JSON value with one field (at any depth) replaced, removed or added. */
type JsonEdit = { path: number[]; op: 'set' | 'del' | 'add'; value: unknown };
const jsonEdit: fc.Arbitrary<JsonEdit> = fc.record({
  path: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
  op: fc.constantFrom<'set' | 'del' | 'add'>('set', 'set', 'del', 'add'),
  value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom('', 'AAAA', 'AAA=', 'A', -1, 1.5, 2 ** 53, 1e308, null, true, [], {}, Array(65).fill('AAAA'), 'x'.repeat(2000))),
});
function editJson(input: unknown, e: JsonEdit): unknown {
  const root = structuredClone(input);
  let node = root as Record<string, unknown> | unknown[];
  for (let d = 0; d < e.path.length; d++) {
    if (node === null || typeof node !== 'object') return root;
    const keys = Object.keys(node);
    if (keys.length === 0) return root;
    const k = keys[e.path[d]! % keys.length]!;
    const last = d === e.path.length - 1;
    const child = (node as Record<string, unknown>)[k];
    if (last || child === null || typeof child !== 'object') {
      if (e.op === 'del') delete (node as Record<string, unknown>)[k];
      else if (e.op === 'add') (node as Record<string, unknown>)[`extra${e.path[d]}`] = e.value;
      else (node as Record<string, unknown>)[k] = e.value;
      return root;
    }
    node = child as Record<string, unknown>;
  }
  return root;
}

// ---- generated CBOR ---------------------------------------------------------

/** The head of a CBOR item: major type and argument, in its shortest form or a chosen (maybe over-long) width. */
function head(major: number, n: number, width: 0 | 1 | 2 | 4 | 8 | -1): number[] {
  const m = major << 5;
  const w = width === -1 ? (n < 24 ? 0 : n < 256 ? 1 : n < 65536 ? 2 : n < 2 ** 32 ? 4 : 8) : width;
  if (w === 0) return [m | Math.min(n, 23)];
  const bytes: number[] = [];
  for (let i = w - 1; i >= 0; i--) bytes.push(Math.floor(n / 256 ** i) % 256);
  return [m | { 1: 24, 2: 25, 4: 26, 8: 27 }[w], ...bytes];
}
const width = fc.oneof({ weight: 6, arbitrary: fc.constant<-1>(-1) }, { weight: 1, arbitrary: fc.constantFrom<0 | 1 | 2 | 4 | 8>(0, 1, 2, 4, 8) });
const arg = fc.oneof(fc.nat(30), fc.constantFrom(23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 64 - 1));
const { item: cborItem } = fc.letrec<{ item: number[] }>((tie) => ({
  // Every major type with shortest or over-long heads, nested arrays and maps (keys of any type, maybe duplicate), tags.
  item: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(fc.constantFrom(0, 1), arg, width).map(([m, n, w]) => head(m, n, w)),
    fc.tuple(fc.uint8Array({ maxLength: 6 }), width).map(([b, w]) => [...head(2, b.length, w), ...b]),
    fc.tuple(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('data', 'op', 'fmt', '\u00e9')), width).map(([s, w]) => {
      const b = new TextEncoder().encode(s);
      return [...head(3, b.length, w), ...b];
    }),
    fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 3 }), width).map(([b, w]) => [...head(3, b.length, w), ...b]), // maybe invalid UTF-8
    fc.tuple(fc.array(tie('item'), { maxLength: 3 }), width).map(([xs, w]) => [...head(4, xs.length, w), ...xs.flat()]),
    fc.tuple(fc.array(fc.tuple(tie('item'), tie('item')), { maxLength: 3 }), width).map(([kv, w]) => [...head(5, kv.length, w), ...kv.flat(2)]),
    fc.tuple(fc.constantFrom(0, 1, 2, 3, 24, 55799, 2 ** 32), tie('item')).map(([t, x]) => [...head(6, t, -1), ...x]),
    // Simple values and floats: false, true, null, undefined, unassigned, half/single floats, -0.0, +Infinity, 2^53.
    fc.constantFrom<number[]>([0xf4], [0xf5], [0xf6], [0xf7], [0xf0], [0xf8, 0x20], [0xf9, 0x3c, 0x00], [0xf9, 0x7e, 0x00], [0xfa, 0x3f, 0xc0, 0, 0], [0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0], [0xfb, 0x80, 0, 0, 0, 0, 0, 0, 0], [0xfb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0], [0xfb, 0x43, 0x40, 0, 0, 0, 0, 0, 0]),
    fc.array(tie('item'), { maxLength: 3 }).map((xs) => [0x9f, ...xs.flat(), 0xff]),
    fc.array(fc.tuple(tie('item'), tie('item')), { maxLength: 2 }).map((kv) => [0xbf, ...kv.flat(2), 0xff]),
    // Indefinite strings, a stray break, reserved additional information.
    fc.constantFrom<number[]>([0x5f, 0x41, 0x61, 0xff], [0x7f, 0x61, 0x61, 0xff], [0xff], [0x1c], [0x3f]),
  ),
}));

/** decodeCanonical's contract: a value that re-encodes to exactly the input, or bad_request. */
function checkDecode(bytes: Uint8Array): 'ok' | string {
  const r = attempt(() => decodeCanonical(bytes), () => `decodeCanonical(${hex(bytes).slice(0, 400)})`);
  if ('value' in r) expect(hex(encodeCanonical(r.value)), hex(bytes)).toBe(hex(bytes));
  else expect(r.code).toBe('bad_request');
  return r.code;
}

// ---- fixtures: a real journal's receipts and bundles ------------------------

let dir: string;
let keys: VerifierKey[];
let receipts: ReceiptJson[];
let header: EventHeader;
let bundle: string[];
let tailed: string[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tally-decoder-fuzz-'));
  let clock = Date.parse('2026-05-01T00:00:00Z');
  const db = await Tally.open(dir, { name: 'fuzz-node', now: () => (clock += 1000) });
  const t = db.tenant('acme');
  receipts = [(await t.set('user:alice', { name: 'Alice', tags: ['a', 'b'], n: 1.5 })).receipt, (await t.log('user.login', { ip: '10.0.0.1' })).receipt];
  await t.set('user:bob', { name: 'Bob' }, { v: 2 });
  receipts.push((await t.delete('user:bob')).receipt);
  await t.set('user:alice', { name: 'Alice B.' });
  await t.redact('user:alice');
  receipts.push((await t.erase('user:alice', { reason: 'gdpr' })).receipt);
  await t.set('doc', [1, 2, 3]);
  keys = db.verifierKeys().map((k) => parseVerifierKey(k));
  header = receiptFromJson(receipts[0]).header;
  bundle = await collect(exportBundle(db, 'acme'));
  tailed = await collect(exportBundle(db, 'acme', { from: 2, to: 4 }));
  await db.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// ---- canonical CBOR ---------------------------------------------------------

describe('canonical CBOR decoder under fuzz', () => {
  it('returns a value that re-encodes byte-identically, or throws TallyError bad_request, for arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => void checkDecode(b)), { numRuns: RUNS * 2 });
  });

  it('does the same for generated CBOR of every major type, width, tag and simple value', () => {
    let accepted = 0;
    fc.assert(
      fc.property(cborItem, (item) => {
        if (checkDecode(Uint8Array.from(item)) === 'ok') accepted++;
      }),
      { numRuns: RUNS * 2 },
    );
    expect(accepted).toBeGreaterThan(RUNS / 10);
  });

  it('does the same for mutated canonical encodings of JSON values, headers and receipts', () => {
    const seeds = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((v) => encodeData(v)),
      fc.constant(null).map(() => encodeHeader(header)),
      fc.nat(3).map((i) => receiptToCbor(receiptFromJson(receipts[i]))),
    );
    fc.assert(fc.property(seeds, byteEdits, (b, edits) => void checkDecode(editBytes(b, edits))), { numRuns: RUNS * 2 });
  });

  it('refuses hostile nesting and declared lengths quickly', () => {
    const cases: [string, number[]][] = [
      ['100,000 nested arrays', [...Array(100_000).fill(0x81), 0x00]],
      ['100,000 nested maps', [...Array(100_000).fill([0xa1, 0x61, 0x61]).flat(), 0x00]],
      ['100,000 nested tags', [...Array(100_000).fill(0xc1), 0x00]],
      ['65 nested arrays (one beyond MAX_DEPTH)', [...Array(65).fill(0x81), 0x00]],
      ['a byte string of 2^64-1 bytes', [0x5b, ...Array(8).fill(0xff)]],
      ['a text string of 2^32 bytes', [0x7b, 0, 0, 0, 1, 0, 0, 0, 0]],
      ['an array of 2^32-1 items', [0x9a, 0xff, 0xff, 0xff, 0xff]],
      ['a map of 2^53 entries', [0xbb, 0x00, 0x20, 0, 0, 0, 0, 0, 0]],
      ['an array of 2^20 nulls', [0x9a, 0, 0x10, 0, 0, ...Array(2 ** 20).fill(0xf6)]],
    ];
    for (const [name, bytes] of cases) {
      const t0 = performance.now();
      const code = checkDecode(Uint8Array.from(bytes));
      expect(performance.now() - t0, name).toBeLessThan(SLOW_MS);
      if (!name.includes('2^20 nulls')) expect(code, name).toBe('bad_request');
    }
  });
});

// ---- headers and receipts ---------------------------------------------------

describe('event headers and receipts under fuzz', () => {
  it('decodeHeader returns a header that re-encodes to its input, or throws TallyError, for mutated headers and arbitrary bytes', () => {
    const input = fc.oneof(fc.uint8Array({ maxLength: 200 }), byteEdits.map((e) => editBytes(encodeHeader(header), e)));
    fc.assert(
      fc.property(input, (b) => {
        const r = attempt(() => decodeHeader(b), () => `decodeHeader(${hex(b)})`);
        if (r.code === 'ok') expect(hex(encodeHeader((r as { value: EventHeader }).value))).toBe(hex(b));
      }),
      { numRuns: RUNS },
    );
  });

  it('headerFromJson returns a valid header or throws TallyError for arbitrary and edited JSON', () => {
    const input = fc.oneof(fc.jsonValue({ maxDepth: 3 }), jsonEdit.map((e) => editJson(headerToJson(header), e)));
    fc.assert(
      fc.property(input, (j) => {
        const r = attempt(() => headerFromJson(j), () => `headerFromJson(${JSON.stringify(j)?.slice(0, 400)})`);
        if (r.code === 'ok') expect(headerToJson(headerFromJson(headerToJson((r as { value: EventHeader }).value)))).toEqual(headerToJson((r as { value: EventHeader }).value));
      }),
      { numRuns: RUNS },
    );
  });

  it('headerFromJson names a bad fmt or v without converting it: an object whose toString is not a function is a TallyError', () => {
    // Found by the property above (seed -549574841): String() of such an object throws a TypeError.
    for (const field of ['fmt', 'v'] as const) {
      const j = { ...headerToJson(header), [field]: { toString: false } };
      expect(attempt(() => headerFromJson(j), () => field)).toEqual({ code: 'bad_request' });
    }
  });

  it('parses and verifies edited receipts (JSON values, JSON text, CBOR) without a stray throw, and accepts only what the original proves', () => {
    const original = receipts.map((r) => JSON.stringify(receiptToJson(receiptFromJson(r))));
    const input = fc.nat(3).chain((i) =>
      fc.oneof(
        fc.array(jsonEdit, { minLength: 1, maxLength: 2 }).map((es) => ({ i, value: es.reduce<unknown>((v, e) => editJson(v, e), receipts[i]) as unknown })),
        textEdits.map((es) => ({ i, value: editText(JSON.stringify(receipts[i]), es) as unknown })),
        byteEdits.map((es) => ({ i, value: editBytes(receiptToCbor(receiptFromJson(receipts[i])), es) as unknown })),
        fc.jsonValue({ maxDepth: 2 }).map((value) => ({ i, value })),
      ),
    );
    fc.assert(
      fc.property(input, ({ i, value }) => {
        const what = () => `receipt ${i} edited: ${(value instanceof Uint8Array ? hex(value) : JSON.stringify(value)).slice(0, 600)}`;
        const parsed = attempt(() => (value instanceof Uint8Array ? receiptFromCbor(value) : receiptFromJson(value)), what);
        if ('value' in parsed && value instanceof Uint8Array) expect(hex(receiptToCbor(parsed.value))).toBe(hex(value));
        const verdict = attempt(() => verifyReceipt(value instanceof Uint8Array ? ('value' in parsed ? parsed.value : {}) : value, keys), what);
        expect(verdict.code, what()).toBe('ok');
        const v = (verdict as { value: ReturnType<typeof verifyReceipt> }).value;
        if (v.ok) {
          const got = receiptToJson('value' in parsed ? parsed.value : receiptFromJson(value));
          // Dropping both payload and salt leaves a receipt of the header alone (as for erased data), which
          // verifies and says it proves no data; anything else accepted must be the original.
          if (got.payload === null && got.salt === null && (v as { payloadVerified?: boolean }).payloadVerified === false) {
            expect(JSON.stringify({ ...got, payload: null, salt: null }), what()).toBe(JSON.stringify({ ...(JSON.parse(original[i]!) as object), payload: null, salt: null }));
          } else expect(JSON.stringify(got), what()).toBe(original[i]);
        }
        else expect(['malformed', 'unknown_key', 'bad_signature', 'origin_mismatch', 'header_hash_mismatch', 'payload_mismatch', 'proof_mismatch']).toContain(v.code);
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- notes, checkpoints, keys -----------------------------------------------

describe('signed notes, checkpoints and verifier keys under fuzz', () => {
  it('parse edited and arbitrary text to a value or a TallyError; a note verifies only with the original body', () => {
    const note = receipts[0]!.checkpoint;
    const body = parseNote(note).text;
    const input = fc.oneof(
      { weight: 4, arbitrary: textEdits.map((es) => editText(note, es)) },
      { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }) },
      { weight: 1, arbitrary: fc.constantFrom(`${body}\n\u2014 other AAAAAAE=\n${note.slice(body.length + 1)}`, note + note, note.replace('\n\n', '\n\n\n'), body, `${body}\n${'\u2014 x AAAAAA==\n'.repeat(65)}`, 'x'.repeat(70_000)) },
    );
    fc.assert(
      fc.property(input, (text) => {
        const what = () => `note ${JSON.stringify(text.slice(0, 400))}`;
        attempt(() => parseNote(text), what);
        const v = attempt(() => verifyNote(text, keys), what);
        expect(v.code, what()).toBe('ok');
        const r = (v as { value: ReturnType<typeof verifyNote> }).value;
        if (r.ok) expect(r.text, what()).toBe(body);
        else expect(['malformed', 'unknown_key', 'bad_signature']).toContain(r.code);
        const cp = attempt(() => parseCheckpoint(text), what);
        if (cp.code === 'ok') expect(formatCheckpoint((cp as { value: ReturnType<typeof parseCheckpoint> }).value)).toBe(text);
      }),
      { numRuns: RUNS },
    );
  });

  it('parses checkpoint bodies and verifier keys strictly: a value that formats back to its input, or a TallyError', () => {
    const body = parseNote(receipts[0]!.checkpoint).text;
    const key = keys[0]!.text;
    fc.assert(
      fc.property(textEdits, fc.string({ unit: 'binary', maxLength: 40 }), (es, junk) => {
        for (const text of [editText(body, es), junk]) {
          const cp = attempt(() => parseCheckpoint(text), () => `checkpoint ${JSON.stringify(text)}`);
          if (cp.code === 'ok') expect(formatCheckpoint((cp as { value: ReturnType<typeof parseCheckpoint> }).value)).toBe(text);
        }
        for (const text of [editText(key, es), junk]) {
          const k = attempt(() => parseVerifierKey(text), () => `verifier key ${JSON.stringify(text)}`);
          if (k.code === 'ok') expect((k as { value: VerifierKey }).value.text).toBe(text);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- bundles ----------------------------------------------------------------

const AUDIT_CODES = ['malformed', 'truncated', 'digest_mismatch', 'count_mismatch', 'unknown_key', 'bad_signature', 'origin_mismatch', 'frontier_mismatch', 'anchor_invalid', 'header_malformed', 'wrong_journal', 'seq_gap', 'chain_broken', 'time_regressed', 'key_chain_broken', 'payload_mismatch', 'payload_missing', 'checkpoint_misplaced', 'root_mismatch', 'consistency_failed', 'incomplete'];

/**
 * Audits with the pure auditor and the CLI's fast one (they must agree) and
 * returns the result with the header bytes of every event it reported; a
 * throw fails with the bundle.
 */
async function audit(lines: readonly string[], trusted: readonly VerifierKey[]): Promise<{ result: AuditResult; events: string[] }> {
  const events: string[] = [];
  let result: AuditResult;
  try {
    result = await auditBundle(lines, trusted, { onEvent: (h) => void events.push(hex(encodeHeader(h))) });
    expect(await auditFast(toAsync(lines), trusted)).toEqual(result);
  } catch (err) {
    const e = err as Error;
    throw new Error(`auditBundle threw ${e?.constructor?.name} (${e?.message}) for:\n${lines.join('\n').slice(0, 3000)}`, { cause: err });
  }
  if (!result.ok) expect(AUDIT_CODES, JSON.stringify(result)).toContain(result.code);
  return { result, events };
}

describe('bundle records and the auditor under fuzz', () => {
  it('parseRecord returns a record or throws TallyError for arbitrary and edited lines', () => {
    const input = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
      fc.tuple(fc.nat(), textEdits).map(([i, es]) => editText(bundle[i % bundle.length]!, es)),
      fc.tuple(fc.nat(), jsonEdit).map(([i, e]) => JSON.stringify(editJson(JSON.parse(bundle[i % bundle.length]!), e))),
    );
    fc.assert(
      fc.property(input, (line) => {
        attempt(() => parseRecord(line, 1), () => `parseRecord(${JSON.stringify(line.slice(0, 400))})`);
      }),
      { numRuns: RUNS },
    );
  });

  it('never throws on structurally edited real bundles (resealed or not), and accepts only the original events', async () => {
    const originals = await Promise.all([bundle, tailed].map((b) => audit(b, keys)));
    for (const o of originals) expect(o.result.ok).toBe(true);
    await fc.assert(
      fc.asyncProperty(fc.nat(1), fc.array(lineEdit, { minLength: 1, maxLength: 3 }), fc.boolean(), async (which, edits, resealIt) => {
        const edited = editLines([bundle, tailed][which]!, edits);
        const { result, events } = await audit(resealIt ? seal(edited) : edited, keys);
        if (result.ok) expect(events).toEqual(originals[which]!.events);
      }),
      { numRuns: Math.max(50, RUNS / 4) },
    );
  });

  it('never throws on crafted bundles signed by a trusted key, whole or edited and resealed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(craftEvent, { maxLength: 6 }), fc.array(fc.nat(6), { maxLength: 2 }), fc.array(lineEdit, { maxLength: 2 }), async (events, cps, edits) => {
        const lines = craftBundle(events, cps);
        await audit(edits.length > 0 ? seal(editLines(lines, edits)) : lines, [craftKey]);
      }),
      { numRuns: Math.max(50, RUNS / 2) },
    );
  });
});

describe('regressions the decoder fuzz found', () => {
  it('audits an erase event that commits to CBOR null as malformed (threw a TypeError)', async () => {
    const lines = craftBundle([{ op: 'erase', key: 'a', payload: encodeCanonical(null), drop: false, time: 0, v: 0 }]);
    expect((await audit(lines, [craftKey])).result).toMatchObject({ ok: false, code: 'malformed', line: 3, seq: 0 });
  });

  it('audits a resealed bundle without a start record as malformed (threw a TypeError)', async () => {
    const lines = seal(craftBundle([]).filter((l) => !l.includes('"t":"start"')));
    expect((await audit(lines, [craftKey])).result).toMatchObject({ ok: false, code: 'malformed', message: 'the bundle has no start record' });
  });

  it('refuses a receipt whose proof array has holes as malformed (verifyReceipt threw a TypeError)', () => {
    const proof: unknown[] = [];
    proof.length = 1;
    const r = { ...receipts[1]!, proof };
    expect(attempt(() => receiptFromJson(r), () => 'sparse proof').code).toBe('bad_request');
    expect(verifyReceipt(r, keys)).toMatchObject({ ok: false, code: 'malformed' });
  });

  it('throws TallyError bad_request from the note, checkpoint, verifier key and bundle record parsers (they threw plain Errors)', () => {
    for (const [name, f] of [
      ['parseNote', () => parseNote('no newline')],
      ['parseCheckpoint', () => parseCheckpoint('origin\n1\n')],
      ['parseVerifierKey', () => parseVerifierKey('name+zz+AAAA')],
      ['parseRecord', () => parseRecord('{"t":"nope"}', 7)],
    ] as const) {
      let thrown: unknown;
      try {
        f();
      } catch (err) {
        thrown = err;
      }
      expect(thrown, name).toBeInstanceOf(TallyError);
      expect((thrown as TallyError).code, name).toBe('bad_request');
    }
  });
});
