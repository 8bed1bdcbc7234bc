/**
 * Request generators of the REST fuzz (test/server/fuzz.test.ts): methods,
 * paths built from the real route table and then mutated, query strings,
 * headers and bodies. A request is a compact description; its body is built
 * only when sent, so a failing case prints short (a 1 MiB string is
 * `{ t: 'huge', n }`, not the string).
 */
import fc from 'fast-check';

/** The tokens a fuzz run holds, by what they are. */
export interface FuzzTokens {
  admin: string;
  write: string;
  read: string;
  other: string;
  node: string;
  revoked: string;
  /** A token the fuzz may revoke through `DELETE /admin/tokens/:id`; its id is among the generated ids. */
  decoy: string;
}

/** A body as described, built by {@link bodyBytes}. */
export type BodySpec =
  | { t: 'json'; value: unknown }
  | { t: 'text'; text: string }
  | { t: 'bytes'; bytes: Uint8Array }
  | { t: 'nest'; depth: number; open: '[' | '{"a":' }
  | { t: 'huge'; n: number; wrap: 'data' | 'bare' };

/** One request, as described. */
export interface ReqSpec {
  method: string;
  path: string;
  /** Header name → value; the token placeholder `$admin` etc. is resolved when sent. */
  headers: [string, string][];
  body?: BodySpec;
}

/** Bytes of a body description. */
export function bodyBytes(b: BodySpec): Buffer {
  switch (b.t) {
    case 'json':
      return Buffer.from(JSON.stringify(b.value) ?? 'null');
    case 'text':
      return Buffer.from(b.text);
    case 'bytes':
      return Buffer.from(b.bytes);
    case 'nest':
      return Buffer.from(b.open.repeat(b.depth) + '1' + (b.open === '[' ? ']' : '}').repeat(b.depth));
    case 'huge': {
      const s = 'x'.repeat(b.n);
      return Buffer.from(b.wrap === 'data' ? `{"data":"${s}"}` : s);
    }
  }
}

/** The id of a token `tly_<id>_<secret>`. */
export const tokenId = (token: string): string => /^tly_([0-9a-f]{16})_/.exec(token)![1]!;

// ---- paths ------------------------------------------------------------------

/** Keys the seed wrote (plus '.' and '..' in their `~` escape, and an undecodable escape). */
const KEYS = ['a', 'ab', 'doc', 'user:alice', 'hidden', 'high', 'erased', 'gone', 'k', '~Lg', '~Li4', '~fg', '~!!', '~'];

const pct = (bytes: Uint8Array) => [...bytes].map((b) => '%' + b.toString(16).padStart(2, '0').toUpperCase()).join('');

/** Characters Node's client sends raw in a path (0x21..0xff): path syntax, percent junk, latin-1. */
const rawChar = fc.constantFrom('%', '%%', '%zz', '%0', '%00', '%2F', '%2e', '%2E%2E', '.', '..', '~', '/', ';', '"', '<', '{', '|', '\\', '^', '`', '#', '&', '=', '+', '\u00e9', '\u00ff', '\u0080', 'a', 'Z', '0');

/** One path segment: a real key most of the time, otherwise something a URL parser or key decoder must survive. */
export const segment: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...KEYS) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 16 }).map(encodeURIComponent) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 12 }).map(pct) },
  { weight: 2, arbitrary: fc.array(rawChar, { minLength: 1, maxLength: 6 }).map((a) => a.join('')) },
  { weight: 1, arbitrary: fc.constantFrom('', '.', '..', '%2e', '%2e%2e', '~' + 'A'.repeat(40), '~' + Buffer.from('\u00ff\u00fe').toString('base64url')) },
  // Keys at and beyond the 1024-byte limit, beyond the router's parameter limit, and beyond Node's 16 KiB header limit.
  { weight: 1, arbitrary: fc.constantFrom(1024, 1025, 3135, 3200, 9000, 20_000).map((n) => 'k'.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom(341, 342, 1100, 6000).map((n) => '%E2%82%AC'.repeat(n)) },
);

