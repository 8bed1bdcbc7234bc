/**
 * Tampering with the LMDB contents directly, the way someone with write
 * access to the data directory (or a bad disk) would: event header bytes,
 * payload bytes, tree nodes, stored checkpoints, the heads and tenant
 * registry, the key index, projection records, and dropping or reordering
 * entries. Each case alters ONE thing in a copy of a journal with a
 * realistic history, reopens it with `Tally.open`, and asserts that
 * `verify()` names the alteration with a specific code; for journal-level
 * alterations also what an exported bundle's audit says; for projection
 * alterations that `verify()` still passes (the journal is intact) while
 * `verify({ projection: true })` reports `projection_mismatch`.
 *
 * The raw environment is opened with lmdb-js directly, with the database
 * names and value encodings of src/journal/storage.ts and
 * src/store/projection.ts, so what is altered is the real stored bytes.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { open, type Database, type RootDatabase } from 'lmdb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditBundle } from '../../src/core/audit-bundle.js';
import { fromBase64, toBase64 } from '../../src/core/bytes.js';
import { encodeCanonical } from '../../src/core/codec.js';
import { TallyError } from '../../src/core/errors.js';
import { decodeStoredHeader, encodeHeader, type EventHeader } from '../../src/core/event.js';
import { nobleHashing } from '../../src/core/hash.js';
import { IncrementalTree } from '../../src/core/merkle.js';
import { parseVerifierKey } from '../../src/core/note.js';
import { exportBundle } from '../../src/evidence/export.js';
import { auditFast } from '../../src/evidence/node-audit.js';
import { decodeState, encodeState, Projection } from '../../src/store/projection.js';
import { Tally } from '../../src/store/tally.js';
import { splitCounts, verifyJournal } from '../../src/journal/verify-journal.js';

// ---- the raw environment ------------------------------------------------------

type SeqKey = [number, number];

/** The named databases, opened as storage.ts and projection.ts open them (checkpoints as raw bytes). */
interface Raw {
  root: RootDatabase;
  tenants: Database<{ id: number; name: string; created: number; plan: string }, string>;
  heads: Database<{ size: number; head: Uint8Array; time: number }, number>;
  events: Database<Uint8Array, SeqKey>;
  payloads: Database<Uint8Array, SeqKey>;
  nodes: Database<Uint8Array, [number, number, number]>;
  /** 'string' in storage.ts; opened as bytes here so a flip alters the stored UTF-8 itself. */
  checkpoints: Database<Uint8Array, SeqKey>;
  keyIndex: Database<Uint8Array, [number, string, string, number]>;
  blocks: Database<Uint8Array, [number, string]>;
  versions: Database<Uint8Array, [number, string, number]>;
  valid: Database<Uint8Array, [number, string, number, number, number]>;
  counts: Database<Uint8Array, number>;
}

function openRaw(dir: string): Raw {
  const root = open({ path: join(dir, 'journal'), maxDbs: 32 });
  const db = <V, K extends import('lmdb').Key>(name: string, encoding: 'binary' | 'msgpack') => root.openDB<V, K>({ name, encoding });
  return {
    root,
    tenants: db('tenants', 'msgpack'),
    heads: db('heads', 'msgpack'),
    events: db('events', 'binary'),
    payloads: db('payloads', 'binary'),
    nodes: db('nodes', 'binary'),
    checkpoints: db('checkpoints', 'binary'),
    keyIndex: db('key-index', 'binary'),
    blocks: db('blocks', 'binary'),
    versions: db('versions', 'binary'),
    valid: db('valid-chain', 'binary'),
    counts: db('block-counts', 'binary'),
  };
}

/** Every [key, value] of a tenant's range in one database, in key order. */
function entries<V, K extends import('lmdb').Key>(d: Database<V, K>, tid: number): { key: K; value: V }[] {
  return [...d.getRange({ start: [tid] as unknown as K, end: [tid + 1] as unknown as K })].map(({ key, value }) => ({ key: key as K, value: copy(value) }));
}

/** lmdb-js hands out Buffers over reused memory; keep plain copies. */
function copy<V>(v: V): V {
  return (v instanceof Uint8Array ? new Uint8Array(v) : v) as V;
}

const flipped = (bytes: Uint8Array, at: number, mask = 1): Uint8Array => {
  const out = new Uint8Array(bytes);
  out[at]! ^= mask;
  return out;
};

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

// ---- the journal under attack -------------------------------------------------

const NODE = 'tamper.node';
const T0 = Date.UTC(2026, 0, 1);

/**
 * Three tenants with sets, updates, deletes, logs, batches, concurrent
 * bursts (shared checkpoints), redaction, a backdated correction and an
 * erasure followed by further writes.
 */
async function buildHistory(dir: string): Promise<void> {
  let tick = 0;
  const db = await Tally.open(dir, { name: NODE, now: () => T0 + 1000 * tick++ });
  const acme = db.tenant('acme');
  await acme.set('user:alice', { name: 'Alice', role: 'admin' });
  await acme.set('user:bob', { name: 'Bob' }, { v: 2 });
  await acme.log('user.login', { who: 'alice', ip: '10.0.0.1' });
  await acme.batch([
    { op: 'set', key: 'order:1', data: { total: 10 } },
    { op: 'set', key: 'order:2', data: { total: 20, lines: [1, 2, 3] } },
    { op: 'log', kind: 'order.created', details: { n: 2 } },
  ]);
  await acme.set('user:carol', { name: 'Carol', email: 'carol@example.com' });
  await acme.set('user:alice', { name: 'Alice', role: 'owner' });
  await acme.delete('user:bob');
  await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? acme.log('burst', { i }) : acme.set(`burst:${i}`, { i }))));
  await acme.set('user:carol', { name: 'Carol', email: 'carol@new.example.com' });
  await acme.redact('order:2');
  await acme.set('price:x', { eur: 5 }, { validFrom: T0 - 86_400_000 });
  await acme.unredact('order:2');
  await acme.erase('user:carol', { reason: 'GDPR art. 17 request' });
  await acme.set('user:carol', { name: 'Carol (re-registered)' });
  await acme.batch([
    { op: 'delete', key: 'order:1' },
    { op: 'set', key: 'order:3', data: { total: 30 } },
  ]);
  await acme.log('user.logout', { who: 'alice' });

  const globex = db.tenant('globex');
  for (let i = 0; i < 6; i++) await globex.set(`doc:${i % 3}`, { rev: i });
  await globex.log('sync', { ok: true });
  await globex.delete('doc:1');

  const initech = db.tenant('initech');
  await initech.set('tmp', { x: 1 });
  await initech.delete('tmp'); // a tenant whose only block is gone: count 0
  await db.close();
}

