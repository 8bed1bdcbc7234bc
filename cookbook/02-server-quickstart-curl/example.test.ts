import { describe, expect, it } from 'vitest';
import { verifyReceipt } from '../../src/verify.js';
import { tempDir } from '../../test/helpers/tmpdir.js';
import { main } from './example.js';

describe('recipe 02: server quickstart with curl', () => {
  it('serves the BatenBase calls to curl, with receipts that verify offline', async () => {
    const r = await main(tempDir());
    // First start: the node admin token, tenant "dev" with its token, and a curl line to try.
    expect(r.printed[0]).toMatch(/^tally: serving .* on http:\/\/127\.0\.0\.1:\d+ \(node .*, verifier key tally-/);
    expect(r.printed.join('\n')).toMatch(/created tenant "dev"; its admin token \(shown once\): tly_/);
    expect(r.created).toMatchObject({ status: 201, body: { tenant: 'acme', plan: 'pro' } });
    expect(r.reader).toMatchObject({ status: 201, body: { tenant: 'acme', role: 'read', clearance: 1, label: 'dashboard', revoked: null } });
    expect(r.reader.body.token).toMatch(/^tly_[0-9a-f]{16}_/);
    expect(r.readerPut).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });

    expect(r.put).toMatchObject({ status: 200, body: { ok: true, key: 'user:alice@corp.com', version: 0 } });
    expect(r.get).toMatchObject({ status: 200, body: { key: 'user:alice@corp.com', v: 1, h: 0, data: { name: 'Alice', role: 'admin' }, version: 0 } });
    expect(r.list.body.blocks.map((b: { key: string }) => b.key)).toEqual(['user:alice@corp.com', 'user:bob@corp.com']);
    expect(r.list.body.next).toBeNull();
    expect(r.events.body.events).toMatchObject([{ seq: 2, kind: 'user.login', details: { email: 'alice@corp.com' } }]);
    expect(r.events.body.events[0].actor).toMatch(/^token:[0-9a-f]{16}$/);
    expect(r.missing).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect(r.noToken).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });

    // The receipts curl saved verify against the node's key, with no server involved.
    expect(r.keys.body).toEqual({ keys: [r.verifierKey], active: r.verifierKey });
    expect(verifyReceipt(r.put.body.receipt, [r.verifierKey])).toMatchObject({ ok: true, tenant: 'acme', op: 'set', key: 'user:alice@corp.com', data: { name: 'Alice', role: 'admin' } });
    expect(verifyReceipt(r.logged.body.receipt, [r.verifierKey])).toMatchObject({ ok: true, op: 'log', key: 'user.login' });
  });

  it('the tempting move — a raw key in the URL — misses the route; the URL-encoded key works', async () => {
    const r = await main(tempDir());
    expect(r.rawKey).toMatchObject({ status: 404, body: { error: { code: 'not_found', message: 'no such route' } } });
    expect(r.encodedKey).toMatchObject({ status: 200, body: { key: 'report/2026?draft' } });
  });
});
