#!/usr/bin/env node
/**
 * `npm run test:crash` runs the crash test (test/crash) with 30 SIGKILL
 * cycles; `npm run test:crash -- --full` with 300. TALLY_CRASH_CYCLES, when
 * set, wins over both. Other arguments go to vitest.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const full = args.includes('--full');
const env = { ...process.env };
if (full && !env.TALLY_CRASH_CYCLES) env.TALLY_CRASH_CYCLES = '300';

const vitest = join(root, 'node_modules/vitest/vitest.mjs');
const child = spawn(process.execPath, [vitest, 'run', 'test/crash', ...args.filter((a) => a !== '--full')], { cwd: root, env, stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
