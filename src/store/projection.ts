/**
 * The block projection: current block state, per-key version snapshots for
 * as-of reads, and the live-block count per tenant — all derived from
 * journal events by one fold, {@link Projection.apply}, run in the append
 * transaction and again by `rebuild()`. Records are canonical CBOR, so a
 * rebuilt projection can be compared byte for byte with the live one
 * (INV-PROJECTION-EQUALS-REPLAY).
 */
import { decodeCanonical, encodeCanonical } from '../core/codec.js';
import type { Database } from 'lmdb';
import type { Journal, JournalEvent, Projector } from '../journal/journal.js';
import type { Storage, TenantRecord } from '../journal/storage.js';

/** Current state of a live block. */
export interface BlockRecord {
  /** First write of this incarnation of the block (Unix ms). */
  f: number;
  /** Last write (Unix ms). */
  l: number;
  v: number;
  /** 1 when redacted. */
  h: number;
  /** Seq of the block's latest event. */
  version: number;
  /** Valid time of the current data. */
  validFrom: number;
  /** Seq of the set event whose payload is the current data. */
  dataSeq: number;
  /** Canonical CBOR of the data. */
  data: Uint8Array;
}

/** Block state right after one of its events, for as-of reads. */
export interface VersionRecord {
  op: string;
  /** False after a delete or an erase. */
  exists: boolean;
  f: number;
  l: number;
  v: number;
  h: number;
  version: number;
  validFrom: number;
  /** Seq whose payload holds the data in force, or -1. */
  dataSeq: number;
}

type BlockKey = [number, string];
type VersionKey = [number, string, number];

/** Where the fold reads and writes: LMDB for the live projection, memory for a check replay. */
export interface ProjectionStore {
  getBlock(tid: number, key: string): Uint8Array | undefined;
  putBlock(tid: number, key: string, value: Uint8Array): void;
  removeBlock(tid: number, key: string): void;
  putVersion(tid: number, key: string, seq: number, value: Uint8Array): void;
  getCount(tid: number): Uint8Array | undefined;
  putCount(tid: number, value: Uint8Array): void;
}

/**
 * The fold: applies one block event to a projection store. Pure in its
 * inputs, so the live projection and any replay agree byte for byte.
 */
// justifies: INV-PROJECTION-EQUALS-REPLAY
export function foldEvent(store: ProjectionStore, tid: number, e: JournalEvent): void {
  const { header: h } = e;
  if (h.op === 'log') return;
  const prevBytes = store.getBlock(tid, h.key);
  const prev = prevBytes ? (decodeCanonical(prevBytes) as unknown as BlockRecord) : undefined;
  let next: BlockRecord | undefined;
  switch (h.op) {
    case 'set':
      next = {
        f: prev ? prev.f : h.time,
        l: h.time,
        v: h.v,
        h: prev ? prev.h : 0,
        version: h.seq,
        validFrom: h.validFrom,
        dataSeq: h.seq,
        // An erased set replays without its payload; its key is gone by the end of the replay anyway.
        data: e.payload ?? new Uint8Array(0),
      };
      break;
    case 'redact':
    case 'unredact':
      if (prev) next = { ...prev, h: h.op === 'redact' ? 1 : 0, version: h.seq };
      break;
    case 'delete':
    case 'erase':
      next = undefined;
      break;
  }
  if (next) store.putBlock(tid, h.key, encodeCanonical({ ...next }));
  else if (prev) store.removeBlock(tid, h.key);
  if (!prev !== !next) {
    const c = store.getCount(tid);
    store.putCount(tid, encodeCanonical((c ? (decodeCanonical(c) as number) : 0) + (next ? 1 : -1)));
  }
  const version: VersionRecord = next
    ? { op: h.op, exists: true, f: next.f, l: next.l, v: next.v, h: next.h, version: next.version, validFrom: next.validFrom, dataSeq: next.dataSeq }
    : { op: h.op, exists: false, f: 0, l: h.time, v: h.v, h: 0, version: h.seq, validFrom: h.validFrom, dataSeq: -1 };
  store.putVersion(tid, h.key, h.seq, encodeCanonical({ ...version }));
}

