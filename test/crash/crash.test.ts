/**
 * Crash test (`npm run test:crash`, `-- --full` for 300 cycles): a child
 * process (crash-child.ts) writes concurrently through the library and
 * through its own HTTP server; the parent kills it with SIGKILL at a random
 * moment, reopens the data directory and checks, after every cycle:
 *
 * - every write whose receipt the child reported is present at its seq with
 *   the same event hash, payload and salt, its stored checkpoint is the one
 *   the receipt carries, and the block state as of that seq holds that data;
 * - every reported receipt verifies offline with `verifyReceipt` against the
 *   node's verifier keys pinned before the first cycle, and proves exactly
 *   the op, key and data that were sent;
 * - `verify({ projection: true })` passes for every tenant (chain, tree,
 *   signatures, contiguous seqs, projection equal to a fresh replay), the
 *   latest checkpoint covers exactly the stored events, and every
 *   checkpoint seen before the crash (the previous cycle's, and each one a
 *   receipt carried) is proven consistent with the recovered one.
 *
 * One data directory serves every cycle, so recovery runs again and again
 * on a growing journal. TALLY_CRASH_CYCLES sets the number of cycles
 * (default 30); TALLY_CRASH_EPOCH=N starts a fresh directory every N cycles.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseCheckpoint, type Checkpoint } from '../../src/core/checkpoint.js';
import { TallyError } from '../../src/core/errors.js';
import { blake3Tree } from '../../src/core/hash.js';
import { verifyConsistency } from '../../src/core/merkle.js';
import { parseNote, parseVerifierKey, verifyNote, type VerifierKey } from '../../src/core/note.js';
import { verifyReceipt } from '../../src/core/verify-receipt.js';
import { Tally } from '../../src/store/tally.js';
import type { AckLine } from './crash-child.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const CHILD = join(here, 'crash-child.ts');
const TENANTS = ['crash-a', 'crash-b', 'crash-c']; // the child's CRASH_TENANTS

const CYCLES = Number(process.env['TALLY_CRASH_CYCLES'] ?? 30);
const EPOCH = Number(process.env['TALLY_CRASH_EPOCH'] ?? CYCLES);
const MIN_WAIT_MS = 50;
const MAX_WAIT_MS = 800;

/** Throws with a message naming the cycle and the write. */
function check(cond: unknown, msg: () => string): asserts cond {
  if (!cond) throw new Error(msg());
}

/** How a child ended: by SIGKILL, unless it failed on its own. */
interface ChildRun {
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
  readyAfterMs: number;
  waitedMs: number;
}

/** A child process that has loaded its modules and waits for `go` before opening the data directory. */
interface Child {
  /** Says go, waits for `ready`, waits a random 50–800 ms, kills the child with SIGKILL and waits for it to end. */
  runAndKill(): Promise<ChildRun>;
  /** Kills it, if still alive. */
  kill(): void;
}

function spawnChild(dir: string, ackFile: string, cycle: number): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, ackFile, String(cycle)], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.on('error', () => {}); // a child that died early is reported by runAndKill
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    kill: () => {
      if (alive()) child.kill('SIGKILL');
    },
    async runAndKill() {
      const t0 = Date.now();
      const ready = new Promise<boolean>((resolve) => {
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          if (out.includes('ready\n')) resolve(true);
        });
        void ended.then(() => resolve(false));
        setTimeout(() => resolve(false), 60_000).unref();
      });
      child.stdin.write('go\n');
      if (!(await ready)) {
        if (alive()) child.kill('SIGKILL');
        const e = await ended;
        throw new Error(`cycle ${cycle}: the child never got ready (exit ${e.code} ${e.signal}); stderr:\n${stderr}`);
      }
      const readyAfterMs = Date.now() - t0;
      const waitedMs = MIN_WAIT_MS + Math.floor(Math.random() * (MAX_WAIT_MS - MIN_WAIT_MS + 1));
      await new Promise((r) => setTimeout(r, waitedMs));
      if (alive()) process.kill(child.pid!, 'SIGKILL');
      const { code, signal } = await ended;
      return { code, signal, stderr, readyAfterMs, waitedMs };
    },
  };
}

/** The complete lines of an ack file; a last line without its newline is torn and not an ack. */
function readAcks(file: string): AckLine[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const lines = text.split('\n');
  lines.pop(); // '' after the last newline, or a torn line
  return lines.map((l) => JSON.parse(l) as AckLine);
}

