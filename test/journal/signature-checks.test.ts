/**
 * Checkpoint signatures checked on a worker thread: whatever mix of inline,
 * worker and same-thread chunks answers them, the first failure in journal
 * order is the one reported, and verify() reports what it reported when it
 * checked every signature inline.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../../src/core/bytes.js';
import { SignatureChecks, stopSignatureWorker, type SignatureCheck } from '../../src/journal/signature-checks.js';
import { nodeSigner, nodeVerify } from '../../src/journal/signing-keys.js';
import { verifyJournal } from '../../src/journal/verify-journal.js';
import { Tally } from '../../src/store/tally.js';

const signer = nodeSigner('n', new Uint8Array(32).fill(9));
const other = nodeSigner('n', new Uint8Array(32).fill(10));

/** `n` signed checks tagged 0..n-1; the ones in `bad` carry a signature by another key. */
function checks(n: number, bad: ReadonlySet<number>): SignatureCheck[] {
  return Array.from({ length: n }, (_, i) => {
    const message = new TextEncoder().encode(`checkpoint ${i}\n`);
    return { publicKey: signer.publicKey, message, signature: (bad.has(i) ? other : signer).sign(message), tag: i };
  });
}

async function firstFailure(all: SignatureCheck[], inlineChecks: number): Promise<{ stoppedAt: number; first: number | undefined; counts: SignatureChecks['counts'] }> {
  const q = new SignatureChecks(nodeVerify, inlineChecks);
  let stoppedAt = all.length;
  for (const [i, c] of all.entries()) {
    if (!q.add(c)) {
      stoppedAt = i;
      break;
    }
  }
  return { stoppedAt, first: await q.firstFailure(), counts: q.counts };
}

describe('SignatureChecks', () => {
  it('passes when every signature verifies, through the worker and on this thread', async () => {
    const { first, counts } = await firstFailure(checks(3000, new Set()), 100);
    expect(first).toBeUndefined();
    // A chunk is 256 signature checks for the worker; this thread queues one in far less time, so the backlog fills and it checks some itself.
    expect(counts.inline).toBe(100);
    expect(counts.worker).toBeGreaterThan(0);
    expect(counts.here).toBeGreaterThan(0);
    expect(counts.inline + counts.worker + counts.here).toBe(3000);
    expect(counts.redone).toBe(0);
  });

  it('names the first failing check in order, wherever it was answered', async () => {
    // 3,000 checks outrun one worker, so some chunks are checked on this thread: the order must hold across both.
    const all = checks(3000, new Set());
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 0, max: 2999 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 300 }), async (bad, inline) => {
        const tampered = all.map((c) => (bad.includes(c.tag) ? { ...c, signature: other.sign(c.message) } : c));
        const { first } = await firstFailure(tampered, inline);
        expect(first).toBe(Math.min(...bad));
      }),
      { numRuns: 6 },
    );
  });

  it('redoes on this thread the checks a dead worker held', async () => {
    // A fresh worker (an earlier re-check that stopped at its first failure may have left chunks with the
    // old one), then four full chunks, all sent to it (the backlog allows four): ~150 ms of work in its hands.
    await stopSignatureWorker();
    const all = checks(1024, new Set([900, 1000]));
    const q = new SignatureChecks(nodeVerify, 0);
    for (const c of all) q.add(c);
    expect(q.counts.worker).toBe(1024);
    // Killed with chunks in hand: those answers never come, and must not pass or be waited for forever.
    await stopSignatureWorker();
    expect(await q.firstFailure()).toBe(900);
    // The last chunk at least was still unanswered when it died (a stall of this thread could let it finish more).
    expect(q.counts.redone).toBeGreaterThanOrEqual(256);
    // A new worker serves the next re-check.
    const next = await firstFailure(checks(600, new Set([550])), 0);
    expect(next.first).toBe(550);
    expect(next.counts.worker).toBeGreaterThan(0);
  });

  it('stops at once when an inline check fails', async () => {
    const { stoppedAt, first } = await firstFailure(checks(50, new Set([7, 20])), 128);
    expect(stoppedAt).toBe(7);
    expect(first).toBe(7);
  });

  it('refuses a key or signature of the wrong length on the worker', async () => {
    const all = checks(300, new Set());
    all[260] = { ...all[260]!, signature: all[260]!.signature.subarray(0, 63) };
    all[280] = { ...all[280]!, publicKey: all[280]!.publicKey.subarray(0, 31) };
    expect((await firstFailure(all, 0)).first).toBe(260);
    all[260] = checks(261, new Set())[260]!;
    expect((await firstFailure(all, 0)).first).toBe(280);
  });
});

