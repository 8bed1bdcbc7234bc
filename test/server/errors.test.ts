import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer | undefined;
afterEach(async () => {
  await srv?.close();
  srv = undefined;
});

async function call(url: string, method: string, path: string, token?: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json: json as { error?: { code: string; message: string } } & Record<string, unknown>, headers: res.headers };
}

describe('HTTP errors', () => {
  it('answers every error code with its status and the one error shape', async () => {
    srv = await startServer({ limits: { bodyLimit: 4096 } });
    const { url } = srv;
    const admin = await srv.tenant('acme');
    const reader = await srv.token('acme', 'read');
    const nodeAdmin = (await srv.tokens.create('*node*')).token;

    const expectError = (r: Awaited<ReturnType<typeof call>>, status: number, code: string) => {
      expect(r.status, JSON.stringify(r.json)).toBe(status);
      expect(r.json.error?.code).toBe(code);
      expect(typeof r.json.error?.message).toBe('string');
    };

    expectError(await call(url, 'PUT', '/blocks/k', admin, { nodata: 1 }), 400, 'bad_request');
    expectError(await call(url, 'PUT', '/blocks/k', admin, '{not json'), 400, 'bad_request');
    expectError(await call(url, 'GET', '/blocks?limit=1001', admin), 400, 'bad_request');
    expectError(await call(url, 'GET', '/blocks/k'), 401, 'unauthorized');
    expectError(await call(url, 'GET', '/blocks/k', 'tly_0000000000000000_' + 'A'.repeat(43)), 401, 'unauthorized');
    expectError(await call(url, 'PUT', '/blocks/k', reader, { data: 1 }), 403, 'forbidden');
    expectError(await call(url, 'GET', '/blocks/k', nodeAdmin), 403, 'forbidden');
    expectError(await call(url, 'GET', '/admin/tenants', admin), 403, 'forbidden');
    expectError(await call(url, 'GET', '/blocks/missing', admin), 404, 'not_found');
    expectError(await call(url, 'GET', '/no/such/route', admin), 404, 'not_found');
    const put = await call(url, 'PUT', '/blocks/k', admin, { data: 1 });
    expect(put.status).toBe(200);
    expectError(await call(url, 'PUT', '/blocks/k', admin, { data: 2, ifVersion: 99 }), 409, 'conflict');
    expectError(await call(url, 'PUT', '/blocks/k', admin, { data: 2 }, { 'if-match': '"99"' }), 412, 'precondition_failed');
    expectError(await call(url, 'PUT', '/blocks/k', admin, { data: 2 }, { 'if-none-match': '*' }), 412, 'precondition_failed');
    expectError(await call(url, 'PUT', '/blocks/big', admin, { data: 'x'.repeat(5000) }), 413, 'payload_too_large');
    await srv.close();

    srv = await startServer({ limits: { rateLimit: { max: 3, timeWindowMs: 60_000 } } });
    const t = await srv.tenant('acme');
    for (let i = 0; i < 3; i++) expect((await call(srv.url, 'GET', '/tenants/me', t)).status).toBe(200);
    const limited = await call(srv.url, 'GET', '/tenants/me', t);
    expectError(limited, 429, 'rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    await srv.close();

    srv = await startServer({
      plugins: [
        (app) =>
          app.get('/boom', async () => {
            throw new Error('secret internals at /home/x');
          }),
      ],
    });
    const small = await srv.tenant('small', 'free');
    const boom = await call(srv.url, 'GET', '/boom', small);
    expectError(boom, 500, 'internal_error');
    expect(JSON.stringify(boom.json)).not.toContain('secret internals');
    expect(JSON.stringify(boom.json)).not.toContain('at ');
    await srv.db.tenant('small').batch(Array.from({ length: 1000 }, (_, i) => ({ op: 'set' as const, key: `a${i}`, data: i })));
    for (let b = 1; b < 10; b++) await srv.db.tenant('small').batch(Array.from({ length: 1000 }, (_, i) => ({ op: 'set' as const, key: `b${b}-${i}`, data: i })));
    expectError(await call(srv.url, 'PUT', '/blocks/one-too-many', small, { data: 1 }), 507, 'quota_exceeded');
  });

  it('serves OpenAPI 3 generated from the route schemas and a docs page', async () => {
    srv = await startServer();
    const spec = await call(srv.url, 'GET', '/openapi.json');
    expect(spec.status).toBe(200);
    expect(String(spec.json['openapi'])).toMatch(/^3\./);
    const paths = Object.keys(spec.json['paths'] as object);
    for (const p of ['/blocks/{key}', '/blocks', '/events', '/tenants/me', '/health', '/batch', '/checkpoint', '/proofs/inclusion', '/proofs/consistency', '/keys']) expect(paths).toContain(p);
    const docs = await fetch(srv.url + '/docs/');
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain('<html');
  });

  it('answers conditional requests with ETags', async () => {
    srv = await startServer();
    const t = await srv.tenant('acme');
    const created = await call(srv.url, 'PUT', '/blocks/doc', t, { data: { a: 1 } }, { 'if-none-match': '*' });
    expect(created.status).toBe(200);
    const read = await call(srv.url, 'GET', '/blocks/doc', t);
    expect(read.headers.get('etag')).toBe(`"${created.json['version']}"`);
    const updated = await call(srv.url, 'PUT', '/blocks/doc', t, { data: { a: 2 } }, { 'if-match': read.headers.get('etag')! });
    expect(updated.status).toBe(200);
    const stale = await call(srv.url, 'DELETE', '/blocks/doc', t, undefined, { 'if-match': read.headers.get('etag')! });
    expect(stale.status).toBe(412);
    expect((await call(srv.url, 'DELETE', `/blocks/doc?ifVersion=${updated.json['version']}`, t)).status).toBe(200);
  });

  it('returns the original receipt for a retried write with the same Idempotency-Key', async () => {
    srv = await startServer();
    const t = await srv.tenant('acme');
    const a = await call(srv.url, 'POST', '/events', t, { kind: 'payment', details: { amount: 5 } }, { 'idempotency-key': 'pay-1' });
    const b = await call(srv.url, 'POST', '/events', t, { kind: 'payment', details: { amount: 5 } }, { 'idempotency-key': 'pay-1' });
    expect(b.json).toEqual(a.json);
    const events = await call(srv.url, 'GET', '/events', t);
    expect((events.json['events'] as unknown[]).length).toBe(1);
  });
});
