/**
 * Recipe 03: hand an auditor evidence. Export a tenant's journal as a
 * bundle file, audit it offline against the node's verifier keys, and see
 * one flipped payload byte caught as `payload_mismatch`.
 * The CLI does the same: `tally export --tenant acme --out acme.jsonl`,
 * `tally audit acme.jsonl --key 'tally-…+…+…'`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { blake3 } from '@noble/hashes/blake3.js';
import { fromBase64, toBase64, utf8 } from '../../src/core/bytes.js';
import { decodeCanonical } from '../../src/core/codec.js';
import type { EndRecord, EventRecord } from '../../src/core/bundle.js';
import { readLines, writeLines } from '../../src/evidence/bundle-file.js';
import { exportBundle } from '../../src/evidence/export.js';
import { auditFast } from '../../src/evidence/node-audit.js';
import { Tally } from '../../src/index.js';
import { parseVerifierKey } from '../../src/verify.js';
import { runIfMain } from '../run-main.js';

export async function main(dir: string, say: (line: string) => void = () => {}) {
  const bundle = join(dir, 'acme.jsonl');
  let keyTexts: string[];

  // --- the operator: some history, then the export ---------------------------
  const db = await Tally.open(join(dir, 'data'));
  try {
    const t = db.tenant('acme');
    await t.set('invoice:2026-001', { amount: 9500 });
    await t.set('invoice:2026-002', { amount: 1200 });
    await t.log('invoice.approved', { invoice: 'invoice:2026-001', by: 'cfo@acme.example' });
    await t.set('invoice:2026-001', { amount: 9400 }); // a credit note
    // A stream of JSON lines written with backpressure, in constant memory; `from`/`to` take seqs or ISO times.
    await writeLines(bundle, exportBundle(db, 'acme'));
    // The auditor must obtain the keys independently (`tally key show`, GET /keys),
    // not from the bundle's own manifest, which whoever handed over the file wrote.
    keyTexts = db.verifierKeys();
  } finally {
    await db.close();
  }
  say(`exported ${readFileSync(bundle, 'utf8').split('\n').filter(Boolean).length} lines to ${bundle}`);

  // --- the auditor: offline, no database, no server ---------------------------
  const keys = keyTexts.map((k) => parseVerifierKey(k));
  const audit = await auditFast(readLines(bundle), keys);
  say(audit.ok ? `audit ok: events ${audit.from}..${audit.to - 1}, ${audit.events} events, ${audit.checkpoints} checkpoints, complete` : `audit FAILED: ${audit.code}`);

  // --- someone edits the bundle: one bit of the first invoice's amount ----------
  const lines = readFileSync(bundle, 'utf8').split('\n').filter(Boolean);
  const i = lines.findIndex((l) => l.startsWith('{"t":"event"') && (JSON.parse(l) as EventRecord).payload !== null);
  const rec = JSON.parse(lines[i]!) as EventRecord;
  const payload = fromBase64(rec.payload!);
  payload[payload.length - 1]! ^= 1; // the last byte of CBOR {amount: 9500}: now 9501
  lines[i] = JSON.stringify({ ...rec, payload: toBase64(payload) });
  // A careful forger also recomputes the end record's digest (it is a plain BLAKE3, no key needed).
  const body = lines.slice(0, -1).map((l) => l + '\n').join('');
  const end = JSON.parse(lines[lines.length - 1]!) as EndRecord;
  lines[lines.length - 1] = JSON.stringify({ ...end, digest: toBase64(blake3(utf8(body))) });
  const tamperedFile = join(dir, 'acme-tampered.jsonl');
  writeFileSync(tamperedFile, body + lines[lines.length - 1] + '\n');
  // Read as data, the edited line looks perfectly fine…
  const tamperedData = decodeCanonical(payload);
  say(`the edited event now reads ${JSON.stringify(tamperedData)}`);
  // …but its payload no longer matches the commitment in its hashed, signed header.
  const tampered = await auditFast(readLines(tamperedFile), keys);
  say(tampered.ok ? 'tampered audit ok?!' : `tampered audit: ${tampered.code} at line ${tampered.line}, seq ${tampered.seq}: ${tampered.message}`);

  return { bundle, tamperedFile, keyTexts, audit, tamperedData, tampered, tamperedLine: i + 1 };
}

await runIfMain(import.meta.url, main);
