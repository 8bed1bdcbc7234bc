/**
 * Block routes: the BatenBase `/blocks` API plus history, as-of, batch,
 * redaction and erasure. Conditional requests: `ETag` is the block version;
 * `If-Match` maps to `ifVersion` and `If-None-Match: *` to create-only, and a
 * failed header precondition answers 412 `precondition_failed` (a failed
 * `ifVersion` in a body answers 409 `conflict`).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { utf8 } from '../../core/bytes.js';
import { decodeKeySegment } from '../../core/key-path.js';
import { TallyError } from '../../core/errors.js';
import type { IfVersion } from '../../store/write-plan.js';
import { tenantOf } from '../auth.js';
import type { ServerContext } from '../context.js';

const KeyParams = Type.Object({ key: Type.String({ description: 'Block key, URL-encoded UTF-8; keys ".", ".." and keys starting with "~" are sent as "~" + base64url(UTF-8 key)' }) });
const Any = Type.Unknown();
const secured = [{ bearer: [] }];

/** The If-Match / If-None-Match precondition of a request, if any. */
function precondition(req: FastifyRequest): IfVersion | undefined {
  const none = req.headers['if-none-match'];
  if (none !== undefined) {
    if (String(none).trim() === '*') return 'absent';
    throw new TallyError('bad_request', 'only "If-None-Match: *" is supported');
  }
  const match = req.headers['if-match'];
  if (match === undefined) return undefined;
  const m = /^\s*(?:W\/)?"?(\d{1,16})"?\s*$/.exec(String(match));
  if (!m) throw new TallyError('bad_request', '"If-Match" must be an ETag this server issued, e.g. "12"');
  return Number(m[1]);
}

/** Runs a write whose precondition came from headers: a conflict there is 412. */
async function withPrecondition<T>(fromHeader: boolean, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (fromHeader && err instanceof TallyError && err.code === 'conflict') throw new TallyError('precondition_failed', err.message);
    throw err;
  }
}

function idempotencyKey(req: FastifyRequest): { idempotencyKey?: string } {
  const k = req.headers['idempotency-key'];
  return typeof k === 'string' ? { idempotencyKey: k } : {};
}

