/**
 * The floor: a plain lmdb-js store doing the storage part of the same work
 * with no chain, no signature and no receipt. Per write: the event record
 * (seq → { seq, time, op, key, data }), the block (key → { key, data, f,
 * l, version }) and a history entry ([key, seq] → block) for as-of reads,
 * in lmdb-js's own batched write transactions; the writer awaits `flushed`
 * (overlappingSync, the same durability setting Tally uses) before its
 * write counts. Values use lmdb-js's msgpack encoding with shared
 * structures, what a tuned plain store would use, and come back decoded.
 */
import { open, type Database, type RootDatabase } from 'lmdb';
import { prefixEnd, type Peer, type PeerBlock, type WriteOp } from './peer.js';

interface RawEvent {
  seq: number;
  time: number;
  op: string;
  key: string;
  data: unknown;
}

export class LmdbPeer implements Peer {
  readonly name = 'raw lmdb';
  readonly description = 'lmdb-js puts/gets of the same records (event, block, history entry), no chain or signature; writers await `flushed` (overlappingSync)';
  private readonly root: RootDatabase;
  private readonly events: Database<RawEvent, number>;
  private readonly blocks: Database<PeerBlock, string>;
  private readonly history: Database<PeerBlock, [string, number]>;
  private seq = 0;

  constructor(dir: string) {
    this.root = open({ path: dir, overlappingSync: true, maxDbs: 8 });
    const structures = (name: string) => ({ name, sharedStructuresKey: Symbol.for('structures') });
    this.events = this.root.openDB<RawEvent, number>(structures('events'));
    this.blocks = this.root.openDB<PeerBlock, string>(structures('blocks'));
    this.history = this.root.openDB<PeerBlock, [string, number]>(structures('history'));
    for (const k of this.events.getKeys({ reverse: true, limit: 1 })) this.seq = (k as number) + 1;
  }

  size(): number {
    return this.seq;
  }

  private write(op: WriteOp, time: number, sync: boolean): Promise<boolean> | void {
    const seq = this.seq++;
    const prev = this.blocks.get(op.key);
    const block: PeerBlock = { key: op.key, data: op.data, f: prev?.f ?? time, l: time, version: seq };
    const event: RawEvent = { seq, time, op: 'set', key: op.key, data: op.data };
    if (sync) {
      this.events.putSync(seq, event);
      this.blocks.putSync(op.key, block);
      this.history.putSync([op.key, seq], block);
      return;
    }
    this.events.put(seq, event);
    this.blocks.put(op.key, block);
    return this.history.put([op.key, seq], block);
  }

  async load(ops: readonly WriteOp[]): Promise<void> {
    const time = Date.now();
    await this.root.transaction(() => {
      for (const op of ops) this.write(op, time, true);
    });
    await this.root.flushed;
  }

  async append(op: WriteOp): Promise<void> {
    // The three puts join one of lmdb-js's batched transactions; `flushed` resolves once it is on disk.
    await this.write(op, Date.now(), false);
    await this.root.flushed;
  }

  get(key: string): PeerBlock | undefined {
    return this.blocks.get(key);
  }

  list(prefix: string, limit: number): PeerBlock[] {
    const out: PeerBlock[] = [];
    for (const { value } of this.blocks.getRange({ start: prefix, end: prefixEnd(prefix), limit })) out.push(value);
    return out;
  }

  getAsOf(key: string, seq: number): PeerBlock | undefined {
    for (const { value } of this.history.getRange({ start: [key, seq], end: [key, -1], reverse: true, limit: 1 })) return value;
    return undefined;
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}
