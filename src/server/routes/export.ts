/**
 * `GET /export?from=&to=`: the evidence bundle of the token's tenant,
 * streamed as it is read (constant memory, see evidence/export.ts).
 */
import { Readable } from 'node:stream';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { TallyError } from '../../core/errors.js';
import { MAX_VISIBILITY } from '../../core/event.js';
import { exportBundle } from '../../evidence/export.js';
import { tenantOf } from '../auth.js';
import type { ServerContext } from '../context.js';

/** Registers the export route. */
export function exportRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get<{ Querystring: { from?: string; to?: string } }>(
    '/export',
    {
      schema: {
        summary: 'Evidence bundle (tally-bundle/v1, JSON Lines) of a range, streamed; admin token',
        tags: ['evidence'],
        security: [{ bearer: [] }],
        querystring: Type.Object({ from: Type.Optional(Type.String({ description: 'seq or ISO time' })), to: Type.Optional(Type.String({ description: 'seq (exclusive) or ISO time' })) }),
      },
    },
    async (req, reply) => {
      const t = tenantOf(ctx.db, ctx.tokens, req);
      // justifies: INV-ADMIN-CLEARANCE
      if (t.who.role !== 'admin' || t.who.clearance < MAX_VISIBILITY) {
        throw new TallyError('forbidden', 'export needs an admin token with full clearance: a bundle holds every event and payload of the tenant');
      }
      if (!ctx.db.journal.tenant(t.name)) throw new TallyError('not_found', 'this tenant has no events yet');
      const q = req.query;
      const num = (v: string | undefined) => (v !== undefined && /^\d{1,16}$/.test(v) ? Number(v) : v);
      const lines = exportBundle(ctx.db, t.name, { from: num(q.from), to: num(q.to) });
      // Pull the first line before answering, so range errors become a proper error response.
      const first = await lines.next();
      const body = Readable.from(
        (async function* () {
          if (!first.done) yield first.value;
          yield* lines;
        })(),
      );
      return reply.type('application/x-ndjson; charset=utf-8').header('content-disposition', `attachment; filename="${t.name}.tally-bundle.jsonl"`).send(body);
    },
  );
}
