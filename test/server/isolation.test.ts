/**
 * Tenant isolation over real HTTP, as a fast-check property: three tenants
 * share one server and the same key names; tokens of random roles and
 * clearances, a revoked token, malformed tokens and the node admin token
 * send random sequences of requests. A model of every tenant's blocks,
 * journal size and per-key history predicts each answer, and every response
 * is searched (raw text and base64-decoded strings, where receipt payloads
 * live) for another tenant's data marker.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeKeySegment } from '../../src/core/key-path.js';
import { MAX_VISIBILITY } from '../../src/core/event.js';
import type { Role } from '../../src/store/tenant.js';
import { startServer, type TestServer } from '../helpers/server.js';

/** Runs of the property; raise with TALLY_ISOLATION_RUNS for a longer search. */
const RUNS = Number(process.env['TALLY_ISOLATION_RUNS'] ?? 25);

// ---- server and HTTP --------------------------------------------------------

let srv: TestServer;
let nodeAdmin: string;
beforeAll(async () => {
  srv = await startServer();
  nodeAdmin = (await srv.tokens.create('*node*')).token;
});
afterAll(() => srv.close());

interface Res {
  status: number;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  contentType: string;
}

async function call(method: string, path: string, token: string | undefined, body?: unknown): Promise<Res> {
  const res = await fetch(srv.url + path, {
    method,
    headers: { ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    // A request that never answers fails here with its method and path, not as a whole-test timeout.
    signal: AbortSignal.timeout(20_000),
  }).catch((e: unknown) => {
    throw new Error(`${method} ${path} got no answer: ${String(e)}`);
  });
  const text = await res.text();
  const contentType = res.headers.get('content-type') ?? '';
  let json: unknown;
  try {
    // An evidence bundle is JSON Lines: parse it as the array of its records.
    json = contentType.includes('ndjson') ? text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown) : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, contentType };
}

// ---- markers ----------------------------------------------------------------

/** Tenant names hold no '-', so the tenant of a marker is unambiguous. */
const MARKER_RE = /MARK-([a-z0-9]+)-\d+/g;
let markerSeq = 0;
const marker = (tenant: string) => `MARK-${tenant}-${markerSeq++}`;

/** Every string of a JSON value, plus the latin1 view of those that decode as base64 (receipt payloads are base64 CBOR). */
function searchableTexts(res: Res): string[] {
  const out = [res.text];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      if (v.length >= 8 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(v)) out.push(Buffer.from(v, 'base64').toString('latin1'));
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(res.json);
  return out;
}

/** Tenants whose markers appear anywhere in a response. */
function markerTenants(res: Res): Set<string> {
  const found = new Set<string>();
  for (const t of searchableTexts(res)) for (const m of t.matchAll(MARKER_RE)) found.add(m[1]!);
  return found;
}

// ---- model ------------------------------------------------------------------

const KEYS = ['a', 'ab', 'b', 'user:alice', 'user:bob', 'shared', '.', '~x'] as const;
const PREFIXES = ['', 'a', 'user:', 'user:a', 'b', 'zzz'] as const;
const MAX_V = 3;

interface TenantModel {
  name: string;
  blocks: Map<string, { data: unknown; v: number }>;
  /** Visibility of every block event (set, delete) of each key, oldest first. */
  history: Map<string, number[]>;
  /** Journal size: every appended event. */
  size: number;
  /** Visibility of each event by seq; -1 for log events, which every reader sees. */
  seqV: number[];
}

type Actor =
  | { kind: 'tenant'; token: string; id: string; tenant: TenantModel; role: Role; clearance: number; revoked: boolean }
  | { kind: 'outsider'; token: string | undefined; what: string }
  | { kind: 'node'; token: string };

/** Every tenant name created in this file, for the "never name another tenant" check. */
const allTenants: string[] = [];
let run = 0;

