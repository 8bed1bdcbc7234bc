/**
 * The later part of a journal's re-check, run on a second thread.
 *
 * `verify()` on a large journal splits it in two: the calling thread scans
 * the events before the split while a worker scans the rest
 * (segment-worker.ts), each on its own handle of the same environment.
 * The calling thread then blocks until the worker answers: it does not
 * yield, so no append of this process lands between the two scans' reads.
 *
 * The worker is one per process, started on first use from the compiled
 * module beside this one (through tsx when running from the TypeScript
 * sources, as the tests and benches do), and unreferenced so it never
 * keeps a process alive. A worker that fails to load, crashes, or makes no
 * progress for {@link STALL_MS} is given up on, and the caller re-checks
 * the worker's part itself: the worker can make a re-check faster, never
 * change its verdict.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { ScanTarget } from './journal-scan.js';
import { CANCEL, DONE, FAILED, PROGRESS, RUNNING, STATE, type SegmentAnswer, type SegmentJob } from './segment-worker.js';

/** How long the worker may go without progress (loading included) before the caller does its part itself. */
const STALL_MS = 10_000;
/** How often a waiting caller wakes to report progress. */
const TICK_MS = 200;

// Loads the worker module (through tsx's loader when it is TypeScript), keeping the jobs that arrive meanwhile;
// if it cannot load, every job is answered FAILED at once rather than left to stall.
const BOOTSTRAP = `
const { parentPort, workerData } = require('node:worker_threads');
const pending = [];
let failed = false;
const fail = (job) => { const s = new Int32Array(job.shared); Atomics.store(s, ${STATE}, ${FAILED}); Atomics.notify(s, ${STATE}); };
const hold = (job) => (failed ? fail(job) : pending.push(job));
parentPort.on('message', hold);
(async () => {
  const m = workerData.tsx ? await (await import(workerData.tsx)).tsImport(workerData.entry, workerData.entry) : await import(workerData.entry);
  parentPort.off('message', hold);
  m.serve(parentPort, pending);
})().catch(() => { failed = true; pending.splice(0).forEach(fail); });
`;

let worker: Worker | undefined;

/** The process's segment worker, started if needed; undefined when it cannot be. */
function segmentWorker(): Worker | undefined {
  if (worker) return worker;
  const ts = import.meta.url.endsWith('.ts');
  const entry = new URL(`./segment-worker.${ts ? 'ts' : 'js'}`, import.meta.url).href;
  let tsx: string | undefined;
  if (ts) {
    // tsx's ESM API; resolved as a file beside the CommonJS entry that require() finds.
    try {
      const file = createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs');
      if (!existsSync(file)) return undefined;
      tsx = pathToFileURL(file).href;
    } catch {
      return undefined;
    }
  } else if (!existsSync(fileURLToPath(entry))) {
    return undefined;
  }
  let w: Worker;
  try {
    w = new Worker(BOOTSTRAP, { eval: true, workerData: { entry, tsx } });
  } catch {
    return undefined;
  }
  w.unref();
  const gone = (): void => {
    if (worker === w) worker = undefined;
  };
  w.on('error', gone);
  w.on('exit', gone);
  worker = w;
  return w;
}

/** A segment handed to the worker, and the caller's end of it. */
export class SegmentCheck {
  private constructor(
    private readonly state: Int32Array,
    private readonly port: MessagePort,
  ) {}

  /**
   * Hands events `from`.. of `target` (in the environment of data
   * directory `dir`) to the worker; undefined when no worker can be had.
   */
  static start(dir: string, target: ScanTarget, from: number): SegmentCheck | undefined {
    const w = segmentWorker();
    if (!w) return undefined;
    const shared = new SharedArrayBuffer(4 * 3);
    const { port1, port2 } = new MessageChannel();
    const job: SegmentJob = { dir, tid: target.tid, name: target.name, origin: target.origin, keys: [...target.keys], from, shared, port: port2 };
    w.postMessage(job, [port2]);
    return new SegmentCheck(new Int32Array(shared), port1);
  }

  /** Events the worker has checked so far. */
  progress(): number {
    return Atomics.load(this.state, PROGRESS);
  }

  /**
   * Blocks until the worker answers. Undefined when it failed, or made no
   * progress for {@link STALL_MS} (it is then told to stop).
   * @param onTick called with {@link progress} while waiting.
   */
  wait(onTick?: (progress: number) => void): SegmentAnswer | undefined {
    try {
      if (!this.settle(onTick)) {
        Atomics.store(this.state, CANCEL, 1);
        return undefined;
      }
      return Atomics.load(this.state, STATE) === DONE ? (receiveMessageOnPort(this.port)?.message as SegmentAnswer | undefined) : undefined;
    } finally {
      this.port.close();
    }
  }

  /**
   * Tells the worker to stop this segment (it checks every 1,024 events)
   * and waits until it has, so that it reads nothing of the environment
   * after the caller returns (a caller may close and delete it); a worker
   * that makes no progress for {@link STALL_MS} is not waited for.
   */
  cancel(): void {
    Atomics.store(this.state, CANCEL, 1);
    this.settle();
    this.port.close();
  }

  /** Waits until the worker's job is no longer running; false when it made no progress for {@link STALL_MS}. */
  private settle(onTick?: (progress: number) => void): boolean {
    let seen = -1;
    let seenAt = Date.now();
    for (;;) {
      if (Atomics.load(this.state, STATE) !== RUNNING) return true;
      const progress = this.progress();
      if (progress !== seen) {
        seen = progress;
        seenAt = Date.now();
        onTick?.(progress);
      } else if (Date.now() - seenAt > STALL_MS) {
        return false;
      }
      Atomics.wait(this.state, STATE, RUNNING, TICK_MS);
    }
  }
}

/** Ends the process's segment worker (for tests); the next split starts a new one. */
export async function stopSegmentWorker(): Promise<void> {
  const w = worker;
  worker = undefined;
  await w?.terminate();
}
