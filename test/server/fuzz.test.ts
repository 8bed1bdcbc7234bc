/**
 * REST fuzz: fast-check drives a real server with arbitrary methods, paths
 * (the route table, mutated), query strings, headers and bodies — 10,000
 * requests by default (TALLY_FUZZ_REQUESTS overrides), 8 in flight — plus
 * malformed HTTP on raw sockets. Every answer is below 500, every error has
 * the one shape `{ error: { code, message } }` with the status of its code,
 * the server still answers afterwards, and rejected requests change nothing:
 * each tenant's journal grew by exactly the events acknowledged with a
 * receipt, tenants and tokens changed only by acknowledged admin requests,
 * and every journal still verifies with its projection.
 */
import { Agent, request } from 'node:http';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_STATUS } from '../../src/core/errors.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { exchange, fixedCases, nearHttp, parseResponses, randomBytes, watchConnections, type RawCase } from './fuzz-raw.js';
import { bodyBytes, requestArb, tokenId, type FuzzTokens, type ReqSpec } from './fuzz-requests.js';

/** Requests per run; CI runs the default. */
const REQUESTS = Number(process.env['TALLY_FUZZ_REQUESTS'] ?? 10_000);
const IN_FLIGHT = 8;
/** Requests per property run, sent through a pool of IN_FLIGHT (a failure shrinks to the few requests that matter). */
const PER_RUN = 64;
const BODY_LIMIT = 1024 * 1024;
/** Generated raw-socket cases, besides the hand-written ones. */
const RAW_CASES = Math.max(64, Math.round(REQUESTS / 16));

let srv: TestServer | undefined;
afterEach(async () => {
  await srv?.close();
  srv = undefined;
});

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** Set when the connection failed before a response arrived. */
  error?: string;
}

/** Resolves `$admin`-style placeholders (and `~flip`, one altered secret character) to real tokens. */
function withTokens(value: string, tokens: FuzzTokens): string {
  return value.replace(/\$(admin|write|read|other|node|revoked|decoy)(~flip)?/g, (_m, name: keyof FuzzTokens, flip?: string) => {
    const t = tokens[name];
    return flip ? t.slice(0, -1) + (t.endsWith('A') ? 'B' : 'A') : t;
  });
}

