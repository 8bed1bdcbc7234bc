/**
 * src/core (and src/client, when present) must run in a browser: no Node
 * built-ins, no LMDB. Every .ts file there, and every file they reach
 * through relative imports, is parsed with the TypeScript compiler and its
 * runtime imports are checked.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SCANNED = ['src/core', 'src/client'];

/** Packages that are Node-only even though they are not built-ins. */
const NODE_ONLY_PACKAGES = new Set(['lmdb', 'msgpackr-extract', 'node-gyp-build', 'node-gyp-build-optional-packages']);
const BUILTINS = new Set(builtinModules.map((m) => m.replace(/^node:/, '')));

function listTs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTs(p));
    else if (/\.(c|m)?ts$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Module specifiers a file loads at run time (type-only imports and exports are erased, so skipped). */
function runtimeImportsOf(source: string, fileName = 'x.ts'): string[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const specs: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      if (!node.importClause?.isTypeOnly) specs.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      if (!node.isTypeOnly) specs.push(node.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const e = node.moduleReference.expression;
      if (ts.isStringLiteral(e)) specs.push(e.text);
    } else if (ts.isCallExpression(node) && node.arguments.length > 0) {
      const arg = node.arguments[0]!;
      const isImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      if (isImport || isRequire) specs.push(ts.isStringLiteralLike(arg) ? arg.text : '<dynamic expression>');
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return specs;
}

function runtimeImports(file: string): string[] {
  return runtimeImportsOf(readFileSync(file, 'utf8'), file);
}

/** Why `spec` is not browser-safe, or undefined when it is. */
function problem(spec: string): string | undefined {
  if (spec === '<dynamic expression>') return 'a dynamic import/require that cannot be checked';
  if (spec.startsWith('node:')) return 'a node: built-in';
  if (spec.startsWith('.') || spec.startsWith('/')) return undefined;
  const parts = spec.split('/');
  const pkg = spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  if (BUILTINS.has(pkg) || BUILTINS.has(spec)) return 'a Node built-in';
  if (NODE_ONLY_PACKAGES.has(pkg)) return 'a Node-only package';
  return undefined;
}

/** Resolves a relative specifier written as './x.js' to the .ts file it means. */
function resolveRelative(from: string, spec: string): string | undefined {
  const base = resolve(dirname(from), spec);
  const candidates = [base, base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`, join(base, 'index.ts')];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile() && /\.(c|m)?ts$/.test(c));
}

describe('browser-safe modules', () => {
  const roots = SCANNED.flatMap((d) => listTs(join(ROOT, d)));

  it('finds the core modules to scan', () => {
    expect(roots.some((f) => f.endsWith(join('src', 'core', 'merkle.ts')))).toBe(true);
  });

  it('has no src/core or src/client file (or a file they import) that loads a Node built-in or lmdb', () => {
    const offences: string[] = [];
    const seen = new Set<string>();
    const queue = [...roots];
    while (queue.length > 0) {
      const file = queue.shift()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const spec of runtimeImports(file)) {
        const why = problem(spec);
        if (why) offences.push(`${relative(ROOT, file)} imports '${spec}' (${why})`);
        if (spec.startsWith('.')) {
          const target = resolveRelative(file, spec);
          if (target) queue.push(target);
          else offences.push(`${relative(ROOT, file)} imports '${spec}', which does not resolve to a .ts file`);
        }
      }
    }
    expect(offences, offences.join('\n')).toEqual([]);
    expect(seen.size).toBeGreaterThanOrEqual(roots.length);
  });

  it('sees every runtime import form and classifies Node-only modules', () => {
    const src = [
      `import { readFileSync } from 'fs';`,
      `import type { X } from 'node:os';`,
      `import { type Y } from './y.js';`,
      `export * from 'lmdb';`,
      `export type { Z } from 'node:path';`,
      `import 'node:process';`,
      `const c = await import('node:crypto');`,
      `const cp = require('child_process');`,
      `const d = await import(name);`,
    ].join('\n');
    expect(runtimeImportsOf(src)).toEqual(['fs', './y.js', 'lmdb', 'node:process', 'node:crypto', 'child_process', '<dynamic expression>']);
    for (const s of ['fs', 'node:fs', 'path', 'crypto', 'os', 'child_process', 'fs/promises', 'worker_threads', 'lmdb']) {
      expect(problem(s), s).toBeDefined();
    }
    for (const s of ['cborg', '@noble/hashes/sha2.js', '@noble/ed25519', './bytes.js']) {
      expect(problem(s), s).toBeUndefined();
    }
  });
});
