/**
 * The journal: every tenant's append-only, BLAKE3-chained log of events in
 * one LMDB environment, with its Merkle tree, signed checkpoints and proofs.
 *
 * Appends go through group commit. Inside the batch transaction each
 * request's `build` callback sees the state the previous requests left, and
 * returns drafts; the journal chains them (seq, time, prev, keyPrev), stores
 * header, payload, tree nodes and key index, lets the projector (the store
 * layer) apply each event in the same transaction, then signs one
 * checkpoint per touched tenant. Nothing is acknowledged before the batch is
 * on disk.
 *
 * State that matters (sequence, head hash, tree) is read from LMDB inside
 * each batch rather than cached, so a crash or a failed commit can never
 * leave a stale in-memory head behind.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { formatCheckpoint } from '../core/checkpoint.js';
import { isWellFormed, utf8 } from '../core/bytes.js';
import { TallyError } from '../core/errors.js';
import { assertKey, assertNewKey, assertVisibility, decodeStoredHeader, encodeHeader, FORMAT_VERSION, isValidTenantName, keyspaceOf, MAX_ACTOR_BYTES, ZERO_HASH, type EventHeader, type Op } from '../core/event.js';
import { SALT_LENGTH } from '../core/hash.js';
import { consistencyProof, inclusionProof, rangeHash, treeRoot, type PerfectNode } from '../core/merkle.js';
import { signNote, type VerifierKey } from '../core/note.js';
import { RECEIPT_FORMAT, type Receipt } from '../core/receipt.js';
import { fastHashing } from './fast-hashing.js';
import { GroupCommit } from './group-commit.js';
import { SigningKeys } from './signing-keys.js';
import { isLowOnSpace, openStorage, type HeadRecord, type Storage, type StorageOptions, type TenantRecord } from './storage.js';

/** What a writer asks the journal to append. */
export interface EventDraft {
  readonly op: Op;
  readonly key: string;
  /** Canonical CBOR of the data, or null for an event without payload. */
  readonly payload: Uint8Array | null;
  readonly v: number;
  /** Valid time (Unix ms); defaults to the transaction time. */
  readonly validFrom?: number;
}

/** An event as appended: header, hash and (unless erased) payload and salt. */
export interface JournalEvent {
  readonly header: EventHeader;
  readonly hash: Uint8Array;
  readonly payload: Uint8Array | null;
  readonly salt: Uint8Array | null;
}

/** What a `build` callback sees of the journal inside the transaction. */
export interface BuildContext {
  readonly tenant: TenantRecord;
  /** Seq the first draft will get. */
  readonly size: number;
  /** Transaction time the drafts will get. */
  readonly time: number;
}

/** The store layer's hook: applies one event to the projection, inside the append transaction. */
export interface Projector {
  apply(tenant: TenantRecord, event: JournalEvent): void;
}

/** Options of {@link Journal.open}. */
export interface JournalOptions extends StorageOptions {
  /** Node name for a new data directory. */
  name?: string;
  /** Largest payload in bytes (default 1 MiB). */
  maxPayloadBytes?: number;
  /** Clock, for tests of time handling. */
  now?: () => number;
}

/** Result of one append request: its events, each with its receipt. */
export interface AppendResult<T> {
  readonly events: readonly JournalEvent[];
  readonly receipts: readonly Receipt[];
  /** Whatever the build callback returned beside the drafts. */
  readonly extra: T;
}

/** Tree lookups of one tree (tenant, size), shared by the proofs into it; see Journal.proofMemo. */
interface ProofMemo {
  perfect: PerfectNode;
  ranges: Map<string, Uint8Array>;
}

interface BatchValue<T> {
  tid: number;
  events: JournalEvent[];
  extra: T;
  /** Set by `finish`: the checkpoint the events are proven against. */
  checkpoint?: { size: number; note: string };
}

const { tree, eventHash, payloadCommitment } = fastHashing;

/** Hands out 16-byte salts from a large random block: one CSPRNG call per 4,096 salts. */
class SaltPool {
  private block = new Uint8Array(0);
  private offset = 0;
  next(): Uint8Array {
    if (this.offset + SALT_LENGTH > this.block.length) {
      this.block = new Uint8Array(randomBytes(SALT_LENGTH * 4096));
      this.offset = 0;
    }
    const salt = this.block.slice(this.offset, this.offset + SALT_LENGTH);
    this.offset += SALT_LENGTH;
    return salt;
  }
}

