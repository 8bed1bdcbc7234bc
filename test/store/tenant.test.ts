import { describe, expect, it } from 'vitest';
import { verifyReceipt } from '../../src/core/verify-receipt.js';
import { Tally } from '../../src/store/tally.js';
import type { TenantHandle } from '../../src/store/tenant.js';
import { tempDir } from '../helpers/tmpdir.js';
import { allBlocks, allEvents, BAD_DATA_EMBEDDED, codeOf, observe, runStoreContract, type ContractApi } from './contract.js';

runStoreContract('embedded', async () => {
  const db = await Tally.open(tempDir());
  return {
    admin: db.tenant('acme'),
    reader: async (clearance: number) => db.tenant('acme', { role: 'read', clearance, actor: 'reader' }),
    verifierKeys: db.verifierKeys(),
    close: () => db.close(),
  };
});

/** A fresh database for one test; closed by the caller. */
async function fresh(opts: Parameters<typeof Tally.open>[1] = {}): Promise<{ db: Tally; dir: string }> {
  const dir = tempDir();
  return { db: await Tally.open(dir, opts), dir };
}

async function expectRefused(t: ContractApi, code: string, fn: () => unknown): Promise<void> {
  const before = await observe(t);
  expect(await codeOf(fn)).toBe(code);
  expect(await observe(t)).toEqual(before);
}

