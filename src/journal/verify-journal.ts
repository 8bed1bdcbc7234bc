/**
 * `verify()`: the streaming re-check of a tenant's journal against itself
 * (journal-scan.ts says what it checks), with its checkpoint signatures
 * checked beside it (signature-checks.ts).
 *
 * A journal of {@link VERIFY_SPLIT_FROM} events or more is checked on two
 * threads: the calling thread scans the events before a split point that
 * halves the work while a worker scans the rest (segment-check.ts),
 * assuming what the stored records say of the events before it; the first
 * part's scan then confirms those assumptions. If the worker's part fails,
 * or its assumptions do not hold, or it gives no answer, the calling
 * thread goes on scanning the rest itself, from exactly where it stopped:
 * so a failure is always reported as a single scan from the start reports
 * it, and the worker only ever makes a passing re-check faster.
 */
import { bytesEqual } from '../core/bytes.js';
import { TallyError } from '../core/errors.js';
import { verifyNote } from '../core/note.js';
import { JournalScan, type JournalVerdict, type ScanTarget } from './journal-scan.js';
import type { Journal } from './journal.js';
import type { HeadRecord } from './storage.js';
import { SegmentCheck } from './segment-check.js';
import { SignatureChecks } from './signature-checks.js';
import { nodeVerify } from './signing-keys.js';

export type { JournalFailureCode, JournalVerdict } from './journal-scan.js';

/** Journals of at least this many events are re-checked on two threads. */
export const VERIFY_SPLIT_FROM = 50_000;

/**
 * How split re-checks went in this process: the worker's half `confirmed`
 * (taken as the answer), or `redone` on the calling thread (its answer
 * failed, did not fit the first half, or never came). For tests.
 */
export const splitCounts = { started: 0, confirmed: 0, redone: 0 };

/** Options of {@link verifyJournal}. */
export interface VerifyJournalOptions {
  /** Called every `progressEvery` events with the number checked so far. */
  onProgress?: (checked: number) => void;
  progressEvery?: number;
  /** Checkpoint signatures checked on the calling thread before a worker thread takes over (default 128). */
  inlineSignatureChecks?: number;
  /** Smallest journal re-checked on two threads (default {@link VERIFY_SPLIT_FROM}). */
  splitFrom?: number;
  /** Seq from which the worker thread checks (default: half the journal). */
  splitAt?: number;
}

/**
 * Re-checks the whole journal of tenant `name`.
 * @throws TallyError `not_found` if the tenant does not exist.
 */
// justifies: INV-TAMPER-DETECTED
// justifies: INV-TAMPER-DROPPED
export async function verifyJournal(journal: Journal, name: string, opts: VerifyJournalOptions = {}): Promise<JournalVerdict> {
  const rec = journal.tenant(name);
  if (!rec) throw new TallyError('not_found', `tenant "${name}" does not exist`);
  const target: ScanTarget = { storage: journal.storage, tid: rec.id, name, origin: journal.origin(name), keys: journal.verifierKeys() };
  const signatures = new SignatureChecks(nodeVerify, opts.inlineSignatureChecks);
  const verdict = scan(journal.dir, target, signatures, opts);
  // Every signature queued was reached before whatever the scan reported, so a failed one comes first.
  // justifies: INV-VERIFY-FIRST-FAILURE
  const badSize = await signatures.firstFailure();
  if (badSize === undefined) return verdict;
  const note = verifyNote(journal.checkpointAt(rec.id, badSize) ?? '', journal.verifierKeys(), nodeVerify);
  const why = note.ok ? 'signature does not verify' : note.message;
  return { ok: false, checked: badSize, seq: badSize, code: 'checkpoint_signature', message: `checkpoint ${badSize}: ${why}` };
}

/**
 * The scan, split between this thread and the worker when the journal is
 * large enough. Synchronous from start to end: one snapshot, and no append
 * of this process in between.
 */
