/**
 * The claims of docs/SECURITY.md that no other test covers: tokens at rest
 * and their exact checking, least privilege by default, the node admin
 * token's separation from tenant data, request logs without secrets, every
 * input limit with its stable code, rate limits per token, path tricks, and
 * what an operator who rewrites history or a thief of the signing key can
 * and cannot do. The last block holds the regression tests of the gaps a
 * review found (docs/SECURITY.md, GAP-1..7), each fixed.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../../src/core/bytes.js';
import { parseCheckpoint } from '../../src/core/checkpoint.js';
import { encodeHeader, type EventHeader } from '../../src/core/event.js';
import { blake3Tree, eventHash } from '../../src/core/hash.js';
import { verifyConsistency, verifyInclusion } from '../../src/core/merkle.js';
import { parseNote, parseVerifierKey, verifyNote } from '../../src/core/note.js';
import { verifyReceipt } from '../../src/core/verify-receipt.js';
import { exportBundle } from '../../src/evidence/export.js';
import { auditFast } from '../../src/evidence/node-audit.js';
import { NODE_ADMIN, Tokens } from '../../src/server/tokens.js';
import { Tally } from '../../src/store/tally.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmpdir.js';

let srv: TestServer | undefined;
const opened: Tally[] = [];
afterEach(async () => {
  await srv?.close();
  srv = undefined;
  for (const db of opened.splice(0)) await db.close();
});

interface Res {
  status: number;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
  headers: Headers;
}

async function call(s: TestServer, method: string, path: string, token?: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res> {
  const res = await fetch(s.url + path, {
    method,
    headers: { ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, headers: res.headers };
}

const tokenParts = (token: string) => {
  const m = /^tly_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(token);
  if (!m) throw new Error(`not a token: ${token}`);
  return { id: m[1]!, secret: m[2]! };
};

/** Every file under a directory, recursively. */
function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).map((f) => join(dir, f)).filter((p) => statSync(p).isFile());
}

/** The lines of an export stream without their newlines, as the auditor takes them. */
async function* lines(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  for await (const c of chunks) for (const l of c.split('\n')) if (l !== '') yield l;
}

async function open(dir: string, opts: Parameters<typeof Tally.open>[1] = {}): Promise<Tally> {
  const db = await Tally.open(dir, opts);
  opened.push(db);
  return db;
}

