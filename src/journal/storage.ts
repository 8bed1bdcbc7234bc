/**
 * The LMDB environment of one data directory and the named databases the
 * journal keeps in it. One environment holds every tenant's journal, so a
 * batch that touches several tenants still commits in one transaction.
 *
 * Keys are lmdb-js ordered-binary arrays led by the tenant's numeric id, so
 * each tenant's records are one contiguous key range. Byte values use the
 * `binary` encoding so what is hashed is exactly what is stored.
 */
import { mkdirSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { decodeStoredHeader, type EventHeader } from '../core/event.js';

/** A tenant's registry record. */
export interface TenantRecord {
  /** Numeric id used in every storage key of the tenant. */
  readonly id: number;
  readonly name: string;
  /** Creation time, Unix ms. */
  readonly created: number;
  /** Plan name; the store layer gives it meaning. */
  plan: string;
}

/** The head of a tenant's journal: what the next append chains onto. */
export interface HeadRecord {
  /** Number of events (the next seq). */
  size: number;
  /** Hash of the last event, or 32 zero bytes. */
  head: Uint8Array;
  /** Time of the last event (Unix ms), or 0. */
  time: number;
}

/** Options for {@link openStorage}. */
export interface StorageOptions {
  /** Initial LMDB map size in bytes; lmdb-js grows it as needed. */
  mapSize?: number;
  readOnly?: boolean;
}

/** The open environment and the journal's databases. */
export interface Storage {
  readonly root: RootDatabase;
  /** Whether the environment was opened read-only. */
  readonly readOnly: boolean;
  /** name → {@link TenantRecord} */
  readonly tenants: Database<TenantRecord, string>;
  /** [tid] → {@link HeadRecord} */
  readonly heads: Database<HeadRecord, number>;
  /** [tid, seq] → canonical header bytes */
  readonly events: Database<Uint8Array, [number, number]>;
  /**
   * The same records read as decoded headers, straight from LMDB's read
   * buffer: no copy of the bytes (the decoder copies what it keeps). For
   * reads that need the header, not its bytes; never written through.
   */
  readonly headers: Database<EventHeader, [number, number]>;
  /** [tid, seq] → salt ‖ payload bytes (deleted by erasure) */
  readonly payloads: Database<Uint8Array, [number, number]>;
  /** [tid, level, index] → complete-subtree hash */
  readonly nodes: Database<Uint8Array, [number, number, number]>;
  /** [tid, size] → signed checkpoint note */
  readonly checkpoints: Database<string, [number, number]>;
  /** [tid, keyspace, key, seq] → event hash; keyspace 'b' blocks, 'k' log kinds */
  readonly keyIndex: Database<Uint8Array, [number, string, string, number]>;
  /** Opens another named database in the same environment (for upper layers). */
  openDB<V, K extends import('lmdb').Key>(name: string, encoding: 'binary' | 'msgpack' | 'string'): Database<V, K>;
  /**
   * Another handle on a byte-valued database whose reads return
   * `decode(bytes)`, run inside the read on LMDB's reusable buffer: no copy
   * of the bytes is made (`decode` must copy what it keeps). Read-only.
   */
  openDecoded<V, K extends import('lmdb').Key>(name: string, decode: (bytes: Uint8Array) => V): Database<V, K>;
  close(): Promise<void>;
}

/** Path of the LMDB environment inside a data directory. */
export function lmdbPath(dir: string): string {
  return join(dir, 'journal');
}

/**
 * The options every handle on the environment at `path` opens it with
 * (lmdb-js shares one environment between the threads of a process).
 */
export function envOptions(path: string): { path: string; maxDbs: number; overlappingSync: true } {
  return {
    path,
    maxDbs: 32,
    // Journal batches commit synchronously (group-commit.ts), syncing before
    // they return. overlappingSync serves lmdb-js's asynchronous writes (the
    // server's tokens): they return before their fsync and whoever needs
    // durability awaits `flushed`.
    overlappingSync: true,
  };
}

/**
 * Opens (creating if needed) the environment of a data directory.
 * The databases are opened once here so every layer shares the handles.
 */
export function openStorage(dir: string, opts: StorageOptions = {}): Storage {
  mkdirSync(lmdbPath(dir), { recursive: true, mode: 0o700 });
  const root = open({
    ...envOptions(lmdbPath(dir)),
    ...(opts.mapSize !== undefined ? { mapSize: opts.mapSize } : {}),
    ...(opts.readOnly ? { readOnly: true } : {}),
  });
  const db = <V, K extends import('lmdb').Key>(name: string, encoding: 'binary' | 'msgpack' | 'string') =>
    root.openDB<V, K>({ name, encoding });
  const openDecoded = <V, K extends import('lmdb').Key>(name: string, decode: (bytes: Uint8Array) => V) =>
    // A custom encoder is a documented database option of lmdb-js that its typings list only for the root.
    root.openDB<V, K>({
      name,
      encoder: {
        encode: () => {
          throw new Error(`"${name}" is read-only through a decoding handle`);
        },
        // A plain view of exactly the value: LMDB's reusable buffer carries the value's size as its `length`.
        decode: (bytes: Uint8Array) => decode(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)),
      },
    } as import('lmdb').DatabaseOptions & { name: string });
  try {
    return {
      root,
      readOnly: opts.readOnly === true,
      tenants: db('tenants', 'msgpack'),
      heads: db('heads', 'msgpack'),
      events: db('events', 'binary'),
      headers: openDecoded('events', decodeStoredHeader),
      payloads: db('payloads', 'binary'),
      nodes: db('nodes', 'binary'),
      checkpoints: db('checkpoints', 'string'),
      keyIndex: db('key-index', 'binary'),
      openDB: db,
      openDecoded,
      close: () => root.close(),
    };
  } catch (err) {
    // An environment left open here would outlive the caller's failure and hold the path (lmdb-js shares it).
    root.close().catch(() => {});
    throw err;
  }
}

/**
 * Below this much free space a failed commit is reported as `storage_full`:
 * LMDB may surface a full disk as a plain I/O error.
 */
export const LOW_SPACE_BYTES = 16 * 1024 * 1024;

/** Whether the file system of `dir` has less than {@link LOW_SPACE_BYTES} available. */
export function isLowOnSpace(dir: string): boolean {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize < LOW_SPACE_BYTES;
  } catch {
    return false;
  }
}
