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
}

/** Default limits. */
export const DEFAULT_LIMITS: ServerLimits = {
  bodyLimit: 2 * 1024 * 1024,
  maxKeyBytes: 1024,
  maxListLimit: 1000,
  rateLimit: { max: 6000, timeWindowMs: 60_000 },
};

/** Shared by the route modules. */
export interface ServerContext {
  db: Tally;
  tokens: Tokens;
  limits: ServerLimits;
}