/** A projection store in memory, for replays that must not touch the live one. */
class MemoryProjectionStore implements ProjectionStore {
  readonly blocks = new Map<string, Uint8Array>();
  readonly versions: string[] = [];
  count: Uint8Array | undefined;
  getBlock = (_tid: number, key: string) => this.blocks.get(key);
  putBlock = (_tid: number, key: string, v: Uint8Array) => void this.blocks.set(key, v);
  removeBlock = (_tid: number, key: string) => void this.blocks.delete(key);
  putVersion = (tid: number, key: string, seq: number, v: Uint8Array) => void this.versions.push(`${JSON.stringify([tid, key, seq])}=${Buffer.from(v).toString('hex')}`);
  getCount = () => this.count;
  putCount = (_tid: number, v: Uint8Array) => void (this.count = v);
}

/** The projection's databases and its fold. */
export class Projection implements Projector {
  /** [tid, key] → {@link BlockRecord} */
  readonly blocks: Database<Uint8Array, BlockKey>;
  /** [tid, key, seq] → {@link VersionRecord} */
  readonly versions: Database<Uint8Array, VersionKey>;
  /** tid → live block count */
  readonly counts: Database<Uint8Array, number>;
  /** [tid, idempotency key] → { fingerprint, seqs }: not derived from events, so never cleared by a rebuild. */
  readonly idempotency: Database<Uint8Array, [number, string]>;
  private readonly lmdbStore: ProjectionStore;

  constructor(storage: Storage) {
    this.blocks = storage.openDB('blocks', 'binary');
    this.versions = storage.openDB('versions', 'binary');
    this.counts = storage.openDB('block-counts', 'binary');
    this.idempotency = storage.openDB('idempotency', 'binary');
    this.lmdbStore = {
      getBlock: (tid, key) => this.blocks.get([tid, key]),
      putBlock: (tid, key, v) => void this.blocks.putSync([tid, key], v),
      removeBlock: (tid, key) => void this.blocks.removeSync([tid, key]),
      putVersion: (tid, key, seq, v) => void this.versions.putSync([tid, key, seq], v),
      getCount: (tid) => this.counts.get(tid),
      putCount: (tid, v) => void this.counts.putSync(tid, v),
    };
  }

  /** The live block, if any. */
  block(tid: number, key: string): BlockRecord | undefined {
    const b = this.blocks.get([tid, key]);
    return b ? (decodeCanonical(b) as unknown as BlockRecord) : undefined;
  }

  /** Live block count of a tenant. */
  count(tid: number): number {
    const c = this.counts.get(tid);
    return c ? (decodeCanonical(c) as number) : 0;
  }

  /** Applies one event to the live projection; runs inside the append transaction. */
  apply(tenant: TenantRecord, e: JournalEvent): void {
    foldEvent(this.lmdbStore, tenant.id, e);
  }

  /** Drops the tenant's projection and replays its journal, in one exclusive write transaction. */
  async rebuild(journal: Journal, tenant: TenantRecord): Promise<number> {
    return journal.exclusive(() => {
      const tid = tenant.id;
      for (const k of this.blocks.getKeys({ start: [tid], end: [tid + 1] })) this.blocks.removeSync(k as BlockKey);
      for (const k of this.versions.getKeys({ start: [tid], end: [tid + 1] })) this.versions.removeSync(k as VersionKey);
      this.counts.removeSync(tid);
      let n = 0;
      for (const e of journal.events(tid)) {
        foldEvent(this.lmdbStore, tid, e);
        n++;
      }
      return n;
    });
  }

  /** Replays the journal into memory and compares with the live projection; returns a description of the first difference, or undefined. */
  compareWithReplay(journal: Journal, tenant: TenantRecord): string | undefined {
    const mem = new MemoryProjectionStore();
    for (const e of journal.events(tenant.id)) foldEvent(mem, tenant.id, e);
    const replayed = [
      ...[...mem.blocks.entries()].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b))).map(([k, v]) => `${JSON.stringify([tenant.id, k])}=${Buffer.from(v).toString('hex')}`),
      ...mem.versions,
      `count=${mem.count ? Buffer.from(mem.count).toString('hex') : ''}`,
    ];
    // Compare as sorted record lists: the replay visits versions in seq order, LMDB in key order.
    replayed.sort();
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
    for (const { key, value } of this.blocks.getRange({ start: [tid], end: [tid + 1] })) out.push(`${JSON.stringify(key)}=${Buffer.from(value).toString('hex')}`);
    for (const { key, value } of this.versions.getRange({ start: [tid], end: [tid + 1] })) out.push(`${JSON.stringify(key)}=${Buffer.from(value).toString('hex')}`);
    const c = this.counts.get(tid);
    out.push(`count=${c ? Buffer.from(c).toString('hex') : ''}`);
    return out;
  }
}
