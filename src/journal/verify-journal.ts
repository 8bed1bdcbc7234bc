/**
 * Streaming re-check of a tenant's journal against itself: every header
 * decodes canonically, seqs have no gap, `prev` chains, time never goes
 * back, every `keyPrev` names the previous event of its key, present
 * payloads match their commitments and absent ones are accounted for by an
 * erase event, every stored tree node and checkpoint root equals the one
 * recomputed from the events, every checkpoint is signed by one of the
 * node's keys for this tenant's origin, the latest one covers the head, and
 * the head, tree and key index hold nothing beyond the events. Memory is
 * O(log n) for the tree plus one hash per distinct key for the `keyPrev`
 * links and one entry per erased payload.
 *
 * Each alteration of the stored bytes is reported with the code of the
 * first thing it breaks (docs/FORMAT.md, "What verify() catches";
 * witnessed by test/journal/tamper-lmdb.test.ts).
 */
import { bytesEqual } from '../core/bytes.js';
import { parseCheckpoint } from '../core/checkpoint.js';
import { TallyError } from '../core/errors.js';
import { decodeCanonical } from '../core/codec.js';
import { decodeHeader, ZERO_HASH, type EventHeader } from '../core/event.js';
import { SALT_LENGTH } from '../core/hash.js';
import { IncrementalTree } from '../core/merkle.js';
import { verifyNote } from '../core/note.js';
import { fastHashing } from './fast-hashing.js';
import { keyspaceOf, type Journal } from './journal.js';
import type { Storage } from './storage.js';
import type { Database } from 'lmdb';
import { SignatureChecks } from './signature-checks.js';
import { nodeVerify } from './signing-keys.js';

const { tree: hasher, eventHash, payloadCommitment } = fastHashing;

/** Why a journal failed verification. Each code is stable. */
export type JournalFailureCode =
  | 'header_malformed'
  | 'wrong_journal'
  | 'seq_gap'
  | 'chain_broken'
  | 'hash_mismatch'
  | 'time_regressed'
  | 'key_chain_broken'
  | 'index_mismatch'
  | 'payload_mismatch'
  | 'payload_missing'
  | 'node_mismatch'
  | 'checkpoint_malformed'
  | 'checkpoint_signature'
  | 'origin_mismatch'
  | 'checkpoint_missing'
  | 'root_mismatch'
  | 'head_mismatch';

/** Result of {@link verifyJournal}. */
export type JournalVerdict =
  | { ok: true; checked: number; checkpoints: number }
  | { ok: false; checked: number; seq: number; code: JournalFailureCode; message: string };

/** Options of {@link verifyJournal}. */
export interface VerifyJournalOptions {
  /** Called every `progressEvery` events with the number checked so far. */
  onProgress?: (checked: number) => void;
  progressEvery?: number;
  /** Checkpoint signatures checked on the calling thread before a worker thread takes over (default 128). */
  inlineSignatureChecks?: number;
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
  const signatures = new SignatureChecks(nodeVerify, opts.inlineSignatureChecks);
  const verdict = scanJournal(journal, name, rec.id, signatures, opts);
  // Every signature queued was reached before whatever the scan reported, so a failed one comes first.
  // justifies: INV-VERIFY-FIRST-FAILURE
  const badSize = await signatures.firstFailure();
  if (badSize === undefined) return verdict;
  const note = verifyNote(journal.checkpointAt(rec.id, badSize) ?? '', journal.verifierKeys(), nodeVerify);
  const why = note.ok ? 'signature does not verify' : note.message;
  return { ok: false, checked: badSize, seq: badSize, code: 'checkpoint_signature', message: `checkpoint ${badSize}: ${why}` };
}

/**
 * The re-check itself, on the calling thread; signature checks are queued
 * on `signatures` (their failures are reported by the caller).
 */
