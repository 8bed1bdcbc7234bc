/**
 * npm run bench:server [-- --json] [--ms 3000] [--clients 64] [--rounds 3]
 *
 * Writes/s and reads/s through the Tally server over keep-alive HTTP with
 * 64 concurrent clients, beside a bare fastify route doing no work, in the
 * same run, alternating in rounds (the ratio is the figure; the median
 * round of each side counts); p50/p99 latency of each.
 */
import Fastify from 'fastify';
import { buildServer, Tally, Tokens } from './shipped.js';
import { benchDir, fmt, numberArg, report } from './harness.js';

const ms = numberArg('ms', 3000);
const clients = numberArg('clients', 64);
const rounds = numberArg('rounds', 3);

async function load(url: string, init: (i: number) => RequestInit & { path: string }): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const lat: number[] = [];
  let errors = 0;
  const end = performance.now() + ms;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; performance.now() < end; i++) {
        const { path, ...req } = init(c * 1_000_000 + i);
        const t0 = performance.now();
        const res = await fetch(url + path, req);
        await res.arrayBuffer();
        if (!res.ok) errors++;
        lat.push(performance.now() - t0);
      }
    }),
  );
  const secs = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  return { rps: lat.length / secs, p50: lat[Math.floor(lat.length * 0.5)]!, p99: lat[Math.floor(lat.length * 0.99)]!, errors };
}

const db = await Tally.open(benchDir('tally-bench-srv-'));
const app = await buildServer(db, { limits: { rateLimit: false } });
await app.listen({ port: 0, host: '127.0.0.1' });
const addr = app.server.address();
const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
await db.createTenant('bench', { plan: 'unlimited' });
const { token } = await new Tokens(db).create('bench', { role: 'admin' });
const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

const bare = Fastify();
bare.get('/noop', async () => ({ ok: true }));
bare.put('/noop/:key', async () => ({ ok: true }));
await bare.listen({ port: 0, host: '127.0.0.1' });
const baddr = bare.server.address();
const bareUrl = `http://127.0.0.1:${typeof baddr === 'object' && baddr ? baddr.port : 0}`;

const body = JSON.stringify({ data: { name: 'Alice', plan: 'pro', n: 42 } });
// Every key a read asks for exists, so reads measure reads, not 404s.
const KEYS = 5000;
for (let k = 0; k < KEYS; k += 1000) {
  await db.tenant('bench').batch(Array.from({ length: 1000 }, (_, j) => ({ op: 'set' as const, key: `user:${k + j}`, data: { name: 'Alice', plan: 'pro', n: 42 } })));
}
/** Runs Tally and the bare route alternately, `rounds` times each, and keeps the round with the median throughput of each. */
async function sideBySide(tally: Parameters<typeof load>[1], bareInit: Parameters<typeof load>[1], bareBase: string) {
  const t: Awaited<ReturnType<typeof load>>[] = [];
  const b: Awaited<ReturnType<typeof load>>[] = [];
  for (let r = 0; r < rounds; r++) {
    t.push(await load(url, tally));
    b.push(await load(bareBase, bareInit));
  }
  const mid = (xs: typeof t) => [...xs].sort((x, y) => x.rps - y.rps)[Math.floor(xs.length / 2)]!;
  return [mid(t), mid(b)] as const;
}
const [writes, bareWrites] = await sideBySide(
  (i) => ({ path: `/blocks/user:${i % KEYS}`, method: 'PUT', headers: auth, body }),
  (i) => ({ path: `/noop/user:${i % KEYS}`, method: 'PUT', headers: { 'content-type': 'application/json' }, body }),
  bareUrl,
);
const [reads, bareReads] = await sideBySide((i) => ({ path: `/blocks/user:${i % KEYS}`, method: 'GET', headers: auth }), () => ({ path: '/noop', method: 'GET' }), bareUrl);

const row = (name: string, t: Awaited<ReturnType<typeof load>>, b: Awaited<ReturnType<typeof load>>) => ({
  workload: name,
  'tally req/s': fmt(t.rps),
  'bare fastify req/s': fmt(b.rps),
  ratio: fmt(t.rps / b.rps, 2),
  'tally p50/p99 ms': `${fmt(t.p50, 2)} / ${fmt(t.p99, 2)}`,
  'bare p50/p99 ms': `${fmt(b.p50, 2)} / ${fmt(b.p99, 2)}`,
  errors: t.errors,
});
const result = {
  clients,
  writes: { tally: fmt(writes.rps), bare: fmt(bareWrites.rps), ratio: fmt(writes.rps / bareWrites.rps, 3), p50: fmt(writes.p50, 3), p99: fmt(writes.p99, 3), errors: writes.errors },
  reads: { tally: fmt(reads.rps), bare: fmt(bareReads.rps), ratio: fmt(reads.rps / bareReads.rps, 3), p50: fmt(reads.p50, 3), p99: fmt(reads.p99, 3), errors: reads.errors },
};
await app.close();
await bare.close();
await db.close();
report(`HTTP, ${clients} concurrent keep-alive clients, ${ms} ms per workload`, [row('PUT /blocks/{key}', writes, bareWrites), row('GET /blocks/{key}', reads, bareReads)], result);
