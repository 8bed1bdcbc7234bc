/**
 * The Ed25519 checks of a journal re-check, run on a second thread.
 *
 * A journal signs one checkpoint per committed batch, so a journal written
 * by small batches holds a checkpoint every few events, and the Ed25519
 * check of each costs about as much as re-hashing several events. `verify()` hashes on the main thread and hands signatures to
 * one worker in chunks. It reads their verdicts from shared memory, so the
 * main thread never has to yield, and the reported failure is still the
 * first one in journal order: a check is queued when its checkpoint is
 * reached, and {@link SignatureChecks.firstFailure} is asked before any
 * other failure (or success) is reported.
 *
 * The first {@link INLINE_CHECKS} checks of a re-check run inline: a small
 * journal is not worth a thread.
 */
import { Worker } from 'node:worker_threads';
import { bytesEqual } from '../core/bytes.js';
import type { Ed25519Verify } from '../core/note.js';
import { sodiumPath } from './signing-keys.js';

/** Checks done on the calling thread before the worker is used. */
export const INLINE_CHECKS = 128;
/** Signatures sent to the worker per message. */
const CHUNK = 256;
/** Chunks the worker may hold before the calling thread checks chunks itself. */
const MAX_BACKLOG = 4;

/** One signature to check, tagged with what to report if it fails. */
export interface SignatureCheck {
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
  /** Returned by {@link SignatureChecks.firstFailure} when this check fails. */
  tag: number;
}

// Slot 0 of a chunk's shared answer: still pending, answered (slots 1.. hold 1 per valid signature), or lost with the worker.
const PENDING = 0;
const ANSWERED = 1;
const LOST = 2;

