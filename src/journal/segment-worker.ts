/**
 * The worker side of a split `verify()` (see segment-check.ts): scans a
 * tenant's journal from a given seq to its end, on its own handle of the
 * same LMDB environment, and answers with its verdict and what it assumed
 * of the events before its start.
 *
 * Loaded inside the worker thread by segment-check.ts's bootstrap, which
 * calls {@link serve} once this module and its imports are loaded.
 */
import type { MessagePort } from 'node:worker_threads';
import type { VerifierKey } from '../core/note.js';
import { JournalScan, type JournalVerdict, type SegmentAssumptions } from './journal-scan.js';
import { SignatureChecks } from './signature-checks.js';
import { nodeVerify } from './signing-keys.js';
import { openStorage, type HeadRecord } from './storage.js';

/** Slots of a job's shared Int32Array. */
export const STATE = 0;
export const PROGRESS = 1;
export const CANCEL = 2;
/** Values of the STATE slot. */
export const RUNNING = 0;
export const DONE = 1;
export const FAILED = 2;

/** One segment to check, as posted to the worker. */
export interface SegmentJob {
  dir: string;
  tid: number;
  name: string;
  origin: string;
  keys: VerifierKey[];
  from: number;
  /** Int32Array slots: STATE, PROGRESS (events checked so far), CANCEL (1 when the caller gave up). */
  shared: SharedArrayBuffer;
  /** Where the {@link SegmentAnswer} is posted before STATE becomes DONE. */
  port: MessagePort;
}

/** The worker's answer: the segment's verdict, with what it assumed of the events before it. */
export interface SegmentAnswer {
  verdict: JournalVerdict;
  assumed: SegmentAssumptions;
  /** The head record the worker read: its snapshot is the caller's only if the caller read the same. */
  head: HeadRecord | undefined;
}

/** Runs the jobs posted on `port` (and those that arrived while loading) one after another. */
export function serve(port: MessagePort, pending: SegmentJob[]): void {
  let queue = Promise.resolve();
  const take = (job: SegmentJob): void => {
    // runJob answers every job itself; a failure to close its storage must not stop the queue.
    queue = queue.then(() => runJob(job)).catch(() => {});
  };
  pending.forEach(take);
  port.on('message', take);
}

async function runJob(job: SegmentJob): Promise<void> {
  const state = new Int32Array(job.shared);
  const finish = (value: number): void => {
    Atomics.store(state, STATE, value);
    Atomics.notify(state, STATE);
  };
  if (Atomics.load(state, CANCEL) === 1) return finish(FAILED);
  let storage;
  try {
    storage = openStorage(job.dir);
    const signatures = new SignatureChecks(nodeVerify);
    const scan = new JournalScan({ storage, tid: job.tid, name: job.name, origin: job.origin, keys: job.keys }, signatures, {}, job.from);
    const stop = (): boolean => {
      Atomics.store(state, PROGRESS, scan.checked - job.from);
      return Atomics.load(state, CANCEL) === 1;
    };
    // The scan and its final checks run in one synchronous stretch: one snapshot of the environment.
    let verdict = scan.run(undefined, stop);
    if (!verdict && Atomics.load(state, CANCEL) === 1) return finish(FAILED);
    verdict ??= scan.finish();
    const head = storage.heads.get(job.tid); // still in the scan's snapshot
    if (verdict.ok && (await signatures.firstFailure()) !== undefined) {
      // The caller re-checks this part itself when the answer is not ok, so the failure needs no detail here.
      verdict = { ok: false, checked: verdict.checked, seq: job.from, code: 'checkpoint_signature', message: 'a checkpoint signature does not verify' };
    }
    const answer: SegmentAnswer = { verdict, assumed: scan.assumed!, head };
    // The packed keyPrevs may be large (one entry per distinct key): handed over, not copied.
    job.port.postMessage(answer, [answer.assumed.keyPrevs.buffer as ArrayBuffer]);
    finish(DONE);
  } catch {
    finish(FAILED);
  } finally {
    await storage?.close();
  }
}