/** What the cases need to know about the fixture, read from the raw environment. */
interface Facts {
  tid: Record<string, number>;
  /** acme's headers, by seq. */
  headers: EventHeader[];
  /** acme's checkpoint sizes, ascending. */
  checkpointSizes: number[];
  globexCheckpointSizes: number[];
  /** seq of acme's erase event, and of the sets it erased. */
  eraseSeq: number;
  erased: number[];
}

async function readFacts(dir: string): Promise<Facts> {
  const raw = openRaw(dir);
  try {
    const tid = Object.fromEntries(['acme', 'globex', 'initech'].map((n) => [n, raw.tenants.get(n)!.id]));
    const headers = entries(raw.events, tid['acme']!).map((e) => decodeStoredHeader(e.value));
    const sizes = (t: number) => entries(raw.checkpoints, t).map((e) => e.key[1]);
    const eraseSeq = headers.find((h) => h.op === 'erase')!.seq;
    const erased = headers.filter((h) => h.op === 'set' && h.key === 'user:carol' && h.seq < eraseSeq).map((h) => h.seq);
    return { tid, headers, checkpointSizes: sizes(tid['acme']!), globexCheckpointSizes: sizes(tid['globex']!), eraseSeq, erased };
  } finally {
    await raw.root.close();
  }
}

let scratch: string;
let base: string;
let fx: Facts;
/** The untampered full export of acme, for "the bundle is the genuine one" outcomes. */
let pristine: string[];
let caseNo = 0;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'tally-tamper-'));
  base = join(scratch, 'base');
  await buildHistory(base);
  fx = await readFacts(base);
  const db = await Tally.open(base);
  pristine = await exportLines(db, 'acme');
  await db.close();
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A fresh copy of the fixture's data directory, altered by `alter` through the raw environment. */
async function tampered(alter: (raw: Raw) => void): Promise<string> {
  const dir = join(scratch, `case-${caseNo++}`);
  cpSync(base, dir, { recursive: true });
  const raw = openRaw(dir);
  try {
    raw.root.transactionSync(() => alter(raw));
  } finally {
    await raw.root.close();
  }
  return dir;
}

async function exportLines(db: Tally, tenant: string): Promise<string[]> {
  const out: string[] = [];
  for await (const chunk of exportBundle(db, tenant, { now: () => T0 })) out.push(chunk.slice(0, -1));
  return out;
}

/** What an export of the tampered journal, audited offline, comes to. */
type AuditOutcome =
  /** The auditor rejects the bundle with this code. */
  | { audit: string }
  /** The exporter refuses with a TallyError of this code. */
  | { refuses: string }
  /**
   * The bundle is exactly the untampered one: the export does not read the
   * altered record, and the auditor rightly accepts genuine evidence.
   */
  | 'genuine'
  /** As 'genuine', but shorter: the export ends at an earlier (genuine) checkpoint. */
  | 'genuine-prefix';

async function auditOfExport(dir: string): Promise<AuditOutcome | { accepted: string[] }> {
  const tenant = 'acme';
  const db = await Tally.open(dir);
  try {
    let lines: string[];
    try {
      lines = await exportLines(db, tenant);
    } catch (err) {
      // A refusal must be a TallyError with a code, never a raw crash from deep inside.
      expect(err, `export threw ${String(err)}`).toBeInstanceOf(TallyError);
      return { refuses: (err as TallyError).code };
    }
    const keys = db.verifierKeys().map((k) => parseVerifierKey(k));
    const fast = await auditFast(toAsync(lines), keys);
    const pure = await auditBundle(lines, keys);
    expect(fast).toEqual(pure);
    if (!fast.ok) return { audit: fast.code };
    if (lines.join('\n') === pristine.join('\n')) return 'genuine';
    // Same start and the same records line for line, up to the shorter end (the manifest's `to` differs).
    const body = (l: string[]) => l.slice(1, -1);
    if (lines.length < pristine.length && body(lines).every((l, i) => l === body(pristine)[i])) return 'genuine-prefix';
    // Accepted but not the genuine evidence: what every case must rule out.
    return { accepted: lines };
  } finally {
    await db.close();
  }
}

async function* toAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  for (const item of items) yield item;
}

async function verdicts(dir: string, tenant = 'acme') {
  const db = await Tally.open(dir);
  try {
    const t = db.tenant(tenant);
    return { plain: await t.verify(), projection: await t.verify({ projection: true }) };
  } finally {
    await db.close();
  }
}

// ---- journal-level alterations ------------------------------------------------

const enc = new TextEncoder();

interface JournalCase {
  name: string;
  alter: (raw: Raw) => void;
  /** The code `verify()` must report. */
  code: string;
  /** What the audit of an export says. */
  audit: AuditOutcome;
  /** The alteration touches another tenant's records too. */
  touchesOthers?: true;
}

/** The seq of acme's first event that matches, for picking targets by meaning rather than by number. */
const seqOf = (pred: (h: EventHeader) => boolean): number => {
  const h = fx.headers.find(pred);
  if (!h) throw new Error('the fixture has no such event');
  return h.seq;
};
const A = () => fx.tid['acme']!;
const last = () => fx.headers.length - 1;
const mid = () => seqOf((h) => h.op === 'set' && h.key === 'order:2');
/** Re-encodes acme's header `seq` canonically after `edit`: a forged header, not a garbled one. */
const forge = (raw: Raw, seq: number, edit: (h: { -readonly [K in keyof EventHeader]: EventHeader[K] }) => void) => {
  const h = { ...decodeStoredHeader(raw.events.get([A(), seq])!) };
  edit(h);
  raw.events.putSync([A(), seq], encodeHeader(h));
};
const rawCheckpoint = (raw: Raw, tid: number, size: number) => copy(raw.checkpoints.get([tid, size])!);

