/**
 * `tally serve` / `npm start`: opens the data directory, creates tenant
 * `dev` (and a node admin token) on the first start, listens, and shuts down
 * gracefully on SIGTERM/SIGINT — stop accepting, finish in-flight requests
 * (so queued writes become durable), close LMDB.
 */
import type { FastifyInstance } from 'fastify';
import { Tally } from '../store/tally.js';
import { buildServer, type ServerOptions } from './app.js';
import { createTenantWithToken } from './tenant-admin.js';
import { NODE_ADMIN, Tokens } from './tokens.js';

/** How long in-flight requests get to finish after SIGTERM before their connections are cut. */
export const SHUTDOWN_GRACE_MS = 10_000;

/** Options of {@link serve}. */
export interface ServeOptions extends ServerOptions {
  dataDir: string;
  port: number;
  host: string;
  /** Where start-up messages go (default: stdout). */
  print?: (line: string) => void;
  /** Install SIGTERM/SIGINT handlers (default true). */
  signals?: boolean;
}

/** A running server. */
export interface Running {
  app: FastifyInstance;
  db: Tally;
  url: string;
  close(): Promise<void>;
}

/** Starts the server. */
export async function serve(opts: ServeOptions): Promise<Running> {
  const print = opts.print ?? ((line: string) => process.stdout.write(line + '\n'));
  const db = await Tally.open(opts.dataDir);
  const tokens = new Tokens(db);
  const app = await buildServer(db, opts);
  let shuttingDown = false;
  // While shutting down, answers close their connection: a keep-alive client must not hold the server open.
  app.addHook('onSend', async (_req, reply, payload) => {
    if (shuttingDown) void reply.header('connection', 'close');
    return payload;
  });
  await app.listen({ port: opts.port, host: opts.host });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`;

  print(`tally: serving ${opts.dataDir} on ${url} (node ${db.name}, verifier key ${db.verifierKey()})`);
  if (!tokens.hasNodeAdmin()) {
    const { token } = await tokens.create(NODE_ADMIN, { label: 'node admin (first start)' });
    print(`tally: node admin token (shown once): ${token}`);
  }
  if (db.tenants().length === 0) {
    const { token } = await createTenantWithToken(db, tokens, 'dev', 'free');
    print(`tally: created tenant "dev"; its admin token (shown once): ${token}`);
    print(`try:   curl -X PUT ${url}/blocks/user:alice@corp.com -H "Authorization: Bearer ${token}" -H "Content-Type: application/json" -d '{"data": {"name": "Alice"}}'`);
  }

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      shuttingDown = true;
      const closed = app.close(); // stops accepting and waits for in-flight requests
      // Idle keep-alive connections would otherwise hold close() until their timeout;
      // after a grace period, connections still busy are cut (their writes were never acknowledged).
      app.server.closeIdleConnections();
      const idle = setInterval(() => app.server.closeIdleConnections(), 100);
      const grace = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      try {
        await closed;
      } finally {
        clearInterval(idle);
        clearTimeout(grace);
      }
      await db.close(); // waits for queued writes to be durable
    })());
  if (opts.signals !== false) {
    const onSignal = (sig: string) => {
      print(`tally: ${sig} received, shutting down`);
      void close().then(() => process.exit(0));
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  }
  return { app, db, url, close };
}