const stats = { requests: 0, crossTenantNotFound: 0, okWrites: 0, batchOk: 0, batchFailed: 0, revokedMidRun: 0, crossTenantHistory404: 0, exports: 0, outsider401: 0, node403: 0, proofOk: 0, proofBeyond: 0 };

// ---- operations -------------------------------------------------------------

type BOp = { op: 'set'; key: string; v: number } | { op: 'delete'; key: string } | { op: 'log' };
type Op =
  | { t: 'put'; a: number; key: string; v: number }
  | { t: 'get'; a: number; key: string }
  | { t: 'del'; a: number; key: string }
  | { t: 'list'; a: number; prefix: string }
  | { t: 'log'; a: number }
  | { t: 'events'; a: number }
  | { t: 'me'; a: number }
  | { t: 'history'; a: number; key: string }
  | { t: 'batch'; a: number; ops: BOp[] }
  | { t: 'checkpoint'; a: number }
  | { t: 'inclusion'; a: number; seq: number }
  | { t: 'consistency'; a: number; from: number }
  | { t: 'keys'; a: number }
  | { t: 'health'; a: number }
  | { t: 'adminTenants'; a: number }
  | { t: 'revoke'; a: number }
  | { t: 'export'; a: number; from: number | undefined };

const key = fc.constantFrom(...KEYS);
const a = fc.nat({ max: 1000 });
const v = fc.integer({ min: 0, max: MAX_V });
const bop: fc.Arbitrary<BOp> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('set' as const), key, v }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), key }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('log' as const) }) },
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('put' as const), a, key, v }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('get' as const), a, key }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('del' as const), a, key }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('list' as const), a, prefix: fc.constantFrom(...PREFIXES) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('log' as const), a }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('events' as const), a }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('me' as const), a }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('history' as const), a, key }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('batch' as const), a, ops: fc.array(bop, { minLength: 1, maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('checkpoint' as const), a }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('inclusion' as const), a, seq: fc.nat({ max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('consistency' as const), a, from: fc.nat({ max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('keys' as const), a }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('health' as const), a }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('adminTenants' as const), a }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('revoke' as const), a }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('export' as const), a, from: fc.option(fc.nat({ max: 30 }), { nil: undefined }) }) },
);
const tokenSpec = fc.record({ role: fc.constantFrom<Role>('read', 'write', 'admin'), clearance: fc.option(fc.integer({ min: 0, max: MAX_V }), { nil: undefined }) });
const scenario = fc.record({
  tokens: fc.tuple(...[0, 1, 2].map(() => fc.array(tokenSpec, { maxLength: 3 }))),
  /** Keys each tenant's admin writes first, so tenants hold the same key names from the start. */
  seed: fc.tuple(...[0, 1, 2].map(() => fc.subarray([...KEYS]))),
  ops: fc.array(opArb, { minLength: 20, maxLength: 80, size: 'max' }),
});

// ---- expectations -----------------------------------------------------------

/** A 404 for a name another tenant holds answers exactly like a path nobody ever wrote: same status, code and content type. */
async function expectLikeUnknown(res: Res, unknownPath: string, token: string | undefined): Promise<void> {
  const unknown = await call('GET', unknownPath, token);
  expect(unknown.status).toBe(404);
  expect(res.status).toBe(unknown.status);
  expect(res.json?.error?.code).toBe(unknown.json?.error?.code);
  expect(res.contentType).toBe(unknown.contentType);
}

/** What the model predicts: a status, and for errors the code. */
type Expect = { status: 200 } | { status: number; code: string };
const err = (status: number, code: string): Expect => ({ status, code });
const OK: Expect = { status: 200 };
const tokenIdOf = (token: string) => /^tly_([0-9a-f]{16})_/.exec(token)![1]!;

function describeActor(x: Actor): string {
  return x.kind === 'tenant' ? `${x.tenant.name}/${x.role}/c${x.clearance}${x.revoked ? '/revoked' : ''}` : x.kind === 'node' ? 'node-admin' : `outsider(${x.what})`;
}

