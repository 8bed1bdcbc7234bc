/**
 * Recipe 10: a multi-tenant SaaS on one Tally node. Each customer is a
 * tenant (its own journal, chain, tree and checkpoints) with a plan; each
 * token is bound to one tenant with a role (read / write / admin) and a
 * clearance (the highest visibility level it may read). The app talks to the
 * server with the SDK (an application imports 'tallydb/client'), which
 * verifies every receipt it receives.
 */
import { TallyClient } from '../../src/client.js';
import { Tally, TallyError } from '../../src/index.js';
import { buildServer } from '../../src/server/app.js';
import { Tokens } from '../../src/server/tokens.js';
import { runIfMain } from '../run-main.js';

/** The error code and HTTP status of a failed call. */
const failure = (err: unknown) => (err instanceof TallyError ? { code: err.code, status: err.status } : { code: String(err), status: 0 });

export async function main(dir: string, say: (line: string) => void = () => {}) {
  const db = await Tally.open(dir);
  const app = await buildServer(db);
  await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const addr = app.server.address();
    const baseUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    const verifierKey = db.verifierKey();

    // Provisioning (the same as `tally tenant create` / `tally token create`, or POST /admin/...).
    await db.createTenant('acme', { plan: 'pro' });
    await db.createTenant('globex', { plan: 'free' });
    const tokens = new Tokens(db);
    const acmeAdmin = (await tokens.create('acme', { role: 'admin', label: 'acme backend' })).token;
    const acmeDashboard = (await tokens.create('acme', { role: 'read', clearance: 1, label: 'acme dashboard' })).token;
    const globexApp = (await tokens.create('globex', { role: 'write', clearance: 1, label: 'globex backend' })).token;
    const client = (token: string) => new TallyClient({ token, baseUrl, verifierKey });
    const acme = client(acmeAdmin);
    const dashboard = client(acmeDashboard);
    const globex = client(globexApp);

    await acme.set('customer:initech', { name: 'Initech', tier: 'gold' });
    await acme.set('payroll:2026-05', { total: 412_000 }, { v: 2 }); // level 2: above the dashboard's clearance
    await globex.set('customer:initech', { name: 'Initech (Globex account)' }); // same key, another tenant

    // Isolation: another tenant's key simply does not exist (404, as for a missing key).
    const crossTenant = await globex.get('payroll:2026-05').then(() => null, failure);
    const ownCopy = (await globex.get('customer:initech')).data;
    // Quotas and usage per tenant.
    const acmeMe = await acme.me();
    const globexMe = await globex.me();
    // A read token: its writes are forbidden (403), blocks above its clearance are not there.
    const readOnlyWrite = await dashboard.set('customer:initech', { tier: 'platinum' }).then(() => null, failure);
    const dashboardList = (await dashboard.list()).blocks.map((b) => b.key);
    const aboveClearance = await dashboard.get('payroll:2026-05').then(() => null, failure);
    say(`globex reads acme's payroll → ${JSON.stringify(crossTenant)}; its own customer:initech → ${JSON.stringify(ownCopy)}`);
    say(`me(): acme ${JSON.stringify(acmeMe)}; globex ${JSON.stringify(globexMe)}`);
    say(`dashboard (read, clearance 1): write → ${JSON.stringify(readOnlyWrite)}; list → ${dashboardList.join(', ')}; payroll → ${JSON.stringify(aboveClearance)}`);

    // The tempting move: one tenant for everyone, a key prefix per customer. A prefix is only a filter
    // the caller chooses; any token of the shared tenant lists every customer's blocks.
    await db.createTenant('shared', { plan: 'unlimited' });
    const sharedAcme = client((await tokens.create('shared', { role: 'write', clearance: 1 })).token);
    const sharedGlobex = client((await tokens.create('shared', { role: 'write', clearance: 1 })).token);
    await sharedAcme.set('acme/payroll:2026-05', { total: 412_000 });
    await sharedGlobex.set('globex/customer:initech', { name: 'Initech' });
    const leaked = (await sharedGlobex.list()).blocks.map((b) => b.key);
    say(`shared tenant, globex's token lists → ${leaked.join(', ')}`);

    return { crossTenant, ownCopy, acmeMe, globexMe, readOnlyWrite, dashboardList, aboveClearance, leaked };
  } finally {
    await app.close();
    await db.close();
  }
}

await runIfMain(import.meta.url, main);
