/**
 * The offline bundle auditor against real exports: happy paths over several
 * ranges, a tamper table with one specific failure code per edit, malformed
 * inputs, and random single-byte mutations. Every audit runs through both the
 * pure auditor (noble) and the fast one (WASM BLAKE3 + OpenSSL); they must
 * return identical results.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditBundle, type AuditResult } from '../../src/core/audit-bundle.js';
import type { CheckpointRecord, EventRecord, ManifestRecord, StartRecord } from '../../src/core/bundle.js';
import { fromBase64, toBase64, utf8 } from '../../src/core/bytes.js';
import { encodeCanonical } from '../../src/core/codec.js';
import { decodeHeader, encodeHeader, type EventHeader } from '../../src/core/event.js';
import { parseVerifierKey, type VerifierKey } from '../../src/core/note.js';
import { exportBundle } from '../../src/evidence/export.js';
import { auditFast } from '../../src/evidence/node-audit.js';
import { Tally } from '../../src/store/tally.js';
import { auditBoth, collect, editLine, findLine, flipB64, flipInside, records, reseal, toAsync, types } from '../evidence/bundle-helpers.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const dirs: string[] = [];
let clock = T0;
let db: Tally; // node-a: tenants acme, beta, empty
let db2: Tally; // node-b: tenant acme, signed by another key
let keys: VerifierKey[];
let otherKeys: VerifierKey[];
/** Seqs of interesting acme events. */
const at: Record<string, number> = {};
/** Bundles of acme. */
let whole: string[];
let middle: string[];
let tailed: string[];
/** Signed checkpoint sizes of acme. */
let cpSizes: number[];

const timeOf = (seq: number): number => headerAt(seq).time;
const iso = (ms: number): string => new Date(ms).toISOString();
let headers: EventHeader[] = [];
const headerAt = (seq: number): EventHeader => headers[seq]!;

const seqOfLine = (line: string): number => decodeHeader(fromBase64((JSON.parse(line) as EventRecord).header)).seq;
const exportLines = (tenant: string, opts: Parameters<typeof exportBundle>[2] = {}, from: Tally = db) => collect(exportBundle(from, tenant, opts));

function mkdir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

beforeAll(async () => {
  db = await Tally.open(mkdir('tally-audit-a-'), { name: 'node-a', now: () => clock });
  db2 = await Tally.open(mkdir('tally-audit-b-'), { name: 'node-b', now: () => clock });
  keys = db.verifierKeys().map((k) => parseVerifierKey(k));
  otherKeys = db2.verifierKeys().map((k) => parseVerifierKey(k));
  const w = db.tenant('acme', { actor: 'writer' });
  const admin = db.tenant('acme');
  const tick = () => (clock += 1000);
  const seq = (r: { receipt: { header: { seq: number } } }) => r.receipt.header.seq;

  tick();
  at['pii0'] = seq(await w.set('pii', { name: 'Alice' }));
  tick();
  at['login0'] = seq(await w.log('user.login', { u: 'alice' }));
  tick();
  at['a0'] = seq(await w.set('a', { n: 1 }));
  tick();
  await w.set('b', { n: 1 });
  tick();
  at['pii1'] = seq(await w.set('pii', { name: 'Alice B.' }));
  tick();
  await w.delete('b');
  tick();
  // Concurrent writes: group commit puts them in shared batches, so not every size has a checkpoint.
  await Promise.all([w.set('c', 1), w.log('user.login', { u: 'bob' }), w.set('a', { n: 2 }), w.set('d', 1), w.log('audit.x', {}), w.set('e', 1)]);
  tick();
  await w.set('a', { n: 3 });
  tick();
  await admin.redact('c');
  tick();
  at['erasePii'] = seq(await admin.erase('pii', { reason: 'gdpr request' }));
  tick();
  at['secret'] = seq(await w.set('secret', { card: '4111' }));
  tick();
  await Promise.all([w.set('f', 1), w.log('user.login', { u: 'carol' }), w.set('a', { n: 4 }), w.set('g', 1), w.log('audit.y', { z: 1 })]);
  tick();
  at['logout'] = seq(await w.log('user.logout', {}));
  tick();
  at['eraseSecret'] = seq(await admin.erase('secret', { reason: 'pci' }));
  tick();
  at['last'] = seq(await w.log('after.erase', {}));

  // Tenant beta of the same node and acme of another node: sequential writes, a checkpoint at every size.
  const beta = db.tenant('beta');
  const acme2 = db2.tenant('acme');
  for (let i = 0; i <= at['last']!; i++) {
    await beta.log('beta.event', { i });
    await acme2.log('other.node', { i });
  }
  await db.createTenant('empty');

  const tid = db.journal.tenant('acme')!.id;
  headers = [...db.journal.events(tid)].map((e) => e.header);
  cpSizes = [...db.journal.checkpoints(tid)].map((c) => c.size);

  whole = await exportLines('acme');
  middle = await exportLines('acme', { from: at['a0']! + 5, to: at['secret']! + 2 });
  tailed = await exportLines('acme', { from: 0, to: at['eraseSecret']! });
}, 60_000);

