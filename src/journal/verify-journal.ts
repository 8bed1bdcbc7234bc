/**
 * `verify()`: the streaming re-check of a tenant's journal against itself
 * (journal-scan.ts says what it checks), with its checkpoint signatures
 * checked beside it (signature-checks.ts).
 *
 * A journal of {@link VERIFY_SPLIT_FROM} events or more is checked on two
 * threads: the calling thread scans the first half while a worker scans
 * the second (segment-check.ts), assuming what the stored records say of
 * the events before it; the first half's scan then confirms those
 * assumptions. If the worker's half fails, or its assumptions do not hold,
 * or it gives no answer, the calling thread goes on scanning the second
 * half itself, from exactly where it stopped: so a failure is always
 * reported as a single scan from the start reports it, and the worker
 * only ever makes a passing re-check faster.
 */
import { TallyError } from '../core/errors.js';
import { verifyNote } from '../core/note.js';
import { JournalScan, type JournalVerdict, type ScanTarget } from './journal-scan.js';
import type { Journal } from './journal.js';
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
  const first = new JournalScan(target, signatures, opts);
  const size = target.storage.heads.get(target.tid)?.size ?? 0;
  const at = opts.splitAt ?? Math.floor(size / 2);
  const second = size >= (opts.splitFrom ?? VERIFY_SPLIT_FROM) && at > 0 && at < size ? SegmentCheck.start(dir, target, at) : undefined;
  if (!second) return first.run() ?? first.finish();
  splitCounts.started++;
  first.progressExtra = () => second.progress();
  const failure = first.run(at);
  if (failure) {
    second.cancel();
    return failure;
  }
  const answer = second.wait((progress) => opts.onProgress?.(at + progress));
  first.progressExtra = () => 0;
  if (answer?.verdict.ok && first.confirms(answer.assumed)) {
    const checked = answer.verdict.checked;
    opts.onProgress?.(checked);
    splitCounts.confirmed++;
    return { ok: true, checked, checkpoints: first.checkpoints + answer.verdict.checkpoints };
  }
  splitCounts.redone++;
  return first.run() ?? first.finish();
}
