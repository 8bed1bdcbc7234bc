/**
 * What every contestant of `npm run bench` implements: the same logical
 * work (durable block writes with a receipt, point reads, prefix lists,
 * as-of reads, a full re-check of the journal, a projection rebuild), each
 * over its own storage. Reads may return synchronously; the timing loop
 * awaits only real promises, so a synchronous peer pays no microtask.
 */

/** A block as the readers of every peer return it. */
export interface PeerBlock {
  key: string;
  data: unknown;
  /** First write (Unix ms), where the peer's read path returns it. */
  f?: number;
  /** Last write (Unix ms). */
  l: number;
  /** Seq of the key's latest event (at the as-of point, for as-of reads). */
  version: number;
}

/** One write of the workloads: a block set. */
export interface WriteOp {
  key: string;
  data: Record<string, unknown>;
}

export interface Peer {
  /** Short name used in tables and charts. */
  readonly name: string;
  /** One line: what this peer does per write and per read. */
  readonly description: string;
  /** Number of events appended so far. */
  size(): number;
  /** Bulk load: appends `ops` in one durable transaction (what the pre-fill uses). */
  load(ops: readonly WriteOp[]): Promise<void>;
  /** One durable write; resolves with its receipt once the write is on disk. */
  append(op: WriteOp): Promise<unknown>;
  get(key: string): PeerBlock | undefined | Promise<PeerBlock | undefined>;
  list(prefix: string, limit: number): PeerBlock[] | Promise<PeerBlock[]>;
  /** The key as of seq `seq` (after event `seq` was applied); undefined when the peer cannot answer. */
  getAsOf?(key: string, seq: number): PeerBlock | undefined | Promise<PeerBlock | undefined>;
  /** Re-checks the whole journal from disk; returns the number of events checked, throws on a mismatch. */
  verify?(): Promise<number>;
  /** Rebuilds the block projection from the journal; returns the number of events replayed. */
  rebuild?(): Promise<number>;
  close(): Promise<void>;
}

/** The smallest key greater than every key starting with `prefix` (for range scans). */
export function prefixEnd(prefix: string): string {
  const last = prefix.charCodeAt(prefix.length - 1);
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}