const ROUTES = [
  '/blocks/:key',
  '/blocks/:key',
  '/blocks/:key',
  '/blocks/:key/history',
  '/blocks/:key/erase',
  '/blocks/:key/redact',
  '/blocks/:key/unredact',
  '/blocks',
  '/batch',
  '/batch',
  '/events',
  '/events',
  '/checkpoint',
  '/proofs/inclusion',
  '/proofs/consistency',
  '/receipts/:seq',
  '/export',
  '/tenants/me',
  '/admin/tenants',
  '/admin/tokens',
  '/admin/tokens/:id',
  '/keys',
  '/health',
  '/openapi.json',
  '/docs',
  '/',
] as const;

const seqSegment = fc.oneof(fc.nat({ max: 60 }).map(String), fc.constantFrom('-1', '1.5', '1e3', '99999999999999999', '9007199254740993', '0x10', ' 1', 'NaN'), segment);
const idSegment = (decoyId: string) => fc.oneof(fc.constant(decoyId), fc.stringMatching(/^[0-9a-f]{16}$/), segment);

/** A path mutated the way a confused client or an attacker might. */
const mutate = (path: string): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 12, arbitrary: fc.constant(path) },
    { weight: 1, arbitrary: segment.map((s) => `${path}/${s}`) },
    { weight: 1, arbitrary: fc.constant(path + '/') },
    { weight: 1, arbitrary: fc.constant(path.replace('/', '//')) },
    { weight: 1, arbitrary: fc.constantFrom('/..', '/.', '/%2e%2e', '/./', '/../..').map((p) => p + path) },
    { weight: 1, arbitrary: fc.constant(path.toUpperCase()) },
    { weight: 1, arbitrary: fc.constant(path.replace(/\/[^/]*$/, '/..')) },
    { weight: 1, arbitrary: fc.constant(path.replace(/\//g, '%2F').replace(/^%2F/, '/')) },
  );

export const pathArb = (decoyId: string): fc.Arbitrary<string> =>
  fc
    .tuple(fc.constantFrom(...ROUTES), segment, seqSegment, idSegment(decoyId))
    .map(([r, key, seq, id]) => r.replace(':key', key).replace(':seq', seq).replace(':id', id))
    .chain(mutate);

// ---- query strings ----------------------------------------------------------

const b64url = (s: string) => Buffer.from(s).toString('base64url');
const PARAMS = ['asOf', 'validAt', 'includeHidden', 'limit', 'cursor', 'prefix', 'since', 'kind', 'seq', 'size', 'from', 'to', 'ifVersion', 'tenant'];
const paramValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.nat({ max: 80 }).map(String) },
  {
    weight: 3,
    arbitrary: fc.constantFrom('', '0', '-1', '1.5', '1e3', '1001', '99999999999999999', '9007199254740993', 'true', 'false', 'absent', '1h', '24h', '7d', '30d', '2026-01-01', '2026-06-01T12:00:00Z', '2026-13-45T99:99Z', '0000-00-00', '+275760-09-13T00:00:00Z', '9999-12-31T23:59:59.999999999+14:00', 'null', 'undefined', '__proto__'),
  },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }).map(encodeURIComponent) },
  // Cursors: base64url of JSON (the server's form) with every shape of content, and junk.
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => b64url(JSON.stringify(v))) },
  { weight: 1, arbitrary: fc.constantFrom('[-1]', '[1e308]', '[1.5]', '["a"]', '[""]', '[[]]', '[null]', '[9007199254740993]', '{}', '[', '[-0]').map(b64url) },
  { weight: 1, arbitrary: fc.array(rawChar, { minLength: 1, maxLength: 5 }).map((a) => a.join('')) },
  { weight: 1, arbitrary: fc.constantFrom(2000, 9000).map((n) => 'q'.repeat(n)) },
);
const param = fc.tuple(fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...PARAMS) }, { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 6 }).map(encodeURIComponent) }), paramValue);
export const queryArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constant('') },
  { weight: 4, arbitrary: fc.array(param, { minLength: 1, maxLength: 4 }).map((ps) => '?' + ps.map(([k, v]) => `${k}=${v}`).join('&')) },
  { weight: 1, arbitrary: fc.constantFrom('?', '?&&', '?limit', '?limit=1&limit=2', '?seq=1&seq=2', '?=', '?a[b]=1', '?__proto__[x]=1', '?constructor=1&prototype=2') },
);

