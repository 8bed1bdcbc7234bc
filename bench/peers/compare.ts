/**
 * The side-by-side comparison: every peer pre-filled to the same journal
 * size with the same writes, checked to answer reads identically, then each
 * workload measured in interleaved rounds (the peer order rotates every
 * round, so slow phases of a noisy machine hit every peer) and reported as
 * the median of the rounds.
 *
 * Sizes are visited in increasing order on the same stores: each stage
 * tops every peer up to the next size, so the appends of a stage are part
 * of the next stage's journal. Appends use a fixed number of writes per
 * round (not a fixed time), so every peer's journal has exactly the same
 * length at every stage and `verify`/`rebuild` cover the same events.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { median } from '../harness.js';
import { JsonlPeer } from './jsonl-peer.js';
import { LmdbPeer } from './lmdb-peer.js';
import type { Peer, PeerBlock, WriteOp } from './peer.js';
import { SqlitePeer } from './sqlite-peer.js';
import { TallyPeer } from './tally-peer.js';

/** Workload ids, in report order. */
export const WORKLOADS = ['append-1', 'append-8', 'append-64', 'get', 'list', 'asof', 'verify', 'rebuild', 'load'] as const;
export type WorkloadId = (typeof WORKLOADS)[number];

export interface WorkloadInfo {
  title: string;
  unit: string;
  what: string;
  /** Interleaved rounds (false: the pre-fill, one pass per peer). */
  interleaved: boolean;
}

export const WORKLOAD_INFO: Record<WorkloadId, WorkloadInfo> = {
  'append-1': { title: 'Durable appends, 1 writer', unit: 'writes/s', what: 'one writer awaits each write\'s receipt (acknowledged only once on disk) before the next', interleaved: true },
  'append-8': { title: 'Durable appends, 8 concurrent writers', unit: 'writes/s', what: '8 writers, each awaiting its own receipt; the peers group-commit whatever is queued', interleaved: true },
  'append-64': { title: 'Durable appends, 64 concurrent writers', unit: 'writes/s', what: '64 writers, each awaiting its own receipt; the peers group-commit whatever is queued', interleaved: true },
  get: { title: 'Point reads', unit: 'gets/s', what: 'current block of a key (decoded data, l, version), keys scattered over the key space', interleaved: true },
  list: { title: 'Prefix lists of 100 keys', unit: 'lists/s', what: 'the 100 blocks under a prefix, in key order, decoded', interleaved: true },
  asof: { title: 'As-of reads', unit: 'gets/s', what: 'a key\'s block as of a random past seq (after its first write)', interleaved: true },
  verify: { title: 'Full verification', unit: 'events/s', what: 're-read every event from disk, re-hash the chain, check every batch signature (Tally also re-checks its Merkle tree, key links and payload commitments)', interleaved: true },
  rebuild: { title: 'Projection rebuild', unit: 'events/s', what: 'replay every event into the projection (Tally\'s projection also holds per-version as-of snapshots and a valid-time index; it rebuilds in place and leaves a record that already holds the replayed bytes unwritten, where SQLite deletes and rewrites its blocks table)', interleaved: true },
  load: { title: 'Bulk load (pre-fill)', unit: 'events/s', what: 'batches of 1,000 writes, one durable transaction each; one pass per peer, not interleaved', interleaved: false },
};

export interface CompareOptions {
  sizes: number[];
  rounds: number;
  /** Milliseconds per read round. */
  readMs: number;
  /** Writes per round at each concurrency level. */
  appendCounts: Record<1 | 8 | 64, number>;
  /** Rounds of verify/rebuild at sizes ≥ 1M (each is one long pass). */
  heavyRoundsBig: number;
  /** Where the stores live. */
  dir: string;
  log: (line: string) => void;
}

/** Median and rounds of one workload for one peer at one size; null when the peer has no such operation. */
export interface Measure {
  median: number;
  runs: number[];
}

export interface CompareResult {
  peers: { name: string; description: string }[];
  keys: number;
  /** Events in every store when the stage of each size was measured (more than the size when earlier appends overshot it). */
  events: Record<number, number>;
  /** results[size][workload][peer] */
  results: Record<number, Partial<Record<WorkloadId, Record<string, Measure | null>>>>;
  seconds: number;
}

const VALUE = { name: 'Alice', plan: 'pro', n: 42, tags: ['a', 'b'] };
const pad = (n: number, w: number) => String(n).padStart(w, '0');

