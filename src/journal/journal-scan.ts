/**
 * The re-check of a tenant's journal, event by event, that `verify()` runs:
 * every header decodes canonically, seqs have no gap, `prev` chains, time
 * never goes back, every `keyPrev` names the previous event of its key,
 * present payloads match their commitments and absent ones are accounted
 * for by an erase event, every stored tree node and checkpoint root equals
 * the one recomputed from the events, every checkpoint is signed by one of
 * the node's keys for this tenant's origin, the latest one covers the head,
 * and the head, tree and key index hold nothing beyond the events. Memory
 * is O(log n) for the tree plus one hash per distinct key for the `keyPrev`
 * links and one entry per erased payload.
 *
 * A scan can also start at a later seq, to re-check the rest of a journal
 * on a second thread while the first checks the beginning. It cannot know
 * what the events before its start hash and chain to, so it takes on trust
 * the stored tree's right edge, the first event's `prev` and the first
 * `keyPrev` of each key, and reports them with its verdict; the scan of the
 * beginning must then confirm them ({@link SegmentAssumptions}).
 *
 * Each alteration of the stored bytes is reported with the code of the
 * first thing it breaks (docs/FORMAT.md, "What verify() catches";
 * witnessed by test/journal/tamper-lmdb.test.ts).
 */
import type { Database } from 'lmdb';
import { bytesEqual } from '../core/bytes.js';
import { parseCheckpoint } from '../core/checkpoint.js';
import { decodeCanonical } from '../core/codec.js';
import { decodeHeader, keyspaceOf, ZERO_HASH, type EventHeader } from '../core/event.js';
import { SALT_LENGTH } from '../core/hash.js';
import { frontierOf, IncrementalTree } from '../core/merkle.js';
import { verifyNote, type VerifierKey } from '../core/note.js';
import { fastHashing } from './fast-hashing.js';
import type { SignatureChecks } from './signature-checks.js';
import type { Storage } from './storage.js';

const { tree: hasher, eventHash, payloadCommitment } = fastHashing;
const MAX_SEQ = Number.MAX_SAFE_INTEGER;

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

/** Result of a journal's re-check. */
export type JournalVerdict =
  | { ok: true; checked: number; checkpoints: number }
  | { ok: false; checked: number; seq: number; code: JournalFailureCode; message: string };

/** What a scan reads: one tenant's records, and the keys and origin its checkpoints must carry. */
export interface ScanTarget {
  readonly storage: Storage;
  readonly tid: number;
  readonly name: string;
  readonly origin: string;
  readonly keys: readonly VerifierKey[];
}

/**
 * What a scan that started at `from` took on trust about the events
 * before it. Its verdict holds for the whole journal only if the scan of
 * events 0..from−1 ends in exactly this state.
 */
export interface SegmentAssumptions {
  from: number;
  /** The `prev` of event `from`: the hash the events before must end on. */
  firstPrev: Uint8Array;
  /** The time of event `from`: the events before must not be later. */
  firstTime: number;
  /** The stored tree's right edge at `from` that the scan continued from. */
  frontier: Uint8Array[];
  /** Payloads before `from` that erase events of this segment account for: [seq, keyspace + key]. */
  erasedBefore: [number, string][];
  /**
   * The `keyPrev` of the first event of each key in the segment, packed by
   * {@link KeyPrevList} (one entry per distinct key, so it travels between
   * threads as one buffer); the events before must end each key there.
   */
  keyPrevs: Uint8Array;
}

/** Options of a scan. */
export interface ScanOptions {
  /** Called every `progressEvery` events with the number checked so far. */
  onProgress?: (checked: number) => void;
  progressEvery?: number;
}

/**
 * One pass over a tenant's events, resumable: {@link run} checks events up
 * to a given count and can be called again to go on from there, as long as
 * the caller has not yielded in between (the pass reads one snapshot).
 */
export class JournalScan {
  /** Events checked so far (the next seq expected). */
  checked: number;
  /** Hash of the last event checked. */
  prev: Uint8Array = ZERO_HASH;
  /** Time of the last event checked. */
  lastTime = 0;
  /** Checkpoints whose root and signature were checked (signatures are queued, see the constructor). */
  checkpoints = 0;
  /** Set when the scan started past seq 0: what it assumed of the events before. */
  readonly assumed: SegmentAssumptions | undefined;
  /** Where a scan from a later seq collects {@link SegmentAssumptions.keyPrevs}. */
  private readonly keyPrevs: KeyPrevList | undefined;