// nodeVerify's few lines again in plain JS, so the worker runs the same from src/ (tsx, vitest) and from dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
// libsodium when its binding loads here too (see signing-keys.ts), OpenSSL otherwise.
let sodium;
try {
  sodium = workerData.sodium ? require(workerData.sodium) : undefined;
} catch {}
const SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const keys = new Map();
parentPort.on('message', ({ buf, answer }) => {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  const u32 = () => { const n = b.readUInt32LE(off); off += 4; return n; };
  const take = () => { const len = u32(); const part = b.subarray(off, off + len); off += len; return part; };
  const nKeys = u32();
  const keyObjs = [];
  for (let i = 0; i < nKeys; i++) {
    const raw = take();
    const hex = raw.toString('hex');
    let k = keys.get(hex);
    if (k === undefined) {
      try {
        // libsodium takes the raw key; OpenSSL a key object, made once per key.
        k = raw.length !== 32 ? null : sodium ? Buffer.from(raw) : createPublicKey({ key: Buffer.concat([SPKI, raw]), format: 'der', type: 'spki' });
      } catch {
        k = null;
      }
      keys.set(hex, k);
    }
    keyObjs.push(k);
  }
  const n = u32();
  for (let i = 0; i < n; i++) {
    const k = keyObjs[u32()];
    const msg = take();
    const sig = take();
    let ok = false;
    try {
      ok = !!k && sig.length === 64 && (sodium ? sodium.crypto_sign_verify_detached(sig, msg, k) : verify(null, msg, k, sig));
    } catch {}
    answer[1 + i] = ok ? 1 : 0;
  }
  Atomics.store(answer, 0, ${ANSWERED});
  Atomics.notify(answer, 0);
});
`;

/**
 * A queued chunk: handed to the worker (its checks kept to redo here if the
 * worker dies, and the shared answer), or already checked here (`answer`
 * undefined, `failure` its first failing tag).
 */
interface QueuedChunk {
  checks: SignatureCheck[];
  answer: Int32Array | undefined;
  failure: number | undefined;
}

/**
 * One worker for the process, started on first use. It is unreferenced
 * except while a re-check waits for it, so it never keeps a process alive.
 */
class SignatureWorker {
  private worker: Worker | undefined;
  private readonly held = new Set<Int32Array>();
  private waiters = 0;

  /** Chunks sent and not yet answered, by every re-check in this process. */
  backlog(): number {
    // Answered chunks are dropped here too, so a re-check that stopped early (it threw) leaves no phantom backlog.
    for (const answer of this.held) if (Atomics.load(answer, 0) !== PENDING) this.held.delete(answer);
    return this.held.size;
  }

  send(buf: Uint8Array<ArrayBuffer>, answer: Int32Array): void {
    const w = this.start();
    this.held.add(answer);
    w.postMessage({ buf, answer }, [buf.buffer]);
  }

  /** Resolves once the chunk is answered or lost. */
  async settle(answer: Int32Array): Promise<void> {
    if (Atomics.load(answer, 0) !== PENDING) return this.release(answer);
    if (this.waiters++ === 0) this.worker?.ref();
    try {
      while (Atomics.load(answer, 0) === PENDING) await waitAsync(answer, 0, PENDING).value;
    } finally {
      if (--this.waiters === 0) this.worker?.unref();
    }
    this.release(answer);
  }

  /** Forgets answered chunks (the backlog counts only unanswered ones). */
  release(answer: Int32Array): void {
    if (Atomics.load(answer, 0) !== PENDING) this.held.delete(answer);
  }

  /** Ends the worker; what it held is marked lost. The next chunk starts a new one. */
  async stop(): Promise<void> {
    await this.worker?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { sodium: sodiumPath } });
    if (this.waiters === 0) w.unref();
    const lost = (): void => {
      // A dead worker answers nothing more: mark what it held lost (redone by the caller); the next chunk starts a
      // new one. Once only: 'error' is followed by 'exit', and by then `held` may hold a new worker's chunks.
      if (this.worker !== w) return;
      this.worker = undefined;
      for (const answer of this.held) {
        if (Atomics.compareExchange(answer, 0, PENDING, LOST) === PENDING) Atomics.notify(answer, 0);
      }
      this.held.clear();
    };
    w.on('error', lost);
    w.on('exit', lost);
    this.worker = w;
    return w;
  }
}

const shared = new SignatureWorker();

/**
 * Ends the process's signature worker, as a crash of it would: checks it
 * held are redone on the calling thread. For tests and for shutdown.
 */
export function stopSignatureWorker(): Promise<void> {
  return shared.stop();
}

// Node 20 has Atomics.waitAsync; the ES2022 lib the project compiles against does not declare it yet.
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): { value: Promise<string> | string } }).waitAsync;

/**
 * The signature checks of one re-check, in journal order, each tagged with
 * a number (the checkpoint's size).
 *
 * Memory stays bounded however long the journal: answered chunks are
 * dropped as soon as they are seen, and while the worker is
 * {@link MAX_BACKLOG} chunks behind, the calling thread checks the next
 * chunk itself, which also shares the signatures out between both cores.
 */
export class SignatureChecks {
  /**
   * Where the checks queued so far were sent: inline, to the worker, or checked here in chunks while the
   * worker was behind; `redone` counts those the worker took and lost (it died), checked here again.
   */
  readonly counts = { inline: 0, worker: 0, here: 0, redone: 0 };
  private chunk: SignatureCheck[] = [];
  private readonly sent: QueuedChunk[] = [];
  private failure: number | undefined;

  /**
   * @param verify the same-thread verifier, for the first checks, for chunks
   *   checked here, and for chunks lost with a dead worker.
   * @param inlineChecks how many checks run inline before the worker is used.
   */
  constructor(
    private readonly verify: Ed25519Verify,
    private readonly inlineChecks = INLINE_CHECKS,
  ) {}

  /**
   * Queues a check. Returns false once a failure is known (at this check or
   * an earlier one); {@link firstFailure} then names the first.
   */
  add(check: SignatureCheck): boolean {
    if (this.failure !== undefined) return false;
    if (this.counts.inline < this.inlineChecks) {
      // Nothing is queued yet, so an inline failure is the first.
      this.counts.inline++;
      if (!this.verify(check.publicKey, check.message, check.signature)) this.failure = check.tag;
      return this.failure === undefined;
    }
    this.chunk.push(check);
    if (this.chunk.length < CHUNK) return true;
    if (shared.backlog() >= MAX_BACKLOG) {
      this.counts.here += this.chunk.length;
      this.sent.push({ checks: [], answer: undefined, failure: this.checkHere(this.chunk) });
      this.chunk = [];
    } else {
      this.send();
    }
    this.harvest();
    return this.failure === undefined;
  }

  /** The tag of the first check that failed, once every queued check has an answer; undefined if all passed. */
  async firstFailure(): Promise<number | undefined> {
    if (this.failure !== undefined) return this.failure;
    this.send();
    while (this.sent.length > 0 && this.failure === undefined) {
      const { answer } = this.sent[0]!;
      if (answer) await shared.settle(answer);
      this.harvest();
    }
    return this.failure;
  }

  /** Reads the answers at the head of the queue, in order, up to the first pending one. */
  private harvest(): void {
    while (this.sent.length > 0 && this.failure === undefined) {
      const { checks, answer, failure } = this.sent[0]!;
      if (answer === undefined) {
        this.failure = failure;
      } else {
        const state = Atomics.load(answer, 0);
        if (state === PENDING) return;
        shared.release(answer);
        if (state === LOST) this.counts.redone += checks.length;
        this.failure = state === LOST ? this.checkHere(checks) : checks.find((_, i) => answer[1 + i] !== 1)?.tag;
      }
      this.sent.shift();
    }
  }

  private checkHere(checks: SignatureCheck[]): number | undefined {
    return checks.find((c) => !this.verify(c.publicKey, c.message, c.signature))?.tag;
  }

  private send(): void {
    if (this.chunk.length === 0) return;
    const checks = this.chunk;
    this.chunk = [];
    this.counts.worker += checks.length;
    const answer = new Int32Array(new SharedArrayBuffer(4 * (1 + checks.length)));
    shared.send(pack(checks), answer);
    this.sent.push({ checks, answer, failure: undefined });
  }
}

/**
 * Length-prefixed (u32 LE) parts: the number of distinct keys and each key,
 * then the number of checks and each as key index, message and signature
 * (read by WORKER_SOURCE).
 */
function pack(checks: SignatureCheck[]): Uint8Array<ArrayBuffer> {
  const keys: Uint8Array[] = [];
  const keyIndex = checks.map((c) => {
    let i = keys.findIndex((k) => bytesEqual(k, c.publicKey));
    if (i < 0) i = keys.push(c.publicKey) - 1;
    return i;
  });
  let size = 8;
  for (const k of keys) size += 4 + k.length;
  for (const c of checks) size += 12 + c.message.length + c.signature.length;
  const buf = new Uint8Array(size);
  const view = new DataView(buf.buffer);
  let off = 0;
  const u32 = (n: number): void => {
    view.setUint32(off, n, true);
    off += 4;
  };
  const part = (p: Uint8Array): void => {
    u32(p.length);
    buf.set(p, off);
    off += p.length;
  };
  u32(keys.length);
  keys.forEach(part);
  u32(checks.length);
  checks.forEach((c, i) => {
    u32(keyIndex[i]!);
    part(c.message);
    part(c.signature);
  });
  return buf;
}