function scanJournal(journal: Journal, name: string, tid: number, signatures: SignatureChecks, opts: VerifyJournalOptions): JournalVerdict {
  const { storage } = journal;
  const keys = journal.verifierKeys();
  const origin = journal.origin(name);
  const tree = new IncrementalTree(hasher);
  const lastOfKey = new Map<string, Uint8Array>();
  /** Events whose payload is absent and not (yet) accounted for by an erase event: seq → keyspace + key. */
  const missingPayloads = new Map<number, string>();
  const checkpoints = journal.checkpoints(tid)[Symbol.iterator]();
  let nextCp = checkpoints.next();
  let lastCpSize = 0;
  let prev: Uint8Array = ZERO_HASH;
  let lastTime = 0;
  let checked = 0;
  let cpCount = 0;
  const every = opts.progressEvery ?? 10_000;

  const failAt = (seq: number, code: JournalFailureCode, message: string): JournalVerdict => ({ ok: false, checked, seq, code, message });

  const checkCheckpointsUpTo = (size: number): JournalVerdict | undefined => {
    while (!nextCp.done && nextCp.value.size <= size) {
      const cp = nextCp.value;
      if (cp.size !== size) return failAt(cp.size, 'checkpoint_malformed', `checkpoint of size ${cp.size} was skipped by the event sequence`);
      // The signature is only queued here (true unless a failure is already known); the caller reports its verdict.
      const note = verifyNote(cp.note, keys, (publicKey, message, signature) => signatures.add({ publicKey, message, signature, tag: cp.size }));
      if (!note.ok) {
        // A note that does not even parse is malformed; one that parses but is not signed by our key is a signature failure.
        return failAt(cp.size, note.code === 'malformed' ? 'checkpoint_malformed' : 'checkpoint_signature', `checkpoint ${cp.size}: ${note.message}`);
      }
      let body;
      try {
        body = parseCheckpoint(note.text);
      } catch (err) {
        return failAt(cp.size, 'checkpoint_malformed', `checkpoint ${cp.size}: ${(err as Error).message}`);
      }
      // A genuine note of another tenant (same node key) verifies: only its origin tells it apart.
      if (body.origin !== origin) return failAt(cp.size, 'origin_mismatch', `checkpoint ${cp.size} is of ${body.origin}, not ${origin}`);
      if (body.size !== cp.size) return failAt(cp.size, 'checkpoint_malformed', `checkpoint stored at size ${cp.size} is of size ${body.size}`);
      if (!bytesEqual(body.root, tree.root())) return failAt(cp.size, 'root_mismatch', `checkpoint ${cp.size} root differs from the recomputed tree`);
      cpCount++;
      lastCpSize = cp.size;
      nextCp = checkpoints.next();
    }
    return undefined;
  };

  const read = readersOf(storage);
  const payloads = read.payloads.getRange({ start: [tid, 0], end: [tid, Number.MAX_SAFE_INTEGER] })[Symbol.iterator]();
  let nextPayload = payloads.next();
  const nodes = new NodeCursors(journal, tid);

  for (const { key, value: event } of read.events.getRange({ start: [tid, 0], end: [tid, Number.MAX_SAFE_INTEGER] })) {
    const seq = (key as [number, number])[1];
    if (seq !== checked) return failAt(checked, 'seq_gap', `expected event ${checked}, found ${seq}`);
    const h = event.header;
    if (!h) return failAt(seq, 'header_malformed', `event ${seq}: ${event.error}`);
    if (h.journal !== name) return failAt(seq, 'wrong_journal', `event ${seq} claims journal ${h.journal}`);
    // A header stored at another position (events dropped and renumbered, or reordered) is a gap in the sequence.
    if (h.seq !== seq) return failAt(seq, 'seq_gap', `the event stored at ${seq} claims seq ${h.seq}`);
    if (!bytesEqual(h.prev, prev)) return failAt(seq, 'chain_broken', `event ${seq} does not chain to event ${seq - 1}`);
    if (h.time < lastTime) return failAt(seq, 'time_regressed', `event ${seq} time goes back`);
    const { hash } = event;
    const leaf = hasher.leaf(hash);
    const ks = keyspaceOf(h.op);
    const mapKey = ks + h.key;
    const expectedKeyPrev = lastOfKey.get(mapKey) ?? null;
    if (!(h.keyPrev === null ? expectedKeyPrev === null : expectedKeyPrev !== null && bytesEqual(h.keyPrev, expectedKeyPrev))) {
      return failAt(seq, 'key_chain_broken', `event ${seq} keyPrev does not name the previous event of its key`);
    }
    // The tree leaf and the key index entry were both written from the event hash at append time. When the
    // leaf is there but disagrees, and the index entry disagrees (or is not where the header's key puts it),
    // the header bytes are what changed since; one derived record disagreeing alone is that record's fault.
    // getBinaryFast does not copy; its bytes are good only until the next read, so they are compared at once.
    const indexed = storage.keyIndex.getBinaryFast([tid, ks, h.key, seq]);
    const indexOk = indexed !== undefined && bytesEqual(indexed, hash);
    const storedLeaf = nodes.get(0, seq);
    if (storedLeaf && !bytesEqual(storedLeaf, leaf) && !indexOk) {
      return failAt(seq, 'hash_mismatch', `event ${seq} no longer hashes to what the tree and the key index committed to`);
    }
    if (!indexOk) return failAt(seq, 'index_mismatch', `key index entry of event ${seq} is missing or wrong`);

    if (!nextPayload.done && (nextPayload.value.key as [number, number])[1] < seq) {
      return failAt((nextPayload.value.key as [number, number])[1], 'payload_mismatch', 'a payload is stored for a seq with no event');
    }
    if (!nextPayload.done && (nextPayload.value.key as [number, number])[1] === seq) {
      const { commitment } = nextPayload.value.value;
      if (h.payload === null || commitment === null || !bytesEqual(commitment, h.payload)) {
        return failAt(seq, 'payload_mismatch', `payload of event ${seq} does not match its commitment`);
      }
      // Erase events are rare: their payload is read again rather than copied out of every payload.
      if (h.op === 'erase') accountErased(missingPayloads, mapKey, seq, storage.payloads.get([tid, seq])!.subarray(SALT_LENGTH));
      nextPayload = payloads.next();
    } else if (h.payload !== null) {
      // Absent: fine only if a later erase event of this key names this seq.
      missingPayloads.set(seq, mapKey);
    }

    for (const node of tree.push(leaf)) {
      const stored = node.level === 0 ? storedLeaf : nodes.get(node.level, node.index);
      if (!stored || !bytesEqual(stored, node.hash)) return failAt(seq, 'node_mismatch', `stored tree node ${node.level}/${node.index} differs`);
    }
    lastOfKey.set(mapKey, hash);
    prev = hash;
    lastTime = h.time;
    checked++;
    const cpFail = checkCheckpointsUpTo(checked);
    if (cpFail) return cpFail;
    if (opts.onProgress && checked % every === 0) opts.onProgress(checked);
  }

  // The head first: when the last events were cut off, a head that still counts them says so most directly,
  // before the payloads and checkpoints they leave behind.
  const head = storage.heads.get(tid);
  const headOk = head
    ? head.size === checked && head.head instanceof Uint8Array && bytesEqual(head.head, prev) && head.time === lastTime
    : checked === 0;
  if (!headOk) return failAt(checked, 'head_mismatch', `the stored head does not match the last event (${checked} events)`);
  if (!nextPayload.done) return failAt((nextPayload.value.key as [number, number])[1], 'payload_mismatch', 'a payload is stored past the last event');
  if (!nextCp.done) return failAt(nextCp.value.size, 'checkpoint_malformed', `checkpoint of size ${nextCp.value.size} is beyond the last event`);
  // Every batch signs a checkpoint at its new size, so the latest one is at the head. Without this, events
  // appended (correctly chained, indexed and hashed into the tree) by anyone without the key would pass.
  if (checked > 0 && lastCpSize !== checked) {
    return failAt(lastCpSize, 'checkpoint_missing', `events ${lastCpSize}..${checked - 1} are under no signed checkpoint`);
  }
  if (missingPayloads.size > 0) {
    const seq = missingPayloads.keys().next().value!; // insertion order is seq order
    return failAt(seq, 'payload_missing', `the payload of event ${seq} is missing and no erase event accounts for it`);
  }
  // Every expected record was found above; a larger count means records no event accounts for.
  const held = storage.nodes.getCount({ start: [tid], end: [tid + 1] });
  if (held !== nodeCount(checked)) return failAt(checked, 'node_mismatch', `the tree holds ${held - nodeCount(checked)} nodes beyond the events`);
  const indexed = storage.keyIndex.getCount({ start: [tid], end: [tid + 1] });
  if (indexed !== checked) return failAt(checked, 'index_mismatch', `the key index holds ${indexed - checked} entries no event accounts for`);
  opts.onProgress?.(checked);
  return { ok: true, checked, checkpoints: cpCount };
}