/** Default payload limit: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
const MAX_SEQ = Number.MAX_SAFE_INTEGER;

/** The journal of one data directory. */
export class Journal {
  readonly storage: Storage;
  readonly keys: SigningKeys;
  readonly maxPayloadBytes: number;
  private readonly now: () => number;
  private readonly salts = new SaltPool();
  private readonly commit: GroupCommit<BatchValue<unknown>, AppendResult<unknown>>;
  private projector: Projector | undefined;
  /** Per-batch tenant heads: reset when each batch begins, meaningful only while its transaction runs. */
  private batchHeads = new Map<number, HeadRecord & { tenant: TenantRecord }>();
  /**
   * Hash of each key's latest event written in the running batch, by tenant,
   * keyspace and key: the next event of the key links to it without a range
   * read of the key index. Like the heads, it is reset when each batch
   * begins, so it never outlives the transaction that wrote it.
   */
  private batchKeyHeads = new Map<string, Uint8Array>();

  private constructor(readonly dir: string, opts: JournalOptions) {
    this.storage = openStorage(dir, opts);
    this.keys = SigningKeys.open(dir, opts.name);
    this.maxPayloadBytes = opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD;
    this.now = opts.now ?? Date.now;
    this.commit = new GroupCommit(this.storage.root, {
      begin: () => {
        this.batchHeads = new Map();
        this.batchKeyHeads = new Map();
        this.memos = new Map();
      },
      finish: (results) => this.finishBatch(results),
      acknowledge: (value) => this.acknowledge(value),
    }, () => isLowOnSpace(dir));
  }

  /** Opens the journal of `dir`, creating the directory, environment and signing key on first use. */
  static open(dir: string, opts: JournalOptions = {}): Journal {
    // Absolute, so that what is handed to a worker thread (verify) names the same directory after a chdir.
    return new Journal(resolve(dir), opts);
  }

  /** The node name (signing key name, first part of every origin). */
  get name(): string {
    return this.keys.name;
  }

  /** Registers the projector the store layer applies events with. */
  setProjector(p: Projector): void {
    this.projector = p;
  }

  /** Checkpoint origin of a tenant: `<node name>/<tenant>`. */
  origin(tenant: string): string {
    return `${this.keys.name}/${tenant}`;
  }

  /** The active verifier key. */
  verifierKey(): VerifierKey {
    return this.keys.activeVerifierKey();
  }

  /** Every verifier key this node ever signed with, oldest first. */
  verifierKeys(): VerifierKey[] {
    return this.keys.verifierKeys();
  }

  // ---- tenants -------------------------------------------------------------

  /** The registry record of a tenant, if it exists. */
  tenant(name: string): TenantRecord | undefined {
    return this.storage.tenants.get(name);
  }

  /** Every tenant, in name order. */
  tenantNames(): string[] {
    return [...this.storage.tenants.getKeys({})] as string[];
  }

  /**
   * Creates a tenant (durably).
   * @throws TallyError `bad_request` for an invalid name, `conflict` if it exists.
   */
  async createTenant(name: string, plan: string): Promise<TenantRecord> {
    if (!isValidTenantName(name)) throw new TallyError('bad_request', `"tenant" must match [a-z0-9][a-z0-9._-]{0,62}, got ${JSON.stringify(name)}`);
    const ack = await this.commit.submit({
      run: () => {
        if (this.storage.tenants.get(name)) throw new TallyError('conflict', `tenant "${name}" already exists`);
        return { tid: -1, events: [], extra: this.insertTenant(this.newTenantRecord(name, plan)) };
      },
    });
    return ack.extra as TenantRecord;
  }

  /** Changes a tenant's plan (durably). @throws TallyError `not_found`. */
  async setPlan(name: string, plan: string): Promise<TenantRecord> {
    const ack = await this.commit.submit({
      run: () => {
        const rec = this.storage.tenants.get(name);
        if (!rec) throw new TallyError('not_found', `tenant "${name}" does not exist`);
        const next = { ...rec, plan };
        this.storage.tenants.putSync(name, next);
        return { tid: -1, events: [], extra: next };
      },
    });
    return ack.extra as TenantRecord;
  }

