/**
 * Bundles built from scratch with core functions only, signed by a key the
 * test owns and trusts: so a fuzz can reach every check of the auditor (a
 * bundle that fails at the first signature says nothing about what comes
 * after it). Payloads may be any bytes — committed correctly, but not
 * necessarily canonical CBOR of anything.
 */
import { blake3 } from '@noble/hashes/blake3.js';
import fc from 'fast-check';
import { BUNDLE_FORMAT, type BundleRecord } from '../../src/core/bundle.js';
import { toBase64, utf8 } from '../../src/core/bytes.js';
import { formatCheckpoint } from '../../src/core/checkpoint.js';
import { encodeCanonical, encodeData } from '../../src/core/codec.js';
import { encodeHeader, ZERO_HASH, type EventHeader, type Op } from '../../src/core/event.js';
import { blake3Tree, eventHash, payloadCommitment } from '../../src/core/hash.js';
import { MemoryTree } from '../../src/core/merkle.js';
import { seedSigner, signNote, verifierKeyOf, type VerifierKey } from '../../src/core/note.js';

/** The signer of crafted bundles and its verifier key (trusted by the tests). */
export const craftSigner = seedSigner('fuzz-node', new Uint8Array(32).fill(7));
export const craftKey: VerifierKey = verifierKeyOf(craftSigner.name, craftSigner.publicKey);
const TENANT = 'fz';

/** One event of a crafted bundle. */
export interface CraftEvent {
  op: Op;
  key: string;
  /** Payload bytes (null: none), committed with a fixed salt. */
  payload: Uint8Array | null;
  /** Leave the payload out of the record while the header commits to it, as an erasure does. */
  drop: boolean;
  time: number;
  v: number;
}

/** An event with its own data: canonical JSON, arbitrary bytes, or the details of an erase (right or wrong). */
export const craftEvent: fc.Arbitrary<CraftEvent> = fc
  .record({
    op: fc.constantFrom<Op>('set', 'set', 'delete', 'log', 'redact', 'unredact', 'erase', 'erase'),
    key: fc.constantFrom('a', 'b', 'user:1'),
    payload: fc.oneof(
      fc.jsonValue({ maxDepth: 2 }).map((v) => encodeData(v)),
      fc.uint8Array({ maxLength: 12 }),
      fc.constant(null),
      fc.constantFrom<unknown>(null, 5, 'x', [], {}, { erased: 3 }, { erased: null }, { erased: [0, -1, 1.5, 'x', 1e300] }, { reason: 'r', erased: [0, 1, 2] }).map((v) => encodeCanonical(v as never)),
    ),
    drop: fc.boolean(),
    time: fc.integer({ min: 0, max: 5 }),
    v: fc.integer({ min: 0, max: 2 }),
  })
  .map((e) => ({ ...e, drop: e.drop && e.payload !== null }));

/** Lines of a bundle of `events` from seq 0, with a signed checkpoint after each seq in `cps` and after the last. */
export function craftBundle(events: readonly CraftEvent[], cps: readonly number[] = []): string[] {
  const salt = new Uint8Array(16).fill(1);
  const origin = `${craftSigner.name}/${TENANT}`;
  const tree = new MemoryTree(blake3Tree);
  const lines: string[] = [];
  const push = (r: BundleRecord) => lines.push(JSON.stringify(r));
  push({ t: 'manifest', format: BUNDLE_FORMAT, tenant: TENANT, origin, node: craftSigner.name, from: 0, to: events.length, requested: { from: 0, to: events.length }, created: 0, keys: [craftKey.text] });
  push({ t: 'start', size: 0, checkpoint: null, frontier: [] });
  let prev: Uint8Array = ZERO_HASH;
  let time = 0;
  let lastCp = 0;
  const lastOfKey = new Map<string, Uint8Array>();
  events.forEach((e, seq) => {
    const space = (e.op === 'log' ? 'k' : 'b') + e.key;
    time += e.time;
    const header: EventHeader = { fmt: 1, journal: TENANT, seq, time, op: e.op, key: e.key, prev, keyPrev: lastOfKey.get(space) ?? null, payload: e.payload && payloadCommitment(salt, e.payload), v: e.v, validFrom: time, actor: 'fuzz' };
    const bytes = encodeHeader(header);
    const hash = eventHash(bytes);
    const present = e.payload !== null && !e.drop;
    push({ t: 'event', header: toBase64(bytes), payload: present ? toBase64(e.payload!) : null, salt: present ? toBase64(salt) : null });
    tree.push(blake3Tree.leaf(hash));
    lastOfKey.set(space, hash);
    prev = hash;
    const size = seq + 1;
    if (cps.includes(size) || size === events.length) {
      const note = signNote(formatCheckpoint({ origin, size, root: tree.root(size), extensions: [] }), craftSigner);
      push({ t: 'checkpoint', size, note, consistency: lastCp > 0 ? tree.consistency(lastCp, size).map(toBase64) : [] });
      lastCp = size;
    }
  });
  return seal(lines);
}

