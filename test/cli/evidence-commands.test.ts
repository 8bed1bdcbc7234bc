/**
 * The evidence commands of the built CLI (`node dist/cli/main.js`), run as
 * real processes: verify, export, audit, replay, history, and export --url
 * against a server started as a child process. Assertions are on exit codes
 * (0 ok, 1 evidence that does not hold, 2 unusable input) and codes, and no
 * output ever carries a stack trace.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ManifestRecord } from '../../src/core/bundle.js';
import { fromBase64, toBase64 } from '../../src/core/bytes.js';
import type { ReceiptJson } from '../../src/core/receipt.js';
import { writeLines } from '../../src/evidence/bundle-file.js';
import { exportBundle } from '../../src/evidence/export.js';
import { Tally } from '../../src/store/tally.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const T0 = Date.parse('2026-04-01T00:00:00Z');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (asynchronously: a server may run in this process); resolves with any exit code. */
async function tally(args: string[], input?: string): Promise<Run> {
  const run = await new Promise<Run>((resolve, reject) => {
    const child = execFile(process.execPath, [CLI, ...args], { cwd: work, timeout: 30_000, env: { ...process.env, TALLY_DATA: join(work, 'no-such-data') } }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
    child.stdin?.end(input ?? '');
  });
  // failures are one plain sentence, never a stack trace
  expect(run.stdout + run.stderr, `tally ${args.join(' ')}`).not.toContain('    at ');
  return run;
}

const json = <T = Record<string, unknown>>(text: string): T => JSON.parse(text) as T;
const jsonLines = (text: string) => text.split('\n').filter(Boolean).map((l) => json(l));
const flipB64 = (b64: string, i = 0): string => {
  const b = fromBase64(b64);
  b[i]! ^= 1;
  return toBase64(b);
};

let work: string;
let data: string;
let key: string;
let otherKey: string;
const f: Record<string, string> = {};
let receipt: ReceiptJson;
const at: Record<string, number> = {};
const timeOf: Record<number, number> = {};

beforeAll(async () => {
  expect(existsSync(CLI), 'run `npm run build` first').toBe(true);
  work = mkdtempSync(join(tmpdir(), 'tally-cli-evidence-'));
  data = join(work, 'data');
  const fork = join(work, 'fork');
  let clock = T0;
  const now = () => clock;
  const tick = () => (clock += 60_000);

  // History shared by the journal and its fork.
  let db = await Tally.open(data, { name: 'node-c', now });
  let t = db.tenant('acme');
  const note = (name: string, r: { receipt: ReceiptJson }) => {
    at[name] = r.receipt.header.seq;
    timeOf[r.receipt.header.seq] = r.receipt.header.time;
    return r;
  };
  tick();
  note('alice0', await t.set('user:alice', { name: 'Alice', plan: 'free' }));
  tick();
  note('bob0', await t.set('user:bob', { name: 'Bob' }));
  tick();
  note('login', await t.log('user.login', { who: 'alice' }));
  tick();
  note('alice1', await t.set('user:alice', { name: 'Alice', plan: 'pro' }));
  tick();
  await Promise.all([t.set('order:1', { total: 10 }), t.set('order:2', { total: 20 }), t.log('order.created', { n: 2 })]);
  await db.close();
  cpSync(data, fork, { recursive: true });

  // The journal goes on...
  db = await Tally.open(data, { name: 'node-c', now });
  t = db.tenant('acme');
  tick();
  receipt = note('carol', await t.set('user:carol', { name: 'Carol' })).receipt;
  tick();
  note('redactBob', await t.redact('user:bob'));
  tick();
  note('delete', await t.delete('order:1'));
  tick();
  note('dave', await t.set('user:dave', { name: 'Dave' }));
  tick();
  note('erase', await t.erase('user:alice', { reason: 'gdpr' }));
  tick();
  note('last', await t.set('order:2', { total: 25 }));
  key = db.verifierKey();
  f['full'] = join(work, 'full.jsonl');
  f['early'] = join(work, 'early.jsonl');
  f['middle'] = join(work, 'middle.jsonl');
  await writeLines(f['full'], exportBundle(db, 'acme'));
  await writeLines(f['early'], exportBundle(db, 'acme', { to: at['carol']! }));
  await writeLines(f['middle'], exportBundle(db, 'acme', { from: at['carol']!, to: at['dave']! }));
  await db.close();

  // ...and its fork, signed with the same key, rewrites the event the receipt proves.
  const forked = await Tally.open(fork, { name: 'node-c', now });
  const ft = forked.tenant('acme');
  await ft.set('user:carol', { name: 'Mallory' });
  for (let i = 0; i < 5; i++) await ft.log('cover.up', { i });
  f['forked'] = join(work, 'forked.jsonl');
  await writeLines(f['forked'], exportBundle(forked, 'acme'));
  await forked.close();

  const other = await Tally.open(join(work, 'other'), { name: 'node-z' });
  otherKey = other.verifierKey();
  await other.close();

  // Receipts and bundles to feed the commands.
  const write = (name: string, text: string) => {
    f[name] = join(work, name);
    writeFileSync(f[name], text);
  };
  write('receipt.json', JSON.stringify(receipt));
  write('receipt-tampered.json', JSON.stringify({ ...receipt, payload: flipB64(receipt.payload!, 2) }));
  write('receipt-header.json', JSON.stringify({ ...receipt, header: { ...receipt.header, actor: 'someone-else' } }));
  write('receipt-v9.json', JSON.stringify({ ...receipt, format: 'tally-receipt/v9' }));
  write('not-json.json', '{"format": "tally-receipt/v1", ');
  write('wrong-shape.json', JSON.stringify({ hello: 'world' }));
  write('keys.txt', `# trusted keys of node-c\n\n${otherKey}\n${key}\n`);
  const full = readFileSync(f['full'], 'utf8').split('\n');
  const payloadLine = full.findIndex((l) => l.startsWith('{"t":"event"') && (JSON.parse(l) as { payload: string | null }).payload !== null);
  const tampered = [...full];
  const rec = JSON.parse(tampered[payloadLine]!) as { payload: string };
  rec.payload = flipB64(rec.payload, 0);
  tampered[payloadLine] = JSON.stringify(rec);
  write('tampered.jsonl', tampered.join('\n'));
  write('garbage.jsonl', full[0]!.slice(0, 40));
}, 60_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('tally verify', () => {
  it('accepts a good receipt: exit 0 and a one-line summary; --json parses', async () => {
    const [human, asJson, fromStdin, keyFile] = await Promise.all([
      tally(['verify', f['receipt.json']!, '--key', key]),
      tally(['verify', f['receipt.json']!, '--key', key, '--json']),
      tally(['verify', '-', '--key', key], JSON.stringify(receipt)),
      tally(['verify', f['receipt.json']!, '--key-file', f['keys.txt']!]),
    ]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout.endsWith('\n')).toBe(true);
    expect(human.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(human.stdout).toMatch(/^ok: /);
    expect(human.stdout).toContain('user:carol');
    expect(asJson.code).toBe(0);
    expect(json(asJson.stdout)).toMatchObject({ ok: true, tenant: 'acme', seq: at['carol'], op: 'set', key: 'user:carol', signer: key, payloadVerified: true, treeSize: at['carol']! + 1 });
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    expect(fromStdin.stdout).toMatch(/^ok: /);
    expect(keyFile.code, keyFile.stderr).toBe(0);
  });

  it('rejects a tampered receipt with exit 1 and the failure code', async () => {
    const [payloadJson, header, otherNode] = await Promise.all([
      tally(['verify', f['receipt-tampered.json']!, '--key', key, '--json']),
      tally(['verify', f['receipt-header.json']!, '--key', key, '--json']),
      tally(['verify', f['receipt.json']!, '--key', otherKey, '--json']),
    ]);
    expect(payloadJson.code).toBe(1);
    expect(payloadJson.stderr).toContain('payload_mismatch');
    expect(json(payloadJson.stdout)).toMatchObject({ ok: false, code: 'payload_mismatch' });
    expect(header.code).toBe(1);
    expect(json(header.stdout)).toMatchObject({ ok: false, code: 'header_hash_mismatch' });
    expect(otherNode.code).toBe(1);
    expect(json(otherNode.stdout)).toMatchObject({ ok: false, code: 'unknown_key' });
  });

  it('exit 2 for unusable input: not JSON, wrong shape, unknown format, missing or invalid key', async () => {
    const runs = await Promise.all([
      tally(['verify', f['not-json.json']!, '--key', key]),
      tally(['verify', f['wrong-shape.json']!, '--key', key]),
      tally(['verify', f['receipt-v9.json']!, '--key', key]),
      tally(['verify', f['receipt.json']!]),
      tally(['verify', f['receipt.json']!, '--key', 'not-a-key']),
    ]);
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^tally: /);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    }
  });

  it('--against a bundle: exit 0 when consistent, 1 when outside its range, tampered, or of a rewritten journal', async () => {
    const [good, early, tampered, forked] = await Promise.all([
      tally(['verify', f['receipt.json']!, '--key', key, '--against', f['full']!, '--json']),
      tally(['verify', f['receipt.json']!, '--key', key, '--against', f['early']!]),
      tally(['verify', f['receipt.json']!, '--key', key, '--against', f['tampered.jsonl']!]),
      tally(['verify', f['receipt.json']!, '--key', key, '--against', f['forked']!]),
    ]);
    expect(good.code, good.stderr).toBe(0);
    expect(json(good.stdout)).toMatchObject({ ok: true, against: { consistent: true, latestSize: at['last']! + 1 } });
    expect(early.code, early.stdout).toBe(1); // the receipt's checkpoint is after the bundle's range
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toContain('payload_mismatch');
    expect(forked.code).toBe(1); // same key, same seq, another event: the journal was rewritten
    expect(forked.stderr).toContain('rewritten');
  });
});

describe('tally export / audit', () => {
  it('export writes the bundle and report.html beside it; audit passes it', async () => {
    mkdirSync(join(work, 'export'));
    const out = join(work, 'export', 'acme.jsonl');
    const exp = await tally(['export', '--tenant', 'acme', '--out', out, '--data', data, '--json']);
    expect(exp.code, exp.stderr).toBe(0);
    expect(json(exp.stdout)).toMatchObject({ ok: true, tenant: 'acme', from: 0, to: at['last']! + 1, audit: 'passed' });
    const report = readFileSync(join(work, 'export', 'report.html'), 'utf8');
    expect(report).toContain('PASSED');
    expect(report).toContain('acme');
    expect(report).not.toMatch(/<script/i);
    const bundle = readFileSync(out, 'utf8');
    expect(bundle.endsWith('\n')).toBe(true);
    expect(json<ManifestRecord>(bundle.split('\n')[0]!)).toMatchObject({ t: 'manifest', tenant: 'acme', from: 0 });

    const [asJson, ranged] = await Promise.all([
      tally(['audit', out, '--key-file', f['keys.txt']!, '--json']),
      tally(['export', '--tenant', 'acme', '--out', join(work, 'ranged.jsonl'), '--data', data, '--from', String(at['carol']), '--to', new Date(timeOf[at['dave']!]!).toISOString(), '--no-report', '--json']),
    ]);
    expect(asJson.code).toBe(0);
    expect(json(asJson.stdout)).toMatchObject({ ok: true, tenant: 'acme', origin: 'node-c/acme', events: at['last']! + 1, complete: true, erasedPayloads: 2 });
    expect(ranged.code, ranged.stderr).toBe(0);
    const rs = json<{ from: number; to: number }>(ranged.stdout);
    expect(rs.from).toBeLessThanOrEqual(at['carol']!);
    expect(rs.to).toBeGreaterThanOrEqual(at['dave']! + 1);
    expect(rs).not.toHaveProperty('audit');
  });

  it('export refuses an unknown tenant with exit 2', async () => {
    const r = await tally(['export', '--tenant', 'nope', '--out', join(work, 'nope.jsonl'), '--data', data]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^tally: /);
  });

  it('audit: exit 1 for a tampered bundle or untrusted signer, 2 for garbage or a non-bundle file', async () => {
    const [tampered, otherNode, garbage, notBundle] = await Promise.all([
      tally(['audit', f['tampered.jsonl']!, '--key', key, '--json']),
      tally(['audit', f['full']!, '--key', otherKey, '--json']),
      tally(['audit', f['garbage.jsonl']!, '--key', key, '--json']),
      tally(['audit', f['receipt.json']!, '--key', key, '--json']),
    ]);
    expect(tampered.code).toBe(1);
    expect(json(tampered.stdout)).toMatchObject({ ok: false, code: 'payload_mismatch' });
    expect(tampered.stderr).toContain('payload_mismatch');
    expect(otherNode.code).toBe(1);
    expect(json(otherNode.stdout)).toMatchObject({ ok: false, code: 'unknown_key' });
    for (const r of [garbage, notBundle]) {
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^tally: /);
    }
  });
});

