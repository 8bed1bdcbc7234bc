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
 *   `asOf` reads, one seek;
 * - `valid` [tid, key, validFrom, seq] → the set/delete facts ordered by
 *   valid time, for `validAt` reads, one seek back from `validAt`.
 */
import { decodeTrusted, encodeCanonical } from '../core/codec.js';
import { decodeStored, encodeFlat, flatEncoder } from '../core/flat-record.js';
import type { Database } from 'lmdb';
import type { Journal, JournalEvent, Projector } from '../journal/journal.js';
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

/** A set/delete fact in valid-time order. */
export interface ValidFact {
  op: 'set' | 'delete';
  v: number;
}

type BlockKey = [number, string];
type VersionKey = [number, string, number];
type ValidKey = [number, string, number, number];

const EMPTY = new Uint8Array(0);

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
  putVersion(tid: number, key: string, seq: number, value: Uint8Array): void;
  putValid(tid: number, key: string, validFrom: number, seq: number, value: Uint8Array): void;
  getCount(tid: number): number;
  putCount(tid: number, count: number): void;
}

const STATE_FIELDS = ['exists', 'f', 'l', 'v', 'h', 'version', 'validFrom', 'winnerSeq', 'since', 'data'] as const;
const encodeStateRecord = flatEncoder(STATE_FIELDS);
const encodeVersion = flatEncoder([...STATE_FIELDS.filter((f) => f !== 'data'), 'op']);
const encodeFact = flatEncoder(['op', 'v']);

/** Canonical bytes of a key state record. */
export function encodeState(st: KeyState): Uint8Array {
  return encodeStateRecord(st as unknown as Record<(typeof STATE_FIELDS)[number], number | boolean | Uint8Array>);
}

