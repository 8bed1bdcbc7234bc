/**
 * Offline audit of an evidence bundle: recomputes every event hash, the
 * `prev` chain, `keyPrev` links, payload commitments of present payloads,
 * the tree root at each checkpoint, every signature, and the consistency
 * between checkpoints; then states whether the range is complete. Reads
 * the bundle as a stream of lines; memory is O(log n) for the tree plus one
 * hash per distinct key (for `keyPrev`) and one number per erased payload.
 *
 * Pure: runs in a browser as well as in the CLI. The hash implementation is
 * a parameter so the CLI can plug in its faster BLAKE3.
 */
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesEqual, fromBase64, toBase64, utf8 } from './bytes.js';
import { parseCheckpoint, type Checkpoint } from './checkpoint.js';
import { decodeCanonical } from './codec.js';
import { decodeHeader, ZERO_HASH, type EventHeader } from './event.js';
import { nobleHashing, SALT_LENGTH, type Hashing } from './hash.js';
import { IncrementalTree, verifyConsistency, verifyInclusion } from './merkle.js';
import { verifyNote, type Ed25519Verify, type VerifierKey } from './note.js';
import { BundleFormatError, parseRecord, type ManifestRecord } from './bundle.js';

/** Why a bundle failed its audit. `malformed` means unusable input; the others mean evidence that does not hold. */
export type AuditFailureCode =
  | 'malformed'
  | 'truncated'
  | 'digest_mismatch'
  | 'count_mismatch'
  | 'unknown_key'
  | 'bad_signature'
  | 'origin_mismatch'
  | 'frontier_mismatch'
  | 'anchor_invalid'
  | 'header_malformed'
  | 'wrong_journal'
  | 'seq_gap'
  | 'chain_broken'
  | 'time_regressed'
  | 'key_chain_broken'
  | 'payload_mismatch'
  | 'payload_missing'
  | 'checkpoint_misplaced'
  | 'root_mismatch'
  | 'consistency_failed'
  | 'incomplete';

/** A successful audit. */
export interface AuditSuccess {
  ok: true;
  tenant: string;
  origin: string;
  from: number;
  to: number;
  events: number;
  checkpoints: number;
  /** Payloads absent from the bundle, each justified by an erase event. */
  erasedPayloads: number;
  /** Every event from..to present, chained, and under a verified signed checkpoint. */
  complete: true;
  /** Verifier keys that signed the checkpoints. */
  signers: string[];
}

/** A failed audit: the first thing found wrong, in stream order. */
export interface AuditFailure {
  ok: false;
  code: AuditFailureCode;
  message: string;
  /** 1-based line of the bundle where it was found. */
  line: number;
  seq?: number;
}

/** Result of {@link auditBundle}. */
export type AuditResult = AuditSuccess | AuditFailure;