describe('tokens', () => {
  it('stores only the SHA-256 of a token: no file of the data directory holds the secret, and the stored hash is not a usable token', async () => {
    srv = await startServer();
    const token = await srv.tenant('acme');
    const { id, secret } = tokenParts(token);
    const rec = srv.db.journal.storage.openDB<Record<string, unknown>, string>('tokens', 'msgpack').get(id)!;
    expect(Object.keys(rec).sort()).toEqual(['clearance', 'created', 'hash', 'id', 'label', 'revoked', 'role', 'tenant']);
    const hash = Buffer.from(rec['hash'] as Uint8Array);
    expect(hash).toEqual(createHash('sha256').update(token).digest());
    for (const [k, v] of Object.entries(rec)) if (typeof v === 'string') expect(v, k).not.toContain(secret);

    // The record is on disk (the positive control), the secret is not: neither as text nor as its bytes.
    const files = filesUnder(srv.db.journal.dir);
    const bytes = files.map((f) => readFileSync(f));
    expect(bytes.some((b) => b.includes(hash)), 'the token hash should be found on disk').toBe(true);
    for (const [i, b] of bytes.entries()) {
      expect(b.includes(Buffer.from(secret, 'latin1')), files[i]).toBe(false);
      expect(b.includes(Buffer.from(secret, 'base64url')), files[i]).toBe(false);
    }

    // Someone who copied the database has the hash: as a secret (it has exactly the secret's length) it is refused.
    const fromLeak = `tly_${id}_${hash.toString('base64url')}`;
    expect(fromLeak).toMatch(/^tly_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect((await call(srv, 'GET', '/tenants/me', fromLeak)).status).toBe(401);
    expect((await call(srv, 'GET', '/tenants/me', token)).status).toBe(200);
  });

  it('accepts a token only with its exact secret: a wrong secret of equal length, or another live token’s secret, is 401 like an unknown token', async () => {
    srv = await startServer();
    const a = await srv.tenant('acme');
    const b = await srv.token('acme', 'admin');
    const { id, secret } = tokenParts(a);
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    const wrong = [
      `tly_${id}_${flip(secret, 0)}`,
      `tly_${id}_${flip(secret, 21)}`,
      `tly_${id}_${flip(secret, 42)}`,
      `tly_${id}_${'A'.repeat(43)}`,
      `tly_${id}_${tokenParts(b).secret}`, // A's id with B's secret
      `tly_${tokenParts(b).id}_${secret}`, // B's id with A's secret
      `tly_${id}_${secret}x`,
      `tly_${id}_${secret.slice(0, 42)}`,
      `tly_${id.toUpperCase()}_${secret}`,
    ];
    const unknown = await call(srv, 'GET', '/tenants/me', `tly_0000000000000000_${'A'.repeat(43)}`);
    expect(unknown.status).toBe(401);
    for (const t of wrong) {
      const r = await call(srv, 'GET', '/tenants/me', t);
      expect({ status: r.status, body: r.json }, t).toEqual({ status: 401, body: unknown.json });
    }
    for (const h of [`Basic ${a}`, `Bearer ${a} ${b}`, `Bearer`, a]) {
      const r = await call(srv, 'GET', '/tenants/me', undefined, undefined, { authorization: h });
      expect(r.status, h).toBe(401);
    }
    expect((await call(srv, 'GET', '/tenants/me', a)).status).toBe(200);
    expect((await call(srv, 'GET', '/tenants/me', b)).status).toBe(200);
  });

  it('gives a token made over the admin API least privilege by default (role write, clearance 1), and a tenant admin token every level', async () => {
    srv = await startServer();
    const admin = await srv.tenant('acme');
    const node = (await srv.tokens.create(NODE_ADMIN)).token;
    const made = await call(srv, 'POST', '/admin/tokens', node, { tenant: 'acme' });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({ tenant: 'acme', role: 'write', clearance: 1, revoked: null });
    expect(made.json).not.toHaveProperty('hash');
    const t = made.json.token as string;
    expect((await call(srv, 'PUT', '/blocks/secret', admin, { data: { s: 1 }, v: 2 })).status).toBe(200);
    expect((await call(srv, 'PUT', '/blocks/plain', admin, { data: { p: 1 } })).status).toBe(200);
    expect((await call(srv, 'GET', '/blocks/secret', t)).status).toBe(404);
    expect((await call(srv, 'GET', '/blocks/plain', t)).status).toBe(200);
    expect((await call(srv, 'GET', '/blocks', t)).json.blocks.map((x: { key: string }) => x.key)).toEqual(['plain']);
    expect((await call(srv, 'PUT', '/blocks/mine', t, { data: 1 })).status).toBe(200);
    for (const [m, p, body] of [
      ['POST', '/blocks/plain/redact', undefined],
      ['POST', '/blocks/plain/erase', { reason: 'r' }],
      ['GET', '/export', undefined],
    ] as const) {
      expect((await call(srv, m, p, t, body)).json?.error?.code, `${m} ${p}`).toBe('forbidden');
    }
    // The tenant's admin token sees every level.
    expect((await call(srv, 'GET', '/blocks/secret', admin)).status).toBe(200);
    const big = await call(srv, 'PUT', '/blocks/top', admin, { data: 1, v: 2 ** 31 - 1 });
    expect(big.status).toBe(200);
    expect((await call(srv, 'GET', '/blocks/top', admin)).status).toBe(200);
  });

  it('keeps the node admin token out of every tenant route and every tenant token out of the admin API', async () => {
    srv = await startServer();
    const admin = await srv.tenant('acme');
    expect((await call(srv, 'PUT', '/blocks/k', admin, { data: 1 })).status).toBe(200);
    const node = (await srv.tokens.create(NODE_ADMIN)).token;
    const tenantRoutes: [string, string, unknown?][] = [
      ['PUT', '/blocks/k', { data: 2 }],
      ['GET', '/blocks/k'],
      ['DELETE', '/blocks/k'],
      ['GET', '/blocks'],
      ['GET', '/blocks/k/history'],
      ['POST', '/blocks/k/redact'],
      ['POST', '/blocks/k/unredact'],
      ['POST', '/blocks/k/erase', { reason: 'r' }],
      ['POST', '/batch', { ops: [{ op: 'set', key: 'k', data: 3 }] }],
      ['POST', '/events', { kind: 'x' }],
      ['GET', '/events'],
      ['GET', '/receipts/0'],
      ['GET', '/tenants/me'],
      ['GET', '/checkpoint'],
      ['GET', '/proofs/inclusion?seq=0'],
      ['GET', '/proofs/consistency?from=1'],
      ['GET', '/export'],
    ];
    for (const [m, p, body] of tenantRoutes) {
      const r = await call(srv, m, p, node, body);
      expect({ status: r.status, code: r.json?.error?.code }, `${m} ${p}`).toEqual({ status: 403, code: 'forbidden' });
      expect(r.text, `${m} ${p}`).not.toContain('acme');
    }
    const adminRoutes: [string, string, unknown?][] = [
      ['GET', '/admin/tenants'],
      ['POST', '/admin/tenants', { name: 'evil' }],
      ['GET', '/admin/tokens'],
      ['POST', '/admin/tokens', { tenant: 'acme', role: 'admin' }],
      ['DELETE', `/admin/tokens/${tokenParts(node).id}`],
    ];
    for (const [m, p, body] of adminRoutes) {
      const r = await call(srv, m, p, admin, body);
      expect({ status: r.status, code: r.json?.error?.code }, `${m} ${p}`).toEqual({ status: 403, code: 'forbidden' });
    }
    // Nothing those requests tried happened.
    expect(srv.db.tenants()).toEqual(['acme']);
    expect(srv.tokens.list().filter((x) => x.revoked !== null)).toEqual([]);
    expect(srv.db.journal.size(srv.db.journal.tenant('acme')!.id)).toBe(1);
    expect((await call(srv, 'GET', '/admin/tenants', node)).status).toBe(200);
  });
});

describe('logs', () => {
  it('logs one line per request with the route pattern, and never a token, a key, a query, a header or data — also for refusals and internal errors', async () => {
    const lines: string[] = [];
    srv = await startServer({
      logger: { level: 'info', stream: { write: (s: string) => void lines.push(s) } },
      plugins: [
        (app) =>
          app.get('/boom', async () => {
            throw new Error('internal failure');
          }),
      ],
    });
    const token = await srv.tenant('acme');
    const { secret } = tokenParts(token);
    const requests: [string, string, string | undefined, unknown?, Record<string, string>?][] = [
      ['PUT', '/blocks/MARK-key-1', token, { data: { v: 'MARK-data-1' } }, { 'idempotency-key': 'MARK-idem-1' }],
      ['GET', '/blocks/MARK-key-1?asOf=0', token],
      ['GET', '/blocks/MARK-missing', token],
      ['GET', '/blocks?prefix=MARK-prefix', token],
      ['PUT', '/blocks/MARK-key-2', token, '{"data": "MARK-broken-json'],
      ['PUT', '/blocks/MARK-key-3', `tly_${tokenParts(token).id}_${'M'.repeat(43)}`, { data: 'MARK-data-3' }],
      ['GET', '/boom?q=MARK-query', token],
      ['GET', '/no/MARK-route', token],
    ];
    for (const [m, p, t, body, headers] of requests) await call(srv, m, p, t, body, { 'x-custom': 'MARK-header', ...headers });
    // The request line is written after the answer is sent: wait for all of them.
    for (let i = 0; i < 100 && lines.filter((l) => l.includes('"msg":"request"')).length < requests.length; i++) await new Promise((r) => setTimeout(r, 20));
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const requestLines = records.filter((r) => r['msg'] === 'request');
    expect(requestLines).toHaveLength(requests.length);
    expect(requestLines.map((r) => r['route'])).toContain('/blocks/:key');
    expect(requestLines.map((r) => r['status']).sort()).toEqual([200, 200, 200, 400, 401, 404, 404, 500].sort());
    expect(records.some((r) => r['msg'] === 'internal error' && typeof r['reqId'] === 'string')).toBe(true);
    // Every line carries its request id once (the request logger binds it; a second copy made duplicate JSON keys).
    for (const l of lines.filter((x) => x.includes('"msg":"request"') || x.includes('"msg":"internal error"'))) expect(l.match(/"reqId"/g)).toHaveLength(1);
    for (const l of lines) {
      expect(l).not.toContain(secret);
      expect(l).not.toMatch(/tly_[0-9a-f]{16}_/);
      expect(l).not.toContain('MARK-');
      expect(l.toLowerCase()).not.toContain('bearer');
    }
  });
});

describe('input limits', () => {
  it('answers every input limit with its stable code and writes nothing', { timeout: 60_000 }, async () => {
    srv = await startServer();
    const admin = await srv.tenant('acme');
    const node = (await srv.tokens.create(NODE_ADMIN)).token;
    expect((await call(srv, 'PUT', '/blocks/k', admin, { data: 1 })).status).toBe(200);
    const tid = srv.db.journal.tenant('acme')!.id;
    const size = () => srv!.db.journal.size(tid);
    const before = { size: size(), tokens: srv.tokens.list().length, tenants: srv.db.tenants() };

    const MiB = 1024 * 1024;
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const cases: [string, Promise<Res>, number, string][] = [
      ['body over 2 MiB', call(srv, 'PUT', '/blocks/big', admin, JSON.stringify({ data: 'x'.repeat(2 * MiB) })), 413, 'payload_too_large'],
      ['payload over 1 MiB', call(srv, 'PUT', '/blocks/big', admin, { data: 'x'.repeat(MiB) }), 413, 'payload_too_large'],
      ['log details over 1 MiB', call(srv, 'POST', '/events', admin, { kind: 'k', details: 'x'.repeat(MiB) }), 413, 'payload_too_large'],
      ['key of 1025 bytes', call(srv, 'PUT', `/blocks/${'k'.repeat(1025)}`, admin, { data: 1 }), 400, 'bad_request'],
      ['key of 1026 UTF-8 bytes', call(srv, 'PUT', `/blocks/${encodeURIComponent('é'.repeat(513))}`, admin, { data: 1 }), 400, 'bad_request'],
      ['path segment beyond the router limit', call(srv, 'GET', `/blocks/${'k'.repeat(3200)}`, admin), 400, 'bad_request'],
      ['event kind of 1025 bytes', call(srv, 'POST', '/events', admin, { kind: 'k'.repeat(1025) }), 400, 'bad_request'],
      ['batch op key of 1025 bytes', call(srv, 'POST', '/batch', admin, { ops: [{ op: 'set', key: 'k'.repeat(1025), data: 1 }] }), 400, 'bad_request'],
      ['data nested 100,000 deep', call(srv, 'PUT', '/blocks/deep', admin, `{"data": ${deep}}`), 400, 'bad_request'],
      ['batch of 1001 ops', call(srv, 'POST', '/batch', admin, { ops: Array.from({ length: 1001 }, (_, i) => ({ op: 'log', kind: `k${i}` })) }), 400, 'bad_request'],
      ['empty batch', call(srv, 'POST', '/batch', admin, { ops: [] }), 400, 'bad_request'],
      ['list limit 1001', call(srv, 'GET', '/blocks?limit=1001', admin), 400, 'bad_request'],
      ['events limit 1001', call(srv, 'GET', '/events?limit=1001', admin), 400, 'bad_request'],
      ['history limit 1001', call(srv, 'GET', '/blocks/k/history?limit=1001', admin), 400, 'bad_request'],
      ['list limit 0', call(srv, 'GET', '/blocks?limit=0', admin), 400, 'bad_request'],
      ['prefix of 1025 bytes', call(srv, 'GET', `/blocks?prefix=${'p'.repeat(1025)}`, admin), 400, 'bad_request'],
      ['cursor of 8193 characters', call(srv, 'GET', `/blocks?cursor=${'c'.repeat(8193)}`, admin), 400, 'bad_request'],
      ['cursor not issued by the server', call(srv, 'GET', '/events?cursor=bm90LWEtY3Vyc29y', admin), 400, 'bad_request'],
      ['Idempotency-Key of 257 bytes', call(srv, 'PUT', '/blocks/idem', admin, { data: 1 }, { 'idempotency-key': 'i'.repeat(257) }), 400, 'bad_request'],
      ['If-Match that is no ETag', call(srv, 'PUT', '/blocks/k', admin, { data: 1 }, { 'if-match': 'abc' }), 400, 'bad_request'],
      ['If-None-Match other than *', call(srv, 'PUT', '/blocks/k', admin, { data: 1 }, { 'if-none-match': '"0"' }), 400, 'bad_request'],
      ['ifVersion query that is no version', call(srv, 'DELETE', '/blocks/k?ifVersion=-1', admin), 400, 'bad_request'],
      ['asOf that is no point', call(srv, 'GET', '/blocks/k?asOf=yesterday', admin), 400, 'bad_request'],
      ['validAt that is no instant', call(srv, 'GET', '/blocks?validAt=soon', admin), 400, 'bad_request'],
      ['since that is no instant', call(srv, 'GET', '/events?since=2d', admin), 400, 'bad_request'],
      ['receipt seq of 17 digits', call(srv, 'GET', '/receipts/12345678901234567', admin), 400, 'bad_request'],
      ['inclusion seq that is no integer', call(srv, 'GET', '/proofs/inclusion?seq=1e3', admin), 400, 'bad_request'],
      ['consistency from beyond the journal', call(srv, 'GET', '/proofs/consistency?from=99', admin), 400, 'bad_request'],
      ['export from beyond the journal', call(srv, 'GET', '/export?from=99', admin), 400, 'bad_request'],
      ['visibility 2^31', call(srv, 'PUT', '/blocks/v', admin, { data: 1, v: 2 ** 31 }), 400, 'bad_request'],
      ['visibility -1', call(srv, 'PUT', '/blocks/v', admin, { data: 1, v: -1 }), 400, 'bad_request'],
      ['erase reason of 1025 characters', call(srv, 'POST', '/blocks/k/erase', admin, { reason: 'r'.repeat(1025) }), 400, 'bad_request'],
      ['empty erase reason', call(srv, 'POST', '/blocks/k/erase', admin, { reason: '' }), 400, 'bad_request'],
      ['request headers over 16 KiB', call(srv, 'GET', '/tenants/me', admin, undefined, { 'x-pad': 'h'.repeat(17 * 1024) }), 400, 'bad_request'],
      ['token label of 201 characters', call(srv, 'POST', '/admin/tokens', node, { tenant: 'acme', label: 'l'.repeat(201) }), 400, 'bad_request'],
      ['negative clearance', call(srv, 'POST', '/admin/tokens', node, { tenant: 'acme', clearance: -1 }), 400, 'bad_request'],
      ['unknown role', call(srv, 'POST', '/admin/tokens', node, { tenant: 'acme', role: 'root' }), 400, 'bad_request'],
      ['tenant name with a space', call(srv, 'POST', '/admin/tenants', node, { name: 'Bad Name' }), 400, 'bad_request'],
      ['tenant name of 64 characters', call(srv, 'POST', '/admin/tenants', node, { name: 't'.repeat(64) }), 400, 'bad_request'],
      ['unknown plan', call(srv, 'POST', '/admin/tenants', node, { name: 'ok', plan: 'gold' }), 400, 'bad_request'],
    ];
    for (const [what, pending, status, code] of cases) {
      const r = await pending;
      expect({ status: r.status, code: r.json?.error?.code }, `${what}: ${r.text.slice(0, 200)}`).toEqual({ status, code });
      expect(typeof r.json?.error?.message, what).toBe('string');
    }
    expect({ size: size(), tokens: srv.tokens.list().length, tenants: srv.db.tenants() }).toEqual(before);

    // The limits themselves are accepted: a 1024-byte key, 256-byte Idempotency-Key, 1000-op batch, limit 1000.
    expect((await call(srv, 'PUT', `/blocks/${'k'.repeat(1024)}`, admin, { data: 1 })).status).toBe(200);
    expect((await call(srv, 'PUT', '/blocks/idem', admin, { data: 1 }, { 'idempotency-key': 'i'.repeat(256) })).status).toBe(200);
    expect((await call(srv, 'POST', '/batch', admin, { ops: Array.from({ length: 1000 }, (_, i) => ({ op: 'log', kind: `k${i}` })) })).status).toBe(200);
    expect((await call(srv, 'GET', '/events?limit=1000', admin)).json.events).toHaveLength(1000);
  });

  it('stores prototype-looking JSON keys as plain data and lets none of them reach an option or a prototype', async () => {
    srv = await startServer();
    const admin = await srv.tenant('acme');
    const put = await call(srv, 'PUT', '/blocks/proto', admin, '{"data": {"__proto__": {"polluted": 1}, "constructor": {"prototype": {"p": 1}}}, "__proto__": {"v": 9}}');
    expect(put.status).toBe(200);
    const got = await call(srv, 'GET', '/blocks/proto', admin);
    expect(got.json.v).toBe(1);
    expect(got.text).toContain('"__proto__":{"polluted":1}');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(({} as Record<string, unknown>)['p']).toBeUndefined();
    // A batch op carrying __proto__ is an unknown field, not a prototype.
    const batch = await call(srv, 'POST', '/batch', admin, '{"ops": [{"op": "set", "key": "x", "data": 1, "__proto__": {"v": 9}}]}');
    expect({ status: batch.status, code: batch.json?.error?.code }).toEqual({ status: 400, code: 'bad_request' });
  });

  it('keeps path tricks inside the token’s tenant: dot segments, encoded slashes and the ~ escape only name keys, never routes or files', async () => {
    srv = await startServer();
    const admin = await srv.tenant('acme');
    const tricks: [string, string][] = [
      ['~Li4', '..'],
      ['~Lg', '.'],
      ['a%2Fb', 'a/b'],
      ['..%2F..%2Fadmin%2Ftenants', '../../admin/tenants'],
      ['%2e%2e%2fkeys.json', '../keys.json'],
      ['%5C..%5Cjournal', '\\..\\journal'],
    ];
    for (const [segment, key] of tricks) {
      const put = await call(srv, 'PUT', `/blocks/${segment}`, admin, { data: key });
      expect({ status: put.status, key: put.json?.key }, segment).toEqual({ status: 200, key });
      const got = await call(srv, 'GET', `/blocks/${segment}`, admin);
      expect({ key: got.json?.key, data: got.json?.data }, segment).toEqual({ key, data: key });
      const history = await call(srv, 'GET', `/blocks/${segment}/history`, admin);
      expect(history.json?.key, segment).toBe(key);
    }
    const listed = (await call(srv, 'GET', '/blocks', admin)).json.blocks.map((b: { key: string }) => b.key);
    expect(listed.sort()).toEqual(tricks.map(([, k]) => k).sort());
    expect((await call(srv, 'GET', '/admin/tenants', admin)).status).toBe(403);
    // Keys are LMDB keys, never file names: the data directory holds exactly what it held before.
    expect(readdirSync(srv.db.journal.dir).sort()).toEqual(['journal', 'keys.json']);
  });
});

describe('rate limits', () => {
  it('counts requests per token: a forged request naming a token id spends none of its budget, and one exhausted token leaves the others served', async () => {
    srv = await startServer({ limits: { rateLimit: { max: 3, timeWindowMs: 60_000 } } });
    const a = await srv.tenant('acme');
    const b = await srv.token('acme', 'read');
    const forged = `tly_${tokenParts(a).id}_${'F'.repeat(43)}`;
    for (let i = 0; i < 5; i++) expect((await call(srv, 'GET', '/tenants/me', forged)).status).toBe(401);
    for (let i = 0; i < 3; i++) expect((await call(srv, 'GET', '/tenants/me', a)).status).toBe(200);
    const limited = await call(srv, 'GET', '/tenants/me', a);
    expect({ status: limited.status, code: limited.json?.error?.code }).toEqual({ status: 429, code: 'rate_limited' });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await call(srv, 'GET', '/tenants/me', b)).status).toBe(200);
  });

  it('keys open routes by address, never by a token id the request only names: no spending another token’s budget, no escaping with made-up ids', async () => {
    srv = await startServer({ limits: { rateLimit: { max: 3, timeWindowMs: 60_000 } } });
    const victim = await srv.tenant('acme');
    // Token ids are not secret: every event names its writer as token:<id>.
    const named = `tly_${tokenParts(victim).id}_${'x'.repeat(43)}`;
    const open: number[] = [];
    for (let i = 0; i < 3; i++) open.push((await call(srv, 'GET', '/health', named)).status);
    for (let i = 0; i < 2; i++) open.push((await call(srv, 'GET', '/docs', `tly_${String(i).padStart(16, '0')}_${'x'.repeat(43)}`)).status);
    // The three /health calls spent this address's budget; made-up ids on /docs do not escape it.
    expect(open.slice(0, 3)).toEqual([200, 200, 200]);
    expect(open.slice(3)).toEqual([429, 429]);
    // The victim's own budget is untouched.
    for (let i = 0; i < 3; i++) expect((await call(srv, 'GET', '/tenants/me', victim)).status).toBe(200);
  });
});