/** An event as the re-check reads it: its hash, and its header or why its bytes are not one. */
interface CheckedEvent {
  hash: Uint8Array;
  header: EventHeader | undefined;
  error: string | undefined;
}

/** A stored payload as the re-check reads it: the commitment of its salt and bytes, or null when shorter than a salt. */
interface CheckedPayload {
  commitment: Uint8Array | null;
}

const readers = new WeakMap<Storage, { events: Database<CheckedEvent, [number, number]>; payloads: Database<CheckedPayload, [number, number]> }>();

/**
 * Handles on the events and payloads databases that hash and decode each
 * record inside the cursor's step, straight from LMDB's read buffer: the
 * re-check needs what the bytes hash and decode to, not a copy of them.
 */
function readersOf(storage: Storage) {
  let r = readers.get(storage);
  if (!r) {
    r = {
      events: storage.openDecoded('events', (bytes): CheckedEvent => {
        const hash = eventHash(bytes);
        try {
          return { hash, header: decodeHeader(bytes), error: undefined };
        } catch (err) {
          return { hash, header: undefined, error: (err as Error).message };
        }
      }),
      payloads: storage.openDecoded('payloads', (bytes): CheckedPayload => ({
        commitment: bytes.length < SALT_LENGTH ? null : payloadCommitment(bytes.subarray(0, SALT_LENGTH), bytes.subarray(SALT_LENGTH)),
      })),
    };
    readers.set(storage, r);
  }
  return r;
}