  private readonly tree: IncrementalTree;
  private readonly lastOfKey = new Map<string, Uint8Array>();
  /** Events whose payload is absent and not (yet) accounted for by an erase event: seq → keyspace + key. */
  readonly missingPayloads = new Map<number, string>();
  private readonly cps: Iterator<{ size: number; note: string }>;
  private nextCp: IteratorResult<{ size: number; note: string }>;
  private lastCpSize: number;
  private readonly events: Iterator<{ key: unknown; value: CheckedEvent }>;
  /** An event record read ahead by {@link confirms}, for {@link run} to take first. */
  private pendingEvent: IteratorResult<{ key: unknown; value: CheckedEvent }> | undefined;
  private readonly payloads: Iterator<{ key: unknown; value: CheckedPayload }>;
  private nextPayload: IteratorResult<{ key: unknown; value: CheckedPayload }>;
  private readonly nodes: NodeCursors;

  /**
   * @param signatures where checkpoint signatures are queued; the caller
   *   reports their failures, which come before the scan's when earlier.
   * @param from the seq to start at; past 0 the scan takes on trust what
   *   {@link assumed} lists.
   * @throws never for bad records: a stored frontier that is missing is
   *   reported by {@link run} as `node_mismatch`.
   */
  constructor(
    private readonly target: ScanTarget,
    private readonly signatures: SignatureChecks,
    private readonly opts: ScanOptions = {},
    from = 0,
  ) {
    const { storage, tid } = target;
    this.checked = from;
    this.lastCpSize = from;
    let tree = new IncrementalTree(hasher);
    if (from > 0) {
      const frontier = frontierOf((level, index) => storage.nodes.get([tid, level, index]) ?? new Uint8Array(0), from);
      // A missing node leaves an empty hash that no recomputed node equals: the scan fails, and the
      // caller re-checks from the beginning. Until the first event is read, prev and time are unknown.
      tree = IncrementalTree.fromFrontier(hasher, from, frontier);
      this.assumed = { from, firstPrev: ZERO_HASH, firstTime: 0, frontier, erasedBefore: [], keyPrevs: new Uint8Array(0) };
      this.keyPrevs = new KeyPrevList();
      this.lastTime = -Infinity;
    }
    this.tree = tree;
    // Checkpoints up to `from` are the scan of the events before it to check (from 0: all, a size 0 too).
    // Past 0, every range starts just after what the scan of the events before reads, not at the next whole seq:
    // a record keyed between two seqs is then seen by one of the two scans.
    this.cps = checkpointRange(storage, tid, from, from > 0)[Symbol.iterator]();
    this.nextCp = this.cps.next();
    const read = readersOf(storage);
    const start = { start: [tid, from === 0 ? 0 : from - 1] as [number, number], end: [tid, MAX_SEQ] as [number, number], exclusiveStart: from > 0 };
    this.events = read.events.getRange(start)[Symbol.iterator]();
    this.payloads = read.payloads.getRange(start)[Symbol.iterator]();
    this.nextPayload = this.payloads.next();
    this.nodes = new NodeCursors(storage, tid);
  }

