/**
 * The HTTP server: BatenBase REST routes plus evidence and admin routes on
 * fastify, one error shape, per-token rate limits, OpenAPI at
 * `/openapi.json` and a docs page at `/docs`.
 *
 * Logs are structured (pino, through fastify) and carry the route pattern,
 * never the raw URL (keys can be personal data), never headers or bodies.
 */
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import { TallyError } from '../core/errors.js';
import type { Tally } from '../store/tally.js';
import { AuthFailures, grantOf, rateLimitKey, requireNodeAdmin } from './auth.js';
import { DEFAULT_LIMITS, type ServerLimits } from './context.js';
import { OpenResponses } from './client-errors.js';
import { errorBody, handleError } from './errors.js';
import { adminRoutes } from './routes/admin.js';
import { blockRoutes } from './routes/blocks.js';
import { eventRoutes } from './routes/events.js';
import { exportRoutes } from './routes/export.js';
import { proofRoutes } from './routes/proofs.js';
import { Tokens } from './tokens.js';

/** Options of {@link buildServer}. */
export interface ServerOptions {
  limits?: Partial<ServerLimits>;
  /** Fastify logger setting: false (default), true, or pino options. */
  logger?: FastifyServerOptions['logger'];
  /**
   * Behind a reverse proxy: which proxies to trust for `X-Forwarded-For`,
   * as fastify's `trustProxy` (addresses and CIDR ranges, or true for
   * every proxy). The client address is what per-address limits count.
   * Default: trust none, so a client cannot choose its own address.
   */
  trustProxy?: boolean | string[];
  /** Extra routes (the export route of the evidence layer registers here). */
  plugins?: ((app: FastifyInstance, ctx: { db: Tally; tokens: Tokens }) => void)[];
}

/** Builds the fastify app on an open database. Call `listen()` on the result. */
export async function buildServer(db: Tally, opts: ServerOptions = {}): Promise<FastifyInstance> {
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  if (limits.maxKeyBytes > 1024) throw new TallyError('bad_request', 'maxKeyBytes cannot exceed the format limit of 1024');
  if (limits.maxListLimit > 1000) throw new TallyError('bad_request', 'maxListLimit cannot exceed 1000');
  const tokens = new Tokens(db);
  const open = new OpenResponses();
  const app = Fastify({
    bodyLimit: limits.bodyLimit,
    trustProxy: opts.trustProxy ?? false,
    // justifies: INV-INPUT-LIMITS
    // A client must send its whole request within requestTimeoutMs, and a socket with no traffic either way
    // for idleTimeoutMs is closed: a stalled body or an idle socket cannot hold a connection for ever.
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    // Keys are up to 1024 UTF-8 bytes, up to three URL-encoded characters each.
    routerOptions: { maxParamLength: 3 * 1024 + 64 },
    logger: opts.logger ?? false,
    // Fastify's own request lines carry the raw URL; ours (below) carry the route pattern.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => crypto.randomUUID(),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    // Router and HTTP parser errors get the one error shape as well (fastify's defaults have their own).
    frameworkErrors: handleError,
    clientErrorHandler: open.handleClientError,
    // Node answers a missing Host with a bare 400; the onRequest hook below answers it in the one error shape.
    // Node checks the request deadlines on this interval (30 s by default), so a deadline is kept to within a quarter of itself.
    http: { requireHostHeader: false, connectionsCheckingInterval: limits.requestTimeoutMs > 0 ? Math.max(250, Math.min(5000, limits.requestTimeoutMs / 4)) : 30_000 },
  });
  // Node checks the headers deadline apart from the whole request's; it may not exceed the request's.
  if (limits.requestTimeoutMs > 0) app.server.headersTimeout = Math.min(app.server.headersTimeout, limits.requestTimeoutMs);
  // Connections beyond the cap are refused at accept; the ones being served are not starved.
  app.server.maxConnections = limits.maxConnections;
  // Set before any plugin is registered, so the docs plugin's routes inherit it too.
  app.setErrorHandler(handleError);
  app.server.on('request', open.track);
  // An Expect other than 100-continue is ignored (RFC 9110 §10.1.1 allows it) rather than answered by Node with a bare 417.
  app.server.on('checkExpectation', (req, res) => app.server.emit('request', req, res));

  // Bodies without a JSON content type (the seed's curl examples send none) are parsed as JSON too.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new TallyError('bad_request', 'body is not valid JSON'), undefined);
    }
  });

  // One log line per request, with the route pattern instead of the URL.
  app.addHook('onResponse', async (req, reply) => {
    req.log.info({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });

  // Registered first, so every route after it (the docs pages too) is limited.
  if (limits.rateLimit) {
    await app.register(rateLimit, {
      max: limits.rateLimit.max,
      timeWindow: limits.rateLimit.timeWindowMs,
      keyGenerator: rateLimitKey,
      errorResponseBuilder: (_req, context) => ({ statusCode: 429, ...errorBody('rate_limited', `rate limit of ${context.max} requests per ${context.after} exceeded`) }),
    });
  }

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Tally', version: '1', description: 'A verifiable causal key-value database (BatenBase API with signed receipts).' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // Tokens are checked before bodies and query strings are parsed or validated, so a request
  // without a valid token learns nothing beyond 401; /admin routes need the node admin token.
  // Failed attempts are counted per address, so guessing tokens is rate limited too.
  const failures = limits.rateLimit ? new AuthFailures({ max: limits.maxAuthFailures, timeWindowMs: limits.rateLimit.timeWindowMs }) : undefined;
  const tooMany = (reply: FastifyReply) => {
    reply.header('retry-after', String(failures!.secondsLeft()));
    return new TallyError('rate_limited', 'too many failed authentications from this address; wait and retry');
  };
  app.addHook('onRequest', async (req, reply) => {
    if (req.raw.httpVersion === '1.1' && req.headers.host === undefined) throw new TallyError('bad_request', 'an HTTP/1.1 request needs a Host header (RFC 9112 §3.2)');
    const route = req.routeOptions.url;
    if (route === undefined || route === '/health' || route === '/openapi.json' || route.startsWith('/docs')) return;
    if (failures?.blocked(req.ip)) throw tooMany(reply);
    try {
      if (route.startsWith('/admin')) requireNodeAdmin(tokens, req);
      else grantOf(tokens, req);
    } catch (e) {
      // justifies: INV-AUTH-FAILURES-LIMITED
      if (e instanceof TallyError && e.code === 'unauthorized' && failures?.fail(req.ip)) throw tooMany(reply);
      throw e;
    }
  });

  app.setNotFoundHandler((_req, reply) => void reply.status(404).send(errorBody('not_found', 'no such route')));

  const ctx = { db, tokens, limits };
  blockRoutes(app, ctx);
  eventRoutes(app, ctx);
  proofRoutes(app, ctx);
  adminRoutes(app, ctx);
  exportRoutes(app, ctx);
  for (const p of opts.plugins ?? []) p(app, ctx);

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
