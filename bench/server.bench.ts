/**
 * npm run bench:server [-- --json] [--ms 3000] [--clients 64]
 *
 * Writes/s and reads/s through the Tally server over keep-alive HTTP with
 * 64 concurrent clients, beside a bare fastify route doing no work, in the
 * same run (the ratio is the figure); p50/p99 latency of each.
 */
import Fastify from 'fastify';
import { buildServer } from '../src/server/app.js';
import { Tokens } from '../src/server/tokens.js';
import { Tally } from '../src/store/tally.js';
import { benchDir, fmt, numberArg, report } from './harness.js';

const ms = numberArg('ms', 3000);
const clients = numberArg('clients', 64);

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
const writes = await load(url, (i) => ({ path: `/blocks/user:${i % 5000}`, method: 'PUT', headers: auth, body }));
const bareWrites = await load(bareUrl, (i) => ({ path: `/noop/user:${i % 5000}`, method: 'PUT', headers: { 'content-type': 'application/json' }, body }));
const reads = await load(url, (i) => ({ path: `/blocks/user:${i % 5000}`, method: 'GET', headers: auth }));
const bareReads = await load(bareUrl, () => ({ path: '/noop', method: 'GET' }));

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
