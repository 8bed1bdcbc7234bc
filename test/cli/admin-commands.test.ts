/**
 * `tally tenant|token|key …` as a real process on a data directory — also
 * while a server built in this process serves the same directory, where a
 * token the CLI creates works at once and a token it revokes is refused at
 * once.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { verifyReceipt } from '../../src/core/verify-receipt.js';
import { buildServer } from '../../src/server/app.js';
import { Tally } from '../../src/store/tally.js';
import { tempDir } from '../helpers/tmpdir.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(root, 'dist/cli/main.js');
const TOKEN_RE = /^tly_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/;

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`);
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI; never rejects. TALLY_DATA is cleared unless given. */
function tally(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? root, env: { ...process.env, TALLY_DATA: '', ...opts.env }, encoding: 'utf8', timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the CLI with `--json` and parses stdout; the command must succeed. */
async function json<T = any>(args: string[], opts?: { env?: Record<string, string>; cwd?: string }): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = await tally([...args, '--json'], opts);
  expect(r.code, `tally ${args.join(' ')}: ${r.stderr}`).toBe(0);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as T;
}

/** A failure: the exit code, and one line on stderr with the error code and no stack trace. */
function expectUsageError(r: Run, code: string): void {
  expect(r.code, r.stdout + r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr.endsWith('\n')).toBe(true);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(new RegExp(`^tally: ${code}: `));
  expect(r.stderr).not.toContain('    at ');
}

