/**
 * Replaying block state from an evidence bundle: the bundle is audited and
 * folded in the same pass with the store's own fold, so the state comes
 * only from verified events. A bundle must start at seq 0 to give full state.
 */
import type { AuditResult } from '../core/audit-bundle.js';
import { decodeCanonical, type JsonValue } from '../core/codec.js';
import { TallyError } from '../core/errors.js';
import type { VerifierKey } from '../core/note.js';
import { fastHashing } from '../journal/fast-hashing.js';
import { foldEvent, type BlockRecord, type ProjectionStore } from '../store/projection.js';
import { parseAsOf } from '../store/time-point.js';
import { encodeHeader } from '../core/event.js';
import { readLines } from './bundle-file.js';
import { auditFast } from './node-audit.js';

/** Blocks at a point, replayed from a bundle file. */
export async function replayBundle(path: string, keys: VerifierKey[], asOf: string, prefix: string): Promise<{ audit: AuditResult; blocks: { key: string; f: number; l: number; v: number; h: number; data: JsonValue; version: number }[] }> {
  const point = parseAsOf(/^\d+$/.test(asOf) ? Number(asOf) : asOf, 'as-of');
  const blocks = new Map<string, Uint8Array>();
  const store: ProjectionStore = {
    getBlock: (_t, k) => blocks.get(k),
    putBlock: (_t, k, v) => void blocks.set(k, v),
    removeBlock: (_t, k) => void blocks.delete(k),
    putVersion: () => {},
    getCount: () => undefined,
    putCount: () => {},
  };
  let started = false;
  const audit = await auditFast(readLines(path), keys, {
    onEvent: (h, payload) => {
      if (!started && h.seq !== 0) throw new TallyError('bad_request', 'replay needs a bundle that starts at seq 0');
      started = true;
      const within = 'seq' in point ? h.seq <= point.seq : h.time <= point.time;
      if (within) foldEvent(store, 0, { header: h, hash: fastHashing.eventHash(encodeHeader(h)), payload, salt: null });
    },
  });
  const out = [...blocks]
    .filter(([k]) => k.startsWith(prefix))
    .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    .map(([key, bytes]) => {
      const b = decodeCanonical(bytes) as unknown as BlockRecord;
      return { key, f: b.f, l: b.l, v: b.v, h: b.h, data: b.data.length ? (decodeCanonical(b.data) as JsonValue) : null, version: b.version };
    });
  return { audit, blocks: out };
}
