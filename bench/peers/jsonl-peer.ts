/**
 * An append-only JSON-lines file: one line per event ({ seq, time, op, key,
 * data, hash } with the same BLAKE3 chain as the SQLite peer) and one
 * checkpoint line per group-committed batch ({ cp, head, sig }, an Ed25519
 * signature over the head), written with one write and one fsync per batch.
 *
 * The projection lives in memory only (a Map, a sorted key array for
 * prefix lists, and per key the file offsets of its events for as-of reads,
 * which read that line back from the file). Reads therefore decode nothing
 * for current state: an upper bound, not a durable index. Verification and
 * rebuild re-read the whole file.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { eventHash, GroupQueue, HeadSigner, same, ZERO } from './chain.js';
import type { Peer, PeerBlock, WriteOp } from './peer.js';

interface EventLine {
  seq: number;
  time: number;
  op: string;
  key: string;
  data: unknown;
  hash: string;
}

interface CheckpointLine {
  cp: number;
  head: string;
  sig: string;
}

interface KeyHistory {
  seqs: number[];
  offsets: number[];
  lengths: number[];
}

interface JsonlReceipt {
  seq: number;
  hash: string;
  checkpoint: CheckpointLine;
}

/** In-memory state derived from the file. */
class MemoryProjection {
  readonly blocks = new Map<string, PeerBlock>();
  /** Block keys in code-unit order (the keys here are ASCII, so also byte order). */
  readonly sorted: string[] = [];
  readonly history = new Map<string, KeyHistory>();

  /** Applies one event; `keepSorted` false skips the sorted key array (a replay sorts once at the end). */
  apply(e: { seq: number; time: number; op: string; key: string; data: unknown }, offset: number, length: number, keepSorted = true): void {
    let h = this.history.get(e.key);
    if (!h) this.history.set(e.key, (h = { seqs: [], offsets: [], lengths: [] }));
    h.seqs.push(e.seq);
    h.offsets.push(offset);
    h.lengths.push(length);
    const prev = this.blocks.get(e.key);
    if (e.op === 'delete') {
      if (prev) {
        this.blocks.delete(e.key);
        if (keepSorted) this.sorted.splice(lowerBound(this.sorted, e.key), 1);
      }
      return;
    }
    if (!prev && keepSorted) this.sorted.splice(lowerBound(this.sorted, e.key), 0, e.key);
    this.blocks.set(e.key, { key: e.key, data: e.data, f: prev ? prev.f! : e.time, l: e.time, version: e.seq });
  }
}

/** First index whose key is >= `key`. */
function lowerBound(xs: readonly string[], key: string): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Last index whose number is <= `n`, or -1. */
function lastAtOrBelow(xs: readonly number[], n: number): number {
  let lo = 0;
  let hi = xs.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! <= n) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** Streams the lines of a file with their byte offsets (4 MiB reads). */
function* fileLines(path: string): Generator<{ line: string; offset: number; length: number }> {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    let carry = Buffer.alloc(0);
    let base = 0; // file offset of carry[0]
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const chunk = carry.length ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n);
      let start = 0;
      for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
        yield { line: chunk.toString('utf8', start, nl), offset: base + start, length: nl - start };
        start = nl + 1;
      }
      base += start;
      carry = Buffer.from(chunk.subarray(start));
    }
    if (carry.length) throw new Error('jsonl: the file ends in a partial line');
  } finally {
    closeSync(fd);
  }
}

export class JsonlPeer implements Peer {
  readonly name = 'JSONL';
  readonly description =
    'append-only JSON-lines file with the same BLAKE3 chain, one signed checkpoint line and one fsync per group-committed batch; projection in memory (as-of reads re-read the line)';
  private readonly path: string;
  private file!: FileHandle;
  private readFd = -1;
  private seq = 0;
  private head: Uint8Array = ZERO;
  private lastTime = 0;
  private offset = 0;
  private mem = new MemoryProjection();
  private readonly signer = new HeadSigner();
  private readonly queue = new GroupQueue<WriteOp, JsonlReceipt>((batch) => this.commit(batch));

  private constructor(dir: string) {
    this.path = join(dir, 'events.jsonl');
  }

  static async open(dir: string): Promise<JsonlPeer> {
    const p = new JsonlPeer(dir);
    p.file = await open(p.path, 'a+');
    p.readFd = openSync(p.path, 'r');
    p.offset = (await p.file.stat()).size;
    if (p.offset > 0) p.seq = await p.rebuild();
    return p;
  }

  size(): number {
    return this.seq;
  }

