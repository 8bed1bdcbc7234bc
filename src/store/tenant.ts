/**
 * A tenant handle: the BatenBase block API of one tenant, as one actor.
 *
 * Every write is a journal event appended through group commit; reads come
 * from the projection (current state) or the version snapshots (as-of).
 * Visibility is enforced here, on every read path: a block above the
 * reader's clearance, or redacted for a non-admin, does not exist to them.
 */
import { decodeTrusted, encodeCanonical, encodeData, type JsonValue } from '../core/codec.js';
import { toBase64, utf8, fromBase64, fromUtf8, bytesEqual, isWellFormed } from '../core/bytes.js';
import { TallyError } from '../core/errors.js';
import { assertKey, assertNewKey, isStorableKey } from '../core/event.js';
import { receiptToJson, type Receipt, type ReceiptJson } from '../core/receipt.js';
import type { Journal, JournalEvent } from '../journal/journal.js';
import type { TenantRecord } from '../journal/storage.js';
import { verifyJournal, type JournalVerdict } from '../journal/verify-journal.js';
import { quotaOf } from './plans.js';
import { type BlockView, type KeyState, type Projection } from './projection.js';
import { parseAsOf, parseInstant, parseSince, type AsOf, type JournalPoint } from './time-point.js';
import { MAX_BATCH_OPS, planOps, prepareOp, type BatchOp, type IfVersion, type PreparedOp } from './write-plan.js';

/** Roles, weakest first. */
export type Role = 'read' | 'write' | 'admin';
const RANK: Record<Role, number> = { read: 0, write: 1, admin: 2 };

/** Who is acting through a handle. */
export interface Actor {
  /** Recorded in every event this handle writes. */
  actor: string;
  role: Role;
  /** Highest visibility level this actor may read. */
  clearance: number;
}

/** A block as readers see it. */
export type { Block } from '../core/block.js';
import type { Block } from '../core/block.js';

/** A write's acknowledgement. */
export interface WriteResult {
  ok: true;
  receipt: ReceiptJson;
}

/** A block write's acknowledgement. */
export interface SetResult extends WriteResult {
  key: string;
  version: number;
}

/** One entry of `events()`. */
export interface EventEntry {
  seq: number;
  time: number;
  /** Log kind, or `block.set` / `block.delete` / `block.redact` / `block.unredact` / `block.erase`. */
  kind: string;
  /** Block key, for block events. */
  key?: string;
  actor: string;
  /** Log details or block data; null once erased. */
  details: JsonValue | null;
}

/** One version of `history()`, newest first. */
export interface HistoryEntry {
  seq: number;
  op: string;
  time: number;
  validFrom: number;
  actor: string;
  v: number;
  /** The data written by a set; null for other ops or once erased. */
  data: JsonValue | null;
  erased: boolean;
  receipt: ReceiptJson;
}

/** The two axes of a read (docs/TIME.md). */
interface TimePoint {
  /** Last seq known, or undefined for everything known now. */
  asOf: number | undefined;
  /** Valid-time instant, or undefined for "valid now". */
  validAt: number | undefined;
  /** "Now" for a winner valid from `t`: the clock, or the journal head when the clock lags behind `t`. */
  now: (t: number) => number;
}

/** Options of write methods. */
export interface WriteOptions {
  /** A retry with the same key returns the original receipt and appends nothing. */
  idempotencyKey?: string;
}

/** A page of results. */
export interface Page<T> {
  next: string | null;
  items: T[];
}

/** Plan given to tenants created implicitly by an embedded write. */
export const EMBEDDED_PLAN = 'unlimited';
/** Default and largest page sizes. */
export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
const MAX_IDEMPOTENCY_KEY_BYTES = 256;

/** Tunables a handle inherits from its database. */
export interface HandleConfig {
  /** Plan for a tenant created by this handle's first write; undefined: the tenant must exist. */
  createPlan?: string;
  now: () => number;
}