describe('tenant isolation over HTTP', () => {
  it('never lets one tenant see, count, prove or name another tenant', { timeout: Math.max(300_000, RUNS * 6_000) }, async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ tokens: specs, seed, ops: randomOps }) => {
        run++;
        // --- tenants and tokens of this run
        const models: TenantModel[] = [];
        const actors: Actor[] = [];
        for (const [i, letter] of ['alpha', 'bravo', 'charlie'].entries()) {
          const name = `r${run}${letter}`;
          allTenants.push(name);
          const m: TenantModel = { name, blocks: new Map(), history: new Map(), size: 0, seqV: [] };
          models.push(m);
          const admin = await srv.tenant(name, 'unlimited');
          actors.push({ kind: 'tenant', token: admin, id: tokenIdOf(admin), tenant: m, role: 'admin', clearance: Number.MAX_SAFE_INTEGER, revoked: false });
          for (const s of specs[i]!) {
            const t = await srv.token(name, s.role, s.clearance);
            // A token made without a clearance gets the server's default: every level for admin, 1 otherwise.
            actors.push({ kind: 'tenant', token: t, id: tokenIdOf(t), tenant: m, role: s.role, clearance: s.clearance ?? (s.role === 'admin' ? Number.MAX_SAFE_INTEGER : 1), revoked: false });
          }
        }
        const primaries: Actor[] = models.map((mm) => actors.find((x) => x.kind === 'tenant' && x.tenant === mm)!);
        const revoked = await srv.token(models[0]!.name, 'admin');
        await srv.tokens.revoke(tokenIdOf(revoked));
        const live = (actors[0] as { token: string }).token;
        const wrongSecret = live.slice(0, -1) + (live.endsWith('A') ? 'B' : 'A');
        actors.push(
          { kind: 'outsider', token: revoked, what: 'revoked' },
          { kind: 'outsider', token: wrongSecret, what: 'known id, wrong secret' },
          { kind: 'outsider', token: 'tly_0000000000000000_' + 'A'.repeat(43), what: 'unknown id' },
          { kind: 'outsider', token: 'not-a-token', what: 'malformed' },
          { kind: 'outsider', token: undefined, what: 'none' },
          { kind: 'node', token: nodeAdmin },
        );

        // Each tenant's admin (actor index of its first token) writes the seed keys, then the random ops run.
        const adminIndex = (i: number) => actors.findIndex((x) => x.kind === 'tenant' && x.tenant === models[i]);
        const seeded: Op[] = seed.flatMap((keys, i) => keys.map((k): Op => ({ t: 'put', a: adminIndex(i), key: k, v: 1 })));
        const step = async (op: Op): Promise<void> => {
          const actor = actors[op.a % actors.length]!;
          const token = actor.token;
          const own = actor.kind === 'tenant' ? actor.tenant : undefined;
          const tenantRoute = !['keys', 'health', 'adminTenants', 'revoke'].includes(op.t); // export is a tenant route

          /** Expectation for an actor that is not a live tenant token; undefined for a live tenant token. */
          const gate = (): Expect | undefined => {
            if (op.t === 'health') return OK;
            if (actor.kind === 'outsider' || (actor.kind === 'tenant' && actor.revoked)) return err(401, 'unauthorized');
            if (actor.kind === 'node') return tenantRoute ? err(403, 'forbidden') : OK;
            if (op.t === 'adminTenants') return err(403, 'forbidden');
            return undefined;
          };

          let res: Res;
          let expected: Expect;
          let onOk: ((r: Res) => void) | undefined;
          const m = own;
          const c = actor.kind === 'tenant' ? actor.clearance : -1;
          const canWrite = actor.kind === 'tenant' && actor.role !== 'read';
          const visible = (b: { v: number } | undefined) => b !== undefined && b.v <= c;
          const data = () => ({ note: marker(m?.name ?? 'outsider'), n: markerSeq });

          switch (op.t) {
            case 'put': {
              const d = data();
              res = await call('PUT', `/blocks/${encodeKeySegment(op.key)}`, token, { data: d, v: op.v });
              expected = gate() ?? (!canWrite ? err(403, 'forbidden') : m!.blocks.has(op.key) && !visible(m!.blocks.get(op.key)) ? err(409, 'conflict') : OK);
              onOk = (r) => {
                expect(r.json.key).toBe(op.key);
                expect(r.json.version).toBe(m!.size);
                expect(r.json.receipt.header.journal).toBe(m!.name);
                m!.blocks.set(op.key, { data: d, v: op.v });
                m!.history.set(op.key, [...(m!.history.get(op.key) ?? []), op.v]);
                m!.seqV.push(op.v);
                m!.size++;
                stats.okWrites++;
              };
              break;
            }
            case 'get': {
              res = await call('GET', `/blocks/${encodeKeySegment(op.key)}`, token);
              expected = gate() ?? (visible(m!.blocks.get(op.key)) ? OK : err(404, 'not_found'));
              onOk = (r) => {
                const b = m!.blocks.get(op.key)!;
                expect(r.json.data).toEqual(b.data);
                expect(r.json.v).toBe(b.v);
              };
              if (!gate() && expected.status === 404 && !m!.history.has(op.key)) {
                expect(res.status, 'a key another tenant may hold reads like an unknown key').toBe(404);
                // A key another tenant holds must look exactly like one nobody ever wrote.
                if (models.some((o) => o !== m && o.blocks.has(op.key))) stats.crossTenantNotFound++;
                await expectLikeUnknown(res, `/blocks/never-written-${run}-${markerSeq}`, token);
              }
              break;
            }
            case 'del': {
              res = await call('DELETE', `/blocks/${encodeKeySegment(op.key)}`, token);
              expected = gate() ?? (!canWrite ? err(403, 'forbidden') : visible(m!.blocks.get(op.key)) ? OK : err(404, 'not_found'));
              onOk = (r) => {
                expect(r.json.receipt.header.journal).toBe(m!.name);
                m!.history.set(op.key, [...(m!.history.get(op.key) ?? []), m!.blocks.get(op.key)!.v]);
                m!.seqV.push(m!.blocks.get(op.key)!.v);
                m!.blocks.delete(op.key);
                m!.size++;
                stats.okWrites++;
              };
              break;
            }
            case 'list': {
              res = await call('GET', `/blocks?prefix=${encodeURIComponent(op.prefix)}`, token);
              expected = gate() ?? OK;
              onOk = (r) => {
                const want = [...m!.blocks.entries()].filter(([k, b]) => k.startsWith(op.prefix) && visible(b)).map(([k]) => k).sort();
                expect(r.json.blocks.map((b: { key: string }) => b.key)).toEqual(want);
              };
              break;
            }
            case 'log': {
              res = await call('POST', '/events', token, { kind: 'audit.note', details: { note: marker(m?.name ?? 'outsider') } });
              expected = gate() ?? (canWrite ? OK : err(403, 'forbidden'));
              onOk = (r) => {
                expect(r.json.receipt.header.journal).toBe(m!.name);
                m!.seqV.push(-1);
                m!.size++;
              };
              break;
            }
            case 'events': {
              res = await call('GET', '/events', token);
              expected = gate() ?? OK;
              onOk = (r) => {
                // Every event is of the own journal; a token cleared for every level sees all of them.
                expect(r.json.events.every((e: { seq: number }) => e.seq < m!.size)).toBe(true);
                if (c >= MAX_V) expect(r.json.events.length).toBe(Math.min(m!.size, 100));
              };
              break;
            }
            case 'me': {
              res = await call('GET', '/tenants/me', token);
              expected = gate() ?? OK;
              onOk = (r) => {
                expect(r.json.tenant).toBe(m!.name);
                expect(r.json.blocks_used).toBe(m!.blocks.size);
              };
              break;
            }
            case 'history': {
              res = await call('GET', `/blocks/${encodeKeySegment(op.key)}/history`, token);
              const seen = (m?.history.get(op.key) ?? []).filter((hv) => hv <= c);
              expected = gate() ?? (seen.length > 0 ? OK : err(404, 'not_found'));
              if (!gate() && !m!.history.has(op.key)) {
                if (models.some((o) => o !== m && o.history.has(op.key))) stats.crossTenantHistory404++;
                await expectLikeUnknown(res, `/blocks/never-written-${run}-${markerSeq}/history`, token);
              }
              onOk = (r) => {
                expect(r.json.key).toBe(op.key);
                expect(r.json.versions.length).toBe(Math.min(seen.length, 100));
                for (const ver of r.json.versions) expect(ver.receipt.header.journal).toBe(m!.name);
              };
              break;
            }
            case 'batch': {
              const body = op.ops.map((o) =>
                o.op === 'set' ? { op: 'set', key: o.key, v: o.v, data: data() } : o.op === 'delete' ? { op: 'delete', key: o.key } : { op: 'log', kind: 'audit.batch', details: { note: marker(m?.name ?? 'outsider') } },
              );
              res = await call('POST', '/batch', token, { ops: body });
              let predicted = gate() ?? (canWrite ? undefined : err(403, 'forbidden'));
              if (!predicted) {
                // Visibility is checked against the state before the batch, op by op; then existence op by op over the batch's own effects.
                for (const o of op.ops) {
                  if (o.op === 'log') continue;
                  const b = m!.blocks.get(o.key);
                  if (b && !visible(b)) {
                    predicted = o.op === 'delete' ? err(404, 'not_found') : err(409, 'conflict');
                    break;
                  }
                }
              }
              if (!predicted) {
                const overlay = new Map([...m!.blocks.keys()].map((k) => [k, true]));
                for (const o of op.ops) {
                  if (o.op === 'set') overlay.set(o.key, true);
                  else if (o.op === 'delete') {
                    if (!overlay.get(o.key)) {
                      predicted = err(404, 'not_found');
                      break;
                    }
                    overlay.set(o.key, false);
                  }
                }
              }
              expected = predicted ?? OK;
              onOk = (r) => {
                expect(r.json.results.length).toBe(op.ops.length);
                op.ops.forEach((o, i) => {
                  expect(r.json.results[i].receipt.header.journal).toBe(m!.name);
                  expect(r.json.results[i].receipt.header.seq).toBe(m!.size + i);
                  m!.seqV.push(o.op === 'set' ? o.v : o.op === 'delete' ? m!.blocks.get(o.key)!.v : -1);
                  if (o.op === 'set') {
                    m!.history.set(o.key, [...(m!.history.get(o.key) ?? []), o.v]);
                    m!.blocks.set(o.key, { data: (body[i] as { data: unknown }).data, v: o.v });
                  } else if (o.op === 'delete') {
                    m!.history.set(o.key, [...(m!.history.get(o.key) ?? []), m!.blocks.get(o.key)!.v]);
                    m!.blocks.delete(o.key);
                  }
                });
                m!.size += op.ops.length;
                stats.batchOk++;
              };
              if (expected.status !== 200) stats.batchFailed++;
              break;
            }
            case 'checkpoint': {
              res = await call('GET', '/checkpoint', token);
              expected = gate() ?? (m!.size > 0 ? OK : err(404, 'not_found'));
              onOk = (r) => {
                expect(r.contentType).toMatch(/^text\/plain/);
                const [origin, size] = r.text.split('\n');
                expect(origin!.endsWith(`/${m!.name}`)).toBe(true);
                expect(Number(size)).toBe(m!.size);
              };
              break;
            }
            case 'inclusion': {
              res = await call('GET', `/proofs/inclusion?seq=${op.seq}`, token);
              // An event above the reader's clearance is not_found: its hash would let a reader test guesses of its header.
              expected = gate() ?? (op.seq >= m!.size ? err(400, 'bad_request') : m!.seqV[op.seq]! <= c ? OK : err(404, 'not_found'));
              if (!gate()) (op.seq < m!.size ? stats.proofOk++ : stats.proofBeyond++);
              onOk = (r) => {
                expect(r.json.seq).toBe(op.seq);
                expect(r.json.size).toBe(m!.size);
                expect(r.json.checkpoint.split('\n')[0].endsWith(`/${m!.name}`)).toBe(true);
              };
              break;
            }
            case 'consistency': {
              res = await call('GET', `/proofs/consistency?from=${op.from}`, token);
              expected = gate() ?? (op.from >= 1 && op.from <= m!.size ? OK : err(400, 'bad_request'));
              onOk = (r) => {
                expect(r.json.to).toBe(m!.size);
                expect(r.json.toCheckpoint.split('\n')[0].endsWith(`/${m!.name}`)).toBe(true);
              };
              break;
            }
            case 'keys': {
              res = await call('GET', '/keys', token);
              expected = gate() ?? OK;
              onOk = (r) => expect(r.json.keys).toContain(r.json.active);
              break;
            }
            case 'health': {
              res = await call('GET', '/health', token);
              expected = OK;
              break;
            }
            case 'adminTenants': {
              res = await call('GET', '/admin/tenants', token);
              expected = gate() ?? err(403, 'forbidden');
              onOk = (r) => {
                // Only the node admin lists tenants; usage is each tenant's own count.
                for (const mm of models) expect(r.json.tenants.find((t: { tenant: string }) => t.tenant === mm.name)?.blocks_used).toBe(mm.blocks.size);
              };
              break;
            }
            case 'export': {
              // The evidence bundle holds every payload of the journal: the own tenant's only, and only for an admin with full clearance.
              res = await call('GET', `/export${op.from === undefined ? '' : `?from=${op.from}`}`, token);
              expected = gate() ?? (actor.kind === 'tenant' && (actor.role !== 'admin' || actor.clearance < MAX_VISIBILITY) ? err(403, 'forbidden') : op.from !== undefined && op.from > m!.size ? err(400, 'bad_request') : OK);
              onOk = (r) => {
                expect(r.contentType).toMatch(/ndjson/);
                const manifest = r.json[0];
                expect(manifest).toMatchObject({ t: 'manifest', tenant: m!.name, to: m!.size });
                expect(manifest.origin.endsWith(`/${m!.name}`)).toBe(true);
                stats.exports++;
              };
              break;
            }
            case 'revoke': {
              // The node admin revokes a random extra tenant token over HTTP (never a tenant's first admin);
              // it is refused from the next request on.
              const victims = actors.filter((x): x is Extract<Actor, { kind: 'tenant' }> => x.kind === 'tenant' && !primaries.includes(x));
              if (victims.length === 0) return;
              const victim = victims[op.a % victims.length]!;
              res = await call('DELETE', `/admin/tokens/${victim.id}`, nodeAdmin);
              expected = OK;
              onOk = () => {
                if (!victim.revoked) stats.revokedMidRun++;
                victim.revoked = true;
              };
              break;
            }
          }
          stats.requests++;

          // --- checks after every response
          const ctx = `${op.t} ${JSON.stringify(op)} by ${describeActor(actor)}: ${res.status} ${res.text.slice(0, 300)}`;
          expect(res.status, ctx).toBeLessThan(500);
          expect(res.status, ctx).toBe(expected.status);
          if ('code' in expected) {
            expect(res.json?.error?.code, ctx).toBe(expected.code);
            expect(typeof res.json?.error?.message, ctx).toBe('string');
            const others = allTenants.filter((n) => n !== own?.name);
            // One pass over the message, not one expect per tenant: shrinking creates thousands of tenants.
            const named = others.filter((n) => res.json.error.message.includes(n));
            expect(named, `${ctx}: names other tenants`).toEqual([]);
            if (expected.status === 401) stats.outsider401++;
            if (expected.status === 403 && actor.kind === 'node') stats.node403++;
          } else {
            onOk?.(res);
          }
          const leaked = [...markerTenants(res)].filter((t) => t !== own?.name);
          expect(leaked, `${ctx}: holds data of ${leaked.join(', ')}`).toEqual([]);
        };

        for (const op of [...seeded, ...randomOps]) await step(op);

        // Probes: a fresh admin of each tenant reads and asks the history of every key name, held by others or not.
        for (const mm of models) {
          const t = await srv.token(mm.name, 'admin');
          actors.push({ kind: 'tenant', token: t, id: tokenIdOf(t), tenant: mm, role: 'admin', clearance: Number.MAX_SAFE_INTEGER, revoked: false });
          for (const k of KEYS) {
            await step({ t: 'get', a: actors.length - 1, key: k });
            await step({ t: 'history', a: actors.length - 1, key: k });
          }
          await step({ t: 'list', a: actors.length - 1, prefix: '' });
          await step({ t: 'checkpoint', a: actors.length - 1 });
          await step({ t: 'inclusion', a: actors.length - 1, seq: mm.size });
          await step({ t: 'inclusion', a: actors.length - 1, seq: 0 });
          await step({ t: 'consistency', a: actors.length - 1, from: 1 });
          await step({ t: 'export', a: actors.length - 1, from: undefined });
        }

        // --- after the run: usage still equals the model for each tenant, read by an unrevoked admin
        for (const mm of models) {
          const me = await call('GET', '/tenants/me', await srv.token(mm.name, 'read', 0));
          expect(me.json.blocks_used).toBe(mm.blocks.size);
        }
      }),
      { numRuns: RUNS, endOnFailure: process.env['TALLY_ISOLATION_NO_SHRINK'] === '1' },
    );

    // The interesting cases happened at all.
    expect(stats.crossTenantNotFound).toBeGreaterThan(0);
    expect(stats.crossTenantHistory404).toBeGreaterThan(0);
    expect(stats.batchFailed).toBeGreaterThan(0);
    expect(stats.revokedMidRun).toBeGreaterThan(0);
    expect(stats.exports).toBeGreaterThan(0);
    expect(stats.okWrites).toBeGreaterThan(0);
    expect(stats.batchOk).toBeGreaterThan(0);
    expect(stats.outsider401).toBeGreaterThan(0);
    expect(stats.node403).toBeGreaterThan(0);
    expect(stats.proofOk).toBeGreaterThan(0);
    expect(stats.proofBeyond).toBeGreaterThan(0);
  });
});

