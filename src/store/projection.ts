/**
 * The block projection, derived from journal events by one fold
 * ({@link foldEvent}) run in the append transaction and again by
 * `rebuild()`. Records are canonical CBOR, so a rebuilt projection can be
 * compared byte for byte with the live one (INV-PROJECTION-EQUALS-REPLAY).
 *
 * Two time axes (docs/TIME.md): an event's transaction time is its seq and
 * `time`; its valid time is `validFrom`. Among a key's `set`/`delete`
 * events, the one with the latest `validFrom` wins, later seq breaking
 * ties (a correction). Three structures answer reads:
 *
 * - `blocks` [tid, key] → {@link KeyState}: the winner over everything known
 *   now — the current block, O(1);
 * - `versions` [tid, key, seq] → the key state right after event `seq`, for
 *   `asOf` reads, one seek; a set/delete's record also holds the fact's
 *   own visibility and its links in the valid-time index;
 * - `valid` [tid, key, epoch, validFrom, seq] → nothing: the set/delete
 *   facts of each erase epoch in valid-time order, whose links make
 *   `validAt` reads at any `asOf` O(log n) (src/store/valid-chain.ts).
 */
import { decodeTrusted, encodeCanonical, type JsonValue } from '../core/codec.js';
import { TallyError } from '../core/errors.js';
import { decodeStored, flatEncoder } from '../core/flat-record.js';
import { layoutReader, peekInt } from '../core/stored-value.js';
import type { Database } from 'lmdb';
import { extendPath, factAt, linkFact, linkTo, MemoryFacts, type FactLinks, type FactReader, type FactRef, type JumpPath, type SeqFact, type ValidFact } from './valid-chain.js';
import type { Journal, JournalEvent, Projector } from '../journal/journal.js';
import { RecordChecks } from '../journal/record-checks.js';
import type { Storage, TenantRecord } from '../journal/storage.js';

/** What the projection knows of one key. */
export interface KeyState {
  /** True when the winning fact is a set. */
  exists: boolean;
  /** Transaction time at which the block last came into existence. */
  f: number;
  /** Transaction time of the key's latest set or delete. */
  l: number;
  /** Visibility of the winning fact. */
  v: number;
  /** 1 when redacted. */
  h: number;
  /** Seq of the key's latest event: the version for `ifVersion` and ETags. */
  version: number;
  /** Valid time of the winning fact, or -1 when there is none. */
  validFrom: number;
  /** Seq of the winning fact (its payload is the data), or -1. */
  winnerSeq: number;
  /** Seq of the key's latest erase (facts at or before it are void), or -1. */
  since: number;
  /** Canonical CBOR of the winning set's data; empty otherwise. */
  data: Uint8Array;
}

type BlockKey = [number, string];
type VersionKey = [number, string, number];
type ValidKey = [number, string, number, number, number];

const EMPTY = new Uint8Array(0);

/** Old records a rebuild in place steps over to link one retroactive fact before it starts afresh. */
const REPLAY_SKIP_LIMIT = 32;

/** A rebuild in place met too many old records; see {@link Projection.rebuild}. */
class ReplayInPlaceTooSlow extends Error {}

/** Root record naming the projection's layout; see {@link Projection.upgrade}. */
const LAYOUT_KEY = 'projection-layout';
const LAYOUT = 2;

/** The state of a key with no history. */
export const NO_STATE: KeyState = { exists: false, f: 0, l: 0, v: 0, h: 0, version: -1, validFrom: -1, winnerSeq: -1, since: -1, data: EMPTY };

/**
 * Where the fold reads and writes: LMDB for the live projection, memory for
 * replays and planning. Key states travel as objects so a replay need not
 * decode and re-encode them on every event.
 */
