/**
 * `tallydb/client`: the browser-safe SDK for a Tally server.
 * @example
 * import { TallyClient } from 'tallydb/client';
 * const db = new TallyClient({ token, baseUrl: 'http://127.0.0.1:8080', verifierKey });
 * await db.set('user:alice@corp.com', { name: 'Alice' });
 */
export { TallyClient, type TallyClientOptions, type ClientBlock } from './client/client.js';
export { TallyError, type ErrorCode } from './core/errors.js';
export type { ReceiptJson } from './core/receipt.js';