function checkLimit(limit: unknown): number {
  if (limit === undefined) return DEFAULT_LIMIT;
  const n = typeof limit === 'string' && /^\d+$/.test(limit) ? Number(limit) : limit;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_LIMIT) {
    throw new TallyError('bad_request', `"limit" expected an integer in 1..${MAX_LIMIT}, got ${JSON.stringify(limit)}`);
  }
  return n;
}

function encodeCursor(parts: (string | number)[]): string {
  return toBase64(utf8(JSON.stringify(parts))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function decodeCursor(cursor: unknown): (string | number)[] {
  if (typeof cursor !== 'string' || cursor.length > 8192) throw new TallyError('bad_request', '"cursor" is not a cursor this server issued');
  try {
    let b64 = cursor.replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) b64 += '=';
    const parts = JSON.parse(fromUtf8(fromBase64(b64))) as unknown;
    if (!Array.isArray(parts) || !parts.every((p) => typeof p === 'string' || typeof p === 'number')) throw new Error('shape');
    return parts as (string | number)[];
  } catch {
    throw new TallyError('bad_request', '"cursor" is not a cursor this server issued');
  }
}

/** The API of one tenant as one actor. */
export class TenantHandle {
  constructor(
    private readonly journal: Journal,
    private readonly projection: Projection,
    /** Tenant name. */
    readonly name: string,
    /** Who is acting. */
    readonly who: Actor,
    private readonly config: HandleConfig,
  ) {}

  // ---- writes ---------------------------------------------------------------

  /**
   * Upserts a block: `f` is set on the first write and never changes, `l` on every write.
   * @param opts.v visibility level (default 1); `ifVersion` the version last read, or `'absent'` for create-only.
   * @throws TallyError `bad_request`, `payload_too_large`, `conflict`, `quota_exceeded`, `forbidden`.
   */
  async set(key: string, data: unknown, opts: { v?: number; ifVersion?: IfVersion; validFrom?: number | string | Date } & WriteOptions = {}): Promise<SetResult> {
    this.requireRole('write');
    const { idempotencyKey, ...rest } = opts;
    const op = prepareOp({ op: 'set', key, data, ...rest }, 'set');
    this.requireWritable(key);
    const [receipt] = await this.write([op], idempotencyKey, 'set');
    return { ok: true, key, version: receipt!.header.seq, receipt: receiptToJson(receipt!) };
  }

  /**
   * Deletes a block: appends a tombstone; the block leaves the projection, its history stays.
   * @throws TallyError `not_found`, `conflict`, `forbidden`.
   */
  async delete(key: string, opts: { ifVersion?: IfVersion; validFrom?: number | string | Date } & WriteOptions = {}): Promise<WriteResult> {
    this.requireRole('write');
    const { idempotencyKey, ...rest } = opts;
    const op = prepareOp({ op: 'delete', key, ...rest }, 'delete');
    await this.requireVisibleForWrite(key);
    const [receipt] = await this.write([op], idempotencyKey, 'delete');
    return { ok: true, receipt: receiptToJson(receipt!) };
  }

  /**
   * Appends an immutable audit event.
   * @param kind dot-separated event kind, e.g. `user.login`.
   * @throws TallyError `bad_request`, `payload_too_large`, `forbidden`.
   */
  async log(kind: string, details: unknown = {}, opts: WriteOptions = {}): Promise<WriteResult> {
    this.requireRole('write');
    assertNewKey(kind, 'kind');
    const op: PreparedOp = { op: 'log', key: kind, payload: encodeData(details, 'details') };
    const [receipt] = await this.write([op], opts.idempotencyKey, 'log');
    return { ok: true, receipt: receiptToJson(receipt!) };
  }

  /**
   * Appends every op in one transaction with contiguous seqs; any invalid op
   * rejects the whole batch and writes nothing.
   * @throws TallyError as the single-op methods, naming the failing op.
   */
  async batch(ops: readonly BatchOp[], opts: WriteOptions = {}): Promise<{ ok: true; results: (WriteResult & { key?: string; version?: number })[] }> {
    this.requireRole('write');
    if (!Array.isArray(ops) || ops.length === 0 || ops.length > MAX_BATCH_OPS) {
      throw new TallyError('bad_request', `"ops" must be an array of 1..${MAX_BATCH_OPS} ops`);
    }
    const prepared = ops.map((op, i) => prepareOp(op, `ops[${i}]`));
    for (const op of prepared) {
      if (op.op === 'delete') await this.requireVisibleForWrite(op.key);
      if (op.op === 'set') this.requireWritable(op.key);
    }
    const receipts = await this.write(prepared, opts.idempotencyKey, 'batch');
    return {
      ok: true,
      results: receipts.map((r) => (r.header.op === 'log' ? { ok: true as const, receipt: receiptToJson(r) } : { ok: true as const, key: r.header.key, version: r.header.seq, receipt: receiptToJson(r) })),
    };
  }

  /** Hides a block from ordinary reads (sets `h`); its history and proofs remain. Admin only. @throws TallyError `not_found`, `forbidden`. */
  async redact(key: string, opts: WriteOptions = {}): Promise<WriteResult & { version: number }> {
    return this.flag('redact', key, opts);
  }

  /** Clears `h`. Admin only. @throws TallyError `not_found`, `forbidden`. */
  async unredact(key: string, opts: WriteOptions = {}): Promise<WriteResult & { version: number }> {
    return this.flag('unredact', key, opts);
  }

  private async flag(op: 'redact' | 'unredact', key: string, opts: WriteOptions): Promise<WriteResult & { version: number }> {
    this.requireRole('admin');
    assertKey(key);
    const [receipt] = await this.write([{ op, key, clearance: this.who.clearance }], opts.idempotencyKey, op);
    return { ok: true, version: receipt!.header.seq, receipt: receiptToJson(receipt!) };
  }

  /**
   * Right to be forgotten: destroys the payload bytes and salts of every
   * event of the key and appends an `erase` event naming them. Proofs and
   * earlier receipts stay valid. Admin only.
   * @throws TallyError `not_found`, `forbidden`, `bad_request`.
   */
  async erase(key: string, opts: { reason: string } & WriteOptions): Promise<WriteResult & { erased: number[] }> {
    this.requireRole('admin');
    assertKey(key);
    const reason = opts?.reason;
    if (typeof reason !== 'string' || reason.length === 0 || reason.length > 1024 || !isWellFormed(reason)) {
      throw new TallyError('bad_request', '"reason" must be a non-empty string of at most 1024 characters');
    }
    const [receipt] = await this.write([{ op: 'erase', key, reason, clearance: this.who.clearance }], opts.idempotencyKey, 'erase');
    if (!receipt!.payload) throw new TallyError('internal_error', 'the erase event lost its details');
    const details = decodeTrusted(receipt!.payload) as { erased: number[] };
    return { ok: true, erased: details.erased, receipt: receiptToJson(receipt!) };
  }

  /** Appends prepared ops; applies idempotency. Returns one receipt per op. */
  private async write(ops: PreparedOp[], idempotencyKey: string | undefined, what: string): Promise<Receipt[]> {
    const fingerprint = idempotencyKey === undefined ? undefined : this.fingerprint(what, ops);
    if (idempotencyKey !== undefined) this.checkIdempotencyKey(idempotencyKey);
    const res = await this.journal.append(
      this.name,
      this.who.actor,
      (ctx) => {
        if (idempotencyKey !== undefined) {
          const prior = this.idempotent(ctx.tenant.id, idempotencyKey);
          if (prior) {
            if (!bytesEqual(prior.fingerprint, fingerprint!)) {
              throw new TallyError('conflict', 'this idempotency key was already used for a different request');
            }
            return { drafts: [], extra: prior.seqs };
          }
        }
        const drafts = planOps(this.journal, this.projection, ctx, ops);
        return {
          drafts,
          extra: null as number[] | null,
          after: (events: readonly JournalEvent[]) => {
            if (idempotencyKey === undefined) return;
            const seqs = events.map((e) => e.header.seq);
            this.projection.idempotency.putSync([ctx.tenant.id, idempotencyKey], encodeCanonical({ fingerprint: fingerprint!, seqs }));
          },
        };
      },
      this.config.createPlan,
    );
    if (res.extra) {
      // A replay: the original receipts, against the checkpoint of their batch.
      const tid = this.tenantRecord()!.id;
      return res.extra.map((seq) => this.journal.receipt(tid, seq, this.journal.checkpointCovering(tid, seq)));
    }
    return [...res.receipts];
  }

  private fingerprint(what: string, ops: PreparedOp[]): Uint8Array {
    return encodeCanonical({ what, ops: ops.map((o) => ({ ...o }) as unknown as Record<string, never>) });
  }

  private checkIdempotencyKey(k: unknown): void {
    if (typeof k !== 'string' || k.length === 0 || !isWellFormed(k) || utf8(k).length > MAX_IDEMPOTENCY_KEY_BYTES) {
      throw new TallyError('bad_request', `"idempotencyKey" must be 1..${MAX_IDEMPOTENCY_KEY_BYTES} UTF-8 bytes`);
    }
    // It is a storage key too (see assertNewKey).
    if (!isStorableKey(k)) throw new TallyError('bad_request', '"idempotencyKey" of 64 or more characters must not contain U+0000 to U+0004 (a limit of the storage key encoding)');
  }

  private idempotent(tid: number, key: string): { fingerprint: Uint8Array; seqs: number[] } | undefined {
    const v = this.projection.idempotency.get([tid, key]);
    return v ? (decodeTrusted(v) as unknown as { fingerprint: Uint8Array; seqs: number[] }) : undefined;
  }

  /**
   * Deleting a block the actor cannot see must look exactly like deleting a
   * missing one. An admin sees redacted blocks for this purpose.
   */
  private async requireVisibleForWrite(key: string): Promise<void> {
    const rec = this.tenantRecord();
    const b = rec ? this.projection.state(rec.id, key) : undefined;
    if (b?.exists && !this.canSee(b, true)) throw new TallyError('not_found', `block "${key}" does not exist`);
  }

  /**
   * Overwriting a block the actor cannot see is refused like a unique-key
   * violation (`conflict`), never by silently replacing data it may not read.
   */
  private requireWritable(key: string): void {
    const rec = this.tenantRecord();
    const b = rec ? this.projection.state(rec.id, key) : undefined;
    if (b?.exists && !this.canSee(b, true)) throw new TallyError('conflict', `key "${key}" is in use`);
  }

  // ---- reads ----------------------------------------------------------------

  /**
   * Reads one block: as known now (or `asOf` a seq, a Date or an ISO
   * string) and valid now (or `validAt` an instant). See docs/TIME.md.
   * @param opts.includeHidden shows redacted blocks to an admin.
   * @throws TallyError `not_found` (also for blocks the actor may not see), `bad_request`.
   */
  async get(key: string, opts: { asOf?: AsOf; validAt?: number | string | Date; includeHidden?: boolean } = {}): Promise<Block> {
    this.requireRole('read');
    assertKey(key);
    const tid = this.tid();
    const at = this.timePoint(tid, opts);
    // A read at a past point needs only whether the key is hidden now, not its whole current state.
    const st = tid === undefined || at.asOf !== undefined ? undefined : this.projection.blockView(tid, key);
    const b = tid === undefined ? undefined : this.resolve(tid, key, at, st);
    if (!b || !this.canSee(b, opts.includeHidden) || this.hiddenNow(tid!, key, opts.includeHidden, st)) throw new TallyError('not_found', `block "${key}" does not exist`);
    return b;
  }

  /**
   * Lists blocks in key order (UTF-8 byte order), as known now or `asOf`,
   * valid now or `validAt`.
   * @throws TallyError `bad_request` for a bad limit, cursor or point.
   */
  async list(opts: { prefix?: string; limit?: number; cursor?: string; asOf?: AsOf; validAt?: number | string | Date; includeHidden?: boolean } = {}): Promise<{ blocks: Block[]; next: string | null }> {
    this.requireRole('read');
    const prefix = opts.prefix ?? '';
    if (typeof prefix !== 'string' || !isWellFormed(prefix) || utf8(prefix).length > 1024) throw new TallyError('bad_request', '"prefix" must be a string of at most 1024 UTF-8 bytes');
    const limit = checkLimit(opts.limit);
    let after: string | undefined;
    if (opts.cursor !== undefined) {
      const c = decodeCursor(opts.cursor);
      if (c.length !== 1 || typeof c[0] !== 'string') throw new TallyError('bad_request', '"cursor" is not a cursor this server issued');
      after = c[0];
    }
    const tid = this.tid();
    const at = this.timePoint(tid, opts);
    if (tid === undefined) return { blocks: [], next: null };
    const blocks: Block[] = [];
    let next: string | null = null;
    for (const b of this.blocksAt(tid, at, prefix, after, opts.includeHidden)) {
      if (blocks.length === limit) {
        next = encodeCursor([blocks[blocks.length - 1]!.key]);
        break;
      }
      blocks.push(b);
    }
    return { blocks, next };
  }

  /**
   * Streams the full block state at a point (a seq, a Date or an ISO string;
   * optionally `validAt` an instant).
   * @throws TallyError `bad_request` for a bad point.
   */
  async *stateAt(point: AsOf, opts: { prefix?: string; validAt?: number | string | Date; includeHidden?: boolean } = {}): AsyncGenerator<Block> {
    this.requireRole('read');
    const tid = this.tid();
    const at = this.timePoint(tid, { asOf: point, ...(opts.validAt !== undefined ? { validAt: opts.validAt } : {}) });
    if (tid === undefined) return;
    yield* this.blocksAt(tid, at, opts.prefix ?? '', undefined, opts.includeHidden);
  }

  /** Every key with history under a prefix, resolved at a time point, visible blocks only. */
  private *blocksAt(tid: number, at: TimePoint, prefix: string, after: string | undefined, includeHidden: boolean | undefined): Generator<Block> {
    for (const { key, value: st } of this.projection.blockViews.getRange({ start: [tid, after ?? prefix], end: [tid + 1, ''] })) {
      const k = (key as [number, string])[1];
      if (after !== undefined && k === after) continue;
      if (!k.startsWith(prefix)) break;
      const b = this.resolve(tid, k, at, st);
      if (b && this.canSee(b, includeHidden) && !this.hiddenNow(tid, k, includeHidden, st)) yield b;
    }
  }

  /** The two axes of a read: a seq (undefined: everything known now) and an instant (valid time). */
  private timePoint(tid: number | undefined, opts: { asOf?: AsOf; validAt?: number | string | Date }): TimePoint {
    const asOf = opts.asOf === undefined ? undefined : this.resolvePoint(tid ?? -1, parseAsOf(opts.asOf));
    const validAt = opts.validAt === undefined ? undefined : parseInstant(opts.validAt, 'validAt');
    const clock = this.config.now();
    let now: number | undefined;
    // "Valid now" is never before the journal's own latest time: a fact written with the default
    // validFrom (its transaction time) is valid at once even if the reader's clock lags. The head
    // is read only when a winner lies after the clock, which is rare.
    const nowAtLeast = (t: number): number => (t <= clock ? clock : (now ??= Math.max(clock, tid === undefined ? 0 : (this.journal.storage.heads.get(tid)?.time ?? 0))));
    return { asOf, validAt, now: nowAtLeast };
  }

  /**
   * A key's block at a time point, ignoring who reads. Fast paths: the
   * current state (or the snapshot at `asOf`) already holds the winner, and
   * is right whenever that winner is valid by now; otherwise one seek in the
   * valid-time index decides.
   */
  private resolve(tid: number, key: string, at: TimePoint, current: BlockView | undefined): Block | undefined {
    if (at.asOf !== undefined && at.asOf < 0) return undefined;
    const snap = at.asOf === undefined ? current : this.projection.stateAtSeq(tid, key, at.asOf);
    if (!snap) return undefined;
    const validAt = at.validAt ?? at.now(snap.validFrom);
    // The snapshot's winner has the latest validFrom of every fact known at that point; when it is valid
    // by validAt it is the answer, with no walk through the valid-time index.
    if (snap.winnerSeq < 0 || snap.validFrom <= validAt) {
      if (!snap.exists) return undefined;
      return this.toBlock(tid, key, snap, snap.v, snap.winnerSeq);
    }
    const asOf = at.asOf ?? Number.MAX_SAFE_INTEGER;
    const fact = this.projection.factAt(tid, key, validAt, asOf, snap.since);
    if (!fact || fact.fact.op === 'delete') return undefined;
    return this.toBlock(tid, key, snap, fact.fact.fv, fact.seq);
  }

  /** The block of a state; its data is `st`'s own when `st`'s winner is `dataSeq`, else the payload of `dataSeq`. */
  private toBlock(tid: number, key: string, st: Omit<KeyState, 'data'> & { value?: JsonValue | undefined }, v: number, dataSeq: number): Block {
    let data: JsonValue = null;
    if (st.value !== undefined && st.winnerSeq === dataSeq) data = st.value;
    else data = this.journal.decodePayload(tid, dataSeq, decodeTrusted) as JsonValue;
    return { key, f: st.f, l: st.l, v, h: st.h, data, version: st.version };
  }

  /** The last seq at a point: the seq itself, or the last event with time ≤ the instant (binary search, O(log n)). */
  private resolvePoint(tid: number, point: JournalPoint): number {
    return 'seq' in point ? point.seq : this.journal.lastSeqAtOrBefore(tid, point.time);
  }

  /**
   * The audit trail: every event of the journal (block writes too) from `since`, oldest first.
   * @throws TallyError `bad_request` for a bad since, limit, kind or cursor.
   */
  async events(opts: { since?: unknown; limit?: number; kind?: string; cursor?: string } = {}): Promise<{ events: EventEntry[]; next: string | null }> {
    this.requireRole('read');
    const limit = checkLimit(opts.limit);
    if (opts.kind !== undefined) assertKey(opts.kind, 'kind');
    const rec = this.tenantRecord();
    if (!rec) return { events: [], next: null };
    const tid = rec.id;
    let from = 0;
    if (opts.cursor !== undefined) {
      const c = decodeCursor(opts.cursor)[0];
      if (typeof c !== 'number' || !Number.isSafeInteger(c) || c < 0) throw new TallyError('bad_request', '"cursor" is not a cursor this server issued');
      from = c;
    } else if (opts.since !== undefined) {
      const t = parseSince(opts.since, this.config.now());
      from = this.resolvePoint(tid, { time: t - 1 }) + 1;
    }
    const out: EventEntry[] = [];
    let next: string | null = null;
    const seqs = this.eventSeqs(tid, from, opts.kind);
    for (const seq of seqs) {
      const e = this.journal.event(tid, seq);
      const entry = this.toEntry(tid, e);
      if (!entry) continue;
      if (out.length === limit) {
        next = encodeCursor([seq]);
        break;
      }
      out.push(entry);
    }
    return { events: out, next };
  }

  private *eventSeqs(tid: number, from: number, kind: string | undefined): Generator<number> {
    if (kind !== undefined && !kind.startsWith('block.')) {
      for (const k of this.journal.storage.keyIndex.getKeys({ start: [tid, 'k', kind, from], end: [tid, 'k', kind, Number.MAX_SAFE_INTEGER] })) {
        yield (k as [number, string, string, number])[3];
      }
      return;
    }
    const size = this.journal.size(tid);
    for (let seq = from; seq < size; seq++) {
      if (kind !== undefined && this.journal.header(tid, seq).op !== kind.slice('block.'.length)) continue;
      yield seq;
    }
  }

  private toEntry(tid: number, e: JournalEvent): EventEntry | undefined {
    const h = e.header;
    if (h.op !== 'log' && (h.v > this.who.clearance || this.hiddenNow(tid, h.key, true))) return undefined;
    const details = e.payload && h.op !== 'erase' ? (decodeTrusted(e.payload) as JsonValue) : h.op === 'erase' && e.payload ? (decodeTrusted(e.payload) as JsonValue) : null;
    return h.op === 'log'
      ? { seq: h.seq, time: h.time, kind: h.key, actor: h.actor, details }
      : { seq: h.seq, time: h.time, kind: `block.${h.op}`, key: h.key, actor: h.actor, details };
  }

  /**
   * Every version of a block, newest first, each with its receipt; `keyPrev`
   * in each receipt's header links it to the next one down, so a verifier can
   * prove no version is missing.
   * @throws TallyError `not_found` when the key has no visible history.
   */
  async history(key: string, opts: { limit?: number; cursor?: string } = {}): Promise<{ key: string; versions: HistoryEntry[]; next: string | null }> {
    this.requireRole('read');
    assertKey(key);
    const limit = checkLimit(opts.limit);
    const rec = this.tenantRecord();
    if (!rec) throw new TallyError('not_found', `block "${key}" does not exist`);
    let before = Number.MAX_SAFE_INTEGER;
    if (opts.cursor !== undefined) {
      const c = decodeCursor(opts.cursor)[0];
      if (typeof c !== 'number') throw new TallyError('bad_request', '"cursor" is not a cursor this server issued');
      before = c;
    }
    const tid = rec.id;
    if (this.hiddenNow(tid, key, true)) throw new TallyError('not_found', `block "${key}" has no history`);
    const latest = this.journal.latestCheckpoint(tid);
    const versions: HistoryEntry[] = [];
    let next: string | null = null;
    // Whether the actor may see any version at all decides 404, whatever the cursor: a cursor past the
    // end of a key the actor cannot see must look like a key that does not exist.
    let anyVisible = false;
    for (const seq of this.journal.keySeqs(tid, key, 'b', true)) {
      if (seq >= before) {
        if (!anyVisible && this.journal.header(tid, seq).v <= this.who.clearance) anyVisible = true;
        continue;
      }
      const e = this.journal.event(tid, seq);
      if (e.header.v > this.who.clearance) continue;
      anyVisible = true;
      if (versions.length === limit) {
        next = encodeCursor([versions[versions.length - 1]!.seq]);
        break;
      }
      const h = e.header;
      versions.push({
        seq: h.seq,
        op: h.op,
        time: h.time,
        validFrom: h.validFrom,
        actor: h.actor,
        v: h.v,
        data: h.op === 'set' && e.payload ? (decodeTrusted(e.payload) as JsonValue) : null,
        erased: h.payload !== null && e.payload === null,
        receipt: receiptToJson(this.journal.receipt(tid, seq, latest)),
      });
    }
    if (!anyVisible) throw new TallyError('not_found', `block "${key}" has no history`);
    return { key, versions, next };
  }

  /**
   * The receipt of any past event (a log event, or a version of a block),
   * proven against the latest checkpoint; payload and salt are absent once erased.
   * @throws TallyError `not_found` for a seq that does not exist or that the actor may not see.
   */
  async receipt(seq: number): Promise<ReceiptJson> {
    const tid = this.requireVisibleEvent(seq);
    return receiptToJson(this.journal.receipt(tid, seq));
  }

  /**
   * Checks that the actor may see event `seq` (as in {@link events}) and
   * returns the tenant id; for routes that hand out proofs of single events.
   * @throws TallyError `not_found` for a seq that does not exist or that the actor may not see, `bad_request`.
   */
  requireVisibleEvent(seq: number): number {
    this.requireRole('read');
    if (!Number.isSafeInteger(seq) || seq < 0) throw new TallyError('bad_request', '"seq" must be a non-negative integer');
    const tid = this.tid();
    const notFound = () => new TallyError('not_found', `event ${seq} does not exist`);
    if (tid === undefined || seq >= this.journal.size(tid)) throw notFound();
    const h = this.journal.header(tid, seq);
    if (h.op !== 'log' && (h.v > this.who.clearance || this.hiddenNow(tid, h.key, true))) throw notFound();
    return tid;
  }

  /** Tenant info: plan, live blocks and quota (null: unlimited). */
  async me(): Promise<{ tenant: string; plan: string; blocks_used: number; quota: number | null }> {
    this.requireRole('read');
    const rec = this.tenantRecord();
    const plan = rec?.plan ?? this.config.createPlan ?? 'free';
    return { tenant: this.name, plan, blocks_used: rec ? this.projection.count(rec.id) : 0, quota: quotaOf(plan) };
  }

  // ---- integrity ------------------------------------------------------------

  /** The latest signed checkpoint note of this tenant, or null before the first write. */
  async checkpoint(): Promise<string | null> {
    const rec = this.tenantRecord();
    if (!rec) return null;
    return this.journal.latestCheckpoint(rec.id)?.note ?? null;
  }

  /**
   * Re-checks the whole journal of this tenant; with `projection: true` also
   * replays it into a scratch projection and compares it byte for byte.
   * @returns `{ ok: true, checked }` or the first failing seq with a code.
   */
  async verify(opts: { projection?: boolean } = {}): Promise<JournalVerdict | { ok: false; checked: number; seq: number; code: 'projection_mismatch'; message: string }> {
    const rec = this.tenantRecord();
    if (!rec) return { ok: true, checked: 0, checkpoints: 0 };
    const verdict = await verifyJournal(this.journal, this.name);
    if (!verdict.ok || !opts.projection) return verdict;
    const diff = this.projection.compareWithReplay(this.journal, rec);
    if (diff) return { ok: false, checked: verdict.checked, seq: -1, code: 'projection_mismatch', message: diff };
    return verdict;
  }

  /** Drops this tenant's projection and rebuilds it by replaying the journal. Admin only. */
  async rebuild(): Promise<{ ok: true; events: number }> {
    this.requireRole('admin');
    const rec = this.tenantRecord();
    if (!rec) return { ok: true, events: 0 };
    const events = await this.projection.rebuild(this.journal, rec);
    return { ok: true, events };
  }

  // ---- access ---------------------------------------------------------------

  private tenantRecord(): TenantRecord | undefined {
    return this.journal.tenant(this.name);
  }

  private cachedTid: number | undefined;

  /** The tenant's numeric id (ids never change, so it is cached once the tenant exists). */
  private tid(): number | undefined {
    this.cachedTid ??= this.journal.tenant(this.name)?.id;
    return this.cachedTid;
  }

  /**
   * True when the key is redacted now and the actor may not see hidden blocks.
   * Redaction hides the past too, and outlives a delete or an erasure: it is
   * a property of the key until an `unredact`.
   */
  // justifies: INV-REDACTION-HIDES-HISTORY
  private hiddenNow(tid: number, key: string, includeHidden: boolean | undefined, known?: { h: number }): boolean {
    if (includeHidden && this.who.role === 'admin') return false;
    return known ? known.h === 1 : this.projection.hidden(tid, key);
  }

  // justifies: INV-VISIBILITY
  private canSee(b: { v: number; h: number }, includeHidden: boolean | undefined): boolean {
    if (b.v > this.who.clearance) return false;
    if (b.h === 1 && !(includeHidden && this.who.role === 'admin')) return false;
    return true;
  }

  private requireRole(role: Role): void {
    if (RANK[this.who.role] < RANK[role]) throw new TallyError('forbidden', `this action needs the ${role} role`);
  }
}

