import { describe, expect, it } from 'vitest';
import { toBase64 } from '../../src/core/bytes.js';
import { encodeData } from '../../src/core/codec.js';
import type { ReceiptJson } from '../../src/core/receipt.js';
import { verifyReceipt } from '../../src/verify.js';
import { tempDir } from '../../test/helpers/tmpdir.js';
import { main } from './example.js';

describe('recipe 01: embedded quickstart', () => {
  it('writes, reads, lists, logs and verifies the receipt of a write', async () => {
    const r = await main(tempDir());
    expect(r.block).toMatchObject({ key: 'invoice:2026-001', data: { amount: 9500, status: 'pending' }, v: 1, h: 0, version: 0 });
    expect(r.block.f).toBe(r.block.l);
    expect(r.invoiceKeys).toEqual(['invoice:2026-001', 'invoice:2026-002']);
    expect(r.kinds).toEqual(['block.set', 'block.set', 'block.set', 'invoice.sent']);
    expect(r.sent).toMatchObject([{ seq: 3, kind: 'invoice.sent', actor: 'admin', details: { invoice: 'invoice:2026-001' } }]);
    expect(r.verdict).toMatchObject({ ok: true, tenant: 'acme', seq: 0, op: 'set', key: 'invoice:2026-001', payloadVerified: true, data: { amount: 9500, status: 'pending' } });
  });

  it('the tempting move — reading receipt fields without verifying — would accept a forged receipt', async () => {
    const { receipt, verifierKey } = await main(tempDir());
    // A forged receipt still looks like a receipt: its fields read as plausibly as the real ones.
    const otherKey: ReceiptJson = { ...receipt, header: { ...receipt.header, key: 'invoice:2026-999' } };
    const otherData: ReceiptJson = { ...receipt, payload: toBase64(encodeData({ amount: 95, status: 'pending' })) };
    expect(otherKey.header.key).toBe('invoice:2026-999');
    // verifyReceipt recomputes every link and refuses both, with a stable code.
    expect(verifyReceipt(otherKey, [verifierKey])).toMatchObject({ ok: false, code: 'header_hash_mismatch' });
    expect(verifyReceipt(otherData, [verifierKey])).toMatchObject({ ok: false, code: 'payload_mismatch' });
    // And a receipt checked against a key you did not get from the node proves nothing.
    const stranger = await main(tempDir());
    expect(verifyReceipt(receipt, [stranger.verifierKey])).toMatchObject({ ok: false, code: 'unknown_key' });
  });
});