  /**
   * Checks events until `until` of them are checked in all, or the events
   * run out. Returns the first failure, or undefined.
   * @param stop polled every 1,024 events; when it returns true the scan
   *   stops there and returns undefined.
   */
  run(until = MAX_SEQ, stop?: () => boolean): JournalVerdict | undefined {
    const { storage, tid, name } = this.target;
    const every = this.opts.progressEvery ?? 10_000;
    while (this.checked < until) {
      if (stop && this.checked % 1024 === 0 && stop()) return undefined;
      const next = this.pendingEvent ?? this.events.next();
      this.pendingEvent = undefined;
      if (next.done) return undefined;
      const { key, value: event } = next.value;
      const seq = (key as [number, number])[1];
      const { checked } = this;
      if (seq !== checked) return this.failAt(checked, 'seq_gap', `expected event ${checked}, found ${seq}`);
      const h = event.header;
      if (!h) return this.failAt(seq, 'header_malformed', `event ${seq}: ${event.error}`);
      if (h.journal !== name) return this.failAt(seq, 'wrong_journal', `event ${seq} claims journal ${h.journal}`);
      // A header stored at another position (events dropped and renumbered, or reordered) is a gap in the sequence.
      if (h.seq !== seq) return this.failAt(seq, 'seq_gap', `the event stored at ${seq} claims seq ${h.seq}`);
      if (this.assumed && seq === this.assumed.from) {
        this.assumed.firstPrev = h.prev;
        this.assumed.firstTime = h.time;
      } else if (!bytesEqual(h.prev, this.prev)) {
        return this.failAt(seq, 'chain_broken', `event ${seq} does not chain to event ${seq - 1}`);
      }
      if (h.time < this.lastTime) return this.failAt(seq, 'time_regressed', `event ${seq} time goes back`);
      const { hash } = event;
      const leaf = hasher.leaf(hash);
      const ks = keyspaceOf(h.op);
      const mapKey = ks + h.key;
      const known = this.lastOfKey.get(mapKey);
      if (known === undefined && this.assumed) {
        // The key's first event in a later segment: what it names is for the scan of the events before to confirm.
        this.keyPrevs!.add(mapKey, h.keyPrev);
      } else if (!(h.keyPrev === null ? known === undefined : known !== undefined && bytesEqual(h.keyPrev, known))) {
        return this.failAt(seq, 'key_chain_broken', `event ${seq} keyPrev does not name the previous event of its key`);
      }
      // The tree leaf and the key index entry were both written from the event hash at append time. When the
      // leaf is there but disagrees, and the index entry disagrees (or is not where the header's key puts it),
      // the header bytes are what changed since; one derived record disagreeing alone is that record's fault.
      // getBinaryFast does not copy; its bytes are good only until the next read, so they are compared at once.
      const indexed = storage.keyIndex.getBinaryFast([tid, ks, h.key, seq]);
      const indexOk = indexed !== undefined && bytesEqual(indexed, hash);
      const storedLeaf = this.nodes.get(0, seq);
      if (storedLeaf && !bytesEqual(storedLeaf, leaf) && !indexOk) {
        return this.failAt(seq, 'hash_mismatch', `event ${seq} no longer hashes to what the tree and the key index committed to`);
      }
      if (!indexOk) return this.failAt(seq, 'index_mismatch', `key index entry of event ${seq} is missing or wrong`);

      const p = this.nextPayload;
      if (!p.done && (p.value.key as [number, number])[1] < seq) {
        return this.failAt((p.value.key as [number, number])[1], 'payload_mismatch', 'a payload is stored for a seq with no event');
      }
      if (!p.done && (p.value.key as [number, number])[1] === seq) {
        const { commitment } = p.value.value;
        if (h.payload === null || commitment === null || !bytesEqual(commitment, h.payload)) {
          return this.failAt(seq, 'payload_mismatch', `payload of event ${seq} does not match its commitment`);
        }
        // Erase events are rare: their payload is read again rather than copied out of every payload.
        if (h.op === 'erase') this.accountErased(mapKey, seq, storage.payloads.get([tid, seq])!.subarray(SALT_LENGTH));
        this.nextPayload = this.payloads.next();
      } else if (h.payload !== null) {
        // Absent: fine only if a later erase event of this key names this seq.
        this.missingPayloads.set(seq, mapKey);
      }

      for (const node of this.tree.push(leaf)) {
        const stored = node.level === 0 ? storedLeaf : this.nodes.get(node.level, node.index);
        if (!stored || !bytesEqual(stored, node.hash)) return this.failAt(seq, 'node_mismatch', `stored tree node ${node.level}/${node.index} differs`);
      }
      this.lastOfKey.set(mapKey, hash);
      this.prev = hash;
      this.lastTime = h.time;
      this.checked++;
      const cpFail = this.checkCheckpointsUpTo(this.checked);
      if (cpFail) return cpFail;
      if (this.opts.onProgress && this.checked % every === 0) this.opts.onProgress(this.checked);
    }
    return undefined;
  }

