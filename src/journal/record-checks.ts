/**
 * Checks, on a second thread, that stored records hold given bytes.
 *
 * A projection rebuild in place asks of every record it replays whether
 * the stored one already holds the same bytes, and writes only those that
 * differ. On a large journal those point reads into large B-trees cost
 * about as much as the whole fold, and they need nothing from it but the
 * record's key and bytes: so the fold queues them here, a worker opened on
 * the same environment answers them in chunks, and the differing records
 * come back to be written.
 *
 * The worker reads the last committed state. That is what the caller
 * compares with when it checks inside its own write transaction, as long
 * as it has not itself written the record in question (a rebuild writes
 * each record once, after its check). The caller's thread never yields:
 * it blocks on shared memory (Atomics) when it must wait, since it holds
 * a synchronous write transaction. While the worker is
 * {@link MAX_BACKLOG} chunks behind, or once it is gone, the calling
 * thread checks chunks itself, so no answer is ever lost.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Database, Key } from 'lmdb';
import { bytesEqual } from '../core/bytes.js';
import { envOptions, lmdbPath, type Storage } from './storage.js';

/** Items per chunk sent to the worker. */
const CHUNK_ITEMS = 4096;
/** Chunks the worker may hold before the calling thread checks chunks itself. */
const MAX_BACKLOG = 8;
/** How long a worker may take to open the environment before the checks run without it. */
const READY_TIMEOUT_MS = 10_000;
/** How long the calling thread waits for a chunk the worker took before it checks that chunk itself. */
const TAKEN_TIMEOUT_MS = 10_000;

// A chunk's state, slot 0 of its shared answer; bytes from offset 4 hold 1 per differing item.
const QUEUED = 0;
const TAKEN = 1;
const DONE = 2;
const LOCAL = 3;

/** A key part: lmdb-js array keys of strings and numbers. */
export type KeyPart = string | number;

/**
 * Called with each record found to differ, in no particular order: the
 * database's index, the key and the expected bytes (a view; copy to keep).
 */
export type OnMismatch = (db: number, key: KeyPart[], bytes: Uint8Array) => void;