  /**
   * Runs `fn` alone inside a write transaction of the group-commit queue
   * (after the writes queued before it), durably. For maintenance such as
   * a projection rebuild; `fn` must be synchronous.
   */
  async exclusive<T>(fn: () => T): Promise<T> {
    const ack = await this.commit.submit({
      run: () => {
        try {
          return { tid: -1, events: [], extra: fn() };
        } catch (err) {
          if (err instanceof TallyError) throw err;
          throw new Error('exclusive work failed', { cause: err });
        }
      },
    });
    return ack.extra as T;
  }

  private newTenantRecord(name: string, plan: string): TenantRecord {
    const last = this.storage.root.get('last-tenant-id') as number | undefined;
    return { id: (last ?? 0) + 1, name, created: this.now(), plan };
  }

  private insertTenant(rec: TenantRecord): TenantRecord {
    this.storage.root.putSync('last-tenant-id', rec.id);
    this.storage.tenants.putSync(rec.name, rec);
    return rec;
  }

  // ---- appending -----------------------------------------------------------

  /**
   * Appends the events `build` returns, atomically, in one group-committed
   * transaction, and resolves with a receipt per event once durable.
   * `build` runs synchronously inside the transaction and may throw a
   * TallyError to reject the request without writing anything; its `after`
   * hook runs once the events are written, in the same transaction.
   * @param create plan to create the tenant with if it does not exist; without it a missing tenant is `not_found`.
   */
  append<T>(
    tenant: string,
    actor: string,
    build: (ctx: BuildContext) => { drafts: EventDraft[]; extra: T; after?: (events: readonly JournalEvent[]) => void },
    create?: string,
  ): Promise<AppendResult<T>> {
    return this.commit.submit({
      run: () => {
        // Validate everything first: a request that throws must have written nothing.
        // justifies: INV-REJECT-WRITES-NOTHING
        assertActor(actor);
        let rec = this.storage.tenants.get(tenant);
        const isNew = !rec;
        if (!rec) {
          if (create === undefined) throw new TallyError('not_found', `tenant "${tenant}" does not exist`);
          if (!isValidTenantName(tenant)) throw new TallyError('bad_request', `invalid tenant name ${JSON.stringify(tenant)}`);
          rec = this.newTenantRecord(tenant, create);
        }
        // A new tenant's head joins the batch only once the tenant is inserted: a rejected request leaves
        // no head under the id it would have had, which the next new tenant of the batch then gets.
        const head = isNew ? { size: 0, head: ZERO_HASH, time: 0, tenant: rec } : this.batchHead(rec);
        const time = Math.max(this.now(), head.time);
        const { drafts, extra, after } = build({ tenant: rec, size: head.size, time });
        for (const d of drafts) this.checkDraft(d);
        // From here on a failure is a bug or a storage fault: abort the whole batch, never half a request.
        try {
          if (isNew) {
            this.insertTenant(rec);
            this.batchHeads.set(rec.id, head);
          }
          const events = drafts.map((d) => this.write(rec, head, time, actor, d));
          after?.(events);
          return { tid: rec.id, events, extra };
        } catch (err) {
          throw new Error('append failed after validation', { cause: err });
        }
      },
    }) as Promise<AppendResult<T>>;
  }

  private checkDraft(d: EventDraft): void {
    if (d.op === 'set' || d.op === 'log') assertNewKey(d.key, d.op === 'log' ? 'kind' : 'key');
    else assertKey(d.key);
    assertVisibility(d.v);
    if (d.payload && d.payload.length > this.maxPayloadBytes) {
      throw new TallyError('payload_too_large', `payload expected <= ${this.maxPayloadBytes} bytes, got ${d.payload.length}`);
    }
    if (d.validFrom !== undefined && !(Number.isSafeInteger(d.validFrom) && d.validFrom >= 0)) {
      throw new TallyError('bad_request', `"validFrom" must be a non-negative integer (Unix ms), got ${String(d.validFrom)}`);
    }
  }

