/**
 * tallydb: a verifiable causal key-value database.
 * @example
 * import { Tally } from 'tallydb';
 * const db = await Tally.open('./tally-data');
 * const { receipt } = await db.tenant('acme').log('user.login', { email: 'a@b.c' });
 */
export { Tally, type TallyOptions } from './store/tally.js';
export { TenantHandle, type Actor, type Role, type WriteResult, type SetResult, type Block, type EventEntry, type HistoryEntry } from './store/tenant.js';
export type { BatchOp, IfVersion } from './store/write-plan.js';
export { PLAN_QUOTAS, type Plan } from './store/plans.js';
export { TallyError, type ErrorCode } from './core/errors.js';
export { verifyReceipt } from './core/verify-receipt.js';
export type { ReceiptJson, Receipt } from './core/receipt.js';
export type { JournalVerdict } from './journal/verify-journal.js';
export { exportBundle, type ExportOptions } from './evidence/export.js';
export { auditFast } from './evidence/node-audit.js';
export { readLines, writeLines } from './evidence/bundle-file.js';
export { buildServer, type ServerOptions } from './server/app.js';
export { serve, type ServeOptions } from './server/serve.js';
export { Tokens } from './server/tokens.js';