// The item layout below, in plain JS so the worker runs the same from src/ (tsx, vitest) and from dist/.
// Item: u8 db, u8 parts, per part (u8 0 + f64 LE) or (u8 1 + u16 LE length + UTF-8), u32 LE length + bytes.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { open } = require(workerData.lmdb);
const root = open(workerData.options);
const dbs = workerData.names.map((name) => root.openDB({ name, encoding: 'binary' }));
const text = new TextDecoder();
parentPort.on('message', ({ buf, answer }) => {
  const state = new Int32Array(answer, 0, 1);
  if (Atomics.compareExchange(state, 0, ${QUEUED}, ${TAKEN}) !== ${QUEUED}) return; // the caller took it
  const flags = new Uint8Array(answer, 4);
  // A fresh snapshot: the last committed state, not one from before the caller's transaction began.
  root.resetReadTxn();
  const b = new Uint8Array(buf);
  const view = new DataView(buf);
  let off = 0;
  for (let i = 0; off < b.length; i++) {
    const db = b[off++];
    const parts = b[off++];
    const key = new Array(parts);
    for (let p = 0; p < parts; p++) {
      if (b[off++] === 0) { key[p] = view.getFloat64(off, true); off += 8; }
      else { const len = view.getUint16(off, true); off += 2; key[p] = text.decode(b.subarray(off, off + len)); off += len; }
    }
    const len = view.getUint32(off, true);
    off += 4;
    const got = dbs[db].getBinaryFast(key);
    let same = got !== undefined && got.length === len;
    for (let j = 0; same && j < len; j++) same = got[j] === b[off + j];
    off += len;
    if (!same) flags[i] = 1;
  }
  Atomics.store(state, 0, ${DONE});
  Atomics.notify(state, 0);
});
parentPort.postMessage('ready');
`;

interface SentChunk {
  /** Chunks are numbered in the order they are filled. */
  no: number;
  buf: Uint8Array;
  answer: SharedArrayBuffer;
  state: Int32Array;
  /** When the calling thread first found the worker holding it (a wait is measured from then). */
  takenSeenAt: number | undefined;
}

/** The record checks of one caller, with their worker. */
export class RecordChecks {
  /** Where the checks went: to the worker, checked here while it was behind, or redone here after it took too long. */
  readonly counts = { worker: 0, here: 0, redone: 0 };
  private buf = new Uint8Array(256 * 1024);
  private view = new DataView(this.buf.buffer);
  private off = 0;
  private items = 0;
  /** Number of the chunk being filled. */
  private chunkNo = 0;
  private readonly sent: SentChunk[] = [];
  private readonly text = new TextEncoder();

  private constructor(
    private readonly worker: Worker | undefined,
    private readonly dbs: readonly Database<Uint8Array, Key>[],
    private readonly onMismatch: OnMismatch,
  ) {}

  /**
   * Checks of the named byte-valued databases of `storage`'s environment,
   * answered by a worker when `threaded`. If the worker cannot start, or
   * without `threaded`, every check runs on the calling thread at once
   * (the same answers, without the second core).
   */
  static async start(storage: Storage, dir: string, names: readonly string[], onMismatch: OnMismatch, threaded = true): Promise<RecordChecks> {
    const dbs = names.map((name) => storage.openDB<Uint8Array, Key>(name, 'binary'));
    if (!threaded) return new RecordChecks(undefined, dbs, onMismatch);
    let worker: Worker | undefined;
    try {
      worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { lmdb: createRequire(import.meta.url).resolve('lmdb'), options: envOptions(lmdbPath(dir)), names },
      });
      const w = worker;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('record-check worker not ready in time')), READY_TIMEOUT_MS);
        w.once('message', () => (clearTimeout(timer), resolve()));
        w.once('error', (err) => (clearTimeout(timer), reject(err)));
        w.once('exit', () => (clearTimeout(timer), reject(new Error('record-check worker exited before it was ready'))));
      });
      // Failures after this are handled by the timeout: a blocked caller could not hear of them anyway.
      w.removeAllListeners();
      w.on('error', () => {});
      w.unref();
    } catch {
      await worker?.terminate();
      worker = undefined;
    }
    return new RecordChecks(worker, dbs, onMismatch);
  }

  /** Whether a worker answers the checks (false: they all run on the calling thread). */
  get threaded(): boolean {
    return this.worker !== undefined;
  }

  /**
   * The number of the chunk the last check went into: pass it to
   * {@link settle} to wait for that check (and those before it) alone.
   */
  get lastChunk(): number {
    return this.chunkNo;
  }

  /**
   * Queues a check that database `db` (an index into the names given to
   * {@link start}) holds exactly `bytes` under `key`. `bytes` is copied.
   * Answers already in are handed to `onMismatch` now; the rest by
   * {@link settle}.
   */
  check(db: number, key: readonly KeyPart[], bytes: Uint8Array): void {
    if (!this.worker) {
      this.checkOne(db, key as KeyPart[], bytes);
      return;
    }
    // Worst case per part: a type byte and a 2-byte length, 3 UTF-8 bytes per UTF-16 unit (or 8 for a number).
    let need = 2 + 4 + bytes.length;
    for (const part of key) need += typeof part === 'number' ? 9 : 3 + 3 * part.length;
    if (this.off + need > this.buf.length) {
      this.flush();
      if (need > this.buf.length) this.grow(need);
    }
    const b = this.buf;
    const view = this.view;
    let off = this.off;
    b[off++] = db;
    b[off++] = key.length;
    for (const part of key) {
      if (typeof part === 'number') {
        b[off++] = 0;
        view.setFloat64(off, part, true);
        off += 8;
      } else {
        b[off++] = 1;
        const { written } = this.text.encodeInto(part, b.subarray(off + 2));
        view.setUint16(off, written, true);
        off += 2 + written;
      }
    }
    view.setUint32(off, bytes.length, true);
    off += 4;
    b.set(bytes, off);
    this.off = off + bytes.length;
    if (++this.items >= CHUNK_ITEMS) this.flush();
  }

  /**
   * Waits until every check queued so far (or, with `through`, every check
   * of chunks up to that {@link lastChunk}) is answered, handing each
   * mismatch to `onMismatch`. Blocks the thread.
   */
  // justifies: INV-RECORD-CHECKS-EXACT
  settle(through = Infinity): void {
    if (through >= this.chunkNo) this.flush();
    while (this.sent.length > 0 && this.sent[0]!.no <= through) {
      const chunk = this.sent[0]!;
      const state = Atomics.load(chunk.state, 0);
      if (state === QUEUED && Atomics.compareExchange(chunk.state, 0, QUEUED, LOCAL) === QUEUED) {
        // Not started yet: the calling thread takes it rather than wait.
        const n = this.checkHere(chunk.buf);
        this.counts.worker -= n;
        this.counts.here += n;
        this.sent.shift();
      } else if (state === TAKEN) {
        chunk.takenSeenAt ??= performance.now();
        if (Atomics.wait(chunk.state, 0, TAKEN, 100) === 'timed-out' && performance.now() - chunk.takenSeenAt > TAKEN_TIMEOUT_MS) {
          // The worker took it and is stuck or gone: check it here; its late answer, if any, is ignored.
          this.counts.redone += this.checkHere(chunk.buf);
          this.sent.shift();
        }
      } else {
        this.harvest();
      }
    }
  }

  /** Ends the worker as a crash of it would: every check is still answered, here. For tests. */
  async stopWorker(): Promise<void> {
    await this.worker?.terminate();
  }

  /** Ends the worker. Checks still queued are dropped: call {@link settle} first to have them answered. */
  async close(): Promise<void> {
    this.sent.length = 0;
    await this.worker?.terminate();
  }

  private grow(size: number): void {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }

  private flush(): void {
    if (this.items === 0) return;
    const buf = this.buf.slice(0, this.off);
    const items = this.items;
    this.off = 0;
    this.items = 0;
    this.harvest();
    if (this.sent.length >= MAX_BACKLOG) {
      this.chunkNo++;
      this.counts.here += this.checkHere(buf);
      return;
    }
    const answer = new SharedArrayBuffer(4 + items);
    // Not transferred: the worker gets a copy, and this one stays to report mismatches (or to redo the chunk).
    this.worker!.postMessage({ buf: buf.buffer, answer });
    this.counts.worker += items;
    this.sent.push({ no: this.chunkNo++, buf, answer, state: new Int32Array(answer, 0, 1), takenSeenAt: undefined });
  }

  /** Hands the answers at the head of the queue to `onMismatch`, in order, up to the first unanswered chunk. */
  private harvest(): void {
    while (this.sent.length > 0) {
      const chunk = this.sent[0]!;
      if (Atomics.load(chunk.state, 0) !== DONE) return;
      const flags = new Uint8Array(chunk.answer, 4);
      this.sent.shift();
      forEachItem(chunk.buf, (i, db, key, bytes) => {
        if (flags[i] === 1) this.onMismatch(db, key, bytes);
      });
    }
  }

  private checkHere(buf: Uint8Array): number {
    let n = 0;
    forEachItem(buf, (_i, db, key, bytes) => {
      n++;
      this.checkOne(db, key, bytes);
    });
    return n;
  }

  private checkOne(db: number, key: KeyPart[], bytes: Uint8Array): void {
    const got = this.dbs[db]!.getBinaryFast(key);
    if (!(got !== undefined && bytesEqual(got, bytes))) this.onMismatch(db, key, bytes);
  }
}

const utf8Decoder = new TextDecoder();

/** Walks the items of a packed chunk (the layout WORKER_SOURCE reads). */
function forEachItem(buf: Uint8Array, fn: (index: number, db: number, key: KeyPart[], bytes: Uint8Array) => void): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  for (let i = 0; off < buf.length; i++) {
    const db = buf[off++]!;
    const parts = buf[off++]!;
    const key: KeyPart[] = [];
    for (let p = 0; p < parts; p++) {
      if (buf[off++] === 0) {
        key.push(view.getFloat64(off, true));
        off += 8;
      } else {
        const len = view.getUint16(off, true);
        off += 2;
        key.push(utf8Decoder.decode(buf.subarray(off, off + len)));
        off += len;
      }
    }
    const len = view.getUint32(off, true);
    off += 4;
    fn(i, db, key, buf.subarray(off, off + len));
    off += len;
  }
}