export interface ProjectionStore {
  getState(tid: number, key: string): KeyState | undefined;
  putState(tid: number, key: string, state: KeyState): void;
  /** `value` is a view of a scratch buffer, valid only during the call: copy it to keep it. */
  putVersion(tid: number, key: string, seq: number, value: Uint8Array): void;
  /**
   * Places a set/delete fact in the valid-time index of the key's erase
   * epoch (the seq of its latest erase, -1 before any) and returns its
   * links, which go into its version record. `last` is the epoch's current
   * winner, which the new fact links to when it is valid no earlier.
   */
  indexFact(tid: number, key: string, epoch: number, at: FactRef, last: FactRef | undefined): FactLinks;
  getCount(tid: number): number;
  putCount(tid: number, count: number): void;
}

const STATE_FIELDS = ['exists', 'f', 'l', 'v', 'h', 'version', 'validFrom', 'winnerSeq', 'since', 'data'] as const;
/** A key state as the flat encoders take it. */
type StateRecord = Record<(typeof STATE_FIELDS)[number], number | boolean | Uint8Array>;
const encodeStateRecord = flatEncoder(STATE_FIELDS);
// Scratch encoders for records handed straight to a put, which copies them: nothing is allocated per record.
const putStateRecord = flatEncoder(STATE_FIELDS, { scratch: true });
const VERSION_FIELDS = [...STATE_FIELDS.filter((f) => f !== 'data'), 'op'] as const;
const encodeVersion = flatEncoder(VERSION_FIELDS, { scratch: true });
/** A set/delete's version record adds the fact's visibility and links (src/store/valid-chain.ts). */
const encodeFactVersion = flatEncoder([...VERSION_FIELDS, 'fv', 'd', 'p', 'j', 'jd'], { scratch: true });

/** Canonical bytes of a key state record. */
export function encodeState(st: KeyState): Uint8Array {
  return encodeStateRecord(st as unknown as StateRecord);
}

// Readers of the exact layouts the encoders above write: lists decode a state per block, as-of reads a
// version record per read, and a walk of one known layout costs a fraction of the general decoder's.
// Each builds its record as one literal, with the fields in canonical order as the general decoder has them.
type Values = readonly (number | boolean | Uint8Array | string)[];
const INT_FIELDS = { f: 'int', h: 'int', l: 'int', v: 'int', since: 'int', version: 'int', validFrom: 'int', winnerSeq: 'int' } as const;
const readState = layoutReader({ ...INT_FIELDS, data: 'bytes', exists: 'bool' }, (x: Values) => ({
  f: x[0] as number, h: x[1] as number, l: x[2] as number, v: x[3] as number, data: x[8] as Uint8Array, since: x[4] as number,
  exists: x[9] as boolean, version: x[5] as number, validFrom: x[6] as number, winnerSeq: x[7] as number,
}));
const readVersion = layoutReader({ ...INT_FIELDS, op: 'text', exists: 'bool' }, (x: Values) => ({
  f: x[0] as number, h: x[1] as number, l: x[2] as number, v: x[3] as number, op: x[8] as string, since: x[4] as number,
  exists: x[9] as boolean, version: x[5] as number, validFrom: x[6] as number, winnerSeq: x[7] as number,
}));
const readFactVersion = layoutReader({ ...INT_FIELDS, op: 'text', exists: 'bool', d: 'int', j: 'int', p: 'int', fv: 'int', jd: 'int' }, (x: Values) => ({
  d: x[10] as number, f: x[0] as number, h: x[1] as number, j: x[11] as number, l: x[2] as number, p: x[12] as number, v: x[3] as number,
  fv: x[13] as number, jd: x[14] as number, op: x[8] as string, since: x[4] as number, exists: x[9] as boolean, version: x[5] as number,
  validFrom: x[6] as number, winnerSeq: x[7] as number,
}));

/**
 * A key state as reads need it: the winning set's data already decoded
 * (`value`; undefined when the state holds none) instead of its bytes.
 */
export type BlockView = Omit<KeyState, 'data'> & { value: JsonValue | undefined };