describe('verify() with signatures checked on the worker', () => {
  let dir: string;
  let db: Tally;
  let sizes: number[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tally-sigw-'));
    db = await Tally.open(dir);
    const t = db.tenant('acme');
    // 600 batches: one checkpoint each.
    for (let i = 0; i < 600; i++) await t.batch([{ op: 'log', kind: 'k', details: { i } }, { op: 'set', key: `k${i % 7}`, data: { i } }]);
    const tid = db.journal.tenant('acme')!.id;
    sizes = [...db.journal.checkpoints(tid)].map((c) => c.size);
  }, 120_000);
  afterAll(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const tid = () => db.journal.tenant('acme')!.id;
  /** Replaces the stored checkpoint at `size` with one whose signature has one byte flipped; returns an undo. */
  function breakSignature(size: number): () => void {
    const { checkpoints } = db.journal.storage;
    const note = checkpoints.get([tid(), size]) as string;
    const b64 = note.split('\n').at(-2)!.split(' ').at(-1)!;
    const sig = fromBase64(b64);
    sig[30]! ^= 1;
    checkpoints.putSync([tid(), size], note.replace(b64, toBase64(sig)));
    return () => checkpoints.putSync([tid(), size], note);
  }
  /** Replaces the stored header of event `seq` with one byte flipped; returns an undo. */
  function breakEvent(seq: number): () => void {
    const { events } = db.journal.storage;
    const bytes = Uint8Array.from(events.get([tid(), seq]) as Uint8Array);
    const altered = bytes.slice();
    altered[altered.length - 3]! ^= 1;
    events.putSync([tid(), seq], altered);
    return () => events.putSync([tid(), seq], bytes);
  }

  it('passes an intact journal and counts every checkpoint', async () => {
    const v = await verifyJournal(db.journal, 'acme', { inlineSignatureChecks: 0 });
    expect(v).toMatchObject({ ok: true, checked: 1200, checkpoints: sizes.length });
  });

  it('reports a bad signature exactly as the inline check does', async () => {
    const undo = breakSignature(sizes[450]!);
    try {
      const worker = await verifyJournal(db.journal, 'acme', { inlineSignatureChecks: 0 });
      const inline = await verifyJournal(db.journal, 'acme', { inlineSignatureChecks: 10_000 });
      expect(worker).toEqual(inline);
      expect(worker).toMatchObject({ ok: false, code: 'checkpoint_signature', seq: sizes[450] });
    } finally {
      undo();
    }
  });

  it('reports a bad signature before a later broken event, and an earlier broken event before it', async () => {
    const undoSig = breakSignature(sizes[300]!);
    const undoLater = breakEvent(sizes[500]! + 1);
    try {
      expect(await verifyJournal(db.journal, 'acme', { inlineSignatureChecks: 0 })).toMatchObject({ ok: false, code: 'checkpoint_signature', seq: sizes[300] });
    } finally {
      undoLater();
    }
    const undoEarlier = breakEvent(sizes[200]! + 1);
    try {
      const v = await verifyJournal(db.journal, 'acme', { inlineSignatureChecks: 0 });
      expect(v.ok).toBe(false);
      expect(v.ok === false && v.code).not.toBe('checkpoint_signature');
      expect(v.ok === false && v.seq).toBeLessThanOrEqual(sizes[200]! + 1);
    } finally {
      undoEarlier();
      undoSig();
    }
    expect((await verifyJournal(db.journal, 'acme', { inlineSignatureChecks: 0 })).ok).toBe(true);
  });
});
