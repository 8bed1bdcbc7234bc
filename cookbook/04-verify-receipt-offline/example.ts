/**
 * Recipe 04: one receipt, verified three ways, none of which trusts or
 * reaches the server — the `tally verify` CLI, the SDK function
 * `verifyReceipt` ('tallydb/verify'), and a browser page (browser-page.ts).
 * Runs the CLI from dist/ (`npm run build` first).
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tally } from '../../src/index.js';
import { verifyReceipt } from '../../src/verify.js';
import { runIfMain } from '../run-main.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** `tally verify FILE --key KEY [--json]`, asynchronously; resolves with the exit code and output, whatever the code. */
export function tallyVerify(file: string, key: string, json = false): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'verify', file, '--key', key, ...(json ? ['--json'] : [])], (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

/** Writes one receipt in a fresh data directory; returns it with the node's verifier key. */
async function writeOnce(dir: string, data: unknown) {
  const db = await Tally.open(dir);
  try {
    const { receipt } = await db.tenant('acme').set('invoice:2026-001', data);
    return { receipt, verifierKey: db.verifierKey() };
  } finally {
    await db.close();
  }
}

export async function main(dir: string, say: (line: string) => void = () => {}) {
  // The writer keeps the receipt; the verifier key is published by the node (`tally key show`, GET /keys).
  const { receipt, verifierKey } = await writeOnce(join(dir, 'node'), { amount: 9500 });
  const receiptFile = join(dir, 'receipt.json');
  writeFileSync(receiptFile, JSON.stringify(receipt, null, 2));

  // 1. The CLI: exit 0 ok, 1 a receipt that does not hold, 2 unusable input.
  const cli = await tallyVerify(receiptFile, verifierKey);
  say(`tally verify → exit ${cli.code}: ${cli.stdout.trim()}`);
  const cliJson = await tallyVerify(receiptFile, verifierKey, true);

  // 2. The SDK: a pure function, the same code the CLI and the browser run.
  const sdk = verifyReceipt(JSON.parse(readFileSync(receiptFile, 'utf8')), [verifierKey]);
  say(`verifyReceipt → ${sdk.ok ? `ok: seq ${sdk.seq} ${sdk.op} "${sdk.key}" data ${JSON.stringify(sdk.data)}` : sdk.code}`);

  // The tempting move: trusting a key that came along with the receipt. An impostor
  // node mints a perfectly self-consistent receipt for the same tenant and key…
  const impostor = await writeOnce(join(dir, 'impostor'), { amount: 1 });
  const forgedFile = join(dir, 'forged.json');
  writeFileSync(forgedFile, JSON.stringify(impostor.receipt));
  const forgedWithItsOwnKey = verifyReceipt(impostor.receipt, [impostor.verifierKey]);
  // …which only the key obtained from the real node refuses.
  const forged = await tallyVerify(forgedFile, verifierKey);
  say(`forged receipt with the key it came with → ${forgedWithItsOwnKey.ok ? 'ok (!)' : 'refused'}; with the node's key → exit ${forged.code}: ${forged.stderr.trim()}`);

  return { receipt, receiptFile, verifierKey, cli, cliJson, sdk, forgedWithItsOwnKey, forged };
}

await runIfMain(import.meta.url, main);