const b64 = (s: string) => Buffer.from(s, 'base64');

/** Parses a signed checkpoint note (the signature is checked by verifyReceipt / verify()). */
function checkpointOf(note: string): Checkpoint {
  return parseCheckpoint(parseNote(note).text);
}

/** Offline checks of receipts, run in slices while the next child runs (the parent is idle then). */
class OfflineVerifier {
  private queue: { cycle: number; line: AckLine }[] = [];
  private running: Promise<void> | undefined;
  failure: Error | undefined;
  verified = 0;

  constructor(private readonly keys: VerifierKey[]) {}

  push(cycle: number, lines: AckLine[]): void {
    for (const line of lines) this.queue.push({ cycle, line });
    this.running ??= this.drain().finally(() => (this.running = undefined));
  }

  async done(): Promise<void> {
    while (this.running) await this.running;
    if (this.failure) throw this.failure;
  }

  private async drain(): Promise<void> {
    let slice = 0;
    while (this.queue.length > 0 && !this.failure) {
      const { cycle, line } = this.queue.shift()!;
      try {
        this.verifyLine(cycle, line);
      } catch (err) {
        this.failure = err as Error;
      }
      if (++slice % 8 === 0) await new Promise((r) => setImmediate(r));
    }
  }

  private verifyLine(cycle: number, line: AckLine): void {
    line.receipts.forEach((r, i) => {
      const e = line.expected[i]!;
      const where = () => `cycle ${cycle}: ${line.via} ${line.call} receipt ${i} (${line.tenant} seq ${r.header.seq})`;
      const v = verifyReceipt(r, this.keys);
      check(v.ok, () => `${where()} does not verify: ${!v.ok ? `${v.code} ${v.message}` : ''}`);
      if (!v.ok) return;
      check(v.tenant === line.tenant && v.op === e.op && v.key === e.key, () => `${where()} proves ${v.tenant} ${v.op} ${v.key}, not ${line.tenant} ${e.op} ${e.key}`);
      if (e.op === 'delete') check(!v.payloadVerified, () => `${where()} carries a payload for a delete`);
      else check(v.payloadVerified && isDeepStrictEqual(v.data, e.data), () => `${where()} proves data ${JSON.stringify(v.data)}, not what was sent ${JSON.stringify(e.data)}`);
      this.verified++;
    });
  }
}

/** The checked state of a tenant after a restart. */
interface TenantState {
  size: number;
  checkpoint: Checkpoint;
}

