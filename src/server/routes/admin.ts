/**
 * The node admin API, guarded by the node admin token: the same tenant and
 * token operations as the CLI.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Plan } from '../../store/plans.js';
import type { Role } from '../../store/tenant.js';
import type { ServerContext } from '../context.js';
import { createTenantWithToken, createToken, listTenants } from '../tenant-admin.js';

const secured = [{ bearer: [] }];
const Plans = Type.Union([Type.Literal('free'), Type.Literal('pro'), Type.Literal('unlimited')]);
const Roles = Type.Union([Type.Literal('read'), Type.Literal('write'), Type.Literal('admin')]);

/** Registers the admin routes. */
export function adminRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { db, tokens } = ctx;
  // The app's onRequest hook requires the node admin token on every /admin route (server/app.ts).

  app.post<{ Body: { name: string; plan?: Plan } }>(
    '/admin/tenants',
    { schema: { summary: 'Create a tenant and its first admin token', tags: ['admin'], security: secured, body: Type.Object({ name: Type.String(), plan: Type.Optional(Plans) }) } },
    async (req, reply) => {
      const out = await createTenantWithToken(db, tokens, req.body.name, req.body.plan ?? 'free');
      return reply.status(201).send(out);
    },
  );

  app.get('/admin/tenants', { schema: { summary: 'List tenants with usage', tags: ['admin'], security: secured } }, async () => ({ tenants: listTenants(db) }));

  app.post<{ Body: { tenant: string; role?: Role; clearance?: number; label?: string } }>(
    '/admin/tokens',
    {
      schema: {
        summary: 'Create a token bound to a tenant (shown once)',
        tags: ['admin'],
        security: secured,
        body: Type.Object({ tenant: Type.String(), role: Type.Optional(Roles), clearance: Type.Optional(Type.Integer({ minimum: 0 })), label: Type.Optional(Type.String({ maxLength: 200 })) }),
      },
    },
    async (req, reply) => {
      const { tenant, ...opts } = req.body;
      return reply.status(201).send(await createToken(tokens, tenant, opts));
    },
  );

  app.get<{ Querystring: { tenant?: string } }>(
    '/admin/tokens',
    { schema: { summary: 'List tokens (no secrets)', tags: ['admin'], security: secured, querystring: Type.Object({ tenant: Type.Optional(Type.String()) }) } },
    async (req) => ({ tokens: tokens.list(req.query.tenant) }),
  );

  app.delete<{ Params: { id: string } }>(
    '/admin/tokens/:id',
    { schema: { summary: 'Revoke a token', tags: ['admin'], security: secured, params: Type.Object({ id: Type.String() }) } },
    async (req) => {
      await tokens.revoke(req.params.id);
      return { ok: true };
    },
  );
}