const JOURNAL_CASES: JournalCase[] = [
  // -- event headers
  {
    name: 'flip a bit inside the actor text of a header (still canonical CBOR)',
    alter: (raw) => {
      const bytes = copy(raw.events.get([A(), mid()])!);
      raw.events.putSync([A(), mid()], flipped(bytes, indexOf(bytes, enc.encode('admin')) + 1));
    },
    code: 'hash_mismatch',
    audit: { audit: 'chain_broken' },
  },
  {
    name: 'flip a bit inside the actor text of the last header',
    alter: (raw) => {
      const bytes = copy(raw.events.get([A(), last()])!);
      raw.events.putSync([A(), last()], flipped(bytes, indexOf(bytes, enc.encode('admin')) + 1));
    },
    code: 'hash_mismatch',
    audit: { audit: 'root_mismatch' },
  },
  {
    name: 'flip the first byte of a header (the CBOR map head)',
    alter: (raw) => raw.events.putSync([A(), mid()], flipped(copy(raw.events.get([A(), mid()])!), 0)),
    code: 'header_malformed',
    audit: { refuses: 'internal_error' },
  },
  {
    name: 'rename the journal inside a header ("acme" → "acmd")',
    alter: (raw) => {
      const bytes = copy(raw.events.get([A(), mid()])!);
      raw.events.putSync([A(), mid()], flipped(bytes, indexOf(bytes, enc.encode('acme')) + 3));
    },
    code: 'wrong_journal',
    audit: { audit: 'wrong_journal' },
  },
  {
    name: 'forge a header with an earlier time',
    alter: (raw) => forge(raw, mid(), (h) => void (h.time -= 60_000)),
    code: 'time_regressed',
    audit: { audit: 'time_regressed' },
  },
  {
    name: 'forge a header whose prev names another event',
    alter: (raw) => forge(raw, mid(), (h) => void (h.prev = new Uint8Array(raw.keyIndex.get([A(), 'b', 'user:alice', 0])!))),
    code: 'chain_broken',
    audit: { audit: 'chain_broken' },
  },
  {
    name: 'forge a header whose keyPrev is dropped',
    alter: (raw) => forge(raw, seqOf((h) => h.keyPrev !== null && h.op === 'set'), (h) => void (h.keyPrev = null)),
    code: 'key_chain_broken',
    audit: { audit: 'key_chain_broken' },
  },
  {
    name: 'forge a header with a higher visibility level',
    alter: (raw) => forge(raw, mid(), (h) => void (h.v += 1)),
    code: 'hash_mismatch',
    audit: { audit: 'chain_broken' },
  },
  // -- payloads
  {
    name: 'flip a byte of a payload',
    alter: (raw) => {
      const bytes = copy(raw.payloads.get([A(), mid()])!);
      raw.payloads.putSync([A(), mid()], flipped(bytes, bytes.length - 1));
    },
    code: 'payload_mismatch',
    audit: { audit: 'payload_mismatch' },
  },
  {
    name: 'flip a byte of a salt',
    alter: (raw) => raw.payloads.putSync([A(), mid()], flipped(copy(raw.payloads.get([A(), mid()])!), 0)),
    code: 'payload_mismatch',
    audit: { audit: 'payload_mismatch' },
  },
  {
    name: "swap two events' payloads",
    alter: (raw) => {
      const a = seqOf((h) => h.key === 'order:1');
      const b = seqOf((h) => h.key === 'order:3');
      const pa = copy(raw.payloads.get([A(), a])!);
      raw.payloads.putSync([A(), a], copy(raw.payloads.get([A(), b])!));
      raw.payloads.putSync([A(), b], pa);
    },
    code: 'payload_mismatch',
    audit: { audit: 'payload_mismatch' },
  },
  {
    name: 'delete a payload no erasure accounts for',
    alter: (raw) => void raw.payloads.removeSync([A(), mid()]),
    code: 'payload_missing',
    audit: { audit: 'payload_missing' },
  },
  {
    name: "delete the erase event's payload (the list of what it erased)",
    alter: (raw) => void raw.payloads.removeSync([A(), fx.eraseSeq]),
    code: 'payload_missing',
    audit: { audit: 'payload_missing' },
  },
  {
    name: 'add a payload to an event that commits to none (a delete)',
    alter: (raw) => raw.payloads.putSync([A(), seqOf((h) => h.op === 'delete')], copy(raw.payloads.get([A(), mid()])!)),
    code: 'payload_mismatch',
    audit: { audit: 'malformed' },
  },
  {
    name: 'add a payload past the last event',
    alter: (raw) => raw.payloads.putSync([A(), last() + 1], copy(raw.payloads.get([A(), mid()])!)),
    code: 'payload_mismatch',
    audit: 'genuine',
  },
  // -- dropping and reordering events
  {
    name: 'delete an event in the middle',
    alter: (raw) => void raw.events.removeSync([A(), mid()]),
    code: 'seq_gap',
    audit: { audit: 'seq_gap' },
  },
  {
    name: 'delete the first event',
    alter: (raw) => void raw.events.removeSync([A(), 0]),
    code: 'seq_gap',
    audit: { audit: 'seq_gap' },
  },
  {
    name: "swap two events' header bytes (reorder)",
    alter: (raw) => {
      const [a, b] = [mid(), mid() + 3];
      const ha = copy(raw.events.get([A(), a])!);
      raw.events.putSync([A(), a], copy(raw.events.get([A(), b])!));
      raw.events.putSync([A(), b], ha);
    },
    code: 'seq_gap',
    // The exporter files checkpoints by the seq a header claims, so it misses them from the swap on.
    audit: { audit: 'incomplete' },
  },
  {
    name: 'delete the last event (truncate; head and checkpoint remain)',
    alter: (raw) => void raw.events.removeSync([A(), last()]),
    code: 'head_mismatch',
    audit: { audit: 'incomplete' },
  },
  {
    name: 'truncate the last event with its payload, key index entry and tree leaf (head and checkpoint remain)',
    alter: (raw) => {
      const h = fx.headers[last()]!;
      raw.events.removeSync([A(), h.seq]);
      raw.payloads.removeSync([A(), h.seq]);
      raw.keyIndex.removeSync([A(), h.op === 'log' ? 'k' : 'b', h.key, h.seq]);
      raw.nodes.removeSync([A(), 0, h.seq]);
    },
    code: 'head_mismatch',
    audit: { audit: 'incomplete' },
  },
  // -- the Merkle tree
  {
    name: 'change a leaf node',
    alter: (raw) => raw.nodes.putSync([A(), 0, mid()], flipped(copy(raw.nodes.get([A(), 0, mid()])!), 7)),
    code: 'node_mismatch',
    audit: 'genuine',
  },
  {
    name: 'change an inner node that the export reads for a consistency proof',
    alter: (raw) => raw.nodes.putSync([A(), 2, 0], flipped(copy(raw.nodes.get([A(), 2, 0])!), 31)),
    code: 'node_mismatch',
    audit: { audit: 'consistency_failed' },
  },
  {
    name: 'change an inner node that no proof of the export needs',
    alter: (raw) => raw.nodes.putSync([A(), 2, 1], flipped(copy(raw.nodes.get([A(), 2, 1])!), 31)),
    code: 'node_mismatch',
    audit: 'genuine',
  },
  {
    name: 'delete a tree node',
    alter: (raw) => void raw.nodes.removeSync([A(), 1, 2]),
    code: 'node_mismatch',
    audit: { refuses: 'internal_error' },
  },
  {
    name: 'add a phantom tree node beyond the tree',
    alter: (raw) => raw.nodes.putSync([A(), 0, last() + 1], copy(raw.nodes.get([A(), 0, 0])!)),
    code: 'node_mismatch',
    audit: 'genuine',
  },
  // -- the key index
  {
    name: 'change a key index entry',
    alter: (raw) => raw.keyIndex.putSync([A(), 'b', 'order:2', mid()], flipped(copy(raw.keyIndex.get([A(), 'b', 'order:2', mid()])!), 3)),
    code: 'index_mismatch',
    audit: 'genuine',
  },
  {
    name: 'delete a key index entry',
    alter: (raw) => void raw.keyIndex.removeSync([A(), 'b', 'order:2', mid()]),
    code: 'index_mismatch',
    audit: 'genuine',
  },
  {
    name: 'add a phantom key index entry',
    alter: (raw) => raw.keyIndex.putSync([A(), 'b', 'user:mallory', 3], copy(raw.keyIndex.get([A(), 'b', 'user:alice', 0])!)),
    code: 'index_mismatch',
    audit: 'genuine',
  },
  // -- stored checkpoints
  {
    name: "flip a bit of a stored checkpoint's signature",
    alter: (raw) => {
      const size = fx.checkpointSizes[2]!;
      const note = new TextDecoder().decode(rawCheckpoint(raw, A(), size));
      // The signature line is `— <name> base64(keyID ‖ sig)`: flip a bit of the signature, keep the base64 canonical.
      const sigLine = note.split('\n').at(-2)!;
      const b64 = sigLine.split(' ').at(-1)!;
      const altered = note.replace(b64, toBase64(flipped(fromBase64(b64), 20)));
      raw.checkpoints.putSync([A(), size], enc.encode(altered));
    },
    code: 'checkpoint_signature',
    audit: { audit: 'bad_signature' },
  },
  {
    name: "alter a stored checkpoint's body (its root)",
    alter: (raw) => {
      const size = fx.checkpointSizes[2]!;
      const note = rawCheckpoint(raw, A(), size);
      const rootLine = new TextDecoder().decode(note).split('\n')[2]!;
      raw.checkpoints.putSync([A(), size], flipped(note, indexOf(note, enc.encode(rootLine)) + 4, 1));
    },
    code: 'checkpoint_signature',
    audit: { audit: 'bad_signature' },
  },
  {
    name: 'garble a stored checkpoint so it no longer parses as a signed note',
    alter: (raw) => {
      const size = fx.checkpointSizes[2]!;
      const note = rawCheckpoint(raw, A(), size);
      raw.checkpoints.putSync([A(), size], flipped(note, indexOf(note, enc.encode('\n\n')), 0x20));
    },
    code: 'checkpoint_malformed',
    audit: { audit: 'malformed' },
  },
  {
    name: "replace a checkpoint with another tenant's (validly signed) checkpoint of the same size",
    alter: (raw) => {
      const size = fx.checkpointSizes.find((s) => fx.globexCheckpointSizes.includes(s))!;
      raw.checkpoints.putSync([A(), size], rawCheckpoint(raw, fx.tid['globex']!, size));
    },
    code: 'origin_mismatch',
    audit: { audit: 'origin_mismatch' },
  },
  {
    name: "store one of the tenant's own checkpoints under another size",
    alter: (raw) => raw.checkpoints.putSync([A(), fx.checkpointSizes[3]!], rawCheckpoint(raw, A(), fx.checkpointSizes[2]!)),
    code: 'checkpoint_malformed',
    audit: { audit: 'checkpoint_misplaced' },
  },
  {
    name: 'delete the latest checkpoint (the last events left unsigned)',
    alter: (raw) => void raw.checkpoints.removeSync([A(), fx.checkpointSizes.at(-1)!]),
    code: 'checkpoint_missing',
    // The exporter stops at the latest checkpoint left: a shorter bundle of genuine, signed evidence.
    audit: 'genuine-prefix',
  },
  {
    name: 'append a forged event, correctly chained, indexed, in the tree and in the head (but unsigned)',
    alter: (raw) => {
      const n = last() + 1;
      const head = raw.heads.get(A())!;
      const time = head.time + 1000;
      const prev = copy(new Uint8Array(head.head));
      const header: EventHeader = { fmt: 1, journal: 'acme', seq: n, time, op: 'log', key: 'forged', prev, keyPrev: null, payload: null, v: 0, validFrom: time, actor: 'mallory' };
      const bytes = encodeHeader(header);
      const hash = nobleHashing.eventHash(bytes);
      raw.events.putSync([A(), n], bytes);
      raw.keyIndex.putSync([A(), 'k', 'forged', n], hash);
      const tree = new IncrementalTree(nobleHashing.tree);
      for (let i = 0; i < n; i++) tree.push(copy(raw.nodes.get([A(), 0, i])!));
      for (const node of tree.push(nobleHashing.tree.leaf(hash))) raw.nodes.putSync([A(), node.level, node.index], node.hash);
      raw.heads.putSync(A(), { size: n + 1, head: hash, time });
    },
    code: 'checkpoint_missing',
    audit: 'genuine',
  },
  {
    name: 'add a checkpoint beyond the last event',
    alter: (raw) => raw.checkpoints.putSync([A(), last() + 5], rawCheckpoint(raw, A(), fx.checkpointSizes.at(-1)!)),
    code: 'checkpoint_malformed',
    audit: { audit: 'incomplete' },
  },
  // -- heads and the tenant registry
  {
    name: 'alter the heads record: size + 1',
    alter: (raw) => void raw.heads.putSync(A(), { ...raw.heads.get(A())!, size: last() + 2 }),
    code: 'head_mismatch',
    audit: 'genuine',
  },
  {
    name: 'alter the heads record: size − 1',
    alter: (raw) => void raw.heads.putSync(A(), { ...raw.heads.get(A())!, size: last() }),
    code: 'head_mismatch',
    audit: { refuses: 'bad_request' },
  },
  {
    name: 'alter the heads record: head hash',
    alter: (raw) => {
      const head = raw.heads.get(A())!;
      raw.heads.putSync(A(), { ...head, head: flipped(copy(new Uint8Array(head.head)), 0) });
    },
    code: 'head_mismatch',
    audit: 'genuine',
  },
  {
    name: 'alter the heads record: time',
    alter: (raw) => void raw.heads.putSync(A(), { ...raw.heads.get(A())!, time: T0 }),
    code: 'head_mismatch',
    audit: 'genuine',
  },
  {
    name: 'delete the heads record',
    alter: (raw) => void raw.heads.removeSync(A()),
    code: 'head_mismatch',
    audit: { refuses: 'bad_request' },
  },
  {
    name: "swap two tenants' ids in the registry",
    alter: (raw) => {
      const a = raw.tenants.get('acme')!;
      const g = raw.tenants.get('globex')!;
      raw.tenants.putSync('acme', { ...a, id: g.id });
      raw.tenants.putSync('globex', { ...g, id: a.id });
    },
    code: 'wrong_journal',
    audit: { audit: 'wrong_journal' },
    touchesOthers: true,
  },
];

