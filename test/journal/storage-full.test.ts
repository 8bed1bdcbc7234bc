/**
 * A full disk: a small tmpfs holds the data directory beside a filler file.
 * Writes go on until the file system is full; the failing write is refused
 * with `storage_full` (507 over HTTP), everything acknowledged before stays
 * intact and verifiable, and once the filler is removed writes succeed
 * again, also after a reopen.
 *
 * Mounting needs root (CI and the dev machine run as root); elsewhere the
 * test is skipped and says why.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TallyError } from '../../src/core/errors.js';
import { buildServer } from '../../src/server/app.js';
import { Tokens } from '../../src/server/tokens.js';
import { Tally } from '../../src/store/tally.js';

const mountPoint = mkdtempSync(join(tmpdir(), 'tally-full-'));
let mounted = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mountPoint], { stdio: 'ignore' });
  mounted = true;
} catch {
  // Not root or no mount: the skip below reports it.
}

afterAll(() => {
  if (mounted) execFileSync('umount', [mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

describe.skipIf(!mounted)('a full disk (8 MiB tmpfs)', () => {
  const dataDir = join(mountPoint, 'data');
  const filler = join(mountPoint, 'filler');
  beforeAll(() => {
    mkdirSync(dataDir);
    writeFileSync(filler, new Uint8Array(3 * 1024 * 1024));
  });

  it('refuses the write that does not fit with storage_full, keeps every acknowledged one, and writes again once space is freed', async () => {
    const db = await Tally.open(dataDir);
    const t = db.tenant('acme');
    const big = 'x'.repeat(20_000);
    const acked: { key: string; version: number; i: number }[] = [];
    let failure: unknown;
    for (let i = 0; i < 10_000; i++) {
      try {
        const r = await t.set(`k${i}`, { big, i });
        acked.push({ key: `k${i}`, version: r.version, i });
      } catch (err) {
        failure = err;
        break;
      }
    }
    expect(acked.length).toBeGreaterThan(10);
    expect(failure).toBeInstanceOf(TallyError);
    expect((failure as TallyError).code).toBe('storage_full');
    expect((failure as TallyError).status).toBe(507);

    // Over HTTP the same refusal is a 507 with the stable error shape.
    const app = await buildServer(db, { limits: { rateLimit: false } });
    const token = (await new Tokens(db).create('acme', { role: 'admin' })).token;
    const put = (key: string, data: unknown) =>
      app.inject({ method: 'PUT', url: `/blocks/${key}`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: JSON.stringify({ data }) });
    let res = await put('http-big', { big: 'y'.repeat(500_000) });
    for (let i = 0; res.statusCode === 200 && i < 20; i++) res = await put(`http-big-${i}`, { big: 'y'.repeat(500_000) });
    expect(res.statusCode).toBe(507);
    expect(res.json()).toMatchObject({ error: { code: 'storage_full' } });

    // Nothing acknowledged was damaged.
    for (const a of acked) expect((await t.get(a.key)).data).toEqual({ big, i: a.i });
    expect(await t.verify({ projection: true })).toMatchObject({ ok: true });

    // Space freed: writes succeed again, and everything survives a reopen.
    rmSync(filler);
    const after = await t.set('after', { ok: true });
    expect((await put('http-after', { ok: true })).statusCode).toBe(200);
    await app.close();
    await db.close();

    const again = await Tally.open(dataDir);
    const t2 = again.tenant('acme');
    for (const a of acked) expect((await t2.get(a.key)).version).toBe(a.version);
    expect((await t2.get('after')).version).toBe(after.version);
    expect(await t2.verify({ projection: true })).toMatchObject({ ok: true });
    await again.close();
  });
});
