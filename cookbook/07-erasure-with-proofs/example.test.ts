import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/tmpdir.js';
import { main } from './example.js';

describe('recipe 07: erasure that keeps every proof', () => {
  it('erases every version: get is not_found, history keeps erased versions, earlier receipts and the journal still verify', async () => {
    const r = await main(tempDir());
    expect(r.erased.erased).toEqual([0, 1]);
    expect(r.getAfter).toBe('not_found');
    expect(r.history.map((v) => [v.seq, v.op, v.erased, v.data])).toEqual([
      [3, 'erase', false, null],
      [1, 'set', true, null],
      [0, 'set', true, null],
    ]);
    // Receipts kept from before the erasure still prove the exact data that was accepted.
    expect(r.kept).toMatchObject([
      { ok: true, seq: 0, payloadVerified: true, data: { email: 'alice@corp.com' } },
      { ok: true, seq: 1, payloadVerified: true, data: { email: 'alice@home.example' } },
    ]);
    // Receipts issued after it prove the versions existed, without the data.
    expect(r.fresh.map((v) => v.ok)).toEqual([true, true, true]);
    expect(r.fresh.slice(1)).toMatchObject([{ payloadVerified: false }, { payloadVerified: false }]);
    expect(r.journal).toMatchObject({ ok: true });
    expect(r.audit).toMatchObject({ ok: true, complete: true, events: 4, erasedPayloads: 2 });
  });

  it('the tempting moves: delete keeps the personal data in history; removing rows breaks the chain', async () => {
    const r = await main(tempDir());
    expect(r.afterDelete).toEqual([null, { name: 'Alice', email: 'alice@corp.com' }]);
    expect(r.gapAudit).toMatchObject({ ok: false, code: 'seq_gap' });
  });
});