describe('verify() after an alteration of the journal databases', () => {
  it('passes on the untampered copy, for every tenant, with and without the projection', async () => {
    const dir = await tampered(() => {});
    for (const t of ['acme', 'globex', 'initech']) {
      const v = await verdicts(dir, t);
      expect(v.plain, t).toMatchObject({ ok: true });
      expect(v.projection, t).toMatchObject({ ok: true });
    }
    expect(await auditOfExport(dir)).toBe('genuine');
    // The fixture has what the cases aim at.
    expect(fx.erased.length).toBeGreaterThan(1);
    expect(fx.checkpointSizes.length).toBeLessThan(fx.headers.length); // shared checkpoints
    expect(fx.checkpointSizes.some((s) => fx.globexCheckpointSizes.includes(s))).toBe(true);
  });

  for (const c of JOURNAL_CASES) {
    it(`${c.name} → ${c.code}`, async () => {
      const dir = await tampered(c.alter);
      const v = await verdicts(dir);
      expect(v.plain, v.plain.ok ? 'verify() passed' : v.plain.message).toMatchObject({ ok: false, code: c.code });
      expect(v.projection).toMatchObject({ ok: false, code: c.code });
      const outcome = await auditOfExport(dir);
      expect(outcome).toEqual(c.audit);
      // The other tenants are untouched by an alteration of acme's records.
      if (!c.touchesOthers) expect((await verdicts(dir, 'globex')).plain).toMatchObject({ ok: true });
    });
  }
});

