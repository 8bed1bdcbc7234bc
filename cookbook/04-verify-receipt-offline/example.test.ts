import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/tmpdir.js';
import { IMPORT_MAP, servePage } from './browser-page.js';
import { main } from './example.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
// .ci/run installs Debian's chromium where it can; a machine without it skips only the browser check, and says so.
const browserReady = existsSync(CHROMIUM);

/** Static import specifiers of an ES module's source (enough for these plain, unminified modules). */
function importsOf(source: string): string[] {
  return [...source.matchAll(/(?:^|[\s;}])(?:import|export)\s*(?:[\w*{}\s,$]+?\s*from\s*)?['"]([^'"]+)['"]/g)].map((m) => m[1]!);
}

/** Resolves a specifier the way the page's browser does: relative to the importer, or through the import map. */
function resolveSpecifier(spec: string, importer: URL): URL | undefined {
  if (spec.startsWith('/') || spec.startsWith('./') || spec.startsWith('../')) return new URL(spec, importer);
  const map: Record<string, string> = IMPORT_MAP.imports;
  if (map[spec] !== undefined) return new URL(map[spec]!, importer);
  const prefix = Object.keys(map).find((p) => p.endsWith('/') && spec.startsWith(p));
  return prefix === undefined ? undefined : new URL(map[prefix]! + spec.slice(prefix.length), importer);
}

describe('recipe 04: verify a receipt offline', () => {
  // One run of the example (it starts the CLI three times) serves every check below.
  let r: Awaited<ReturnType<typeof main>>;
  beforeAll(async () => {
    r = await main(tempDir());
  });

  it('accepts the receipt with `tally verify` and with verifyReceipt, the same verdict both ways', async () => {
    expect(r.cli.code).toBe(0);
    expect(r.cli.stdout).toMatch(/^ok: tenant acme seq 0 set "invoice:2026-001", proven in checkpoint of size 1, signed by tally-/);
    const cliVerdict = JSON.parse(r.cliJson.stdout) as Record<string, unknown>;
    expect(r.sdk).toMatchObject({ ok: true, tenant: 'acme', seq: 0, op: 'set', key: 'invoice:2026-001', data: { amount: 9500 }, signer: r.verifierKey });
    const { checkpoint: _c, data: _d, ...sdkFields } = r.sdk as unknown as Record<string, unknown>;
    expect(cliVerdict).toEqual(sdkFields);
  });

  it('the tempting move — trusting the key that came with a receipt — accepts an impostor; the node key refuses it (exit 1)', async () => {
    expect(r.forgedWithItsOwnKey).toMatchObject({ ok: true, tenant: 'acme', key: 'invoice:2026-001', data: { amount: 1 } });
    expect(r.forged.code).toBe(1);
    expect(r.forged.stderr).toContain('unknown_key');
  });

  it('serves the page every module of the dist/verify.js graph, bare imports resolved by the import map', async () => {
    const page = await servePage(ROOT, r.receipt, r.verifierKey);
    try {
      const seen = new Set<string>();
      const queue = [new URL('/dist/verify.js', page.url)];
      while (queue.length > 0) {
        const url = queue.pop()!;
        if (seen.has(url.href)) continue;
        seen.add(url.href);
        const res = await fetch(url);
        expect(res.status, url.pathname).toBe(200);
        expect(res.headers.get('content-type'), url.pathname).toMatch(/^text\/javascript/);
        for (const spec of importsOf(await res.text())) {
          const next = resolveSpecifier(spec, url);
          expect(next, `${url.pathname} imports "${spec}", which the import map does not resolve`).toBeDefined();
          queue.push(next!);
        }
      }
      expect([...seen].some((u) => u.includes('/node_modules/@noble/ed25519/'))).toBe(true);
      expect([...seen].some((u) => u.includes('/node_modules/cborg/'))).toBe(true);
    } finally {
      await page.close();
    }
  });

  it.skipIf(!browserReady)('verifies the receipt in a real browser page (needs /usr/bin/chromium and playwright-core)', async () => {
    const page = await servePage(ROOT, r.receipt, r.verifierKey);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    try {
      const tab = await browser.newPage();
      await tab.goto(page.url);
      await tab.waitForFunction(() => (window as unknown as { verdict?: unknown }).verdict !== undefined, undefined, { timeout: 15_000 });
      const verdict = await tab.evaluate(() => (window as unknown as { verdict: unknown }).verdict);
      expect(verdict).toEqual({ ok: true, tenant: 'acme', seq: 0, op: 'set', key: 'invoice:2026-001', data: { amount: 9500 }, tampered: 'header_hash_mismatch' });
    } finally {
      await browser.close();
      await page.close();
    }
  });
});
