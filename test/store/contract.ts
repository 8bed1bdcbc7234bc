/**
 * The store contract: the BatenBase block API as any Tally front end must
 * behave, whether embedded (a TenantHandle) or over HTTP (a client).
 *
 * Not a test file itself: a `*.test.ts` calls {@link runStoreContract} with a
 * setup that gives a fresh tenant per test. Only behaviour that belongs to
 * the API is used — no LMDB, no journal internals — so the same suite runs
 * unchanged against the server.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCheckpoint } from '../../src/core/checkpoint.js';
import { verifyNote } from '../../src/core/note.js';
import { toVerifierKeys, verifyReceipt } from '../../src/core/verify-receipt.js';
import { PLAN_QUOTAS } from '../../src/store/plans.js';
import type { Block, EventEntry, TenantHandle } from '../../src/store/tenant.js';
import type { ReceiptJson } from '../../src/core/receipt.js';
import type { BatchOp } from '../../src/store/write-plan.js';

/** The API under contract: same names, arguments and results as {@link TenantHandle}. Errors are thrown objects with a string `code`. */
export interface ContractApi
  extends Pick<TenantHandle, 'set' | 'get' | 'delete' | 'list' | 'log' | 'events' | 'me' | 'history' | 'batch' | 'redact' | 'unredact' | 'erase' | 'checkpoint'> {}

/** What a front end gives the contract for one test: a fresh tenant. */
export interface ContractTarget {
  /** Admin role, sees everything; the tenant has plan `unlimited` or is created fresh. */
  admin: ContractApi;
  /** A read-role handle on the same tenant with that clearance. */
  reader(clearance: number): Promise<ContractApi>;
  /** Keys receipts must verify against. */
  verifierKeys: string[];
  close(): Promise<void>;
}

/** Keys every key-taking method refuses with `bad_request`. */
export const BAD_KEYS: readonly { name: string; key: unknown }[] = [
  { name: 'an empty key', key: '' },
  { name: 'a key of 1025 ASCII bytes', key: 'k'.repeat(1025) },
  { name: "a key of 513 'é' (1026 UTF-8 bytes)", key: 'é'.repeat(513) },
  { name: 'a key with a lone high surrogate', key: 'user:\uD83D' },
  { name: 'a key with a lone low surrogate', key: '\uDE00tail' },
  { name: 'a number as key', key: 42 },
  { name: 'null as key', key: null },
  { name: 'an object as key', key: { key: 'x' } },
];

/** `depth` nested arrays around a 0: the 0 sits at nesting level `depth`. */
export function nested(depth: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

const MiB = 1024 * 1024;

/** Data JSON can carry that every write refuses, with the code it must fail with. */
export const BAD_DATA: readonly { name: string; data: unknown; code: string }[] = [
  { name: 'data nested 65 levels deep', data: nested(65), code: 'bad_request' },
  { name: 'a string with a lone surrogate', data: { s: 'x\uD800y' }, code: 'bad_request' },
  { name: 'an object key with a lone surrogate', data: { '\uDC00': 1 }, code: 'bad_request' },
  { name: 'a payload over 1 MiB', data: 'x'.repeat(MiB), code: 'payload_too_large' },
  { name: 'a payload of many small values over 1 MiB', data: Array.from({ length: 200_000 }, (_, i) => `v${i}`), code: 'payload_too_large' },
];

/** Data only an embedded caller can pass (JSON cannot carry it); refused with `bad_request`. The HTTP suite skips these. */
export const BAD_DATA_EMBEDDED: readonly { name: string; data: unknown }[] = (() => {
  const cycle: Record<string, unknown> = { a: 1 };
  cycle['self'] = cycle;
  const arrCycle: unknown[] = [1];
  arrCycle.push(arrCycle);
  class Point {
    x = 1;
  }
  return [
    { name: 'undefined', data: undefined },
    { name: 'a function', data: () => 1 },
    { name: 'a symbol', data: Symbol('s') },
    { name: 'a bigint', data: 10n },
    { name: 'NaN', data: NaN },
    { name: 'Infinity', data: Infinity },
    { name: '-Infinity', data: { n: -Infinity } },
    { name: 'a cyclic object', data: cycle },
    { name: 'a cyclic array', data: arrCycle },
    { name: 'a nested undefined', data: { a: undefined } },
    { name: 'a Date', data: new Date(0) },
    { name: 'a Map', data: new Map([['a', 1]]) },
    { name: 'a Uint8Array', data: new Uint8Array([1, 2]) },
    { name: 'a class instance', data: new Point() },
  ];
})();

// ---- helpers ----------------------------------------------------------------

/** The error code a call fails with, or 'ok'. */
export async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
    return 'ok';
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code !== 'string') throw err;
    return code;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Every event the api can see, oldest first. */
export async function allEvents(api: ContractApi, opts: { kind?: string } = {}): Promise<EventEntry[]> {
  const out: EventEntry[] = [];
  let cursor: string | null = null;
  do {
    const page: { events: EventEntry[]; next: string | null } = await api.events({ limit: 1000, ...opts, ...(cursor ? { cursor } : {}) });
    out.push(...page.events);
    cursor = page.next;
  } while (cursor);
  return out;
}

/** Every block the api can see (redacted ones too for an admin), in list order. */
export async function allBlocks(api: ContractApi, opts: { prefix?: string; asOf?: number | string } = {}): Promise<Block[]> {
  const out: Block[] = [];
  let cursor: string | null = null;
  do {
    const page: { blocks: Block[]; next: string | null } = await api.list({ limit: 1000, includeHidden: true, ...opts, ...(cursor ? { cursor } : {}) });
    out.push(...page.blocks);
    cursor = page.next;
  } while (cursor);
  return out;
}

/** What a rejected write must leave untouched. */
export async function observe(api: ContractApi): Promise<{ blocksUsed: number; events: number; blocks: string; checkpoint: string | null }> {
  return {
    blocksUsed: (await api.me()).blocks_used,
    events: (await allEvents(api)).length,
    blocks: JSON.stringify(await allBlocks(api)),
    checkpoint: await api.checkpoint(),
  };
}

/** UTF-8 byte order, the order of `list`. */
export const byUtf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** Keys that are valid but awkward for paths, encodings and sorting. */
const AWKWARD_KEYS = [
  'user:alice@corp.com',
  'ключ:é😀',
  'invoice/2026/001',
  'q?x=1&y=2#frag',
  '100%25 sure%',
  ' spaced key ',
  '.',
  '..',
  'tab\tnew\nline',
  'nul\u0000inside',
  '+plus+',
  '中文:键',
  'k'.repeat(1024),
  'é'.repeat(512),
];

// ---- the suite --------------------------------------------------------------

/**
 * Registers the contract suite as `describe(label)`. `setup` runs before
 * every test and must give a fresh tenant; `close` runs after it.
 */