/**
 * `tenant`'s verdict from one scan on the calling thread, and from scans
 * split between it and the worker at each of `points(size)` (size: the
 * stored head's; splits outside 1..size−1 do not happen).
 */
async function splitVerdicts(dir: string, tenant: string, points: (size: number) => number[]) {
  const db = await Tally.open(dir);
  try {
    const single = await verifyJournal(db.journal, tenant, { splitFrom: Infinity });
    const size = db.journal.size(db.journal.tenant(tenant)!.id);
    const split: { at: number; verdict: Awaited<ReturnType<typeof verifyJournal>> }[] = [];
    for (const at of points(size)) split.push({ at, verdict: await verifyJournal(db.journal, tenant, { splitFrom: 0, splitAt: at }) });
    return { single, split };
  } finally {
    await db.close();
  }
}

describe('verify() split between two threads answers as one scan from the start', () => {
  it("passes the untampered copy split at every seq, each time on the worker's answer", async () => {
    const dir = await tampered(() => {});
    for (const t of ['acme', 'globex', 'initech']) {
      const before = { ...splitCounts };
      const { single, split } = await splitVerdicts(dir, t, (size) => Array.from({ length: size - 1 }, (_, i) => i + 1));
      expect(single, t).toMatchObject({ ok: true });
      for (const { at, verdict } of split) expect(verdict, `${t} split at ${at}`).toEqual(single);
      // Every split ran on the worker and was confirmed: acme's include an erase of payloads before the split.
      expect(splitCounts.confirmed - before.confirmed, t).toBe(split.length);
      expect(splitCounts.redone - before.redone, t).toBe(0);
    }
    expect(fx.erased.some((s) => s < fx.eraseSeq - 1)).toBe(true);
  });

  it('gives the verdict of one scan when a record is inserted between two seqs, on either side of the split', async () => {
    const mid = Math.floor(fx.headers.length / 2);
    const withPayload = fx.headers.find((h) => h.payload !== null && !fx.erased.includes(h.seq))!.seq;
    for (const key of [mid - 0.5, mid + 0.5]) {
      const inserts: [string, (raw: Raw) => void][] = [
        ['event', (raw) => raw.events.putSync([A(), key], copy(raw.events.get([A(), mid])!))],
        ['payload', (raw) => raw.payloads.putSync([A(), key], copy(raw.payloads.get([A(), withPayload])!))],
        ['checkpoint', (raw) => raw.checkpoints.putSync([A(), key], copy(raw.checkpoints.get([A(), fx.checkpointSizes[0]!])!))],
      ];
      for (const [what, alter] of inserts) {
        const dir = await tampered(alter);
        const { single, split } = await splitVerdicts(dir, 'acme', () => [mid - 1, mid, mid + 1]);
        expect(single, `${what} at ${key}`).toMatchObject({ ok: false });
        for (const { at, verdict } of split) expect(verdict, `${what} at ${key}, split at ${at}`).toEqual(single);
      }
    }
  });

  it('gives the verdict of one scan, without throwing, for a head record of another shape', async () => {
    const shapes: [string, (h: { size: number; head: Uint8Array; time: number }) => unknown][] = [
      ['head hash null', (h) => ({ ...h, head: null })],
      ['head hash missing', (h) => ({ size: h.size, time: h.time })],
      ['size as a bigint', (h) => ({ ...h, size: BigInt(h.size) })],
      ['size as a string', (h) => ({ ...h, size: String(h.size) })],
    ];
    for (const [what, reshape] of shapes) {
      const dir = await tampered((raw) => void raw.heads.putSync(A(), reshape(raw.heads.get(A())!) as never));
      const { single, split } = await splitVerdicts(dir, 'acme', () => [1, Math.floor(fx.headers.length / 2)]);
      expect(single, what).toMatchObject({ ok: false, code: 'head_mismatch' });
      for (const { at, verdict } of split) expect(verdict, `${what}, split at ${at}`).toEqual(single);
      const db = await Tally.open(dir);
      try {
        expect(await verifyJournal(db.journal, 'acme', { splitFrom: 0 }), what).toEqual(single);
      } finally {
        await db.close();
      }
    }
  });

  for (const c of JOURNAL_CASES) {
    it(`${c.name}: split at 1, a third, half and the last event → ${c.code}`, async () => {
      const dir = await tampered(c.alter);
      const { single, split } = await splitVerdicts(dir, 'acme', (size) => [1, Math.floor(size / 3), Math.floor(size / 2), size - 1]);
      expect(single).toMatchObject({ ok: false, code: c.code });
      for (const { at, verdict } of split) expect(verdict, `split at ${at}`).toEqual(single);
    });
  }
});

