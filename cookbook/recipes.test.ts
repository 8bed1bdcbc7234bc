/**
 * Keeps the cookbook's text honest: every recipe folder is in the index,
 * has its three files, shows its example.ts verbatim, and names its test.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const recipes = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && /^\d\d-/.test(d.name))
  .map((d) => d.name);
const index = readFileSync(join(here, 'README.md'), 'utf8');

describe('the cookbook', () => {
  it('has the ten recipes, each linked from the index', () => {
    expect(recipes).toHaveLength(10);
    for (const r of recipes) expect(index, r).toContain(`](${r}/README.md)`);
  });

  for (const r of recipes) {
    it(`${r}: shows its example verbatim and names its test`, () => {
      for (const f of ['README.md', 'example.ts', 'example.test.ts']) expect(existsSync(join(here, r, f)), `${r}/${f}`).toBe(true);
      const readme = readFileSync(join(here, r, 'README.md'), 'utf8');
      const example = readFileSync(join(here, r, 'example.ts'), 'utf8');
      expect(readme.includes('```ts\n' + example + '```\n'), `${r}/README.md does not inline the current example.ts`).toBe(true);
      expect(readme).toContain(`cookbook/${r}/example.test.ts`);
      for (const heading of ['## The problem', '## The API that solves it', '## The example', '## The tempting move', '## The test that proves it']) {
        expect(readme, `${r}: ${heading}`).toContain(heading);
      }
    });
  }

  it('names only invariant IDs that INVARIANTS.md defines', () => {
    const ids = new Set([...readFileSync(join(here, '..', 'INVARIANTS.md'), 'utf8').matchAll(/^\| (INV-[A-Z0-9-]+) \|/gm)].map((m) => m[1]));
    for (const r of recipes) {
      for (const m of readFileSync(join(here, r, 'README.md'), 'utf8').matchAll(/INV-[A-Z0-9-]+/g)) expect(ids.has(m[0]), `${r} names ${m[0]}`).toBe(true);
    }
  });
});
