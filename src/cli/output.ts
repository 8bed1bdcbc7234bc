/**
 * CLI output and exit codes: 0 success, 1 a verification that failed,
 * 2 unusable input or a usage error. Errors are one plain sentence on
 * stderr, never a stack trace.
 */
import { TallyError } from '../core/errors.js';

/** Prints `value` as JSON or through `human`. */
export function emit(json: boolean | undefined, value: unknown, human: () => string): void {
  process.stdout.write((json ? JSON.stringify(value, null, 2) : human()) + '\n');
}

/** Runs a command body, turning any failure into a sentence and exit code 2. */
export async function guarded(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    const msg = err instanceof TallyError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    process.stderr.write(`tally: ${msg}\n`);
    process.exitCode = 2;
  }
}