describe('an operator who rewrites history', () => {
  it('a full rewrite re-signed with the node key passes verify() and the audit; only a client holding an earlier receipt or checkpoint detects it', { timeout: 30_000 }, async () => {
    const dirA = tempDir();
    let genuine = await open(dirA, { name: 'node-s' });
    const t = genuine.tenant('acme');
    for (let i = 0; i < 4; i++) await t.set(`k${i}`, { i });
    const held = await t.set('contract', { amount: 100 }); // the client keeps this receipt
    const keys = genuine.verifierKeys();
    const heldVerdict = verifyReceipt(held.receipt, keys);
    if (!heldVerdict.ok) throw new Error(heldVerdict.message);
    const heldSize = heldVerdict.checkpoint.size;
    const heldRoot = heldVerdict.checkpoint.root;
    await genuine.close();
    opened.splice(opened.indexOf(genuine), 1);

    // The operator rebuilds the journal from scratch with the node's own key file and an altered past.
    const dirB = tempDir();
    copyFileSync(join(dirA, 'keys.json'), join(dirB, 'keys.json'));
    const rewritten = await open(dirB);
    const rt = rewritten.tenant('acme');
    for (let i = 0; i < 4; i++) await rt.set(`k${i}`, { i });
    await rt.set('contract', { amount: 1 });
    for (let j = 0; j < 3; j++) await rt.log('cover', { j });

    // Nothing inside the rewritten node can tell.
    expect(rewritten.verifierKeys()).toEqual(keys);
    expect(await rt.verify({ projection: true })).toMatchObject({ ok: true });
    const audit = await auditFast(lines(exportBundle(rewritten, 'acme')), keys.map((k) => parseVerifierKey(k)));
    expect(audit).toMatchObject({ ok: true });
    expect(verifyReceipt(await rt.receipt(held.version), keys)).toMatchObject({ ok: true, key: 'contract', data: { amount: 1 } });

    // The client holding the earlier receipt asks for a consistency proof from its checkpoint, and the inclusion of its event.
    const tid = rewritten.journal.tenant('acme')!.id;
    const latest = rewritten.journal.latestCheckpoint(tid)!;
    const latestRoot = parseCheckpoint(parseNote(latest.note).text).root;
    const consistency = rewritten.journal.consistencyProof(tid, heldSize, latest.size);
    expect(verifyConsistency(blake3Tree, heldSize, latest.size, heldRoot, latestRoot, consistency)).toBe(false);
    const inclusion = rewritten.journal.inclusionProof(tid, held.version, latest.size);
    expect(verifyInclusion(blake3Tree, held.version, latest.size, blake3Tree.leaf(fromBase64(held.receipt.hash)), inclusion, latestRoot)).toBe(false);
    // Two checkpoints of the same size, both validly signed, with different roots: evidence of the rewrite.
    const sameSize = rewritten.journal.checkpointAt(tid, heldSize)!;
    expect(verifyNote(sameSize, keys.map((k) => parseVerifierKey(k))).ok).toBe(true);
    expect(toBase64(parseCheckpoint(parseNote(sameSize).text).root)).not.toBe(toBase64(heldRoot));

    // The control: the genuine journal, grown further, proves the same held checkpoint consistent and the event included.
    genuine = await open(dirA);
    for (let j = 0; j < 3; j++) await genuine.tenant('acme').log('more', { j });
    const gtid = genuine.journal.tenant('acme')!.id;
    const glatest = genuine.journal.latestCheckpoint(gtid)!;
    const groot = parseCheckpoint(parseNote(glatest.note).text).root;
    expect(verifyConsistency(blake3Tree, heldSize, glatest.size, heldRoot, groot, genuine.journal.consistencyProof(gtid, heldSize, glatest.size))).toBe(true);
    expect(verifyInclusion(blake3Tree, held.version, glatest.size, blake3Tree.leaf(fromBase64(held.receipt.hash)), genuine.journal.inclusionProof(gtid, held.version, glatest.size), groot)).toBe(true);
  });
});

