/**
 * Group commit: appends that arrive together share one LMDB write
 * transaction and one fsync, and are acknowledged only after that
 * transaction is durable.
 *
 * Requests queue here and are drained in the next event-loop turn, so
 * every request issued in one turn joins the same batch; under load
 * batches grow and the cost of an fsync is shared.
 *
 * A batch runs as a synchronous transaction on the calling thread: LMDB
 * commits it and syncs it to disk before `transactionSync` returns. An
 * asynchronous transaction would run the same callback on the main thread
 * anyway, but only after two hand-offs to and from lmdb-js's writer
 * thread, and with one appender those hand-offs cost more than the
 * overlap of an fsync with the next batch's work gains: every appender
 * awaits its receipt, so the next batch only forms after the acks. The
 * price is that the event loop waits for the fsync (as it does with a
 * synchronous SQLite binding).
 */
import { TallyError } from '../core/errors.js';

/** One unit of work run inside the shared transaction. */
export interface BatchWork<R> {
  /**
   * Runs synchronously inside the write transaction. Throwing a
   * TallyError rejects only this request; the caller must not have written
   * anything before throwing.
   */
  run(): R;
}

/** Callbacks a batch owner provides around the per-request work. */
export interface BatchHooks<R, A> {
  /** Runs in the transaction before the first request of the batch. */
  begin(): void;
  /** Runs in the transaction after every request of the batch (e.g. sign checkpoints). */
  finish(results: ({ ok: true; value: R } | { ok: false; error: unknown })[]): void;
  /** Runs after the batch is durable, outside the transaction; turns a result into the acknowledgement. */
  acknowledge(value: R): A;
}

interface Pending<R, A> {
  work: BatchWork<R>;
  resolve: (value: A) => void;
  reject: (error: unknown) => void;
}

/** Minimal surface of the lmdb-js root database that group commit needs. */
export interface Transactor {
  /** Runs `fn` in a write transaction, commits and syncs it; aborts it if `fn` throws. */
  transactionSync<T>(fn: () => T): T;
}

/** Largest number of requests in one transaction; bounds transaction size and latency. */
export const MAX_BATCH = 1024;

/**
 * Maps a failed commit to a stable code. A full disk does not always say
 * so: LMDB may report the failed page write as EIO ("Input/output error"),
 * so `isFull` (a free-space check of the data directory) decides as well.
 */
export function storageError(err: unknown, isFull: () => boolean = () => false): unknown {
  if (err instanceof TallyError) return err;
  // lmdb-js attaches the underlying error as a promise that rejects; without a handler it would be an
  // unhandled rejection and end the process.
  const commitError = (err as { commitError?: Promise<unknown> } | undefined)?.commitError;
  if (commitError && typeof commitError.catch === 'function') commitError.catch(() => {});
  const msg = String((err as Error)?.message ?? err);
  if (/MDB_MAP_FULL|ENOSPC|No space left|MDB_DISK_FULL/i.test(msg) || isFull()) {
    return new TallyError('storage_full', 'storage is full: the write was not stored; free space and retry', { cause: err });
  }
  return new TallyError('internal_error', 'the write could not be committed', { cause: err });
}

/** The group-commit queue of one environment. */
export class GroupCommit<R, A> {
  private queue: Pending<R, A>[] = [];
  private running = false;
  private closed = false;
  private idle: Promise<void> = Promise.resolve();
  private markIdle: () => void = () => {};

  constructor(
    private readonly txn: Transactor,
    private readonly hooks: BatchHooks<R, A>,
    /** Whether the storage is (nearly) out of space; consulted when a commit fails. */
    private readonly isFull: () => boolean = () => false,
  ) {}

  /** Queues work; resolves with its acknowledgement once its batch is durable. */
  submit(work: BatchWork<R>): Promise<A> {
    if (this.closed) return Promise.reject(new TallyError('closed', 'the database is closed'));
    return new Promise<A>((resolve, reject) => {
      this.queue.push({ work, resolve, reject });
      if (!this.running) {
        this.running = true;
        this.idle = new Promise((r) => (this.markIdle = r));
        // Let every request issued in this event-loop turn join the batch.
        setImmediate(() => this.drain());
      }
    });
  }

  /** Stops accepting work and waits until everything queued is durable and acknowledged. */
  async close(): Promise<void> {
    this.closed = true;
    await this.idle;
  }

  private drain(): void {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      let results: ({ ok: true; value: R } | { ok: false; error: unknown })[];
      try {
        // One transaction, so an unexpected error aborts every write of the batch.
        // justifies: INV-ACK-AFTER-SYNC
        // transactionSync returns only once the batch is committed and synced: lmdb-js first makes an
        // in-flight asynchronous batch (the server's token writes) commit, so this one is a top-level
        // transaction of its own. Nothing needs awaiting after it; and `flushed` must not be awaited,
        // since lmdb-js never settles it after a failed asynchronous write.
        results = this.txn.transactionSync(() => {
          this.hooks.begin();
          const out = batch.map((p) => {
            try {
              return { ok: true as const, value: p.work.run() };
            } catch (error) {
              if (error instanceof TallyError) return { ok: false as const, error };
              throw error;
            }
          });
          this.hooks.finish(out);
          return out;
        });
      } catch (err) {
        // justifies: INV-STORAGE-FULL
        const error = storageError(err, this.isFull);
        for (const p of batch) p.reject(error);
        continue;
      }
      batch.forEach((p, i) => {
        const r = results[i]!;
        if (!r.ok) return p.reject(r.error);
        try {
          p.resolve(this.hooks.acknowledge(r.value));
        } catch (err) {
          p.reject(err);
        }
      });
    }
    this.running = false;
    this.markIdle();
  }
}
