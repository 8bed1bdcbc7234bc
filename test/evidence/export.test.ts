/**
 * The bundle exporter: range widening to signed checkpoints, range errors,
 * streaming in constant memory, exports racing writes, and GET /export.
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { afterEach, describe, expect, it } from 'vitest';
import type { ManifestRecord } from '../../src/core/bundle.js';
import { parseVerifierKey } from '../../src/core/note.js';
import { exportBundle } from '../../src/evidence/export.js';
import { auditFast } from '../../src/evidence/node-audit.js';
import type { JournalEvent } from '../../src/journal/journal.js';
import { Tally } from '../../src/store/tally.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/tmpdir.js';
import { auditBoth, collect, records, toAsync, types } from './bundle-helpers.js';

const keysOf = (db: Tally) => db.verifierKeys().map((k) => parseVerifierKey(k));
const manifestOf = (lines: string[]) => records(lines)[0] as ManifestRecord;

/** A journal with runs of sequential writes (a checkpoint per event) and concurrent bursts (one per batch). */
async function sparseJournal(db: Tally): Promise<number[]> {
  const t = db.tenant('acme');
  for (let round = 0; round < 3; round++) {
    await t.set(`seq-${round}`, { round });
    await t.log('tick', { round });
    await Promise.all(Array.from({ length: 5 }, (_, i) => (i % 2 ? t.log('burst', { round, i }) : t.set(`burst-${round}-${i}`, { i }))));
    await t.set(`seq-${round}`, { round, again: true });
  }
  const tid = db.journal.tenant('acme')!.id;
  return [...db.journal.checkpoints(tid)].map((c) => c.size);
}

describe('exportBundle: ranges', () => {
  it('widens every requested range to the enclosing signed checkpoints, and every such bundle audits', async () => {
    const db = await Tally.open(tempDir());
    const sizes = await sparseJournal(db);
    const latest = sizes[sizes.length - 1]!;
    expect(sizes.length).toBeLessThan(latest); // some sizes have no checkpoint
    const keys = keysOf(db);
    for (let from = 0; from <= latest; from++) {
      for (let to = from; to <= latest; to++) {
        const lines = await collect(exportBundle(db, 'acme', { from, to }));
        const m = manifestOf(lines);
        const label = `requested ${from}..${to}, got ${m.from}..${m.to}`;
        expect(m.requested, label).toEqual({ from, to });
        // from: the largest signed size ≤ from (0 when there is none); to: the smallest signed size ≥ to
        const wantFrom = from === 0 ? 0 : Math.max(0, ...sizes.filter((s) => s <= from));
        const wantTo = to === 0 ? 0 : Math.min(...sizes.filter((s) => s >= to));
        expect({ from: m.from, to: m.to }, label).toEqual({ from: wantFrom, to: wantTo });
        expect(m.from === 0 || sizes.includes(m.from), label).toBe(true);
        expect(m.to === 0 || sizes.includes(m.to), label).toBe(true);
        if ((from + to) % 3 === 0) {
          const r = await auditFast(toAsync(lines), keys);
          expect(r, label).toMatchObject({ ok: true, from: m.from, to: m.to, events: m.to - m.from });
        }
      }
    }
    await db.close();
  });

  it('exports the whole signed journal by default, with the node keys and origin in the manifest', async () => {
    const db = await Tally.open(tempDir(), { name: 'node-x' });
    const sizes = await sparseJournal(db);
    const lines = await collect(exportBundle(db, 'acme', { now: () => 1234 }));
    expect(manifestOf(lines)).toMatchObject({ t: 'manifest', format: 'tally-bundle/v1', tenant: 'acme', origin: 'node-x/acme', node: 'node-x', from: 0, to: sizes[sizes.length - 1], created: 1234, keys: db.verifierKeys() });
    expect((await auditBoth(lines, keysOf(db))).ok).toBe(true);
    await db.close();
  });

  it('refuses bad ranges and unknown tenants', async () => {
    const db = await Tally.open(tempDir());
    const sizes = await sparseJournal(db);
    const latest = sizes[sizes.length - 1]!;
    const codeOf = async (tenant: string, opts: Parameters<typeof exportBundle>[2]) => {
      try {
        await collect(exportBundle(db, tenant, opts));
        return 'no error';
      } catch (err) {
        return (err as { code?: string }).code ?? String(err);
      }
    };
    expect(await codeOf('acme', { to: latest + 1 })).toBe('bad_request');
    expect(await codeOf('acme', { from: latest + 1 })).toBe('bad_request');
    expect(await codeOf('acme', { from: 5, to: 4 })).toBe('bad_request');
    expect(await codeOf('acme', { from: -1 })).toBe('bad_request');
    expect(await codeOf('acme', { to: 'yesterday' })).toBe('bad_request');
    expect(await codeOf('acme', { from: '2026-13-45T00:00:00Z' })).toBe('bad_request');
    expect(await codeOf('nope', {})).toBe('not_found');
    expect(await codeOf('acme', { to: latest })).toBe('no error');
    await db.close();
  });
});

