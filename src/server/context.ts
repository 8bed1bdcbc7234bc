/**
 * What every route module receives: the database, the token store and the
 * configured limits.
 */
import type { Tally } from '../store/tally.js';
import type { Tokens } from './tokens.js';

/** Configurable limits of the server; each is answered with its error code when exceeded. */
export interface ServerLimits {
  /** Largest request body in bytes (413 payload_too_large). Default 2 MiB. */
  bodyLimit: number;
  /** Longest block key or event kind in UTF-8 bytes, at most 1024 (400 bad_request). */
  maxKeyBytes: number;
  /** Largest `limit` on list, events and history, at most 1000 (400 bad_request). */
  maxListLimit: number;
  /** Requests per token per window (429 rate_limited), or false for no limit. */
  rateLimit: { max: number; timeWindowMs: number } | false;
  /** Failed authentications per client address per rate-limit window (429 rate_limited); off with `rateLimit: false`. Default 100. */
  maxAuthFailures: number;
  /** Time a client has to send a whole request, headers and body (408); 0 turns the limit off. Default 30 s. */
  requestTimeoutMs: number;
  /** A socket with no traffic either way for this long is closed. Default 120 s. */
  idleTimeoutMs: number;
  /** Open connections at most; more are refused at accept. Default 4096. */
  maxConnections: number;
}

/** Default limits. */
export const DEFAULT_LIMITS: ServerLimits = {
  bodyLimit: 2 * 1024 * 1024,
  maxKeyBytes: 1024,
  maxListLimit: 1000,
  rateLimit: { max: 6000, timeWindowMs: 60_000 },
  maxAuthFailures: 100,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 120_000,
  maxConnections: 4096,
};

/** Shared by the route modules. */
export interface ServerContext {
  db: Tally;
  tokens: Tokens;
  limits: ServerLimits;
}
