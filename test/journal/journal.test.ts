import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromBase64 } from '../../src/core/bytes.js';
import { parseCheckpoint } from '../../src/core/checkpoint.js';
import { blake3Tree } from '../../src/core/hash.js';
import { verifyConsistency, verifyInclusion } from '../../src/core/merkle.js';
import { verifyNote } from '../../src/core/note.js';
import { verifyReceipt } from '../../src/core/verify-receipt.js';
import { Tally } from '../../src/store/tally.js';
import { tempDir } from '../helpers/tmpdir.js';

type TenantHandleSet = ReturnType<Tally['tenant']>['set'];

describe('journal', () => {
  it('gives many concurrent appenders one contiguous sequence with no gaps', async () => {
    const db = await Tally.open(tempDir());
    const t = db.tenant('acme');
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => t.log(`kind.${i % 7}`, { i })));
    const seqs = results.map((r) => r.receipt.header.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 500 }, (_, i) => i));
    for (const r of results) expect(verifyReceipt(r.receipt, [db.verifierKey()]).ok).toBe(true);
    expect(await t.verify()).toMatchObject({ ok: true, checked: 500 });
    await db.close();
  });

  it('commits concurrent appends in shared batches with one checkpoint each', async () => {
    const db = await Tally.open(tempDir());
    const t = db.tenant('acme');
    const results = await Promise.all(Array.from({ length: 64 }, (_, i) => t.log('k', { i })));
    const sizes = new Set(results.map((r) => parseCheckpoint(r.receipt.checkpoint.split('\n\n')[0] + '\n').size));
    expect(sizes.size).toBeLessThan(64);
    const verdict = await t.verify();
    expect(verdict.ok && verdict.checkpoints).toBe(sizes.size);
    await db.close();
  });

  it('continues its chain after a reopen', async () => {
    const dir = tempDir();
    let db = await Tally.open(dir);
    const first = await db.tenant('acme').log('a', {});
    const key = db.verifierKey();
    await db.close();
    db = await Tally.open(dir);
    expect(db.verifierKey()).toBe(key);
    const second = await db.tenant('acme').log('a', {});
    expect(second.receipt.header.seq).toBe(1);
    expect(second.receipt.header.prev).toBe(first.receipt.hash);
    expect(second.receipt.header.keyPrev).toBe(first.receipt.hash);
    expect(await db.tenant('acme').verify()).toMatchObject({ ok: true, checked: 2 });
    await db.close();
  });

  it('keeps one independent journal, chain and origin per tenant', async () => {
    const db = await Tally.open(tempDir());
    const a = await db.tenant('a').log('x', {});
    const b = await db.tenant('b').log('x', {});
    expect(a.receipt.header.seq).toBe(0);
    expect(b.receipt.header.seq).toBe(0);
    expect(a.receipt.checkpoint.startsWith(`${db.name}/a\n`)).toBe(true);
    expect(b.receipt.checkpoint.startsWith(`${db.name}/b\n`)).toBe(true);
    expect(db.tenants()).toEqual(['a', 'b']);
    await db.close();
  });

  it('chains keyPrev per log kind apart from other kinds', async () => {
    const db = await Tally.open(tempDir());
    const t = db.tenant('acme');
    const a1 = await t.log('a', {});
    const b1 = await t.log('b', {});
    const a2 = await t.log('a', {});
    expect(b1.receipt.header.keyPrev).toBeNull();
    expect(a2.receipt.header.keyPrev).toBe(a1.receipt.hash);
    await db.close();
  });

  it('links keyPrev within one batch per tenant, keyspace and key', async () => {
    // Appends issued together share a batch; within it a key's previous event is found in memory,
    // so tenants, keyspaces (a log kind and a block key of the same name) and keys must stay apart.
    const db = await Tally.open(tempDir());
    const writes = Array.from({ length: 60 }, (_, i) => {
      const t = db.tenant(i % 2 === 0 ? 'a' : 'b');
      const name = i % 3 === 0 ? 'x' : 'y';
      return i % 5 < 2 ? t.log(name, { i }) : t.set(name, { i });
    });
    const receipts = (await Promise.all(writes)).map((r) => r.receipt);
    const sizes = new Set(receipts.map((r) => r.checkpoint));
    expect(sizes.size).toBeLessThan(10); // the writes did share batches
    const last = new Map<string, string>();
    for (const r of [...receipts].sort((p, q) => p.header.journal.localeCompare(q.header.journal) || p.header.seq - q.header.seq)) {
      const id = `${r.header.journal}/${r.header.op === 'log' ? 'k' : 'b'}/${r.header.key}`;
      expect(r.header.keyPrev).toBe(last.get(id) ?? null);
      last.set(id, r.hash);
    }
    for (const t of ['a', 'b']) expect((await db.tenant(t).verify()).ok).toBe(true);
    await db.close();
  });

  it('signs a new tenant under its own origin when a request for another new tenant in the same batch is rejected', async () => {
    // Both tenants would get the next tenant id; the rejected one must leave nothing of itself in the batch.
    const db = await Tally.open(tempDir(), { name: 'node' });
    const [a, b] = await Promise.allSettled([db.tenant('a').set('k', { x: 1 }, { ifVersion: 5 }), db.tenant('b').set('k', { x: 2 })]);
    expect(a.status === 'rejected' && (a.reason as { code?: string }).code).toBe('conflict');
    expect(b.status).toBe('fulfilled');
    const receipt = (b as PromiseFulfilledResult<Awaited<ReturnType<TenantHandleSet>>>).value.receipt;
    expect(receipt.checkpoint.split('\n')[0]).toBe('node/b');
    expect(verifyReceipt(receipt, [db.verifierKey()]).ok).toBe(true);
    expect(await db.tenant('b').verify()).toMatchObject({ ok: true, checked: 1 });
    expect(db.tenants()).toEqual(['b']);
    await db.close();
  });

  it('creates the signing key file with mode 0600 and keeps rotated keys valid for old checkpoints', async () => {
    const dir = tempDir();
    const db = await Tally.open(dir, { name: 'node-a' });
    expect(statSync(join(dir, 'keys.json')).mode & 0o777).toBe(0o600);
    const old = await db.tenant('acme').log('a', {});
    const oldKey = db.verifierKey();
    const newKey = db.rotateKey();
    expect(newKey).not.toBe(oldKey);
    expect(newKey.startsWith('node-a+')).toBe(true);
    const fresh = await db.tenant('acme').log('a', {});
    expect(verifyReceipt(old.receipt, db.verifierKeys()).ok).toBe(true);
    expect(verifyReceipt(fresh.receipt, db.verifierKeys()).ok).toBe(true);
    expect(verifyReceipt(fresh.receipt, [oldKey])).toMatchObject({ ok: false, code: 'unknown_key' });
    expect(await db.tenant('acme').verify()).toMatchObject({ ok: true });
    await db.close();
    const again = await Tally.open(dir);
    expect(again.verifierKeys()).toEqual([oldKey, newKey]);
    await again.close();
  });

  it('proves every stored checkpoint consistent with the next, and every event included in the latest', async () => {
    const db = await Tally.open(tempDir());
    const t = db.tenant('acme');
    for (let round = 0; round < 6; round++) await Promise.all(Array.from({ length: round * 3 + 1 }, () => t.log('k', { round })));
    const j = db.journal;
    const tid = j.tenant('acme')!.id;
    const cps = [...j.checkpoints(tid)].map((c) => {
      const v = verifyNote(c.note, j.verifierKeys());
      if (!v.ok) throw new Error(v.message);
      return parseCheckpoint(v.text);
    });
    for (let i = 1; i < cps.length; i++) {
      const a = cps[i - 1]!;
      const b = cps[i]!;
      expect(verifyConsistency(blake3Tree, a.size, b.size, a.root, b.root, j.consistencyProof(tid, a.size, b.size))).toBe(true);
    }
    const last = cps[cps.length - 1]!;
    for (let seq = 0; seq < last.size; seq++) {
      const ev = j.event(tid, seq);
      expect(verifyInclusion(blake3Tree, seq, last.size, blake3Tree.leaf(ev.hash), j.inclusionProof(tid, seq, last.size), last.root)).toBe(true);
    }
    await db.close();
  });

  it('counts proof reads logarithmically in the tree size', async () => {
    const db = await Tally.open(tempDir());
    const t = db.tenant('acme');
    for (let i = 0; i < 8; i++) await Promise.all(Array.from({ length: 128 }, () => t.log('k', {})));
    const j = db.journal;
    const tid = j.tenant('acme')!.id;
    let reads = 0;
    const nodes = j.storage.nodes;
    const get = nodes.get.bind(nodes);
    (nodes as { get: typeof get }).get = (k) => {
      reads++;
      return get(k);
    };
    for (const seq of [0, 333, 1000, 1022]) {
      reads = 0;
      j.inclusionProof(tid, seq, 1023);
      expect(reads).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(1023)));
    }
    reads = 0;
    j.consistencyProof(tid, 333, 1023);
    expect(reads).toBeLessThanOrEqual(3 * Math.ceil(Math.log2(1023)));
    await db.close();
  });

  it('rejects bad input with a stable code and leaves the journal unchanged', async () => {
    const db = await Tally.open(tempDir(), { maxPayloadBytes: 1000 });
    const t = db.tenant('acme');
    await t.log('ok', {});
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    const cases: [string, unknown, string][] = [
      ['', {}, 'bad_request'],
      ['x'.repeat(1025), {}, 'bad_request'],
      ['é'.repeat(513), {}, 'bad_request'],
      ['\uD800', {}, 'bad_request'],
      ['k', { f: () => 1 }, 'bad_request'],
      ['k', cyclic, 'bad_request'],
      ['k', { n: Number.NaN }, 'bad_request'],
      ['k', { big: 1n }, 'bad_request'],
      ['k', { u: undefined }, 'bad_request'],
      ['k', 'x'.repeat(2000), 'payload_too_large'],
    ];
    for (const [kind, details, code] of cases) {
      await expect(t.log(kind, details), `${JSON.stringify(kind).slice(0, 20)}`).rejects.toMatchObject({ code });
    }
    expect(await t.verify()).toMatchObject({ ok: true, checked: 1 });
    await db.close();
  });

  it('accepts a key of exactly 1024 UTF-8 bytes', async () => {
    const db = await Tally.open(tempDir());
    const r = await db.tenant('acme').log('é'.repeat(512), {});
    expect(r.receipt.header.key.length).toBe(512);
    await db.close();
  });

  it('stores the receipt checkpoint durably so it can be fetched again', async () => {
    const dir = tempDir();
    const db = await Tally.open(dir);
    const r = await db.tenant('acme').log('a', {});
    await db.close();
    const again = await Tally.open(dir);
    expect(await again.tenant('acme').checkpoint()).toBe(r.receipt.checkpoint);
    const root = fromBase64(r.receipt.checkpoint.split('\n')[2]!);
    expect(again.journal.root(again.journal.tenant('acme')!.id, 1)).toEqual(root);
    await again.close();
  });
});
