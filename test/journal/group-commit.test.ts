/**
 * Group commit against a fake transactor that records what happens in which
 * transaction and lets the test decide when a commit fails.
 */
import { describe, expect, it } from 'vitest';
import { TallyError } from '../../src/core/errors.js';
import { GroupCommit, MAX_BATCH, type Transactor } from '../../src/journal/group-commit.js';

class FakeTransactor implements Transactor {
  /** Per transaction: the log lines written inside it; only committed ones are kept. */
  readonly committedTxns: string[][] = [];
  private current: string[] | undefined;
  failNextCommit = false;

  transactionSync<T>(fn: () => T): T {
    this.current = [];
    try {
      const out = fn();
      if (this.failNextCommit) {
        this.failNextCommit = false;
        throw new Error('MDB_MAP_FULL: Environment mapsize limit reached');
      }
      this.committedTxns.push(this.current);
      return out;
    } finally {
      this.current = undefined;
    }
  }

  write(line: string): void {
    if (!this.current) throw new Error('write outside a transaction');
    this.current.push(line);
  }
}

function queue(txn: FakeTransactor) {
  const finished: string[][] = [];
  /** Per acknowledgement: the value, and whether its transaction had committed by then. */
  const acked: { value: string; committed: boolean }[] = [];
  const gc = new GroupCommit<string, string>(txn, {
    begin: () => txn.write('begin'),
    finish: (results) => {
      txn.write('finish');
      finished.push(results.map((r) => (r.ok ? r.value : 'rejected')));
    },
    acknowledge: (value) => {
      acked.push({ value, committed: txn.committedTxns.some((t) => t.includes(value)) });
      return `ack:${value}`;
    },
  });
  return { gc, finished, acked };
}

describe('group commit', () => {
  it('puts the requests of one event-loop turn into one transaction, in order', async () => {
    const txn = new FakeTransactor();
    const { gc } = queue(txn);
    const acks = await Promise.all(['a', 'b', 'c'].map((v) => gc.submit({ run: () => (txn.write(v), v) })));
    expect(acks).toEqual(['ack:a', 'ack:b', 'ack:c']);
    expect(txn.committedTxns).toEqual([['begin', 'a', 'b', 'c', 'finish']]);
    const later = await gc.submit({ run: () => (txn.write('d'), 'd') });
    expect(later).toBe('ack:d');
    expect(txn.committedTxns).toHaveLength(2);
  });

  it(`splits a queue longer than ${MAX_BATCH} requests into several transactions`, async () => {
    const txn = new FakeTransactor();
    const { gc } = queue(txn);
    const n = MAX_BATCH * 2 + 5;
    await Promise.all(Array.from({ length: n }, (_, i) => gc.submit({ run: () => (txn.write(String(i)), String(i)) })));
    expect(txn.committedTxns.map((t) => t.length - 2)).toEqual([MAX_BATCH, MAX_BATCH, 5]);
  });

  it('rejects only the request that throws a TallyError; the rest of the batch commits', async () => {
    const txn = new FakeTransactor();
    const { gc, finished } = queue(txn);
    const outcomes = await Promise.allSettled([
      gc.submit({ run: () => (txn.write('a'), 'a') }),
      gc.submit({
        run: () => {
          throw new TallyError('conflict', 'stale');
        },
      }),
      gc.submit({ run: () => (txn.write('c'), 'c') }),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(((outcomes[1] as PromiseRejectedResult).reason as TallyError).code).toBe('conflict');
    expect(finished).toEqual([['a', 'rejected', 'c']]);
    expect(txn.committedTxns).toEqual([['begin', 'a', 'c', 'finish']]);
  });

  it('aborts the whole batch on an unexpected error, rejecting every request with internal_error', async () => {
    const txn = new FakeTransactor();
    const { gc } = queue(txn);
    const outcomes = await Promise.allSettled([
      gc.submit({ run: () => (txn.write('a'), 'a') }),
      gc.submit({
        run: () => {
          throw new TypeError('a bug');
        },
      }),
    ]);
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as TallyError).code : 'ok'))).toEqual(['internal_error', 'internal_error']);
    expect(txn.committedTxns).toEqual([]);
    // The queue keeps working after an aborted batch.
    await expect(gc.submit({ run: () => (txn.write('b'), 'b') })).resolves.toBe('ack:b');
  });

  it('maps a failed commit to storage_full when the message says so', async () => {
    const txn = new FakeTransactor();
    const { gc } = queue(txn);
    txn.failNextCommit = true;
    const outcomes = await Promise.allSettled([gc.submit({ run: () => 'a' }), gc.submit({ run: () => 'b' })]);
    expect(outcomes.map((o) => (o.status === 'rejected' ? (o.reason as TallyError).code : 'ok'))).toEqual(['storage_full', 'storage_full']);
  });

  it('acknowledges a request only once its transaction has committed, and nothing of a batch whose commit fails', async () => {
    const txn = new FakeTransactor();
    const { gc, acked } = queue(txn);
    await Promise.all(['a', 'b'].map((v) => gc.submit({ run: () => (txn.write(v), v) })));
    expect(acked).toEqual([
      { value: 'a', committed: true },
      { value: 'b', committed: true },
    ]);
    txn.failNextCommit = true;
    const failed = await Promise.allSettled(['c', 'd'].map((v) => gc.submit({ run: () => (txn.write(v), v) })));
    expect(failed.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(acked.map((a) => a.value)).toEqual(['a', 'b']);
  });

  it('close() waits for what is queued, then refuses new work', async () => {
    const txn = new FakeTransactor();
    const { gc } = queue(txn);
    const p = gc.submit({ run: () => (txn.write('a'), 'a') });
    await gc.close();
    await expect(p).resolves.toBe('ack:a');
    expect(txn.committedTxns).toHaveLength(1);
    await expect(gc.submit({ run: () => 'b' })).rejects.toMatchObject({ code: 'closed' });
  });
});