describe('tally replay / history', () => {
  it('replay gives the same blocks from the data directory and from the bundle, by seq and by ISO time', async () => {
    const points = [String(at['alice1']), String(at['last']), new Date(timeOf[at['erase']!]! - 1).toISOString()];
    const fromData: Run[] = [];
    for (const p of points) fromData.push(await tally(['replay', '--tenant', 'acme', '--as-of', p, '--data', data, '--json']));
    const fromBundle = await Promise.all(points.map((p) => tally(['replay', '--tenant', 'acme', '--as-of', p, '--bundle', f['full']!, '--key', key, '--json'])));
    points.forEach((p, i) => {
      expect(fromData[i]!.code, fromData[i]!.stderr).toBe(0);
      expect(fromBundle[i]!.code, fromBundle[i]!.stderr).toBe(0);
      expect(fromBundle[i]!.stdout, `as of ${p}`).toBe(fromData[i]!.stdout);
      expect(fromData[i]!.stdout.length).toBeGreaterThan(0);
    });
    const byKey = (run: Run) => Object.fromEntries(jsonLines(run.stdout).map((b) => [b['key'], b]));
    // as of alice's second write: alice on plan pro, bob visible, no carol yet
    const early = byKey(fromData[0]!);
    expect(Object.keys(early).sort()).toEqual(['user:alice', 'user:bob']);
    expect(early['user:alice']).toMatchObject({ version: at['alice1'], h: 0 });
    // (her payloads were erased later: the data is gone, the versions stay)
    expect(early['user:alice']!['data']).toBeNull();
    // at the end: alice erased, bob redacted (admin replay shows it, h=1), order:1 deleted
    const last = byKey(fromData[1]!);
    expect(Object.keys(last).sort()).toEqual(['order:2', 'user:bob', 'user:carol', 'user:dave']);
    expect(last['user:bob']).toMatchObject({ h: 1 });
    expect(last['order:2']).toMatchObject({ data: { total: 25 }, version: at['last'] });
    // by time: just before the erase, alice is still there
    const beforeErase = byKey(fromData[2]!);
    expect(Object.keys(beforeErase)).toContain('user:alice');
    expect(Object.keys(beforeErase)).not.toContain('order:1');
  });

  it('replay --bundle needs an intact bundle from seq 0', async () => {
    const [middle, tampered] = await Promise.all([
      tally(['replay', '--tenant', 'acme', '--as-of', '3', '--bundle', f['middle']!, '--key', key]),
      tally(['replay', '--tenant', 'acme', '--as-of', '3', '--bundle', f['tampered.jsonl']!, '--key', key]),
    ]);
    expect(middle.code, middle.stderr).toBe(2);
    expect(tampered.code).toBe(1);
  });

  it('history lists every version of a key, newest first, erased payloads marked', async () => {
    const alice = await tally(['history', 'user:alice', '--tenant', 'acme', '--data', data, '--json']);
    expect(alice.code, alice.stderr).toBe(0);
    const versions = jsonLines(alice.stdout);
    expect(versions.map((v) => [v['seq'], v['op']])).toEqual([
      [at['erase'], 'erase'],
      [at['alice1'], 'set'],
      [at['alice0'], 'set'],
    ]);
    expect(versions[1]).toMatchObject({ erased: true, data: null, time: timeOf[at['alice1']!], actor: 'admin' });
    expect(versions[2]).toMatchObject({ erased: true, data: null, time: timeOf[at['alice0']!] });
    for (const v of versions) expect(v).not.toHaveProperty('receipt');
  });
});