/** Reopens the data directory after a kill and checks it against the acks of this cycle. Returns the writes checked and the events committed but never acknowledged. */
async function checkAfterRestart(dir: string, cycle: number, keys: VerifierKey[], acks: AckLine[], before: Map<string, TenantState>): Promise<{ writes: number; unacknowledged: number; events: number }> {
  const db = await Tally.open(dir);
  try {
    check(isDeepStrictEqual(db.verifierKeys(), keys.map((k) => k.text)), () => `cycle ${cycle}: the node's verifier keys changed`);
    const after = new Map<string, TenantState>();
    let events = 0;

    // The journal of every tenant: verifies, projection equals replay, contiguous seqs, latest checkpoint covers every event.
    for (const t of TENANTS) {
      const rec = db.journal.tenant(t);
      check(rec, () => `cycle ${cycle}: tenant ${t} is gone`);
      const size = db.journal.size(rec.id);
      const verdict = await db.tenant(t).verify({ projection: true });
      check(verdict.ok && verdict.checked === size, () => `cycle ${cycle}: ${t} verify() failed after the crash: ${JSON.stringify(verdict)}`);
      let expect = 0;
      for (const k of db.journal.storage.events.getKeys({ start: [rec.id, 0], end: [rec.id, Number.MAX_SAFE_INTEGER] })) {
        const seq = (k as [number, number])[1];
        check(seq === expect, () => `cycle ${cycle}: ${t} has event ${seq} where ${expect} was expected`);
        expect++;
      }
      check(expect === size, () => `cycle ${cycle}: ${t} stores ${expect} events but its head says ${size}`);
      const latest = db.journal.latestCheckpoint(rec.id);
      check(latest?.size === size, () => `cycle ${cycle}: ${t}'s latest checkpoint has size ${latest?.size}, the journal ${size}`);
      const note = verifyNote(latest.note, keys);
      check(note.ok, () => `cycle ${cycle}: ${t}'s latest checkpoint is not signed by a pinned key`);
      const cp = parseCheckpoint(note.text);
      // Everything verified before this crash is a prefix of what is stored now.
      const prev = before.get(t);
      if (prev) {
        check(size >= prev.size, () => `cycle ${cycle}: ${t} shrank from ${prev.size} to ${size} events`);
        const proof = prev.size === size ? [] : db.journal.consistencyProof(rec.id, prev.size, size);
        check(verifyConsistency(blake3Tree, prev.size, size, prev.checkpoint.root, cp.root, proof), () => `cycle ${cycle}: ${t}'s checkpoint of size ${prev.size} (before the crash) is not consistent with ${size}`);
      }
      after.set(t, { size, checkpoint: cp });
      events += size - (prev?.size ?? 0);
    }

    // Every acknowledged write: present at its seq with the same hash, payload, salt and checkpoint; readable as of its seq.
    let writes = 0;
    const proven = new Set<string>();
    const ackedSeqs = new Map<string, Set<number>>(TENANTS.map((t) => [t, new Set()]));
    for (const line of acks) {
      const h = db.tenant(line.tenant);
      const tid = db.journal.tenant(line.tenant)!.id;
      const state = after.get(line.tenant)!;
      const first = line.receipts[0]!.header.seq;
      for (const [i, r] of line.receipts.entries()) {
        const seq = r.header.seq;
        const e = line.expected[i]!;
        const where = () => `cycle ${cycle}: acknowledged ${line.via} ${line.call} op ${i} (${line.tenant} seq ${seq} ${e.op} ${e.key})`;
        check(r.header.journal === line.tenant && r.header.op === e.op && r.header.key === e.key, () => `${where()}: the receipt names ${r.header.journal} ${r.header.op} ${r.header.key}`);
        check(seq === first + i, () => `${where()}: batch seqs are not contiguous`);
        const seqs = ackedSeqs.get(line.tenant)!;
        check(!seqs.has(seq), () => `${where()}: two acknowledged writes got the same seq`);
        seqs.add(seq);
        const prevSize = before.get(line.tenant)?.size ?? 0;
        check(seq < state.size, () => `${where()} is lost: the recovered journal has only ${state.size} events`);
        check(seq >= prevSize, () => `${where()}: seq ${seq} was already taken before this cycle (the journal had ${prevSize} events)`);

        let stored;
        try {
          stored = await h.receipt(seq);
        } catch (err) {
          throw new Error(`${where()} is missing after the crash: ${(err as Error).message}`);
        }
        check(stored.hash === r.hash, () => `${where()}: stored event hash ${stored.hash} differs from the receipt's ${r.hash}`);
        check(stored.payload === r.payload && stored.salt === r.salt, () => `${where()}: stored payload or salt differs from the receipt's`);
        check(isDeepStrictEqual(stored.header, r.header), () => `${where()}: stored header differs from the receipt's`);

        const acked = checkpointOf(r.checkpoint);
        check(acked.size > seq && acked.size <= state.size, () => `${where()}: the receipt's checkpoint size ${acked.size} is not in ${seq + 1}..${state.size}`);
        check(db.journal.checkpointAt(tid, acked.size) === r.checkpoint, () => `${where()}: the stored checkpoint of size ${acked.size} is not the one the receipt carries`);
        const pk = `${line.tenant}:${acked.size}`;
        if (!proven.has(pk)) {
          const proof = acked.size === state.size ? [] : db.journal.consistencyProof(tid, acked.size, state.size);
          check(verifyConsistency(blake3Tree, acked.size, state.size, acked.root, state.checkpoint.root, proof), () => `${where()}: its checkpoint of size ${acked.size} is not consistent with the recovered ${state.size}`);
          proven.add(pk);
        }

        if (e.op === 'set') {
          const b = await h.get(e.key, { asOf: seq });
          check(b.version === seq && isDeepStrictEqual(b.data, e.data), () => `${where()}: as of seq ${seq} the block is ${JSON.stringify(b)}, not the data written`);
        } else if (e.op === 'delete') {
          const gone = await h.get(e.key, { asOf: seq }).then(
            () => false,
            (err: unknown) => err instanceof TallyError && err.code === 'not_found',
          );
          check(gone, () => `${where()}: the block still exists as of its delete`);
        }
        writes++;
      }
    }

    let unacknowledged = 0;
    for (const t of TENANTS) unacknowledged += after.get(t)!.size - (before.get(t)?.size ?? 0) - ackedSeqs.get(t)!.size;
    for (const [t, s] of after) before.set(t, s);
    return { writes, unacknowledged, events };
  } finally {
    await db.close();
  }
}