/**
 * Marks the payloads an erase event of `eraseKey` names as accounted for.
 * Its payload already matched its commitment; if it still does not decode
 * to a list, nothing is accounted for and the missing payloads are reported.
 */
function accountErased(missing: Map<number, string>, eraseKey: string, eraseSeq: number, payload: Uint8Array): void {
  let erased: unknown;
  try {
    erased = (decodeCanonical(payload) as { erased?: unknown } | null)?.erased;
  } catch {
    return;
  }
  if (!Array.isArray(erased)) return;
  // Only earlier events of the erased key: an erase cannot excuse another key's missing payload.
  for (const s of erased) if (typeof s === 'number' && s < eraseSeq && missing.get(s) === eraseKey) missing.delete(s);
}

/** Stored tree nodes of a tree of `size` leaves: every complete subtree, 2·size − popcount(size). */
function nodeCount(size: number): number {
  let ones = 0;
  for (let n = size; n > 0; n = Math.floor(n / 2)) ones += n % 2;
  return 2 * size - ones;
}

/**
 * Stored tree nodes read in order: the verifier asks for each level's nodes
 * by rising index, so one cursor per level walks them sequentially instead
 * of a point lookup per node (one per event at the leaves, about one more
 * above them).
 */
class NodeCursors {
  private readonly levels: { it: Iterator<{ key: unknown; value: Uint8Array }>; at: { index: number; value: Uint8Array } | undefined }[] = [];
  constructor(
    private readonly journal: Journal,
    private readonly tid: number,
  ) {}

  /** The stored node (level, index), or undefined when there is none. */
  get(level: number, index: number): Uint8Array | undefined {
    let c = this.levels[level];
    if (!c) {
      const range = this.journal.storage.nodes.getRange({ start: [this.tid, level, index], end: [this.tid, level, Number.MAX_SAFE_INTEGER] });
      c = this.levels[level] = { it: range[Symbol.iterator](), at: undefined };
      c.at = NodeCursors.step(c.it);
    }
    while (c.at && c.at.index < index) c.at = NodeCursors.step(c.it);
    return c.at && c.at.index === index ? c.at.value : undefined;
  }

  private static step(it: Iterator<{ key: unknown; value: Uint8Array }>): { index: number; value: Uint8Array } | undefined {
    const r = it.next();
    return r.done ? undefined : { index: (r.value.key as [number, number, number])[2], value: r.value.value };
  }
}