// ---- headers ----------------------------------------------------------------

/** Printable latin-1 (what Node's client lets through in a header value). */
const headerText = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c)), maxLength: 40 });

const authArb: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom('$admin', '$admin', '$write', '$write', '$read', '$other', '$node', '$revoked', '$decoy').map((t) => `Bearer ${t}`) },
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom('bearer $admin', 'Bearer  $write  ', 'Basic $admin', 'Bearer', 'Bearer ', 'Bearer $admin $admin', 'Bearer $admin,', '$admin', 'Bearer tly_0000000000000000_' + 'A'.repeat(43), 'Bearer tly_' + 'f'.repeat(16) + '_' + '!'.repeat(43)) },
  { weight: 1, arbitrary: fc.constantFrom('$admin', '$write').map((t) => `Bearer ${t}~flip`) },
  { weight: 1, arbitrary: headerText },
);

const contentTypeArb: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('application/json', 'application/json', 'application/json; charset=utf-8') },
  { weight: 3, arbitrary: fc.constant(undefined) },
  {
    weight: 3,
    arbitrary: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/cbor', '', ';', 'application/json; charset=latin1', 'application/json; charset="', 'APPLICATION/JSON', 'json', '*/*', 'application/json;;;', 'a/b; c=d; c=e', 'text/html; charset=utf-16'),
  },
  { weight: 1, arbitrary: headerText },
);

const extraHeader: fc.Arbitrary<[string, string]> = fc.oneof(
  fc.tuple(fc.constant('if-match'), fc.oneof(fc.constantFrom('"1"', '"0"', 'W/"3"', '*', '"99999999999999999"', '""', '"-1"', '1, 2'), headerText)),
  fc.tuple(fc.constant('if-none-match'), fc.oneof(fc.constantFrom('*', ' * ', '"1"', ''), headerText)),
  fc.tuple(fc.constant('idempotency-key'), fc.oneof(fc.constantFrom('k1', 'k2', 'k3', '', ' ', 'x'.repeat(300)), headerText)),
  fc.tuple(fc.constantFrom('accept', 'accept-encoding', 'content-encoding', 'x-forwarded-for', 'x-request-id', 'origin', 'range', 'cookie'), fc.oneof(fc.constantFrom('gzip', 'br', 'identity', '*/*', 'text/html', 'bytes=0-1', 'unknown'), headerText)),
  fc.tuple(fc.constantFrom('x-fuzz', 'x-' + 'h'.repeat(100)), headerText),
  fc.tuple(fc.constant('host'), fc.oneof(fc.constantFrom('$none', '', 'evil.example', '127.0.0.1:1', '[::1]', 'a b'), headerText)),
);

export const headersArb: fc.Arbitrary<[string, string][]> = fc
  .tuple(authArb, contentTypeArb, fc.array(extraHeader, { maxLength: 3 }))
  .map(([auth, ct, extra]) => [...(auth !== undefined ? [['authorization', auth] as [string, string]] : []), ...(ct !== undefined ? [['content-type', ct] as [string, string]] : []), ...extra]);

// ---- bodies -----------------------------------------------------------------

const small = fc.jsonValue({ maxDepth: 3 });
const anyKey = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...KEYS.slice(0, 10)) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }, { weight: 1, arbitrary: small });
const version = fc.oneof(fc.nat({ max: 60 }), fc.constantFrom('absent', -1, 1.5, '1', null, true, 2 ** 53, 1e308));
const instant = fc.oneof(fc.nat(), fc.constantFrom('2026-01-01', '2026-06-01T12:00:00Z', 'yesterday', -1, 1.5, 2 ** 53, '', null, '99999999999999999'));
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 2 });

