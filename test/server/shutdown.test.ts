/**
 * Graceful shutdown of the real `tally serve` process: SIGTERM while writes
 * are in flight finishes them, makes every acknowledged write durable and
 * exits 0. Restarts on the same directory create nothing new, and the
 * request logs carry neither token secrets nor data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { verifyReceipt } from '../../src/core/verify-receipt.js';
import { Tokens } from '../../src/server/tokens.js';
import { Tally } from '../../src/store/tally.js';
import { tempDir } from '../helpers/tmpdir.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(root, 'dist/cli/main.js');

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`);
});

/** A `tally serve` child process with its output so far. */
interface Served {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  url: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Starts `tally serve --data dir --port 0` and waits for its "serving" line (not necessarily the first line: pino logs "Server listening" first). */
async function startServe(dir: string, extra: string[] = []): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', '--data', dir, '--port', '0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TALLY_DATA: '', PORT: '', HOST: '' } });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const url = await waitFor(() => /^tally: serving .* on (http:\/\/127\.0\.0\.1:\d+) /m.exec(out)?.[1], () => `no "serving" line; stdout: ${out}\nstderr: ${err}`, exit);
  return { child, out: () => out, err: () => err, url, exit };
}

/** Polls `get` until it returns a value; fails early when the process exits. */
async function waitFor<T>(get: () => T | undefined, why: () => string, exit: Promise<unknown>, ms = 15_000): Promise<T> {
  let exited = false;
  void exit.then(() => (exited = true));
  const until = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (exited || Date.now() > until) throw new Error(why());
    await new Promise((r) => setTimeout(r, 20));
  }
}

const TOKEN_RE = /tly_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/;

interface Answer {
  status: number;
  body: { receipt?: unknown; version?: number; error?: { code: string } };
}

/** A PUT on a connection of its own (`Connection: close`); status 0 when the connection failed. */
function putOwnConnection(url: string, path: string, token: string, body: string): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request(url + path, { method: 'PUT', agent: false, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => {
        let json: Answer['body'] = {};
        try {
          json = JSON.parse(text) as Answer['body'];
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, body: json });
      });
      res.on('error', () => resolve({ status: 0, body: {} }));
    });
    req.on('error', () => resolve({ status: 0, body: {} }));
    req.end(body);
  });
}

/** Starts a fresh server and returns it with its dev and node admin tokens, once start-up is complete. */
async function startFresh(dir: string, extra: string[] = []): Promise<Served & { devToken: string; nodeToken: string }> {
  const s = await startServe(dir, extra);
  const devToken = await waitFor(() => new RegExp(`created tenant "dev"; its admin token \\(shown once\\): (${TOKEN_RE.source})`).exec(s.out())?.[1], () => `no dev token; stdout: ${s.out()}`, s.exit);
  const nodeToken = await waitFor(() => new RegExp(`node admin token \\(shown once\\): (${TOKEN_RE.source})`).exec(s.out())?.[1], () => `no node token; stdout: ${s.out()}`, s.exit);
  // Signal handlers are installed after the last start-up line.
  await waitFor(() => (/^try: /m.test(s.out()) ? true : undefined), () => `no "try:" line; stdout: ${s.out()}`, s.exit);
  return { ...s, devToken, nodeToken };
}

const key = (i: number) => `MARK-dev-key-${i}`;
const dataOf = (i: number) => ({ secret: `MARK-dev-data-${i}`, i });

/** Fires n concurrent writes and sends SIGTERM as soon as the first answer arrives, while the rest are in flight. */
async function writesInterruptedBySigterm(s: Served, n: number, put: (i: number) => Promise<Answer>): Promise<(Answer & { i: number })[]> {
  let first!: () => void;
  const firstAnswer = new Promise<void>((r) => (first = r));
  const writes = Array.from({ length: n }, (_, i) =>
    put(i).then((a) => {
      first();
      return { ...a, i };
    }),
  );
  await firstAnswer;
  s.child.kill('SIGTERM');
  return Promise.all(writes);
}

/** Reopens the directory: every acknowledged write is there and its receipt verifies; the journal verifies. */
async function expectDurable(dir: string, results: (Answer & { i: number })[]): Promise<void> {
  const acked = results.filter((r) => r.status === 200);
  expect(acked.length).toBeGreaterThan(0);
  const db = await Tally.open(dir);
  try {
    const keys = db.verifierKeys();
    const t = db.tenant('dev');
    for (const r of acked) {
      const block = await t.get(key(r.i));
      expect(block.data).toEqual(dataOf(r.i));
      expect(block.version).toBe(r.body.version);
      const verdict = verifyReceipt(r.body.receipt, keys);
      expect(verdict.ok, JSON.stringify(verdict)).toBe(true);
      if (verdict.ok) {
        expect(verdict.tenant).toBe('dev');
        expect(verdict.key).toBe(key(r.i));
        expect(verdict.data).toEqual(dataOf(r.i));
      }
    }
    expect((await t.me()).blocks_used).toBeGreaterThanOrEqual(acked.length);
    const verdict = await t.verify({ projection: true });
    expect(verdict.ok, JSON.stringify(verdict)).toBe(true);
  } finally {
    await db.close();
  }
}

