/**
 * One error shape for every failure: `{ "error": { "code", "message" } }`
 * with the status of the code. Unknown errors become 500 `internal_error`,
 * logged with the request id, never with a stack trace in the response.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_STATUS, TallyError, type ErrorCode } from '../core/errors.js';

/** The JSON body of an error response. */
export function errorBody(code: ErrorCode, message: string): { error: { code: ErrorCode; message: string } } {
  return { error: { code, message } };
}

/** Maps any thrown value to a stable code and a safe message. */
export function classify(err: unknown): { code: ErrorCode; message: string } {
  if (err instanceof TallyError) return { code: err.code, message: err.message };
  const e = err as Partial<FastifyError> & { statusCode?: number; error?: { code?: string; message?: string } };
  if (e?.statusCode === 429) return { code: 'rate_limited', message: e.error?.message ?? 'too many requests' };
  if (e?.validation) return { code: 'bad_request', message: e.message ?? 'invalid request' };
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'payload_too_large', message: 'request body is larger than the configured limit' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { code: 'bad_request', message: e.message ?? 'invalid body' };
    // The router's own errors (fastify answers them with its own shape and a 414 unless told otherwise).
    case 'FST_ERR_BAD_URL':
      return { code: 'bad_request', message: 'the URL is not valid percent-encoded UTF-8' };
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return { code: 'bad_request', message: 'a path segment is longer than any key this server accepts' };
  }
  if (e?.statusCode === 400) return { code: 'bad_request', message: e.message ?? 'invalid request' };
  if (e?.statusCode === 413) return { code: 'payload_too_large', message: 'request body is larger than the configured limit' };
  if (e?.statusCode === 415) return { code: 'bad_request', message: e.message ?? 'unsupported media type' };
  return { code: 'internal_error', message: 'internal error' };
}

/** Fastify error handler. */
export function handleError(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
  const { code, message } = classify(err);
  if (code === 'internal_error') req.log.error({ err }, 'internal error');
  void reply.status(ERROR_STATUS[code]).type('application/json').send(errorBody(code, code === 'internal_error' ? `internal error (request ${req.id})` : message));
}
