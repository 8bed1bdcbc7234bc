/**
 * Group commit against a fake transactor that records what happens in which
 * transaction and lets the test decide when a transaction fails and when
 * `flushed` resolves.
 */
import { describe, expect, it } from 'vitest';
import { TallyError } from '../../src/core/errors.js';
import { GroupCommit, MAX_BATCH, type Transactor } from '../../src/journal/group-commit.js';

class FakeTransactor implements Transactor {
  /** Per transaction: the log lines written inside it; only committed ones are kept. */
  readonly committedTxns: string[][] = [];
  private current: string[] | undefined;
  failNextCommit = false;
  private release: () => void = () => {};
  flushed: Promise<unknown> = Promise.resolve();
  readonly committed: Promise<unknown> = Promise.resolve();

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

  /** Makes `flushed` pending until {@link flush} is called. */
  holdFlush(): void {
    this.flushed = new Promise((r) => (this.release = () => r(undefined)));
  }

  flush(): void {
    this.release();
  }
}

function queue(txn: FakeTransactor) {
  const finished: string[][] = [];
  const gc = new GroupCommit<string, string>(txn, {
    begin: () => txn.write('begin'),
    finish: (results) => {
      txn.write('finish');
      finished.push(results.map((r) => (r.ok ? r.value : 'rejected')));
    },
    acknowledge: (value) => `ack:${value}`,
  });
  return { gc, finished };
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

  it('acknowledges nothing before `flushed` resolves, and close() waits for it', async () => {
    const txn = new FakeTransactor();
    const { gc } = queue(txn);
    txn.holdFlush();
    let acked = false;
    const p = gc.submit({ run: () => 'a' }).then((v) => ((acked = true), v));
    await new Promise((r) => setTimeout(r, 20));
    expect(txn.committedTxns).toHaveLength(1);
    expect(acked).toBe(false);
    let closed = false;
    const closing = gc.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(closed).toBe(false);
    txn.flush();
    await expect(p).resolves.toBe('ack:a');
    await closing;
    expect(closed).toBe(true);
    await expect(gc.submit({ run: () => 'b' })).rejects.toMatchObject({ code: 'closed' });
  });
});