/** Registers the block routes. */
export function blockRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { db, tokens, limits } = ctx;
  /** Decodes the key of a path (the `~` escape) and applies the server's key limit. */
  const pathKey = (params: { key: string }): string => {
    let key: string;
    try {
      key = decodeKeySegment(params.key);
    } catch {
      throw new TallyError('bad_request', '"key" starts with "~" but is not base64url of a UTF-8 key');
    }
    if (utf8(key).length > limits.maxKeyBytes) throw new TallyError('bad_request', `"key" expected <= ${limits.maxKeyBytes} UTF-8 bytes`);
    return key;
  };
  const checkLimit = (limit: string | undefined) => {
    if (limit !== undefined && /^\d+$/.test(limit) && Number(limit) > limits.maxListLimit) {
      throw new TallyError('bad_request', `"limit" expected <= ${limits.maxListLimit}`);
    }
    return limit === undefined ? undefined : (limit as unknown as number);
  };

  app.put<{ Params: { key: string }; Body: { data: unknown; v?: number; ifVersion?: IfVersion; validFrom?: string | number } }>(
    '/blocks/:key',
    {
      schema: {
        summary: 'Upsert a block',
        tags: ['blocks'],
        security: secured,
        params: KeyParams,
        body: Type.Object(
          {
            data: Any,
            v: Type.Optional(Type.Integer({ minimum: 0, description: 'Visibility level (default 1)' })),
            ifVersion: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Literal('absent')])),
            validFrom: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String()], { description: 'Valid time: ms or ISO 8601' })),
          },
          { required: ['data'] },
        ),
      },
    },
    async (req) => {
      const key = pathKey(req.params);
      const t = tenantOf(db, tokens, req);
      const header = precondition(req);
      const body = req.body;
      if (body === null || typeof body !== 'object' || !('data' in body)) throw new TallyError('bad_request', 'body must be {"data": ...}');
      const ifVersion = header ?? body.ifVersion;
      return withPrecondition(header !== undefined, () =>
        t.set(key, body.data, {
          ...(body.v !== undefined ? { v: body.v } : {}),
          ...(ifVersion !== undefined ? { ifVersion } : {}),
          ...(body.validFrom !== undefined ? { validFrom: body.validFrom } : {}),
          ...idempotencyKey(req),
        }),
      );
    },
  );

  app.get<{ Params: { key: string }; Querystring: { asOf?: string; validAt?: string; includeHidden?: string } }>(
    '/blocks/:key',
    {
      schema: {
        summary: 'Read one block',
        tags: ['blocks'],
        security: secured,
        params: KeyParams,
        querystring: Type.Object({
          asOf: Type.Optional(Type.String({ description: 'A seq, or an ISO 8601 time: the state as the journal knew it then' })),
          validAt: Type.Optional(Type.String({ description: 'An instant (ms or ISO 8601): the version valid then (docs/TIME.md)' })),
          includeHidden: Type.Optional(Type.String({ description: '"true" shows redacted blocks to an admin token' })),
        }),
      },
    },
    async (req, reply) => {
      const key = pathKey(req.params);
      const t = tenantOf(db, tokens, req);
      const block = await t.get(key, {
        ...(req.query.asOf !== undefined ? { asOf: req.query.asOf } : {}),
        ...(req.query.validAt !== undefined ? { validAt: req.query.validAt } : {}),
        includeHidden: req.query.includeHidden === 'true',
      });
      void reply.header('etag', `"${block.version}"`);
      return block;
    },
  );

  app.delete<{ Params: { key: string }; Querystring: { ifVersion?: string } }>(
    '/blocks/:key',
    {
      schema: {
        summary: 'Delete a block (a tombstone event; history stays)',
        tags: ['blocks'],
        security: secured,
        params: KeyParams,
        querystring: Type.Object({ ifVersion: Type.Optional(Type.String({ description: 'Expected version, or "absent"; 409 conflict when stale' })) }),
      },
    },
    async (req) => {
      const key = pathKey(req.params);
      const t = tenantOf(db, tokens, req);
      const header = precondition(req);
      const q = req.query.ifVersion;
      if (q !== undefined && !/^(\d{1,16}|absent)$/.test(q)) throw new TallyError('bad_request', '"ifVersion" must be a version number or "absent"');
      const ifVersion: IfVersion | undefined = header ?? (q === undefined ? undefined : q === 'absent' ? 'absent' : Number(q));
      return withPrecondition(header !== undefined, () => t.delete(key, { ...(ifVersion !== undefined ? { ifVersion } : {}), ...idempotencyKey(req) }));
    },
  );

  app.get<{ Querystring: { prefix?: string; limit?: string; cursor?: string; asOf?: string; validAt?: string; includeHidden?: string } }>(
    '/blocks',
    {
      schema: {
        summary: 'List blocks by prefix, in key order',
        tags: ['blocks'],
        security: secured,
        querystring: Type.Object({
          prefix: Type.Optional(Type.String()),
          limit: Type.Optional(Type.String({ description: '1..1000, default 100' })),
          cursor: Type.Optional(Type.String()),
          asOf: Type.Optional(Type.String({ description: 'A seq, or an ISO 8601 time' })),
          validAt: Type.Optional(Type.String({ description: 'An instant (ms or ISO 8601)' })),
          includeHidden: Type.Optional(Type.String()),
        }),
      },
    },
    async (req) => {
      const t = tenantOf(db, tokens, req);
      const q = req.query;
      const limit = checkLimit(q.limit);
      return t.list({
        ...(q.prefix !== undefined ? { prefix: q.prefix } : {}),
        ...(limit !== undefined ? { limit } : {}),
        ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
        ...(q.asOf !== undefined ? { asOf: q.asOf } : {}),
        ...(q.validAt !== undefined ? { validAt: q.validAt } : {}),
        includeHidden: q.includeHidden === 'true',
      });
    },
  );

  app.get<{ Params: { key: string }; Querystring: { limit?: string; cursor?: string } }>(
    '/blocks/:key/history',
    {
      schema: {
        summary: 'Every version of a block, newest first, each with its receipt',
        tags: ['blocks'],
        security: secured,
        params: KeyParams,
        querystring: Type.Object({ limit: Type.Optional(Type.String()), cursor: Type.Optional(Type.String()) }),
      },
    },
    async (req) => {
      const key = pathKey(req.params);
      const t = tenantOf(db, tokens, req);
      const limit = checkLimit(req.query.limit);
      return t.history(key, { ...(limit !== undefined ? { limit } : {}), ...(req.query.cursor !== undefined ? { cursor: req.query.cursor } : {}) });
    },
  );

  for (const op of ['redact', 'unredact'] as const) {
    app.post<{ Params: { key: string } }>(
      `/blocks/:key/${op}`,
      { schema: { summary: op === 'redact' ? 'Hide a block from ordinary reads (admin)' : 'Clear the hidden flag (admin)', tags: ['blocks'], security: secured, params: KeyParams } },
      async (req) => {
        const key = pathKey(req.params);
        const t = tenantOf(db, tokens, req);
        return op === 'redact' ? t.redact(key, idempotencyKey(req)) : t.unredact(key, idempotencyKey(req));
      },
    );
  }

  app.post<{ Params: { key: string }; Body: { reason: string } }>(
    '/blocks/:key/erase',
    {
      schema: {
        summary: 'Erase every payload of a block (right to be forgotten); proofs stay valid (admin)',
        tags: ['blocks'],
        security: secured,
        params: KeyParams,
        body: Type.Object({ reason: Type.String({ minLength: 1, maxLength: 1024 }) }),
      },
    },
    async (req) => {
      const key = pathKey(req.params);
      const t = tenantOf(db, tokens, req);
      return t.erase(key, { reason: req.body.reason, ...idempotencyKey(req) });
    },
  );

  app.post<{ Body: { ops: unknown[] } }>(
    '/batch',
    {
      schema: {
        summary: 'Append several ops atomically with contiguous seqs',
        tags: ['blocks'],
        security: secured,
        body: Type.Object({ ops: Type.Array(Type.Unknown(), { minItems: 1, maxItems: 1000 }) }),
      },
    },
    async (req) => {
      const t = tenantOf(db, tokens, req);
      return t.batch(req.body.ops as never, idempotencyKey(req));
    },
  );
}
