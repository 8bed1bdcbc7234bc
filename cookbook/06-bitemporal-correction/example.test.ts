import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/tmpdir.js';
import { main } from './example.js';

describe('recipe 06: a retroactive, then corrected, fact', () => {
  it('answers what was true then, as known then and as known now', async () => {
    const r = await main(tempDir());
    expect(r.seqs).toEqual([0, 1, 2]);
    expect(r.answers).toEqual({
      april_asKnownInMay: 5000, // a later write never changes an earlier asOf answer
      april_asKnownAfterRaise: 5500,
      april_asKnownNow: 5600, // equal validFrom: the later seq wins
      february_asKnownNow: 5000,
      lastDecember: 'not_found',
      today: { monthly: 5600 },
    });
    expect(r.history).toEqual([
      { seq: 2, written: '2026-09-01', validFrom: '2026-03-01', data: { monthly: 5600 } },
      { seq: 1, written: '2026-06-01', validFrom: '2026-03-01', data: { monthly: 5500 } },
      { seq: 0, written: '2026-01-01', validFrom: '2026-01-01', data: { monthly: 5000 } },
    ]);
  });

  it('the tempting move — a plain overwrite of a late fact — leaves the past wrong', async () => {
    const r = await main(tempDir());
    expect(r.naiveApril).toBe(5000);
    expect(r.answers.april_asKnownNow).not.toBe(r.naiveApril);
  });
});