describe('exportBundle: streaming', () => {
  it('exports a 50,000-event journal lazily and in constant memory', async () => {
    const db = await Tally.open(tempDir());
    const t = db.tenant('acme');
    const pad = 'x'.repeat(300);
    for (let b = 0; b < 50; b++) await t.batch(Array.from({ length: 1000 }, (_, i) => ({ op: 'log' as const, kind: `kind.${i % 50}`, details: { n: b * 1000 + i, pad } })));
    expect(db.journal.size(db.journal.tenant('acme')!.id)).toBe(50_000);

    // Laziness: count the events the exporter pulls from LMDB.
    const journal = db.journal;
    const original = journal.events.bind(journal);
    let pulled = 0;
    journal.events = function* (tid: number, from?: number, to?: number): Generator<JournalEvent> {
      for (const e of original(tid, from, to)) {
        pulled++;
        yield e;
      }
    };
    const started = performance.now();
    const gen = exportBundle(db, 'acme');
    const firstThree: string[] = [];
    for await (const line of gen) {
      firstThree.push(line);
      if (firstThree.length === 3) break; // calls gen.return()
    }
    expect(types(firstThree.map((l) => l.slice(0, -1)))).toEqual(['manifest', 'start', 'event']);
    expect(pulled).toBeLessThanOrEqual(2);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await gen.next()).toEqual({ done: true, value: undefined });

    // Constant memory: sample the heap after forced collections while the export streams.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const base = process.memoryUsage().heapUsed;
    let peak = 0;
    let bytes = 0;
    let lines = 0;
    let last = '';
    pulled = 0;
    for await (const chunk of exportBundle(db, 'acme')) {
      bytes += chunk.length;
      last = chunk;
      if (++lines % 5000 === 0) {
        gc();
        peak = Math.max(peak, process.memoryUsage().heapUsed - base);
      }
    }
    expect(pulled).toBe(50_000);
    expect(lines).toBe(50_000 + 50 + 3); // events, one checkpoint per batch, manifest, start, end
    expect(JSON.parse(last)).toMatchObject({ t: 'end', events: 50_000 });
    // The bundle is ~40 MB of text: holding it would show; streaming keeps the heap flat.
    expect(bytes).toBeGreaterThan(35_000_000);
    expect(peak).toBeLessThan(20 * 1024 * 1024);
    await db.close();
  }, 60_000);

  it('two exports interleaved line by line each produce a valid bundle', async () => {
    const db = await Tally.open(tempDir());
    await sparseJournal(db);
    const a = exportBundle(db, 'acme');
    const b = exportBundle(db, 'acme', { from: 3 });
    const la: string[] = [];
    const lb: string[] = [];
    for (;;) {
      const [x, y] = await Promise.all([a.next(), b.next()]);
      if (!x.done) la.push(x.value.slice(0, -1));
      if (!y.done) lb.push(y.value.slice(0, -1));
      if (x.done && y.done) break;
    }
    expect((await auditBoth(la, keysOf(db))).ok).toBe(true);
    expect((await auditBoth(lb, keysOf(db))).ok).toBe(true);
    await db.close();
  });

  it('an export keeps its range while writes continue during the stream', async () => {
    const db = await Tally.open(tempDir());
    const sizes = await sparseJournal(db);
    const t = db.tenant('acme');
    const gen = exportBundle(db, 'acme');
    const first = await gen.next();
    await Promise.all(Array.from({ length: 20 }, (_, i) => t.set(`late-${i}`, { i })));
    await t.set('seq-0', { changed: true });
    const lines = [first.value as string];
    for await (const l of gen) lines.push(l);
    const stripped = lines.map((l) => l.slice(0, -1));
    expect(manifestOf(stripped).to).toBe(sizes[sizes.length - 1]);
    expect(await auditBoth(stripped, keysOf(db))).toMatchObject({ ok: true, to: sizes[sizes.length - 1] });
    await db.close();
  });

  it('an export survives an erase committed while it streams', async () => {
    // A live server keeps accepting writes during GET /export; an erase of a key
    // with payloads inside the range must not break the bundle being written.
    const db = await Tally.open(tempDir());
    await sparseJournal(db);
    const t = db.tenant('acme');
    await t.set('pii', { name: 'Alice' });
    const gen = exportBundle(db, 'acme');
    const lines: string[] = [];
    const first = await gen.next(); // the range and the tail checkpoint are fixed here
    lines.push(first.value as string);
    await t.erase('pii', { reason: 'request' });
    let error: unknown;
    try {
      for await (const l of gen) lines.push(l);
    } catch (err) {
      error = err;
    }
    expect(error).toBeUndefined();
    expect((await auditBoth(lines.map((l) => l.slice(0, -1)), keysOf(db))).ok).toBe(true);
    await db.close();
  });
});

