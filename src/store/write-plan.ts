/**
 * Turning requested writes into journal drafts. Shape checks run before a
 * request is queued ({@link prepareOp}); state checks (`ifVersion`, quota,
 * existence) run inside the append transaction against the projection plus
 * the effects of the request's earlier ops ({@link planOps}), so a batch is
 * judged as a whole and either every op is appended or none.
 */
import { encodeCanonical, encodeData } from '../core/codec.js';
import { TallyError } from '../core/errors.js';
import { assertKey, assertNewKey, assertVisibility, type EventHeader } from '../core/event.js';
import type { BuildContext, EventDraft, Journal } from '../journal/journal.js';
import { quotaOf } from './plans.js';
import { foldEvent, NO_STATE, OverlayStore, type KeyState, type Projection } from './projection.js';
import { parseInstant } from './time-point.js';

/** Expected version for optimistic concurrency: a version, or `'absent'` for create-only. */
export type IfVersion = number | 'absent';

/** One op of `batch()`. */
export type BatchOp =
  | { op: 'set'; key: string; data: unknown; v?: number; ifVersion?: IfVersion; validFrom?: number | string | Date }
  | { op: 'delete'; key: string; ifVersion?: IfVersion; validFrom?: number | string | Date }
  | { op: 'log'; kind: string; details?: unknown };

/** A checked op, ready to plan. */
export type PreparedOp =
  | { op: 'set'; key: string; payload: Uint8Array; v: number; ifVersion?: IfVersion; validFrom?: number }
  | { op: 'delete'; key: string; ifVersion?: IfVersion; validFrom?: number }
  | { op: 'log'; key: string; payload: Uint8Array }
  | { op: 'redact' | 'unredact'; key: string; clearance: number }
  | { op: 'erase'; key: string; reason: string; clearance: number };

/** Longest batch, in ops. */
export const MAX_BATCH_OPS = 1000;

function checkIfVersion(v: unknown, at: string): IfVersion | undefined {
  if (v === undefined) return undefined;
  if (v === 'absent') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  throw new TallyError('bad_request', `"${at}.ifVersion" must be a version number or "absent", got ${JSON.stringify(v)}`);
}

/**
 * Checks the shape of a batch op and encodes its data.
 * @throws TallyError `bad_request` naming the op.
 */
export function prepareOp(op: unknown, at: string): PreparedOp {
  if (op === null || typeof op !== 'object' || Array.isArray(op)) throw new TallyError('bad_request', `"${at}" must be an object`);
  const o = op as Record<string, unknown>;
  const allowed: Record<string, string[]> = {
    set: ['op', 'key', 'data', 'v', 'ifVersion', 'validFrom'],
    delete: ['op', 'key', 'ifVersion', 'validFrom'],
    log: ['op', 'kind', 'details'],
  };
  const fields = typeof o['op'] === 'string' ? allowed[o['op']] : undefined;
  if (!fields) throw new TallyError('bad_request', `"${at}.op" must be "set", "delete" or "log"`);
  const extra = Object.keys(o).find((k) => !fields.includes(k));
  if (extra) throw new TallyError('bad_request', `"${at}" has unknown field "${extra}"`);
  const validFrom = o['validFrom'] === undefined ? undefined : parseInstant(o['validFrom'], `${at}.validFrom`);
  switch (o['op']) {
    case 'set': {
      assertNewKey(o['key'], `${at}.key`);
      if (!('data' in o)) throw new TallyError('bad_request', `"${at}.data" is required`);
      const v = o['v'] === undefined ? 1 : o['v'];
      assertVisibility(v, `${at}.v`);
      const ifVersion = checkIfVersion(o['ifVersion'], at);
      return { op: 'set', key: o['key'], payload: encodeData(o['data'], `${at}.data`), v, ...(ifVersion !== undefined ? { ifVersion } : {}), ...(validFrom !== undefined ? { validFrom } : {}) };
    }
    case 'delete': {
      assertKey(o['key'], `${at}.key`);
      const ifVersion = checkIfVersion(o['ifVersion'], at);
      return { op: 'delete', key: o['key'], ...(ifVersion !== undefined ? { ifVersion } : {}), ...(validFrom !== undefined ? { validFrom } : {}) };
    }
    default:
      assertNewKey(o['kind'], `${at}.kind`);
      return { op: 'log', key: o['kind'], payload: encodeData(o['details'] ?? {}, `${at}.details`) };
  }
}