/** Rotates the peer order by `r`. */
function rotate<T>(xs: T[], r: number): T[] {
  const k = r % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

/** Runs `op` back to back for `ms`; awaits only real promises. Returns ops/s. */
async function timed(ms: number, op: (i: number) => unknown): Promise<number> {
  let n = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  let now = t0;
  while (now < end) {
    for (let k = 0; k < 32; k++, n++) {
      const r = op(n);
      if (r instanceof Promise) await r;
    }
    now = performance.now();
  }
  return n / ((now - t0) / 1000);
}

export async function compare(o: CompareOptions): Promise<CompareResult> {
  const started = performance.now();
  const sizes = [...o.sizes].sort((a, b) => a - b);
  // Keys of the pre-fill: at most 10,000, and never more than the smallest size, so every key exists from stage one.
  const K = Math.min(10_000, sizes[0]!);
  const prefixes = Math.max(1, Math.floor(K / 100));
  const key = (i: number) => `user:${pad(i, 6)}`;
  const fillOp = (f: number): WriteOp => ({ key: key(f % K), data: { ...VALUE, i: f } });

  const sub = (name: string) => {
    const d = join(o.dir, name);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const peers: Peer[] = [await TallyPeer.open(sub('tally')), new SqlitePeer(sub('sqlite')), new LmdbPeer(sub('lmdb')), await JsonlPeer.open(sub('jsonl'))];
  const filled = new Map<Peer, number>(peers.map((p) => [p, 0]));
  const appended = new Map<Peer, number>(peers.map((p) => [p, 0]));
  const results: CompareResult['results'] = {};
  const events: CompareResult['events'] = {};

  try {
    for (const size of sizes) {
      const res: Partial<Record<WorkloadId, Record<string, Measure | null>>> = {};
      results[size] = res;
      const put = (w: WorkloadId, p: Peer, runs: number[] | null) => {
        (res[w] ??= {})[p.name] = runs ? { median: median(runs), runs } : null;
      };

      // ---- pre-fill to `size` -------------------------------------------------
      for (const p of peers) {
        const from = p.size();
        const t0 = performance.now();
        while (p.size() < size) {
          const n = Math.min(1000, size - p.size());
          const f = filled.get(p)!;
          await p.load(Array.from({ length: n }, (_, i) => fillOp(f + i)));
          filled.set(p, f + n);
          if (p.size() % 100_000 === 0) o.log(`  ${p.name}: filled ${p.size()}/${size}`);
        }
        const secs = (performance.now() - t0) / 1000;
        put('load', p, p.size() > from ? [(p.size() - from) / secs] : null);
      }
      const n = peers[0]!.size();
      if (peers.some((p) => p.size() !== n)) throw new Error(`peers disagree on the journal size: ${peers.map((p) => `${p.name} ${p.size()}`).join(', ')}`);
      events[size] = n;
      o.log(`size ${size}: ${n} events in every store, ${K} keys${n > size ? ' (the appends of the previous size overshot it; choose sizes further apart)' : ''}`);

      // ---- the same answers everywhere ----------------------------------------
      await crossCheck(peers, K, prefixes, n, key);

      // ---- reads ----------------------------------------------------------------
      const pick = (i: number) => key((i * 7919) % K);
      const prefixOf = (i: number) => `user:${pad((i * 31) % prefixes, 4)}`;
      const asOfArgs = (i: number): [string, number] => {
        const k = (i * 7919) % K;
        return [key(k), k + ((i * 104_729) % (n - k))];
      };
      const reads: [WorkloadId, (p: Peer) => ((i: number) => unknown) | null][] = [
        ['get', (p) => (i) => p.get(pick(i))],
        ['list', (p) => (i) => p.list(prefixOf(i), 100)],
        ['asof', (p) => (p.getAsOf ? (i) => p.getAsOf!(...asOfArgs(i)) : null)],
      ];
      for (const [w, make] of reads) {
        const runs = new Map<Peer, number[]>();
        for (const p of peers) {
          const op = make(p);
          if (op) {
            runs.set(p, []);
            await timed(Math.max(50, o.readMs / 5), op); // warm-up, not counted
          }
        }
        for (let r = 0; r < o.rounds; r++) {
          for (const p of rotate(peers, r)) {
            const op = make(p);
            if (op) runs.get(p)!.push(await timed(o.readMs, op));
          }
        }
        for (const p of peers) put(w, p, runs.get(p) ?? null);
        o.log(`  ${w}: ${line(res[w]!)}`);
      }

      // ---- verify and rebuild (one full pass per round) -------------------------
      const heavyRounds = size >= 1_000_000 ? o.heavyRoundsBig : o.rounds;
      for (const w of ['verify', 'rebuild'] as const) {
        const runs = new Map<Peer, number[]>();
        for (let r = 0; r < heavyRounds; r++) {
          for (const p of rotate(peers, r)) {
            const fn = p[w]?.bind(p);
            if (!fn) continue;
            const t0 = performance.now();
            const events = await fn();
            const secs = (performance.now() - t0) / 1000;
            if (events !== n) throw new Error(`${p.name} ${w} covered ${events} events, expected ${n}`);
            (runs.get(p) ?? runs.set(p, []).get(p)!).push(events / secs);
          }
        }
        for (const p of peers) put(w, p, runs.get(p) ?? null);
        o.log(`  ${w}: ${line(res[w]!)}`);
      }
      // Reads still agree after the rebuilds.
      await crossCheck(peers, K, prefixes, n, key);

      // ---- durable appends, last: they grow the journal ---------------------------
      for (const c of [1, 8, 64] as const) {
        const w = `append-${c}` as WorkloadId;
        const count = Math.ceil(o.appendCounts[c] / c) * c;
        const round = async (p: Peer, total: number): Promise<number> => {
          const t0 = performance.now();
          await Promise.all(
            Array.from({ length: c }, async () => {
              for (let j = 0; j < total / c; j++) {
                const a = appended.get(p)!;
                appended.set(p, a + 1);
                await p.append({ key: `app:${pad(a % 1000, 4)}`, data: { ...VALUE, i: -1 - a } });
              }
            }),
          );
          return total / ((performance.now() - t0) / 1000);
        };
        for (const p of peers) await round(p, c * Math.max(2, Math.ceil(count / c / 10))); // warm-up
        const runs = new Map<Peer, number[]>(peers.map((p) => [p, []]));
        for (let r = 0; r < o.rounds; r++) for (const p of rotate(peers, r)) runs.get(p)!.push(await round(p, count));
        for (const p of peers) put(w, p, runs.get(p)!);
        o.log(`  ${w}: ${line(res[w]!)}`);
      }
      const after = peers[0]!.size();
      if (peers.some((p) => p.size() !== after)) throw new Error('peers disagree on the journal size after the appends');
    }
  } finally {
    for (const p of peers) await p.close();
  }
  return { peers: peers.map((p) => ({ name: p.name, description: p.description })), keys: K, events, results, seconds: (performance.now() - started) / 1000 };
}

/** JSON with object keys sorted (Tally's canonical CBOR orders map keys; the peers keep insertion order). */
function stable(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(stable).join(',')}]`;
  if (x && typeof x === 'object') {
    return `{${Object.keys(x)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable((x as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(x);
}

function line(r: Record<string, Measure | null>): string {
  return Object.entries(r)
    .map(([k, m]) => `${k} ${m ? Math.round(m.median) : 'n/a'}`)
    .join(', ');
}

/** Every peer returns the same data and version for sample keys, prefixes and as-of points. */
async function crossCheck(peers: Peer[], K: number, prefixes: number, n: number, key: (i: number) => string): Promise<void> {
  const sig = (b: PeerBlock | undefined) => (b ? `${b.key}@${b.version}:${stable(b.data)}` : 'none');
  const agree = (what: string, answers: string[]) => {
    if (answers.some((a) => a !== answers[0])) throw new Error(`peers disagree on ${what}: ${peers.map((p, i) => `${p.name} → ${answers[i]}`).join(' | ')}`);
  };
  for (let s = 0; s < 25; s++) {
    const k = (s * 3889) % K;
    agree(`get ${key(k)}`, await Promise.all(peers.map(async (p) => sig(await p.get(key(k))))));
    const prefix = `user:${pad(s % prefixes, 4)}`;
    agree(`list ${prefix}`, await Promise.all(peers.map(async (p) => (await p.list(prefix, 100)).map(sig).join(','))));
    const seq = k + ((s * 104_729) % (n - k));
    const withAsOf = peers.filter((p) => p.getAsOf);
    const answers = await Promise.all(withAsOf.map(async (p) => sig(await p.getAsOf!(key(k), seq))));
    if (answers.some((a) => a !== answers[0])) throw new Error(`peers disagree on ${key(k)} as of ${seq}: ${withAsOf.map((p, i) => `${p.name} → ${answers[i]}`).join(' | ')}`);
  }
}
