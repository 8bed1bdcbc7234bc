import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The invariants gate: every ID in INVARIANTS.md names a witness test that exists.
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const rows = readFileSync(join(root, 'INVARIANTS.md'), 'utf8')
  .split('\n')
  .filter((l) => l.startsWith('| INV-'))
  .map((l) => {
    const cells = l.split('|').map((c) => c.trim());
    const witness = /^`([^`]+)` › (.+)$/.exec(cells[3] ?? '');
    return { id: cells[1]!, statement: cells[2]!, file: witness?.[1], test: witness?.[2] };
  });

describe('INVARIANTS.md', () => {
  it('lists invariants with unique IDs', () => {
    expect(rows.length).toBeGreaterThan(10);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
  });

  for (const r of rows) {
    it(`${r.id} has a witness test that exists`, () => {
      expect(r.file, `${r.id} names no witness`).toBeTruthy();
      const path = join(root, r.file!);
      expect(existsSync(path), `${r.file} is gone`).toBe(true);
      const source = readFileSync(path, 'utf8');
      expect(source.includes(r.test!), `${r.file} has no test "${r.test}"`).toBe(true);
    });
  }

  it('knows every invariant a source line claims to justify', () => {
    const ids = new Set(rows.map((r) => r.id));
    const claims: string[] = [];
    for (const f of readdirSync(join(root, 'src'), { recursive: true }) as string[]) {
      if (!f.endsWith('.ts')) continue;
      for (const m of readFileSync(join(root, 'src', f), 'utf8').matchAll(/justifies: (INV-[A-Z0-9-]+)/g)) claims.push(`${f}: ${m[1]}`);
    }
    expect(claims.length).toBeGreaterThan(0);
    for (const c of claims) expect(ids.has(c.split(': ')[1]!), c).toBe(true);
  });
});