// ---- projection alterations ---------------------------------------------------

interface ProjectionCase {
  name: string;
  tenant?: string;
  alter: (raw: Raw) => void;
}

/** Rewrites acme's block record of `key` after `edit` (re-encoded canonically: a plausible record, not noise). */
const editBlock = (raw: Raw, key: string, edit: (st: NonNullable<ReturnType<typeof decodeState>>) => void) => {
  const st = decodeState(copy(raw.blocks.get([A(), key])!))!;
  edit(st);
  raw.blocks.putSync([A(), key], encodeState(st));
};
const firstOf = <V, K extends import('lmdb').Key>(d: Database<V, K>, tid: number) => entries(d, tid)[0]!;

const PROJECTION_CASES: ProjectionCase[] = [
  { name: "change a block record's data", alter: (raw) => editBlock(raw, 'user:alice', (st) => void (st.data = encodeCanonical({ name: 'Mallory', role: 'owner' }))) },
  { name: "lower a block record's visibility v", alter: (raw) => editBlock(raw, 'user:alice', (st) => void (st.v = 0)) },
  { name: "change a block record's last-write time l", alter: (raw) => editBlock(raw, 'user:alice', (st) => void (st.l += 1)) },
  { name: "clear a redacted block's h by hand", alter: (raw) => editBlock(raw, 'order:2', (st) => void (st.h = st.h ? 0 : 1)) },
  { name: 'delete a block record', alter: (raw) => void raw.blocks.removeSync([A(), 'user:alice']) },
  { name: 'add a phantom block', alter: (raw) => raw.blocks.putSync([A(), 'user:mallory'], copy(raw.blocks.get([A(), 'user:alice'])!)) },
  { name: 'add a phantom block to a tenant with no live blocks', tenant: 'initech', alter: (raw) => raw.blocks.putSync([fx.tid['initech']!, 'ghost'], copy(raw.blocks.get([A(), 'user:alice'])!)) },
  { name: 'change the block count', alter: (raw) => raw.counts.putSync(A(), encodeCanonical(999)) },
  { name: 'delete the block count', alter: (raw) => void raw.counts.removeSync(A()) },
  { name: 'flip a byte of a versions (as-of) record', alter: (raw) => { const e = firstOf(raw.versions, A()); raw.versions.putSync(e.key, flipped(e.value, e.value.length - 1)); } },
  { name: 'delete a versions record', alter: (raw) => void raw.versions.removeSync(firstOf(raw.versions, A()).key) },
  { name: 'add a phantom versions record', alter: (raw) => { const e = firstOf(raw.versions, A()); raw.versions.putSync([A(), e.key[1], e.key[2] + 1_000], e.value); } },
  { name: 'give a valid-time record a value', alter: (raw) => void raw.valid.putSync(firstOf(raw.valid, A()).key, new Uint8Array([0])) },
  {
    // The last fact of a key is linked from the replay's jump path, not from the index: a rebuild must still rewrite it.
    name: "give a key's last valid-time record a value",
    alter: (raw) => {
      // The key with the most facts, so its last one extends a path rather than starting one.
      const byKey = new Map<string, [number, string, number, number, number][]>();
      for (const k of raw.valid.getKeys({ start: [A()], end: [A() + 1] })) byKey.set(`${k[1]}/${k[2]}`, [...(byKey.get(`${k[1]}/${k[2]}`) ?? []), k]);
      const facts = [...byKey.values()].sort((a, b) => b.length - a.length)[0]!;
      expect(facts.length).toBeGreaterThanOrEqual(2);
      raw.valid.putSync(facts.at(-1)!, new Uint8Array([0]));
    },
  },
  { name: 'delete a valid-time record', alter: (raw) => void raw.valid.removeSync(firstOf(raw.valid, A()).key) },
  { name: 'move a valid-time record to another valid time', alter: (raw) => { const e = firstOf(raw.valid, A()); raw.valid.removeSync(e.key); raw.valid.putSync([A(), e.key[1], e.key[2], e.key[3] - 1, e.key[4]], e.value); } },
];