  /** Appends a batch: one write, one fsync; then updates the in-memory projection. */
  private async commit(ops: readonly WriteOp[]): Promise<JsonlReceipt[]> {
    const time = Math.max(Date.now(), this.lastTime);
    let seq = this.seq;
    let head = this.head;
    const lines: string[] = [];
    const applied: { e: EventLine; offset: number; length: number }[] = [];
    let offset = this.offset;
    for (const op of ops) {
      const data = JSON.stringify(op.data);
      head = eventHash(head, seq, time, 'set', op.key, data);
      const hash = Buffer.from(head).toString('hex');
      const line = `{"seq":${seq},"time":${time},"op":"set","key":${JSON.stringify(op.key)},"data":${data},"hash":"${hash}"}`;
      const length = Buffer.byteLength(line);
      lines.push(line);
      applied.push({ e: { seq, time, op: 'set', key: op.key, data: op.data, hash }, offset, length });
      offset += length + 1;
      seq++;
    }
    const checkpoint: CheckpointLine = { cp: seq, head: Buffer.from(head).toString('hex'), sig: this.signer.sign(seq, head).toString('base64') };
    lines.push(JSON.stringify(checkpoint));
    const bytes = Buffer.from(lines.join('\n') + '\n');
    await this.file.write(bytes, 0, bytes.length);
    await this.file.sync();
    this.seq = seq;
    this.head = head;
    this.lastTime = time;
    this.offset += bytes.length;
    for (const a of applied) this.mem.apply(a.e, a.offset, a.length);
    return applied.map((a) => ({ seq: a.e.seq, hash: a.e.hash, checkpoint }));
  }

  async load(ops: readonly WriteOp[]): Promise<void> {
    await this.commit(ops);
  }

  append(op: WriteOp): Promise<JsonlReceipt> {
    return this.queue.submit(op);
  }

  get(key: string): PeerBlock | undefined {
    return this.mem.blocks.get(key);
  }

  list(prefix: string, limit: number): PeerBlock[] {
    const out: PeerBlock[] = [];
    const keys = this.mem.sorted;
    for (let i = lowerBound(keys, prefix); i < keys.length && out.length < limit; i++) {
      const k = keys[i]!;
      if (!k.startsWith(prefix)) break;
      out.push(this.mem.blocks.get(k)!);
    }
    return out;
  }

  private readonly lineBuf = Buffer.allocUnsafe(64 * 1024);

  getAsOf(key: string, seq: number): PeerBlock | undefined {
    const h = this.mem.history.get(key);
    if (!h) return undefined;
    const i = lastAtOrBelow(h.seqs, seq);
    if (i < 0) return undefined;
    const length = h.lengths[i]!;
    const buf = length <= this.lineBuf.length ? this.lineBuf : Buffer.allocUnsafe(length);
    readSync(this.readFd, buf, 0, length, h.offsets[i]!);
    const e = JSON.parse(buf.toString('utf8', 0, length)) as EventLine;
    if (e.op === 'delete') return undefined;
    return { key, data: e.data, l: e.time, version: e.seq };
  }

  async verify(): Promise<number> {
    let head: Uint8Array = ZERO;
    let expected = 0;
    for (const { line } of fileLines(this.path)) {
      const o = JSON.parse(line) as EventLine | CheckpointLine;
      if ('cp' in o) {
        if (o.cp !== expected || o.head !== Buffer.from(head).toString('hex') || !this.signer.check(o.cp, head, Buffer.from(o.sig, 'base64'))) {
          throw new Error(`jsonl verify: bad checkpoint ${o.cp}`);
        }
        continue;
      }
      if (o.seq !== expected) throw new Error(`jsonl verify: seq ${o.seq} where ${expected} was expected`);
      head = eventHash(head, o.seq, o.time, o.op, o.key, JSON.stringify(o.data));
      if (!same(head, Buffer.from(o.hash, 'hex'))) throw new Error(`jsonl verify: hash mismatch at seq ${o.seq}`);
      expected++;
    }
    return expected;
  }

  async rebuild(): Promise<number> {
    const mem = new MemoryProjection();
    let n = 0;
    let last: EventLine | undefined;
    for (const { line, offset, length } of fileLines(this.path)) {
      const o = JSON.parse(line) as EventLine | CheckpointLine;
      if ('cp' in o) continue;
      mem.apply(o, offset, length, false);
      last = o;
      n++;
    }
    for (const k of [...mem.blocks.keys()].sort()) mem.sorted.push(k);
    this.mem = mem;
    if (last) {
      this.head = Buffer.from(last.hash, 'hex');
      this.lastTime = last.time;
    }
    return n;
  }

  async close(): Promise<void> {
    await this.file.close();
    closeSync(this.readFd);
  }
}