/** Sends one described request over a keep-alive agent; never rejects. `status` 0: the client refused to send it. */
function send(url: URL, agent: Agent, spec: ReqSpec, tokens: FuzzTokens): Promise<Res> {
  return new Promise((resolve) => {
    const body = spec.body ? bodyBytes(spec.body) : undefined;
    // Node's client adds no Host when headers are given as a list; add it unless the spec sets one ('$none': send none).
    const headers = spec.headers.filter(([k, v]) => k !== 'host' || v !== '$none').flatMap(([k, v]) => [k, withTokens(v, tokens)]);
    if (!spec.headers.some(([k]) => k === 'host')) headers.push('host', url.host);
    if (body) headers.push('content-length', String(body.length));
    let done = false;
    const finish = (r: Res) => {
      if (!done) resolve(r);
      done = true;
    };
    let req;
    try {
      req = request({ host: url.hostname, port: url.port, method: spec.method, path: spec.path, headers, agent });
    } catch (err) {
      return finish({ status: 0, headers: {}, body: Buffer.alloc(0), error: (err as NodeJS.ErrnoException).code ?? String(err) });
    }
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', (err: NodeJS.ErrnoException) => finish({ status: -1, headers: {}, body: Buffer.alloc(0), error: err.code ?? err.message }));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => finish({ status: res.statusCode ?? -1, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', () => finish({ status: res.statusCode ?? -1, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.end(body);
  });
}

const describeSpec = (s: ReqSpec) => `${s.method} ${s.path.slice(0, 200)} ${JSON.stringify(s.headers).slice(0, 300)} body=${s.body ? JSON.stringify(s.body).slice(0, 200) : 'none'}`;

/** The one error shape, with the status of its code and no stack trace. */
function expectErrorShape(status: number, headers: Record<string, unknown>, body: string, what: string): void {
  expect(String(headers['content-type'] ?? ''), what).toMatch(/^application\/json/);
  let parsed: unknown;
  expect(() => (parsed = JSON.parse(body)), `${what}: error body is not JSON: ${body.slice(0, 200)}`).not.toThrow();
  const e = (parsed as { error?: { code?: unknown; message?: unknown } }).error;
  expect(Object.keys(parsed as object), `${what}: ${body.slice(0, 200)}`).toEqual(['error']);
  expect(Object.keys(e ?? {}).sort(), `${what}: ${body.slice(0, 200)}`).toEqual(['code', 'message']);
  expect(Object.hasOwn(ERROR_STATUS, String(e!.code)), `${what}: unknown code ${String(e!.code)}`).toBe(true);
  expect(ERROR_STATUS[e!.code as keyof typeof ERROR_STATUS], `${what}: code ${String(e!.code)} with status ${status}`).toBe(status);
  expect(typeof e!.message === 'string' && e!.message.length > 0, what).toBe(true);
  expect(body, what).not.toMatch(/\n\s+at /);
}

/** Every receipt in a JSON response (a write's, or each of a batch's results). */
function receiptsOf(v: unknown): { journal: string; seq: number }[] {
  if (Array.isArray(v)) return v.flatMap(receiptsOf);
  if (!v || typeof v !== 'object') return [];
  const o = v as Record<string, unknown>;
  if (o['format'] === 'tally-receipt/v1') {
    const h = o['header'] as { journal: string; seq: number };
    return [{ journal: h.journal, seq: h.seq }];
  }
  return Object.values(o).flatMap(receiptsOf);
}

/** Rejected requests changed nothing: each journal grew by exactly the acknowledged events, and each still verifies with its projection. */
async function expectOnlyAcknowledgedWrites(s: TestServer, sizesBefore: Map<string, number>, acked: Map<string, Set<number>>): Promise<void> {
  for (const name of s.db.tenants()) {
    const rec = s.db.journal.tenant(name)!;
    const before = sizesBefore.get(name) ?? 0;
    const seqs = [...(acked.get(name) ?? [])].sort((x, y) => x - y);
    expect(s.db.journal.size(rec.id), `journal of ${name}: ${seqs.length} events acknowledged`).toBe(before + seqs.length);
    expect(seqs, name).toEqual(Array.from({ length: seqs.length }, (_, i) => before + i));
    expect(await s.db.tenant(name).verify({ projection: true }), name).toMatchObject({ ok: true });
  }
}

/** Journal size of every tenant. */
function journalSizes(s: TestServer): Map<string, number> {
  return new Map(s.db.tenants().map((n) => [n, s.db.journal.size(s.db.journal.tenant(n)!.id)]));
}

/** Records the receipts of a 2xx answer to a write. */
function ack(acked: Map<string, Set<number>>, json: unknown): number {
  const receipts = receiptsOf(json);
  for (const r of receipts) {
    if (!acked.has(r.journal)) acked.set(r.journal, new Set());
    acked.get(r.journal)!.add(r.seq);
  }
  return receipts.length;
}

async function fuzzServer(): Promise<{ srv: TestServer; tokens: FuzzTokens }> {
  const s = await startServer({ limits: { bodyLimit: BODY_LIMIT, rateLimit: false } });
  const admin = await s.tenant('fuzz');
  const tokens: FuzzTokens = {
    admin,
    write: await s.token('fuzz', 'write', 1),
    read: await s.token('fuzz', 'read', 0),
    other: await s.tenant('other'),
    node: (await s.tokens.create('*node*')).token,
    revoked: await s.token('fuzz', 'admin'),
    decoy: await s.token('fuzz', 'read', 1),
  };
  await s.tokens.revoke(tokens.revoked);
  // Data for reads to find: visible, hidden, above clearance, erased, deleted, a dot key, audit events.
  const t = s.db.tenant('fuzz');
  for (const k of ['a', 'ab', 'doc', 'user:alice', 'hidden', 'erased', 'gone', '.']) await t.set(k, { k, n: 1 });
  await t.set('high', { secret: true }, { v: 5 });
  await t.redact('hidden');
  await t.erase('erased', { reason: 'fuzz seed' });
  await t.delete('gone');
  await t.log('user.login', { who: 'alice' });
  await s.db.tenant('other').set('a', { other: true });
  return { srv: s, tokens };
}

describe('REST fuzz', () => {
  it(`answers ${REQUESTS} fuzzed requests below 500 with the one error shape, and rejected requests change nothing`, { timeout: 300_000 }, async () => {
    const started = Date.now();
    const f = await fuzzServer();
    srv = f.srv;
    const { db } = srv;
    const url = new URL(srv.url);
    const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });

    const tenantsBefore = new Set(db.tenants());
    const sizesBefore = journalSizes(srv);
    const tokensBefore = srv.tokens.list();

    const acked = new Map<string, Set<number>>();
    const createdTenants = new Set<string>();
    let tokensCreated = 0;
    const stats = { sent: 0, refusedByClient: 0, reset: 0, byStatus: new Map<number, number>(), writes2xx: 0 };

    const check = (spec: ReqSpec, res: Res) => {
      const what = describeSpec(spec);
      stats.sent++;
      stats.byStatus.set(res.status, (stats.byStatus.get(res.status) ?? 0) + 1);
      if (res.status === 0) return void stats.refusedByClient++;
      if (res.status === -1) {
        // The server may close the connection on a client still uploading a body beyond the limit.
        stats.reset++;
        expect(spec.body && bodyBytes(spec.body).length > BODY_LIMIT, `${what}: no response (${res.error})`).toBe(true);
        return;
      }
      expect(res.status, `${what}: ${res.body.toString('utf8', 0, 300)}`).toBeLessThan(500);
      const text = res.body.toString('utf8');
      if (res.status >= 400 && spec.method !== 'HEAD') expectErrorShape(res.status, res.headers, text, `${what} → ${res.status} ${JSON.stringify(res.headers)}`);
      if (res.status >= 200 && res.status < 300 && !['GET', 'HEAD'].includes(spec.method.toUpperCase()) && String(res.headers['content-type']).startsWith('application/json')) {
        const json = JSON.parse(text) as Record<string, unknown>;
        if (ack(acked, json) > 0) stats.writes2xx++;
        if (typeof json['token'] === 'string') tokensCreated++;
        if (typeof json['token'] === 'string' && typeof json['plan'] === 'string') createdTenants.add(String(json['tenant']));
      }
    };

    await fc.assert(
      fc.asyncProperty(fc.array(requestArb(tokenId(f.tokens.decoy)), { minLength: PER_RUN, maxLength: PER_RUN }), async (specs) => {
        const results: Res[] = [];
        let next = 0;
        const worker = async () => {
          while (next < specs.length) {
            const i = next++;
            results[i] = await send(url, agent, specs[i]!, f.tokens);
          }
        };
        await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
        specs.forEach((s, i) => check(s, results[i]!));
      }),
      { numRuns: Math.ceil(REQUESTS / PER_RUN) },
    );
    agent.destroy();

    // The server is up and still serves a well-formed write and read.
    expect((await fetch(srv.url + '/health')).status).toBe(200);
    const put = await fetch(srv.url + '/blocks/after-fuzz', { method: 'PUT', headers: { authorization: `Bearer ${f.tokens.admin}`, 'content-type': 'application/json' }, body: '{"data":{"ok":true}}' });
    expect(put.status).toBe(200);
    ack(acked, await put.json());
    expect((await fetch(srv.url + '/blocks/after-fuzz', { headers: { authorization: `Bearer ${f.tokens.admin}` } })).status).toBe(200);

    await expectOnlyAcknowledgedWrites(srv, sizesBefore, acked);
    expect(new Set(db.tenants())).toEqual(new Set([...tenantsBefore, ...createdTenants]));
    const tokensAfter = srv.tokens.list();
    expect(tokensAfter.length).toBe(tokensBefore.length + tokensCreated);
    for (const t of tokensAfter.filter((t) => t.revoked !== null && tokensBefore.find((b) => b.id === t.id)?.revoked === null)) expect(t.id).toBe(tokenId(f.tokens.decoy));

    // The run is a fuzz, not a wall of 400s: every class of answer occurs, and writes do succeed.
    expect(stats.sent).toBeGreaterThanOrEqual(REQUESTS);
    expect(stats.refusedByClient).toBeLessThan(stats.sent * 0.05);
    if (REQUESTS >= 1000) {
      for (const s of [200, 400, 401, 403, 404]) expect(stats.byStatus.get(s) ?? 0, `status ${s}`).toBeGreaterThan(0);
      expect(stats.writes2xx).toBeGreaterThan(REQUESTS / 50);
    }
    const byStatus = [...stats.byStatus].sort((x, y) => x[0] - y[0]).map(([s, n]) => `${s}:${n}`).join(' ');
    console.log(`REST fuzz: ${stats.sent} requests in ${((Date.now() - started) / 1000).toFixed(1)} s; ${stats.writes2xx} acknowledged writes (${[...acked.values()].reduce((n, s) => n + s.size, 0)} events); statuses ${byStatus}; reset ${stats.reset}`);
  });

  it('answers malformed HTTP on raw sockets below 500 with the one error shape, stays up, and writes only what it acknowledges', { timeout: 120_000 }, async () => {
    const f = await fuzzServer();
    srv = f.srv;
    const s = srv;
    const port = Number(new URL(s.url).port);
    const probe = watchConnections(s.app.server);
    const sizesBefore = journalSizes(s);
    const acked = new Map<string, Set<number>>();
    let responses = 0;

    const run = async (c: RawCase) => {
      const bytes = Buffer.from(c.bytes.toString('latin1').replaceAll('$admin', f.tokens.admin), 'latin1');
      const { data, timedOut } = await exchange(port, bytes, probe);
      const what = `${c.name}: ${JSON.stringify(bytes.toString('latin1', 0, 300))}`;
      let answers;
      try {
        answers = parseResponses(data, c.heads);
      } catch (err) {
        throw new Error(`${what}: ${(err as Error).message}`);
      }
      expect(timedOut, `${what}: the connection hung`).toBe(false);
      answers.forEach((r, i) => {
        responses++;
        expect(r.status, `${what} → ${r.body.toString('utf8', 0, 200)}`).toBeLessThan(500);
        if (c.heads?.[i]) return;
        if (r.status >= 400) expectErrorShape(r.status, r.headers, r.body.toString('utf8'), `${what} → ${r.status}`);
        else if (r.status < 300 && /json/.test(r.headers['content-type'] ?? '')) ack(acked, JSON.parse(r.body.toString('utf8')));
      });
      return answers;
    };

    for (const c of fixedCases(f.tokens)) {
      const answers = await run(c);
      if (c.name.includes('(control)')) expect(answers.map((a) => a.status), c.name).toEqual([200]);
    }
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(nearHttp, randomBytes), { minLength: 32, maxLength: 32 }), async (cases) => {
        let next = 0;
        const worker = async () => {
          while (next < cases.length) await run(cases[next++]!);
        };
        await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
      }),
      { numRuns: Math.ceil(RAW_CASES / 32) },
    );

    expect((await fetch(s.url + '/health')).status).toBe(200);
    await expectOnlyAcknowledgedWrites(s, sizesBefore, acked);
    expect(responses).toBeGreaterThan(RAW_CASES / 2);
  });
});