describe('tally export --url', () => {
  let server: ChildProcess | undefined;
  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server!.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
  });

  it('exports from a running server, and the bundle audits with the key it announced', async () => {
    const dir = join(work, 'served');
    server = spawn(process.execPath, [CLI, 'serve', '--data', dir, '--port', '0', '--quiet'], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    server.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const started = await new Promise<{ url: string; vkey: string; token: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start: ${out} ${err}`)), 20_000);
      server!.once('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
      server!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const serving = /serving .* on (http:\/\/\S+) \(node \S+, verifier key (\S+)\)/.exec(out);
        const token = /created tenant "dev"; its admin token \(shown once\): (tly_\S+)/.exec(out);
        if (serving && token) {
          clearTimeout(timer);
          resolve({ url: serving[1]!, vkey: serving[2]!, token: token[1]! });
        }
      });
    });
    const put = (k: string, body: unknown) =>
      fetch(`${started.url}/blocks/${encodeURIComponent(k)}`, { method: 'PUT', headers: { authorization: `Bearer ${started.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    for (let i = 0; i < 4; i++) expect((await put(`doc:${i}`, { data: { i } })).status).toBe(200);
    const burst = await Promise.all(Array.from({ length: 6 }, (_, i) => put(`doc:${i % 3}`, { data: { again: i } })));
    for (const r of burst) expect(r.status).toBe(200);

    const file = join(work, 'remote', 'dev.jsonl');
    mkdirSync(join(work, 'remote'));
    const exp = await tally(['export', '--tenant', 'dev', '--out', file, '--url', started.url, '--token', started.token, '--json']);
    expect(exp.code, exp.stderr).toBe(0);
    expect(json(exp.stdout)).toMatchObject({ ok: true, tenant: 'dev', from: 0, to: 10, audit: 'passed' });
    expect(readFileSync(join(work, 'remote', 'report.html'), 'utf8')).toContain('PASSED');
    const audit = await tally(['audit', file, '--key', started.vkey, '--json']);
    expect(audit.code, audit.stderr).toBe(0);
    expect(json(audit.stdout)).toMatchObject({ ok: true, tenant: 'dev', events: 10, complete: true, signers: [started.vkey] });

    const badToken = await tally(['export', '--tenant', 'dev', '--out', join(work, 'remote', 'x.jsonl'), '--url', started.url, '--token', 'tly_0000000000000000_' + 'A'.repeat(43)]);
    expect(badToken.code).toBe(2);

    const exited = new Promise<number | null>((r) => server!.once('exit', (code) => r(code)));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
