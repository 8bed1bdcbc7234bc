/**
 * The CLI's file parsers under fuzz: receipt files (`tally verify`), bundle
 * files (`tally audit`, `tally replay --bundle`, `verify --against`) and key
 * files (`--key-file`), arbitrary or mutated, go through the library
 * functions the commands call — and a handful through the built binary.
 * Library calls return a verdict or throw a TallyError; the binary exits 1
 * (evidence that does not hold) or 2 (unusable input) with one plain line
 * on stderr, never a stack trace, never a crash.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCanonical } from '../../src/core/codec.js';
import { ERROR_STATUS, TallyError } from '../../src/core/errors.js';
import { parseVerifierKey, type VerifierKey } from '../../src/core/note.js';
import type { ReceiptJson } from '../../src/core/receipt.js';
import { verifyReceipt } from '../../src/core/verify-receipt.js';
import { readLines } from '../../src/evidence/bundle-file.js';
import { exportBundle } from '../../src/evidence/export.js';
import { auditFast } from '../../src/evidence/node-audit.js';
import { replayBundle } from '../../src/evidence/replay-bundle.js';
import { Tally } from '../../src/store/tally.js';
import { craftBundle, craftEvent, craftKey, editLines, lineEdit, seal } from '../core/crafted-bundle.js';
import { collect } from '../evidence/bundle-helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const RUNS = Number(process.env['TALLY_FUZZ_RUNS'] ?? 300);

let work: string;
let keys: VerifierKey[];
let receipt: ReceiptJson;
let bundle: string[];
let fileNo = 0;

/** Writes `content` to a fresh file in the work directory and returns its path. */
function file(content: string | Uint8Array): string {
  const path = join(work, `f${fileNo++}`);
  writeFileSync(path, content);
  return path;
}

/** Runs a library call: its value, or the code of the TallyError it threw; anything else fails with the input. */
async function attempt<T>(f: () => Promise<T> | T, what: string): Promise<{ value?: T; code: string }> {
  try {
    return { value: await f(), code: 'ok' };
  } catch (err) {
    if (err instanceof TallyError && Object.hasOwn(ERROR_STATUS, err.code)) return { code: err.code };
    throw new Error(`${what}: threw ${(err as Error)?.constructor?.name} (${(err as Error)?.message}) instead of a TallyError`, { cause: err });
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'tally-parsers-fuzz-'));
  let clock = Date.parse('2026-05-01T00:00:00Z');
  const db = await Tally.open(join(work, 'data'), { name: 'cli-fuzz', now: () => (clock += 1000) });
  const t = db.tenant('acme');
  receipt = (await t.set('user:alice', { name: 'Alice' })).receipt;
  await t.log('login', { ip: '10.0.0.1' });
  await t.set('user:alice', { name: 'Alice B.' });
  await t.erase('user:alice', { reason: 'gdpr' });
  await t.set('doc', [1, 2]);
  keys = db.verifierKeys().map((k) => parseVerifierKey(k));
  bundle = await collect(exportBundle(db, 'acme'));
  await db.close();
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** File content: the original text with edits, or arbitrary bytes, or text with odd line ends and encodings. */
const textEdit = fc.oneof(
  fc.record({ k: fc.constant('ins' as const), at: fc.nat(), s: fc.oneof(fc.string({ unit: 'binary', maxLength: 4 }), fc.constantFrom('\n', '\r', '\r\n', '\u0000', '\uFEFF', '"', '{', '}', '[', ']', ',', 'null')) }),
  fc.record({ k: fc.constant('del' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ k: fc.constant('cut' as const), at: fc.nat() }),
);
function editText(s: string, edits: readonly { k: 'ins' | 'del' | 'cut'; at: number; s?: string; n?: number }[]): string {
  for (const e of edits) {
    const at = e.at % (s.length + 1);
    s = e.k === 'ins' ? s.slice(0, at) + e.s! + s.slice(at) : e.k === 'del' ? s.slice(0, at) + s.slice(at + e.n!) : s.slice(0, at);
  }
  return s;
}
const content = (original: () => string) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.array(textEdit, { minLength: 1, maxLength: 3 }).map((es) => Buffer.from(editText(original(), es))) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.constantFrom('', '\n', '\r\n', '\uFEFF' + original(), original().replace(/\n/g, '\r\n'), original().replace(/\n/g, '\r'), original() + '\n\n', 'null', '[]', '{}').map((s) => Buffer.from(s)) },
    { weight: 1, arbitrary: fc.constant(null).map(() => Buffer.from(original(), 'utf16le')) },
  );