describe('crash recovery', () => {
  it(
    'keeps every acknowledged write and a verifiable journal through SIGKILLs at random moments',
    async () => {
      const started = Date.now();
      const work = mkdtempSync(join(tmpdir(), 'tally-crash-'));
      let keys: VerifierKey[] = [];
      const offline = () => new OfflineVerifier(keys);
      let verifier: OfflineVerifier | undefined;
      let dir = '';
      const before = new Map<string, TenantState>();
      const totals = { receipts: 0, writes: 0, unacknowledged: 0, events: 0, cyclesWithUnacked: 0, startMs: 0, checkMs: 0, lastCheckMs: 0 };
      let ok = false;
      const dirOf = (cycle: number) => join(work, `data-${Math.floor(cycle / EPOCH)}`);
      const ackFileOf = (cycle: number) => join(work, 'acks', `cycle-${cycle}.jsonl`);
      mkdirSync(join(work, 'acks'), { recursive: true });
      let next: Child | undefined = spawnChild(dirOf(0), ackFileOf(0), 0);
      try {
        for (let cycle = 0; cycle < CYCLES; cycle++) {
          if (cycle % EPOCH === 0) {
            // A new epoch: a fresh data directory, its verifier keys pinned before any child touches it.
            if (verifier) {
              await verifier.done();
              totals.receipts += verifier.verified;
            }
            dir = dirOf(cycle);
            const db = await Tally.open(dir);
            keys = db.verifierKeys().map(parseVerifierKey);
            await db.close();
            before.clear();
            verifier = offline();
          }
          const run = await next!.runAndKill();
          // The next child loads its modules while this cycle is checked; it opens the directory only on go.
          next = cycle + 1 < CYCLES ? spawnChild(dirOf(cycle + 1), ackFileOf(cycle + 1), cycle + 1) : undefined;
          check(run.signal === 'SIGKILL', () => `cycle ${cycle}: the child ended on its own (exit ${run.code}) instead of being killed; stderr:\n${run.stderr}`);
          totals.startMs += run.readyAfterMs;
          const acks = readAcks(ackFileOf(cycle));
          const t0 = Date.now();
          const r = await checkAfterRestart(dir, cycle, keys, acks, before);
          totals.lastCheckMs = Date.now() - t0;
          totals.checkMs += totals.lastCheckMs;
          verifier!.push(cycle, acks); // verifyReceipt on every receipt, while the next child runs
          if (verifier!.failure) throw verifier!.failure;
          totals.writes += r.writes;
          totals.events += r.events;
          totals.unacknowledged += r.unacknowledged;
          if (r.unacknowledged > 0) totals.cyclesWithUnacked++;
          check(r.unacknowledged >= 0, () => `cycle ${cycle}: more acknowledged writes than events appended`);
        }
        await verifier?.done();
        totals.receipts += verifier?.verified ?? 0;
        ok = true;
      } finally {
        next?.kill();
        if (ok) rmSync(work, { recursive: true, force: true });
        else console.error(`crash test: data and ack files kept in ${work}`);
      }
      expect(totals.writes).toBeGreaterThan(CYCLES); // the children did write
      expect(totals.receipts).toBe(totals.writes);
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      console.log(
        `crash test: ${CYCLES} SIGKILL cycles in ${secs} s; ${totals.writes} acknowledged writes checked, ${totals.receipts} receipts verified offline, ` +
          `${totals.events} events recovered, ${totals.unacknowledged} committed but unacknowledged (in ${totals.cyclesWithUnacked} cycles); ` +
          `child ready after ${Math.round(totals.startMs / Math.max(1, CYCLES))} ms on average; ` +
          `checks after restart ${(totals.checkMs / 1000).toFixed(1)} s in all, ${totals.lastCheckMs} ms in the last cycle`,
      );
    },
    Math.max(60_000, CYCLES * 20_000),
  );
});