  private batchHead(rec: TenantRecord): HeadRecord & { tenant: TenantRecord } {
    let head = this.batchHeads.get(rec.id);
    if (!head) {
      const stored = this.storage.heads.get(rec.id);
      head = stored
        ? { size: stored.size, head: new Uint8Array(stored.head), time: stored.time, tenant: rec }
        : { size: 0, head: ZERO_HASH, time: 0, tenant: rec };
      this.batchHeads.set(rec.id, head);
    }
    return head;
  }

  /** Writes one event and everything derived from it, inside the transaction. */
  private write(tenant: TenantRecord, head: HeadRecord, time: number, actor: string, d: EventDraft): JournalEvent {
    const { storage } = this;
    const tid = tenant.id;
    const seq = head.size;
    const ks = keyspaceOf(d.op);
    const keyHead = `${tid}\u0000${ks}\u0000${d.key}`;
    const keyPrev = this.batchKeyHeads.get(keyHead) ?? this.lastOfKey(tid, ks, d.key);
    const salt = d.payload ? this.salts.next() : null;
    const header: EventHeader = {
      fmt: FORMAT_VERSION,
      journal: tenant.name,
      seq,
      time,
      op: d.op,
      key: d.key,
      prev: head.head,
      keyPrev,
      payload: d.payload && salt ? payloadCommitment(salt, d.payload) : null,
      v: d.v,
      validFrom: d.validFrom ?? time,
      actor,
    };
    const headerBytes = encodeHeader(header);
    const hash = eventHash(headerBytes);
    storage.events.putSync([tid, seq], headerBytes);
    if (d.payload && salt) {
      const stored = new Uint8Array(SALT_LENGTH + d.payload.length);
      stored.set(salt, 0);
      stored.set(d.payload, SALT_LENGTH);
      storage.payloads.putSync([tid, seq], stored);
    }
    if (d.op === 'erase') this.erasePayloads(tid, d.key, seq);
    storage.keyIndex.putSync([tid, ks, d.key, seq], hash);
    this.batchKeyHeads.set(keyHead, hash);
    this.appendLeaf(tid, seq, tree.leaf(hash));
    head.size = seq + 1;
    head.head = hash;
    head.time = time;
    const event: JournalEvent = { header, hash, payload: d.payload, salt };
    this.projector?.apply(tenant, event);
    return event;
  }

  /** Hash of the latest stored event of a key (keyspace), or null; one range seek. */
  private lastOfKey(tid: number, ks: string, key: string): Uint8Array | null {
    const last = first(this.storage.keyIndex.getRange({ start: [tid, ks, key, MAX_SEQ], end: [tid, ks, key, -1], reverse: true, limit: 1 }));
    return last ? new Uint8Array(last.value) : null;
  }

  /**
   * Destroys payload and salt of every earlier `set` of a block key. Earlier
   * erase events keep theirs: they are the audit record of what was erased.
   */
  private erasePayloads(tid: number, key: string, beforeSeq: number): void {
    for (const k of this.storage.keyIndex.getKeys({ start: [tid, 'b', key, 0], end: [tid, 'b', key, beforeSeq] })) {
      const seq = (k as [number, string, string, number])[3];
      if (this.header(tid, seq).op === 'set') this.storage.payloads.removeSync([tid, seq]);
    }
  }

  /** Stores leaf `index` and every complete subtree it closes. */
  private appendLeaf(tid: number, index: number, leafHash: Uint8Array): void {
    const nodes = this.storage.nodes;
    let level = 0;
    let i = index;
    let h = leafHash;
    nodes.putSync([tid, 0, i], h);
    while (i % 2 === 1) {
      const left = nodes.get([tid, level, i - 1]);
      if (!left) throw new TallyError('internal_error', `tree node ${level}/${i - 1} missing`);
      h = tree.node(left, h);
      level++;
      i = (i - 1) / 2;
      nodes.putSync([tid, level, i], h);
    }
  }