describe('verify({ projection: true }) after an alteration of the projection databases', () => {
  for (const c of PROJECTION_CASES) {
    it(`${c.name} → projection_mismatch`, async () => {
      const tenant = c.tenant ?? 'acme';
      const dir = await tampered(c.alter);
      const v = await verdicts(dir, tenant);
      // The journal itself is intact: only the replay comparison can see this.
      expect(v.plain).toMatchObject({ ok: true });
      expect(v.projection, v.projection.ok ? 'verify({ projection: true }) passed' : v.projection.message).toMatchObject({ ok: false, code: 'projection_mismatch' });
      // The journal's evidence is untouched, and a rebuild from it repairs the projection.
      if (tenant === 'acme') expect(await auditOfExport(dir)).toBe('genuine');
      const db = await Tally.open(dir);
      try {
        await db.tenant(tenant).rebuild();
        expect(await db.tenant(tenant).verify({ projection: true })).toMatchObject({ ok: true });
      } finally {
        await db.close();
      }
    });

    it(`${c.name} → repaired by a rebuild that checks stored records from a second thread`, async () => {
      const tenant = c.tenant ?? 'acme';
      const db = await Tally.open(await tampered(c.alter));
      Projection.checksOnWorkerFrom = 0;
      try {
        await db.tenant(tenant).rebuild();
        expect(await db.tenant(tenant).verify({ projection: true })).toMatchObject({ ok: true });
      } finally {
        Projection.checksOnWorkerFrom = 20_000;
        await db.close();
      }
    });
  }

  it('a forged block record is what readers would see until verify({ projection: true }) flags it', async () => {
    const dir = await tampered((raw) => editBlock(raw, 'user:alice', (st) => void (st.data = encodeCanonical({ name: 'Mallory' }))));
    const db = await Tally.open(dir);
    try {
      expect(await db.tenant('acme').get('user:alice')).toMatchObject({ data: { name: 'Mallory' } });
      expect(await db.tenant('acme').verify({ projection: true })).toMatchObject({ ok: false, code: 'projection_mismatch' });
    } finally {
      await db.close();
    }
  });
});

// ---- random alterations -------------------------------------------------------

/** Runs per property; TALLY_TAMPER_RUNS raises it (each run copies and reopens the data directory). */
const RUNS = Number(process.env['TALLY_TAMPER_RUNS'] ?? 50);
const TENANTS = ['acme', 'globex', 'initech'] as const;
type JournalDb = 'events' | 'payloads' | 'nodes' | 'checkpoints' | 'keyIndex';
const JOURNAL_DBS: JournalDb[] = ['events', 'payloads', 'nodes', 'checkpoints', 'keyIndex'];

/** The codes a flipped byte in a record of each database may surface as: whichever check it breaks first. */
const FLIP_CODES: Record<JournalDb, string[]> = {
  events: ['header_malformed', 'wrong_journal', 'seq_gap', 'chain_broken', 'time_regressed', 'key_chain_broken', 'hash_mismatch', 'index_mismatch'],
  payloads: ['payload_mismatch'],
  nodes: ['node_mismatch'],
  checkpoints: ['checkpoint_malformed', 'checkpoint_signature'],
  keyIndex: ['index_mismatch'],
};

/**
 * verify() of one tenant in a tampered copy, which is then removed. verify()
 * must answer with a verdict: any throw (TallyError or not) fails the property.
 */
