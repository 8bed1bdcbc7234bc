/**
 * The evidence tools an auditor runs with no server and no trust in the
 * operator: `verify`, `export`, `audit`, `replay`, `history`.
 * Exit codes: 0 success, 1 evidence that does not hold, 2 unusable input.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { bytesEqual } from '../core/bytes.js';
import type { JsonValue } from '../core/codec.js';
import { encodeHeader, type EventHeader } from '../core/event.js';
import { parseRecord, type ManifestRecord } from '../core/bundle.js';
import type { AuditResult } from '../core/audit-bundle.js';
import { parseVerifierKey, type VerifierKey } from '../core/note.js';
import { receiptFromJson } from '../core/receipt.js';
import { verifyReceipt } from '../core/verify-receipt.js';
import { readLines, writeLines } from '../evidence/bundle-file.js';
import { exportBundle } from '../evidence/export.js';
import { auditFast } from '../evidence/node-audit.js';
import { renderReport, ReportCollector } from '../evidence/report.js';
import { fastHashing } from '../journal/fast-hashing.js';
import { Tally } from '../store/tally.js';
import { parseAsOf, parseInstant } from '../store/time-point.js';
import { defaultDataDir } from './data-dir.js';

class Exit extends Error {
  constructor(readonly code: 1 | 2, message: string) {
    super(message);
  }
}

/** Runs a command; unusable input exits 2, failed evidence 1, both with one sentence and no stack. */
async function run(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const code = err instanceof Exit ? err.code : 2;
    process.stderr.write(`tally: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = code;
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Trusted keys from --key (repeatable) and --key-file (one per line). */
function trustedKeys(o: { key: string[]; keyFile?: string }): VerifierKey[] {
  const texts = [...o.key];
  if (o.keyFile) {
    let content: string;
    try {
      content = readFileSync(o.keyFile, 'utf8');
    } catch {
      throw new Exit(2, `cannot read key file ${o.keyFile}`);
    }
    texts.push(...content.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
  }
  if (texts.length === 0) throw new Exit(2, 'give at least one trusted verifier key with --key or --key-file');
  return texts.map((t) => {
    try {
      return parseVerifierKey(t);
    } catch (err) {
      throw new Exit(2, `invalid verifier key ${JSON.stringify(t.slice(0, 80))}: ${(err as Error).message}`);
    }
  });
}

function readInput(path: string): string {
  try {
    return path === '-' ? readFileSync(0, 'utf8') : readFileSync(path, 'utf8');
  } catch {
    throw new Exit(2, `cannot read ${path}`);
  }
}

/** Peeks the manifest (first line) of a bundle file. */
async function manifestOf(path: string): Promise<ManifestRecord> {
  let first: string | undefined;
  try {
    for await (const line of readLines(path)) {
      first = line;
      break;
    }
  } catch (err) {
    // A missing file, a directory, no permission: name the file, not just the errno.
    throw new Exit(2, `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    const r = first === undefined ? undefined : parseRecord(first, 1);
    if (r?.t === 'manifest') return r;
  } catch (err) {
    throw new Exit(2, `${path} is not a Tally bundle: ${(err as Error).message}`);
  }
  throw new Exit(2, `${path} is not a Tally bundle: it does not start with a manifest`);
}

/** Audits a bundle file with a progress bar on a TTY. */
async function auditFile(path: string, keys: VerifierKey[], hooks: { onEvent?: (h: EventHeader, p: Uint8Array | null) => void; onCheckpoint?: (cp: import('../core/checkpoint.js').Checkpoint) => void } = {}): Promise<AuditResult> {
  const manifest = await manifestOf(path);
  const bar = process.stderr.isTTY ? new SingleBar({ format: 'auditing [{bar}] {value}/{total} events', hideCursor: true }) : undefined;
  bar?.start(manifest.to - manifest.from, 0);
  try {
    return await auditFast(readLines(path), keys, { ...hooks, onProgress: (n) => bar?.update(n), progressEvery: 5000 });
  } finally {
    bar?.stop();
  }
}