describe('GET /export', () => {
  let srv: TestServer | undefined;
  afterEach(async () => {
    await srv?.close();
    srv = undefined;
  });

  const get = async (path: string, token?: string) => {
    const res = await fetch(srv!.url + path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
  };

  it('streams the bundle to an admin token; read tokens are forbidden, no token is unauthorized', async () => {
    srv = await startServer();
    const admin = await srv.tenant('acme');
    const reader = await srv.token('acme', 'read');
    const writer = await srv.token('acme', 'write');
    await sparseJournal(srv.db);
    await srv.db.tenant('acme').erase('burst-0-0', { reason: 'test' });

    const res = await get('/export', admin);
    expect(res.status).toBe(200);
    expect(res.type).toContain('application/x-ndjson');
    expect(res.text.endsWith('\n')).toBe(true);
    const lines = res.text.slice(0, -1).split('\n');
    const r = await auditBoth(lines, keysOf(srv.db));
    expect(r).toMatchObject({ ok: true, tenant: 'acme', from: 0, erasedPayloads: 1 });

    // same records as the embedded exporter (only the creation time, and so the digest, differ)
    const direct = await collect(exportBundle(srv.db, 'acme'));
    expect(types(lines)).toEqual(types(direct));
    expect(lines.slice(1, -1)).toEqual(direct.slice(1, -1));

    const ranged = await get('/export?from=2&to=5', admin);
    expect(ranged.status).toBe(200);
    const rl = ranged.text.slice(0, -1).split('\n');
    expect(manifestOf(rl).requested).toEqual({ from: 2, to: 5 });
    expect((await auditBoth(rl, keysOf(srv.db))).ok).toBe(true);

    const errorCode = (text: string) => (JSON.parse(text) as { error: { code: string } }).error.code;
    const beyond = await get('/export?to=100000', admin);
    expect([beyond.status, errorCode(beyond.text)]).toEqual([400, 'bad_request']);
    const forbidden = await get('/export', reader);
    expect([forbidden.status, errorCode(forbidden.text)]).toEqual([403, 'forbidden']);
    const forbiddenW = await get('/export', writer);
    expect([forbiddenW.status, errorCode(forbiddenW.text)]).toEqual([403, 'forbidden']);
    const anonymous = await get('/export');
    expect([anonymous.status, errorCode(anonymous.text)]).toEqual([401, 'unauthorized']);
  });
});
