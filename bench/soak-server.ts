/**
 * Server child of bench/soak.ts: a real Tally server on a loopback port
 * with a fresh data directory, one tenant and an admin token. It prints
 * `{ url, token }` once listening, then its own memory after a full GC every two seconds, so
 * the soak's memory figures are the server's alone.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildServer, Tally, Tokens } from './shipped.js';
import { benchDir } from './harness.js';

const dir = benchDir('tally-soak-');
const db = await Tally.open(dir);

/** Bytes of every file under the data directory: RSS grows with the memory-mapped data, and this shows by how much. */
function dataBytes(path: string): number {
  let n = 0;
  for (const e of readdirSync(path, { withFileTypes: true })) n += e.isDirectory() ? dataBytes(join(path, e.name)) : statSync(join(path, e.name)).size;
  return n;
}
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
  console.log(JSON.stringify({ t: Date.now(), rssMb: m.rss / 2 ** 20, heapMb: m.heapUsed / 2 ** 20, externalMb: m.external / 2 ** 20, arrayBuffersMb: m.arrayBuffers / 2 ** 20, dataMb: dataBytes(dir) / 2 ** 20 }));
}, 2000).unref();

const stop = async () => {
  await app.close();
  await db.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
