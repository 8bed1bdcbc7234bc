import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/tmpdir.js';
import { main } from './example.js';

describe('recipe 08: optimistic concurrency, create-only and idempotent retries', () => {
  it('lets exactly one of two writers of the same version win, and refuses a second create', async () => {
    const r = await main(tempDir());
    expect([...r.outcome].sort()).toEqual(['conflict', 'ok']);
    expect(r.winner).toEqual(r.outcome[0] === 'ok' ? { text: 'edit A' } : { text: 'edit B' });
    expect(r.second).toBe('conflict');
  });

  it('returns the original receipt for a retry with the same idempotency key and appends nothing', async () => {
    const r = await main(tempDir());
    expect(r.retry).toEqual(r.first);
    expect(r.retry.receipt).toEqual(r.first.receipt);
    expect(r.appended).toBe(1);
    expect(r.misuse).toBe('conflict');
  });

  it('the tempting move — read-modify-write without ifVersion — loses an update; with it, none is lost', async () => {
    const r = await main(tempDir());
    expect(r.naive).toBe(1);
    expect(r.guarded).toBe(2);
    expect([...r.attempts].sort()).toEqual([1, 2]);
  });
});
