/**
 * The one error class of Tally. Every failure a caller can act on carries a
 * stable `code`; tests and clients match on the code, never on the message.
 * The HTTP status lives beside the code so the server and the SDK agree on
 * the mapping without a second table.
 */

/** Stable error codes and the HTTP status each maps to. */
export const ERROR_STATUS = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  request_timeout: 408,
  conflict: 409,
  precondition_failed: 412,
  payload_too_large: 413,
  rate_limited: 429,
  quota_exceeded: 507,
  storage_full: 507,
  invalid_receipt: 422,
  closed: 503,
  internal_error: 500,
} as const;

/** A stable error code. */
export type ErrorCode = keyof typeof ERROR_STATUS;

/** Any failure Tally reports on purpose. `code` is stable; `message` is for people. */
export class TallyError extends Error {
  override readonly name = 'TallyError';
  /** Stable machine-readable code. */
  readonly code: ErrorCode;
  /** HTTP status this code maps to. */
  readonly status: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.status = ERROR_STATUS[code];
  }
}

/** Shorthand for a `bad_request` error naming the offending argument. */
export function badRequest(message: string, cause?: unknown): TallyError {
  return new TallyError('bad_request', message, cause === undefined ? undefined : { cause });
}
