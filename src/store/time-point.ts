/**
 * Parsing of points in time and in the journal: `asOf` (a seq, a Date or an
 * ISO string), `since` ("1h" | "24h" | "7d" | "30d", ms, ISO) and instants
 * (ms or ISO 8601, date-only or with a zone). Instants are compared as
 * numbers of ms, never as strings.
 */
import { TallyError } from '../core/errors.js';

/** A point in a journal: a sequence number or an instant (Unix ms). */
export type JournalPoint = { seq: number } | { time: number };

/** What callers may pass as `asOf`. */
export type AsOf = number | Date | string;

const ISO = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}))?$/;

/**
 * Parses an ISO 8601 date (`2026-06-01`, taken as UTC midnight) or
 * date-time with a zone (`2026-06-01T12:00:00+02:00`).
 * @throws TallyError `bad_request` naming `name`.
 */
export function parseIsoInstant(text: string, name: string): number {
  if (!ISO.test(text)) throw new TallyError('bad_request', `"${name}" must be an ISO 8601 date or a date-time with a zone, got ${JSON.stringify(text)}`);
  const ms = Date.parse(text.length === 10 ? `${text}T00:00:00Z` : text);
  if (!Number.isFinite(ms)) throw new TallyError('bad_request', `"${name}" is not a valid date: ${JSON.stringify(text)}`);
  return ms;
}

/**
 * An instant from ms, a Date, an ISO string, or a string of digits (ms).
 * @throws TallyError `bad_request`.
 */
export function parseInstant(value: unknown, name: string): number {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TallyError('bad_request', `"${name}" is an invalid Date`);
    return value.getTime();
  }
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new TallyError('bad_request', `"${name}" must be a non-negative integer of ms, got ${value}`);
    return value;
  }
  if (typeof value === 'string') {
    if (/^\d{1,16}$/.test(value)) return parseInstant(Number(value), name);
    return parseIsoInstant(value, name);
  }
  throw new TallyError('bad_request', `"${name}" must be ms, a Date or an ISO 8601 string`);
}

/**
 * `asOf`: a number is a seq (inclusive); a Date or an ISO string is a time.
 * A string of digits is a seq too (the REST form).
 * @throws TallyError `bad_request`.
 */
export function parseAsOf(value: unknown, name = 'asOf'): JournalPoint {
  if (typeof value === 'number' || (typeof value === 'string' && /^\d{1,16}$/.test(value))) {
    const seq = Number(value);
    if (!Number.isSafeInteger(seq) || seq < 0) throw new TallyError('bad_request', `"${name}" seq must be a non-negative integer, got ${String(value)}`);
    return { seq };
  }
  return { time: parseInstant(value, name) };
}

const DURATIONS: Record<string, number> = { '1h': 3_600_000, '24h': 86_400_000, '7d': 604_800_000, '30d': 2_592_000_000 };

/**
 * `since`: "1h" | "24h" | "7d" | "30d" relative to `now`, a ms timestamp or an ISO date.
 * @throws TallyError `bad_request`.
 */
export function parseSince(value: unknown, now: number): number {
  if (typeof value === 'string' && Object.hasOwn(DURATIONS, value)) return now - DURATIONS[value]!;
  try {
    return parseInstant(value, 'since');
  } catch {
    throw new TallyError('bad_request', `"since" must be "1h", "24h", "7d", "30d", a ms timestamp or an ISO date, got ${JSON.stringify(value)}`);
  }
}