/**
 * Plans prepared ops against the current state, inside the transaction: each
 * proposed event is run through the projection's own fold on an overlay, so
 * later ops of the request see exactly the state the earlier ones make.
 * @throws TallyError `conflict`, `not_found` or `quota_exceeded`; nothing is written then.
 */
export function planOps(journal: Journal, projection: Projection, ctx: BuildContext, ops: readonly PreparedOp[]): EventDraft[] {
  const tid = ctx.tenant.id;
  const overlay = new OverlayStore(projection.store);
  const state = (key: string): KeyState => overlay.getState(tid, key) ?? NO_STATE;
  const count = (): number => overlay.getCount(tid);
  const quota = quotaOf(ctx.tenant.plan);
  const drafts: EventDraft[] = [];
  ops.forEach((op, i) => {
    const seq = ctx.size + drafts.length;
    const cur = op.op === 'log' ? NO_STATE : state(op.key);
    if ((op.op === 'set' || op.op === 'delete') && op.ifVersion !== undefined) {
      const actual = cur.exists ? cur.version : 'absent';
      if (actual !== op.ifVersion) throw new TallyError('conflict', `op ${i} on "${op.key}": expected version ${op.ifVersion}, found ${actual}`);
    }
    let draft: EventDraft;
    switch (op.op) {
      case 'set':
        draft = { op: 'set', key: op.key, payload: op.payload, v: op.v, validFrom: op.validFrom ?? ctx.time };
        break;
      case 'delete':
        if (!cur.exists) throw new TallyError('not_found', `block "${op.key}" does not exist`);
        draft = { op: 'delete', key: op.key, payload: null, v: cur.v, validFrom: op.validFrom ?? ctx.time };
        break;
      case 'redact':
      case 'unredact':
        // A deleted or erased block can be redacted too: redaction hides its history, not just its current data.
        if (cur.version < 0) throw new TallyError('not_found', `block "${op.key}" has no history`);
        requireCleared(journal, tid, op.key, cur, op.clearance, op.op);
        draft = { op: op.op, key: op.key, payload: null, v: cur.v };
        break;
      case 'erase': {
        const all = [...journal.keySeqs(tid, op.key)];
        if (all.length === 0) throw new TallyError('not_found', `block "${op.key}" has no history to erase`);
        requireCleared(journal, tid, op.key, cur, op.clearance, 'erase');
        // The erase event keeps the key's last visibility, so it is no more visible than the data it names.
        draft = { op: 'erase', key: op.key, payload: encodeCanonical({ reason: op.reason, erased: erasableSeqs(journal, tid, all) }), v: cur.v };
        break;
      }
      case 'log':
        drafts.push({ op: 'log', key: op.key, payload: op.payload, v: 0 });
        return;
    }
    const before = count();
    const header = { op: draft.op, key: draft.key, seq, time: ctx.time, v: draft.v, validFrom: draft.validFrom ?? ctx.time } as EventHeader;
    foldEvent(overlay, tid, { header, payload: draft.payload });
    // justifies: INV-QUOTA
    if (quota !== null && count() > before && count() > quota) {
      throw new TallyError('quota_exceeded', `block quota of plan "${ctx.tenant.plan}" (${quota}) reached`);
    }
    drafts.push(draft);
  });
  return drafts;
}

/**
 * Redact, unredact and erase act on a key's whole history, so the actor's
 * clearance must cover it: a key whose current visibility is above it is
 * `not_found` (the answer for a key that does not exist); one with an
 * earlier version above it is `forbidden`. Checked here, inside the write
 * transaction, so no concurrent write can slip a higher version in between.
 */
// justifies: INV-ADMIN-CLEARANCE
function requireCleared(journal: Journal, tid: number, key: string, cur: KeyState, clearance: number, what: string): void {
  if (cur.v > clearance) throw new TallyError('not_found', `block "${key}" does not exist`);
  for (const seq of journal.keySeqs(tid, key)) {
    if (journal.header(tid, seq).v > clearance) throw new TallyError('forbidden', `to ${what} "${key}" needs a clearance that covers every one of its versions`);
  }
}

/** The seqs whose payloads an erasure destroys: every earlier `set` of the key (erase records keep theirs). */
export function erasableSeqs(journal: Journal, tid: number, seqs: readonly number[]): number[] {
  return seqs.filter((seq) => journal.header(tid, seq).op === 'set');
}
