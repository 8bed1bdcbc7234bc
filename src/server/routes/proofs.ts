/**
 * Evidence routes: the latest signed checkpoint, inclusion and consistency
 * proofs, and the node's verifier keys. Every proof is of the token's own
 * tenant; sizes beyond its journal are 400, never another tenant's data.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { toBase64 } from '../../core/bytes.js';
import { TallyError } from '../../core/errors.js';
import { grantOf, tenantOf } from '../auth.js';
import type { ServerContext } from '../context.js';

const secured = [{ bearer: [] }];

function int(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,16}$/.test(value)) throw new TallyError('bad_request', `"${name}" must be a non-negative integer`);
  return Number(value);
}

/** Registers the evidence routes. */
export function proofRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { db, tokens } = ctx;
  const tenantId = (name: string): number => {
    const rec = db.journal.tenant(name);
    if (!rec) throw new TallyError('not_found', 'this tenant has no events yet');
    return rec.id;
  };

  app.get('/checkpoint', { schema: { summary: 'The latest signed checkpoint (C2SP signed note), text/plain', tags: ['evidence'], security: secured } }, async (req, reply) => {
    const t = tenantOf(db, tokens, req);
    const note = await t.checkpoint();
    if (note === null) throw new TallyError('not_found', 'this tenant has no events yet');
    return reply.type('text/plain; charset=utf-8').send(note);
  });

  app.get<{ Querystring: { seq?: string; size?: string } }>(
    '/proofs/inclusion',
    {
      schema: {
        summary: 'Inclusion proof of event seq in the tree of size (default: the latest checkpoint)',
        tags: ['evidence'],
        security: secured,
        querystring: Type.Object({ seq: Type.String(), size: Type.Optional(Type.String()) }, { required: ['seq'] }),
      },
    },
    async (req) => {
      const t = tenantOf(db, tokens, req);
      const tid = tenantId(t.name);
      const seq = int(req.query.seq, 'seq')!;
      // The event's hash identifies a guessable header (a delete's key, say), so only a reader who may see it gets it.
      if (seq < db.journal.size(tid)) t.requireVisibleEvent(seq);
      const latest = db.journal.latestCheckpoint(tid);
      const size = int(req.query.size, 'size') ?? latest?.size ?? 0;
      const proof = db.journal.inclusionProof(tid, seq, size);
      return {
        seq,
        size,
        hash: toBase64(db.journal.event(tid, seq).hash),
        proof: proof.map(toBase64),
        checkpoint: db.journal.checkpointAt(tid, size) ?? null,
      };
    },
  );

  app.get<{ Querystring: { from: string; to?: string } }>(
    '/proofs/consistency',
    {
      schema: {
        summary: 'Consistency proof between two tree sizes (to defaults to the latest checkpoint)',
        tags: ['evidence'],
        security: secured,
        querystring: Type.Object({ from: Type.String(), to: Type.Optional(Type.String()) }, { required: ['from'] }),
      },
    },
    async (req) => {
      const t = tenantOf(db, tokens, req);
      const tid = tenantId(t.name);
      const from = int(req.query.from, 'from')!;
      const to = int(req.query.to, 'to') ?? db.journal.latestCheckpoint(tid)?.size ?? 0;
      const proof = db.journal.consistencyProof(tid, from, to);
      return {
        from,
        to,
        proof: proof.map(toBase64),
        fromCheckpoint: db.journal.checkpointAt(tid, from) ?? null,
        toCheckpoint: db.journal.checkpointAt(tid, to) ?? null,
      };
    },
  );

  app.get('/keys', { schema: { summary: "The node's verifier keys (oldest first) and the active one", tags: ['evidence'], security: secured } }, async (req) => {
    grantOf(tokens, req);
    return { keys: db.verifierKeys(), active: db.verifierKey() };
  });
}
