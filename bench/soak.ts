/**
 * npm run soak [-- --seconds 60] [--concurrency 32] [--json]
 *
 * A bounded soak at saturation on loopback: `concurrency` keep-alive
 * connections send mixed requests (40% get, 30% put, 10% list, 10% log,
 * 5% history, 5% inclusion proof) to a server child as fast as it answers.
 * Every few seconds it prints throughput, p50/p99 latency and the server's
 * memory; at the end a summary. It exits non-zero on any error response
 * or when the server's heap after GC grows (leak check): heap after GC at
 * the end must stay within 25% + 8 MiB of the heap after warm-up. RSS is
 * reported but not judged: LMDB's memory map makes resident file pages
 * grow with the data, so the size of the data files is reported beside it.
 */
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fmt, jsonOutput, numberArg } from './harness.js';

const seconds = numberArg('seconds', 60);
const concurrency = numberArg('concurrency', 32);
const intervalMs = Math.max(1000, Math.min(5000, (seconds * 1000) / 6));
const KEYS = 1000;

// ---- server child -------------------------------------------------------------

const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(new URL('./soak-server.ts', import.meta.url))], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const lines = createInterface({ input: child.stdout! });
const memory: { t: number; heapMb: number; rssMb: number; externalMb: number; dataMb: number }[] = [];
const ready = new Promise<{ url: string; token: string }>((resolve) => {
  lines.on('line', (line) => {
    const msg = JSON.parse(line) as { url?: string; token?: string; t?: number; heapMb?: number; rssMb?: number; externalMb?: number; dataMb?: number };
    if (msg.url) resolve(msg as { url: string; token: string });
    else memory.push(msg as { t: number; heapMb: number; rssMb: number; externalMb: number; dataMb: number });
  });
});
const { url, token } = await ready;
const { hostname, port } = new URL(url);

// ---- HTTP -------------------------------------------------------------------

const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
function call(method: string, path: string, body?: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      { hostname, port, method, path, agent, headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const key = (i: number) => `user:${String(i % KEYS).padStart(4, '0')}`;
// Seed every key, so reads always find one.
for (let i = 0; i < KEYS; i += 500) {
  const status = await call('POST', '/batch', { ops: Array.from({ length: 500 }, (_, j) => ({ op: 'set', key: key(i + j), data: { n: i + j } })) });
  if (status !== 200) throw new Error(`seeding failed with ${status}`);
}

/** One random request of the mix; resolves with its status. */
function mixed(r: number, n: number): Promise<number> {
  const k = key(Math.floor(Math.random() * KEYS));
  if (r < 0.4) return call('GET', `/blocks/${k}`);
  if (r < 0.7) return call('PUT', `/blocks/${k}`, { data: { n, at: Date.now(), note: 'soak' } });
  if (r < 0.8) return call('GET', `/blocks?prefix=${encodeURIComponent('user:00')}&limit=50`);
  if (r < 0.9) return call('POST', '/events', { kind: 'soak.tick', details: { n } });
  if (r < 0.95) return call('GET', `/blocks/${k}/history?limit=10`);
  return call('GET', '/proofs/inclusion?seq=0');
}

// ---- load -------------------------------------------------------------------

interface Interval {
  latencies: number[];
  errors: number;
}
const intervals: Interval[] = [];
let current: Interval = { latencies: [], errors: 0 };
const errorSamples: string[] = [];
const start = performance.now();
const end = start + seconds * 1000;
let n = 0;

const ticker = setInterval(() => {
  intervals.push(current);
  current = { latencies: [], errors: 0 };
  printInterval(intervals.length - 1);
}, intervalMs);

await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      let status: number;
      try {
        status = await mixed(Math.random(), n++);
      } catch (err) {
        status = 0;
        if (errorSamples.length < 5) errorSamples.push(String(err));
      }
      current.latencies.push(performance.now() - t0);
      if (status !== 200) {
        current.errors++;
        if (errorSamples.length < 5) errorSamples.push(`status ${status}`);
      }
    }
  }),
);
clearInterval(ticker);
if (current.latencies.length > 0) intervals.push(current);
const elapsed = (performance.now() - start) / 1000;
// Let the child take one more sample after the load.
await new Promise((r) => setTimeout(r, 1500));
child.kill('SIGTERM');