/** Appends (or replaces) the end record: the event count and the digest of the lines before it. */
export function seal(lines: readonly string[]): string[] {
  const body = lines.filter((l) => !l.startsWith('{"t":"end"'));
  const h = blake3.create();
  for (const l of body) h.update(utf8(l + '\n'));
  const events = body.filter((l) => l.startsWith('{"t":"event"')).length;
  return [...body, JSON.stringify({ t: 'end', events, digest: toBase64(h.digest()) })];
}

/** A structural edit of a bundle's lines, as an attacker with an editor (and the unkeyed digest) could make. */
export type LineEdit =
  | { k: 'drop' | 'dup' | 'garble'; at: number }
  | { k: 'swap'; at: number; to: number }
  | { k: 'field'; at: number; field: number; value: unknown }
  | { k: 'cut'; at: number; n: number };

export const lineEdit: fc.Arbitrary<LineEdit> = fc.oneof(
  fc.record({ k: fc.constantFrom<'drop' | 'dup' | 'garble'>('drop', 'dup', 'garble'), at: fc.nat() }),
  fc.record({ k: fc.constant<'swap'>('swap'), at: fc.nat(), to: fc.nat() }),
  fc.record({
    k: fc.constant<'field'>('field'),
    at: fc.nat(),
    field: fc.nat(),
    value: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(-1, 0, 1, 2 ** 53, 1.5, '', 'AAAA', null, [], ['AAAA'], 'fuzz-node/fz', 'tally-bundle/v1')),
  }),
  fc.record({ k: fc.constant<'cut'>('cut'), at: fc.nat(), n: fc.nat() }),
);

/** Applies edits (positions taken modulo the length). */
export function editLines(lines: readonly string[], edits: readonly LineEdit[]): string[] {
  const out = [...lines];
  for (const e of edits) {
    if (out.length === 0) break;
    const i = e.at % out.length;
    switch (e.k) {
      case 'drop':
        out.splice(i, 1);
        break;
      case 'dup':
        out.splice(i, 0, out[i]!);
        break;
      case 'garble':
        out[i] = out[i]!.replace(/[A-Za-z0-9]/, (c) => (c === 'A' ? 'B' : 'A'));
        break;
      case 'swap': {
        const j = e.to % out.length;
        [out[i], out[j]] = [out[j]!, out[i]!];
        break;
      }
      case 'field': {
        let r: Record<string, unknown>;
        try {
          r = JSON.parse(out[i]!) as Record<string, unknown>;
        } catch {
          break; // a line an earlier edit cut
        }
        if (!r || typeof r !== 'object') break;
        const keys = Object.keys(r);
        if (keys.length === 0) break;
        r[keys[e.field % keys.length]!] = e.value;
        out[i] = JSON.stringify(r);
        break;
      }
      case 'cut':
        out[i] = out[i]!.slice(0, e.n % (out[i]!.length + 1));
        break;
    }
  }
  return out;
}