/** The exit of a process, or 'still running' after ms. */
function exitWithin(s: Served, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | 'still running'> {
  return Promise.race([s.exit, new Promise<'still running'>((r) => setTimeout(() => r('still running'), ms))]);
}

describe('tally serve shutdown', () => {
  it('finishes in-flight writes on SIGTERM, exits 0, and every acknowledged write is durable with a valid receipt', { timeout: 30_000 }, async () => {
    const dir = tempDir('tally-shutdown-');
    const s = await startFresh(dir);
    const { devToken, nodeToken } = s;
    expect((await putOwnConnection(s.url, '/blocks/warm-up', devToken, '{"data": 0}')).status).toBe(200);
    // A failing request whose key and body hold markers, so the error path's logging is covered too.
    expect((await putOwnConnection(s.url, '/blocks/MARK-dev-badkey', devToken, '{"data": "MARK-dev-badbody"')).status).toBe(400);

    const results = await writesInterruptedBySigterm(s, 50, (i) => putOwnConnection(s.url, `/blocks/${key(i)}`, devToken, JSON.stringify({ data: dataOf(i) })));
    const exit = await exitWithin(s, 15_000);
    expect(exit, `stdout: ${s.out()}\nstderr: ${s.err()}`).toEqual({ code: 0, signal: null });
    expect(s.out()).toMatch(/^tally: SIGTERM received, shutting down$/m);
    // Anything not acknowledged was refused (503) or cut off by the closing server, never answered with an internal error.
    for (const r of results) expect([200, 503, 0], JSON.stringify(r)).toContain(r.status);
    await expectDurable(dir, results);

    // Logs: one JSON line per request with the route pattern; never a token secret, a key or data.
    const logs = [...s.out().split('\n'), ...s.err().split('\n')].filter((l) => l.trim() !== '');
    const banner = (l: string) => l.startsWith('tally: ') || l.startsWith('try: ');
    const requestLines = logs.filter((l) => !banner(l));
    expect(requestLines.some((l) => l.includes('"route":"/blocks/:key"'))).toBe(true);
    for (const l of requestLines) {
      expect(l).not.toMatch(TOKEN_RE);
      expect(l).not.toContain(/^tly_[0-9a-f]{16}_(.+)$/.exec(devToken)![1]);
      expect(l).not.toContain(/^tly_[0-9a-f]{16}_(.+)$/.exec(nodeToken)![1]);
      expect(l).not.toContain('MARK-');
    }
    // The banner shows each token once (the dev token also in the curl hint), and never any data.
    for (const l of logs.filter(banner)) expect(l).not.toContain('MARK-');
    expect(s.out().split(devToken).length - 1).toBe(2);
    expect(s.out().split(nodeToken).length - 1).toBe(1);
  });

  it('exits within 10 s of SIGTERM when the client of an in-flight write keeps its connection alive', { timeout: 30_000 }, async () => {
    const dir = tempDir('tally-shutdown-ka-');
    const s = await startFresh(dir, ['--quiet']);
    // A write whose body is still arriving when SIGTERM lands, on a keep-alive connection that the client keeps open afterwards.
    const agent = new Agent({ keepAlive: true });
    const body = JSON.stringify({ data: dataOf(0) });
    let sent!: () => void;
    const headersSent = new Promise<void>((r) => (sent = r));
    const answer = new Promise<Answer>((resolve) => {
      const req = request(`${s.url}/blocks/${key(0)}`, { method: 'PUT', agent, headers: { authorization: `Bearer ${s.devToken}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Answer['body'] }));
      });
      req.on('error', () => resolve({ status: 0, body: {} }));
      req.write(body.slice(0, 5), () => sent());
      void headersSent.then(async () => {
        await new Promise((r) => setTimeout(r, 200));
        s.child.kill('SIGTERM');
        await waitFor(() => (/SIGTERM received/.test(s.out()) ? true : undefined), () => s.out(), s.exit);
        req.end(body.slice(5));
      });
    });
    try {
      const a = await answer;
      // The in-flight write is finished and acknowledged.
      expect(a.status).toBe(200);
      const exit = await exitWithin(s, 10_000);
      if (exit === 'still running') s.child.kill('SIGKILL');
      await s.exit;
      await expectDurable(dir, [{ ...a, i: 0 }]);
      expect(exit, 'the server was still running 10 s after SIGTERM, waiting for an idle keep-alive connection').toEqual({ code: 0, signal: null });
    } finally {
      agent.destroy();
    }
  });

  it('creates no second dev tenant and prints no new token when restarted on the same data directory', { timeout: 30_000 }, async () => {
    const dir = tempDir('tally-restart-');
    const first = await startFresh(dir, ['--quiet']);
    const { devToken } = first;
    // With --quiet the real URL is on the first stdout line.
    expect(first.out().split('\n')[0]).toMatch(/^tally: serving .* on http:\/\/127\.0\.0\.1:\d+ /);
    first.child.kill('SIGTERM');
    expect(await exitWithin(first, 10_000)).toEqual({ code: 0, signal: null });

    const second = await startServe(dir);
    // The first start's token still works on the second.
    const me = await fetch(`${second.url}/tenants/me`, { headers: { authorization: `Bearer ${devToken}`, connection: 'close' } });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { tenant: string }).tenant).toBe('dev');
    // Nothing is left to create, so the signal handlers follow the "serving" line at once; give them a moment anyway.
    await new Promise((r) => setTimeout(r, 300));
    second.child.kill('SIGTERM');
    expect(await exitWithin(second, 10_000), second.out() + second.err()).toEqual({ code: 0, signal: null });
    expect(second.out()).not.toMatch(TOKEN_RE);
    expect(second.out()).not.toContain('created tenant');
    expect(second.out()).not.toContain('shown once');

    const db = await Tally.open(dir);
    try {
      expect(db.tenants()).toEqual(['dev']);
      const tokens = new Tokens(db).list();
      expect(tokens.filter((t) => t.tenant === 'dev')).toHaveLength(1);
      expect(tokens.filter((t) => t.tenant === '*node*')).toHaveLength(1);
    } finally {
      await db.close();
    }
  });
});
