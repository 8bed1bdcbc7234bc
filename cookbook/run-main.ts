/**
 * Lets a recipe's example.ts run on its own (`npx tsx cookbook/<recipe>/example.ts`):
 * when the file is the process's entry point, its `main` runs on a fresh
 * temporary directory, prints what it shows, and the directory is removed.
 * Under vitest the file is imported, not executed, so nothing happens here.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** A recipe's entry point: does the work in `dir`, narrating through `say`. */
export type RecipeMain = (dir: string, say: (line: string) => void) => Promise<unknown>;

/** Runs `main` when `moduleUrl` (the caller's `import.meta.url`) is the script node was started with. */
export async function runIfMain(moduleUrl: string, main: RecipeMain): Promise<void> {
  const entry = process.argv[1];
  if (entry === undefined || pathToFileURL(entry).href !== moduleUrl) return;
  const dir = mkdtempSync(join(tmpdir(), 'tally-cookbook-'));
  try {
    await main(dir, (line) => console.log(line));
  } catch (err) {
    console.error(err);
    process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