afterAll(async () => {
  await db?.close();
  await db2?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const expectOk = (r: AuditResult): Extract<AuditResult, { ok: true }> => {
  if (!r.ok) throw new Error(`audit failed: ${r.code}: ${r.message} (line ${r.line}, seq ${r.seq})`);
  return r;
};

describe('auditBundle: valid bundles', () => {
  it('the fixture has sparse checkpoints (concurrent writes were batched)', () => {
    const last = at['last']! + 1;
    expect(cpSizes[cpSizes.length - 1]).toBe(last);
    expect(cpSizes.length).toBeLessThan(last);
    // at least one event is followed by another event (not a checkpoint) in the whole bundle
    const t = types(whole);
    expect(t.some((x, i) => x === 'event' && t[i + 1] === 'event')).toBe(true);
  });

  it('accepts the whole range: every event, checkpoint and erased payload accounted for', async () => {
    const r = expectOk(await auditBoth(whole, keys));
    const n = at['last']! + 1;
    expect(r).toMatchObject({ ok: true, tenant: 'acme', origin: 'node-a/acme', from: 0, to: n, events: n, complete: true, signers: [db.verifierKey()] });
    expect(r.checkpoints).toBe(cpSizes.length);
    // pii had two sets before its erase; secret one set before its erase
    expect(r.erasedPayloads).toBe(3);
    const t = types(whole);
    expect(t[0]).toBe('manifest');
    expect(t[1]).toBe('start');
    expect(t[t.length - 1]).toBe('end');
    expect(t).not.toContain('anchor');
    expect(t).not.toContain('tail');
    expect(t).not.toContain('erasure');
    expect(t.filter((x) => x === 'event')).toHaveLength(n);
    const start = records(whole)[1] as StartRecord;
    expect(start).toEqual({ t: 'start', size: 0, checkpoint: null, frontier: [] });
  });

  it('accepts a middle range: start checkpoint, frontier and anchors are used', async () => {
    const m = records(middle)[0] as ManifestRecord;
    expect(m.requested).toEqual({ from: at['a0']! + 5, to: at['secret']! + 2 });
    expect(m.from).toBeGreaterThan(0);
    expect(m.from).toBeLessThanOrEqual(m.requested.from);
    expect(m.to).toBeGreaterThanOrEqual(m.requested.to);
    expect(m.to).toBeLessThan(at['last']! + 1);
    expect(cpSizes).toContain(m.from);
    expect(cpSizes).toContain(m.to);
    const start = records(middle)[1] as StartRecord;
    expect(start.size).toBe(m.from);
    expect(start.checkpoint).not.toBeNull();
    expect(start.frontier.length).toBeGreaterThan(0);
    // the event before `from`, and earlier events of keys (a, pii, user.login) that in-range events link to
    expect(types(middle).filter((x) => x === 'anchor').length).toBeGreaterThanOrEqual(2);
    const r = expectOk(await auditBoth(middle, keys));
    expect(r).toMatchObject({ from: m.from, to: m.to, events: m.to - m.from, complete: true });
  });

  it('accepts a range whose erased payloads are justified by an erase event after `to` (tail + erasure)', async () => {
    const m = records(tailed)[0] as ManifestRecord;
    expect(m.to).toBe(at['eraseSecret']);
    const t = types(tailed);
    expect(t).toContain('tail');
    expect(t).toContain('erasure');
    expect(t.indexOf('tail')).toBeLessThan(t.indexOf('erasure'));
    expect(t.indexOf('erasure')).toBe(t.length - 2);
    const recs = records(tailed);
    const tail = recs.find((x) => x.t === 'tail') as { size: number };
    expect(tail.size).toBe(at['last']! + 1);
    const erasure = recs.find((x) => x.t === 'erasure') as { header: string };
    const eh = decodeHeader(fromBase64(erasure.header));
    expect(eh).toMatchObject({ op: 'erase', key: 'secret', seq: at['eraseSecret'] });
    const r = expectOk(await auditBoth(tailed, keys));
    expect(r).toMatchObject({ from: 0, to: at['eraseSecret'], events: at['eraseSecret'], erasedPayloads: 3 });
  });

  it('without the erasure record, the missing payload is unexplained (payload_missing)', async () => {
    const i = findLine(tailed, (r) => r.t === 'erasure', 'erasure record');
    const cut = reseal(tailed.filter((_, k) => k !== i));
    expect(await auditBoth(cut, keys)).toMatchObject({ ok: false, code: 'payload_missing', seq: at['secret'] });
  });

  it('accepts an empty range: a tenant without events, and acme up to 0', async () => {
    const empty = await exportLines('empty');
    expect(types(empty)).toEqual(['manifest', 'start', 'end']);
    expect(expectOk(await auditBoth(empty, keys))).toMatchObject({ tenant: 'empty', from: 0, to: 0, events: 0, checkpoints: 0, erasedPayloads: 0 });
    const none = await exportLines('acme', { from: 0, to: 0 });
    expect(types(none)).toEqual(['manifest', 'start', 'end']);
    expect(expectOk(await auditBoth(none, keys))).toMatchObject({ tenant: 'acme', from: 0, to: 0, events: 0 });
  });

  it('accepts ranges given as ISO times (to is inclusive of events at that instant)', async () => {
    const fromSeq = at['a0']!;
    const toSeq = at['logout']!;
    // a from instant between two events, a to instant exactly at an event
    const lines = await exportLines('acme', { from: iso(timeOf(fromSeq) - 500), to: iso(timeOf(toSeq)) });
    const m = records(lines)[0] as ManifestRecord;
    expect(m.requested).toEqual({ from: fromSeq, to: toSeq + 1 });
    expect(m.from).toBeLessThanOrEqual(fromSeq);
    expect(m.to).toBeGreaterThanOrEqual(toSeq + 1);
    expect(expectOk(await auditBoth(lines, keys))).toMatchObject({ from: m.from, to: m.to });
  });

  it('an ISO `from` includes the events at exactly that instant', async () => {
    // Every event here was written alone, so a checkpoint exists at every one of these sizes
    // and the widening cannot hide an off-by-one.
    const s = at['pii1']!;
    expect(cpSizes).toContain(s);
    expect(cpSizes).toContain(s + 1);
    const lines = await exportLines('acme', { from: iso(timeOf(s)), to: iso(timeOf(s + 1)) });
    const m = records(lines)[0] as ManifestRecord;
    expect(m.requested.from).toBe(s);
    expect(m.from).toBeLessThanOrEqual(s);
    const seqs = lines.filter((l) => l.startsWith('{"t":"event"')).map(seqOfLine);
    expect(seqs).toContain(s);
  });
});

/** One tamper case: an edit of a valid bundle and the failure it must produce. */
interface Tamper {
  name: string;
  bundle: () => string[];
  edit: (lines: string[]) => string[];
  code: string;
  seq?: () => number;
  trusted?: () => VerifierKey[];
}

const isEvent = (r: { t: string }): r is EventRecord => r.t === 'event';
const eventSeq = (r: EventRecord) => decodeHeader(fromBase64(r.header)).seq;
/** Index of an event line whose next line is an event (events in one batch). */
const eventBeforeEvent = (lines: string[]) => findLine(lines, (r, i, all) => isEvent(r) && all[i + 1]?.t === 'event', 'event followed by an event');
/** Index of an event line whose next line is a checkpoint. */
const eventBeforeCheckpoint = (lines: string[], skip = 0) => findLine(lines, (r, i, all) => isEvent(r) && all[i + 1]?.t === 'checkpoint' && i > skip, 'event followed by a checkpoint');
const lineOfSeq = (lines: string[], seq: number) => findLine(lines, (r) => isEvent(r) && eventSeq(r) === seq, `event ${seq}`);
const seqAtLine = (lines: string[], i: number) => eventSeq(JSON.parse(lines[i]!) as EventRecord);
const betaNote = (size: number) => db.journal.checkpointAt(db.journal.tenant('beta')!.id, size)!;
const otherNodeNote = (size: number) => db2.journal.checkpointAt(db2.journal.tenant('acme')!.id, size)!;
const reencode = (line: string, fn: (h: Record<string, unknown>) => void): string => {
  const r = JSON.parse(line) as EventRecord;
  const h = { ...decodeHeader(fromBase64(r.header)) } as unknown as Record<string, unknown>;
  fn(h);
  return JSON.stringify({ ...r, header: toBase64(encodeHeader(h as unknown as EventHeader)) });
};

const tampers: Tamper[] = [
  {
    name: 'manifest: a bit flipped in the verifier key it lists',
    bundle: () => whole,
    edit: (l) => editLine(l, 0, (m) => {
      // name+keyid+base64: the base64 part may itself contain '+'
      const k = (m['keys'] as string[])[0]!;
      const cut = k.indexOf('+', k.indexOf('+') + 1) + 1;
      (m['keys'] as string[])[0] = k.slice(0, cut) + flipB64(k.slice(cut), 5);
    }),
    code: 'digest_mismatch',
  },
  { name: 'manifest: created time changed', bundle: () => whole, edit: (l) => editLine(l, 0, (m) => void (m['created'] = (m['created'] as number) + 1)), code: 'digest_mismatch' },
  { name: 'manifest: requested range changed', bundle: () => middle, edit: (l) => editLine(l, 0, (m) => void (m['requested'] = { from: 0, to: 1 })), code: 'digest_mismatch' },
  { name: 'start: a bit flipped in the frontier', bundle: () => middle, edit: (l) => editLine(l, 1, (s) => void ((s['frontier'] as string[])[0] = flipB64((s['frontier'] as string[])[0]!, 7))), code: 'frontier_mismatch' },
  { name: 'start: the last frontier hash flipped', bundle: () => middle, edit: (l) => editLine(l, 1, (s) => { const f = s['frontier'] as string[]; f[f.length - 1] = flipB64(f[f.length - 1]!, -1, 0x80); }), code: 'frontier_mismatch' },
  {
    name: 'anchor: a bit flipped in its header (inside the prev hash)',
    bundle: () => middle,
    edit: (l) => {
      const i = findLine(l, (r) => r.t === 'anchor', 'anchor');
      return editLine(l, i, (a) => {
        const h = decodeHeader(fromBase64(a['header'] as string));
        a['header'] = flipInside(a['header'] as string, h.prev, 3);
      });
    },
    code: 'anchor_invalid',
    seq: () => (records(middle)[0] as ManifestRecord).from - 1,
  },
  {
    name: 'anchor: a bit flipped in its inclusion proof',
    bundle: () => middle,
    edit: (l) => editLine(l, findLine(l, (r) => r.t === 'anchor', 'anchor'), (a) => void ((a['proof'] as string[])[0] = flipB64((a['proof'] as string[])[0]!, 0))),
    code: 'anchor_invalid',
    seq: () => (records(middle)[0] as ManifestRecord).from - 1,
  },
  {
    name: 'anchor: the anchor of from-1 removed (digest recomputed)',
    bundle: () => middle,
    edit: (l) => reseal(l.filter((_, k) => k !== findLine(l, (r) => r.t === 'anchor', 'anchor'))),
    code: 'chain_broken',
    seq: () => (records(middle)[0] as ManifestRecord).from,
  },
  {
    name: 'event header: a bit flipped in the actor of an event followed by another event',
    bundle: () => whole,
    edit: (l) => editLine(l, eventBeforeEvent(l), (e) => void (e['header'] = flipInside(e['header'] as string, utf8('writer'), 1))),
    code: 'chain_broken',
    seq: () => seqAtLine(whole, eventBeforeEvent(whole)) + 1,
  },
  {
    name: 'event header: a bit flipped in the actor of the last event before a checkpoint',
    bundle: () => whole,
    edit: (l) => editLine(l, eventBeforeCheckpoint(l), (e) => void (e['header'] = flipInside(e['header'] as string, utf8('writer'), 1))),
    code: 'root_mismatch',
    seq: () => seqAtLine(whole, eventBeforeCheckpoint(whole)),
  },
  {
    name: 'event header: time moved before the previous event (re-encoded canonically)',
    bundle: () => whole,
    edit: (l) => {
      const i = findLine(l, (r) => isEvent(r) && eventSeq(r) === at['logout'], 'logout event');
      const out = [...l];
      out[i] = reencode(out[i]!, (h) => void (h['time'] = T0));
      return out;
    },
    code: 'time_regressed',
    seq: () => at['logout']!,
  },
  {
    name: 'event header: keyPrev changed (re-encoded canonically)',
    bundle: () => whole,
    edit: (l) => {
      const i = findLine(l, (r) => isEvent(r) && eventSeq(r) === at['pii1'], 'second pii event');
      const out = [...l];
      out[i] = reencode(out[i]!, (h) => void (h['keyPrev'] = (h['keyPrev'] as Uint8Array).map((b, k) => (k === 0 ? b ^ 1 : b))));
      return out;
    },
    code: 'key_chain_broken',
    seq: () => at['pii1']!,
  },
  {
    name: 'event header: replaced by bytes that are not a header',
    bundle: () => whole,
    edit: (l) => editLine(l, findLine(l, (r) => isEvent(r) && eventSeq(r) === 3, 'event 3'), (e) => void (e['header'] = toBase64(encodeCanonical([1, 2, 3])))),
    code: 'header_malformed',
    seq: () => 3,
  },
  {
    name: 'event: a bit flipped in the payload',
    bundle: () => whole,
    edit: (l) => editLine(l, findLine(l, (r) => isEvent(r) && eventSeq(r) === at['a0'], 'a0'), (e) => void (e['payload'] = flipB64(e['payload'] as string, 0))),
    code: 'payload_mismatch',
    seq: () => at['a0']!,
  },
  {
    name: 'event: a bit flipped in the salt',
    bundle: () => whole,
    edit: (l) => editLine(l, findLine(l, (r) => isEvent(r) && eventSeq(r) === at['login0'], 'login0'), (e) => void (e['salt'] = flipB64(e['salt'] as string, 15, 0x40))),
    code: 'payload_mismatch',
    seq: () => at['login0']!,
  },
  {
    name: 'event: payload and salt replaced by the valid pair of another event',
    bundle: () => whole,
    edit: (l) => {
      const src = JSON.parse(l[findLine(l, (r) => isEvent(r) && eventSeq(r) === at['login0'], 'login0')]!) as EventRecord;
      return editLine(l, findLine(l, (r) => isEvent(r) && eventSeq(r) === at['a0'], 'a0'), (e) => {
        e['payload'] = src.payload;
        e['salt'] = src.salt;
      });
    },
    code: 'payload_mismatch',
    seq: () => at['a0']!,
  },
  {
    name: 'event: payload removed with no erase to justify it (digest recomputed)',
    bundle: () => whole,
    edit: (l) =>
      reseal(
        editLine(l, findLine(l, (r) => isEvent(r) && eventSeq(r) === at['logout'], 'logout'), (e) => {
          e['payload'] = null;
          e['salt'] = null;
        }),
      ),
    code: 'payload_missing',
    seq: () => at['logout']!,
  },
  {
    name: 'event: payload removed, digest left as is',
    bundle: () => whole,
    edit: (l) =>
      editLine(l, findLine(l, (r) => isEvent(r) && eventSeq(r) === at['logout'], 'logout'), (e) => {
        e['payload'] = null;
        e['salt'] = null;
      }),
    code: 'digest_mismatch',
  },
  {
    name: 'event: the payload of an erase event removed (digest recomputed)',
    bundle: () => whole,
    edit: (l) =>
      reseal(
        editLine(l, findLine(l, (r) => isEvent(r) && eventSeq(r) === at['erasePii'], 'erase event'), (e) => {
          e['payload'] = null;
          e['salt'] = null;
        }),
      ),
    // without the erase details nothing justifies the pii payloads; the smallest missing seq is reported
    code: 'payload_missing',
    seq: () => at['pii0']!,
  },
  {
    name: 'checkpoint: a bit flipped in the root line of its note',
    bundle: () => whole,
    edit: (l) =>
      editLine(l, findLine(l, (r) => r.t === 'checkpoint', 'checkpoint'), (c) => {
        const lines = (c['note'] as string).split('\n');
        lines[2] = flipB64(lines[2]!, 4);
        c['note'] = lines.join('\n');
      }),
    code: 'bad_signature',
  },
  {
    name: 'checkpoint: a bit flipped in its signature',
    bundle: () => whole,
    edit: (l) =>
      editLine(l, findLine(l, (r) => r.t === 'checkpoint', 'checkpoint'), (c) => {
        const note = c['note'] as string;
        const sigAt = note.lastIndexOf(' ') + 1;
        c['note'] = note.slice(0, sigAt) + flipB64(note.slice(sigAt, -1), 10) + '\n';
      }),
    code: 'bad_signature',
  },
  {
    name: 'checkpoint: a bit flipped in a consistency proof element',
    bundle: () => whole,
    edit: (l) =>
      editLine(l, findLine(l, (r) => r.t === 'checkpoint' && (r as CheckpointRecord).consistency.length > 1, 'checkpoint with a consistency proof'), (c) => {
        const p = c['consistency'] as string[];
        p[p.length - 1] = flipB64(p[p.length - 1]!, 0);
      }),
    code: 'consistency_failed',
  },
  {
    name: 'checkpoint: the first consistency proof after the start checkpoint flipped',
    bundle: () => middle,
    edit: (l) => editLine(l, findLine(l, (r) => r.t === 'checkpoint', 'checkpoint'), (c) => void ((c['consistency'] as string[])[0] = flipB64((c['consistency'] as string[])[0]!, 31))),
    code: 'consistency_failed',
  },
  {
    name: 'checkpoint: replaced by the checkpoint of the same size of another tenant of the node',
    bundle: () => whole,
    edit: (l) => editLine(l, findLine(l, (r) => r.t === 'checkpoint', 'checkpoint'), (c) => void (c['note'] = betaNote(c['size'] as number))),
    code: 'origin_mismatch',
  },
  {
    name: 'checkpoint: replaced by a checkpoint of the same size signed by another node',
    bundle: () => whole,
    edit: (l) => editLine(l, findLine(l, (r) => r.t === 'checkpoint', 'checkpoint'), (c) => void (c['note'] = otherNodeNote(c['size'] as number))),
    code: 'unknown_key',
  },
  {
    name: 'checkpoint: moved one line up, before the event that completes its tree',
    bundle: () => whole,
    edit: (l) => {
      const i = eventBeforeCheckpoint(l, 3);
      const out = [...l];
      [out[i], out[i + 1]] = [out[i + 1]!, out[i]!];
      return out;
    },
    code: 'checkpoint_misplaced',
  },
  {
    name: 'checkpoint: the last one removed (digest recomputed)',
    bundle: () => whole,
    edit: (l) => {
      const t = types(l);
      return reseal(l.filter((_, k) => k !== t.lastIndexOf('checkpoint')));
    },
    code: 'incomplete',
  },
  {
    name: 'end: a bit flipped in the digest',
    bundle: () => whole,
    edit: (l) => editLine(l, l.length - 1, (e) => void (e['digest'] = flipB64(e['digest'] as string, 12))),
    code: 'digest_mismatch',
  },
  { name: 'end: event count off by one', bundle: () => whole, edit: (l) => editLine(l, l.length - 1, (e) => void (e['events'] = (e['events'] as number) + 1)), code: 'count_mismatch' },
  {
    name: 'an event line dropped',
    bundle: () => whole,
    edit: (l) => l.filter((_, k) => k !== eventBeforeEvent(l)),
    code: 'seq_gap',
    seq: () => seqAtLine(whole, eventBeforeEvent(whole)),
  },
  {
    name: 'two adjacent events swapped',
    bundle: () => whole,
    edit: (l) => {
      const i = eventBeforeEvent(l);
      const out = [...l];
      [out[i], out[i + 1]] = [out[i + 1]!, out[i]!];
      return out;
    },
    code: 'seq_gap',
    seq: () => seqAtLine(whole, eventBeforeEvent(whole)),
  },
  { name: 'truncated: the end line dropped', bundle: () => whole, edit: (l) => l.slice(0, -1), code: 'truncated' },
  { name: 'truncated: every line after an event dropped', bundle: () => whole, edit: (l) => l.slice(0, eventBeforeEvent(l) + 1), code: 'truncated' },
  { name: 'truncated: only the manifest left', bundle: () => whole, edit: (l) => l.slice(0, 1), code: 'truncated' },
  {
    name: 'the bundle relabelled as another tenant (digest recomputed)',
    bundle: () => whole,
    edit: (l) => reseal(editLine(l, 0, (m) => void (m['tenant'] = 'beta'))),
    code: 'wrong_journal',
    seq: () => 0,
  },
  {
    name: 'the manifest claims another origin and node (digest recomputed)',
    bundle: () => whole,
    edit: (l) =>
      reseal(
        editLine(l, 0, (m) => {
          m['origin'] = 'node-evil/acme';
          m['node'] = 'node-evil';
        }),
      ),
    code: 'origin_mismatch',
  },
  { name: 'trusted keys that do not include the signer', bundle: () => whole, edit: (l) => l, code: 'unknown_key', trusted: () => otherKeys },
  { name: 'trusted keys that do not include the signer (start checkpoint)', bundle: () => middle, edit: (l) => l, code: 'unknown_key', trusted: () => otherKeys },
];

describe('auditBundle: tampered bundles', () => {
  it.each(tampers.map((t) => [t.name, t] as const))('%s', async (_name, t) => {
    const edited = t.edit(t.bundle());
    // every edit keeps each line valid JSON
    for (const line of edited) expect(() => JSON.parse(line)).not.toThrow();
    if (!t.trusted) expect(edited).not.toEqual(t.bundle());
    const r = await auditBoth(edited, t.trusted?.() ?? keys);
    expect(r.ok, JSON.stringify(r)).toBe(false);
    if (r.ok) return;
    expect({ code: r.code, ...(t.seq ? { seq: r.seq } : {}) }).toEqual({ code: t.code, ...(t.seq ? { seq: t.seq() } : {}) });
    expect(r.line).toBeGreaterThanOrEqual(1);
    expect(r.line).toBeLessThanOrEqual(edited.length + 1);
  });

  it('the unedited bundles pass with the same trusted keys (the table edits are what fails)', async () => {
    for (const b of [whole, middle, tailed]) expect((await auditBoth(b, keys)).ok).toBe(true);
  });
});

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** The same bytes spelled with non-zero trailing bits: `atob` accepts it, a strict decoder must not. */
const nonCanonical = (b64: string): string => {
  const i = b64.indexOf('=') - 1;
  return b64.slice(0, i) + B64[B64.indexOf(b64[i]!) | 1] + b64.slice(i + 1);
};

describe('auditBundle: malformed input', () => {
  const malformed: [string, () => string[]][] = [
    ['empty input', () => []],
    ['a line that is not JSON', () => ['not json', ...whole.slice(1)]],
    ['a JSON array line', () => ['[1,2,3]', ...whole.slice(1)]],
    ['a JSON string line', () => [whole[0]!, '"start"', ...whole.slice(2)]],
    ['an unknown record type', () => editLine(whole, 2, (r) => void (r['t'] = 'bogus'))],
    ['a missing field', () => editLine(whole, 2, (r) => void delete r['salt'])],
    ['an extra field', () => editLine(whole, 2, (r) => void (r['extra'] = 1))],
    ['a field of the wrong type', () => editLine(whole, 2, (r) => void (r['payload'] = 42))],
    ['non-canonical base64 (non-zero trailing bits)', () => editLine(whole, lineOfSeq(whole, at['login0']!), (r) => void (r['salt'] = nonCanonical(r['salt'] as string)))],
    ['an unknown format version in the manifest', () => editLine(whole, 0, (m) => void (m['format'] = 'tally-bundle/v2'))],
    ['records after the end record', () => [...whole, whole[2]!]],
    ['a second end record', () => [...whole, whole[whole.length - 1]!]],
    ['no manifest first', () => whole.slice(1)],
    ['a second manifest', () => [whole[0]!, whole[0]!, ...whole.slice(1)]],
    ['the start record missing', () => [whole[0]!, ...whole.slice(2)]],
    ['a middle bundle without its start checkpoint', () => editLine(middle, 1, (s) => void (s['checkpoint'] = null))],
    ['start size differs from the manifest', () => editLine(middle, 1, (s) => void (s['size'] = (s['size'] as number) + 1))],
  ];
  it.each(malformed)('%s → malformed', async (_name, make) => {
    const r = await auditBoth(make(), keys);
    expect(r).toMatchObject({ ok: false, code: 'malformed' });
  });

  it('reports the line where it found the problem', async () => {
    expect(await auditBoth(['not json'], keys)).toMatchObject({ code: 'malformed', line: 1 });
    expect(await auditBoth([...whole, whole[2]!], keys)).toMatchObject({ code: 'malformed', line: whole.length + 1 });
  });

  it('accepts CRLF line endings', async () => {
    expect((await auditBoth(whole.map((l) => l + '\r'), keys)).ok).toBe(true);
  });
});

describe('auditBundle: random mutations', () => {
  const mutate = (lines: string[], m: { line: number; pos: number; ch: number }): string[] | undefined => {
    const text = lines[m.line]!;
    const pos = m.pos % text.length;
    const c = String.fromCharCode(m.ch);
    if (text[pos] === c) return undefined;
    const next = text.slice(0, pos) + c + text.slice(pos + 1);
    try {
      JSON.parse(next);
    } catch {
      return undefined;
    }
    const out = [...lines];
    out[m.line] = next;
    return out;
  };

  it('never accepts a bundle with one character changed, and never throws', async () => {
    const bundles = [whole, middle, tailed];
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 2 }), fc.nat(), fc.nat(), fc.integer({ min: 0x20, max: 0x7e }), fc.boolean(), async (b, line, pos, ch, pure) => {
        const lines = bundles[b]!;
        const edited = mutate(lines, { line: line % lines.length, pos, ch });
        fc.pre(edited !== undefined);
        const r = pure ? await auditBundle(edited!, keys) : await auditFast(toAsync(edited!), keys);
        expect(r.ok).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('never accepts an edit of a signed-over line even when the digest is recomputed', async () => {
    // Everything but the manifest (informational fields) and the end record is covered by hashes and signatures.
    const bundles = [whole, middle, tailed];
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 2 }), fc.nat(), fc.nat(), fc.integer({ min: 0x20, max: 0x7e }), async (b, line, pos, ch) => {
        const lines = bundles[b]!;
        const i = 1 + (line % (lines.length - 2));
        const edited = mutate(lines, { line: i, pos, ch });
        fc.pre(edited !== undefined);
        const r = await auditFast(toAsync(reseal(edited!)), keys);
        expect(r.ok, `line ${i}: ${edited![i]}`).toBe(false);
      }),
      { numRuns: 150 },
    );
  });
});