// Decodes the data straight out of the record, which spares allocating a copy of its bytes first.
const readBlockView = layoutReader({ ...INT_FIELDS, data: 'view', exists: 'bool' }, (x: Values): BlockView => ({
  f: x[0] as number, h: x[1] as number, l: x[2] as number, v: x[3] as number, value: dataValue(x[8] as Uint8Array), since: x[4] as number,
  exists: x[9] as boolean, version: x[5] as number, validFrom: x[6] as number, winnerSeq: x[7] as number,
}));

function dataValue(data: Uint8Array): JsonValue | undefined {
  return data.length > 0 ? (decodeTrusted(data) as JsonValue) : undefined;
}

/** Decodes a key state record into a {@link BlockView}. */
export function decodeBlockView(bytes: Uint8Array): BlockView {
  const view = readBlockView(bytes);
  if (view) return view;
  const { data, ...rest } = decodeState(bytes)!;
  return { ...rest, value: dataValue(data) };
}

/** Decodes a key state record. */
export function decodeState(bytes: Uint8Array | undefined): KeyState | undefined {
  if (!bytes) return undefined;
  return (readState(bytes) ?? decodeStored(bytes)) as unknown as KeyState;
}

/** Decodes a version record (a set/delete's carries its fact's visibility and links too). */
export function decodeVersion(bytes: Uint8Array): Omit<KeyState, 'data'> & { op: string } & Partial<ValidFact> {
  return (readFactVersion(bytes) ?? readVersion(bytes) ?? decodeStored(bytes)) as unknown as Omit<KeyState, 'data'> & { op: string } & Partial<ValidFact>;
}

/** The part of an event the fold reads. */
export type FoldInput = Pick<JournalEvent, 'header' | 'payload'>;

/**
 * The fold: applies one block event to a projection store. Pure in its
 * inputs (no clock), so the live projection and any replay agree byte for byte.
 */
// justifies: INV-PROJECTION-EQUALS-REPLAY
export function foldEvent(store: ProjectionStore, tid: number, e: FoldInput): void {
  const { header: h } = e;
  if (h.op === 'log') return;
  const base = store.getState(tid, h.key) ?? NO_STATE;
  // States are built field by field rather than spread: a replay folds every event of the journal.
  let next: KeyState;
  let links: FactLinks | undefined;
  switch (h.op) {
    case 'set':
    case 'delete': {
      links = store.indexFact(tid, h.key, base.since, { validFrom: h.validFrom, seq: h.seq }, base.winnerSeq < 0 ? undefined : { validFrom: base.validFrom, seq: base.winnerSeq });
      // A fact wins when it is valid from no earlier than the current winner; a later seq breaks ties.
      if (base.winnerSeq < 0 || h.validFrom >= base.validFrom) {
        const exists = h.op === 'set';
        next = {
          exists,
          f: exists ? (base.exists ? base.f : h.time) : 0,
          l: h.time,
          v: h.v,
          h: base.h,
          version: h.seq,
          validFrom: h.validFrom,
          winnerSeq: h.seq,
          since: base.since,
          // An erased set replays without its payload; an erase after it voids the fact anyway.
          data: exists ? (e.payload ?? EMPTY) : EMPTY,
        };
      } else {
        next = { exists: base.exists, f: base.f, l: h.time, v: base.v, h: base.h, version: h.seq, validFrom: base.validFrom, winnerSeq: base.winnerSeq, since: base.since, data: base.data };
      }
      break;
    }
    case 'redact':
    case 'unredact':
      next = { exists: base.exists, f: base.f, l: base.l, v: base.v, h: h.op === 'redact' ? 1 : 0, version: h.seq, validFrom: base.validFrom, winnerSeq: base.winnerSeq, since: base.since, data: base.data };
      break;
    case 'erase':
      // Redaction outlives the data: an erased key's history (its keys and times) stays hidden until unredacted.
      next = { exists: false, f: 0, l: h.time, v: base.v, h: base.h, version: h.seq, validFrom: -1, winnerSeq: -1, since: h.seq, data: EMPTY };
      break;
  }
  store.putState(tid, h.key, next);
  if (base.exists !== next.exists) store.putCount(tid, store.getCount(tid) + (next.exists ? 1 : -1));
  // Literal records rather than spreads: this runs for every event of a replay.
  const n = next;
  store.putVersion(
    tid,
    h.key,
    h.seq,
    links
      ? encodeFactVersion({ exists: n.exists, f: n.f, l: n.l, v: n.v, h: n.h, version: n.version, validFrom: n.validFrom, winnerSeq: n.winnerSeq, since: n.since, op: h.op, fv: h.v, d: links.d, p: links.p, j: links.j, jd: links.jd })
      : encodeVersion({ exists: n.exists, f: n.f, l: n.l, v: n.v, h: n.h, version: n.version, validFrom: n.validFrom, winnerSeq: n.winnerSeq, since: n.since, op: h.op }),
  );
}

