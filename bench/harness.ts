/**
 * Shared bench plumbing: temp dirs, concurrent loops for a fixed time,
 * interleaved rounds so both sides of a ratio see the same machine noise,
 * and output as a table or (with --json) one JSON object on the last line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** True when the bench was run with --json. */
export const jsonOutput = process.argv.includes('--json');

/** Value of `--name N` on the command line, or the default. */
export function numberArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** A temporary directory, removed when the process exits. */
export function benchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Runs `op` from `concurrency` loops for `ms` milliseconds; each loop awaits
 * its op before the next. Returns completed operations per second.
 */
export async function throughput(concurrency: number, ms: number, op: (loop: number, i: number) => Promise<unknown>): Promise<number> {
  let done = 0;
  const start = performance.now();
  const end = start + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, loop) => {
      for (let i = 0; performance.now() < end; i++) {
        await op(loop, i);
        done++;
      }
    }),
  );
  return done / ((performance.now() - start) / 1000);
}

/** Median of a list of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Prints rows as an aligned table, or the result object as JSON on the last line. */
export function report(title: string, rows: Record<string, string | number>[], result: object): void {
  if (jsonOutput) {
    console.log(JSON.stringify(result));
    return;
  }
  console.log(`\n${title}`);
  console.table(rows);
}

/** Rounds for display. */
export function fmt(n: number, digits = 0): number {
  return Number(n.toFixed(digits));
}