export function runStoreContract(label: string, setup: () => Promise<ContractTarget>): void {
  describe(label, () => {
    let target: ContractTarget;
    let admin: ContractApi;

    beforeEach(async () => {
      target = await setup();
      admin = target.admin;
    });

    afterEach(async () => {
      await target.close();
    });

    const verify = (receipt: ReceiptJson) => verifyReceipt(receipt, target.verifierKeys);

    /** Runs a write that must be refused with `code`, and checks it changed nothing. */
    async function expectRefused(code: string, fn: () => unknown): Promise<void> {
      const before = await observe(admin);
      expect(await codeOf(fn)).toBe(code);
      expect(await observe(admin)).toEqual(before);
    }

    describe('blocks', () => {
      it('returns what was set, with f, l, v, h and version', async () => {
        const before = Date.now();
        const res = await admin.set('user:alice@corp.com', { name: 'Alice', role: 'admin' });
        const after = Date.now();
        expect(res).toMatchObject({ ok: true, key: 'user:alice@corp.com', version: res.receipt.header.seq });
        const b = await admin.get('user:alice@corp.com');
        expect(b).toEqual({ key: 'user:alice@corp.com', f: b.f, l: b.f, v: 1, h: 0, data: { name: 'Alice', role: 'admin' }, version: res.version });
        expect(b.f).toBe(res.receipt.header.time);
        expect(b.f).toBeGreaterThanOrEqual(before - 5_000);
        expect(b.f).toBeLessThanOrEqual(after + 5_000);
      });

      it('defaults the visibility to 1 and keeps the visibility given', async () => {
        await admin.set('a', 1);
        await admin.set('b', 2, { v: 7 });
        await admin.set('c', 3, { v: 0 });
        expect((await admin.get('a')).v).toBe(1);
        expect((await admin.get('b')).v).toBe(7);
        expect((await admin.get('c')).v).toBe(0);
        expect((await admin.set('a', 4)).receipt.header.v).toBe(1);
      });

      it('keeps f and advances l when a block is set again', async () => {
        await admin.set('doc', { n: 1 });
        const first = await admin.get('doc');
        await sleep(5);
        const res = await admin.set('doc', { n: 2 });
        const second = await admin.get('doc');
        expect(second.f).toBe(first.f);
        expect(second.l).toBe(res.receipt.header.time);
        expect(second.l).toBeGreaterThan(first.l);
        expect(second.data).toEqual({ n: 2 });
        expect(second.version).toBe(res.version);
        expect(second.version).toBeGreaterThan(first.version);
      });

      it('reports as version the seq of the latest event of the block', async () => {
        const a1 = await admin.set('a', 1);
        await admin.log('x.y', {});
        const b1 = await admin.set('b', 1);
        expect((await admin.get('a')).version).toBe(a1.receipt.header.seq);
        expect((await admin.get('b')).version).toBe(b1.receipt.header.seq);
        const a2 = await admin.set('a', 2);
        expect(a2.version).toBe(a2.receipt.header.seq);
        expect((await admin.get('a')).version).toBe(a2.receipt.header.seq);
        const red = await admin.redact('a');
        const unred = await admin.unredact('a');
        expect(unred.version).toBe(unred.receipt.header.seq);
        expect(unred.version).toBe(red.version + 1);
        expect((await admin.get('a')).version).toBe(unred.version);
        expect((await admin.get('b')).version).toBe(b1.version);
      });

      it('round-trips JSON data of every shape', async () => {
        const values: unknown[] = [
          null,
          true,
          false,
          0,
          -1,
          2 ** 53 - 1,
          -(2 ** 53) + 1,
          0.1,
          -1.5e-300,
          1e300,
          '',
          'plain',
          'ünïcödé 😀 中文',
          [],
          {},
          [1, 'two', null, [3], { four: 4 }],
          { b: 1, a: 2, aa: { z: [], y: {} }, 'key with spaces': 'v', 'ключ': 'значение' },
          nested(64),
        ];
        for (const [i, data] of values.entries()) {
          const res = await admin.set(`v:${i}`, data);
          expect(verify(res.receipt)).toMatchObject({ ok: true, data });
          expect((await admin.get(`v:${i}`)).data).toEqual(data);
        }
      });

      it.each(AWKWARD_KEYS.map((key) => [JSON.stringify(key.length > 40 ? `${key.slice(0, 10)}… (${Buffer.byteLength(key)} bytes)` : key), key]))(
        'accepts the key %s in every key-taking method',
        async (_name, key) => {
          const res = await admin.set(key, { k: key });
          expect(res.key).toBe(key);
          expect(verify(res.receipt)).toMatchObject({ ok: true, key });
          expect(await admin.get(key)).toMatchObject({ key, data: { k: key } });
          expect((await admin.list()).blocks.map((b) => b.key)).toEqual([key]);
          expect((await admin.list({ prefix: key })).blocks.map((b) => b.key)).toEqual([key]);
          expect((await admin.get(key, { asOf: res.version })).data).toEqual({ k: key });
          await admin.redact(key);
          await admin.unredact(key);
          await admin.delete(key);
          expect(await codeOf(() => admin.get(key))).toBe('not_found');
          const h = await admin.history(key);
          expect(h.key).toBe(key);
          expect(h.versions.map((v) => v.op)).toEqual(['delete', 'unredact', 'redact', 'set']);
          expect((await allEvents(admin)).map((e) => e.key)).toEqual([key, key, key, key]);
          await admin.erase(key, { reason: 'test' });
        },
      );
    });

    describe('receipts', () => {
      it('gives every write a receipt that verifies and proves the data written', async () => {
        const set = await admin.set('a', { n: 1 }, { v: 2 });
        const log = await admin.log('user.login', { email: 'alice@corp.com', ip: '1.2.3.4' });
        const logDefault = await admin.log('user.logout');
        const batch = await admin.batch([
          { op: 'set', key: 'b', data: [1, 2] },
          { op: 'log', kind: 'batch.note', details: { x: 'y' } },
          { op: 'delete', key: 'b' },
        ]);
        const red = await admin.redact('a');
        const unred = await admin.unredact('a');
        const del = await admin.delete('a');
        const erase = await admin.erase('a', { reason: 'request 42' });

        const expectations: [ReceiptJson, Record<string, unknown>][] = [
          [set.receipt, { op: 'set', key: 'a', data: { n: 1 }, payloadVerified: true }],
          [log.receipt, { op: 'log', key: 'user.login', data: { email: 'alice@corp.com', ip: '1.2.3.4' }, payloadVerified: true }],
          [logDefault.receipt, { op: 'log', key: 'user.logout', data: {} }],
          [batch.results[0]!.receipt, { op: 'set', key: 'b', data: [1, 2] }],
          [batch.results[1]!.receipt, { op: 'log', key: 'batch.note', data: { x: 'y' } }],
          [batch.results[2]!.receipt, { op: 'delete', key: 'b', payloadVerified: false }],
          [red.receipt, { op: 'redact', key: 'a', payloadVerified: false }],
          [unred.receipt, { op: 'unredact', key: 'a' }],
          [del.receipt, { op: 'delete', key: 'a' }],
          [erase.receipt, { op: 'erase', key: 'a' }],
        ];
        const tenant = (await admin.me()).tenant;
        for (const [i, [receipt, expected]] of expectations.entries()) {
          const verdict = verify(receipt);
          expect(verdict, `write ${i}`).toMatchObject({ ok: true, seq: i, tenant, ...expected });
          if (verdict.ok && expected['payloadVerified'] === false) expect(verdict.data).toBeUndefined();
        }
        expect(set.receipt.header.v).toBe(2);
      });

      it('chains every event to the one before it', async () => {
        const r0 = await admin.set('a', 1);
        const r1 = await admin.log('k', {});
        const r2 = await admin.delete('a');
        expect(r0.receipt.header.prev).toBe(Buffer.alloc(32).toString('base64'));
        expect(r1.receipt.header.prev).toBe(r0.receipt.hash);
        expect(r2.receipt.header.prev).toBe(r1.receipt.hash);
      });

      it('refuses a receipt whose data was altered and one checked against an unknown key', async () => {
        const res = await admin.set('a', { amount: 100 });
        const forged = JSON.parse(JSON.stringify(res.receipt)) as ReceiptJson;
        forged.header.key = 'b';
        expect(verify(forged).ok).toBe(false);
        expect(verifyReceipt(res.receipt, []).ok).toBe(false);
      });

      it('signs a checkpoint that covers every write', async () => {
        expect(await admin.checkpoint()).toBeNull();
        await admin.set('a', 1);
        await admin.log('k', {});
        const last = await admin.set('b', 2);
        const note = await admin.checkpoint();
        expect(note).toBe(last.receipt.checkpoint);
        const verdict = verifyNote(note!, toVerifierKeys(target.verifierKeys));
        expect(verdict.ok).toBe(true);
        if (!verdict.ok) return;
        const cp = parseCheckpoint(verdict.text);
        expect(cp.size).toBe(3);
        expect(cp.origin.endsWith(`/${(await admin.me()).tenant}`)).toBe(true);
      });
    });

    describe('delete', () => {
      it('removes a deleted block from get and list but keeps its history', async () => {
        const set = await admin.set('session:1', { token: 't' });
        await admin.set('session:2', { token: 'u' });
        const del = await admin.delete('session:1');
        expect(del.ok).toBe(true);
        expect(verify(del.receipt)).toMatchObject({ ok: true, op: 'delete', key: 'session:1' });
        expect(await codeOf(() => admin.get('session:1'))).toBe('not_found');
        expect(await codeOf(() => admin.get('session:1', { includeHidden: true }))).toBe('not_found');
        expect((await admin.list()).blocks.map((b) => b.key)).toEqual(['session:2']);
        expect((await admin.me()).blocks_used).toBe(1);
        const h = await admin.history('session:1');
        expect(h.versions.map((v) => [v.op, v.data])).toEqual([
          ['delete', null],
          ['set', { token: 't' }],
        ]);
        expect(h.versions[1]!.receipt.hash).toBe(set.receipt.hash);
      });

      it('refuses to delete a block that never existed, with not_found and nothing written', async () => {
        await admin.set('a', 1);
        await expectRefused('not_found', () => admin.delete('missing'));
      });

      it('refuses to delete a block twice', async () => {
        await admin.set('a', 1);
        await admin.delete('a');
        await expectRefused('not_found', () => admin.delete('a'));
      });

      it('starts a new f when a deleted key is set again', async () => {
        await admin.set('a', 1);
        const old = await admin.get('a');
        await admin.delete('a');
        await sleep(5);
        const res = await admin.set('a', 2);
        const b = await admin.get('a');
        expect(b.f).toBe(res.receipt.header.time);
        expect(b.f).toBeGreaterThan(old.f);
        expect(b.data).toBe(2);
        expect((await admin.history('a')).versions.map((v) => v.op)).toEqual(['set', 'delete', 'set']);
      });
    });

    describe('list', () => {
      it('lists blocks in UTF-8 byte order of their keys', async () => {
        const keys = ['b', 'a', 'Z', 'a b', 'a:z', 'ab', 'é', 'ｱ', '😀', 'z', 'ключ', '中', 'a\tb', 'A'];
        for (const k of keys) await admin.set(k, k);
        const listed = (await admin.list()).blocks.map((b) => b.key);
        expect(listed).toEqual([...keys].sort(byUtf8));
        // UTF-8 order differs from JavaScript's UTF-16 order for these two
        expect(listed.indexOf('ｱ')).toBeLessThan(listed.indexOf('😀'));
      });

      it('filters by prefix', async () => {
        for (const k of ['user:alice@corp.com', 'user:bob@corp.com', 'users', 'user', 'invoice:2026-001', 'session:x', 'user:ключ:é😀']) await admin.set(k, { k });
        expect((await admin.list({ prefix: 'user:' })).blocks.map((b) => b.key)).toEqual(['user:alice@corp.com', 'user:bob@corp.com', 'user:ключ:é😀']);
        expect((await admin.list({ prefix: 'user' })).blocks.map((b) => b.key)).toEqual(['user', 'user:alice@corp.com', 'user:bob@corp.com', 'user:ключ:é😀', 'users']);
        expect((await admin.list({ prefix: 'user:ключ:' })).blocks.map((b) => b.key)).toEqual(['user:ключ:é😀']);
        expect((await admin.list({ prefix: 'nothing:' })).blocks).toEqual([]);
        expect((await admin.list({ prefix: 'nothing:' })).next).toBeNull();
        const inv = (await admin.list({ prefix: 'invoice:' })).blocks;
        expect(inv).toEqual([await admin.get('invoice:2026-001')]);
      });

      it('returns at most 100 blocks by default and a cursor to the rest', async () => {
        await admin.batch(Array.from({ length: 150 }, (_, i) => ({ op: 'set' as const, key: `k:${String(i).padStart(3, '0')}`, data: i })));
        const first = await admin.list();
        expect(first.blocks).toHaveLength(100);
        expect(first.next).toEqual(expect.any(String));
        const second = await admin.list({ cursor: first.next! });
        expect(second.blocks).toHaveLength(50);
        expect(second.next).toBeNull();
        expect([...first.blocks, ...second.blocks].map((b) => b.data)).toEqual(Array.from({ length: 150 }, (_, i) => i));
      });

      it('returns up to 1000 blocks per page', async () => {
        await admin.batch(Array.from({ length: 1000 }, (_, i) => ({ op: 'set' as const, key: `k:${String(i).padStart(4, '0')}`, data: i })));
        await admin.set('k:1000', 1000);
        const page = await admin.list({ limit: 1000 });
        expect(page.blocks).toHaveLength(1000);
        expect(page.next).not.toBeNull();
        const rest = await admin.list({ limit: 1000, cursor: page.next! });
        expect(rest.blocks.map((b) => b.key)).toEqual(['k:1000']);
        expect(rest.next).toBeNull();
        expect((await admin.me()).blocks_used).toBe(1001);
      });

      it.each([0, 1001, -1, 1.5, NaN])('refuses a limit of %s with bad_request', async (limit) => {
        await admin.set('a', 1);
        expect(await codeOf(() => admin.list({ limit }))).toBe('bad_request');
        expect(await codeOf(() => admin.events({ limit }))).toBe('bad_request');
        expect(await codeOf(() => admin.history('a', { limit }))).toBe('bad_request');
      });

      it('visits every block exactly once when following cursors', async () => {
        const keys = Array.from({ length: 57 }, (_, i) => `p:${i}`).concat(['o:1', 'q:1', 'p', 'pp:1']);
        await admin.batch(keys.map((key, i) => ({ op: 'set' as const, key, data: i })));
        for (const prefix of ['', 'p:']) {
          const expected = keys.filter((k) => k.startsWith(prefix)).sort(byUtf8);
          for (const limit of [1, 7, 19, expected.length, 100]) {
            const seen: string[] = [];
            let cursor: string | null = null;
            let pages = 0;
            do {
              const page: { blocks: Block[]; next: string | null } = await admin.list({ prefix, limit, ...(cursor ? { cursor } : {}) });
              expect(page.blocks.length).toBeLessThanOrEqual(limit);
              expect(page.blocks.length).toBeGreaterThan(0);
              seen.push(...page.blocks.map((b) => b.key));
              cursor = page.next;
              pages++;
            } while (cursor && pages < 1000);
            expect(seen, `prefix ${JSON.stringify(prefix)} limit ${limit}`).toEqual(expected);
            expect(pages).toBe(Math.ceil(expected.length / limit));
          }
        }
      });

      it('continues a page walk when the block at the cursor is deleted between pages', async () => {
        for (const k of ['a', 'b', 'c', 'd', 'e']) await admin.set(k, k);
        const first = await admin.list({ limit: 2 });
        expect(first.blocks.map((b) => b.key)).toEqual(['a', 'b']);
        await admin.delete('b');
        await admin.set('aa', 'inserted behind the cursor');
        const second = await admin.list({ limit: 2, cursor: first.next! });
        expect(second.blocks.map((b) => b.key)).toEqual(['c', 'd']);
        const third = await admin.list({ limit: 2, cursor: second.next! });
        expect(third.blocks.map((b) => b.key)).toEqual(['e']);
        expect(third.next).toBeNull();
      });

      it.each([
        ['text that is not base64', 'not a cursor!'],
        ['an empty cursor', ''],
        ['the base64 of an object', 'eyJ4IjoxfQ'],
        ['the base64 of an empty array', 'W10'],
      ])('refuses as cursor %s with bad_request', async (_name, cursor) => {
        await admin.set('a', 1);
        expect(await codeOf(() => admin.events({ cursor }))).toBe('bad_request');
        if (cursor !== 'W10') expect(await codeOf(() => admin.list({ cursor }))).toBe('bad_request');
      });
    });

    describe('log and events', () => {
      it('returns logged events oldest first with seq, time, kind, actor and details', async () => {
        const r1 = await admin.log('user.login', { email: 'alice@corp.com', ip: '1.2.3.4' });
        const r2 = await admin.log('invoice.paid', { id: '2026-001', amount: 9500 });
        const r3 = await admin.log('contract.signed', { parties: ['alice', 'bob'] });
        expect(r1.ok).toBe(true);
        const { events, next } = await admin.events();
        expect(next).toBeNull();
        expect(events).toEqual([
          { seq: 0, time: r1.receipt.header.time, kind: 'user.login', actor: r1.receipt.header.actor, details: { email: 'alice@corp.com', ip: '1.2.3.4' } },
          { seq: 1, time: r2.receipt.header.time, kind: 'invoice.paid', actor: r2.receipt.header.actor, details: { id: '2026-001', amount: 9500 } },
          { seq: 2, time: r3.receipt.header.time, kind: 'contract.signed', actor: r3.receipt.header.actor, details: { parties: ['alice', 'bob'] } },
        ]);
        expect(events[1]!.time).toBeGreaterThanOrEqual(events[0]!.time);
      });

      it('shows block writes as block events', async () => {
        await admin.set('a', { n: 1 }, { v: 3 });
        await admin.redact('a');
        await admin.unredact('a');
        await admin.delete('a');
        await admin.set('b', 'x');
        await admin.erase('b', { reason: 'gdpr' });
        const events = await allEvents(admin);
        expect(events.map((e) => [e.seq, e.kind, e.key])).toEqual([
          [0, 'block.set', 'a'],
          [1, 'block.redact', 'a'],
          [2, 'block.unredact', 'a'],
          [3, 'block.delete', 'a'],
          [4, 'block.set', 'b'],
          [5, 'block.erase', 'b'],
        ]);
        expect(events[0]!.details).toEqual({ n: 1 });
        expect(events[3]!.details).toBeNull();
        expect(events[4]!.details).toBeNull(); // erased
        expect(events[5]!.details).toMatchObject({ reason: 'gdpr', erased: [4] });
      });

      it('returns recent events for since 1h, 24h, 7d and 30d and none for a since in the future', async () => {
        await admin.log('a', {});
        await admin.set('b', 1);
        for (const since of ['1h', '24h', '7d', '30d']) expect((await admin.events({ since })).events).toHaveLength(2);
        expect((await admin.events({ since: Date.now() + 3_600_000 })).events).toEqual([]);
        expect((await admin.events({ since: new Date(Date.now() + 3_600_000).toISOString() })).events).toEqual([]);
        expect((await admin.events({ since: Date.now() - 3_600_000 })).events).toHaveLength(2);
      });

      it('returns the events from a since instant on', async () => {
        await admin.log('a', {});
        await sleep(5);
        const second = await admin.log('b', {});
        await sleep(5);
        await admin.log('c', {});
        const t = second.receipt.header.time;
        expect((await admin.events({ since: t })).events.map((e) => e.kind)).toEqual(['b', 'c']);
        expect((await admin.events({ since: new Date(t).toISOString() })).events.map((e) => e.kind)).toEqual(['b', 'c']);
        expect((await admin.events({ since: t + 1 })).events.map((e) => e.kind)).toEqual(['c']);
      });

      it.each(['yesterday', '2h', -5, '2026-13-45', { x: 1 }])('refuses a since of %j with bad_request', async (since) => {
        await admin.log('a', {});
        expect(await codeOf(() => admin.events({ since }))).toBe('bad_request');
      });

      it('filters events by a log kind', async () => {
        await admin.log('user.login', { n: 1 });
        await admin.log('user.logout', { n: 2 });
        await admin.set('user.login', 'a block whose key equals the kind');
        await admin.log('user.login', { n: 3 });
        const { events } = await admin.events({ kind: 'user.login' });
        expect(events.map((e) => [e.kind, e.details])).toEqual([
          ['user.login', { n: 1 }],
          ['user.login', { n: 3 }],
        ]);
        expect((await admin.events({ kind: 'never.logged' })).events).toEqual([]);
      });

      it('filters events by block.set', async () => {
        await admin.set('a', 1);
        await admin.log('block.set.lookalike', {});
        await admin.set('b', 2);
        await admin.delete('a');
        await admin.set('a', 3);
        const { events } = await admin.events({ kind: 'block.set' });
        expect(events.map((e) => [e.seq, e.kind, e.key, e.details])).toEqual([
          [0, 'block.set', 'a', 1],
          [2, 'block.set', 'b', 2],
          [4, 'block.set', 'a', 3],
        ]);
        expect((await admin.events({ kind: 'block.delete' })).events.map((e) => e.seq)).toEqual([3]);
      });

      it('pages through events with limit and cursor', async () => {
        await admin.batch(Array.from({ length: 25 }, (_, i) => (i % 3 === 0 ? { op: 'set' as const, key: `k${i}`, data: i } : { op: 'log' as const, kind: i % 2 ? 'odd' : 'even', details: { i } })));
        const seqs: number[] = [];
        const sizes: number[] = [];
        let cursor: string | null = null;
        do {
          const page: { events: EventEntry[]; next: string | null } = await admin.events({ limit: 10, ...(cursor ? { cursor } : {}) });
          sizes.push(page.events.length);
          seqs.push(...page.events.map((e) => e.seq));
          cursor = page.next;
        } while (cursor);
        expect(sizes).toEqual([10, 10, 5]);
        expect(seqs).toEqual(Array.from({ length: 25 }, (_, i) => i));

        for (const kind of ['odd', 'block.set']) {
          const expected = (await allEvents(admin)).filter((e) => e.kind === kind).map((e) => e.seq);
          const got: number[] = [];
          cursor = null;
          do {
            const page: { events: EventEntry[]; next: string | null } = await admin.events({ kind, limit: 3, ...(cursor ? { cursor } : {}) });
            expect(page.events.length).toBeGreaterThan(0);
            got.push(...page.events.map((e) => e.seq));
            cursor = page.next;
          } while (cursor);
          expect(got, kind).toEqual(expected);
        }
      });

      it('refuses a bad kind with bad_request and writes nothing', async () => {
        await admin.log('a', {});
        for (const { key } of BAD_KEYS) {
          await expectRefused('bad_request', () => admin.log(key as string, {}));
          expect(await codeOf(() => admin.events({ kind: key as string }))).toBe('bad_request');
        }
      });
    });

    describe('me', () => {
      it('reports the tenant, its plan, its live blocks and its quota', async () => {
        const empty = await admin.me();
        expect(empty).toEqual({ tenant: expect.any(String), plan: expect.any(String), blocks_used: 0, quota: PLAN_QUOTAS[empty.plan as keyof typeof PLAN_QUOTAS] });
        await admin.set('a', 1);
        await admin.set('b', 1);
        await admin.set('c', 1);
        await admin.set('a', 2);
        await admin.delete('b');
        await admin.redact('c');
        await admin.log('x', {});
        const me = await admin.me();
        expect(me).toEqual({ ...empty, blocks_used: 2 });
        expect(await (await target.reader(0)).me()).toEqual(me);
      });
    });

    describe('history', () => {
      it('lists versions newest first with receipts that verify and chain by keyPrev', async () => {
        const writes = [];
        writes.push(await admin.set('doc', { rev: 1 }));
        await admin.log('doc', { a: 'log kind named like the key' });
        await admin.set('other', 1);
        writes.push(await admin.set('doc', { rev: 2 }, { v: 3 }));
        writes.push(await admin.redact('doc'));
        writes.push(await admin.unredact('doc'));
        writes.push(await admin.delete('doc'));
        await admin.set('other', 2);
        writes.push(await admin.set('doc', { rev: 3 }));

        const h = await admin.history('doc');
        expect(h.key).toBe('doc');
        expect(h.next).toBeNull();
        expect(h.versions.map((v) => [v.seq, v.op, v.data, v.erased])).toEqual([
          [writes[5]!.receipt.header.seq, 'set', { rev: 3 }, false],
          [writes[4]!.receipt.header.seq, 'delete', null, false],
          [writes[3]!.receipt.header.seq, 'unredact', null, false],
          [writes[2]!.receipt.header.seq, 'redact', null, false],
          [writes[1]!.receipt.header.seq, 'set', { rev: 2 }, false],
          [writes[0]!.receipt.header.seq, 'set', { rev: 1 }, false],
        ]);
        expect(h.versions[4]!.v).toBe(3);
        h.versions.forEach((v, i) => {
          expect(verify(v.receipt), `version ${i}`).toMatchObject({ ok: true, seq: v.seq, key: 'doc', op: v.op });
          expect(v.receipt.header.seq).toBe(v.seq);
          expect(v.receipt.header.time).toBe(v.time);
          expect(v.receipt.header.actor).toBe(v.actor);
          expect(v.validFrom).toBe(v.time);
          const older = h.versions[i + 1];
          expect(v.receipt.header.keyPrev).toBe(older ? older.receipt.hash : null);
        });
        expect(h.versions.map((v) => v.receipt.hash)).toEqual(writes.map((w) => w.receipt.hash).reverse());
      });

      it('pages history with limit and cursor', async () => {
        for (let i = 0; i < 5; i++) await admin.set('doc', i);
        const p1 = await admin.history('doc', { limit: 2 });
        const p2 = await admin.history('doc', { limit: 2, cursor: p1.next! });
        const p3 = await admin.history('doc', { limit: 2, cursor: p2.next! });
        expect([p1, p2, p3].map((p) => p.versions.map((v) => v.data))).toEqual([[4, 3], [2, 1], [0]]);
        expect(p1.next).not.toBeNull();
        expect(p3.next).toBeNull();
      });

      it('throws not_found for a key never written', async () => {
        await admin.set('a', 1);
        await admin.log('b', {});
        expect(await codeOf(() => admin.history('missing'))).toBe('not_found');
        expect(await codeOf(() => admin.history('b'))).toBe('not_found');
      });
    });

    describe('as-of reads', () => {
      /** Writes a sequence and records, after each write, the seq, the time and what get/list returned. */
      async function writeAndRecord(spaced: boolean) {
        const ops: (() => Promise<{ receipt: ReceiptJson } | { results: { receipt: ReceiptJson }[] }>)[] = [
          () => admin.set('a', { n: 1 }),
          () => admin.set('b', { n: 1 }, { v: 2 }),
          () => admin.log('note', {}),
          () => admin.set('a', { n: 2 }),
          () => admin.redact('b'),
          () => admin.delete('a'),
          () => admin.unredact('b'),
          () => admin.set('a', { n: 3 }),
          () => admin.batch([
            { op: 'set', key: 'c', data: 'c' },
            { op: 'delete', key: 'b' },
          ]),
        ];
        const states: { seq: number; time: number; a: Block | null; b: Block | null; list: Block[] }[] = [];
        for (const op of ops) {
          if (spaced) await sleep(3);
          const res = await op();
          const receipts = 'results' in res ? res.results.map((r) => r.receipt) : [res.receipt];
          const last = receipts[receipts.length - 1]!;
          const get = async (k: string) => admin.get(k, { includeHidden: true }).catch((e: { code: string }) => (e.code === 'not_found' ? null : Promise.reject(e)));
          states.push({ seq: last.header.seq, time: last.header.time, a: await get('a'), b: await get('b'), list: await allBlocks(admin) });
        }
        return states;
      }

      it('reads a block and the list as of a seq', async () => {
        const states = await writeAndRecord(false);
        for (const s of states) {
          const at = async (k: string) => admin.get(k, { asOf: s.seq, includeHidden: true }).catch((e: { code: string }) => (e.code === 'not_found' ? null : Promise.reject(e)));
          expect(await at('a'), `a at ${s.seq}`).toEqual(s.a);
          expect(await at('b'), `b at ${s.seq}`).toEqual(s.b);
          expect(await allBlocks(admin, { asOf: s.seq }), `list at ${s.seq}`).toEqual(s.list);
        }
        // without includeHidden, the redacted b is absent as of the seq it was redacted at
        const redactedAt = states[4]!.seq;
        expect(await codeOf(() => admin.get('b', { asOf: redactedAt }))).toBe('not_found');
        expect((await admin.list({ asOf: redactedAt })).blocks.map((b) => b.key)).toEqual(['a']);
        expect(await codeOf(() => admin.get('b', { asOf: redactedAt - 1 }))).toBe('ok');
      });

      it('reads a block and the list as of an ISO time', async () => {
        const states = await writeAndRecord(true);
        for (const s of states) {
          const asOf = new Date(s.time).toISOString();
          const at = async (k: string) => admin.get(k, { asOf, includeHidden: true }).catch((e: { code: string }) => (e.code === 'not_found' ? null : Promise.reject(e)));
          expect(await at('a'), `a at ${asOf}`).toEqual(s.a);
          expect(await at('b'), `b at ${asOf}`).toEqual(s.b);
          expect(await allBlocks(admin, { asOf }), `list at ${asOf}`).toEqual(s.list);
        }
      });

      it('finds nothing as of a time before the first write', async () => {
        const first = await admin.set('a', 1);
        await admin.set('b', 2);
        const before = new Date(first.receipt.header.time - 1).toISOString();
        expect(await codeOf(() => admin.get('a', { asOf: before }))).toBe('not_found');
        expect(await codeOf(() => admin.get('a', { asOf: '2000-01-01' }))).toBe('not_found');
        expect(await admin.list({ asOf: before })).toEqual({ blocks: [], next: null });
        expect((await admin.get('a', { asOf: 0 })).data).toBe(1);
        expect(await codeOf(() => admin.get('b', { asOf: 0 }))).toBe('not_found');
      });

      it('pages an as-of list with cursors', async () => {
        await admin.batch(Array.from({ length: 10 }, (_, i) => ({ op: 'set' as const, key: `k${i}`, data: i })));
        const at = (await admin.set('later', 1)).version - 1;
        await admin.delete('k3');
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const page: { blocks: Block[]; next: string | null } = await admin.list({ asOf: at, limit: 3, ...(cursor ? { cursor } : {}) });
          seen.push(...page.blocks.map((b) => b.key));
          cursor = page.next;
        } while (cursor);
        expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}`));
      });

      it.each(['yesterday', -1, '2026-13-45T00:00:00Z', '2026-06-01T12:00:00', 1.5])('refuses an asOf of %j with bad_request', async (asOf) => {
        await admin.set('a', 1);
        expect(await codeOf(() => admin.get('a', { asOf: asOf as number }))).toBe('bad_request');
        expect(await codeOf(() => admin.list({ asOf: asOf as number }))).toBe('bad_request');
      });
    });

    describe('batch', () => {
      it('appends every op with contiguous seqs and returns a result per op', async () => {
        await admin.set('x', 0);
        const { ok, results } = await admin.batch([
          { op: 'set', key: 'a', data: { n: 1 } },
          { op: 'set', key: 'b', data: { n: 2 }, v: 4 },
          { op: 'log', kind: 'batch.done', details: { n: 3 } },
          { op: 'delete', key: 'x' },
          { op: 'set', key: 'a', data: { n: 4 } },
        ]);
        expect(ok).toBe(true);
        expect(results.map((r) => r.receipt.header.seq)).toEqual([1, 2, 3, 4, 5]);
        expect(results.map((r) => [r.key, r.version])).toEqual([
          ['a', 1],
          ['b', 2],
          [undefined, undefined],
          ['x', 4],
          ['a', 5],
        ]);
        for (const r of results) expect(verify(r.receipt).ok).toBe(true);
        expect(await admin.get('a')).toMatchObject({ data: { n: 4 }, version: 5 });
        expect(await admin.get('b')).toMatchObject({ data: { n: 2 }, v: 4 });
        expect(await codeOf(() => admin.get('x'))).toBe('not_found');
        expect((await admin.events({ kind: 'batch.done' })).events[0]!.details).toEqual({ n: 3 });
      });

      it('applies the ops of a batch in order', async () => {
        const { results } = await admin.batch([
          { op: 'set', key: 'a', data: 1, ifVersion: 'absent' },
          { op: 'set', key: 'a', data: 2, ifVersion: 0 },
          { op: 'delete', key: 'a', ifVersion: 1 },
          { op: 'set', key: 'a', data: 3, ifVersion: 'absent' },
        ]);
        expect(results).toHaveLength(4);
        expect(await admin.get('a')).toMatchObject({ data: 3, version: 3 });
        expect((await admin.me()).blocks_used).toBe(1);
      });

      it('writes nothing when one op fails its ifVersion', async () => {
        const a = await admin.set('a', 1);
        await expectRefused('conflict', () =>
          admin.batch([
            { op: 'set', key: 'new', data: 1 },
            { op: 'log', kind: 'k', details: {} },
            { op: 'set', key: 'a', data: 2, ifVersion: a.version + 7 },
          ]),
        );
        await expectRefused('conflict', () =>
          admin.batch([
            { op: 'delete', key: 'a' },
            { op: 'set', key: 'a', data: 2, ifVersion: a.version },
          ]),
        );
        expect((await admin.list()).blocks.map((b) => [b.key, b.data])).toEqual([['a', 1]]);
      });

      it('writes nothing when a batch deletes a missing block', async () => {
        await admin.set('a', 1);
        await expectRefused('not_found', () =>
          admin.batch([
            { op: 'set', key: 'b', data: 1 },
            { op: 'delete', key: 'missing' },
          ]),
        );
      });

      it.each([
        ['an unknown op', { op: 'upsert', key: 'x', data: 1 }],
        ['a set without data', { op: 'set', key: 'x' }],
        ['a set with an empty key', { op: 'set', key: '', data: 1 }],
        ['a set with an unknown field', { op: 'set', key: 'x', data: 1, ttl: 5 }],
        ['a set with a bad visibility', { op: 'set', key: 'x', data: 1, v: -1 }],
        ['a set with a bad ifVersion', { op: 'set', key: 'x', data: 1, ifVersion: 'present' }],
        ['a delete without key', { op: 'delete' }],
        ['a log without kind', { op: 'log', details: {} }],
        ['a log with a key instead of a kind', { op: 'log', key: 'k', details: {} }],
        ['a redact (not a batch op)', { op: 'redact', key: 'x' }],
        ['null', null],
        ['an array', ['set', 'x', 1]],
        ['a string', 'set x 1'],
      ])('writes nothing when one op is %s', async (_name, bad) => {
        await admin.set('x', 0);
        await expectRefused('bad_request', () => admin.batch([{ op: 'set', key: 'a', data: 1 }, bad as BatchOp, { op: 'log', kind: 'k' }]));
      });

      it('refuses an empty batch and one of more than 1000 ops', async () => {
        await admin.set('x', 0);
        await expectRefused('bad_request', () => admin.batch([]));
        await expectRefused('bad_request', () => admin.batch(Array.from({ length: 1001 }, (_, i) => ({ op: 'log' as const, kind: 'k', details: { i } }))));
        await expectRefused('bad_request', () => admin.batch({ op: 'set', key: 'a', data: 1 } as unknown as BatchOp[]));
        expect((await admin.batch(Array.from({ length: 1000 }, (_, i) => ({ op: 'log' as const, kind: 'k', details: { i } })))).results).toHaveLength(1000);
      });
    });

    describe('optimistic concurrency', () => {
      it('refuses a set with a stale ifVersion and accepts the current one', async () => {
        const v1 = await admin.set('a', 1);
        const v2 = await admin.set('a', 2);
        await expectRefused('conflict', () => admin.set('a', 3, { ifVersion: v1.version }));
        await expectRefused('conflict', () => admin.set('a', 3, { ifVersion: v2.version + 1 }));
        const v3 = await admin.set('a', 3, { ifVersion: v2.version });
        expect((await admin.get('a')).version).toBe(v3.version);
      });

      it("refuses 'absent' for an existing block and accepts it for a missing or deleted one", async () => {
        await admin.set('a', 1, { ifVersion: 'absent' });
        await expectRefused('conflict', () => admin.set('a', 2, { ifVersion: 'absent' }));
        await expectRefused('conflict', () => admin.set('b', 2, { ifVersion: 0 }));
        await admin.delete('a');
        await admin.set('a', 3, { ifVersion: 'absent' });
        expect((await admin.get('a')).data).toBe(3);
      });

      it('refuses a delete with a stale ifVersion and accepts the current one', async () => {
        const v1 = await admin.set('a', 1);
        const v2 = await admin.set('a', 2);
        await expectRefused('conflict', () => admin.delete('a', { ifVersion: v1.version }));
        await expectRefused('conflict', () => admin.delete('a', { ifVersion: 'absent' }));
        await admin.delete('a', { ifVersion: v2.version });
        expect(await codeOf(() => admin.get('a'))).toBe('not_found');
      });

      it('counts a redaction as a new version', async () => {
        const v1 = await admin.set('a', 1);
        const red = await admin.redact('a');
        await expectRefused('conflict', () => admin.set('a', 2, { ifVersion: v1.version }));
        await admin.set('a', 2, { ifVersion: red.version });
      });

      it('lets exactly one of two concurrent create-only sets win', async () => {
        const results = await Promise.allSettled([admin.set('a', 'first', { ifVersion: 'absent' }), admin.set('a', 'second', { ifVersion: 'absent' })]);
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r) => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost.map((r) => (r.reason as { code: string }).code)).toEqual(['conflict']);
        expect((await admin.history('a')).versions).toHaveLength(1);
      });

      it('lets exactly one of two concurrent deletes win', async () => {
        await admin.set('a', 1);
        const results = await Promise.allSettled([admin.delete('a'), admin.delete('a')]);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        expect(results.filter((r) => r.status === 'rejected').map((r) => (r.reason as { code: string }).code)).toEqual(['not_found']);
        expect((await admin.history('a')).versions.map((v) => v.op)).toEqual(['delete', 'set']);
        expect((await admin.me()).blocks_used).toBe(0);
      });

      it.each([-1, 1.5, 'present', null, '3'])('refuses an ifVersion of %j with bad_request', async (ifVersion) => {
        await admin.set('a', 1);
        await expectRefused('bad_request', () => admin.set('a', 2, { ifVersion: ifVersion as number }));
        await expectRefused('bad_request', () => admin.delete('a', { ifVersion: ifVersion as number }));
      });
    });

    describe('idempotency', () => {
      it('returns the original receipt for a retried set and appends nothing', async () => {
        const first = await admin.set('a', { n: 1 }, { idempotencyKey: 'req-1' });
        const before = await observe(admin);
        const retry = await admin.set('a', { n: 1 }, { idempotencyKey: 'req-1' });
        expect(retry).toEqual(first);
        expect(retry.receipt.hash).toBe(first.receipt.hash);
        expect(retry.receipt.checkpoint).toBe(first.receipt.checkpoint);
        expect(await observe(admin)).toEqual(before);
      });

      it('returns the original receipt after later writes', async () => {
        const first = await admin.set('a', { n: 1 }, { idempotencyKey: 'req-1' });
        await admin.set('a', { n: 2 });
        await admin.log('k', {});
        const before = await observe(admin);
        const retry = await admin.set('a', { n: 1 }, { idempotencyKey: 'req-1' });
        expect(retry).toEqual(first);
        expect(verify(retry.receipt).ok).toBe(true);
        expect(await observe(admin)).toEqual(before);
        expect((await admin.get('a')).data).toEqual({ n: 2 });
      });

      it('returns the original results for a retried batch, log, delete, redact and erase', async () => {
        const ops: BatchOp[] = [
          { op: 'set', key: 'a', data: 1 },
          { op: 'log', kind: 'k', details: { x: 1 } },
          { op: 'set', key: 'b', data: 2 },
        ];
        const calls: [string, () => Promise<unknown>][] = [
          ['batch', () => admin.batch(ops, { idempotencyKey: 'i-batch' })],
          ['log', () => admin.log('user.login', { u: 1 }, { idempotencyKey: 'i-log' })],
          ['redact', () => admin.redact('a', { idempotencyKey: 'i-redact' })],
          ['delete', () => admin.delete('b', { idempotencyKey: 'i-delete' })],
          ['erase', () => admin.erase('b', { reason: 'gone', idempotencyKey: 'i-erase' })],
        ];
        for (const [name, call] of calls) {
          const first = await call();
          const before = await observe(admin);
          expect(await call(), name).toEqual(first);
          expect(await observe(admin), name).toEqual(before);
        }
      });

      it('refuses to reuse a key for a different request with conflict', async () => {
        await admin.set('a', { n: 1 }, { idempotencyKey: 'req-1' });
        await expectRefused('conflict', () => admin.set('a', { n: 2 }, { idempotencyKey: 'req-1' }));
        await expectRefused('conflict', () => admin.set('b', { n: 1 }, { idempotencyKey: 'req-1' }));
        await expectRefused('conflict', () => admin.set('a', { n: 1 }, { idempotencyKey: 'req-1', v: 2 }));
        await expectRefused('conflict', () => admin.log('a', { n: 1 }, { idempotencyKey: 'req-1' }));
        await expectRefused('conflict', () => admin.batch([{ op: 'set', key: 'a', data: { n: 1 } }], { idempotencyKey: 'req-1' }));
      });

      it('appends once for two concurrent identical requests', async () => {
        const [a, b] = await Promise.all([admin.set('a', 1, { idempotencyKey: 'same' }), admin.set('a', 1, { idempotencyKey: 'same' })]);
        expect(b).toEqual(a);
        expect(await allEvents(admin)).toHaveLength(1);
      });

      it('does not record a refused request, so a corrected retry with the same key goes through', async () => {
        const v = await admin.set('a', 1);
        await expectRefused('conflict', () => admin.set('a', 2, { ifVersion: v.version + 1, idempotencyKey: 'retry' }));
        const ok = await admin.set('a', 2, { ifVersion: v.version, idempotencyKey: 'retry' });
        expect(ok.version).toBe(v.version + 1);
      });

      it.each([
        ['an empty key', ''],
        ['a key of 257 bytes', 'i'.repeat(257)],
        ['a key with a lone surrogate', 'i\uD800'],
        ['a number', 7],
      ])('refuses %s as idempotency key with bad_request', async (_name, idempotencyKey) => {
        await admin.set('x', 0);
        await expectRefused('bad_request', () => admin.set('a', 1, { idempotencyKey: idempotencyKey as string }));
        await expectRefused('bad_request', () => admin.log('k', {}, { idempotencyKey: idempotencyKey as string }));
      });
    });

    describe('visibility', () => {
      it('hides a block above the reader clearance from every read and shows it to a reader with enough clearance', async () => {
        const s1 = await admin.set('secret', { code: 'S3CRET-A' }, { v: 5 });
        await admin.set('public', { p: 1 });
        await admin.set('secret', { code: 'S3CRET-B' }, { v: 5 });
        const low = await target.reader(1);
        const high = await target.reader(5);

        expect(await codeOf(() => low.get('secret'))).toBe('not_found');
        expect(await codeOf(() => low.get('secret', { asOf: s1.version }))).toBe('not_found');
        expect(await codeOf(() => low.get('secret', { includeHidden: true }))).toBe('not_found');
        expect(await codeOf(() => low.history('secret'))).toBe('not_found');
        expect((await low.list()).blocks.map((b) => b.key)).toEqual(['public']);
        expect((await low.list({ prefix: 'secret' })).blocks).toEqual([]);
        expect((await low.list({ asOf: s1.version + 1 })).blocks.map((b) => b.key)).toEqual(['public']);
        const lowEvents = await allEvents(low);
        expect(lowEvents.map((e) => e.key)).toEqual(['public']);
        expect(JSON.stringify(lowEvents)).not.toContain('S3CRET');

        expect(await high.get('secret')).toEqual(await admin.get('secret'));
        expect((await high.list()).blocks.map((b) => b.key)).toEqual(['public', 'secret']);
        expect((await high.history('secret')).versions).toHaveLength(2);
        expect((await high.get('secret', { asOf: s1.version })).data).toEqual({ code: 'S3CRET-A' });
        expect((await allEvents(high)).map((e) => e.key)).toEqual(['secret', 'public', 'secret']);
      });

      it('does not reveal a block above the reader clearance through the erasure of its deleted history', async () => {
        await admin.set('secret-project', { x: 1 }, { v: 5 });
        await admin.delete('secret-project');
        await admin.erase('secret-project', { reason: 'cleanup' });
        await admin.log('visible.kind', {});
        const low = await target.reader(1);
        const events = await allEvents(low);
        expect(events.map((e) => e.kind)).toEqual(['visible.kind']);
        expect(await codeOf(() => low.history('secret-project'))).toBe('not_found');
        expect((await (await target.reader(5)).history('secret-project')).versions.map((v) => v.op)).toEqual(['erase', 'delete', 'set']);
      });

      it('shows a reader of clearance 0 only blocks of visibility 0', async () => {
        await admin.set('zero', 0, { v: 0 });
        await admin.set('one', 1);
        const r0 = await target.reader(0);
        expect((await r0.list()).blocks.map((b) => b.key)).toEqual(['zero']);
        expect(await codeOf(() => r0.get('one'))).toBe('not_found');
        expect((await r0.get('zero')).data).toBe(0);
      });

      it('pages a reader list across hidden blocks without losing visible ones', async () => {
        await admin.batch(Array.from({ length: 30 }, (_, i) => ({ op: 'set' as const, key: `k${String(i).padStart(2, '0')}`, data: i, v: i % 3 === 0 ? 1 : 9 })));
        const r = await target.reader(1);
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const page: { blocks: Block[]; next: string | null } = await r.list({ limit: 4, ...(cursor ? { cursor } : {}) });
          seen.push(...page.blocks.map((b) => b.key));
          cursor = page.next;
        } while (cursor);
        expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => `k${String(i * 3).padStart(2, '0')}`));
      });
    });

    describe('redaction', () => {
      it('hides a redacted block from ordinary reads, shows it to an admin with includeHidden, and unredact restores it', async () => {
        await admin.set('doc', { body: 'x' });
        await admin.set('other', 1);
        const red = await admin.redact('doc');
        expect(red.ok).toBe(true);
        expect(verify(red.receipt)).toMatchObject({ ok: true, op: 'redact', key: 'doc' });
        expect(await codeOf(() => admin.get('doc'))).toBe('not_found');
        expect((await admin.list()).blocks.map((b) => b.key)).toEqual(['other']);
        expect(await admin.get('doc', { includeHidden: true })).toMatchObject({ h: 1, data: { body: 'x' }, version: red.version });
        expect((await admin.list({ includeHidden: true })).blocks.map((b) => [b.key, b.h])).toEqual([
          ['doc', 1],
          ['other', 0],
        ]);
        expect((await admin.me()).blocks_used).toBe(2);

        const unred = await admin.unredact('doc');
        expect(await admin.get('doc')).toMatchObject({ h: 0, data: { body: 'x' }, version: unred.version });
        expect((await admin.list()).blocks.map((b) => b.key)).toEqual(['doc', 'other']);
      });

      it('does not show a redacted block to a reader, even with includeHidden', async () => {
        await admin.set('doc', { body: 'x' });
        await admin.redact('doc');
        const r = await target.reader(100);
        expect(await codeOf(() => r.get('doc'))).toBe('not_found');
        expect(await codeOf(() => r.get('doc', { includeHidden: true }))).toBe('not_found');
        expect((await r.list({ includeHidden: true })).blocks).toEqual([]);
      });

      it('does not reveal a redacted block to a reader through its history', async () => {
        await admin.set('doc', { secret: 'REDACTED-PAYLOAD' });
        await admin.redact('doc');
        const r = await target.reader(100);
        expect(await codeOf(() => r.history('doc'))).toBe('not_found');
        expect((await admin.history('doc')).versions.map((v) => v.op)).toEqual(['redact', 'set']);
      });

      it('does not reveal the data of a redacted block to a reader through the events', async () => {
        await admin.set('doc', { secret: 'REDACTED-PAYLOAD' });
        await admin.log('visible.kind', { fine: true });
        await admin.redact('doc');
        const r = await target.reader(100);
        const events = await allEvents(r);
        expect(JSON.stringify(events)).not.toContain('REDACTED-PAYLOAD');
        expect(events.some((e) => e.kind === 'visible.kind')).toBe(true);
      });

      it('lets an admin delete a redacted block', async () => {
        await admin.set('doc', { body: 'x' });
        await admin.redact('doc');
        const del = await admin.delete('doc');
        expect(verify(del.receipt)).toMatchObject({ ok: true, op: 'delete', key: 'doc' });
        expect(await codeOf(() => admin.get('doc', { includeHidden: true }))).toBe('not_found');
        expect((await admin.me()).blocks_used).toBe(0);
      });

      it('refuses to redact or unredact a key that was never written with not_found, and redacts a deleted block’s history', async () => {
        await admin.set('a', 1);
        await admin.set('b', { body: 'DELETED-BUT-KEPT' });
        await admin.delete('b');
        await expectRefused('not_found', () => admin.redact('missing'));
        await expectRefused('not_found', () => admin.unredact('missing'));
        const r = await target.reader(100);
        expect((await r.history('b')).versions).toHaveLength(2);
        expect((await admin.redact('b')).ok).toBe(true);
        expect(await codeOf(() => r.history('b'))).toBe('not_found');
        expect(JSON.stringify(await allEvents(r))).not.toContain('DELETED-BUT-KEPT');
        // Redaction outlives the delete: a new version stays hidden until unredacted.
        await admin.set('b', 2);
        expect(await codeOf(() => r.get('b'))).toBe('not_found');
        await admin.unredact('b');
        expect((await r.get('b')).data).toBe(2);
      });
    });

    describe('erasure', () => {
      it('erases every version: the block is gone, history keeps versions with erased data, earlier receipts still verify', async () => {
        const w1 = await admin.set('user:alice', { email: 'alice@corp.com' });
        const w2 = await admin.set('user:alice', { email: 'alice@new.com' }, { v: 2 });
        const red = await admin.redact('user:alice');
        await admin.set('user:bob', 1);
        const er = await admin.erase('user:alice', { reason: 'GDPR art. 17' });
        expect(er.ok).toBe(true);
        // `erased` names the set events whose payloads were destroyed.
        expect(er.erased).toEqual([w1.version, w2.version]);
        void red;
        expect(verify(er.receipt)).toMatchObject({ ok: true, op: 'erase', key: 'user:alice' });

        expect(await codeOf(() => admin.get('user:alice'))).toBe('not_found');
        expect(await codeOf(() => admin.get('user:alice', { includeHidden: true }))).toBe('not_found');
        expect((await admin.list({ includeHidden: true })).blocks.map((b) => b.key)).toEqual(['user:bob']);
        expect((await admin.me()).blocks_used).toBe(1);

        const h = await admin.history('user:alice');
        expect(h.versions.map((v) => [v.op, v.data, v.erased])).toEqual([
          ['erase', null, false],
          ['redact', null, false],
          ['set', null, true],
          ['set', null, true],
        ]);
        for (const v of h.versions) expect(verify(v.receipt).ok).toBe(true);
        expect(h.versions[0]!.receipt.header.keyPrev).toBe(red.receipt.hash);

        for (const [w, data] of [
          [w1, { email: 'alice@corp.com' }],
          [w2, { email: 'alice@new.com' }],
        ] as const) {
          expect(verify(w.receipt)).toMatchObject({ ok: true, payloadVerified: true, data });
        }
        expect(verify(red.receipt).ok).toBe(true);
        const events = await allEvents(admin);
        expect(JSON.stringify(events)).not.toContain('alice@');
      });

      it('shows erased versions with null data in as-of reads', async () => {
        const w1 = await admin.set('a', 'secret');
        await admin.erase('a', { reason: 'r' });
        const b = await admin.get('a', { asOf: w1.version });
        expect(b).toMatchObject({ key: 'a', data: null, version: w1.version });
        expect((await admin.list({ asOf: w1.version })).blocks).toEqual([b]);
      });

      it('erases the history of a deleted key', async () => {
        await admin.set('a', 'secret');
        await admin.delete('a');
        const er = await admin.erase('a', { reason: 'r' });
        expect(er.erased).toEqual([0]);
        expect((await admin.history('a')).versions.map((v) => [v.op, v.erased])).toEqual([
          ['erase', false],
          ['delete', false],
          ['set', true],
        ]);
        expect((await admin.me()).blocks_used).toBe(0);
      });

      it('refuses to erase a key never written with not_found', async () => {
        await admin.set('a', 1);
        await admin.log('b', {});
        await expectRefused('not_found', () => admin.erase('missing', { reason: 'r' }));
        await expectRefused('not_found', () => admin.erase('b', { reason: 'r' }));
      });

      it.each([
        ['no reason', undefined],
        ['an empty reason', ''],
        ['a reason of 1025 characters', 'r'.repeat(1025)],
        ['a non-string reason', 42],
      ])('refuses an erase with %s with bad_request', async (_name, reason) => {
        await admin.set('a', 1);
        await expectRefused('bad_request', () => admin.erase('a', { reason } as { reason: string }));
      });

      it('lets an erased key be written again, chained to its erased history', async () => {
        await admin.set('a', 'old');
        const er = await admin.erase('a', { reason: 'r' });
        const again = await admin.set('a', 'new');
        expect(again.receipt.header.keyPrev).toBe(er.receipt.hash);
        expect((await admin.get('a')).data).toBe('new');
        expect((await admin.history('a')).versions.map((v) => [v.op, v.data, v.erased])).toEqual([
          ['set', 'new', false],
          ['erase', null, false],
          ['set', null, true],
        ]);
      });

      it('returns the original result for an erase retried after a later erase of the same key', async () => {
        await admin.set('a', 1);
        const first = await admin.erase('a', { reason: 'first', idempotencyKey: 'erase-1' });
        await admin.set('a', 2);
        await admin.erase('a', { reason: 'second' });
        const retry = await admin.erase('a', { reason: 'first', idempotencyKey: 'erase-1' });
        expect(retry.erased).toEqual(first.erased);
        expect(retry.receipt.hash).toBe(first.receipt.hash);
      });
    });

    describe('bad input', () => {
      it.each(BAD_KEYS.map((b) => [b.name, b.key]))('refuses %s in every key-taking method with bad_request and writes nothing', async (_name, key) => {
        await admin.set('existing', 1);
        const k = key as string;
        for (const [what, call] of [
          ['set', () => admin.set(k, 1)],
          ['delete', () => admin.delete(k)],
          ['redact', () => admin.redact(k)],
          ['unredact', () => admin.unredact(k)],
          ['erase', () => admin.erase(k, { reason: 'r' })],
          ['log', () => admin.log(k, {})],
          ['batch set', () => admin.batch([{ op: 'set', key: 'fine', data: 1 }, { op: 'set', key: k, data: 1 }])],
          ['batch delete', () => admin.batch([{ op: 'set', key: 'fine', data: 1 }, { op: 'delete', key: k }])],
          ['batch log', () => admin.batch([{ op: 'set', key: 'fine', data: 1 }, { op: 'log', kind: k }])],
        ] as const) {
          const before = await observe(admin);
          expect(await codeOf(call), what).toBe('bad_request');
          expect(await observe(admin), what).toEqual(before);
        }
        expect(await codeOf(() => admin.get(k))).toBe('bad_request');
        expect(await codeOf(() => admin.history(k))).toBe('bad_request');
      });

      it('refuses U+0000 to U+0004 in a key, kind or idempotency key of 64 or more characters (the storage key encoding cannot hold them), and writes nothing', async () => {
        await admin.set('existing', 1);
        for (const k of ['\u0001'.repeat(64), `${'a'.repeat(70)}\u0000`, `${'x'.repeat(63)}\u0004`, `\u0002${'é'.repeat(100)}`]) {
          for (const [what, call] of [
            ['set', () => admin.set(k, 1)],
            ['log', () => admin.log(k, {})],
            ['batch set', () => admin.batch([{ op: 'set', key: 'fine', data: 1 }, { op: 'set', key: k, data: 1 }])],
            ['batch log', () => admin.batch([{ op: 'set', key: 'fine', data: 1 }, { op: 'log', kind: k }])],
            ['idempotency key', () => admin.set('fine', 1, { idempotencyKey: k })],
          ] as const) {
            const before = await observe(admin);
            expect(await codeOf(call), `${what} ${JSON.stringify(k)}`).toBe('bad_request');
            expect(await observe(admin), what).toEqual(before);
          }
          // A read of such a key is not an error: there is none.
          expect(await codeOf(() => admin.get(k))).toBe('not_found');
        }
        // Shorter keys with those characters are stored exactly, and longer keys with other control characters.
        for (const k of [`${'x'.repeat(62)}\u0004`, '\u0000\u0001\u0002\u0003\u0004', `${'t'.repeat(80)}\t\n\u001f`]) {
          await admin.set(k, k.length);
          expect((await admin.get(k)).data).toBe(k.length);
          expect((await admin.list({ prefix: k })).blocks.map((b) => b.key)).toEqual([k]);
        }
      });

      it.each(BAD_DATA.map((b) => [b.name, b.data, b.code]))('refuses %s in every data-taking write and writes nothing', async (_name, data, code) => {
        await admin.set('existing', 1);
        for (const [what, call] of [
          ['set', () => admin.set('existing', data)],
          ['set new', () => admin.set('new', data)],
          ['log', () => admin.log('k', data)],
          ['batch set', () => admin.batch([{ op: 'set', key: 'fine', data: 1 }, { op: 'set', key: 'new', data }])],
          ['batch log', () => admin.batch([{ op: 'set', key: 'fine', data: 1 }, { op: 'log', kind: 'k', details: data }])],
        ] as const) {
          const before = await observe(admin);
          expect(await codeOf(call), what).toBe(code);
          expect(await observe(admin), what).toEqual(before);
        }
      });

      it.each([
        ['-1', -1],
        ['1.5', 1.5],
        ['2^31', 2 ** 31],
        ['NaN', NaN],
        ['the string "3"', '3'],
        ['true', true],
      ])('refuses a visibility of %s with bad_request', async (_name, v) => {
        await admin.set('existing', 1);
        await expectRefused('bad_request', () => admin.set('a', 1, { v: v as number }));
      });

      it('accepts data of exactly 1 MiB once encoded, and data 64 levels deep', async () => {
        // A text string of n >= 65536 bytes encodes with a 5-byte header.
        const big = 'x'.repeat(MiB - 5);
        const res = await admin.set('big', big);
        expect(verify(res.receipt)).toMatchObject({ ok: true, data: big });
        expect((await admin.get('big')).data).toBe(big);
        await admin.set('deep', nested(64));
        expect((await admin.get('deep')).data).toEqual(nested(64));
        expect(await codeOf(() => admin.set('big2', big + 'x'))).toBe('payload_too_large');
      });
    });
  });
}