/** A projection store in memory, for replays that must not touch the live one. */
class MemoryProjectionStore implements ProjectionStore {
  readonly states = new Map<string, KeyState>();
  readonly records: string[] = [];
  /** JSON of [tid, key, epoch] → that epoch's facts. */
  private readonly facts = new Map<string, MemoryFacts>();
  count = 0;
  getState = (_tid: number, key: string) => this.states.get(key);
  putState = (_tid: number, key: string, st: KeyState) => void this.states.set(key, st);
  putVersion = (tid: number, key: string, seq: number, v: Uint8Array) => void this.records.push(`v${JSON.stringify([tid, key, seq])}=${Buffer.from(v).toString('hex')}`);
  indexFact = (tid: number, key: string, epoch: number, at: FactRef, last: FactRef | undefined) => {
    const id = JSON.stringify([tid, key, epoch]);
    let facts = this.facts.get(id);
    if (!facts) this.facts.set(id, (facts = new MemoryFacts()));
    this.records.push(`t${JSON.stringify([tid, key, epoch, at.validFrom, at.seq])}=`);
    return facts.add(at, last);
  };
  getCount = () => this.count;
  putCount = (_tid: number, n: number) => void (this.count = n);
}

/**
 * A store that reads through to another and keeps its writes in memory:
 * lets the write planner run the real fold on proposed events before
 * anything is written.
 */
export class OverlayStore implements ProjectionStore {
  // Methods, not arrow fields: one overlay is made per write, and fields would be six closures each.
  private readonly states = new Map<string, KeyState>();
  private count: number | undefined;
  constructor(private readonly under: ProjectionStore) {}
  getState(tid: number, key: string): KeyState | undefined {
    return this.states.get(key) ?? this.under.getState(tid, key);
  }
  putState(_tid: number, key: string, st: KeyState): void {
    this.states.set(key, st);
  }
  putVersion(): void {}
  // Nothing is written, so the links need not be found.
  indexFact(_tid: number, _key: string, _epoch: number, at: FactRef): FactLinks {
    return linkTo(at.seq, undefined, undefined);
  }
  getCount(tid: number): number {
    return this.count ?? this.under.getCount(tid);
  }
  putCount(_tid: number, n: number): void {
    this.count = n;
  }
}

