/**
 * Record checks on a second thread: whichever thread answers a check (the
 * worker, the caller while the worker is behind, the caller after the
 * worker is gone), exactly the records that differ from the expected bytes
 * are reported, with their database, key and bytes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordChecks, type KeyPart } from '../../src/journal/record-checks.js';
import { openStorage, type Storage } from '../../src/journal/storage.js';

const dir = mkdtempSync(join(tmpdir(), 'tally-record-checks-'));
let storage: Storage;
const N = 30_000;
const keyOf = (i: number): KeyPart[] => [1, `k:${i % 977}:é✓𝄞`, i];
const valueOf = (i: number): Uint8Array => new Uint8Array(i % 50).fill(i % 251);

beforeAll(() => {
  storage = openStorage(dir);
  const a = storage.openDB<Uint8Array, KeyPart[]>('check-a', 'binary');
  const b = storage.openDB<Uint8Array, KeyPart[]>('check-b', 'binary');
  storage.root.transactionSync(() => {
    for (let i = 0; i < N; i++) (i % 2 ? a : b).putSync(keyOf(i), valueOf(i));
  });
});

afterAll(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The checks of items 0..N-1 plus some absent keys; returns what was reported, sorted. */
function expectedMismatches(): string[] {
  const out: string[] = [];
  for (let i = 0; i < N; i++) if (i % 1000 === 7 || i % 1013 === 3) out.push(JSON.stringify([i % 2 ? 0 : 1, keyOf(i)]));
  for (let i = N; i < N + 5; i++) out.push(JSON.stringify([0, keyOf(i)]));
  return out.sort();
}

function queueAll(checks: RecordChecks): void {
  for (let i = 0; i < N; i++) {
    let bytes = valueOf(i);
    if (i % 1000 === 7) bytes = new Uint8Array([...bytes, 0]); // one byte longer
    else if (i % 1013 === 3) bytes = bytes.length > 0 ? bytes.map((x, j) => (j === 0 ? x ^ 1 : x)) : new Uint8Array([1]); // one bit off
    checks.check(i % 2 ? 0 : 1, keyOf(i), bytes);
  }
  // Records that are not there at all.
  for (let i = N; i < N + 5; i++) checks.check(0, keyOf(i), valueOf(i));
}

async function run(prepare?: (checks: RecordChecks) => Promise<void>): Promise<{ reported: string[]; counts: RecordChecks['counts']; threaded: boolean }> {
  const reported: string[] = [];
  const checks = await RecordChecks.start(storage, dir, ['check-a', 'check-b'], (db, key, bytes) => {
    const i = key[2] as number;
    // The bytes reported are the ones asked about.
    expect(bytes.length).toBe(i % 1000 === 7 ? valueOf(i).length + 1 : i >= N ? valueOf(i).length : Math.max(1, valueOf(i).length));
    reported.push(JSON.stringify([db, key]));
  });
  try {
    await prepare?.(checks);
    // Inside a write transaction that has written other records: the checks see the committed state.
    storage.root.transactionSync(() => {
      storage.openDB<Uint8Array, KeyPart[]>('check-a', 'binary').putSync([2, 'elsewhere', 0], new Uint8Array([1]));
      queueAll(checks);
      // Give the worker time to take what was sent before the calling thread, settling, takes the rest.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
      checks.settle();
    });
    return { reported: reported.sort(), counts: { ...checks.counts }, threaded: checks.threaded };
  } finally {
    await checks.close();
  }
}

describe('record checks', () => {
  it('report exactly the records that differ, answered by the worker and the calling thread', async () => {
    const { reported, counts, threaded } = await run();
    expect(threaded).toBe(true);
    expect(reported).toEqual(expectedMismatches());
    expect(counts.worker + counts.here + counts.redone).toBe(N + 5);
    expect(counts.worker).toBeGreaterThan(0);
  });

  it('answer a check, and every one before it, when settled through its chunk', async () => {
    const reported = new Set<number>();
    const checks = await RecordChecks.start(storage, dir, ['check-a', 'check-b'], (_db, key) => void reported.add(key[2] as number));
    const bad = (i: number) => i % 997 === 5;
    try {
      storage.root.transactionSync(() => {
        for (let i = 0; i < N; i++) {
          checks.check(i % 2 ? 0 : 1, keyOf(i), bad(i) ? new Uint8Array([9, ...valueOf(i)]) : valueOf(i));
          if (bad(i)) {
            checks.settle(checks.lastChunk);
            expect(reported.has(i), `check ${i}`).toBe(true);
          }
        }
        checks.settle();
      });
      // Settled this often, the calling thread takes most chunks before the worker starts them.
      expect(checks.counts.worker + checks.counts.here + checks.counts.redone).toBe(N);
    } finally {
      await checks.close();
    }
    expect([...reported].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i).filter(bad));
  });

  it('report the same once the worker is gone: the calling thread answers what it left', async () => {
    const { reported, counts } = await run((checks) => checks.stopWorker());
    expect(reported).toEqual(expectedMismatches());
    expect(counts.worker).toBe(0);
    expect(counts.here + counts.redone).toBe(N + 5);
  });
});
