import type { FastifyInstance } from 'fastify';
import { buildServer, type ServerOptions } from '../../src/server/app.js';
import { Tokens } from '../../src/server/tokens.js';
import { Tally } from '../../src/store/tally.js';
import type { Plan } from '../../src/store/plans.js';
import type { Role } from '../../src/store/tenant.js';
import { tempDir } from './tmpdir.js';

/** A real server on an ephemeral loopback port, with helpers to mint tenants and tokens. */
export interface TestServer {
  db: Tally;
  app: FastifyInstance;
  tokens: Tokens;
  url: string;
  tenant(name: string, plan?: Plan): Promise<string>;
  token(tenant: string, role?: Role, clearance?: number): Promise<string>;
  close(): Promise<void>;
}

export async function startServer(opts: ServerOptions = {}): Promise<TestServer> {
  const db = await Tally.open(tempDir('tally-http-'));
  const app = await buildServer(db, { limits: { rateLimit: false }, ...opts });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const tokens = new Tokens(db);
  return {
    db,
    app,
    tokens,
    url,
    async tenant(name, plan = 'unlimited') {
      await db.createTenant(name, { plan });
      return (await tokens.create(name, { role: 'admin' })).token;
    },
    async token(tenant, role = 'admin', clearance) {
      return (await tokens.create(tenant, { role, ...(clearance !== undefined ? { clearance } : {}) })).token;
    },
    async close() {
      await app.close();
      await db.close();
    },
  };
}
