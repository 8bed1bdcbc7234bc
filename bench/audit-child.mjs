/**
 * Child process of bench/audit.bench.ts: audits one bundle with the built
 * library (plain node, no TypeScript loader, as `tally audit` runs) and
 * reports its own peak memory, so the figure is the auditor's alone.
 */
import { parseVerifierKey } from '../dist/core/note.js';
import { readLines } from '../dist/evidence/bundle-file.js';
import { auditFast } from '../dist/evidence/node-audit.js';

const [bundle, ...keys] = process.argv.slice(2);
const t0 = performance.now();
const r = await auditFast(readLines(bundle), keys.map(parseVerifierKey));
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ ok: r.ok, events: r.ok ? r.events : 0, seconds, maxRssMb: process.resourceUsage().maxRSS / 1024, ...(r.ok ? {} : { code: r.code }) }));