// ---- report -----------------------------------------------------------------

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function memoryAt(fraction: number): { heapMb: number; rssMb: number; externalMb: number; dataMb: number } {
  const i = Math.min(memory.length - 1, Math.max(0, Math.floor(fraction * memory.length)));
  return memory[i] ?? { heapMb: 0, rssMb: 0, externalMb: 0, dataMb: 0 };
}

function printInterval(i: number): void {
  if (jsonOutput) return;
  const iv = intervals[i]!;
  const m = memory[memory.length - 1] ?? { heapMb: 0, rssMb: 0, externalMb: 0, dataMb: 0 };
  console.log(
    `${String(fmt(((i + 1) * intervalMs) / 1000, 0)).padStart(4)} s  ${String(fmt(iv.latencies.length / (intervalMs / 1000))).padStart(7)} req/s  p50 ${fmt(pct(iv.latencies, 50), 2)} ms  p99 ${fmt(pct(iv.latencies, 99), 2)} ms  errors ${iv.errors}  server heap ${fmt(m.heapMb, 1)} MiB  external ${fmt(m.externalMb, 1)} MiB  rss ${fmt(m.rssMb, 1)} MiB  data ${fmt(m.dataMb, 1)} MiB`,
  );
}

const all = intervals.flatMap((iv) => iv.latencies);
const errors = intervals.reduce((s, iv) => s + iv.errors, 0);
const warm = memoryAt(0.25);
const last = memory[memory.length - 1] ?? warm;
const heapLimit = warm.heapMb * 1.25 + 8;
const memoryFlat = last.heapMb <= heapLimit;
const result = {
  seconds: fmt(elapsed, 1),
  concurrency,
  requests: all.length,
  requestsPerSecond: fmt(all.length / elapsed),
  p50Ms: fmt(pct(all, 50), 2),
  p99Ms: fmt(pct(all, 99), 2),
  errors,
  heapAfterWarmupMb: fmt(warm.heapMb, 1),
  heapAtEndMb: fmt(last.heapMb, 1),
  rssAfterWarmupMb: fmt(warm.rssMb, 1),
  rssAtEndMb: fmt(last.rssMb, 1),
  dataAfterWarmupMb: fmt(warm.dataMb, 1),
  dataAtEndMb: fmt(last.dataMb, 1),
  memoryFlat,
  memory: memory.map((m) => ({ heapMb: fmt(m.heapMb, 1), rssMb: fmt(m.rssMb, 1), dataMb: fmt(m.dataMb, 1) })),
};
if (jsonOutput) console.log(JSON.stringify(result));
else {
  console.log(
    `\nsoak: ${result.requests} requests in ${result.seconds} s at ${concurrency} connections: ${result.requestsPerSecond} req/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, errors ${errors}`,
  );
  console.log(`server heap after GC: ${result.heapAfterWarmupMb} MiB after warm-up, ${result.heapAtEndMb} MiB at the end (limit ${fmt(heapLimit, 1)}); rss ${result.rssAfterWarmupMb} → ${result.rssAtEndMb} MiB, data files ${result.dataAfterWarmupMb} → ${result.dataAtEndMb} MiB`);
  if (errorSamples.length > 0) console.log(`first errors: ${errorSamples.join('; ')}`);
}
if (errors > 0 || !memoryFlat) {
  console.error(errors > 0 ? `FAIL: ${errors} error responses` : `FAIL: server heap grew from ${result.heapAfterWarmupMb} to ${result.heapAtEndMb} MiB`);
  process.exit(1);
}