/** The projection's databases and its fold. */
export class Projection implements Projector {
  /** [tid, key] → {@link KeyState} */
  readonly blocks: Database<Uint8Array, BlockKey>;
  /**
   * The same records as {@link BlockView}s, for reads, decoded straight from
   * LMDB's read buffer: a range read through it copies no value before
   * decoding (the decoder copies what it keeps).
   */
  readonly blockViews: Database<BlockView, BlockKey>;
  /** [tid, key, seq] → key state after that event (without data) */
  readonly versions: Database<Uint8Array, VersionKey>;
  /** The version records, decoded straight from LMDB's read buffer (see {@link blockViews}). */
  private readonly versionStates: Database<Omit<KeyState, 'data'> & { op: string }, VersionKey>;
  /** [tid, key, epoch, validFrom, seq] → empty: the order of facts (their links are in `versions`) */
  readonly valid: Database<Uint8Array, ValidKey>;
  /** tid → live block count */
  readonly counts: Database<Uint8Array, number>;
  /** [tid, idempotency key] → { fingerprint, seqs }: not derived from events, so never cleared by a rebuild. */
  readonly idempotency: Database<Uint8Array, [number, string]>;
  /** The live projection as a {@link ProjectionStore}. */
  readonly store: ProjectionStore;

  constructor(storage: Storage) {
    this.blocks = storage.openDB('blocks', 'binary');
    this.blockViews = storage.openDecoded('blocks', decodeBlockView);
    this.versions = storage.openDB('versions', 'binary');
    this.versionStates = storage.openDecoded('versions', decodeVersion);
    // 'valid-time' held the facts without epochs or links; Tally.open rebuilds projections kept in it.
    this.valid = storage.openDB('valid-chain', 'binary');
    this.counts = storage.openDB('block-counts', 'binary');
    this.idempotency = storage.openDB('idempotency', 'binary');
    this.store = {
      // LMDB's reusable read buffer, not a copy: decodeState copies what it keeps.
      getState: (tid, key) => decodeState(this.blocks.getBinaryFast([tid, key])),
      putState: (tid, key, st) => void this.blocks.putSync([tid, key], putStateRecord(st as unknown as StateRecord)),
      putVersion: (tid, key, seq, v) => void this.versions.putSync([tid, key, seq], v),
      indexFact: (tid, key, epoch, at, last) => this.indexLinkedFact(tid, key, epoch, at, last),
      getCount: (tid) => this.count(tid),
      putCount: (tid, n) => void this.counts.putSync(tid, encodeCanonical(n)),
    };
  }

  /** The key's state over everything known now, if it has history. */
  state(tid: number, key: string): KeyState | undefined {
    // LMDB's reusable read buffer, not a copy: the record is decoded at once, and the decoder copies what it keeps.
    return decodeState(this.blocks.getBinaryFast([tid, key]));
  }

  /** The key's current state as a {@link BlockView}, if it has history. */
  blockView(tid: number, key: string): BlockView | undefined {
    const bytes = this.blocks.getBinaryFast([tid, key]);
    return bytes ? decodeBlockView(bytes) : undefined;
  }

  /** Whether the key is redacted now (its state's `h`), read without decoding the rest of the state. */
  hidden(tid: number, key: string): boolean {
    const bytes = this.blocks.getBinaryFast([tid, key]);
    if (!bytes) return false;
    return (peekInt(bytes, 'h') ?? decodeState(bytes)!.h) === 1;
  }

  /** Live block count of a tenant. */
  count(tid: number): number {
    const c = this.counts.get(tid);
    return c ? (decodeTrusted(c) as number) : 0;
  }

  /** Applies one event to the live projection; runs inside the append transaction. */
  apply(tenant: TenantRecord, e: JournalEvent): void {
    foldEvent(this.store, tenant.id, e);
  }

  /** The key state right after the last event ≤ `seq`; one seek. */
  stateAtSeq(tid: number, key: string, seq: number): (Omit<KeyState, 'data'> & { op: string }) | undefined {
    if (seq < 0) return undefined;
    for (const { value } of this.versionStates.getRange({ start: [tid, key, seq], end: [tid, key, -1], reverse: true, limit: 1 })) return value;
    return undefined;
  }

  /**
   * The winning fact of a key valid at `validAt` as known at seq `asOf`:
   * the set/delete with the latest validFrom ≤ validAt (later seq on ties)
   * among the facts of the erase epoch `since` with seq ≤ asOf. O(log n)
   * reads (src/store/valid-chain.ts).
   */
  factAt(tid: number, key: string, validAt: number, asOf: number, since: number): SeqFact | undefined {
    return factAt(this.factReader(tid, key, since), validAt, asOf);
  }

