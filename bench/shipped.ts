/**
 * What the benches run of Tally: its compiled build in `dist/`, the code
 * `npm start` serves and importers of the package load, rather than the
 * TypeScript sources through tsx. tsx's transform wraps every function
 * created at run time in a naming helper (esbuild's `keepNames`), which
 * showed up in profiles of Tally's reads and appends and is not in what
 * ships. The bench scripts build first.
 */
export { encodeData } from '../dist/core/codec.js';
export { writeLines } from '../dist/evidence/bundle-file.js';
export { exportBundle } from '../dist/evidence/export.js';
export { verifyJournal } from '../dist/journal/verify-journal.js';
export { buildServer } from '../dist/server/app.js';
export { Tokens } from '../dist/server/tokens.js';
export { Tally } from '../dist/store/tally.js';
export type { Block, TenantHandle } from '../dist/index.js';
