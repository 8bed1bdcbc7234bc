/**
 * Tally through its public embedded API only, from its compiled build
 * (bench/shipped.ts): `Tally.open`, one tenant
 * handle, `set` (resolves with the signed receipt once the batch is on
 * disk), `batch` for the pre-fill (1,000 ops a call), `get`, `list`,
 * `get(key, { asOf })`, `verify()` and `rebuild()`.
 */
import { Tally, type Block, type TenantHandle } from '../shipped.js';
import type { Peer, PeerBlock, WriteOp } from './peer.js';

export class TallyPeer implements Peer {
  readonly name = 'Tally';
  readonly description =
    'the public API of the compiled build (dist/, what npm start runs): set() awaits its Ed25519-signed receipt with an inclusion proof (group commit, BLAKE3 chain, Merkle tree, projection and as-of snapshots in the same LMDB transaction)';
  private count = 0;

  private constructor(
    private readonly db: Tally,
    private readonly t: TenantHandle,
  ) {}

  static async open(dir: string): Promise<TallyPeer> {
    const db = await Tally.open(dir);
    return new TallyPeer(db, db.tenant('bench'));
  }

  size(): number {
    return this.count;
  }

  async load(ops: readonly WriteOp[]): Promise<void> {
    await this.t.batch(ops.map((o) => ({ op: 'set' as const, key: o.key, data: o.data })));
    this.count += ops.length;
  }

  async append(op: WriteOp): Promise<unknown> {
    const r = await this.t.set(op.key, op.data);
    this.count++;
    return r.receipt;
  }

  get(key: string): Promise<Block> {
    return this.t.get(key);
  }

  list(prefix: string, limit: number): Promise<PeerBlock[]> {
    return this.t.list({ prefix, limit }).then((r) => r.blocks);
  }

  getAsOf(key: string, seq: number): Promise<Block> {
    return this.t.get(key, { asOf: seq });
  }

  async verify(): Promise<number> {
    const v = await this.t.verify();
    if (!v.ok) throw new Error(`tally verify failed: ${JSON.stringify(v)}`);
    return v.checked;
  }

  async rebuild(): Promise<number> {
    return (await this.t.rebuild()).events;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