describe('embedded store', () => {
  it('reads values of different sizes back whole through LMDB\'s reusable read buffer (lists, as-of reads)', async () => {
    // List and as-of reads decode records and payloads in place in one buffer that lmdb-js reuses and
    // whose view is longer than a short value: each must be read to its own length, not the buffer's.
    const { db } = await fresh();
    const t = db.tenant('acme');
    const big = { text: 'x'.repeat(20_000), n: 1 };
    const small = { n: 2 };
    await t.set('a', big);
    await t.set('b', small);
    await t.set('a', { n: 3 });
    await t.set('b', { text: 'y'.repeat(30_000) });
    for (let round = 0; round < 2; round++) {
      expect((await t.get('a', { asOf: 0 })).data).toEqual(big);
      expect((await t.get('b', { asOf: 1 })).data).toEqual(small);
      expect((await t.list({})).blocks.map((b) => b.data)).toEqual([{ n: 3 }, { text: 'y'.repeat(30_000) }]);
      expect((await t.list({ asOf: 1 })).blocks.map((b) => b.data)).toEqual([big, small]);
    }
    await db.close();
  });

  it('keeps text that starts with U+FEFF exactly: it reads back whole and its receipt verifies', async () => {
    const { db } = await fresh();
    const t = db.tenant('acme');
    const data = { name: '\uFEFFhello' };
    const w = await t.set('bom', data);
    expect(verifyReceipt(w.receipt, db.verifierKeys())).toMatchObject({ ok: true, data });
    expect((await t.get('bom')).data).toEqual(data);
    expect(await t.verify({ projection: true })).toMatchObject({ ok: true });
    await db.close();
  });

  describe('data an embedded caller can pass but JSON cannot', () => {
    it.each(BAD_DATA_EMBEDDED.map((b) => [b.name, b.data]))('refuses %s in every data-taking write with bad_request and writes nothing', async (_name, data) => {
      const { db } = await fresh();
      const t = db.tenant('acme');
      await t.set('existing', 1);
      await expectRefused(t, 'bad_request', () => t.set('existing', data));
      await expectRefused(t, 'bad_request', () => t.set('new', data));
      await expectRefused(t, 'bad_request', () => t.batch([{ op: 'set', key: 'fine', data: 1 }, { op: 'set', key: 'new', data }]));
      // Omitted (undefined) log details mean the default {}; every other value is refused there too.
      if (data !== undefined) {
        await expectRefused(t, 'bad_request', () => t.log('k', data));
        await expectRefused(t, 'bad_request', () => t.batch([{ op: 'log', kind: 'fine' }, { op: 'log', kind: 'k', details: data }]));
      }
      await db.close();
    });

    it('refuses a batch set without data and an invalid validFrom with bad_request', async () => {
      const { db } = await fresh();
      const t = db.tenant('acme');
      await t.set('existing', 1);
      await expectRefused(t, 'bad_request', () => t.batch([{ op: 'set', key: 'a' } as never]));
      await expectRefused(t, 'bad_request', () => t.set('a', 1, { validFrom: new Date(NaN) }));
      await expectRefused(t, 'bad_request', () => t.set('a', 1, { validFrom: -1 }));
      await expectRefused(t, 'bad_request', () => t.set('a', 1, { validFrom: 'last tuesday' }));
      await db.close();
    });
  });

  describe('roles', () => {
    it('refuses every write to a read-role handle with forbidden', async () => {
      const { db } = await fresh();
      const admin = db.tenant('acme');
      await admin.set('a', 1);
      const r = db.tenant('acme', { role: 'read', clearance: 100, actor: 'reader' });
      for (const [what, call] of [
        ['set', () => r.set('b', 1)],
        ['set existing', () => r.set('a', 2)],
        ['delete', () => r.delete('a')],
        ['log', () => r.log('k', {})],
        ['batch', () => r.batch([{ op: 'set', key: 'b', data: 1 }])],
        ['redact', () => r.redact('a')],
        ['unredact', () => r.unredact('a')],
        ['erase', () => r.erase('a', { reason: 'r' })],
        ['rebuild', () => r.rebuild()],
      ] as const) {
        const before = await observe(admin);
        expect(await codeOf(call), what).toBe('forbidden');
        expect(await observe(admin), what).toEqual(before);
      }
      expect((await r.get('a')).data).toBe(1);
      await db.close();
    });

    it('refuses redact, unredact, erase and rebuild to a write-role handle with forbidden, and allows its writes', async () => {
      const { db } = await fresh();
      const admin = db.tenant('acme');
      await admin.set('a', 1);
      const w = db.tenant('acme', { role: 'write', clearance: 1, actor: 'writer' });
      for (const [what, call] of [
        ['redact', () => w.redact('a')],
        ['unredact', () => w.unredact('a')],
        ['erase', () => w.erase('a', { reason: 'r' })],
        ['rebuild', () => w.rebuild()],
      ] as const) {
        const before = await observe(admin);
        expect(await codeOf(call), what).toBe('forbidden');
        expect(await observe(admin), what).toEqual(before);
      }
      await w.set('b', 2);
      await w.log('k', {});
      await w.batch([{ op: 'set', key: 'c', data: 3 }]);
      await w.delete('b');
      expect((await allBlocks(admin)).map((b) => b.key)).toEqual(['a', 'c']);
      await db.close();
    });

    it('makes deleting a block above the writer clearance look like deleting a missing one', async () => {
      const { db } = await fresh();
      const admin = db.tenant('acme');
      await admin.set('secret', 1, { v: 5 });
      const w = db.tenant('acme', { role: 'write', clearance: 1, actor: 'writer' });
      await expectRefused(admin, 'not_found', () => w.delete('secret'));
      await expectRefused(admin, 'not_found', () => w.batch([{ op: 'delete', key: 'secret' }]));
      expect((await admin.get('secret')).data).toBe(1);
      await db.close();
    });

    it('refuses an invalid tenant name, role or clearance with bad_request', async () => {
      const { db } = await fresh();
      for (const [what, call] of [
        ['name with capitals', () => db.tenant('Acme')],
        ['empty name', () => db.tenant('')],
        ['name with a slash', () => db.tenant('a/b')],
        ['name of 64 characters', () => db.tenant('a'.repeat(64))],
        ['role', () => db.tenant('acme', { role: 'owner' as never })],
        ['negative clearance', () => db.tenant('acme', { clearance: -1 })],
        ['fractional clearance', () => db.tenant('acme', { clearance: 1.5 })],
      ] as const) {
        expect(await codeOf(call), what).toBe('bad_request');
      }
      expect(db.tenant('a'.repeat(63)).name).toBe('a'.repeat(63));
      await db.close();
    });

    it('refuses handles on a closed database with closed', async () => {
      const { db } = await fresh();
      await db.close();
      expect(await codeOf(() => db.tenant('acme'))).toBe('closed');
    });

    it('records the actor of the handle in receipts, history and events', async () => {
      const { db } = await fresh();
      const svc = db.tenant('acme', { actor: 'billing-service', role: 'write', clearance: 3 });
      const set = await svc.set('invoice:1', { amount: 9500 });
      const log = await svc.log('invoice.paid', { id: 1 });
      const batch = await svc.batch([{ op: 'set', key: 'invoice:2', data: 1 }]);
      await db.tenant('acme').set('invoice:1', { amount: 1 });
      for (const r of [set.receipt, log.receipt, batch.results[0]!.receipt]) {
        expect(r.header.actor).toBe('billing-service');
        expect(verifyReceipt(r, db.verifierKeys())).toMatchObject({ ok: true, actor: 'billing-service' });
      }
      expect((await svc.history('invoice:1')).versions.map((v) => v.actor)).toEqual(['admin', 'billing-service']);
      expect((await allEvents(svc)).map((e) => e.actor)).toEqual(['billing-service', 'billing-service', 'billing-service', 'admin']);
      await db.close();
    });

    it('refuses an actor name over 256 bytes with bad_request and writes nothing', async () => {
      const { db } = await fresh();
      const admin = db.tenant('acme');
      await admin.set('a', 1);
      const long = db.tenant('acme', { actor: 'x'.repeat(257) });
      await expectRefused(admin, 'bad_request', () => long.set('b', 1));
      await db.close();
    });
  });

  describe('tenants and quotas', () => {
    it('refuses to create a tenant twice, including one created by a first write, with conflict', async () => {
      const { db } = await fresh();
      expect(await db.createTenant('small', { plan: 'free' })).toMatchObject({ tenant: 'small', plan: 'free', created: expect.any(Number) });
      expect(await codeOf(() => db.createTenant('small', { plan: 'pro' }))).toBe('conflict');
      await db.tenant('implicit').set('a', 1);
      expect(await codeOf(() => db.createTenant('implicit'))).toBe('conflict');
      expect(await db.tenant('implicit').me()).toMatchObject({ plan: 'unlimited', quota: null });
      expect(await db.tenant('small').me()).toMatchObject({ tenant: 'small', plan: 'free', blocks_used: 0, quota: 10_000 });
      expect(db.tenants()).toEqual(['implicit', 'small']);
      await db.close();
    });

    it('refuses a bad tenant name or plan with bad_request', async () => {
      const { db } = await fresh();
      expect(await codeOf(() => db.createTenant('Bad Name'))).toBe('bad_request');
      expect(await codeOf(() => db.createTenant('ok', { plan: 'gold' as never }))).toBe('bad_request');
      expect(db.tenants()).toEqual([]);
      await db.close();
    });

    it('refuses writes to a missing tenant when the handle may not create it', async () => {
      const { db } = await fresh();
      const t = db.tenant('ghost', { create: false });
      expect(await codeOf(() => t.set('a', 1))).toBe('not_found');
      expect(await codeOf(() => t.log('k', {}))).toBe('not_found');
      expect(await codeOf(() => t.get('a'))).toBe('not_found');
      expect(await t.list()).toEqual({ blocks: [], next: null });
      expect(await t.events()).toEqual({ events: [], next: null });
      expect(db.tenants()).toEqual([]);
      await db.createTenant('ghost');
      await t.set('a', 1);
      expect((await t.me()).plan).toBe('free');
      await db.close();
    });

    it('enforces the free quota of 10,000 live blocks', async () => {
      const { db } = await fresh();
      await db.createTenant('small', { plan: 'free' });
      const t = db.tenant('small');
      for (let b = 0; b < 10; b++) {
        await t.batch(Array.from({ length: 1000 }, (_, i) => ({ op: 'set' as const, key: `k:${b}:${String(i).padStart(3, '0')}`, data: i })));
      }
      expect(await t.me()).toMatchObject({ plan: 'free', blocks_used: 10_000, quota: 10_000 });

      await expectRefused(t, 'quota_exceeded', () => t.set('one-too-many', 1));
      await expectRefused(t, 'quota_exceeded', () => t.batch([{ op: 'set', key: 'k:0:000', data: 'fine' }, { op: 'set', key: 'one-too-many', data: 1 }]));
      const reset = await t.set('k:0:000', 'still fine');
      expect((await t.get('k:0:000')).version).toBe(reset.version);
      expect((await t.me()).blocks_used).toBe(10_000);

      // Freeing a block in the same batch makes room.
      await t.batch([{ op: 'delete', key: 'k:0:001' }, { op: 'set', key: 'replacement', data: 1 }]);
      expect((await t.me()).blocks_used).toBe(10_000);
      await expectRefused(t, 'quota_exceeded', () => t.set('one-too-many', 1));
      await t.erase('k:0:002', { reason: 'make room' });
      await t.set('one-too-many', 1);
      expect((await t.me()).blocks_used).toBe(10_000);

      // One free slot and three concurrent creators: exactly one gets it.
      await t.delete('k:0:003');
      const raced = await Promise.allSettled([t.set('race:1', 1), t.set('race:2', 2), t.set('race:3', 3)]);
      expect(raced.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(raced.filter((r) => r.status === 'rejected').map((r) => (r.reason as { code: string }).code)).toEqual(['quota_exceeded', 'quota_exceeded']);
      expect((await t.me()).blocks_used).toBe(10_000);
      expect((await allBlocks(t, { prefix: 'race:' })).length).toBe(1);
      await db.close();
    });

    it('applies a changed plan at once', async () => {
      const { db } = await fresh();
      await db.createTenant('small', { plan: 'free' });
      await db.setPlan('small', 'pro');
      expect(await db.tenant('small').me()).toMatchObject({ plan: 'pro', quota: 1_000_000 });
      expect(await codeOf(() => db.setPlan('nobody', 'pro'))).toBe('not_found');
      await db.close();
    });
  });

  describe('integrity and maintenance', () => {
    async function populate(t: TenantHandle): Promise<void> {
      await t.batch(Array.from({ length: 20 }, (_, i) => ({ op: 'set' as const, key: `k${i % 7}`, data: { i }, v: 1 + (i % 3) })));
      await t.delete('k1');
      await t.redact('k2');
      await t.set('user:a', 'x');
      await t.log('audit', { n: 1 });
      await t.erase('k3', { reason: 'r' });
      await t.unredact('k2');
      await t.redact('k4');
      await t.set('k1', 'back');
    }

    it('streams from stateAt the same blocks as list with asOf', async () => {
      const { db } = await fresh();
      const t = db.tenant('acme');
      await populate(t);
      const size = (await allEvents(t)).length;
      for (let seq = 0; seq < size; seq++) {
        for (const opts of [{}, { includeHidden: true }, { prefix: 'k' }, { prefix: 'user:', includeHidden: true }]) {
          const streamed = [];
          for await (const b of t.stateAt(seq, opts)) streamed.push(b);
          const listed = (await t.list({ asOf: seq, limit: 1000, ...opts })).blocks;
          expect(streamed, `seq ${seq} ${JSON.stringify(opts)}`).toEqual(listed);
        }
      }
      const last = (await allEvents(t)).at(-1)!;
      const byTime = [];
      for await (const b of t.stateAt(new Date(last.time), { includeHidden: true })) byTime.push(b);
      expect(byTime).toEqual(await allBlocks(t));
      await db.close();
    });

    it('refuses a bad stateAt point with bad_request', async () => {
      const { db } = await fresh();
      const t = db.tenant('acme');
      await t.set('a', 1);
      expect(await codeOf(async () => {
        for await (const b of t.stateAt('not a time')) void b;
      })).toBe('bad_request');
      await db.close();
    });

    it('leaves the projection equal to a replay after rebuild, with the same reads', async () => {
      const { db } = await fresh();
      const t = db.tenant('acme');
      await populate(t);
      const reads = async () => ({ blocks: await allBlocks(t), events: await allEvents(t), me: await t.me(), history: await t.history('k2') });
      const before = await reads();
      expect(await t.verify({ projection: true })).toMatchObject({ ok: true });
      const tid = db.journal.tenant('acme')!.id;
      const dump = db.projection.dump(tid);
      expect(await t.rebuild()).toEqual({ ok: true, events: before.events.length });
      expect(db.projection.dump(tid)).toEqual(dump);
      expect(await t.verify({ projection: true })).toMatchObject({ ok: true, checked: before.events.length });
      expect(await reads()).toEqual(before);
      await db.close();
    });

    it('keeps the projection equal to a replay when a rebuild runs among concurrent writes', async () => {
      const { db } = await fresh();
      const t = db.tenant('acme');
      for (let i = 0; i < 30; i++) await t.set(`k${i % 10}`, i);
      const pending: Promise<unknown>[] = [];
      for (let i = 0; i < 150; i++) {
        pending.push(t.set(`k${i % 13}`, i));
        if (i % 50 === 0) pending.push(t.rebuild());
        if (i % 37 === 0) pending.push(t.delete(`k${i % 13}`).catch((e: { code: string }) => e.code));
      }
      await Promise.all(pending);
      expect(await t.verify({ projection: true })).toMatchObject({ ok: true });
      expect((await t.me()).blocks_used).toBe((await allBlocks(t)).length);
      await db.close();
    });

    it('keeps tenants apart: blocks, events, history, counts and idempotency keys', async () => {
      const { db } = await fresh();
      const a = db.tenant('a');
      const b = db.tenant('b');
      await a.set('shared', 'from a', { idempotencyKey: 'req' });
      await b.set('shared', 'from b', { idempotencyKey: 'req' });
      await b.set('only-b', 1);
      await a.log('k', { t: 'a' });
      expect((await a.get('shared')).data).toBe('from a');
      expect((await b.get('shared')).data).toBe('from b');
      expect(await codeOf(() => a.get('only-b'))).toBe('not_found');
      expect((await allBlocks(a)).map((x) => x.key)).toEqual(['shared']);
      expect((await allEvents(a)).map((e) => e.kind)).toEqual(['block.set', 'k']);
      expect((await allEvents(b)).map((e) => e.key)).toEqual(['shared', 'only-b']);
      expect((await a.history('shared')).versions).toHaveLength(1);
      expect((await a.me()).blocks_used).toBe(1);
      expect((await b.me()).blocks_used).toBe(2);
      expect((await a.get('shared', { asOf: 1 })).data).toBe('from a');
      await db.close();
    });

    it('reports an empty tenant as verified and rebuilt', async () => {
      const { db } = await fresh();
      const t = db.tenant('nobody');
      expect(await t.verify({ projection: true })).toMatchObject({ ok: true, checked: 0 });
      expect(await t.rebuild()).toEqual({ ok: true, events: 0 });
      expect(await t.checkpoint()).toBeNull();
      await db.close();
    });

    it('keeps idempotency across close and reopen', async () => {
      const { db, dir } = await fresh();
      const first = await db.tenant('acme').set('a', { n: 1 }, { idempotencyKey: 'req-1' });
      const batch = await db.tenant('acme').batch([{ op: 'set', key: 'b', data: 1 }, { op: 'log', kind: 'k' }], { idempotencyKey: 'req-2' });
      await db.close();

      const again = await Tally.open(dir);
      const t = again.tenant('acme');
      const before = await observe(t);
      expect(await t.set('a', { n: 1 }, { idempotencyKey: 'req-1' })).toEqual(first);
      expect(await t.batch([{ op: 'set', key: 'b', data: 1 }, { op: 'log', kind: 'k' }], { idempotencyKey: 'req-2' })).toEqual(batch);
      expect(await codeOf(() => t.set('a', { n: 2 }, { idempotencyKey: 'req-1' }))).toBe('conflict');
      expect(await observe(t)).toEqual(before);
      expect(verifyReceipt(first.receipt, again.verifierKeys()).ok).toBe(true);
      await again.close();
    });

    it('keeps idempotency across a rebuild', async () => {
      const { db } = await fresh();
      const t = db.tenant('acme');
      const first = await t.set('a', 1, { idempotencyKey: 'req-1' });
      await t.rebuild();
      const before = await observe(t);
      expect(await t.set('a', 1, { idempotencyKey: 'req-1' })).toEqual(first);
      expect(await observe(t)).toEqual(before);
      await db.close();
    });

    it('keeps receipts signed before a key rotation verifiable with every verifier key', async () => {
      const { db } = await fresh();
      const t = db.tenant('acme');
      const old = await t.set('a', 1);
      const oldKey = db.verifierKey();
      const newKey = db.rotateKey();
      const later = await t.set('b', 2);
      expect(db.verifierKeys()).toEqual([oldKey, newKey]);
      expect(verifyReceipt(old.receipt, db.verifierKeys()).ok).toBe(true);
      expect(verifyReceipt(later.receipt, db.verifierKeys()).ok).toBe(true);
      expect(verifyReceipt(old.receipt, [newKey])).toMatchObject({ ok: false, code: 'unknown_key' });
      expect(verifyReceipt(later.receipt, [oldKey])).toMatchObject({ ok: false, code: 'unknown_key' });
      for (const v of (await t.history('a')).versions) expect(verifyReceipt(v.receipt, db.verifierKeys()).ok).toBe(true);
      await db.close();
    });
  });

  describe('time', () => {
    it('counts since 1h back from the clock and ignores older events', async () => {
      let now = Date.UTC(2026, 5, 1, 12, 0, 0);
      const { db } = await fresh({ now: () => now });
      const t = db.tenant('acme');
      await t.log('old', {});
      now += 2 * 3_600_000;
      await t.log('recent', {});
      now += 60_000;
      expect((await t.events({ since: '1h' })).events.map((e) => e.kind)).toEqual(['recent']);
      expect((await t.events({ since: '24h' })).events.map((e) => e.kind)).toEqual(['old', 'recent']);
      expect((await t.events({ since: '2026-06-01T13:00:00Z' })).events.map((e) => e.kind)).toEqual(['recent']);
      expect((await t.events({ since: '2026-06-01T14:00:00+02:00' })).events.map((e) => e.kind)).toEqual(['old', 'recent']);
      await db.close();
    });

    it('reads as of a Date, an ISO date and an ISO time with a zone', async () => {
      let now = Date.UTC(2026, 5, 1, 12, 0, 0);
      const { db } = await fresh({ now: () => now });
      const t = db.tenant('acme');
      await t.set('a', 'june 1');
      now = Date.UTC(2026, 5, 2, 12, 0, 0);
      await t.set('a', 'june 2');
      expect((await t.get('a', { asOf: new Date(Date.UTC(2026, 5, 1, 23, 59)) })).data).toBe('june 1');
      expect((await t.get('a', { asOf: '2026-06-02' })).data).toBe('june 1');
      expect((await t.get('a', { asOf: '2026-06-02T12:00:00Z' })).data).toBe('june 2');
      expect((await t.get('a', { asOf: '2026-06-02T13:59:59.999+02:00' })).data).toBe('june 1');
      expect((await t.get('a', { asOf: '2026-06-02T14:00:00+02:00' })).data).toBe('june 2');
      expect(await codeOf(() => t.get('a', { asOf: '2026-06-01' }))).toBe('not_found');
      expect(await codeOf(() => t.get('a', { asOf: new Date(NaN) }))).toBe('bad_request');
      await db.close();
    });

    it('never lets time run backwards when the clock does', async () => {
      let now = Date.UTC(2026, 5, 1, 12, 0, 0);
      const { db } = await fresh({ now: () => now });
      const t = db.tenant('acme');
      const first = await t.set('a', 1);
      now -= 60_000;
      const second = await t.set('a', 2);
      expect(second.receipt.header.time).toBe(first.receipt.header.time);
      const b = await t.get('a');
      expect(b.l).toBeGreaterThanOrEqual(b.f);
      expect((await t.get('a', { asOf: new Date(first.receipt.header.time) })).data).toBe(2);
      await db.close();
    });

    it('records the valid time given, apart from the transaction time', async () => {
      const now = Date.UTC(2026, 5, 1, 12, 0, 0);
      const { db } = await fresh({ now: () => now });
      const t = db.tenant('acme');
      const res = await t.set('contract:1', { start: 'jan' }, { validFrom: '2026-01-01' });
      expect(res.receipt.header.validFrom).toBe(Date.UTC(2026, 0, 1));
      expect(res.receipt.header.time).toBe(now);
      const h = await t.history('contract:1');
      expect(h.versions[0]).toMatchObject({ validFrom: Date.UTC(2026, 0, 1), time: now });
      await t.batch([{ op: 'set', key: 'contract:2', data: 1, validFrom: new Date(Date.UTC(2025, 0, 1)) }]);
      expect((await t.history('contract:2')).versions[0]!.validFrom).toBe(Date.UTC(2025, 0, 1));
      await db.close();
    });
  });
});
