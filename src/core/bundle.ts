/**
 * The evidence bundle format (`tally-bundle/v1`): JSON Lines, one record per
 * line, written and read as a stream so neither side holds the journal in
 * memory. Records, in order:
 *
 * - `manifest`: tenant, origin, range [from, to), creation time, the node's verifier keys;
 * - `start`: the checkpoint at `from` (null when from = 0) and the tree's right
 *   edge at `from`, so roots after it can be recomputed without earlier events;
 * - `anchor`: an event before `from` that an in-range event links to (`prev`
 *   or `keyPrev`), with its inclusion proof in the start checkpoint;
 * - `event`: canonical header bytes, payload and salt (null once erased);
 * - `checkpoint`: a signed checkpoint inside the range, with the consistency
 *   proof from the previous one;
 * - `tail`: the latest checkpoint beyond `to`, with its consistency proof,
 *   when an `erasure` record needs it;
 * - `erasure`: an erase event beyond `to` that justifies a missing payload,
 *   with its inclusion proof in the tail checkpoint;
 * - `end`: the event count and a BLAKE3 digest of every byte before it, to
 *   catch truncation and stray edits the signatures do not cover.
 *
 * Bytes are standard base64. See docs/FORMAT.md for the exact fields.
 */
import { fromBase64 } from './bytes.js';
import { TallyError } from './errors.js';

/** Format identifier of the manifest. */
export const BUNDLE_FORMAT = 'tally-bundle/v1';

export interface ManifestRecord {
  t: 'manifest';
  format: typeof BUNDLE_FORMAT;
  tenant: string;
  origin: string;
  node: string;
  /** First seq in the bundle (a checkpoint size, so it can be anchored). */
  from: number;
  /** One past the last seq (a checkpoint size, so every event is signed over). */
  to: number;
  requested: { from: number; to: number };
  created: number;
  keys: string[];
}
export interface StartRecord {
  t: 'start';
  size: number;
  checkpoint: string | null;
  frontier: string[];
}
export interface AnchorRecord {
  t: 'anchor';
  header: string;
  proof: string[];
}
export interface EventRecord {
  t: 'event';
  header: string;
  payload: string | null;
  salt: string | null;
}
export interface CheckpointRecord {
  t: 'checkpoint';
  size: number;
  note: string;
  consistency: string[];
}
export interface TailRecord {
  t: 'tail';
  size: number;
  note: string;
  consistency: string[];
}
export interface ErasureRecord {
  t: 'erasure';
  header: string;
  payload: string;
  salt: string;
  proof: string[];
}
export interface EndRecord {
  t: 'end';
  events: number;
  digest: string;
}

/** Any bundle record. */
export type BundleRecord = ManifestRecord | StartRecord | AnchorRecord | EventRecord | CheckpointRecord | TailRecord | ErasureRecord | EndRecord;

/** A record that is not what the format says: a `bad_request` naming the line. */
export class BundleFormatError extends TallyError {
  constructor(readonly line: number, message: string) {
    super('bad_request', `line ${line}: ${message}`);
  }
}

const FIELDS: Record<BundleRecord['t'], string[]> = {
  manifest: ['t', 'format', 'tenant', 'origin', 'node', 'from', 'to', 'requested', 'created', 'keys'],
  start: ['t', 'size', 'checkpoint', 'frontier'],
  anchor: ['t', 'header', 'proof'],
  event: ['t', 'header', 'payload', 'salt'],
  checkpoint: ['t', 'size', 'note', 'consistency'],
  tail: ['t', 'size', 'note', 'consistency'],
  erasure: ['t', 'header', 'payload', 'salt', 'proof'],
  end: ['t', 'events', 'digest'],
};

const isInt = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
const isB64 = (s: unknown): s is string => {
  if (typeof s !== 'string') return false;
  try {
    fromBase64(s);
    return true;
  } catch {
    return false;
  }
};
const isB64List = (a: unknown): a is string[] => Array.isArray(a) && a.length <= 128 && a.every(isB64);

/**
 * Parses and shape-checks one line.
 * @throws BundleFormatError naming the line.
 */
export function parseRecord(text: string, line: number): BundleRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new BundleFormatError(line, 'is not JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new BundleFormatError(line, 'is not a JSON object');
  const o = v as Record<string, unknown>;
  const t = o['t'];
  if (typeof t !== 'string' || !Object.hasOwn(FIELDS, t)) throw new BundleFormatError(line, `has unknown record type ${JSON.stringify(t)}`);
  const fields = FIELDS[t as BundleRecord['t']];
  const keys = Object.keys(o);
  if (keys.length !== fields.length || !fields.every((f) => keys.includes(f))) throw new BundleFormatError(line, `a ${t} record has exactly the fields ${fields.join(', ')}`);
  const bad = (what: string) => new BundleFormatError(line, `${t}: ${what}`);
  switch (t) {
    case 'manifest': {
      if (o['format'] !== BUNDLE_FORMAT) throw bad(`unknown format ${JSON.stringify(o['format'])}; this tool reads ${BUNDLE_FORMAT}`);
      if (typeof o['tenant'] !== 'string' || typeof o['origin'] !== 'string' || typeof o['node'] !== 'string') throw bad('tenant, origin and node are strings');
      if (!isInt(o['from']) || !isInt(o['to']) || o['from'] > o['to'] || !isInt(o['created'])) throw bad('from ≤ to and created are non-negative integers');
      const r = o['requested'] as Record<string, unknown> | null;
      if (!r || typeof r !== 'object' || !isInt(r['from']) || !isInt(r['to'])) throw bad('requested is {from, to}');
      if (!Array.isArray(o['keys']) || !o['keys'].every((k) => typeof k === 'string')) throw bad('keys is a list of strings');
      break;
    }
    case 'start':
      if (!isInt(o['size']) || !(o['checkpoint'] === null || typeof o['checkpoint'] === 'string') || !isB64List(o['frontier'])) throw bad('size, checkpoint and frontier');
      break;
    case 'anchor':
      if (!isB64(o['header']) || !isB64List(o['proof'])) throw bad('header and proof are base64');
      break;
    case 'event':
      if (!isB64(o['header']) || !(o['payload'] === null || isB64(o['payload'])) || !(o['salt'] === null || isB64(o['salt']))) throw bad('header, payload and salt are base64 or null');
      break;
    case 'checkpoint':
    case 'tail':
      if (!isInt(o['size']) || typeof o['note'] !== 'string' || !isB64List(o['consistency'])) throw bad('size, note and consistency');
      break;
    case 'erasure':
      if (!isB64(o['header']) || !isB64(o['payload']) || !isB64(o['salt']) || !isB64List(o['proof'])) throw bad('header, payload, salt and proof are base64');
      break;
    case 'end':
      if (!isInt(o['events']) || !isB64(o['digest'])) throw bad('events and digest');
      break;
  }
  return o as unknown as BundleRecord;
}