/** A server built in this process on the same data directory the CLI uses. */
interface Live {
  db: Tally;
  app: FastifyInstance;
  url: string;
  call(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  close(): Promise<void>;
}

let live: Live | undefined;
afterEach(async () => {
  await live?.close();
  live = undefined;
});

async function serveInProcess(dir: string): Promise<Live> {
  const db = await Tally.open(dir);
  const app = await buildServer(db, { limits: { rateLimit: false } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  let closed = false;
  return {
    db,
    app,
    url,
    async call(method, path, token, body) {
      const res = await fetch(url + path, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, json: await res.json() };
    },
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await db.close();
    },
  };
}

describe('tally tenant', () => {
  it('creates a tenant with its first admin token and prints it as JSON', async () => {
    const dir = tempDir('tally-cli-');
    const out = await json(['tenant', 'create', 'acme', '--plan', 'pro', '--data', dir]);
    expect(Object.keys(out).sort()).toEqual(['plan', 'tenant', 'token']);
    expect(out).toMatchObject({ tenant: 'acme', plan: 'pro' });
    expect(out.token).toMatch(TOKEN_RE);

    const list = await json(['tenant', 'list', '--data', dir]);
    expect(list).toEqual([{ tenant: 'acme', plan: 'pro', created: expect.any(Number), blocks_used: 0 }]);
  });

  it('defaults the plan to free', async () => {
    const dir = tempDir('tally-cli-');
    expect(await json(['tenant', 'create', 'acme', '--data', dir])).toMatchObject({ tenant: 'acme', plan: 'free' });
  });

  it('refuses an existing tenant with exit code 2 and a one-line error', async () => {
    const dir = tempDir('tally-cli-');
    await json(['tenant', 'create', 'acme', '--plan', 'pro', '--data', dir]);
    expectUsageError(await tally(['tenant', 'create', 'acme', '--data', dir]), 'conflict');
    expectUsageError(await tally(['tenant', 'create', 'acme', '--data', dir, '--json']), 'conflict');
    // The first tenant is untouched.
    expect(await json(['tenant', 'list', '--data', dir])).toEqual([expect.objectContaining({ tenant: 'acme', plan: 'pro' })]);
  });

  it('refuses an unknown plan or an invalid tenant name with exit code 2 and creates nothing', async () => {
    const dir = tempDir('tally-cli-');
    expectUsageError(await tally(['tenant', 'create', 'acme', '--plan', 'gold', '--data', dir]), 'bad_request');
    expectUsageError(await tally(['tenant', 'create', 'Not Valid!', '--data', dir]), 'bad_request');
    expect(await json(['tenant', 'list', '--data', dir])).toEqual([]);
    const human = await tally(['tenant', 'list', '--data', dir]);
    expect(human).toMatchObject({ code: 0, stdout: '(no tenants)\n' });
  });

  it('lists tenants with their usage', async () => {
    const dir = tempDir('tally-cli-');
    await json(['tenant', 'create', 'acme', '--plan', 'pro', '--data', dir]);
    await json(['tenant', 'create', 'globex', '--data', dir]);
    const db = await Tally.open(dir);
    try {
      await db.tenant('globex').batch([
        { op: 'set', key: 'a', data: 1 },
        { op: 'set', key: 'b', data: 2 },
      ]);
    } finally {
      await db.close();
    }
    const list = await json<{ tenant: string; plan: string; blocks_used: number }[]>(['tenant', 'list', '--data', dir]);
    expect(list.map(({ tenant, plan, blocks_used }) => ({ tenant, plan, blocks_used }))).toEqual([
      { tenant: 'acme', plan: 'pro', blocks_used: 0 },
      { tenant: 'globex', plan: 'free', blocks_used: 2 },
    ]);
  });
});

describe('tally token and tally key while the server runs', () => {
  it('creates a token the running server accepts at once, with its role and clearance', async () => {
    const dir = tempDir('tally-cli-');
    const { token: admin } = await json(['tenant', 'create', 'acme', '--plan', 'pro', '--data', dir]);
    live = await serveInProcess(dir);
    expect((await live.call('PUT', '/blocks/level3', admin, { data: 'three', v: 3 })).status).toBe(200);
    expect((await live.call('PUT', '/blocks/level4', admin, { data: 'four', v: 4 })).status).toBe(200);

    const created = await json(['token', 'create', '--tenant', 'acme', '--role', 'read', '--clearance', '3', '--label', 'reporting', '--data', dir]);
    expect(created).toMatchObject({ tenant: 'acme', role: 'read', clearance: 3, label: 'reporting', revoked: null });
    expect(created.token).toMatch(TOKEN_RE);
    expect(created.token).toContain(`tly_${created.id}_`);
    expect(created).not.toHaveProperty('hash');

    const me = await live.call('GET', '/tenants/me', created.token);
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ tenant: 'acme', plan: 'pro', blocks_used: 2 });
    expect((await live.call('GET', '/blocks/level3', created.token)).json).toMatchObject({ data: 'three', v: 3 });
    expect((await live.call('GET', '/blocks/level4', created.token)).json.error.code).toBe('not_found');
    expect((await live.call('PUT', '/blocks/x', created.token, { data: 1 })).json.error.code).toBe('forbidden');

    // A tenant created by the CLI while the server runs is usable at once too.
    const globex = await json(['tenant', 'create', 'globex', '--data', dir]);
    const put = await live.call('PUT', '/blocks/level3', globex.token, { data: 'globex' });
    expect(put.status).toBe(200);
    expect((await live.call('GET', '/tenants/me', globex.token)).json).toMatchObject({ tenant: 'globex', blocks_used: 1 });
    expect((await live.call('GET', '/blocks/level3', created.token)).json.data).toBe('three');
  });

  it('defaults a new token to the write role and clearance 1', async () => {
    const dir = tempDir('tally-cli-');
    await json(['tenant', 'create', 'acme', '--data', dir]);
    expect(await json(['token', 'create', '--tenant', 'acme', '--data', dir])).toMatchObject({ role: 'write', clearance: 1, label: '' });
  });

  it('refuses a token for an unknown tenant, a bad role or a bad clearance with exit code 2', async () => {
    const dir = tempDir('tally-cli-');
    await json(['tenant', 'create', 'acme', '--data', dir]);
    expectUsageError(await tally(['token', 'create', '--tenant', 'nope', '--data', dir]), 'not_found');
    expectUsageError(await tally(['token', 'create', '--tenant', 'acme', '--role', 'owner', '--data', dir]), 'bad_request');
    expectUsageError(await tally(['token', 'create', '--tenant', 'acme', '--clearance', '-1', '--data', dir]), 'bad_request');
    expectUsageError(await tally(['token', 'create', '--tenant', 'acme', '--clearance', 'high', '--data', dir]), 'bad_request');
    expectUsageError(await tally(['token', 'revoke', '0123456789abcdef', '--data', dir]), 'not_found');
    // Only the first admin token exists.
    expect(await json(['token', 'list', '--data', dir])).toHaveLength(1);
  });

  it('revokes a token so the running server refuses it at once', async () => {
    const dir = tempDir('tally-cli-');
    const { token: admin } = await json(['tenant', 'create', 'acme', '--data', dir]);
    const writer = await json(['token', 'create', '--tenant', 'acme', '--role', 'write', '--data', dir]);
    const other = await json(['token', 'create', '--tenant', 'acme', '--role', 'read', '--data', dir]);
    live = await serveInProcess(dir);
    expect((await live.call('PUT', '/blocks/k', writer.token, { data: 1 })).status).toBe(200);

    expect(await json(['token', 'revoke', writer.id, '--data', dir])).toEqual({ ok: true, revoked: writer.id });
    for (const [method, path, body] of [
      ['GET', '/tenants/me'],
      ['PUT', '/blocks/k', { data: 2 }],
      ['GET', '/blocks/k'],
      ['GET', '/keys'],
    ] as const) {
      const r = await live.call(method, path, writer.token, body);
      expect(r.status, `${method} ${path}`).toBe(401);
      expect(r.json.error.code).toBe('unauthorized');
    }
    // Revoking by the token itself works as well, and revoking twice is harmless.
    expect((await tally(['token', 'revoke', other.token, '--data', dir])).code).toBe(0);
    expect((await live.call('GET', '/tenants/me', other.token)).status).toBe(401);
    expect((await tally(['token', 'revoke', writer.id, '--data', dir])).code).toBe(0);
    // Other tokens keep working, and the write made before revocation stays.
    expect((await live.call('GET', '/blocks/k', admin)).json.data).toBe(1);
  });

  it('lists tokens without secrets or hashes', async () => {
    const dir = tempDir('tally-cli-');
    const acme = await json(['tenant', 'create', 'acme', '--data', dir]);
    const globex = await json(['tenant', 'create', 'globex', '--data', dir]);
    const reader = await json(['token', 'create', '--tenant', 'acme', '--role', 'read', '--label', 'reports', '--data', dir]);
    await json(['token', 'revoke', reader.id, '--data', dir]);

    for (const args of [['token', 'list', '--data', dir, '--json'], ['token', 'list', '--data', dir]]) {
      const r = await tally(args);
      expect(r.code).toBe(0);
      expect(r.stdout).not.toContain('tly_');
      for (const secret of [acme.token, globex.token, reader.token]) expect(r.stdout).not.toContain(/^tly_[0-9a-f]{16}_(.+)$/.exec(secret)![1]); // the secret may itself hold '_'
      expect(r.stdout).not.toMatch(/hash/i);
    }
    const all = await json<Record<string, unknown>[]>(['token', 'list', '--data', dir]);
    expect(all).toHaveLength(3);
    for (const t of all) {
      expect(Object.keys(t).sort()).toEqual(['clearance', 'created', 'id', 'label', 'revoked', 'role', 'tenant']);
    }
    expect(all.find((t) => t['id'] === reader.id)).toMatchObject({ tenant: 'acme', role: 'read', label: 'reports', revoked: expect.any(Number) });
    const onlyGlobex = await json<Record<string, unknown>[]>(['token', 'list', '--tenant', 'globex', '--data', dir]);
    expect(onlyGlobex).toEqual([expect.objectContaining({ tenant: 'globex', role: 'admin', revoked: null })]);
  });

  it('shows the verifier keys and rotates to a new one; receipts signed before stay valid with all keys', async () => {
    const dir = tempDir('tally-cli-');
    const { token: admin } = await json(['tenant', 'create', 'acme', '--data', dir]);
    live = await serveInProcess(dir);
    const before = await json<{ keys: string[]; active: string }>(['key', 'show', '--data', dir]);
    expect(before).toEqual({ keys: [live.db.verifierKey()], active: live.db.verifierKey() });
    const human = await tally(['key', 'show', '--data', dir]);
    expect(human.stdout).toBe(before.keys.join('\n') + '\n');

    const old = await live.call('PUT', '/blocks/doc', admin, { data: { n: 1 } });
    expect(old.status).toBe(200);
    expect(verifyReceipt(old.json.receipt, before.keys).ok).toBe(true);

    const rotated = await json<{ active: string }>(['key', 'rotate', '--data', dir]);
    expect(rotated.active).not.toBe(before.active);
    const after = await json<{ keys: string[]; active: string }>(['key', 'show', '--data', dir]);
    expect(after).toEqual({ keys: [before.active, rotated.active], active: rotated.active });
    // The node name stays: only the key id and public key change.
    expect(rotated.active.split('+')[0]).toBe(before.active.split('+')[0]);

    // The old receipt verifies with every key the node ever used, and not with the new key alone.
    const verdict = verifyReceipt(old.json.receipt, after.keys);
    expect(verdict.ok).toBe(true);
    if (verdict.ok) expect(verdict.signer).toBe(before.active);
    expect(verifyReceipt(old.json.receipt, [rotated.active])).toMatchObject({ ok: false, code: 'unknown_key' });

    // After a restart the server signs with the new key; both receipts verify with all keys.
    await live.close();
    live = await serveInProcess(dir);
    expect(live.db.verifierKey()).toBe(rotated.active);
    const fresh = await live.call('PUT', '/blocks/doc', admin, { data: { n: 2 } });
    const v2 = verifyReceipt(fresh.json.receipt, after.keys);
    expect(v2.ok).toBe(true);
    if (v2.ok) expect(v2.signer).toBe(rotated.active);
    expect(verifyReceipt(old.json.receipt, live.db.verifierKeys()).ok).toBe(true);
    const history = await live.call('GET', '/blocks/doc/history', admin);
    for (const ver of history.json.versions) expect(verifyReceipt(ver.receipt, after.keys).ok).toBe(true);
    expect((await live.call('GET', '/keys', admin)).json).toEqual({ keys: after.keys, active: rotated.active });
  });
});

