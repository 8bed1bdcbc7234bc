/**
 * Recipe 05: what did the data look like at a past point? `get`/`list` take
 * `asOf` (a seq, inclusive, or a Date / ISO time), `stateAt` streams a whole
 * past state, and `tally replay` answers the same from the command line.
 * The clock is injected (`Tally.open(dir, { now })`) so the dates are exact;
 * in production transaction time is simply the time of the write.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Tally, type Block } from '../../src/index.js';
import { runIfMain } from '../run-main.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const at = (iso: string) => Date.parse(iso);
const show = (blocks: Block[]) => blocks.map((b) => `${b.key}=${JSON.stringify(b.data)}`).join(' ') || '(nothing)';

export async function main(dir: string, say: (line: string) => void = () => {}) {
  let now = at('2026-05-01T09:00:00Z');
  const db = await Tally.open(dir, { now: () => now });
  let result;
  try {
    const t = db.tenant('acme');
    const w0 = await t.set('price:widget', 10); // seq 0, 1 May
    await t.set('price:gadget', 20); // seq 1
    now = at('2026-06-01T09:00:00Z');
    const w2 = await t.set('price:widget', 12); // seq 2, 1 June
    now = at('2026-07-01T09:00:00Z');
    await t.delete('price:gadget'); // seq 3, 1 July
    await t.set('price:gizmo', 5); // seq 4

    // One key, at a seq or at an instant (the last event at or before it).
    const widgetAtSeq0 = (await t.get('price:widget', { asOf: w0.version })).data;
    const widgetAtSeq2 = (await t.get('price:widget', { asOf: w2.version })).data;
    const widgetMidMay = (await t.get('price:widget', { asOf: '2026-05-15' })).data;
    const widgetNow = (await t.get('price:widget')).data;
    say(`price:widget at seq 0 → ${widgetAtSeq0}, at seq 2 → ${widgetAtSeq2}, on 15 May → ${widgetMidMay}, now → ${widgetNow}`);

    // A prefix scan as of mid-June: the gadget, deleted in July, is still there.
    const midJune = (await t.list({ prefix: 'price:', asOf: '2026-06-15T00:00:00Z' })).blocks;
    say(`list price: as of 15 June → ${show(midJune)}`);

    // A whole past state, streamed in key order (constant memory, any size).
    const endOfMay: Block[] = [];
    for await (const b of t.stateAt(new Date('2026-05-31T23:59:59Z'))) endOfMay.push(b);
    say(`stateAt 31 May → ${show(endOfMay)}`);

    // The tempting move: filter today's state by last-write time. Blocks changed or deleted since vanish.
    const today = (await t.list({ prefix: 'price:' })).blocks;
    const naiveMidMay = today.filter((b) => b.l <= at('2026-05-15'));
    const replayMidMay = (await t.list({ prefix: 'price:', asOf: '2026-05-15' })).blocks;
    say(`15 May, by filtering today's blocks on l → ${show(naiveMidMay)}; replayed → ${show(replayMidMay)}`);

    result = { widgetAtSeq0, widgetAtSeq2, widgetMidMay, widgetNow, midJune, endOfMay, today, naiveMidMay, replayMidMay };
  } finally {
    await db.close();
  }

  // The same question from the command line, on the closed data directory.
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'replay', '--tenant', 'acme', '--as-of', '2026-06-15', '--data', dir, '--json']);
  const cliMidJune = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Block);
  say(`tally replay --as-of 2026-06-15 → ${show(cliMidJune)}`);
  const { stdout: bySeq } = await promisify(execFile)(process.execPath, [CLI, 'replay', '--tenant', 'acme', '--as-of', '0', '--data', dir]);
  say(`tally replay --as-of 0 →\n${bySeq.trimEnd()}`);
  return { ...result, cliMidJune, cliSeq0: bySeq };
}

await runIfMain(import.meta.url, main);
