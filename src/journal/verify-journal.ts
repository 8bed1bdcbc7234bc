/**
 * Streaming re-check of a tenant's journal against itself: every header
 * decodes canonically, seqs have no gap, `prev` chains, time never goes
 * back, every `keyPrev` names the previous event of its key, present
 * payloads match their commitments, every stored tree node and checkpoint
 * root equals the one recomputed from the events, and every checkpoint is
 * signed by one of the node's keys. Memory is O(log n) for the tree plus
 * one hash per distinct key for the `keyPrev` links.
 */
import { bytesEqual } from '../core/bytes.js';
import { parseCheckpoint } from '../core/checkpoint.js';
import { TallyError } from '../core/errors.js';
import { decodeHeader, FORMAT_VERSION, ZERO_HASH, type EventHeader } from '../core/event.js';
import { SALT_LENGTH } from '../core/hash.js';
import { IncrementalTree } from '../core/merkle.js';
import { verifyNote } from '../core/note.js';
import { fastHashing } from './fast-hashing.js';
import { keyspaceOf, type Journal } from './journal.js';
import { nodeVerify } from './signing-keys.js';

const { tree: hasher, eventHash, payloadCommitment } = fastHashing;

/** Why a journal failed verification. Each code is stable. */
export type JournalFailureCode =
  | 'header_malformed'
  | 'wrong_journal'
  | 'seq_gap'
  | 'chain_broken'
  | 'time_regressed'
  | 'key_chain_broken'
  | 'index_mismatch'
  | 'payload_mismatch'
  | 'node_mismatch'
  | 'checkpoint_malformed'
  | 'checkpoint_signature'
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
}

/**
 * Re-checks the whole journal of tenant `name`.
 * @throws TallyError `not_found` if the tenant does not exist.
 */
export function verifyJournal(journal: Journal, name: string, opts: VerifyJournalOptions = {}): JournalVerdict {
  const rec = journal.tenant(name);
  if (!rec) throw new TallyError('not_found', `tenant "${name}" does not exist`);
  const tid = rec.id;
  const { storage } = journal;
  const keys = journal.verifierKeys();
  const origin = journal.origin(name);
  const tree = new IncrementalTree(hasher);
  const lastOfKey = new Map<string, Uint8Array>();
  const checkpoints = journal.checkpoints(tid)[Symbol.iterator]();
  let nextCp = checkpoints.next();
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
      const note = verifyNote(cp.note, keys, nodeVerify);
      if (!note.ok) return failAt(cp.size, 'checkpoint_signature', `checkpoint ${cp.size}: ${note.message}`);
      let body;
      try {
        body = parseCheckpoint(note.text);
      } catch (err) {
        return failAt(cp.size, 'checkpoint_malformed', `checkpoint ${cp.size}: ${(err as Error).message}`);
      }
      if (body.origin !== origin || body.size !== cp.size) {
        return failAt(cp.size, 'checkpoint_malformed', `checkpoint ${cp.size} names origin ${body.origin} size ${body.size}`);
      }
      if (!bytesEqual(body.root, tree.root())) return failAt(cp.size, 'root_mismatch', `checkpoint ${cp.size} root differs from the recomputed tree`);
      cpCount++;
      nextCp = checkpoints.next();
    }
    return undefined;
  };

  const payloads = storage.payloads.getRange({ start: [tid, 0], end: [tid, Number.MAX_SAFE_INTEGER] })[Symbol.iterator]();
  let nextPayload = payloads.next();

  for (const { key, value } of storage.events.getRange({ start: [tid, 0], end: [tid, Number.MAX_SAFE_INTEGER] })) {
    const seq = (key as [number, number])[1];
    if (seq !== checked) return failAt(checked, 'seq_gap', `expected event ${checked}, found ${seq}`);
    let h: EventHeader;
    try {
      h = decodeHeader(value);
    } catch (err) {
      return failAt(seq, 'header_malformed', `event ${seq}: ${(err as Error).message}`);
    }
    if (h.fmt !== FORMAT_VERSION || h.journal !== name || h.seq !== seq) {
      return failAt(seq, 'wrong_journal', `event ${seq} claims journal ${h.journal} seq ${h.seq}`);
    }
    if (!bytesEqual(h.prev, prev)) return failAt(seq, 'chain_broken', `event ${seq} does not chain to event ${seq - 1}`);
    if (h.time < lastTime) return failAt(seq, 'time_regressed', `event ${seq} time goes back`);
    const hash = eventHash(value);
    const ks = keyspaceOf(h.op);
    const mapKey = ks + h.key;
    const expectedKeyPrev = lastOfKey.get(mapKey) ?? null;
    if (!(h.keyPrev === null ? expectedKeyPrev === null : expectedKeyPrev !== null && bytesEqual(h.keyPrev, expectedKeyPrev))) {
      return failAt(seq, 'key_chain_broken', `event ${seq} keyPrev does not name the previous event of its key`);
    }
    const indexed = storage.keyIndex.get([tid, ks, h.key, seq]);
    if (!indexed || !bytesEqual(indexed, hash)) return failAt(seq, 'index_mismatch', `key index entry of event ${seq} is missing or wrong`);

    if (!nextPayload.done && (nextPayload.value.key as [number, number])[1] < seq) {
      return failAt((nextPayload.value.key as [number, number])[1], 'payload_mismatch', 'a payload is stored for a seq with no event');
    }
    if (!nextPayload.done && (nextPayload.value.key as [number, number])[1] === seq) {
      const stored = nextPayload.value.value;
      if (h.payload === null || stored.length < SALT_LENGTH || !bytesEqual(payloadCommitment(stored.subarray(0, SALT_LENGTH), stored.subarray(SALT_LENGTH)), h.payload)) {
        return failAt(seq, 'payload_mismatch', `payload of event ${seq} does not match its commitment`);
      }
      nextPayload = payloads.next();
    }

    for (const node of tree.push(hasher.leaf(hash))) {
      const stored = storage.nodes.get([tid, node.level, node.index]);
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
  if (!nextPayload.done) return failAt((nextPayload.value.key as [number, number])[1], 'payload_mismatch', 'a payload is stored past the last event');
  if (!nextCp.done) return failAt(nextCp.value.size, 'checkpoint_malformed', `checkpoint of size ${nextCp.value.size} is beyond the last event`);
  const head = storage.heads.get(tid);
  if ((head?.size ?? 0) !== checked || !bytesEqual(head ? new Uint8Array(head.head) : ZERO_HASH, prev)) {
    return failAt(checked, 'head_mismatch', 'the stored head does not match the last event');
  }
  opts.onProgress?.(checked);
  return { ok: true, checked, checkpoints: cpCount };
}