// justifies: INV-VERIFY-SPLIT-EXACT
function scan(dir: string, target: ScanTarget, signatures: SignatureChecks, opts: VerifyJournalOptions): JournalVerdict {
  // Reported counts add the worker's while it runs, and only go forward, also when this thread redoes its part.
  let reported = 0;
  let workerProgress = (): number => 0;
  const report = opts.onProgress;
  const onProgress = report ? (n: number): void => void (n > reported && report((reported = n))) : undefined;
  const first = new JournalScan(target, signatures, {
    ...(onProgress ? { onProgress: (n: number) => onProgress(n + workerProgress()) } : {}),
    ...(opts.progressEvery !== undefined ? { progressEvery: opts.progressEvery } : {}),
  });
  const head = target.storage.heads.get(target.tid);
  const size = head?.size ?? 0;
  // A read-only environment cannot open its databases on a second handle (lmdb-js opens them in a write transaction).
  // A head of another shape is for the scan to report (head_mismatch), not to split by.
  const split = Number.isSafeInteger(size) && size >= (opts.splitFrom ?? VERIFY_SPLIT_FROM) && !target.storage.readOnly;
  const at = opts.splitAt ?? (split ? balancedSplit(target, size) : 0);
  const second = split && Number.isSafeInteger(at) && at > 0 && at < size ? SegmentCheck.start(dir, target, at) : undefined;
  if (!second) return first.run() ?? first.finish();
  splitCounts.started++;
  let answer;
  try {
    workerProgress = () => second.progress();
    const failure = first.run(at);
    if (failure) return failure;
    // The events ran out before the split: nothing is left for the worker's half to add.
    if (first.checked < at) return first.finish();
    answer = second.wait((progress) => onProgress?.(at + progress));
  } finally {
    // Whatever ended the wait (an answer, a failure, a throw), the worker has nothing more to do for this call.
    second.cancel();
    workerProgress = () => 0;
  }
  // The worker read its own snapshot: it is this thread's only if it found the same head (another process may append).
  if (answer?.verdict.ok && sameHead(answer.head, head) && first.confirms(answer.assumed)) {
    const checked = answer.verdict.checked;
    onProgress?.(checked);
    splitCounts.confirmed++;
    return { ok: true, checked, checkpoints: first.checkpoints + answer.verdict.checkpoints };
  }
  splitCounts.redone++;
  return first.run() ?? first.finish();
}

/** Whether two head records are the same (either may be missing or malformed). */
function sameHead(a: HeadRecord | undefined, b: HeadRecord | undefined): boolean {
  return !!a && !!b && a.head instanceof Uint8Array && b.head instanceof Uint8Array && a.size === b.size && a.time === b.time && bytesEqual(a.head, b.head);
}

/**
 * What a checkpoint costs the re-check, in events: its note is parsed, its
 * root folded from the tree's edge and its Ed25519 signature checked (on
 * a signature thread, sharing the two cores). Chosen by splitting a
 * journal shaped like bench:journal's (about 11,000 checkpoints in 200,000
 * events) at 4, 10 and 16 side by side: 4 came out fastest, 16 slowest.
 */
const CHECKPOINT_COST = 4;

/**
 * The seq that splits the scan's work in half, counting each checkpoint as
 * {@link CHECKPOINT_COST} events: a journal written by a lone appender
 * has a checkpoint per event, one written in large batches few.
 */
function balancedSplit({ storage, tid }: ScanTarget, size: number): number {
  // One pass over the checkpoint keys: their number sets the half, their sizes where it falls.
  const sizes = Array.from(storage.checkpoints.getKeys({ start: [tid, 1], end: [tid, size + 1] }), (key) => (key as [number, number])[1]);
  const half = (size + CHECKPOINT_COST * sizes.length) / 2;
  // Work up to seq `at` (exclusive) is at + CHECKPOINT_COST · (checkpoints of size ≤ at).
  let before = 0;
  for (const cpSize of sizes) {
    if (cpSize + CHECKPOINT_COST * before >= half) return Math.ceil(half - CHECKPOINT_COST * before);
    before++;
  }
  return Math.min(size - 1, Math.ceil(half - CHECKPOINT_COST * before));
}