  /** Places a fact in the live index and returns its links, found by reading its neighbours. */
  private indexLinkedFact(tid: number, key: string, epoch: number, at: FactRef, last: FactRef | undefined, replaying = false): FactLinks {
    const links = linkFact(this.factReader(tid, key, epoch, replaying), at, last);
    this.valid.putSync([tid, key, epoch, at.validFrom, at.seq], EMPTY);
    return links;
  }

  /**
   * Reads one key's facts of one epoch from the live index. `replaying`:
   * a rebuild writes over the old records, so facts after the one being
   * linked are not replayed yet and their records are not to be trusted;
   * `before` steps over them, a few at most, else gives up with
   * {@link ReplayInPlaceTooSlow}.
   */
  private factReader(tid: number, key: string, epoch: number, replaying = false): FactReader {
    const get = (seq: number): ValidFact | undefined => {
      const bytes = this.versions.getBinaryFast([tid, key, seq]);
      const rec = bytes ? decodeVersion(bytes) : undefined;
      // A version record without links is not a fact's: the index is damaged, and `verify({ projection: true })` says so.
      return rec && typeof rec.d === 'number' ? (rec as ValidFact) : undefined;
    };
    const last = (start: ValidKey, inclusive: boolean, belowSeq: number): SeqFact | undefined => {
      let skipped = 0;
      for (const k of this.valid.getKeys({ start, end: [tid, key, epoch] as unknown as ValidKey, reverse: true })) {
        const seq = (k as ValidKey)[4];
        if (!inclusive && (k as ValidKey)[3] === start[3] && seq === start[4]) continue;
        if (seq >= belowSeq) {
          if (++skipped > REPLAY_SKIP_LIMIT) throw new ReplayInPlaceTooSlow();
          continue;
        }
        const fact = get(seq);
        return fact ? { seq, fact } : undefined;
      }
      return undefined;
    };
    return {
      get,
      before: (ref) => last([tid, key, epoch, ref.validFrom, ref.seq], false, replaying ? ref.seq : Number.MAX_SAFE_INTEGER),
      atOrBefore: (validAt) => last([tid, key, epoch, validAt, Number.MAX_SAFE_INTEGER], true, Number.MAX_SAFE_INTEGER),
    };
  }

  /**
   * Drops the tenant's projection and replays its journal, in one exclusive
   * write transaction. Key states stay in memory during the replay and are
   * written once each at the end; snapshots and valid-time facts stream out.
   */
  async rebuild(journal: Journal, tenant: TenantRecord): Promise<number> {
    // The in-place replay checks its records against the stored ones, and writes those that differ. On a
    // large journal a second thread answers (started before the transaction, which it must not wait for).
    const checks = await RecordChecks.start(
      journal.storage,
      journal.dir,
      ['versions', 'valid-chain'],
      (db, key, bytes) => (db === 0 ? this.versions.putSync(key as VersionKey, bytes) : this.valid.putSync(key as ValidKey, bytes)),
      journal.size(tenant.id) >= Projection.checksOnWorkerFrom,
    );
    try {
      return await this.replayAll(journal, tenant, checks);
    } finally {
      await checks.close();
    }
  }

  /**
   * Journals of at least this many events have a rebuild's checks of stored
   * records run on a second thread ({@link RecordChecks}); smaller ones are
   * not worth starting it. A setting for tests.
   */
  static checksOnWorkerFrom = 20_000;

