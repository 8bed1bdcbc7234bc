/**
 * Bearer-token authentication: resolves the token to a grant and the grant
 * to a tenant handle acting as `token:<id>`. A missing, malformed, unknown
 * or revoked token is 401; the same answer for each, so probing reveals
 * nothing about which tokens exist.
 */
import type { FastifyRequest } from 'fastify';
import { TallyError } from '../core/errors.js';
import type { Tally } from '../store/tally.js';
import type { TenantHandle } from '../store/tenant.js';
import { NODE_ADMIN, type Grant, type Tokens } from './tokens.js';

/** The bearer token of a request, or undefined. */
export function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1];
}

/** Token ids of requests whose token was verified (by the app's onRequest hook, before any rate limiting). */
const verified = new WeakMap<FastifyRequest, string>();

/** The grant of a request. @throws TallyError `unauthorized`. */
export function grantOf(tokens: Tokens, req: FastifyRequest): Grant {
  const token = bearer(req);
  const grant = token === undefined ? undefined : tokens.check(token);
  if (!grant) throw new TallyError('unauthorized', 'invalid or missing token');
  verified.set(req, grant.tokenId);
  return grant;
}

/** The tenant handle a request acts through. @throws TallyError `unauthorized`, `forbidden`. */
export function tenantOf(db: Tally, tokens: Tokens, req: FastifyRequest): TenantHandle {
  const g = grantOf(tokens, req);
  if (g.tenant === NODE_ADMIN) throw new TallyError('forbidden', 'the node admin token has no tenant; use a tenant token');
  return db.tenant(g.tenant, { actor: `token:${g.tokenId}`, role: g.role, clearance: g.clearance, create: false });
}

/** Requires the node admin token. @throws TallyError `unauthorized`, `forbidden`. */
export function requireNodeAdmin(tokens: Tokens, req: FastifyRequest): void {
  const g = grantOf(tokens, req);
  if (g.tenant !== NODE_ADMIN) throw new TallyError('forbidden', 'this route needs the node admin token');
  // Tokens.create refuses other roles for the node; this catches records written before it did.
  if (g.role !== 'admin') throw new TallyError('forbidden', 'this node token is not an admin token');
}

/**
 * Counts failed authentications per client address in fixed windows, so a
 * client guessing tokens is slowed like any other (the per-token rate limit
 * cannot count them: a request without a valid token has no token to count).
 */
export class AuthFailures {
  private counts = new Map<string, number>();
  private windowEnds = 0;

  constructor(private readonly limit: { max: number; timeWindowMs: number }) {}

  /** Records one failure of `ip`; true when `ip` is over the limit for this window. */
  fail(ip: string, now = Date.now()): boolean {
    if (now >= this.windowEnds) {
      // One map per window bounds the memory to the addresses of one window.
      this.counts = new Map();
      this.windowEnds = now + this.limit.timeWindowMs;
    }
    const n = (this.counts.get(ip) ?? 0) + 1;
    this.counts.set(ip, n);
    return n > this.limit.max;
  }

  /** True when `ip` is over the limit now, before any new failure. */
  blocked(ip: string, now = Date.now()): boolean {
    return now < this.windowEnds && (this.counts.get(ip) ?? 0) > this.limit.max;
  }

  /** Whole seconds until the current window ends (for `Retry-After`). */
  secondsLeft(now = Date.now()): number {
    return Math.max(1, Math.ceil((this.windowEnds - now) / 1000));
  }
}

/**
 * The rate-limit key of a request: its token id once the token was verified,
 * else its address. Never an id the request merely names: that would let
 * anyone who read a token id (events show `actor: token:<id>`) spend its
 * budget, or escape the per-address bucket with made-up ids.
 */
// justifies: INV-RATE-LIMIT-PER-TOKEN
export function rateLimitKey(req: FastifyRequest): string {
  const id = verified.get(req);
  return id !== undefined ? `token:${id}` : `ip:${req.ip}`;
}
