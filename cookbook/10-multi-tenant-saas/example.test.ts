import { describe, expect, it } from 'vitest';
import { PLAN_QUOTAS } from '../../src/index.js';
import { tempDir } from '../../test/helpers/tmpdir.js';
import { main } from './example.js';

describe('recipe 10: a multi-tenant SaaS over HTTP', () => {
  it('keeps tenants apart, reports plan and quota, and holds tokens to their role and clearance', async () => {
    const r = await main(tempDir());
    expect(r.crossTenant).toEqual({ code: 'not_found', status: 404 });
    expect(r.ownCopy).toEqual({ name: 'Initech (Globex account)' });
    expect(r.acmeMe).toEqual({ tenant: 'acme', plan: 'pro', blocks_used: 2, quota: PLAN_QUOTAS.pro });
    expect(r.globexMe).toEqual({ tenant: 'globex', plan: 'free', blocks_used: 1, quota: PLAN_QUOTAS.free });
    expect(r.readOnlyWrite).toEqual({ code: 'forbidden', status: 403 });
    expect(r.dashboardList).toEqual(['customer:initech']);
    expect(r.aboveClearance).toEqual({ code: 'not_found', status: 404 });
  });

  it('the tempting move — one shared tenant with a key prefix per customer — lets any token see every customer', async () => {
    const r = await main(tempDir());
    expect(r.leaked).toEqual(['acme/payroll:2026-05', 'globex/customer:initech']);
  });
});