describe('CLI file parsers under fuzz (library)', () => {
  it('verify: a receipt file is JSON that verifies, or a verdict with a stable code, never a throw', async () => {
    const original = JSON.stringify(receipt, null, 2);
    await fc.assert(
      fc.asyncProperty(content(() => original), async (bytes) => {
        const text = bytes.toString('utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text); // the command answers "is not JSON" (exit 2) for this
        } catch {
          return;
        }
        const v = (await attempt(() => verifyReceipt(parsed, keys), `receipt file ${JSON.stringify(text.slice(0, 300))}`)).value!;
        if (v.ok) expect(v.seq).toBe(receipt.header.seq);
        else expect(['malformed', 'unknown_key', 'bad_signature', 'origin_mismatch', 'header_hash_mismatch', 'payload_mismatch', 'proof_mismatch']).toContain(v.code);
      }),
      { numRuns: RUNS },
    );
  });

  it('--key-file: every line parses to a verifier key or a TallyError', async () => {
    const original = `# trusted keys\n${keys.map((k) => k.text).join('\n')}\n${craftKey.text}\n`;
    await fc.assert(
      fc.asyncProperty(content(() => original), async (bytes) => {
        const lines = bytes.toString('utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
        for (const l of lines) await attempt(() => parseVerifierKey(l), `key line ${JSON.stringify(l.slice(0, 200))}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('audit and replay: a bundle file, edited or crafted, yields a verdict with a stable code (and no state unless it passes), never a stray throw', async () => {
    const realText = bundle.join('\n') + '\n';
    const bundles = fc.oneof(
      content(() => realText).map((b) => ({ bytes: b, trusted: keys })),
      fc.tuple(fc.array(lineEdit, { minLength: 1, maxLength: 2 }), fc.boolean()).map(([es, re]) => {
        const lines = editLines(bundle, es);
        return { bytes: Buffer.from((re ? seal(lines) : lines).join('\n') + '\n'), trusted: keys };
      }),
      fc.tuple(fc.array(craftEvent, { maxLength: 5 }), fc.array(lineEdit, { maxLength: 2 }), fc.boolean()).map(([events, es, trustIt]) => ({
        bytes: Buffer.from(seal(editLines(craftBundle(events), es)).join('\n') + '\n'),
        trusted: trustIt ? [craftKey] : keys,
      })),
    );
    await fc.assert(
      fc.asyncProperty(bundles, fc.constantFrom('0', '1', '3', '99', '2026-05-01T00:00:03Z', 'yesterday', ''), async ({ bytes, trusted }, asOf) => {
        const path = file(bytes);
        const what = `bundle ${JSON.stringify(bytes.toString('utf8').slice(0, 1500))}`;
        const audit = (await attempt(() => auditFast(readLines(path), trusted), what)).value!;
        expect(typeof audit.ok).toBe('boolean');
        const replay = await attempt(() => replayBundle(path, trusted, asOf, ''), `${what} replayed as of ${asOf}`);
        if (replay.value && !replay.value.audit.ok) expect(replay.value.blocks, `${what}: state replayed from a bundle that fails its audit`).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('regressions the CLI parsers fuzz found', () => {
  it('replays no state from a bundle that fails its audit (it folded unverified events and decoded their payloads)', async () => {
    const forged = file(craftBundle([{ op: 'set', key: 'a', payload: Uint8Array.of(0xff, 0x00), drop: false, time: 0, v: 0 }]).join('\n'));
    const res = await replayBundle(forged, keys, '5', '');
    expect(res.audit).toMatchObject({ ok: false, code: 'unknown_key' });
    expect(res.blocks).toEqual([]);
  });

  it('refuses a signed payload that is not canonical CBOR with bad_request naming the event (was internal_error "stored data is corrupt")', async () => {
    const odd = file(craftBundle([{ op: 'set', key: 'a', payload: Uint8Array.of(0xff, 0x00), drop: false, time: 0, v: 0 }]).join('\n'));
    await expect(replayBundle(odd, [craftKey], '5', '')).rejects.toMatchObject({ code: 'bad_request', message: 'the payload of event 0 is not canonical CBOR' });
  });
});

// ---- the real binary ----------------------------------------------------------

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function tally(args: string[], input = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [CLI, ...args], { cwd: work, timeout: 30_000, env: { ...process.env, TALLY_DATA: join(work, 'no-such-data') } }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
    child.stdin?.end(input);
  });
}

describe('CLI file parsers under fuzz (the built binary)', () => {
  it('exits 1 or 2 with one plain line on stderr, never a stack trace, for broken receipt, key and bundle files', { timeout: 120_000 }, async () => {
    expect(existsSync(CLI), 'run `npm run build` first').toBe(true);
    const key = keys[0]!.text;
    const dir = join(work, 'a-directory');
    mkdirSync(dir);
    const flipped = { ...receipt, hash: receipt.hash.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) };
    const nullErase = craftBundle([{ op: 'erase', key: 'a', payload: encodeCanonical(null), drop: false, time: 0, v: 0 }]);
    const unsigned = craftBundle([{ op: 'set', key: 'a', payload: Uint8Array.of(0xff, 0x00), drop: false, time: 0, v: 0 }]);
    const noStart = seal(craftBundle([]).filter((l) => !l.includes('"t":"start"')));
    const cases: { args: string[]; input?: string; codes: number[]; stderr: RegExp }[] = [
      { args: ['verify', file(Uint8Array.of(0xff, 0xfe, 0x00, 0x7b)), '--key', key], codes: [2], stderr: /is not JSON/ },
      { args: ['verify', file('[]'), '--key', key], codes: [2], stderr: /receipt rejected: malformed/ },
      { args: ['verify', file(JSON.stringify({ ...receipt, proof: [null] })), '--key', key], codes: [2], stderr: /malformed/ },
      { args: ['verify', file(JSON.stringify(flipped)), '--key', key], codes: [1], stderr: /header_hash_mismatch/ },
      { args: ['verify', '-', '--key', key], input: '{"format":"tally-receipt/v1"', codes: [2], stderr: /is not JSON/ },
      { args: ['verify', file(JSON.stringify(receipt)), '--key-file', file(Uint8Array.of(0x00, 0x01, 0x0a, 0xff, 0x2b, 0x2b))], codes: [2], stderr: /invalid verifier key/ },
      { args: ['verify', file(JSON.stringify(receipt)), '--key-file', dir], codes: [2], stderr: /cannot read key file/ },
      { args: ['verify', file(JSON.stringify(receipt)), '--key', key, '--against', file(Uint8Array.of(1, 2, 3))], codes: [2], stderr: /not a Tally bundle/ },
      { args: ['audit', file(''), '--key', key], codes: [2], stderr: /not a Tally bundle/ },
      { args: ['audit', file(Buffer.from(bundle.join('\n').slice(0, 500))), '--key', key], codes: [2], stderr: /audit failed|not a Tally bundle/ },
      { args: ['audit', file('x'.repeat(3_000_000)), '--key', key], codes: [2], stderr: /not a Tally bundle/ },
      { args: ['audit', dir, '--key', key], codes: [2], stderr: /cannot read .*a-directory \(EISDIR\)/ },
      { args: ['audit', join(work, 'missing.jsonl'), '--key', key], codes: [2], stderr: /cannot read .*missing\.jsonl \(ENOENT\)/ },
      { args: ['replay', '--tenant', 'acme', '--as-of', '1', '--bundle', dir, '--key', key], codes: [2], stderr: /cannot read/ },
      { args: ['audit', file(nullErase.join('\n')), '--key', craftKey.text], codes: [2], stderr: /audit failed: malformed: .*erase event 0/ },
      { args: ['audit', file(noStart.join('\n')), '--key', craftKey.text], codes: [2], stderr: /audit failed: malformed: .*no start record/ },
      { args: ['audit', file(unsigned.join('\n')), '--key', key], codes: [1], stderr: /audit failed: unknown_key/ },
      { args: ['replay', '--tenant', 'fz', '--as-of', '5', '--bundle', file(unsigned.join('\n')), '--key', key], codes: [1], stderr: /audit failed: unknown_key/ },
      { args: ['replay', '--tenant', 'fz', '--as-of', 'not-a-time', '--bundle', file(unsigned.join('\n')), '--key', craftKey.text], codes: [2], stderr: /as-of/ },
      { args: ['replay', '--tenant', 'acme', '--as-of', '1', '--bundle', file(Uint8Array.of(0x7b, 0x0a)), '--key', key], codes: [2], stderr: /not a Tally bundle/ },
    ];
    const runs: Run[] = [];
    for (let i = 0; i < cases.length; i += 4) runs.push(...(await Promise.all(cases.slice(i, i + 4).map((c) => tally(c.args, c.input)))));
    cases.forEach((c, i) => {
      const r = runs[i]!;
      const what = `tally ${c.args.map((a) => (a.length > 60 ? a.slice(0, 60) + '…' : a)).join(' ')} → ${r.code}: ${r.stderr}`;
      expect(c.codes, what).toContain(r.code);
      expect(r.stderr, what).toMatch(/^tally: [^\n]+\n$/);
      expect(r.stderr, what).toMatch(c.stderr);
      expect(r.stdout + r.stderr, what).not.toMatch(/\n\s+at |TypeError|RangeError|ReferenceError|Cannot read properties/);
    });
  });
});