describe('authentication comes first', () => {
  it('answers a missing, malformed or revoked token with 401 even when the request itself is invalid', async () => {
    await srv.tenant('authfirst', 'unlimited');
    const revoked = (await srv.tokens.create('authfirst')).token;
    await srv.tokens.revoke(tokenIdOf(revoked));
    const invalid: [string, string, string | undefined][] = [
      ['PUT', '/blocks/k', '{}'],
      ['PUT', '/blocks/k', '{"data": '],
      ['PUT', '/blocks/k', '{"data": 1, "v": -1}'],
      ['POST', '/events', '{}'],
      ['POST', '/batch', '{"ops": []}'],
      ['POST', '/blocks/k/erase', '{}'],
      ['GET', '/proofs/inclusion', undefined],
      ['GET', '/proofs/consistency', undefined],
    ];
    for (const token of [undefined, 'not-a-token', 'tly_0000000000000000_' + 'A'.repeat(43), revoked]) {
      for (const [method, path, body] of invalid) {
        const res = await fetch(srv.url + path, {
          method,
          headers: { ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
          ...(body !== undefined ? { body } : {}),
        });
        const json = (await res.json()) as { error?: { code: string } };
        expect({ status: res.status, code: json.error?.code }, `${method} ${path} ${body ?? ''} with ${token ?? 'no token'}`).toEqual({ status: 401, code: 'unauthorized' });
      }
    }
  });
});