  /**
   * The checks after the last event: the head, what lies beyond the last
   * event, the latest checkpoint, missing payloads and the record counts.
   * Call once {@link run} has returned undefined without being stopped.
   */
  finish(): JournalVerdict {
    if (this.assumed && this.keyPrevs) this.assumed.keyPrevs = this.keyPrevs.bytes();
    const { storage, tid } = this.target;
    const { checked, prev } = this;
    // The head first: when the last events were cut off, a head that still counts them says so most directly,
    // before the payloads and checkpoints they leave behind.
    const head = storage.heads.get(tid);
    const headOk = head
      ? head.size === checked && head.head instanceof Uint8Array && bytesEqual(head.head, prev) && head.time === this.lastTime
      : checked === 0;
    if (!headOk) return this.failAt(checked, 'head_mismatch', `the stored head does not match the last event (${checked} events)`);
    const p = this.nextPayload;
    if (!p.done) return this.failAt((p.value.key as [number, number])[1], 'payload_mismatch', 'a payload is stored past the last event');
    if (!this.nextCp.done) return this.failAt(this.nextCp.value.size, 'checkpoint_malformed', `checkpoint of size ${this.nextCp.value.size} is beyond the last event`);
    // Every batch signs a checkpoint at its new size, so the latest one is at the head. Without this, events
    // appended (correctly chained, indexed and hashed into the tree) by anyone without the key would pass.
    if (checked > 0 && this.lastCpSize !== checked) {
      return this.failAt(this.lastCpSize, 'checkpoint_missing', `events ${this.lastCpSize}..${checked - 1} are under no signed checkpoint`);
    }
    if (this.missingPayloads.size > 0) {
      const seq = this.missingPayloads.keys().next().value!; // insertion order is seq order
      return this.failAt(seq, 'payload_missing', `the payload of event ${seq} is missing and no erase event accounts for it`);
    }
    // Every expected record was found above; a larger count means records no event accounts for.
    const held = storage.nodes.getCount({ start: [tid], end: [tid + 1] });
    if (held !== nodeCount(checked)) return this.failAt(checked, 'node_mismatch', `the tree holds ${held - nodeCount(checked)} nodes beyond the events`);
    const indexed = storage.keyIndex.getCount({ start: [tid], end: [tid + 1] });
    if (indexed !== checked) return this.failAt(checked, 'index_mismatch', `the key index holds ${indexed - checked} entries no event accounts for`);
    this.opts.onProgress?.(checked);
    return { ok: true, checked, checkpoints: this.checkpoints };
  }

  /**
   * Whether this scan, stopped after `assumed.from` events with no
   * failure, ends exactly where a scan that started there assumed it
   * would, with every payload it found missing accounted for by that
   * scan's erase events, and with nothing stored between the last records
   * it read and the first the other scan read. It reads one event record
   * ahead, which {@link run} then takes first: on false the caller goes on
   * with {@link run} as if it had never asked.
   */
  confirms(assumed: SegmentAssumptions): boolean {
    if (this.checked !== assumed.from || !bytesEqual(this.prev, assumed.firstPrev) || assumed.firstTime < this.lastTime) return false;
    // The other scan's event and payload ranges start just past the canonical key [tid, from − 1]. This scan read event
    // from − 1 under the key it found, which may be another encoding of the same numbers sorting before the canonical
    // one (ordered-binary also reads shorter forms of a number). Nothing lies between the two only if what this scan
    // would read next is keyed at or past `from`: such a key sorts after the canonical [tid, from − 1].
    this.pendingEvent ??= this.events.next();
    if (!this.pendingEvent.done && !atOrPast(this.pendingEvent.value.key, assumed.from)) return false;
    if (!this.nextPayload.done && !atOrPast(this.nextPayload.value.key, assumed.from)) return false;
    const edge = this.tree.frontier();
    if (edge.length !== assumed.frontier.length || !edge.every((h, i) => bytesEqual(h, assumed.frontier[i]!))) return false;
    const erased = new Set(assumed.erasedBefore.map(([seq, key]) => `${seq} ${key}`));
    for (const [seq, key] of this.missingPayloads) if (!erased.has(`${seq} ${key}`)) return false;
    for (const [key, hash] of KeyPrevList.entries(assumed.keyPrevs)) {
      const last = this.lastOfKey.get(key);
      if (hash === null ? last !== undefined : last === undefined || !bytesEqual(last, hash)) return false;
    }
    return true;
  }

  private failAt(seq: number, code: JournalFailureCode, message: string): JournalVerdict {
    return { ok: false, checked: this.checked, seq, code, message };
  }

  private checkCheckpointsUpTo(size: number): JournalVerdict | undefined {
    const { keys, origin } = this.target;
    while (!this.nextCp.done && this.nextCp.value.size <= size) {
      const cp = this.nextCp.value;
      if (cp.size !== size) return this.failAt(cp.size, 'checkpoint_malformed', `checkpoint of size ${cp.size} was skipped by the event sequence`);
      // The signature is only queued here (true unless a failure is already known); the caller reports its verdict.
      const note = verifyNote(cp.note, keys, (publicKey, message, signature) => this.signatures.add({ publicKey, message, signature, tag: cp.size }));
      if (!note.ok) {
        // A note that does not even parse is malformed; one that parses but is not signed by our key is a signature failure.
        return this.failAt(cp.size, note.code === 'malformed' ? 'checkpoint_malformed' : 'checkpoint_signature', `checkpoint ${cp.size}: ${note.message}`);
      }
      let body;
      try {
        body = parseCheckpoint(note.text);
      } catch (err) {
        return this.failAt(cp.size, 'checkpoint_malformed', `checkpoint ${cp.size}: ${(err as Error).message}`);
      }
      // A genuine note of another tenant (same node key) verifies: only its origin tells it apart.
      if (body.origin !== origin) return this.failAt(cp.size, 'origin_mismatch', `checkpoint ${cp.size} is of ${body.origin}, not ${origin}`);
      if (body.size !== cp.size) return this.failAt(cp.size, 'checkpoint_malformed', `checkpoint stored at size ${cp.size} is of size ${body.size}`);
      if (!bytesEqual(body.root, this.tree.root())) return this.failAt(cp.size, 'root_mismatch', `checkpoint ${cp.size} root differs from the recomputed tree`);
      this.checkpoints++;
      this.lastCpSize = cp.size;
      this.nextCp = this.cps.next();
    }
    return undefined;
  }

