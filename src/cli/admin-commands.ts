/**
 * `tally tenant …`, `tally token …`, `tally key …`: administration of a data
 * directory. Each works while the server runs: LMDB serialises writers
 * across processes and the server reads tenants and tokens from LMDB on
 * every request.
 */
import type { Command } from 'commander';
import { TallyError } from '../core/errors.js';
import { assertPlan } from '../store/plans.js';
import { Tally } from '../store/tally.js';
import type { Role } from '../store/tenant.js';
import { createTenantWithToken, createToken, listTenants } from '../server/tenant-admin.js';
import { Tokens } from '../server/tokens.js';
import { defaultDataDir } from './data-dir.js';
import { emit, guarded } from './output.js';

async function withDb(dir: string, fn: (db: Tally, tokens: Tokens) => Promise<void>): Promise<void> {
  const db = await Tally.open(dir);
  try {
    await fn(db, new Tokens(db));
  } finally {
    await db.close();
  }
}

/** Registers the administration commands. */
export function registerAdminCommands(program: Command): void {
  const tenant = program.command('tenant').description('manage tenants');
  tenant
    .command('create <name>')
    .description('create a tenant and its first admin token (shown once)')
    .option('--plan <plan>', 'free | pro | unlimited', 'free')
    .option('--data <dir>', 'data directory', defaultDataDir())
    .option('--json', 'print JSON')
    .action((name: string, o: { plan: string; data: string; json?: boolean }) =>
      guarded(() =>
        withDb(o.data, async (db, tokens) => {
          assertPlan(o.plan);
          const out = await createTenantWithToken(db, tokens, name, o.plan);
          emit(o.json, out, () => `created tenant ${out.tenant} (plan ${out.plan})\nadmin token (shown once): ${out.token}`);
        }),
      ),
    );
  tenant
    .command('list')
    .description('list tenants with usage')
    .option('--data <dir>', 'data directory', defaultDataDir())
    .option('--json', 'print JSON')
    .action((o: { data: string; json?: boolean }) =>
      guarded(() =>
        withDb(o.data, async (db) => {
          const list = listTenants(db);
          emit(o.json, list, () => list.map((t) => `${t.tenant}\t${t.plan}\t${t.blocks_used} blocks`).join('\n') || '(no tenants)');
        }),
      ),
    );

  const token = program.command('token').description('manage API tokens');
  token
    .command('create')
    .description('create a token bound to a tenant (shown once)')
    .requiredOption('--tenant <name>', 'tenant')
    .option('--role <role>', 'read | write | admin', 'write')
    .option('--clearance <n>', 'highest visibility level readable (default 1; every level for admin)')
    .option('--label <text>', 'a note to recognise the token by', '')
    .option('--data <dir>', 'data directory', defaultDataDir())
    .option('--json', 'print JSON')
    .action((o: { tenant: string; role: string; clearance?: string; label: string; data: string; json?: boolean }) =>
      guarded(() =>
        withDb(o.data, async (_db, tokens) => {
          if (o.clearance !== undefined && !/^\d{1,15}$/.test(o.clearance)) throw new TallyError('bad_request', '--clearance must be a non-negative integer');
          const out = await createToken(tokens, o.tenant, { role: o.role as Role, ...(o.clearance !== undefined ? { clearance: Number(o.clearance) } : {}), label: o.label });
          emit(o.json, out, () => `token ${out.id} for ${out.tenant} (${out.role}, clearance ${out.clearance}); shown once:\n${out.token}`);
        }),
      ),
    );
  token
    .command('revoke <id>')
    .description('revoke a token by id (or by the token itself)')
    .option('--data <dir>', 'data directory', defaultDataDir())
    .option('--json', 'print JSON')
    .action((id: string, o: { data: string; json?: boolean }) =>
      guarded(() =>
        withDb(o.data, async (_db, tokens) => {
          await tokens.revoke(id);
          emit(o.json, { ok: true, revoked: id }, () => `revoked ${id}`);
        }),
      ),
    );
  token
    .command('list')
    .description('list tokens (never their secrets)')
    .option('--tenant <name>', 'only this tenant')
    .option('--data <dir>', 'data directory', defaultDataDir())
    .option('--json', 'print JSON')
    .action((o: { tenant?: string; data: string; json?: boolean }) =>
      guarded(() =>
        withDb(o.data, async (_db, tokens) => {
          const list = tokens.list(o.tenant);
          emit(o.json, list, () => list.map((t) => `${t.id}\t${t.tenant}\t${t.role}\tclearance ${t.clearance}\t${t.revoked ? 'revoked' : 'active'}\t${t.label}`).join('\n') || '(no tokens)');
        }),
      ),
    );

  const key = program.command('key').description('signing keys');
  key
    .command('show')
    .description("print the node's verifier keys (oldest first; the last is active)")
    .option('--data <dir>', 'data directory', defaultDataDir())
    .option('--json', 'print JSON')
    .action((o: { data: string; json?: boolean }) =>
      guarded(() =>
        withDb(o.data, async (db) => {
          emit(o.json, { keys: db.verifierKeys(), active: db.verifierKey() }, () => db.verifierKeys().join('\n'));
        }),
      ),
    );
  key
    .command('rotate')
    .description('create a new signing key; older keys stay valid for what they signed (restart a running server to sign with it)')
    .option('--data <dir>', 'data directory', defaultDataDir())
    .option('--json', 'print JSON')
    .action((o: { data: string; json?: boolean }) =>
      guarded(() =>
        withDb(o.data, async (db) => {
          const k = db.rotateKey();
          emit(o.json, { active: k }, () => k);
        }),
      ),
    );
}
