/**
 * Audit events, tenant info and liveness: `POST/GET /events`,
 * `GET /tenants/me`, `GET /health`.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { utf8 } from '../../core/bytes.js';
import { TallyError } from '../../core/errors.js';
import { tenantOf } from '../auth.js';
import type { ServerContext } from '../context.js';

const secured = [{ bearer: [] }];

/** Registers the event, tenant and health routes. */
export function eventRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { db, tokens, limits } = ctx;

  app.post<{ Body: { kind: string; details?: unknown } }>(
    '/events',
    {
      schema: {
        summary: 'Append an immutable audit event',
        tags: ['events'],
        security: secured,
        body: Type.Object({ kind: Type.String(), details: Type.Optional(Type.Unknown()) }, { required: ['kind'] }),
      },
    },
    async (req) => {
      const t = tenantOf(db, tokens, req);
      if (utf8(req.body.kind).length > limits.maxKeyBytes) throw new TallyError('bad_request', `"kind" expected <= ${limits.maxKeyBytes} UTF-8 bytes`);
      const k = req.headers['idempotency-key'];
      return t.log(req.body.kind, req.body.details ?? {}, typeof k === 'string' ? { idempotencyKey: k } : {});
    },
  );

  app.get<{ Querystring: { since?: string; limit?: string; kind?: string; cursor?: string } }>(
    '/events',
    {
      schema: {
        summary: 'Scan the audit trail (block writes appear too), oldest first',
        tags: ['events'],
        security: secured,
        querystring: Type.Object({
          since: Type.Optional(Type.String({ description: '"1h" | "24h" | "7d" | "30d", ms, or ISO 8601' })),
          limit: Type.Optional(Type.String()),
          kind: Type.Optional(Type.String()),
          cursor: Type.Optional(Type.String()),
        }),
      },
    },
    async (req) => {
      const t = tenantOf(db, tokens, req);
      const q = req.query;
      if (q.limit !== undefined && /^\d+$/.test(q.limit) && Number(q.limit) > limits.maxListLimit) {
        throw new TallyError('bad_request', `"limit" expected <= ${limits.maxListLimit}`);
      }
      return t.events({
        ...(q.since !== undefined ? { since: q.since } : {}),
        ...(q.limit !== undefined ? { limit: q.limit as unknown as number } : {}),
        ...(q.kind !== undefined ? { kind: q.kind } : {}),
        ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
      });
    },
  );

  app.get<{ Params: { seq: string } }>(
    '/receipts/:seq',
    { schema: { summary: 'The receipt of any past event, against the latest checkpoint', tags: ['evidence'], security: secured, params: Type.Object({ seq: Type.String() }) } },
    async (req) => {
      if (!/^\d{1,16}$/.test(req.params.seq)) throw new TallyError('bad_request', '"seq" must be a non-negative integer');
      return { receipt: await tenantOf(db, tokens, req).receipt(Number(req.params.seq)) };
    },
  );

  app.get('/tenants/me', { schema: { summary: 'Your plan, blocks used and quota', tags: ['tenants'], security: secured } }, async (req) => tenantOf(db, tokens, req).me());

  app.get('/health', { schema: { summary: 'Liveness; no token required', tags: ['health'] } }, async () => ({ status: 'ok' }));
}
