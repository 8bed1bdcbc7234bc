/**
 * Writing evidence bundles (`tally-bundle/v1`, see core/bundle.ts) as a
 * stream of lines, in constant memory: events are read from LMDB in order,
 * and only small sets (anchors and keys with erased payloads) are kept.
 *
 * The range is widened to checkpoint boundaries: `from` down to the largest
 * signed checkpoint at or before it (so the start can be anchored in a
 * signed root), `to` up to the smallest signed checkpoint at or after it (so
 * every event is under a signature).
 */
import { createBLAKE3 } from 'hash-wasm';
import { toBase64 } from '../core/bytes.js';
import { TallyError } from '../core/errors.js';
import { BUNDLE_FORMAT, type BundleRecord } from '../core/bundle.js';
import { frontierOf } from '../core/merkle.js';
import { keyspaceOf } from '../core/event.js';
import type { Journal } from '../journal/journal.js';
import type { Tally } from '../store/tally.js';
import { parseAsOf } from '../store/time-point.js';

/** A requested range end: a seq, or an ISO time. */
export type RangePoint = number | string | undefined;


/** Options of {@link exportBundle}. */
export interface ExportOptions {
  from?: RangePoint;
  to?: RangePoint;
  now?: () => number;
}

function resolve(journal: Journal, tid: number, point: RangePoint, fallback: number, name: 'from' | 'to'): number {
  if (point === undefined) return fallback;
  const p = parseAsOf(point, name);
  if ('seq' in p) return p.seq;
  // A time `from` starts at the first event at or after it; a time `to` ends after the last event at or before it.
  return journal.lastSeqAtOrBefore(tid, name === 'from' ? p.time - 1 : p.time) + 1;
}

/**
 * The lines of a bundle for `tenant`, each ending in a newline.
 * @throws TallyError `not_found` for an unknown tenant, `bad_request` for a bad range.
 */
export async function* exportBundle(db: Tally, tenant: string, opts: ExportOptions = {}): AsyncGenerator<string> {
  const journal = db.journal;
  const rec = journal.tenant(tenant);
  if (!rec) throw new TallyError('not_found', `tenant "${tenant}" does not exist`);
  const tid = rec.id;
  const latest = journal.latestCheckpoint(tid);
  const latestSize = latest?.size ?? 0;
  const reqFrom = resolve(journal, tid, opts.from, 0, 'from');
  const reqTo = resolve(journal, tid, opts.to, latestSize, 'to');
  if (reqFrom > reqTo) throw new TallyError('bad_request', `"from" (${reqFrom}) is after "to" (${reqTo})`);
  if (reqTo > latestSize) throw new TallyError('bad_request', `"to" (${reqTo}) is beyond the journal's ${latestSize} signed events`);
  const start = reqFrom === 0 ? undefined : journal.checkpointAtOrBefore(tid, reqFrom);
  const from = start?.size ?? 0;
  const end = reqTo === 0 ? undefined : journal.checkpointAtOrAfter(tid, reqTo);
  const to = end?.size ?? 0;

  // One hasher per export: concurrent exports must not share digest state.
  const digest = await createBLAKE3();
  const line = (r: BundleRecord): string => {
    const text = JSON.stringify(r) + '\n';
    digest.update(text);
    return text;
  };
  const perfect = journal.perfect(tid);
  const proof = (seq: number, size: number) => journal.inclusionProof(tid, seq, size).map(toBase64);
  const headerB64 = (seq: number) => toBase64(journal.storage.events.get([tid, seq])!);

  yield line({ t: 'manifest', format: BUNDLE_FORMAT, tenant, origin: journal.origin(tenant), node: journal.name, from, to, requested: { from: reqFrom, to: reqTo }, created: (opts.now ?? Date.now)(), keys: db.verifierKeys() });
  yield line({ t: 'start', size: from, checkpoint: start?.note ?? null, frontier: from > 0 ? frontierOf(perfect, from).map(toBase64) : [] });
  if (from > 0) yield line({ t: 'anchor', header: headerB64(from - 1), proof: proof(from - 1, from) });

  const checkpoints = journal.checkpoints(tid, from + 1, to)[Symbol.iterator]();
  let nextCp = checkpoints.next();
  let prevSize = from;
  const erasedKeys = new Set<string>();
  let n = 0;
  for (const e of journal.events(tid, from, to)) {
    const h = e.header;
    if (h.keyPrev !== null) {
      // The previous event of this key lies before the range: prove it as an anchor.
      const prevSeq = journal.previousOfKey(tid, keyspaceOf(h.op), h.key, h.seq);
      if (prevSeq >= 0 && prevSeq < from && prevSeq !== from - 1) yield line({ t: 'anchor', header: headerB64(prevSeq), proof: proof(prevSeq, from) });
    }
    if (h.payload !== null && e.payload === null) erasedKeys.add(h.key);
    yield line({ t: 'event', header: toBase64(journal.storage.events.get([tid, h.seq])!), payload: e.payload ? toBase64(e.payload) : null, salt: e.salt ? toBase64(e.salt) : null });
    n++;
    while (!nextCp.done && nextCp.value.size === h.seq + 1) {
      const cp = nextCp.value;
      yield line({ t: 'checkpoint', size: cp.size, note: cp.note, consistency: prevSize > 0 ? journal.consistencyProof(tid, prevSize, cp.size).map(toBase64) : [] });
      prevSize = cp.size;
      nextCp = checkpoints.next();
    }
  }

  // Erase events after the range that account for payloads missing inside it.
  const tailErasures: number[] = [];
  for (const key of erasedKeys) {
    for (const s of journal.keySeqs(tid, key, 'b', true)) {
      if (s < to) break;
      if (journal.header(tid, s).op === 'erase') tailErasures.push(s);
    }
  }
  // Read the latest checkpoint again: an erase committed while this bundle streamed may be what
  // emptied a payload above, and it is covered only by a checkpoint signed after the export began.
  const tail = journal.latestCheckpoint(tid);
  if (tailErasures.length > 0 && tail) {
    yield line({ t: 'tail', size: tail.size, note: tail.note, consistency: journal.consistencyProof(tid, to, tail.size).map(toBase64) });
    for (const s of tailErasures.filter((seq) => seq < tail.size).sort((a, b) => a - b)) {
      const e = journal.event(tid, s);
      yield line({ t: 'erasure', header: toBase64(journal.storage.events.get([tid, s])!), payload: toBase64(e.payload!), salt: toBase64(e.salt!), proof: proof(s, tail.size) });
    }
  }
  const sum = toBase64(digest.digest('binary'));
  yield JSON.stringify({ t: 'end', events: n, digest: sum }) + '\n';
}