const putBody = fc.record({ data: small, v: opt(fc.oneof(fc.nat({ max: 3 }), fc.constantFrom(-1, 1.5, '1', 2 ** 31, null))), ifVersion: opt(version), validFrom: opt(instant) }, { requiredKeys: [] });
const batchOp = fc.oneof(
  fc.record({ op: fc.constant('set'), key: anyKey, data: small, v: opt(fc.nat({ max: 3 })), ifVersion: opt(version), validFrom: opt(instant) }, { requiredKeys: ['op', 'key', 'data'] }),
  fc.record({ op: fc.constant('delete'), key: anyKey, ifVersion: opt(version) }, { requiredKeys: ['op', 'key'] }),
  fc.record({ op: fc.constant('log'), kind: anyKey, details: opt(small) }, { requiredKeys: ['op', 'kind'] }),
  fc.record({ op: fc.constantFrom('erase', 'redact', 'SET', '', null), key: anyKey, extra: opt(small) }),
  small,
);
const batchBody = fc.record({ ops: fc.oneof({ weight: 6, arbitrary: fc.array(batchOp, { minLength: 1, maxLength: 5 }) }, { weight: 1, arbitrary: fc.constantFrom([], null, 'ops', {}) }) }, { requiredKeys: [] });
const eventBody = fc.record({ kind: fc.oneof(fc.constantFrom('user.login', 'payment', ''), fc.string({ maxLength: 12 }), small), details: opt(small) }, { requiredKeys: [] });
const eraseBody = fc.record({ reason: fc.oneof(fc.constantFrom('gdpr', '', 'r'.repeat(1025)), fc.string({ maxLength: 12 }), small) }, { requiredKeys: [] });
const tenantBody = fc.record({ name: fc.oneof(fc.stringMatching(/^fz[a-z0-9]{1,6}$/), fc.constantFrom('fuzz', 'other', '*node*', '', 'A', '-x'), small), plan: opt(fc.constantFrom('free', 'pro', 'unlimited', 'gold', 1)) }, { requiredKeys: [] });
const tokenBody = fc.record({ tenant: fc.oneof(fc.constantFrom('fuzz', 'other', 'nope', '*node*'), small), role: opt(fc.constantFrom('read', 'write', 'admin', 'root', 0)), clearance: opt(fc.oneof(fc.nat({ max: 5 }), fc.constantFrom(-1, 1.5, 2 ** 60, '1'))), label: opt(fc.oneof(fc.string({ maxLength: 10 }), fc.constant('l'.repeat(201)))) }, { requiredKeys: [] });

/** Invalid JSON: truncations, trailing junk, JS-isms, a BOM, lone surrogates escaped and raw. */
const badJson = fc.oneof(
  small.map((v) => JSON.stringify({ data: v })).chain((s) => fc.nat({ max: Math.max(0, s.length - 1) }).map((n) => s.slice(0, n))),
  fc.constantFrom('{"data":1}x', '{data:1}', "{'data':1}", 'NaN', '{"data":NaN}', '{"data":1e999}', '{"data":-1e999}', '\uFEFF{"data":1}', '{"data":"\\ud800"}', '{"\\udc00":1,"data":1}', '{"data":1,"data":2}', '{"__proto__":{"data":1}}', '{"constructor":{"prototype":{"x":1}},"data":1}', '[]', '""', '0', 'null', 'true', ' ', '\u0000', '{"ops":[{"op":"set","key":"\\ud800","data":1}]}'),
  fc.string({ maxLength: 30 }),
);

export const bodyArb: fc.Arbitrary<BodySpec | undefined> = fc.oneof(
  { weight: 600, arbitrary: fc.constant(undefined) },
  { weight: 800, arbitrary: fc.oneof(putBody, putBody, batchBody, batchBody, eventBody, eraseBody, tenantBody, tokenBody).map((value) => ({ t: 'json' as const, value })) },
  { weight: 200, arbitrary: small.map((value) => ({ t: 'json' as const, value })) },
  { weight: 200, arbitrary: badJson.map((text) => ({ t: 'text' as const, text })) },
  { weight: 100, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ t: 'bytes' as const, bytes })) },
  { weight: 60, arbitrary: fc.record({ depth: fc.constantFrom(63, 64, 65, 66, 300, 5000, 100_000), open: fc.constantFrom<'[' | '{"a":'>('[', '{"a":') }).map((n) => ({ t: 'nest' as const, ...n })) },
  // Rare (a few dozen in 10,000): around and beyond the 1 MiB body limit and the journal's 1 MiB payload limit.
  { weight: 4, arbitrary: fc.constantFrom(1024 * 1024 - 20, 1024 * 1024 + 1, 1_100_000, 600_000).map((n) => ({ t: 'huge' as const, n, wrap: 'data' as const })) },
  { weight: 2, arbitrary: fc.constantFrom(1024 * 1024 + 10, 3_000_000).map((n) => ({ t: 'huge' as const, n, wrap: 'bare' as const })) },
);

