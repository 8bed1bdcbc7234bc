import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { blake3 } from '@noble/hashes/blake3.js';
import { describe, expect, it } from 'vitest';
import { toBase64, utf8 } from '../../src/core/bytes.js';
import { tempDir } from '../../test/helpers/tmpdir.js';
import { main } from './example.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** `tally audit FILE --key K --json` with the built CLI; resolves with the exit code and parsed report. */
async function cliAudit(file: string, keys: string[]): Promise<{ code: number; report: Record<string, unknown> }> {
  const args = [CLI, 'audit', file, ...keys.flatMap((k) => ['--key', k]), '--json'];
  try {
    const { stdout } = await promisify(execFile)(process.execPath, args);
    return { code: 0, report: JSON.parse(stdout) as Record<string, unknown> };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, report: JSON.parse(e.stdout) as Record<string, unknown> };
  }
}

describe('recipe 03: evidence export and offline audit', () => {
  it('exports a bundle that audits complete against the node keys, and catches one flipped payload byte', async () => {
    const r = await main(tempDir());
    expect(r.audit).toMatchObject({ ok: true, tenant: 'acme', from: 0, to: 4, events: 4, complete: true, erasedPayloads: 0, signers: r.keyTexts });
    expect(r.tamperedData).toEqual({ amount: 9501 });
    expect(r.tampered).toMatchObject({ ok: false, code: 'payload_mismatch', seq: 0, line: r.tamperedLine });

    // The same verdicts from `tally audit`: exit 0, then exit 1 (evidence that does not hold).
    const good = await cliAudit(r.bundle, r.keyTexts);
    expect(good).toMatchObject({ code: 0, report: { ok: true, events: 4 } });
    const bad = await cliAudit(r.tamperedFile, r.keyTexts);
    expect(bad).toMatchObject({ code: 1, report: { ok: false, code: 'payload_mismatch', seq: 0 } });
  });

  it('the tempting move — trusting the end digest — fails: a forger recomputes it, only the signed commitments hold', async () => {
    const r = await main(tempDir());
    // The digest is plain BLAKE3 of the bytes before the end line: anyone can recompute it,
    // exactly as the example's forger does (checked here against the genuine bundle).
    const digestHolds = (file: string) => {
      const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
      const body = lines.slice(0, -1).map((l) => l + '\n').join('');
      return (JSON.parse(lines[lines.length - 1]!) as { digest: string }).digest === toBase64(blake3(utf8(body)));
    };
    expect(digestHolds(r.bundle)).toBe(true);
    // So the forged bundle passes a digest check, and is still refused by its payload commitment.
    expect(digestHolds(r.tamperedFile)).toBe(true);
    expect(r.tampered).toMatchObject({ ok: false, code: 'payload_mismatch' });
  });
});
