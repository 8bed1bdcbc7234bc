/**
 * Server child of bench/soak.ts: a real Tally server on a loopback port
 * with a fresh data directory, one tenant and an admin token. It prints
 * `{ url, token }` once listening, then its own memory after a full GC every two seconds, so
 * the soak's memory figures are the server's alone.
 */
import { buildServer } from '../src/server/app.js';
import { Tokens } from '../src/server/tokens.js';
import { Tally } from '../src/store/tally.js';
import { benchDir } from './harness.js';

const db = await Tally.open(benchDir('tally-soak-'));
await db.createTenant('soak', { plan: 'unlimited' });
const { token } = await new Tokens(db).create('soak', { role: 'admin' });
const app = await buildServer(db, { limits: { rateLimit: false } });
await app.listen({ port: 0, host: '127.0.0.1' });
const addr = app.server.address();
const port = typeof addr === 'object' && addr ? addr.port : 0;
console.log(JSON.stringify({ url: `http://127.0.0.1:${port}`, token }));

// Heap after a full GC (the soak runs this child with --expose-gc): live memory only, so growth means a leak.
const gc = (globalThis as { gc?: () => void }).gc;
setInterval(() => {
  gc?.();
  const m = process.memoryUsage();
  console.log(JSON.stringify({ t: Date.now(), rssMb: m.rss / 2 ** 20, heapMb: m.heapUsed / 2 ** 20, externalMb: m.external / 2 ** 20 }));
}, 2000).unref();

const stop = async () => {
  await app.close();
  await db.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