// ---- whole requests ---------------------------------------------------------

const methodArb = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom('GET', 'GET', 'PUT', 'POST', 'DELETE') },
  { weight: 3, arbitrary: fc.constantFrom('PATCH', 'HEAD', 'OPTIONS') },
  { weight: 1, arbitrary: fc.constantFrom('FOO', 'PROPFIND', 'SEARCH', 'PURGE', 'QUERY', 'M-SEARCH', 'LINK', 'get', 'ACL', 'MKCOL', 'REPORT', 'BREW', 'X') },
);

/** Everything independent: most of these are rejected somewhere. */
const chaos = (decoyId: string): fc.Arbitrary<ReqSpec> =>
  fc.record({ method: methodArb, path: fc.tuple(pathArb(decoyId), queryArb).map(([p, q]) => p + q), headers: headersArb, body: bodyArb }).map(({ body, ...r }) => (body === undefined ? r : { ...r, body }));

const json = (value: unknown): BodySpec => ({ t: 'json', value });
const key = fc.constantFrom(...KEYS.slice(0, 10));
const writer = fc.constantFrom('Bearer $admin', 'Bearer $admin', 'Bearer $write', 'Bearer $write', 'Bearer $read', 'Bearer $other');
const validPut = fc.record({ data: small, v: opt(fc.nat({ max: 3 })) }, { requiredKeys: ['data'] });

/** Well-formed writes and reads with a small mutation, so thousands of requests do succeed and change the journal. */
const coherent: fc.Arbitrary<ReqSpec> = fc
  .tuple(
    fc.oneof(
      { weight: 5, arbitrary: fc.tuple(key, validPut).map(([k, b]) => ({ method: 'PUT', path: `/blocks/${k}`, body: json(b) })) },
      { weight: 2, arbitrary: key.map((k) => ({ method: 'DELETE', path: `/blocks/${k}` })) },
      { weight: 3, arbitrary: fc.array(batchOp, { minLength: 1, maxLength: 4 }).map((ops) => ({ method: 'POST', path: '/batch', body: json({ ops }) })) },
      { weight: 2, arbitrary: eventBody.map((b) => ({ method: 'POST', path: '/events', body: json(b) })) },
      { weight: 1, arbitrary: fc.tuple(key, fc.constantFrom('redact', 'unredact')).map(([k, op]) => ({ method: 'POST', path: `/blocks/${k}/${op}` })) },
      { weight: 1, arbitrary: fc.tuple(key, eraseBody).map(([k, b]) => ({ method: 'POST', path: `/blocks/${k}/erase`, body: json(b) })) },
      { weight: 3, arbitrary: fc.tuple(fc.constantFrom('/blocks/a', '/blocks/doc', '/blocks', '/blocks/a/history', '/events', '/tenants/me', '/checkpoint', '/keys'), queryArb).map(([p, q]) => ({ method: 'GET', path: p + q })) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom('/proofs/inclusion?seq=', '/proofs/consistency?from=', '/receipts/'), fc.nat({ max: 40 })).map(([p, n]) => ({ method: 'GET', path: p + n })) },
    ),
    writer,
    fc.array(extraHeader, { maxLength: 1 }),
  )
  .map(([r, auth, extra]) => ({ ...r, headers: [['authorization', auth], ['content-type', 'application/json'], ...extra] as [string, string][] }));

/** One fuzz request: chaos half the time, coherent requests the other half. */
export const requestArb = (decoyId: string): fc.Arbitrary<ReqSpec> => fc.oneof(chaos(decoyId), coherent);
