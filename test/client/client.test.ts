import { afterAll, describe, expect, it } from 'vitest';
import { TallyClient } from '../../src/client/client.js';
import { seedSigner, verifierKeyOf } from '../../src/core/note.js';
import { runStoreContract, type ContractApi } from '../store/contract.js';
import { startServer, type TestServer } from '../helpers/server.js';

// The block store's contract suite, run through the SDK over real HTTP.
let srv: TestServer | undefined;
let n = 0;
const server = async () => (srv ??= await startServer());
afterAll(async () => srv?.close());

runStoreContract('http client', async () => {
  const s = await server();
  const name = `t${++n}`;
  const token = await s.tenant(name, 'unlimited');
  const key = s.db.verifierKey();
  const client = (t: string) => new TallyClient({ token: t, baseUrl: s.url, verifierKey: key }) as unknown as ContractApi;
  return {
    admin: client(token),
    reader: async (clearance: number) => client(await s.token(name, 'read', clearance)),
    verifierKeys: s.db.verifierKeys(),
    close: async () => {},
  };
});

describe('TallyClient receipt checking', () => {
  /** A fetch that lets a test rewrite the server's JSON answers. */
  const tampering = (edit: (body: Record<string, unknown>) => void): typeof fetch => async (input, init) => {
    const res = await fetch(input, init);
    const body = (await res.json()) as Record<string, unknown>;
    edit(body);
    return new Response(JSON.stringify(body), { status: res.status, headers: { 'content-type': 'application/json' } });
  };

  it('throws invalid_receipt when the server returns a receipt with an altered header', async () => {
    const s = await server();
    const token = await s.tenant('tamper1');
    const c = new TallyClient({ token, baseUrl: s.url, verifierKey: s.db.verifierKey(), fetch: tampering((b) => ((b['receipt'] as { header: { actor: string } }).header.actor = 'mallory')) });
    await expect(c.set('k', { a: 1 })).rejects.toMatchObject({ code: 'invalid_receipt' });
  });

  it('throws invalid_receipt when the receipt is valid but for other data than was sent', async () => {
    const s = await server();
    const token = await s.tenant('tamper2');
    const honest = new TallyClient({ token, baseUrl: s.url });
    const other = await honest.set('k', { a: 'other' });
    const c = new TallyClient({ token, baseUrl: s.url, verifierKey: s.db.verifierKey(), fetch: tampering((b) => (b['receipt'] = other.receipt)) });
    await expect(c.set('k', { a: 'mine' })).rejects.toMatchObject({ code: 'invalid_receipt' });
  });

  it('throws invalid_receipt for a receipt signed by an untrusted key', async () => {
    const s = await server();
    const token = await s.tenant('tamper3');
    const stranger = verifierKeyOf(s.db.name, seedSigner(s.db.name, new Uint8Array(32).fill(3)).publicKey).text;
    const c = new TallyClient({ token, baseUrl: s.url, verifierKey: stranger });
    await expect(c.log('k', {})).rejects.toMatchObject({ code: 'invalid_receipt' });
  });

  it('maps HTTP errors to TallyError with status and code', async () => {
    const s = await server();
    const c = new TallyClient({ token: 'tly_0000000000000000_' + 'A'.repeat(43), baseUrl: s.url });
    await expect(c.get('x')).rejects.toMatchObject({ code: 'unauthorized', status: 401 });
    expect(await c.health()).toEqual({ status: 'ok' });
  });

  it('reports an unreachable server as a TallyError', async () => {
    const c = new TallyClient({ token: 't', baseUrl: 'http://127.0.0.1:1' });
    await expect(c.me()).rejects.toMatchObject({ code: 'internal_error' });
  });
});
