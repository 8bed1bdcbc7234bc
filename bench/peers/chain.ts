/**
 * The chain and signature the SQLite and JSON-lines peers compute: the same
 * WASM BLAKE3 (hash-wasm) as src/journal/fast-hashing.ts, one hash per event
 * over a domain tag, the previous hash, the header and the data; and one
 * node:crypto Ed25519 signature per committed batch over the chain head,
 * as Tally signs one checkpoint per batch.
 */
import { generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { createBLAKE3 } from 'hash-wasm';

const hasher = await createBLAKE3();
const TAG = 'peer/event/v1\0';

/** 32 zero bytes: the `prev` of event 0. */
export const ZERO = new Uint8Array(32);

/** BLAKE3(tag ‖ prev ‖ JSON [seq, time, op, key] ‖ data JSON). */
export function eventHash(prev: Uint8Array, seq: number, time: number, op: string, key: string, dataJson: string): Uint8Array {
  hasher.init();
  hasher.update(TAG);
  hasher.update(prev);
  hasher.update(JSON.stringify([seq, time, op, key]));
  hasher.update(dataJson);
  return hasher.digest('binary');
}

/** The bytes a batch signature covers: the tree size and the head. */
function checkpointMessage(size: number, head: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`peer-checkpoint\n${size}\n`), head]);
}

/** An Ed25519 key pair (node:crypto) that signs and checks chain heads. */
export class HeadSigner {
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    this.privateKey = privateKey;
    this.publicKey = publicKey;
  }
  sign(size: number, head: Uint8Array): Buffer {
    return sign(null, checkpointMessage(size, head), this.privateKey);
  }
  check(size: number, head: Uint8Array, signature: Uint8Array): boolean {
    return verify(null, checkpointMessage(size, head), this.publicKey, signature);
  }
}

/** Byte equality. */
export function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/**
 * Group commit for a peer: requests that arrive together are committed by
 * one `commit` call (one transaction, one fsync, one signature), and each
 * caller is resolved only after it returns. At most `max` requests a batch.
 */
export class GroupQueue<Req, Res> {
  private queue: { req: Req; resolve: (r: Res) => void; reject: (e: unknown) => void }[] = [];
  private running = false;

  constructor(
    private readonly commit: (batch: Req[]) => Res[] | Promise<Res[]>,
    private readonly max = 1000,
  ) {}

  submit(req: Req): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      if (!this.running) {
        this.running = true;
        // Let every request issued in this event-loop turn join the batch (as Tally's queue does).
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.max);
      try {
        const out = await this.commit(batch.map((p) => p.req));
        batch.forEach((p, i) => p.resolve(out[i]!));
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.running = false;
  }
}
