import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/tmpdir.js';
import { main } from './example.js';

const pairs = (blocks: { key: string; data: unknown }[]) => blocks.map((b) => [b.key, b.data]);

describe('recipe 05: replay a past state', () => {
  it('answers get, list, stateAt and `tally replay` as the journal knew it at a seq or an instant', async () => {
    const r = await main(tempDir());
    expect([r.widgetAtSeq0, r.widgetAtSeq2, r.widgetMidMay, r.widgetNow]).toEqual([10, 12, 10, 12]);
    expect(pairs(r.midJune)).toEqual([['price:gadget', 20], ['price:widget', 12]]);
    expect(pairs(r.endOfMay)).toEqual([['price:gadget', 20], ['price:widget', 10]]);
    // The version of a past block is the seq of its latest event at that point.
    expect(r.endOfMay.map((b) => b.version)).toEqual([1, 0]);
    expect(pairs(r.cliMidJune)).toEqual(pairs(r.midJune));
    expect(r.cliMidJune).toEqual(r.midJune);
    expect(r.cliSeq0).toBe('price:widget\tv1\tversion 0\t10\n');

    // The tempting move: today's blocks filtered by last-write time lose what changed or was deleted since.
    expect(pairs(r.today)).toEqual([['price:gizmo', 5], ['price:widget', 12]]);
    expect(r.naiveMidMay).toEqual([]);
    expect(pairs(r.replayMidMay)).toEqual([['price:gadget', 20], ['price:widget', 10]]);
  });
});
