/**
 * Plans and their block quotas (BatenBase: free 10,000, pro 1,000,000,
 * unlimited). A quota counts live blocks; a set that would create one block
 * too many fails with `quota_exceeded` and writes nothing.
 */
import { TallyError } from '../core/errors.js';

/** Block quota of each plan; null means no limit. */
export const PLAN_QUOTAS = { free: 10_000, pro: 1_000_000, unlimited: null } as const;

/** A plan name. */
export type Plan = keyof typeof PLAN_QUOTAS;

/** True for a known plan name. */
export function isPlan(p: unknown): p is Plan {
  return typeof p === 'string' && Object.hasOwn(PLAN_QUOTAS, p);
}

/** @throws TallyError `bad_request` unless `p` is a plan name. */
export function assertPlan(p: unknown): asserts p is Plan {
  if (!isPlan(p)) throw new TallyError('bad_request', `"plan" must be one of ${Object.keys(PLAN_QUOTAS).join(', ')}, got ${JSON.stringify(p)}`);
}

/** Quota of a plan (null: unlimited). Unknown plans get the free quota, the safe side. */
export function quotaOf(plan: string): number | null {
  return isPlan(plan) ? PLAN_QUOTAS[plan] : PLAN_QUOTAS.free;
}