function auditExit(r: AuditResult): void {
  if (!r.ok) throw new Exit(r.code === 'malformed' ? 2 : 1, `audit failed: ${r.code}: ${r.message} (line ${r.line}${r.seq !== undefined ? `, seq ${r.seq}` : ''})`);
}

/** Registers the evidence commands. */
export function registerEvidenceCommands(program: Command): void {
  program
    .command('verify <receipt>')
    .description('verify a receipt offline (file, or - for stdin)')
    .option('--key <vkey>', 'trusted verifier key (repeatable)', collect, [])
    .option('--key-file <file>', 'file with trusted verifier keys, one per line')
    .option('--against <bundle>', 'also check the receipt against an evidence bundle (the journal was not rewritten since)')
    .option('--json', 'print a JSON result')
    .action((file: string, o: { key: string[]; keyFile?: string; against?: string; json?: boolean }) =>
      run(async () => {
        const keys = trustedKeys(o);
        const text = readInput(file);
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          throw new Exit(2, `${file} is not JSON`);
        }
        const verdict = verifyReceipt(parsed, keys);
        const out: Record<string, unknown> = { ...verdict, ...(verdict.ok ? { checkpoint: undefined, data: undefined } : {}) };
        if (!verdict.ok) {
          if (o.json) process.stdout.write(JSON.stringify(out) + '\n');
          throw new Exit(verdict.code === 'malformed' ? 2 : 1, `receipt rejected: ${verdict.code}: ${verdict.message}`);
        }
        if (o.against) {
          const r = receiptFromJson(parsed);
          const hash = fastHashing.eventHash(encodeHeader(r.header));
          let seen = 'absent' as 'same' | 'different' | 'absent';
          const roots = new Map<number, Uint8Array>();
          const audit = await auditFile(o.against, keys, {
            onEvent: (h) => {
              if (h.seq === r.header.seq) seen = bytesEqual(fastHashing.eventHash(encodeHeader(h)), hash) ? 'same' : 'different';
            },
            onCheckpoint: (cp) => void (cp.size === verdict.treeSize ? roots.set(cp.size, cp.root) : undefined),
          });
          auditExit(audit);
          if (!audit.ok) return;
          const cpRoot = roots.get(verdict.treeSize);
          if (seen === 'different') throw new Exit(1, `the bundle holds a different event at seq ${r.header.seq}: the journal was rewritten`);
          if (cpRoot === undefined) throw new Exit(1, `the receipt's checkpoint (size ${verdict.treeSize}) is not inside the bundle's range ${audit.from}..${audit.to}`);
          if (!bytesEqual(cpRoot, verdict.checkpoint.root)) throw new Exit(1, `the bundle's checkpoint of size ${verdict.treeSize} has another root: the journal was rewritten`);
          out['against'] = { bundle: o.against, consistent: true, latestSize: audit.to };
        }
        if (o.json) process.stdout.write(JSON.stringify(out) + '\n');
        else
          process.stdout.write(
            `ok: tenant ${verdict.tenant} seq ${verdict.seq} ${verdict.op} "${verdict.key}", proven in checkpoint of size ${verdict.treeSize}, signed by ${verdict.signer}${o.against ? `; consistent with ${o.against} up to ${(out['against'] as { latestSize: number }).latestSize}` : ''}\n`,
          );
      }),
    );

  program
    .command('export')
    .description('write an evidence bundle (and report.html beside it)')
    .requiredOption('--tenant <name>', 'tenant')
    .requiredOption('--out <file>', 'bundle file to write')
    .option('--from <seq|iso>', 'first event (seq or ISO time)')
    .option('--to <seq|iso>', 'end of range (seq, exclusive, or ISO time, inclusive)')
    .option('--data <dir>', 'data directory', defaultDataDir())
    .option('--url <url>', 'export from a running server instead')
    .option('--token <token>', 'token for --url')
    .option('--no-report', 'do not write report.html')
    .option('--json', 'print a JSON summary')
    .action((o: { tenant: string; out: string; from?: string; to?: string; data: string; url?: string; token?: string; report: boolean; json?: boolean }) =>
      run(async () => {
        let keys: string[];
        if (o.url) {
          if (!o.token) throw new Exit(2, '--url needs --token');
          const qs = new URLSearchParams({ ...(o.from ? { from: o.from } : {}), ...(o.to ? { to: o.to } : {}) });
          const res = await fetch(`${o.url.replace(/\/+$/, '')}/export?${qs}`, { headers: { authorization: `Bearer ${o.token}` } }).catch((err: Error) => {
            throw new Exit(2, `cannot reach ${o.url}: ${err.message}`);
          });
          if (!res.ok || !res.body) throw new Exit(2, `export failed: HTTP ${res.status} ${await res.text()}`);
          const decoder = new TextDecoder();
          await writeLines(
            o.out,
            (async function* () {
              for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) yield decoder.decode(chunk, { stream: true });
            })(),
          );
          keys = (await manifestOf(o.out)).keys;
        } else {
          const db = await Tally.open(o.data);
          try {
            await writeLines(o.out, exportBundle(db, o.tenant, { ...(o.from !== undefined ? { from: o.from } : {}), ...(o.to !== undefined ? { to: o.to } : {}) }));
            keys = db.verifierKeys();
          } finally {
            await db.close();
          }
        }
        const manifest = await manifestOf(o.out);
        let audit: AuditResult | undefined;
        if (o.report) {
          const collector = new ReportCollector();
          audit = await auditFile(o.out, keys.map((k) => parseVerifierKey(k)), { onEvent: collector.onEvent, onCheckpoint: collector.onCheckpoint });
          const reportPath = join(dirname(o.out), 'report.html');
          writeFileSync(reportPath, renderReport(collector, audit, { tenant: manifest.tenant, from: manifest.from, to: manifest.to, keysNote: `Audited at export time against the keys listed in the bundle (${keys.length}). An auditor should re-run \`tally audit\` with keys obtained independently.` }));
        }
        const summary = { ok: true, out: o.out, tenant: manifest.tenant, from: manifest.from, to: manifest.to, ...(audit ? { audit: audit.ok ? 'passed' : `failed: ${audit.code}` } : {}) };
        if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
        else process.stdout.write(`wrote ${o.out}: tenant ${manifest.tenant}, events ${manifest.from}..${manifest.to - 1}${audit ? `; report.html: audit ${summary.audit}` : ''}\n`);
      }),
    );

  program
    .command('audit <bundle>')
    .description('check an evidence bundle offline: hashes, chains, commitments, roots, signatures, consistency, completeness')
    .option('--key <vkey>', 'trusted verifier key (repeatable)', collect, [])
    .option('--key-file <file>', 'file with trusted verifier keys, one per line')
    .option('--json', 'print a JSON report')
    .action((bundle: string, o: { key: string[]; keyFile?: string; json?: boolean }) =>
      run(async () => {
        const keys = trustedKeys(o);
        const r = await auditFile(bundle, keys);
        if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
        auditExit(r);
        if (r.ok && !o.json) process.stdout.write(`ok: tenant ${r.tenant}, events ${r.from}..${r.to - 1} complete: ${r.events} events, ${r.checkpoints} checkpoints, ${r.erasedPayloads} erased payloads accounted for\n`);
      }),
    );

  program
    .command('replay')
    .description('the block state at a past point, from a data directory or an audited bundle')
    .requiredOption('--tenant <name>', 'tenant')
    .requiredOption('--as-of <seq|iso>', 'transaction-time point: a seq (inclusive) or an ISO time')
    .option('--valid-at <ms|iso>', 'valid-time instant (default: now)')
    .option('--prefix <p>', 'only keys with this prefix', '')
    .option('--data <dir>', 'data directory', defaultDataDir())
    .option('--bundle <file>', 'replay from an evidence bundle that starts at seq 0 (audited first)')
    .option('--key <vkey>', 'trusted verifier key for --bundle (repeatable)', collect, [])
    .option('--key-file <file>', 'file with trusted verifier keys')
    .option('--json', 'print JSON lines')
    .action((o: { tenant: string; asOf: string; validAt?: string; prefix: string; data: string; bundle?: string; key: string[]; keyFile?: string; json?: boolean }) =>
      run(async () => {
        const blocks: { key: string; f: number; l: number; v: number; h: number; data: JsonValue; version: number }[] = [];
        if (o.bundle) {
          const { replayBundle } = await import('../evidence/replay-bundle.js');
          const manifest = await manifestOf(o.bundle);
          if (manifest.tenant !== o.tenant) throw new Exit(2, `the bundle is of tenant ${manifest.tenant}, not ${o.tenant}`);
          const res = await replayBundle(o.bundle, trustedKeys(o), o.asOf, o.prefix, o.validAt);
          auditExit(res.audit);
          blocks.push(...res.blocks);
        } else {
          const db = await Tally.open(o.data);
          try {
            if (!db.journal.tenant(o.tenant)) throw new Exit(2, `tenant "${o.tenant}" does not exist in ${o.data}`);
            const validAt = o.validAt === undefined ? {} : { validAt: /^\d+$/.test(o.validAt) ? Number(o.validAt) : o.validAt };
            for await (const b of db.tenant(o.tenant, { create: false }).stateAt(/^\d+$/.test(o.asOf) ? Number(o.asOf) : o.asOf, { prefix: o.prefix, includeHidden: true, ...validAt })) blocks.push(b);
          } finally {
            await db.close();
          }
        }
        for (const b of blocks) process.stdout.write(o.json ? JSON.stringify(b) + '\n' : `${b.key}\tv${b.v}${b.h ? ' hidden' : ''}\tversion ${b.version}\t${JSON.stringify(b.data)}\n`);
        if (!o.json && blocks.length === 0) process.stdout.write('(no blocks at that point)\n');
      }),
    );

  program
    .command('history <key>')
    .description('every version of a block with its time, valid time, actor and seq')
    .requiredOption('--tenant <name>', 'tenant')
    .option('--as-of <seq|iso>', 'only what the journal knew then (a seq, inclusive, or an ISO time)')
    .option('--valid-at <ms|iso>', 'only facts valid from this instant or earlier')
    .option('--data <dir>', 'data directory', defaultDataDir())
    .option('--json', 'print JSON lines')
    .action((key: string, o: { tenant: string; data: string; asOf?: string; validAt?: string; json?: boolean }) =>
      run(async () => {
        const db = await Tally.open(o.data);
        try {
          const rec = db.journal.tenant(o.tenant);
          if (!rec) throw new Exit(2, `tenant "${o.tenant}" does not exist in ${o.data}`);
          const point = o.asOf === undefined ? undefined : parseAsOf(/^\d+$/.test(o.asOf) ? Number(o.asOf) : o.asOf, 'as-of');
          const maxSeq = point === undefined ? Infinity : 'seq' in point ? point.seq : db.journal.lastSeqAtOrBefore(rec.id, point.time);
          const validAt = o.validAt === undefined ? Infinity : parseInstant(/^\d+$/.test(o.validAt) ? Number(o.validAt) : o.validAt, 'valid-at');
          const t = db.tenant(o.tenant, { create: false });
          let cursor: string | undefined;
          do {
            const page = await t.history(key, { limit: 1000, ...(cursor ? { cursor } : {}) });
            for (const v of page.versions) {
              if (v.seq > maxSeq || v.validFrom > validAt) continue;
              const { receipt: _r, ...rest } = v;
              process.stdout.write(o.json ? JSON.stringify(rest) + '\n' : `${v.seq}\t${new Date(v.time).toISOString()}\tvalid from ${new Date(v.validFrom).toISOString()}\t${v.op}\t${v.actor}\t${v.erased ? '(erased)' : v.data === null ? '' : JSON.stringify(v.data)}\n`);
            }
            cursor = page.next ?? undefined;
          } while (cursor);
        } finally {
          await db.close();
        }
      }),
    );
}