/** An incremental hash for the bundle digest. */
export interface DigestHash {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

/** Options of {@link auditBundle}. */
export interface AuditOptions {
  hashing?: Hashing;
  digest?: () => DigestHash;
  verify?: Ed25519Verify;
  /** Called for each event after it is checked (for reports). */
  onEvent?: (header: EventHeader, payload: Uint8Array | null) => void;
  /** Called for each verified checkpoint. */
  onCheckpoint?: (cp: Checkpoint) => void;
  onProgress?: (events: number) => void;
  progressEvery?: number;
}

class AuditStop extends Error {
  constructor(readonly failure: AuditFailure) {
    super(failure.message);
  }
}

/**
 * Audits a bundle given as its lines (without newlines), against trusted verifier keys.
 * Never throws for a bad bundle: every problem is an {@link AuditFailure}.
 */
export async function auditBundle(lines: AsyncIterable<string> | Iterable<string>, trusted: readonly VerifierKey[], opts: AuditOptions = {}): Promise<AuditResult> {
  const { tree: hasher, eventHash, payloadCommitment } = opts.hashing ?? nobleHashing;
  const digest = (opts.digest ?? (() => blake3.create()))();
  const every = opts.progressEvery ?? 10_000;
  let lineNo = 0;
  const stop = (code: AuditFailureCode, message: string, seq?: number): never => {
    throw new AuditStop({ ok: false, code, message, line: lineNo, ...(seq !== undefined ? { seq } : {}) });
  };
  const b64 = (s: string) => fromBase64(s);

  let manifest: ManifestRecord | undefined;
  let tree: IncrementalTree | undefined;
  let startSeen = false;
  let ended = false;
  let count = 0;
  let prevHash: Uint8Array = ZERO_HASH;
  let lastTime = 0;
  let lastCp: { size: number; root: Uint8Array } | undefined;
  let tail: { size: number; root: Uint8Array } | undefined;
  let checkpoints = 0;
  let erasedPayloads = 0;
  const signers = new Set<string>();
  const lastOfKey = new Map<string, Uint8Array>();
  const anchors = new Map<string, { seq: number; key: string; op: string; time: number }>();
  const pendingErased = new Set<number>();
  let startRoot: Uint8Array | undefined;

  const checkNote = (note: string, size: number): Checkpoint => {
    const v = verifyNote(note, trusted, opts.verify);
    if (!v.ok) return stop(v.code === 'malformed' ? 'malformed' : v.code, `checkpoint ${size}: ${v.message}`);
    let cp: Checkpoint;
    try {
      cp = parseCheckpoint(v.text);
    } catch (err) {
      return stop('malformed', `checkpoint ${size}: ${(err as Error).message}`);
    }
    if (cp.origin !== `${v.key.name}/${manifest!.tenant}`) return stop('origin_mismatch', `checkpoint ${size} is of ${cp.origin}, not of tenant ${manifest!.tenant} of ${v.key.name}`);
    if (cp.origin !== manifest!.origin || v.key.name !== manifest!.node) return stop('origin_mismatch', `the manifest claims origin ${manifest!.origin} of node ${manifest!.node}, the checkpoints are of ${cp.origin}`);
    if (cp.size !== size) return stop('checkpoint_misplaced', `a record of size ${size} carries a checkpoint of size ${cp.size}`);
    signers.add(v.key.text);
    return cp;
  };
  const decode = (headerB64: string, seq?: number): { header: EventHeader; hash: Uint8Array } => {
    const bytes = b64(headerB64);
    let header: EventHeader;
    try {
      header = decodeHeader(bytes);
    } catch (err) {
      return stop('header_malformed', `an event header does not decode: ${(err as Error).message}`, seq);
    }
    return { header, hash: eventHash(bytes) };
  };
  const keyOf = (h: EventHeader) => (h.op === 'log' ? 'k' : 'b') + h.key;
  const noteErasure = (h: EventHeader, payload: Uint8Array) => {
    let details: unknown;
    try {
      details = decodeCanonical(payload);
    } catch {
      return stop('malformed', `erase event ${h.seq} has an unreadable payload`, h.seq);
    }
    // A commitment holds any canonical CBOR: the details may be null or a number, not the map an erase writes.
    const erased = details !== null && typeof details === 'object' ? (details as { erased?: unknown }).erased : undefined;
    if (!Array.isArray(erased)) return stop('malformed', `erase event ${h.seq} does not list what it erased`, h.seq);
    for (const s of erased) if (typeof s === 'number' && s < h.seq) pendingErased.delete(s);
  };

  try {
    for await (const raw of lines) {
      lineNo++;
      if (ended) stop('malformed', 'there are records after the end record');
      const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      let rec;
      try {
        rec = parseRecord(text, lineNo);
      } catch (err) {
        if (err instanceof BundleFormatError) stop('malformed', err.message);
        throw err;
      }
      if (rec.t !== 'end') digest.update(utf8(text + '\n'));
      if (!manifest && rec.t !== 'manifest') stop('malformed', 'the bundle does not start with a manifest');

      switch (rec.t) {
        case 'manifest':
          if (manifest) stop('malformed', 'a second manifest');
          manifest = rec;
          break;
        case 'start': {
          if (startSeen || lineNo !== 2) stop('malformed', 'the start record must be the second line');
          startSeen = true;
          if (rec.size !== manifest!.from) stop('malformed', `start size ${rec.size} is not the manifest's from ${manifest!.from}`);
          let t: IncrementalTree;
          try {
            t = IncrementalTree.fromFrontier(hasher, rec.size, rec.frontier.map(b64));
          } catch (err) {
            return stop('frontier_mismatch', (err as Error).message);
          }
          if (rec.size > 0) {
            if (rec.checkpoint === null) stop('malformed', 'a bundle that starts after seq 0 needs the start checkpoint');
            const cp = checkNote(rec.checkpoint!, rec.size);
            if (!bytesEqual(cp.root, t.root())) stop('frontier_mismatch', 'the tree edge does not lead to the start checkpoint root');
            startRoot = cp.root;
            lastCp = { size: cp.size, root: cp.root };
            opts.onCheckpoint?.(cp);
          } else if (rec.checkpoint !== null || rec.frontier.length !== 0) stop('malformed', 'a bundle from seq 0 has no start checkpoint or edge');
          tree = t;
          break;
        }
        case 'anchor': {
          if (!tree) stop('malformed', 'an anchor before the start record');
          const { header, hash } = decode(rec.header);
          if (header.journal !== manifest!.tenant) stop('wrong_journal', `anchor of journal ${header.journal}`, header.seq);
          if (!startRoot || header.seq >= manifest!.from || !verifyInclusion(hasher, header.seq, manifest!.from, hasher.leaf(hash), rec.proof.map(b64), startRoot)) {
            stop('anchor_invalid', `anchor event ${header.seq} is not proven in the start checkpoint`, header.seq);
          }
          anchors.set(toBase64(hash), { seq: header.seq, key: keyOf(header), op: header.op, time: header.time });
          break;
        }
        case 'event': {
          if (!tree) stop('malformed', 'an event before the start record');
          const expected = manifest!.from + count;
          const { header: h, hash } = decode(rec.header, expected);
          if (h.journal !== manifest!.tenant) stop('wrong_journal', `event ${h.seq} belongs to journal ${h.journal}`, h.seq);
          if (h.seq !== expected) stop('seq_gap', `expected event ${expected}, found event ${h.seq}`, expected);
          if (h.seq >= manifest!.to) stop('malformed', `event ${h.seq} is outside the manifest's range`, h.seq);
          if (count === 0 && manifest!.from > 0) {
            const a = anchors.get(toBase64(h.prev));
            if (!a || a.seq !== h.seq - 1) stop('chain_broken', `event ${h.seq} does not chain to a proven event ${h.seq - 1}`, h.seq);
            lastTime = a!.time;
          } else if (!bytesEqual(h.prev, prevHash)) stop('chain_broken', `event ${h.seq} does not chain to event ${h.seq - 1}`, h.seq);
          if (h.time < lastTime) stop('time_regressed', `event ${h.seq} is older than the event before it`, h.seq);
          const k = keyOf(h);
          const prevOfKey = lastOfKey.get(k);
          if (prevOfKey) {
            if (!h.keyPrev || !bytesEqual(h.keyPrev, prevOfKey)) stop('key_chain_broken', `event ${h.seq} does not link to the previous event of its key`, h.seq);
          } else if (h.keyPrev) {
            const a = anchors.get(toBase64(h.keyPrev));
            if (!a || a.key !== k) stop('key_chain_broken', `event ${h.seq} links to an earlier event of its key that is not proven`, h.seq);
          }
          let payload: Uint8Array | null = null;
          if (rec.payload !== null || rec.salt !== null) {
            if (rec.payload === null || rec.salt === null || h.payload === null) stop('malformed', `event ${h.seq} has a payload without salt, or one it does not commit to`, h.seq);
            payload = b64(rec.payload!);
            const salt = b64(rec.salt!);
            if (salt.length !== SALT_LENGTH || !bytesEqual(payloadCommitment(salt, payload), h.payload!)) stop('payload_mismatch', `payload of event ${h.seq} does not match its commitment`, h.seq);
            if (h.op === 'erase') noteErasure(h, payload);
          } else if (h.payload !== null) {
            pendingErased.add(h.seq);
            erasedPayloads++;
          }
          tree!.push(hasher.leaf(hash));
          lastOfKey.set(k, hash);
          prevHash = hash;
          lastTime = h.time;
          count++;
          opts.onEvent?.(h, payload);
          if (opts.onProgress && count % every === 0) opts.onProgress(count);
          break;
        }
        case 'checkpoint': {
          if (!tree) stop('malformed', 'a checkpoint before the start record');
          if (rec.size !== tree!.size) stop('checkpoint_misplaced', `checkpoint of size ${rec.size} after ${tree!.size} events`);
          const cp = checkNote(rec.note, rec.size);
          if (!bytesEqual(cp.root, tree!.root())) stop('root_mismatch', `checkpoint ${cp.size} root differs from the tree of the events`, cp.size - 1);
          if (lastCp && lastCp.size > 0 && !verifyConsistency(hasher, lastCp.size, cp.size, lastCp.root, cp.root, rec.consistency.map(b64))) {
            stop('consistency_failed', `checkpoint ${lastCp.size} is not proven a prefix of checkpoint ${cp.size}`);
          }
          lastCp = { size: cp.size, root: cp.root };
          checkpoints++;
          opts.onCheckpoint?.(cp);
          break;
        }
        case 'tail': {
          if (!lastCp || lastCp.size !== manifest!.to || tree!.size !== manifest!.to) stop('malformed', 'a tail checkpoint before the range is complete');
          const cp = checkNote(rec.note, rec.size);
          if (!verifyConsistency(hasher, lastCp!.size, cp.size, lastCp!.root, cp.root, rec.consistency.map(b64))) stop('consistency_failed', `checkpoint ${lastCp!.size} is not proven a prefix of the tail checkpoint ${cp.size}`);
          tail = { size: cp.size, root: cp.root };
          break;
        }
        case 'erasure': {
          if (!tail) stop('malformed', 'an erasure record before the tail checkpoint');
          const { header: h, hash } = decode(rec.header);
          if (h.journal !== manifest!.tenant || h.op !== 'erase') stop('anchor_invalid', 'an erasure record that is not an erase event of this journal', h.seq);
          if (h.seq < manifest!.to || !verifyInclusion(hasher, h.seq, tail!.size, hasher.leaf(hash), rec.proof.map(b64), tail!.root)) {
            stop('anchor_invalid', `erase event ${h.seq} is not proven in the tail checkpoint`, h.seq);
          }
          const payload = b64(rec.payload);
          if (h.payload === null || !bytesEqual(payloadCommitment(b64(rec.salt), payload), h.payload)) stop('payload_mismatch', `payload of erase event ${h.seq} does not match its commitment`, h.seq);
          noteErasure(h, payload);
          break;
        }
        case 'end': {
          ended = true;
          if (rec.events !== count) stop('count_mismatch', `the end record counts ${rec.events} events, the bundle has ${count}`);
          if (!bytesEqual(b64(rec.digest), digest.digest())) stop('digest_mismatch', 'the bundle digest does not match its contents');
          break;
        }
      }
    }
    if (!manifest) stop('malformed', 'the bundle is empty');
    if (!ended) stop('truncated', 'the bundle ends before its end record');
    if (!tree) stop('malformed', 'the bundle has no start record');
    if (tree!.size !== manifest!.to) stop('incomplete', `the bundle has events up to ${tree!.size}, its manifest says ${manifest!.to}`);
    if (manifest!.to > 0 && (!lastCp || lastCp.size !== manifest!.to)) stop('incomplete', `no signed checkpoint covers the last events (up to ${manifest!.to})`);
    if (pendingErased.size > 0) {
      const seq = Math.min(...pendingErased);
      stop('payload_missing', `the payload of event ${seq} is missing and no erase event in the bundle accounts for it`, seq);
    }
  } catch (err) {
    if (err instanceof AuditStop) return err.failure;
    if (err instanceof BundleFormatError || err instanceof SyntaxError) return { ok: false, code: 'malformed', message: err.message, line: lineNo };
    throw err;
  }
  return {
    ok: true,
    tenant: manifest!.tenant,
    origin: manifest!.origin,
    from: manifest!.from,
    to: manifest!.to,
    events: count,
    checkpoints,
    erasedPayloads,
    complete: true,
    signers: [...signers],
  };
}