  private replayAll(journal: Journal, tenant: TenantRecord, checks: RecordChecks): Promise<number> {
    return journal.exclusive(() => {
      const tid = tenant.id;
      // A fresh options object per call: lmdb-js annotates the ones it is given.
      const range = () => ({ start: [tid], end: [tid + 1] });
      const clear = (db: Database<Uint8Array, import('lmdb').Key>) => {
        for (const k of db.getKeys(range())) db.removeSync(k);
      };
      const clearAll = () => {
        for (const db of [this.blocks, this.versions, this.valid]) clear(db as Database<Uint8Array, import('lmdb').Key>);
        this.counts.removeSync(tid);
      };
      /**
       * Replays the journal. `inPlace`: version and valid-time records are written over the old ones
       * rather than into emptied databases, which spares removing and re-inserting every record.
       */
      const replay = (inPlace: boolean): { n: number; written: number } => {
        const states = new Map<string, KeyState>();
        /** Per key, the jump path of its epoch's greatest fact: links the usual fact without reading. */
        const paths = new Map<string, JumpPath>();
        let count = 0;
        let counted = false;
        let written = 0;
        /** Per key, the chunk of record checks its latest records went into. */
        const lastChunkOf = new Map<string, number>();
        const store: ProjectionStore = {
          getState: (_t, key) => states.get(key),
          putState: (_t, key, st) => void states.set(key, st),
          putVersion: (t, key, seq, v) => {
            written++;
            // In place, a record that already holds these bytes is left alone: rewriting it would copy its page for nothing.
            if (!inPlace) return this.store.putVersion(t, key, seq, v);
            checks.check(0, [t, key, seq], v);
            lastChunkOf.set(key, checks.lastChunk);
          },
          indexFact: (t, key, epoch, at, last) => {
            written++;
            const path = last ? paths.get(key) : undefined;
            if (path && last && path.seq === last.seq && at.validFrom >= last.validFrom) {
              const next = extendPath(path, at.seq);
              paths.set(key, next);
              const k: ValidKey = [t, key, epoch, at.validFrom, at.seq];
              if (inPlace) checks.check(1, k, EMPTY);
              else this.valid.putSync(k, EMPTY);
              return next.fact;
            }
            // Linking reads the key's earlier records, which must be as replayed: the checks queued for them
            // are answered (and differing records written) first. A root (no `last`) reads nothing.
            if (last && inPlace) {
              const chunk = lastChunkOf.get(key);
              if (chunk !== undefined) checks.settle(chunk);
            }
            const links = this.indexLinkedFact(t, key, epoch, at, last, inPlace);
            // A root starts a path; a retroactive fact leaves the greatest fact, and its path, as they are.
            if (!last) paths.set(key, { seq: at.seq, fact: links, next: undefined });
            else if (at.validFrom >= last.validFrom) paths.delete(key);
            return links;
          },
          getCount: () => count,
          putCount: (_t, c) => void ((count = c), (counted = true)),
        };
        clear(this.blocks as Database<Uint8Array, import('lmdb').Key>);
        this.counts.removeSync(tid);
        let n = 0;
        // Only a key's final winner contributes data to the state record, so payloads are read once per
        // key at the end rather than streamed for every event: the fold sees none and leaves data empty.
        for (const e of journal.replayEvents(tid, 0, undefined, false)) {
          foldEvent(store, tid, e);
          n++;
        }
        if (inPlace) checks.settle();
        for (const [key, st] of states) {
          const data = st.exists && st.winnerSeq >= 0 ? (journal.payload(tid, st.winnerSeq) ?? EMPTY) : EMPTY;
          this.blocks.putSync([tid, key], putStateRecord({ ...st, data } as unknown as StateRecord));
        }
        if (counted) this.counts.putSync(tid, encodeCanonical(count));
        return { n, written };
      };
      // Written in place, only records under keys the replay never wrote can be stale; there are none
      // when the counts agree. Otherwise — or when old records got in the way of linking a retroactive
      // fact — clear the tenant's records and replay into empty databases.
      try {
        const { n, written } = replay(true);
        if (this.versions.getCount(range()) + this.valid.getCount(range()) === written) return n;
      } catch (err) {
        if (!(err instanceof ReplayInPlaceTooSlow)) throw err;
      }
      clearAll();
      return replay(false).n;
    });
  }

