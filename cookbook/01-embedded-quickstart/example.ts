/**
 * Recipe 01: Tally as a library. Open a data directory, write and read
 * blocks, log an audit event, read the trail, verify a receipt offline.
 * An application imports from 'tallydb' and 'tallydb/verify' instead.
 */
import { Tally } from '../../src/index.js';
import { verifyReceipt } from '../../src/verify.js';
import { runIfMain } from '../run-main.js';

export async function main(dir: string, say: (line: string) => void = () => {}) {
  const db = await Tally.open(dir);
  try {
    const t = db.tenant('acme'); // created on first write (plan unlimited), acting as an admin

    // Writes: each returns the version (its seq) and a signed receipt.
    const first = await t.set('invoice:2026-001', { amount: 9500, status: 'pending' });
    await t.set('invoice:2026-002', { amount: 1200, status: 'paid' });
    await t.set('customer:globex', { name: 'Globex' });
    await t.log('invoice.sent', { invoice: 'invoice:2026-001', to: 'billing@acme.example' });
    say(`set invoice:2026-001 → version ${first.version}`);

    // Reads: one block, a prefix scan in key order, the audit trail (block writes appear too).
    const block = await t.get('invoice:2026-001');
    const invoices = await t.list({ prefix: 'invoice:' });
    const trail = await t.events();
    const sent = await t.events({ kind: 'invoice.sent' });
    say(`get → ${JSON.stringify(block.data)} (f=${block.f} l=${block.l} v=${block.v} h=${block.h})`);
    say(`list invoice: → ${invoices.blocks.map((b) => b.key).join(', ')}`);
    say(`events → ${trail.events.map((e) => `${e.seq}:${e.kind}`).join(' ')}`);

    // The receipt proves, offline, that the journal accepted exactly this write.
    // Trust the key you got from the node (db.verifierKey(), `tally key show`), never one sent with the receipt.
    const verifierKey = db.verifierKey();
    const verdict = verifyReceipt(first.receipt, [verifierKey]);
    if (verdict.ok) say(`receipt: ok, tenant ${verdict.tenant} seq ${verdict.seq} ${verdict.op} "${verdict.key}", data ${JSON.stringify(verdict.data)}`);

    return { block, invoiceKeys: invoices.blocks.map((b) => b.key), kinds: trail.events.map((e) => e.kind), sent: sent.events, receipt: first.receipt, verifierKey, verdict };
  } finally {
    await db.close(); // waits for queued writes to be durable
  }
}

await runIfMain(import.meta.url, main);