describe('TALLY_DATA', () => {
  it('names the data directory when --data is absent', async () => {
    const dir = tempDir('tally-cli-env-');
    const cwd = tempDir('tally-cli-cwd-');
    const env = { TALLY_DATA: dir };
    const created = await json(['tenant', 'create', 'envco', '--plan', 'unlimited'], { env, cwd });
    expect(created).toMatchObject({ tenant: 'envco', plan: 'unlimited' });
    expect(await json(['tenant', 'list'], { env, cwd })).toEqual([expect.objectContaining({ tenant: 'envco' })]);
    const tok = await json(['token', 'create', '--tenant', 'envco'], { env, cwd });
    expect((await json<{ id: string }[]>(['token', 'list'], { env, cwd })).map((t) => t.id)).toContain(tok.id);
    expect((await json(['key', 'show'], { env, cwd })).keys).toHaveLength(1);
    // It went to TALLY_DATA, not to the default ./tally-data of the working directory.
    expect(readdirSync(cwd)).toEqual([]);
    expect(await json(['tenant', 'list', '--data', dir], { cwd })).toEqual([expect.objectContaining({ tenant: 'envco' })]);
  });

  it('yields to --data', async () => {
    const envDir = tempDir('tally-cli-env-');
    const flagDir = tempDir('tally-cli-flag-');
    await json(['tenant', 'create', 'flagco', '--data', flagDir], { env: { TALLY_DATA: envDir } });
    expect(await json(['tenant', 'list', '--data', flagDir])).toEqual([expect.objectContaining({ tenant: 'flagco' })]);
    expect(await json(['tenant', 'list', '--data', envDir])).toEqual([]);
  });
});