describe('a stolen signing key', () => {
  it('forges receipts that verify with the node keys; after `key rotate` the new key alone refuses them, the full key set does not, and the key files stay private', async () => {
    const dir = tempDir();
    const db = await open(dir, { name: 'node-k' });
    const t = db.tenant('acme');
    const genuine = await t.set('balance', { eur: 10 });
    const keysBefore = db.verifierKeys();

    // The thief copies keys.json and runs a node of its own under the same name.
    const stolenDir = tempDir();
    copyFileSync(join(dir, 'keys.json'), join(stolenDir, 'keys.json'));
    const forger = await open(stolenDir);
    const forged = await forger.tenant('acme').set('balance', { eur: 1_000_000 });
    expect(verifyReceipt(forged.receipt, keysBefore)).toMatchObject({ ok: true, tenant: 'acme', key: 'balance', data: { eur: 1_000_000 } });
    // Same tenant, same seq, another event: the genuine journal holds the genuine one only.
    expect(forged.receipt.header.seq).toBe(genuine.receipt.header.seq);
    expect(forged.receipt.hash).not.toBe(genuine.receipt.hash);
    expect((await t.receipt(0)).hash).toBe(genuine.receipt.hash);

    const newKey = db.rotateKey();
    expect(statSync(join(dir, 'keys.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'journal')).mode & 0o777).toBe(0o700);
    const after = await t.set('balance', { eur: 11 });
    expect(verifyReceipt(after.receipt, [newKey])).toMatchObject({ ok: true });
    // Trusting only the new key refuses the forgery — and every receipt the old key signed, genuine or not…
    expect(verifyReceipt(forged.receipt, [newKey])).toMatchObject({ ok: false, code: 'unknown_key' });
    expect(verifyReceipt(genuine.receipt, [newKey])).toMatchObject({ ok: false, code: 'unknown_key' });
    // …but a genuine event is proven again under the new key by fetching its receipt anew; a forged one cannot be.
    const reproven = await t.receipt(genuine.receipt.header.seq);
    expect(verifyReceipt(reproven, [newKey])).toMatchObject({ ok: true, key: 'balance', data: { eur: 10 } });
    expect(reproven.hash).not.toBe(forged.receipt.hash);
    // The node's full key set still trusts the stolen key: there is no revocation (docs/SECURITY.md, gaps).
    expect(verifyReceipt(forged.receipt, db.verifierKeys())).toMatchObject({ ok: true });
  });
});

describe('closed gaps (GAP-1..7 of docs/SECURITY.md, fixed; each test is the regression test of its gap)', () => {
  it('GAP-1: redaction outlives a delete and an erasure: readers see no history, event, proof or past version of the key until it is unredacted', async () => {
    srv = await startServer();
    const admin = await srv.tenant('acme');
    const reader = await srv.token('acme', 'read', 100);
    await call(srv, 'PUT', '/blocks/doc', admin, { data: { secret: 'REDACTED-PAYLOAD' } });
    await call(srv, 'POST', '/blocks/doc/redact', admin);
    expect((await call(srv, 'DELETE', '/blocks/doc', admin)).status).toBe(200);
    const hiddenEverywhere = async () => {
      expect((await call(srv!, 'GET', '/blocks/doc/history', reader)).status).toBe(404);
      expect((await call(srv!, 'GET', '/blocks/doc?asOf=0', reader)).status).toBe(404);
      expect((await call(srv!, 'GET', '/blocks?asOf=0', reader)).json.blocks).toEqual([]);
      const events = await call(srv!, 'GET', '/events', reader);
      expect(events.text).not.toContain('REDACTED-PAYLOAD');
      expect(events.json.events).toEqual([]);
      for (const seq of [0, 1, 2]) {
        expect((await call(srv!, 'GET', `/proofs/inclusion?seq=${seq}`, reader)).status).toBe(404);
        expect((await call(srv!, 'GET', `/receipts/${seq}`, reader)).status).toBe(404);
      }
    };
    await hiddenEverywhere();
    // A new version of a redacted key is hidden too, and an erasure keeps the key's history hidden.
    await call(srv, 'PUT', '/blocks/doc', admin, { data: { secret: 'NEW' } });
    expect((await call(srv, 'GET', '/blocks/doc', reader)).status).toBe(404);
    expect((await call(srv, 'POST', '/blocks/doc/erase', admin, { reason: 'gdpr' })).status).toBe(200);
    await hiddenEverywhere();
    // The admin still sees everything with includeHidden, and unredact shows the (erased) history again.
    expect((await call(srv, 'GET', '/blocks/doc/history', admin)).status).toBe(200);
    expect((await call(srv, 'POST', '/blocks/doc/unredact', admin)).status).toBe(200);
    const history = await call(srv, 'GET', '/blocks/doc/history', reader);
    expect(history.status).toBe(200);
    expect(history.text).not.toContain('REDACTED-PAYLOAD');
    expect(history.json.versions.every((v: { data: unknown }) => v.data === null)).toBe(true);
    // The projection still equals a replay of the journal.
    expect(await srv.db.tenant('acme').verify({ projection: true })).toMatchObject({ ok: true });
  });

  it('GAP-2: an admin token with a limited clearance cannot export, and cannot redact, unredact or erase a key with any version above its clearance', async () => {
    srv = await startServer();
    const admin = await srv.tenant('acme');
    const limited = await srv.token('acme', 'admin', 1);
    await call(srv, 'PUT', '/blocks/top', admin, { data: { s: 'ABOVE-CLEARANCE' }, v: 5 });
    await call(srv, 'PUT', '/blocks/mixed', admin, { data: { s: 'MIXED-ABOVE' }, v: 5 });
    await call(srv, 'PUT', '/blocks/mixed', admin, { data: { s: 'now visible' }, v: 1 });
    expect((await call(srv, 'GET', '/blocks/top', limited)).status).toBe(404);
    const bundle = await call(srv, 'GET', '/export', limited);
    expect(bundle.status).toBe(403);
    expect(bundle.json.error.code).toBe('forbidden');
    expect(bundle.text).not.toContain(toBase64(new TextEncoder().encode('ABOVE')).slice(0, 6));
    for (const action of ['redact', 'unredact', 'erase']) {
      const missing = await call(srv, 'POST', `/blocks/missing/${action}`, limited, { reason: 'x' });
      const above = await call(srv, 'POST', `/blocks/top/${action}`, limited, { reason: 'x' });
      expect([missing.status, above.status]).toEqual([404, 404]);
      expect(above.json.error.code).toBe(missing.json.error.code);
    }
    // They act on every version, so one version above the clearance is enough to refuse: an unredact
    // would show it to the readers the redaction hid it from, an erase would destroy it.
    await call(srv, 'POST', '/blocks/mixed/redact', admin);
    for (const action of ['unredact', 'redact', 'erase']) {
      const r = await call(srv, 'POST', `/blocks/mixed/${action}`, limited, { reason: 'x' });
      expect([action, r.status, r.json.error.code]).toEqual([action, 403, 'forbidden']);
    }
    expect((await call(srv, 'GET', '/blocks/mixed?includeHidden=true', admin)).json.h).toBe(1);
    expect((await call(srv, 'GET', '/blocks/top', admin)).json.data).toEqual({ s: 'ABOVE-CLEARANCE' });
    expect((await call(srv, 'GET', '/blocks/top/history', admin)).json.versions).toHaveLength(1);
    // The full-clearance admin still exports, redacts and erases.
    expect((await call(srv, 'GET', '/export', admin)).status).toBe(200);
    expect((await call(srv, 'POST', '/blocks/top/erase', admin, { reason: 'x' })).json.erased).toEqual([0]);
  });

  it('GAP-3: history answers 404 for a key above the reader’s clearance whatever the cursor, like a missing key', async () => {
    srv = await startServer();
    const admin = await srv.tenant('acme');
    const reader = await srv.token('acme', 'read', 1);
    await call(srv, 'PUT', '/blocks/hidden', admin, { data: 1, v: 5 });
    await call(srv, 'PUT', '/blocks/seen', admin, { data: 1, v: 1 });
    for (const c of [[1e15], [0], [1]]) {
      const cursor = Buffer.from(JSON.stringify(c)).toString('base64url');
      const hidden = await call(srv, 'GET', `/blocks/hidden/history?cursor=${cursor}`, reader);
      const missing = await call(srv, 'GET', `/blocks/missing/history?cursor=${cursor}`, reader);
      expect([hidden.status, missing.status]).toEqual([404, 404]);
      expect(hidden.json.error.code).toBe(missing.json.error.code);
    }
    // A visible key paged past its end is still 200 with no versions.
    const past = Buffer.from(JSON.stringify([0])).toString('base64url');
    expect((await call(srv, 'GET', `/blocks/seen/history?cursor=${past}`, reader)).json).toEqual({ key: 'seen', versions: [], next: null });
  });

  it('GAP-4 (narrowed, open): inclusion proofs of events a reader may not see are 404, but the next event’s receipt still carries the hidden event’s hash as prev', async () => {
    srv = await startServer();
    const admin = await srv.tenant('acme');
    const reader = await srv.token('acme', 'read', 1);
    await call(srv, 'PUT', '/blocks/public', admin, { data: 1 });
    await call(srv, 'PUT', '/blocks/salary:bob', admin, { data: { eur: 99_000 }, v: 5 });
    await call(srv, 'DELETE', '/blocks/salary:bob', admin);
    await call(srv, 'PUT', '/blocks/public', admin, { data: 2 });
    const events = (await call(srv, 'GET', '/events', reader)).json.events as { seq: number }[];
    expect(events.map((e) => e.seq)).toEqual([0, 3]);
    const statuses = await Promise.all([0, 1, 2, 3].map(async (seq) => (await call(srv!, 'GET', `/proofs/inclusion?seq=${seq}`, reader)).status));
    expect(statuses).toEqual([200, 404, 404, 200]);
    // The proofs a reader does get still verify, and the admin gets every one.
    const p3 = (await call(srv, 'GET', '/proofs/inclusion?seq=3', reader)).json;
    const root = parseCheckpoint(parseNote(p3.checkpoint as string).text).root;
    expect(verifyInclusion(blake3Tree, 3, p3.size as number, blake3Tree.leaf(fromBase64(p3.hash as string)), (p3.proof as string[]).map(fromBase64), root)).toBe(true);
    const hidden = (await call(srv, 'GET', '/proofs/inclusion?seq=2', admin)).json.hash as string;
    // The residue: a hash chain hands every event's hash to the next event's header (docs/SECURITY.md).
    const next = (await call(srv, 'GET', '/receipts/3', reader)).json.receipt;
    expect(next.header.prev).toBe(hidden);
  });

  it('GAP-5: failed authentications are rate limited per address, on tenant and admin routes alike, and a valid token from elsewhere is still served', async () => {
    srv = await startServer({ limits: { rateLimit: { max: 1000, timeWindowMs: 60_000 }, maxAuthFailures: 5 } });
    const admin = await srv.tenant('acme');
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await call(srv, 'GET', '/tenants/me', `tly_${i.toString(16).padStart(16, '0')}_${'A'.repeat(43)}`)).status);
    for (let i = 0; i < 4; i++) statuses.push((await call(srv, 'POST', '/admin/tenants', undefined, { name: `t${i}` })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    const limited = await call(srv, 'GET', '/tenants/me', admin);
    expect(limited.status).toBe(429);
    expect(limited.json.error.code).toBe('rate_limited');
    // The same count from another address starts at zero (the counter is per address).
    const { AuthFailures } = await import('../../src/server/auth.js');
    const f = new AuthFailures({ max: 2, timeWindowMs: 1000 });
    expect([f.fail('a', 0), f.fail('a', 1), f.fail('a', 2), f.fail('b', 3), f.blocked('a', 4), f.blocked('a', 1000)]).toEqual([false, false, true, false, true, false]);
  });

  it('counts failed authentications per client behind a trusted proxy (trustProxy), and ignores X-Forwarded-For from anyone else', async () => {
    const bad = `tly_${'0'.repeat(16)}_${'A'.repeat(43)}`;
    const tries = async (s: TestServer, from: string) => {
      const out: number[] = [];
      for (let i = 0; i < 3; i++) out.push((await call(s, 'GET', '/tenants/me', bad, undefined, { 'x-forwarded-for': from })).status);
      return out;
    };
    srv = await startServer({ limits: { rateLimit: { max: 1000, timeWindowMs: 60_000 }, maxAuthFailures: 2 }, trustProxy: ['127.0.0.1'] });
    await srv.tenant('acme');
    expect(await tries(srv, '203.0.113.7')).toEqual([401, 401, 429]);
    expect(await tries(srv, '203.0.113.8')).toEqual([401, 401, 429]);
    await srv.close();
    // Not trusted (the default): the header is the client's own claim and changes nothing.
    srv = await startServer({ limits: { rateLimit: { max: 1000, timeWindowMs: 60_000 }, maxAuthFailures: 2 } });
    await srv.tenant('acme');
    expect(await tries(srv, '203.0.113.7')).toEqual([401, 401, 429]);
    expect(await tries(srv, '203.0.113.8')).toEqual([429, 429, 429]);
    const { parseTrustProxy } = await import('../../src/cli/serve-command.js');
    expect(parseTrustProxy(' 10.0.0.1, 192.168.0.0/16 ,')).toEqual(['10.0.0.1', '192.168.0.0/16']);
  });

  it('GAP-6: a stalled request body is answered 408 request_timeout and closed; idle sockets time out; connections are capped', { timeout: 20_000 }, async () => {
    srv = await startServer({ limits: { requestTimeoutMs: 1000, idleTimeoutMs: 5000, maxConnections: 64 } });
    const token = await srv.tenant('acme');
    const s = srv.app.server;
    expect([s.requestTimeout, s.timeout, s.maxConnections]).toEqual([1000, 5000, 64]);
    const { connect } = await import('node:net');
    const u = new URL(srv.url);
    const started = Date.now();
    const answer = await new Promise<string>((resolve, reject) => {
      const sock = connect(Number(u.port), u.hostname);
      let got = '';
      sock.on('data', (d) => (got += d.toString('latin1')));
      sock.on('close', () => resolve(got));
      sock.on('error', reject);
      sock.write(`PUT /blocks/stalled HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"data":`);
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain('"request_timeout"');
    expect((await call(srv, 'GET', '/blocks/stalled', token)).status).toBe(404);
    // The defaults are finite.
    const { DEFAULT_LIMITS } = await import('../../src/server/context.js');
    expect(DEFAULT_LIMITS.requestTimeoutMs).toBeLessThanOrEqual(60_000);
    expect(DEFAULT_LIMITS.idleTimeoutMs).toBeLessThanOrEqual(300_000);
    expect(Number.isFinite(DEFAULT_LIMITS.maxConnections)).toBe(true);
  });

  it('GAP-7: a node admin token has the admin role only: other roles are refused when made, and a stored read node token cannot use the admin API', async () => {
    srv = await startServer();
    const node = (await srv.tokens.create(NODE_ADMIN)).token;
    const made = await call(srv, 'POST', '/admin/tokens', node, { tenant: NODE_ADMIN, role: 'read' });
    expect(made.status).toBe(400);
    expect(made.json.error.code).toBe('bad_request');
    await expect(srv.tokens.create(NODE_ADMIN, { role: 'write' })).rejects.toMatchObject({ code: 'bad_request' });
    // A record written before the refusal existed (forged here straight into the token store) is forbidden.
    const legacy = (await srv.tokens.create(NODE_ADMIN)).token;
    const id = /^tly_([0-9a-f]{16})_/.exec(legacy)![1]!;
    const tokensDb = srv.db.journal.storage.openDB<Record<string, unknown>, string>('tokens', 'msgpack');
    await tokensDb.put(id, { ...tokensDb.get(id)!, role: 'read' });
    const refused = await call(srv, 'POST', '/admin/tenants', legacy, { name: 'made-by-read' });
    expect(refused.status).toBe(403);
    expect((await call(srv, 'POST', '/admin/tenants', node, { name: 'made-by-admin' })).status).toBe(201);
  });
});