/** Decodes a key state record. */
export function decodeState(bytes: Uint8Array | undefined): KeyState | undefined {
  return bytes ? (decodeStored(bytes) as unknown as KeyState) : undefined;
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
  switch (h.op) {
    case 'set':
    case 'delete': {
      store.putValid(tid, h.key, h.validFrom, h.seq, encodeFact({ op: h.op, v: h.v }));
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
  store.putVersion(
    tid,
    h.key,
    h.seq,
    encodeVersion({ exists: next.exists, f: next.f, l: next.l, v: next.v, h: next.h, version: next.version, validFrom: next.validFrom, winnerSeq: next.winnerSeq, since: next.since, op: h.op }),
  );
}

/** A projection store in memory, for replays that must not touch the live one. */
class MemoryProjectionStore implements ProjectionStore {
  readonly states = new Map<string, KeyState>();
  readonly records: string[] = [];
  count = 0;
  getState = (_tid: number, key: string) => this.states.get(key);
  putState = (_tid: number, key: string, st: KeyState) => void this.states.set(key, st);
  putVersion = (tid: number, key: string, seq: number, v: Uint8Array) => void this.records.push(`v${JSON.stringify([tid, key, seq])}=${Buffer.from(v).toString('hex')}`);
  putValid = (tid: number, key: string, vf: number, seq: number, v: Uint8Array) => void this.records.push(`t${JSON.stringify([tid, key, vf, seq])}=${Buffer.from(v).toString('hex')}`);
  getCount = () => this.count;
  putCount = (_tid: number, n: number) => void (this.count = n);
}

/**
 * A store that reads through to another and keeps its writes in memory:
 * lets the write planner run the real fold on proposed events before
 * anything is written.
 */
export class OverlayStore implements ProjectionStore {
  private readonly states = new Map<string, KeyState>();
  private count: number | undefined;
  constructor(private readonly under: ProjectionStore) {}
  getState = (tid: number, key: string) => this.states.get(key) ?? this.under.getState(tid, key);
  putState = (_tid: number, key: string, st: KeyState) => void this.states.set(key, st);
  putVersion = () => {};
  putValid = () => {};
  getCount = (tid: number) => this.count ?? this.under.getCount(tid);
  putCount = (_tid: number, n: number) => void (this.count = n);
}

/** The projection's databases and its fold. */
export class Projection implements Projector {
  /** [tid, key] → {@link KeyState} */
  readonly blocks: Database<Uint8Array, BlockKey>;
  /** [tid, key, seq] → key state after that event (without data) */
  readonly versions: Database<Uint8Array, VersionKey>;
  /** [tid, key, validFrom, seq] → {@link ValidFact} */
  readonly valid: Database<Uint8Array, ValidKey>;
  /** tid → live block count */
  readonly counts: Database<Uint8Array, number>;
  /** [tid, idempotency key] → { fingerprint, seqs }: not derived from events, so never cleared by a rebuild. */
  readonly idempotency: Database<Uint8Array, [number, string]>;
  /** The live projection as a {@link ProjectionStore}. */
  readonly store: ProjectionStore;

  constructor(storage: Storage) {
    this.blocks = storage.openDB('blocks', 'binary');
    this.versions = storage.openDB('versions', 'binary');
    this.valid = storage.openDB('valid-time', 'binary');
    this.counts = storage.openDB('block-counts', 'binary');
    this.idempotency = storage.openDB('idempotency', 'binary');
    this.store = {
      getState: (tid, key) => decodeState(this.blocks.get([tid, key])),
      putState: (tid, key, st) => void this.blocks.putSync([tid, key], encodeState(st)),
      putVersion: (tid, key, seq, v) => void this.versions.putSync([tid, key, seq], v),
      putValid: (tid, key, vf, seq, v) => void this.valid.putSync([tid, key, vf, seq], v),
      getCount: (tid) => this.count(tid),
      putCount: (tid, n) => void this.counts.putSync(tid, encodeCanonical(n)),
    };
  }

  /** The key's state over everything known now, if it has history. */
  state(tid: number, key: string): KeyState | undefined {
    // LMDB's reusable read buffer, not a copy: the record is decoded at once, and the decoder copies what it keeps.
    return decodeState(this.blocks.getBinaryFast([tid, key]));
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
    for (const { value } of this.versions.getRange({ start: [tid, key, seq], end: [tid, key, -1], reverse: true, limit: 1 })) {
      return decodeStored(value) as unknown as Omit<KeyState, 'data'> & { op: string };
    }
    return undefined;
  }

  /**
   * The winning fact of a key valid at `validAt` as known at seq `asOf`:
   * the set/delete with the latest validFrom ≤ validAt (later seq on ties)
   * among seqs in (since, asOf]. Seeks to validAt and walks back past facts
   * recorded after `asOf`, so it is one seek plus the corrections made later.
   */
  factAt(tid: number, key: string, validAt: number, asOf: number, since: number): { seq: number; fact: ValidFact } | undefined {
    for (const { key: k, value } of this.valid.getRange({ start: [tid, key, validAt, Number.MAX_SAFE_INTEGER], end: [tid, key, -1, -1], reverse: true })) {
      const seq = (k as ValidKey)[3];
      if (seq > asOf || seq <= since) continue;
      return { seq, fact: decodeStored(value) as unknown as ValidFact };
    }
    return undefined;
  }

  /**
   * Drops the tenant's projection and replays its journal, in one exclusive
   * write transaction. Key states stay in memory during the replay and are
   * written once each at the end; snapshots and valid-time facts stream out.
   */
  async rebuild(journal: Journal, tenant: TenantRecord): Promise<number> {
    return journal.exclusive(() => {
      const tid = tenant.id;
      // A fresh options object per call: lmdb-js annotates the ones it is given.
      const range = () => ({ start: [tid], end: [tid + 1] });
      const clear = (db: Database<Uint8Array, import('lmdb').Key>) => {
        for (const k of db.getKeys(range())) db.removeSync(k);
      };
      clear(this.blocks as Database<Uint8Array, import('lmdb').Key>);
      this.counts.removeSync(tid);
      /** Replays the journal; version and valid-time records are written over what is there. */
      const replay = (): { n: number; written: number } => {
        const states = new Map<string, KeyState>();
        let count = 0;
        let counted = false;
        let written = 0;
        const store: ProjectionStore = {
          getState: (_t, key) => states.get(key),
          putState: (_t, key, st) => void states.set(key, st),
          putVersion: (t, key, seq, v) => void (written++, this.store.putVersion(t, key, seq, v)),
          putValid: (t, key, vf, seq, v) => void (written++, this.store.putValid(t, key, vf, seq, v)),
          getCount: () => count,
          putCount: (_t, c) => void ((count = c), (counted = true)),
        };
        let n = 0;
        // Only a key's final winner contributes data to the state record, so payloads are read once per
        // key at the end rather than streamed for every event: the fold sees none and leaves data empty.
        for (const e of journal.replayEvents(tid, 0, undefined, false)) {
          foldEvent(store, tid, e);
          n++;
        }
        for (const [key, st] of states) {
          const data = st.exists && st.winnerSeq >= 0 ? (journal.payload(tid, st.winnerSeq) ?? EMPTY) : EMPTY;
          this.blocks.putSync([tid, key], encodeState({ ...st, data }));
        }
        if (counted) this.counts.putSync(tid, encodeCanonical(count));
        return { n, written };
      };
      // Every record the replay writes replaces the one under its key, so only records under keys the
      // replay never writes can be stale; there are none when the counts agree, which spares removing
      // and re-inserting every record. Otherwise clear the tenant's records and replay again.
      let { n, written } = replay();
      const held = () => this.versions.getCount(range()) + this.valid.getCount(range());
      if (held() !== written) {
        clear(this.versions as Database<Uint8Array, import('lmdb').Key>);
        clear(this.valid as Database<Uint8Array, import('lmdb').Key>);
        clear(this.blocks as Database<Uint8Array, import('lmdb').Key>);
        ({ n, written } = replay());
      }
      return n;
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
