import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../../src/core/bytes.js';
import { seedSigner, signNote, verifierKeyOf } from '../../src/core/note.js';
import { receiptFromCbor, receiptFromJson, receiptToCbor, type ReceiptJson } from '../../src/core/receipt.js';
import { verifyReceipt } from '../../src/core/verify-receipt.js';
import { Tally } from '../../src/store/tally.js';
import { tempDir } from '../helpers/tmpdir.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let db: Tally;
let dir: string;
let receipt: ReceiptJson;
let other: ReceiptJson;
let key: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tally-receipt-'));
  db = await Tally.open(dir, { name: 'node-r' });
  const t = db.tenant('acme');
  for (let i = 0; i < 5; i++) await t.log('warmup', { i });
  receipt = (await t.log('user.login', { email: 'alice@corp.com', n: 1.5 })).receipt;
  await t.log('after', {});
  other = (await db.tenant('zeta').log('x', {})).receipt;
  key = db.verifierKey();
});

afterAll(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

const clone = (r: ReceiptJson): ReceiptJson => JSON.parse(JSON.stringify(r)) as ReceiptJson;
const flip = (b64: string): string => {
  const b = fromBase64(b64);
  b[0]! ^= 1;
  return toBase64(b);
};

describe('verifyReceipt', () => {
  it('accepts a fresh receipt and returns what it proves', () => {
    const v = verifyReceipt(receipt, [key]);
    expect(v).toMatchObject({ ok: true, tenant: 'acme', seq: 5, key: 'user.login', op: 'log', treeSize: 6, payloadVerified: true, signer: key });
    expect(v.ok && v.data).toEqual({ email: 'alice@corp.com', n: 1.5 });
  });

  it('accepts the receipt as JSON text and in its CBOR form', () => {
    expect(verifyReceipt(JSON.stringify(receipt), [key]).ok).toBe(true);
    const r = receiptFromJson(receipt);
    expect(verifyReceipt(receiptFromCbor(receiptToCbor(r)), [key]).ok).toBe(true);
  });

  it('refuses a CBOR receipt with a text field sent as bytes, or a bytes field as base64 text (found by the decoder fuzz)', async () => {
    const { encodeCanonical } = await import('../../src/core/codec.js');
    const r = receiptFromJson(receipt);
    const asBytesKey = encodeCanonical({ ...r, header: { ...r.header, key: new TextEncoder().encode(r.header.key) }, proof: [...r.proof] });
    expect(() => receiptFromCbor(asBytesKey)).toThrow(expect.objectContaining({ code: 'bad_request' }));
    const asTextHash = encodeCanonical({ ...r, header: { ...r.header }, hash: toBase64(r.hash), proof: [...r.proof] });
    expect(() => receiptFromCbor(asTextHash)).toThrow(expect.objectContaining({ code: 'bad_request' }));
  });

  const headerChanges: [string, (h: ReceiptJson['header']) => void][] = [
    ['journal', (h) => (h.journal = 'other')],
    ['seq', (h) => (h.seq = 4)],
    ['time', (h) => (h.time += 1)],
    ['op', (h) => (h.op = 'set')],
    ['key', (h) => (h.key = 'user.logout')],
    ['prev', (h) => (h.prev = flip(h.prev))],
    ['keyPrev', (h) => (h.keyPrev = toBase64(new Uint8Array(32)))],
    ['payload', (h) => (h.payload = flip(h.payload!))],
    ['v', (h) => (h.v = 3)],
    ['validFrom', (h) => (h.validFrom -= 1000)],
    ['actor', (h) => (h.actor = 'mallory')],
  ];
  for (const [field, change] of headerChanges) {
    it(`rejects a receipt whose header.${field} was altered (header_hash_mismatch)`, () => {
      const r = clone(receipt);
      change(r.header);
      expect(verifyReceipt(r, [key])).toMatchObject({ ok: false, code: 'header_hash_mismatch' });
    });
  }

  it('rejects an altered header with a matching recomputed hash because the proof no longer leads to the root', async () => {
    const { encodeHeader, headerFromJson } = await import('../../src/core/event.js');
    const { eventHash } = await import('../../src/core/hash.js');
    const r = clone(receipt);
    r.header.actor = 'mallory';
    r.hash = toBase64(eventHash(encodeHeader(headerFromJson(r.header))));
    expect(verifyReceipt(r, [key])).toMatchObject({ ok: false, code: 'proof_mismatch' });
  });

  it('rejects an altered event hash', () => {
    const r = clone(receipt);
    r.hash = flip(r.hash);
    expect(verifyReceipt(r, [key])).toMatchObject({ ok: false, code: 'header_hash_mismatch' });
  });

  it('rejects altered payload bytes and an altered salt (payload_mismatch)', () => {
    const a = clone(receipt);
    a.payload = flip(a.payload!);
    expect(verifyReceipt(a, [key])).toMatchObject({ ok: false, code: 'payload_mismatch' });
    const b = clone(receipt);
    b.salt = flip(b.salt!);
    expect(verifyReceipt(b, [key])).toMatchObject({ ok: false, code: 'payload_mismatch' });
  });

  it('accepts a receipt whose payload was withheld (erased), reporting it unverified', () => {
    const r = clone(receipt);
    r.payload = null;
    r.salt = null;
    expect(verifyReceipt(r, [key])).toMatchObject({ ok: true, payloadVerified: false });
  });

  it('rejects a payload without its salt as malformed', () => {
    const r = clone(receipt);
    r.salt = null;
    expect(verifyReceipt(r, [key])).toMatchObject({ ok: false, code: 'malformed' });
  });

  it('rejects every altered, dropped or added proof hash (proof_mismatch)', () => {
    expect(receipt.proof.length).toBeGreaterThan(1);
    for (let i = 0; i < receipt.proof.length; i++) {
      const r = clone(receipt);
      r.proof[i] = flip(r.proof[i]!);
      expect(verifyReceipt(r, [key])).toMatchObject({ ok: false, code: 'proof_mismatch' });
    }
    const dropped = clone(receipt);
    dropped.proof.pop();
    expect(verifyReceipt(dropped, [key])).toMatchObject({ ok: false, code: 'proof_mismatch' });
    const added = clone(receipt);
    added.proof.push(added.proof[0]!);
    expect(verifyReceipt(added, [key])).toMatchObject({ ok: false, code: 'proof_mismatch' });
  });

  it('rejects a checkpoint whose body was altered under its signature (bad_signature)', () => {
    const lines = receipt.checkpoint.split('\n');
    for (const i of [0, 1, 2]) {
      const r = clone(receipt);
      const altered = [...lines];
      altered[i] = i === 1 ? String(Number(lines[1]) + 1) : i === 2 ? flip(lines[2]!) : lines[0] + 'x';
      r.checkpoint = altered.join('\n');
      expect(verifyReceipt(r, [key])).toMatchObject({ ok: false, code: 'bad_signature' });
    }
  });

  it('rejects an altered signature (bad_signature)', () => {
    const r = clone(receipt);
    const lines = r.checkpoint.split('\n');
    const sigLine = lines[4]!;
    const [dash, name, sig] = sigLine.split(' ') as [string, string, string];
    const raw = fromBase64(sig);
    raw[10]! ^= 1;
    lines[4] = `${dash} ${name} ${toBase64(raw)}`;
    r.checkpoint = lines.join('\n');
    expect(verifyReceipt(r, [key])).toMatchObject({ ok: false, code: 'bad_signature' });
  });

  it('rejects a checkpoint signed by an untrusted key (unknown_key)', () => {
    const stranger = verifierKeyOf('node-r', seedSigner('node-r', new Uint8Array(32).fill(7)).publicKey).text;
    expect(verifyReceipt(receipt, [stranger])).toMatchObject({ ok: false, code: 'unknown_key' });
    const r = clone(receipt);
    r.checkpoint = r.checkpoint.replace('— node-r ', '— node-x ');
    expect(verifyReceipt(r, [key])).toMatchObject({ ok: false, code: 'unknown_key' });
  });

  it("rejects a receipt proven against another tenant's checkpoint (origin_mismatch)", () => {
    const r = clone(receipt);
    r.checkpoint = other.checkpoint;
    expect(verifyReceipt(r, [key])).toMatchObject({ ok: false, code: 'origin_mismatch' });
  });

  it('rejects a checkpoint re-signed by a trusted key for a forged tree (proof_mismatch)', () => {
    const seed = new Uint8Array(32).fill(9);
    const signer = seedSigner('node-r', seed);
    const forgedKey = verifierKeyOf('node-r', signer.publicKey).text;
    const body = `node-r/acme\n7\n${toBase64(new Uint8Array(32))}\n`;
    const r = clone(receipt);
    r.checkpoint = signNote(body, signer);
    expect(verifyReceipt(r, [forgedKey])).toMatchObject({ ok: false, code: 'proof_mismatch' });
  });

  const malformed: [string, unknown][] = [
    ['not JSON', '{nope'],
    ['null', null],
    ['an array', []],
    ['a wrong format', { ...{}, format: 'tally-receipt/v9' }],
    ['an unknown field', 'EXTRA'],
    ['a missing field', 'MISSING'],
    ['a non-base64 hash', 'BADHASH'],
    ['a header with an unknown field', 'HEADEREXTRA'],
    ['a header with a float seq', 'FLOATSEQ'],
    ['a checkpoint that is not a note', 'NOTNOTE'],
  ];
  for (const [what, input] of malformed) {
    it(`reports a receipt with ${what} as malformed`, () => {
      let r: unknown = input;
      const c = clone(receipt) as unknown as Record<string, unknown>;
      if (input === 'EXTRA') r = { ...c, extra: 1 };
      if (input === 'MISSING') r = (delete c['proof'], c);
      if (input === 'BADHASH') r = { ...c, hash: '***' };
      if (input === 'HEADEREXTRA') r = { ...c, header: { ...(c['header'] as object), x: 1 } };
      if (input === 'FLOATSEQ') r = { ...c, header: { ...(c['header'] as object), seq: 1.5 } };
      if (input === 'NOTNOTE') r = { ...c, checkpoint: 'hello' };
      expect(verifyReceipt(r, [key])).toMatchObject({ ok: false, code: 'malformed' });
    });
  }

  it('throws bad_request when a trusted key string is itself invalid', () => {
    expect(() => verifyReceipt(receipt, ['not-a-key'])).toThrow(expect.objectContaining({ code: 'bad_request' }));
  });

  it('keeps every altered byte of the JSON receipt from verifying', () => {
    // Exhaustive single-field check over every string leaf: any change is refused.
    const leaves: string[][] = [];
    const walk = (o: unknown, path: string[]): void => {
      if (typeof o === 'string' || typeof o === 'number') leaves.push(path);
      else if (o && typeof o === 'object') for (const [k, v] of Object.entries(o)) walk(v, [...path, k]);
    };
    walk(receipt, []);
    for (const path of leaves) {
      const r = clone(receipt) as unknown as Record<string, unknown>;
      let o = r as Record<string, unknown>;
      for (const p of path.slice(0, -1)) o = o[p] as Record<string, unknown>;
      const last = path[path.length - 1]!;
      const v = o[last];
      o[last] = typeof v === 'number' ? v + 1 : typeof v === 'string' && /^[A-Za-z0-9+/]+=*$/.test(v) && v.length % 4 === 0 ? flip(v) : `${String(v)}x`;
      expect(verifyReceipt(r, [key]).ok, path.join('.')).toBe(false);
    }
  });
});

void tempDir;
