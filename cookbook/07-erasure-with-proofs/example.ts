/**
 * Recipe 07: the right to be forgotten without breaking the proofs.
 * `erase(key, { reason })` destroys the payload bytes (and salts) of every
 * version of a block and appends an `erase` event naming them. Headers
 * commit to payloads through salted hashes, so the chain, the tree, every
 * checkpoint and every receipt issued earlier stay valid.
 */
import type { EventRecord } from '../../src/core/bundle.js';
import { decodeHeader } from '../../src/core/event.js';
import { fromBase64 } from '../../src/core/bytes.js';
import { exportBundle } from '../../src/evidence/export.js';
import { auditFast } from '../../src/evidence/node-audit.js';
import { Tally } from '../../src/index.js';
import { parseVerifierKey, verifyReceipt } from '../../src/verify.js';
import { runIfMain } from '../run-main.js';

/** The lines of a bundle of `tenant`, collected in memory (small tenants only). */
async function bundleLines(db: Tally, tenant: string): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of exportBundle(db, tenant)) lines.push(line.slice(0, -1));
  return lines;
}

export async function main(dir: string, say: (line: string) => void = () => {}) {
  const db = await Tally.open(dir);
  try {
    const t = db.tenant('acme');
    const keys = [db.verifierKey()];
    const v0 = await t.set('user:alice', { name: 'Alice', email: 'alice@corp.com' });
    const v1 = await t.set('user:alice', { name: 'Alice', email: 'alice@home.example' });
    await t.set('user:bob', { name: 'Bob' });

    const erased = await t.erase('user:alice', { reason: 'GDPR art. 17 request #4711' });
    say(`erase → erased seqs ${JSON.stringify(erased.erased)}`);

    const getAfter = await t.get('user:alice').then(() => 'found', (err: { code: string }) => err.code);
    const history = (await t.history('user:alice')).versions;
    say(`get → ${getAfter}; history → ${history.map((v) => `${v.seq}:${v.op}${v.erased ? ' (erased)' : ''} ${JSON.stringify(v.data)}`).join(', ')}`);

    // Receipts the client kept still verify — they carry their own copy of the payload.
    const kept = [v0, v1].map((v) => verifyReceipt(v.receipt, keys));
    // Receipts issued now verify too, proving the versions existed without revealing them.
    const fresh = history.map((v) => verifyReceipt(v.receipt, keys));
    const journal = await t.verify({ projection: true });
    const audit = await auditFast(toAsync(await bundleLines(db, 'acme')), keys.map((k) => parseVerifierKey(k)));
    say(`kept receipts: ${kept.map((v) => v.ok).join(', ')}; fresh: ${fresh.map((v) => v.ok).join(', ')}; verify() → ${journal.ok}; bundle audit → ${audit.ok ? `ok, ${audit.erasedPayloads} erased payloads accounted for` : audit.code}`);

    // Tempting move 1: delete. The block is gone from reads, but its history still serves the personal data.
    const naive = db.tenant('acme-naive');
    await naive.set('user:alice', { name: 'Alice', email: 'alice@corp.com' });
    await naive.set('user:bob', { name: 'Bob' });
    await naive.delete('user:alice');
    const afterDelete = (await naive.history('user:alice')).versions.map((v) => v.data);
    say(`after delete, history still shows ${JSON.stringify(afterDelete)}`);

    // Tempting move 2: remove the rows. Drop the block's events from the evidence (and the checkpoints,
    // which count them): the sequence has a hole that no signature covers.
    const lines = await bundleLines(db, 'acme-naive');
    const isAlice = (l: string) => l.startsWith('{"t":"event"') && decodeHeader(fromBase64((JSON.parse(l) as EventRecord).header)).key === 'user:alice';
    const withoutAlice = lines.filter((l) => !isAlice(l) && !l.startsWith('{"t":"checkpoint"'));
    const gapAudit = await auditFast(toAsync(withoutAlice), keys.map((k) => parseVerifierKey(k)));
    say(`bundle with alice's rows removed → ${gapAudit.ok ? 'ok?!' : `${gapAudit.code}: ${gapAudit.message}`}`);

    return { erased, getAfter, history, kept, fresh, journal, audit, afterDelete, gapAudit };
  } finally {
    await db.close();
  }
}

async function* toAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

await runIfMain(import.meta.url, main);