  /**
   * Marks the payloads an erase event of `eraseKey` names as accounted for.
   * Its payload already matched its commitment; if it still does not decode
   * to a list, nothing is accounted for and the missing payloads are reported.
   */
  private accountErased(eraseKey: string, eraseSeq: number, payload: Uint8Array): void {
    let erased: unknown;
    try {
      erased = (decodeCanonical(payload) as { erased?: unknown } | null)?.erased;
    } catch {
      return;
    }
    if (!Array.isArray(erased)) return;
    // Only earlier events of the erased key: an erase cannot excuse another key's missing payload.
    for (const s of erased) {
      if (typeof s !== 'number' || s >= eraseSeq) continue;
      if (this.assumed && s < this.assumed.from) this.assumed.erasedBefore.push([s, eraseKey]);
      else if (this.missingPayloads.get(s) === eraseKey) this.missingPayloads.delete(s);
    }
  }
}

/**
 * (keyspace + key, keyPrev) pairs packed into one growing buffer: per
 * entry the key's UTF-8 length (u32 LE) and bytes, then 0 for a null
 * keyPrev or 1, its length (u32 LE; 32 in any header that decodes) and
 * its bytes.
 */
export class KeyPrevList {
  private buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  private length = 0;
  private static readonly text = new TextEncoder();

  add(key: string, keyPrev: Uint8Array | null): void {
    const need = 4 + 3 * key.length + 5 + (keyPrev?.length ?? 0);
    if (this.length + need > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, this.length + need));
      grown.set(this.buf.subarray(0, this.length));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    const { written } = KeyPrevList.text.encodeInto(key, this.buf.subarray(this.length + 4));
    this.view.setUint32(this.length, written, true);
    let at = this.length + 4 + written;
    if (keyPrev === null) {
      this.buf[at++] = 0;
    } else {
      this.buf[at++] = 1;
      this.view.setUint32(at, keyPrev.length, true);
      this.buf.set(keyPrev, at + 4);
      at += 4 + keyPrev.length;
    }
    this.length = at;
  }

  /** The entries so far, in a buffer of their own (transferable). */
  bytes(): Uint8Array {
    return this.buf.slice(0, this.length);
  }

  /** The entries of a packed buffer, in the order added. */
  static *entries(bytes: Uint8Array): Generator<[string, Uint8Array | null]> {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const text = new TextDecoder();
    for (let at = 0; at < bytes.length; ) {
      const len = view.getUint32(at, true);
      const key = text.decode(bytes.subarray(at + 4, at + 4 + len));
      at += 4 + len;
      if (bytes[at++] === 0) {
        yield [key, null];
      } else {
        const n = view.getUint32(at, true);
        yield [key, bytes.subarray(at + 4, at + 4 + n)];
        at += 4 + n;
      }
    }
  }
}

/** Whether an LMDB key read from a tenant's [tid, seq] range holds a seq of `from` or more. */
function atOrPast(key: unknown, from: number): boolean {
  const seq = (key as unknown[])[1];
  return typeof seq === 'number' && seq >= from;
}

/** Stored checkpoints of a tenant from size `from` on (past it when `exclusiveStart`), in order. */
function checkpointRange(storage: Storage, tid: number, from: number, exclusiveStart: boolean): Iterable<{ size: number; note: string }> {
  return storage.checkpoints.getRange({ start: [tid, from], end: [tid, MAX_SEQ + 1], exclusiveStart }).map(({ key, value }) => ({ size: (key as [number, number])[1], note: value }));
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
    private readonly storage: Storage,
    private readonly tid: number,
  ) {}

  /** The stored node (level, index), or undefined when there is none. */
  get(level: number, index: number): Uint8Array | undefined {
    let c = this.levels[level];
    if (!c) {
      const range = this.storage.nodes.getRange({ start: [this.tid, level, index], end: [this.tid, level, MAX_SEQ] });
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