  /** In the transaction, after every request: persist heads and sign one checkpoint per touched tenant. */
  private finishBatch(results: readonly ({ ok: true; value: BatchValue<unknown> } | { ok: false; error: unknown })[]): void {
    const signed = new Map<number, { size: number; note: string }>();
    for (const [tid, head] of this.batchHeads) {
      const stored = this.storage.heads.get(tid);
      if ((stored?.size ?? 0) === head.size) continue; // nothing was appended (rejected or replayed requests)
      this.storage.heads.putSync(tid, { size: head.size, head: head.head, time: head.time });
      // Through the memo the batch's receipts use: their proofs read the same nodes and ranges.
      const memo = this.proofMemo(tid, head.size);
      const root = rangeHash(tree, memo.perfect, 0, head.size, memo.ranges);
      const note = signNote(formatCheckpoint({ origin: this.origin(head.tenant.name), size: head.size, root, extensions: [] }), this.keys.signer);
      this.storage.checkpoints.putSync([tid, head.size], note);
      signed.set(tid, { size: head.size, note });
    }
    for (const r of results) {
      if (r.ok && r.value.events.length > 0) r.value.checkpoint = signed.get(r.value.tid)!;
    }
  }

  private acknowledge(value: BatchValue<unknown>): AppendResult<unknown> {
    if (value.events.length === 0) return { events: [], receipts: [], extra: value.extra };
    const cp = value.checkpoint!;
    // One memo per tenant checkpoint: the receipts of a batch share most proof nodes.
    const memo = this.proofMemo(value.tid, cp.size);
    const receipts = value.events.map((e) => this.receiptFor(value.tid, e, cp.size, cp.note, memo));
    return { events: value.events, receipts, extra: value.extra };
  }

  // ---- reads ---------------------------------------------------------------

  /** The {@link PerfectNode} lookup of a tenant's stored tree. */
  perfect(tid: number): PerfectNode {
    return (level, index) => {
      const h = this.storage.nodes.get([tid, level, index]);
      if (!h) throw new TallyError('internal_error', `tree node ${level}/${index} of tenant ${tid} is missing`);
      return new Uint8Array(h); // a plain copy: lmdb-js hands out Buffers
    };
  }

  /** Number of events of a tenant (committed). */
  size(tid: number): number {
    return this.storage.heads.get(tid)?.size ?? 0;
  }

  /** Header of event `seq`. @throws TallyError `not_found`. */
  header(tid: number, seq: number): EventHeader {
    const header = this.storage.headers.get([tid, seq]);
    if (!header) throw new TallyError('not_found', `event ${seq} does not exist`);
    return header;
  }

  /** Event `seq` with its payload and salt (null once erased). @throws TallyError `not_found`. */
  event(tid: number, seq: number): JournalEvent {
    const bytes = this.storage.events.get([tid, seq]);
    if (!bytes) throw new TallyError('not_found', `event ${seq} does not exist`);
    const stored = this.storage.payloads.get([tid, seq]);
    return {
      header: decodeStoredHeader(bytes),
      hash: eventHash(bytes),
      salt: stored ? stored.subarray(0, SALT_LENGTH) : null,
      payload: stored ? stored.subarray(SALT_LENGTH) : null,
    };
  }

  /** Payload of event `seq` (without its salt), or null when it has none or it was erased; one read, no hashing. */
  payload(tid: number, seq: number): Uint8Array | null {
    const stored = this.storage.payloads.get([tid, seq]);
    return stored ? stored.subarray(SALT_LENGTH) : null;
  }

  /**
   * Decodes the payload of event `seq` (without its salt) straight from
   * LMDB's read buffer, with no copy; `decode` must copy whatever it keeps.
   * Null when the event has no payload or it was erased.
   */
  decodePayload<T>(tid: number, seq: number, decode: (bytes: Uint8Array) => T): T | null {
    const stored = this.storage.payloads.getBinaryFast([tid, seq]);
    // The reusable buffer carries the value's size as its `length`, not as its view's extent: an explicit end.
    return stored ? decode(stored.subarray(SALT_LENGTH, stored.length)) : null;
  }