async function verifyCopy(dir: string, tenant: string, projection = false) {
  const db = await Tally.open(dir);
  try {
    return await db.tenant(tenant).verify({ projection });
  } catch (err) {
    throw new Error(`verify() threw instead of answering: ${err instanceof TallyError ? `TallyError ${err.code}` : 'not a TallyError'}: ${String(err)}`, { cause: err });
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

type AnyDb = Database<Uint8Array, import('lmdb').Key>;
/** One of the byte-valued databases by name, typed loosely enough to pick, flip and drop any record. */
const dbOf = (raw: Raw, name: JournalDb | 'blocks' | 'versions' | 'valid' | 'counts') => raw[name] as unknown as AnyDb;

/** Picks record `pick` (mod count) of a tenant in one database, or undefined when the tenant has none there. */
function pickRecord<V, K extends import('lmdb').Key>(d: Database<V, K>, tid: number, pick: number) {
  const recs = entries(d, tid);
  return recs.length === 0 ? undefined : recs[pick % recs.length]!;
}

describe('random alterations (fast-check)', () => {
  it('detects a random byte flip in a random record of events, payloads, nodes, checkpoints or the key index', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...TENANTS), fc.constantFrom(...JOURNAL_DBS), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), async (tenant, name, pick, offset, mask) => {
        let where = 'nothing (no record)';
        const dir = await tampered((raw) => {
          const r = pickRecord(dbOf(raw, name), raw.tenants.get(tenant)!.id, pick);
          if (!r) return;
          const at = offset % r.value.length;
          dbOf(raw, name).putSync(r.key, flipped(r.value, at, mask));
          where = `${name} ${JSON.stringify(r.key)} byte ${at} ^ 0x${mask.toString(16)}`;
        });
        const v = await verifyCopy(dir, tenant);
        if (where.startsWith('nothing')) return; // initech has no payload left to flip
        expect(v, where).toMatchObject({ ok: false });
        expect(FLIP_CODES[name], `${where}: ${v.ok ? '' : v.code}`).toContain(v.ok ? 'ok' : v.code);
      }),
      { numRuns: RUNS },
    );
  });

  it('gives the verdict of one scan when split at a random seq, after a random byte flip or a dropped record', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...TENANTS), fc.constantFrom(...JOURNAL_DBS), fc.boolean(), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.nat(), async (tenant, name, drop, pick, offset, mask, at) => {
        let where = 'nothing';
        const dir = await tampered((raw) => {
          const r = pickRecord(dbOf(raw, name), raw.tenants.get(tenant)!.id, pick);
          if (!r) return;
          if (drop) dbOf(raw, name).removeSync(r.key);
          else dbOf(raw, name).putSync(r.key, flipped(r.value, offset % r.value.length, mask));
          where = `${name} ${JSON.stringify(r.key)} ${drop ? 'dropped' : `byte ${offset % r.value.length} ^ 0x${mask.toString(16)}`}`;
        });
        try {
          const { single, split } = await splitVerdicts(dir, tenant, (size) => [1 + (at % Math.max(1, size - 1))]);
          expect(split[0]!.verdict, `${where}, split at ${split[0]!.at}`).toEqual(single);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('detects a dropped record of events, payloads, nodes, the key index, or the latest checkpoint', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...TENANTS), fc.constantFrom(...JOURNAL_DBS), fc.nat(), async (tenant, name, pick) => {
        let dropped: import('lmdb').Key | undefined;
        let latest = -1;
        const dir = await tampered((raw) => {
          const tid = raw.tenants.get(tenant)!.id;
          const r = pickRecord(dbOf(raw, name), tid, pick);
          if (!r) return;
          latest = raw.heads.get(tid)!.size;
          dbOf(raw, name).removeSync(r.key);
          dropped = r.key;
        });
        const v = await verifyCopy(dir, tenant);
        if (dropped === undefined) return;
        const where = `${name} ${JSON.stringify(dropped)} dropped`;
        const seqOrSize = (dropped as number[])[1]!;
        if (name === 'checkpoints' && seqOrSize !== latest) {
          // Not an alteration of the evidence: the later checkpoints still sign every event, and batch
          // boundaries are not recorded, so a missing intermediate checkpoint cannot be told from none.
          expect(v, where).toMatchObject({ ok: true });
          return;
        }
        const expected: Record<JournalDb, string[]> = {
          events: seqOrSize === latest - 1 ? ['head_mismatch'] : ['seq_gap'],
          payloads: ['payload_missing'],
          nodes: ['node_mismatch'],
          checkpoints: ['checkpoint_missing'],
          keyIndex: ['index_mismatch'],
        };
        expect(v, where).toMatchObject({ ok: false });
        expect(expected[name], `${where}: ${v.ok ? '' : v.code}`).toContain(v.ok ? 'ok' : v.code);
      }),
      { numRuns: RUNS },
    );
  });

  it('leaves verify() passing but fails verify({ projection: true }) on a random byte flip in a projection record', async () => {
    const dbs = ['blocks', 'versions', 'valid', 'counts'] as const;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('acme', 'globex'), fc.constantFrom(...dbs), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), async (tenant, name, pick, offset, mask) => {
        let where = '';
        const dir = await tampered((raw) => {
          const tid = raw.tenants.get(tenant)!.id;
          // counts is keyed by the bare tid, not an array under it
          const r = name === 'counts' ? { key: tid, value: copy(raw.counts.get(tid)!) } : pickRecord(dbOf(raw, name), tid, pick)!;
          if (r.value.length === 0) {
            // Valid-time records hold nothing (their key is the record): give one a byte.
            dbOf(raw, name).putSync(r.key, new Uint8Array([mask]));
            where = `${name} ${JSON.stringify(r.key)} given byte 0x${mask.toString(16)}`;
            return;
          }
          const at = offset % r.value.length;
          dbOf(raw, name).putSync(r.key, flipped(r.value, at, mask));
          where = `${name} ${JSON.stringify(r.key)} byte ${at} ^ 0x${mask.toString(16)}`;
        });
        const copyDir = `${dir}-2`;
        cpSync(dir, copyDir, { recursive: true });
        expect(await verifyCopy(dir, tenant), where).toMatchObject({ ok: true });
        expect(await verifyCopy(copyDir, tenant, true), where).toMatchObject({ ok: false, code: 'projection_mismatch' });
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- the documented table -----------------------------------------------------

/** The audit column of docs/FORMAT.md for an outcome. */
function auditCell(o: AuditOutcome): string {
  if (o === 'genuine') return 'the genuine bundle (audit ok)';
  if (o === 'genuine-prefix') return 'a shorter genuine bundle (audit ok)';
  return 'audit' in o ? `\`${o.audit}\`` : `export refuses: \`${o.refuses}\``;
}

/** The rows docs/FORMAT.md §9 must list, in order: this file's cases, so the doc cannot drift from them. */
function documentedRows(): string[] {
  return [
    ...JOURNAL_CASES.map((c) => `| ${c.name} | \`${c.code}\` | ${auditCell(c.audit)} |`),
    ...PROJECTION_CASES.map((c) => `| ${c.name} | ok | \`projection_mismatch\` |`),
  ];
}

describe('docs/FORMAT.md "What verify() catches"', () => {
  it('lists exactly the alterations of this file with their codes', () => {
    // TALLY_PRINT_TAMPER_TABLE=1 prints the rows to paste after a case changes.
    if (process.env['TALLY_PRINT_TAMPER_TABLE']) console.log(documentedRows().join('\n'));
    const doc = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../docs/FORMAT.md'), 'utf8');
    const m = /<!-- tamper-table -->\n([\s\S]*?)\n<!-- \/tamper-table -->/.exec(doc);
    const rows = (m?.[1] ?? '').split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| alteration'));
    expect(rows.join('\n'), 'docs/FORMAT.md §9 differs from the cases (TALLY_PRINT_TAMPER_TABLE=1 prints them)').toBe(documentedRows().join('\n'));
  });
});
