/**
 * Tenant and token administration shared by the CLI and the admin HTTP
 * API, so both do exactly the same thing.
 */
import type { Plan } from '../store/plans.js';
import type { Tally } from '../store/tally.js';
import type { Role } from '../store/tenant.js';
import type { TokenInfo, Tokens } from './tokens.js';

/** A tenant as listed. */
export interface TenantSummary {
  tenant: string;
  plan: string;
  created: number;
  blocks_used: number;
}

/** Creates a tenant and its first admin token (shown once). */
export async function createTenantWithToken(db: Tally, tokens: Tokens, name: string, plan: Plan = 'free'): Promise<{ tenant: string; plan: string; token: string }> {
  await db.createTenant(name, { plan });
  const { token } = await tokens.create(name, { role: 'admin', label: 'first admin token' });
  return { tenant: name, plan, token };
}

/** Creates a token for a tenant. */
export async function createToken(tokens: Tokens, tenant: string, opts: { role?: Role; clearance?: number; label?: string }): Promise<{ token: string } & TokenInfo> {
  const { token, info } = await tokens.create(tenant, opts);
  return { token, ...info };
}

/** Every tenant with its usage. */
export function listTenants(db: Tally): TenantSummary[] {
  return db.tenants().map((name) => {
    const rec = db.journal.tenant(name)!;
    return { tenant: name, plan: rec.plan, created: rec.created, blocks_used: db.projection.count(rec.id) };
  });
}