  /**
   * Headers and payloads of events `from` ≤ seq < `to`, without hashing: what
   * a replay folds. With `withPayloads` false every payload is null (a
   * reader that needs few of them reads those alone).
   */
  *replayEvents(tid: number, from = 0, to = MAX_SEQ, withPayloads = true): Generator<{ header: EventHeader; payload: Uint8Array | null }> {
    const payloads = withPayloads ? this.storage.payloads.getRange({ start: [tid, from], end: [tid, to] })[Symbol.iterator]() : [][Symbol.iterator]();
    let p = payloads.next();
    for (const { key, value: header } of this.storage.headers.getRange({ start: [tid, from], end: [tid, to] })) {
      const seq = (key as [number, number])[1];
      while (!p.done && (p.value.key as [number, number])[1] < seq) p = payloads.next();
      const payload = !p.done && (p.value.key as [number, number])[1] === seq ? p.value.value.subarray(SALT_LENGTH) : null;
      yield { header, payload };
    }
  }

  /** Events `from` ≤ seq < `to`, in order, streamed from LMDB. */
  *events(tid: number, from = 0, to = MAX_SEQ): Generator<JournalEvent> {
    for (const { key, value } of this.storage.events.getRange({ start: [tid, from], end: [tid, to] })) {
      const seq = (key as [number, number])[1];
      const stored = this.storage.payloads.get([tid, seq]);
      yield {
        header: decodeStoredHeader(value),
        hash: eventHash(value),
        salt: stored ? stored.subarray(0, SALT_LENGTH) : null,
        payload: stored ? stored.subarray(SALT_LENGTH) : null,
      };
    }
  }

  /** Seqs of the events of a block key (or a log kind, keyspace 'k'), oldest first. */
  *keySeqs(tid: number, key: string, keyspace: 'b' | 'k' = 'b', reverse = false): Generator<number> {
    const range = reverse
      ? { start: [tid, keyspace, key, MAX_SEQ] as [number, string, string, number], end: [tid, keyspace, key, -1] as [number, string, string, number], reverse: true }
      : { start: [tid, keyspace, key, 0] as [number, string, string, number], end: [tid, keyspace, key, MAX_SEQ] as [number, string, string, number] };
    for (const k of this.storage.keyIndex.getKeys(range)) yield (k as [number, string, string, number])[3];
  }

  /** The last seq whose time is ≤ `time`, or -1 (binary search: times never decrease; O(log n) reads). */
  lastSeqAtOrBefore(tid: number, time: number): number {
    let lo = 0;
    let hi = this.size(tid) - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.header(tid, mid).time <= time) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  /** The largest stored checkpoint with size ≤ `size`. */
  checkpointAtOrBefore(tid: number, size: number): { size: number; note: string } | undefined {
    const e = first(this.storage.checkpoints.getRange({ start: [tid, size], end: [tid, -1], reverse: true, limit: 1 }));
    return e ? { size: (e.key as [number, number])[1], note: e.value } : undefined;
  }

  /** The smallest stored checkpoint with size ≥ `size`. */
  checkpointAtOrAfter(tid: number, size: number): { size: number; note: string } | undefined {
    const e = first(this.storage.checkpoints.getRange({ start: [tid, size], end: [tid, MAX_SEQ], limit: 1 }));
    return e ? { size: (e.key as [number, number])[1], note: e.value } : undefined;
  }

  /** Seq of the event of the same key (keyspace) just before `seq`, or -1; one range seek. */
  previousOfKey(tid: number, keyspace: 'b' | 'k', key: string, seq: number): number {
    for (const k of this.storage.keyIndex.getKeys({ start: [tid, keyspace, key, seq - 1], end: [tid, keyspace, key, -1], reverse: true, limit: 1 })) {
      return (k as [number, string, string, number])[3];
    }
    return -1;
  }

  /** Stored checkpoint note at exactly `size`, if one was signed. */
  checkpointAt(tid: number, size: number): string | undefined {
    return this.storage.checkpoints.get([tid, size]);
  }

  /** The latest stored checkpoint, or undefined for a tenant with no events. */
  latestCheckpoint(tid: number): { size: number; note: string } | undefined {
    const e = first(this.storage.checkpoints.getRange({ start: [tid, MAX_SEQ], end: [tid, -1], reverse: true, limit: 1 }));
    return e ? { size: (e.key as [number, number])[1], note: e.value } : undefined;
  }

  /** The smallest stored checkpoint whose tree contains `seq`. */
  checkpointCovering(tid: number, seq: number): { size: number; note: string } | undefined {
    const e = first(this.storage.checkpoints.getRange({ start: [tid, seq + 1], end: [tid, MAX_SEQ], limit: 1 }));
    return e ? { size: (e.key as [number, number])[1], note: e.value } : undefined;
  }