  /**
   * Brings a data directory to this projection layout. Directories written
   * before the layout marker existed (layout 1) kept valid-time facts
   * without erase epochs or links, in 'valid-time'; and an older Tally
   * opened on an upgraded directory writes there again. Either way every
   * tenant's projection is rebuilt from its journal, which is untouched,
   * and the old records are dropped.
   * @throws TallyError `internal_error` for a directory of a newer layout,
   * or when a rebuild is due but the directory is open read-only.
   */
  async upgrade(journal: Journal, storage: Storage, readOnly = false): Promise<void> {
    const marker = storage.root.get(LAYOUT_KEY) as number | undefined;
    if (marker !== undefined && marker > LAYOUT) {
      throw new TallyError('internal_error', `this data directory has projection layout ${marker}, written by a newer Tally; this one reads layout ${LAYOUT}`);
    }
    const old = storage.root.openDB<Uint8Array, import('lmdb').Key>({ name: 'valid-time', encoding: 'binary', create: false } as import('lmdb').DatabaseOptions & { name: string }) as
      | Database<Uint8Array, import('lmdb').Key>
      | undefined;
    const oldRecords = old !== undefined && old.getKeysCount({ limit: 1 }) > 0;
    if (marker === LAYOUT && !oldRecords) return;
    if (readOnly) throw new TallyError('internal_error', 'this data directory needs a one-time rebuild of its projection: open it once for writing');
    for (const name of journal.tenantNames()) {
      const rec = storage.tenants.get(name);
      if (rec) await this.rebuild(journal, rec);
    }
    await journal.exclusive(() => {
      if (old) for (const k of old.getKeys()) old.removeSync(k);
      storage.root.putSync(LAYOUT_KEY, LAYOUT);
    });
  }

  /** Replays the journal into memory and compares with the live projection; returns a description of the first difference, or undefined. */
  compareWithReplay(journal: Journal, tenant: TenantRecord): string | undefined {
    const mem = new MemoryProjectionStore();
    for (const e of journal.replayEvents(tenant.id)) foldEvent(mem, tenant.id, e);
    const replayed = [
      ...[...mem.states.entries()].map(([k, st]) => `b${JSON.stringify([tenant.id, k])}=${Buffer.from(encodeState(st)).toString('hex')}`),
      ...mem.records,
      `count=${mem.count === 0 && !this.counts.get(tenant.id) ? '' : Buffer.from(encodeCanonical(mem.count)).toString('hex')}`,
    ].sort();
    // Compare as sorted record lists: the replay visits records in seq order, LMDB in key order.
    const live = this.dump(tenant.id).sort();
    const n = Math.max(replayed.length, live.length);
    for (let i = 0; i < n; i++) {
      if (replayed[i] !== live[i]) return `projection differs from replay at record ${i}: live ${live[i] ?? '(none)'} vs replay ${replayed[i] ?? '(none)'}`;
    }
    return undefined;
  }

  /** Raw bytes of a tenant's projection, in key order: what "byte-identical" compares. */
  dump(tid: number): string[] {
    const out: string[] = [];
    const hex = (v: Uint8Array) => Buffer.from(v).toString('hex');
    for (const { key, value } of this.blocks.getRange({ start: [tid], end: [tid + 1] })) out.push(`b${JSON.stringify(key)}=${hex(value)}`);
    for (const { key, value } of this.versions.getRange({ start: [tid], end: [tid + 1] })) out.push(`v${JSON.stringify(key)}=${hex(value)}`);
    for (const { key, value } of this.valid.getRange({ start: [tid], end: [tid + 1] })) out.push(`t${JSON.stringify(key)}=${hex(value)}`);
    const c = this.counts.get(tid);
    out.push(`count=${c ? hex(c) : ''}`);
    return out;
  }
}

