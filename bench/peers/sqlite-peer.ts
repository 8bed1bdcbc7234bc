/**
 * The "events table in SQLite" peer, through better-sqlite3: WAL with
 * `synchronous=FULL` (every commit is fsynced before it returns).
 *
 * Per write, inside one transaction per group-committed batch: the event
 * row (seq, time, op, key, data JSON, BLAKE3 chain hash) and an upsert of
 * the `blocks` projection (key → data, f, l, version); per batch, one
 * Ed25519 signature over the chain head, stored in `checkpoints`. The
 * receipt is { seq, hash, checkpoint: { size, head, signature } }.
 *
 * Reads: `blocks` by primary key; prefix lists as a key range; as-of reads
 * from the events table through an index on (key, seq). Verification
 * re-reads every event and checkpoint from disk; rebuild folds the events
 * in memory and rewrites `blocks` in one transaction.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { eventHash, GroupQueue, HeadSigner, same, ZERO } from './chain.js';
import { prefixEnd, type Peer, type PeerBlock, type WriteOp } from './peer.js';

interface SqliteReceipt {
  seq: number;
  hash: Uint8Array;
  checkpoint: { size: number; head: Uint8Array; signature: Uint8Array };
}

export class SqlitePeer implements Peer {
  readonly name = 'SQLite';
  readonly description =
    'better-sqlite3, WAL, synchronous=FULL; events table with a BLAKE3 chain, blocks projection upserted in the same transaction, one Ed25519 signature per batch; group commit';
  private readonly db: Database.Database;
  private readonly signer = new HeadSigner();
  private seq = 0;
  private head: Uint8Array = ZERO;
  private lastTime = 0;
  private readonly queue: GroupQueue<WriteOp, SqliteReceipt>;
  private readonly st: {
    insertEvent: Database.Statement;
    upsertBlock: Database.Statement;
    insertCheckpoint: Database.Statement;
    getBlock: Database.Statement;
    listBlocks: Database.Statement;
    asOf: Database.Statement;
    allEvents: Database.Statement;
    allCheckpoints: Database.Statement;
    insertBlock: Database.Statement;
  };
  private readonly commitBatch: (ops: readonly WriteOp[]) => SqliteReceipt[];

  constructor(dir: string) {
    this.db = new Database(join(dir, 'events.sqlite'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, op TEXT NOT NULL, key TEXT NOT NULL, data TEXT, hash BLOB NOT NULL);
      CREATE INDEX IF NOT EXISTS events_key_seq ON events (key, seq);
      CREATE TABLE IF NOT EXISTS blocks (key TEXT PRIMARY KEY, data TEXT, f INTEGER NOT NULL, l INTEGER NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, head BLOB NOT NULL, signature BLOB NOT NULL);
    `);
    this.st = {
      insertEvent: this.db.prepare('INSERT INTO events (seq, time, op, key, data, hash) VALUES (?, ?, ?, ?, ?, ?)'),
      upsertBlock: this.db.prepare(
        'INSERT INTO blocks (key, data, f, l, version) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET data = excluded.data, l = excluded.l, version = excluded.version',
      ),
      insertCheckpoint: this.db.prepare('INSERT INTO checkpoints (size, head, signature) VALUES (?, ?, ?)'),
      getBlock: this.db.prepare('SELECT data, f, l, version FROM blocks WHERE key = ?').raw(),
      listBlocks: this.db.prepare('SELECT key, data, f, l, version FROM blocks WHERE key >= ? AND key < ? ORDER BY key LIMIT ?').raw(),
      asOf: this.db.prepare('SELECT op, data, time, seq FROM events WHERE key = ? AND seq <= ? ORDER BY seq DESC LIMIT 1').raw(),
      allEvents: this.db.prepare('SELECT seq, time, op, key, data, hash FROM events ORDER BY seq').raw(),
      allCheckpoints: this.db.prepare('SELECT size, head, signature FROM checkpoints ORDER BY size').raw(),
      insertBlock: this.db.prepare('INSERT INTO blocks (key, data, f, l, version) VALUES (?, ?, ?, ?, ?)'),
    };
    const last = this.db.prepare('SELECT seq, time, hash FROM events ORDER BY seq DESC LIMIT 1').get() as { seq: number; time: number; hash: Uint8Array } | undefined;
    if (last) {
      this.seq = last.seq + 1;
      this.head = last.hash;
      this.lastTime = last.time;
    }
    this.commitBatch = this.db.transaction((ops: readonly WriteOp[]) => {
      const time = Math.max(Date.now(), this.lastTime);
      const out: { seq: number; hash: Uint8Array }[] = [];
      let seq = this.seq;
      let head = this.head;
      for (const op of ops) {
        const data = JSON.stringify(op.data);
        head = eventHash(head, seq, time, 'set', op.key, data);
        this.st.insertEvent.run(seq, time, 'set', op.key, data, head);
        this.st.upsertBlock.run(op.key, data, time, time, seq);
        out.push({ seq, hash: head });
        seq++;
      }
      const signature = this.signer.sign(seq, head);
      this.st.insertCheckpoint.run(seq, head, signature);
      // Only after the transaction body succeeded; a throw rolls back and leaves the head alone.
      this.seq = seq;
      this.head = head;
      this.lastTime = time;
      const checkpoint = { size: seq, head, signature };
      return out.map((r) => ({ ...r, checkpoint }));
    });
    this.queue = new GroupQueue((batch) => this.commitBatch(batch));
  }

  size(): number {
    return this.seq;
  }

  async load(ops: readonly WriteOp[]): Promise<void> {
    this.commitBatch(ops);
  }

  append(op: WriteOp): Promise<SqliteReceipt> {
    return this.queue.submit(op);
  }

  get(key: string): PeerBlock | undefined {
    const row = this.st.getBlock.get(key) as [string, number, number, number] | undefined;
    return row ? { key, data: JSON.parse(row[0]), f: row[1], l: row[2], version: row[3] } : undefined;
  }

  list(prefix: string, limit: number): PeerBlock[] {
    const rows = this.st.listBlocks.all(prefix, prefixEnd(prefix), limit) as [string, string, number, number, number][];
    return rows.map((r) => ({ key: r[0], data: JSON.parse(r[1]), f: r[2], l: r[3], version: r[4] }));
  }

  getAsOf(key: string, seq: number): PeerBlock | undefined {
    const row = this.st.asOf.get(key, seq) as [string, string | null, number, number] | undefined;
    if (!row || row[0] === 'delete') return undefined;
    return { key, data: JSON.parse(row[1]!), l: row[2], version: row[3] };
  }

  async verify(): Promise<number> {
    // Checkpoints first (one row per batch), so the event scan owns the connection.
    const cps = this.st.allCheckpoints.all() as [number, Uint8Array, Uint8Array][];
    let c = 0;
    let head: Uint8Array = ZERO;
    let expected = 0;
    for (const [seq, time, op, key, data, hash] of this.st.allEvents.iterate() as IterableIterator<[number, number, string, string, string | null, Uint8Array]>) {
      if (seq !== expected) throw new Error(`sqlite verify: seq ${seq} where ${expected} was expected`);
      head = eventHash(head, seq, time, op, key, data ?? '');
      if (!same(head, hash)) throw new Error(`sqlite verify: hash mismatch at seq ${seq}`);
      expected++;
      while (c < cps.length && cps[c]![0] === expected) {
        const [size, cpHead, sig] = cps[c]!;
        if (!same(cpHead, head) || !this.signer.check(size, head, sig)) throw new Error(`sqlite verify: bad checkpoint ${size}`);
        c++;
      }
    }
    if (c !== cps.length) throw new Error('sqlite verify: a checkpoint names a size the events never reach');
    return expected;
  }

  async rebuild(): Promise<number> {
    const state = new Map<string, { data: string | null; f: number; l: number; version: number }>();
    let n = 0;
    for (const [seq, time, op, key, data] of this.st.allEvents.iterate() as IterableIterator<[number, number, string, string, string | null]>) {
      n++;
      if (op === 'delete') {
        state.delete(key);
        continue;
      }
      const prev = state.get(key);
      state.set(key, { data, f: prev ? prev.f : time, l: time, version: seq });
    }
    this.db.transaction(() => {
      this.db.exec('DELETE FROM blocks');
      for (const [key, s] of state) this.st.insertBlock.run(key, s.data, s.f, s.l, s.version);
    })();
    return n;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