  /** Stored checkpoints with from ≤ size ≤ to, in order. */
  *checkpoints(tid: number, from = 0, to = MAX_SEQ): Generator<{ size: number; note: string }> {
    for (const { key, value } of this.storage.checkpoints.getRange({ start: [tid, from], end: [tid, to + 1] })) {
      yield { size: (key as [number, number])[1], note: value };
    }
  }

  /** Root of the tenant's tree at `size`; O(log n) reads. */
  root(tid: number, size: number): Uint8Array {
    return treeRoot(tree, this.perfect(tid), size);
  }

  /** Inclusion proof of `seq` in the tree of `size` leaves; O(log n) reads. @throws TallyError `bad_request` when out of range. */
  inclusionProof(tid: number, seq: number, size: number): Uint8Array[] {
    if (!(Number.isSafeInteger(seq) && Number.isSafeInteger(size) && seq >= 0 && seq < size && size <= this.size(tid))) {
      throw new TallyError('bad_request', `no inclusion proof for seq ${seq} in a tree of size ${size}`);
    }
    return inclusionProof(tree, this.perfect(tid), seq, size);
  }

  /** Consistency proof between tree sizes; O(log n) reads. @throws TallyError `bad_request` when out of range. */
  consistencyProof(tid: number, from: number, to: number): Uint8Array[] {
    if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && from >= 1 && from <= to && to <= this.size(tid))) {
      throw new TallyError('bad_request', `no consistency proof from size ${from} to ${to}`);
    }
    return consistencyProof(tree, this.perfect(tid), from, to);
  }

  /** Receipt of an event against the checkpoint of `size` (default: the latest). */
  receipt(tid: number, seq: number, checkpoint?: { size: number; note: string }): Receipt {
    const cp = checkpoint ?? this.latestCheckpoint(tid);
    if (!cp || seq >= cp.size) throw new TallyError('not_found', `no checkpoint covers event ${seq}`);
    return this.receiptFor(tid, this.event(tid, seq), cp.size, cp.note);
  }

  /**
   * A memo of tree lookups for proofs into one tree (tenant, size): the
   * batch's checkpoint root and its receipts share most nodes and ranges.
   * Memos are dropped when the next batch begins, so one filled inside a
   * transaction that aborts is never used for the tree that replaces it.
   */
  private proofMemo(tid: number, size: number): ProofMemo {
    const key = `${tid}:${size}`;
    let memo = this.memos.get(key);
    if (!memo) {
      const nodes = new Map<string, Uint8Array>();
      const read = this.perfect(tid);
      const perfect: PerfectNode = (level, index) => {
        const k = `${level}:${index}`;
        let h = nodes.get(k);
        if (!h) nodes.set(k, (h = read(level, index)));
        return h;
      };
      this.memos.set(key, (memo = { perfect, ranges: new Map() }));
    }
    return memo;
  }

  private memos = new Map<string, ProofMemo>();

  private receiptFor(tid: number, e: JournalEvent, size: number, note: string, memo?: ProofMemo): Receipt {
    return {
      format: RECEIPT_FORMAT,
      header: e.header,
      hash: e.hash,
      payload: e.payload,
      salt: e.salt,
      proof: inclusionProof(tree, memo?.perfect ?? this.perfect(tid), e.header.seq, size, memo?.ranges),
      checkpoint: note,
    };
  }

  /** Waits for queued appends, then closes the environment. */
  async close(): Promise<void> {
    await this.commit.close();
    await this.storage.close();
  }
}

/** @throws TallyError `bad_request` unless `actor` is a string of at most 256 UTF-8 bytes without lone surrogates. */
function assertActor(actor: unknown): asserts actor is string {
  if (typeof actor !== 'string' || !isWellFormed(actor) || utf8(actor).length > MAX_ACTOR_BYTES) {
    throw new TallyError('bad_request', `"actor" must be a string of at most ${MAX_ACTOR_BYTES} UTF-8 bytes`);
  }
}

/** First item of an iterable, or undefined. */
function first<T>(items: Iterable<T>): T | undefined {
  for (const item of items) return item;
  return undefined;
}
