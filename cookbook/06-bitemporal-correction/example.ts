/**
 * Recipe 06: a retroactive correction. A raise effective 1 March is recorded
 * only on 1 June, and its amount corrected on 1 September. Reads take two
 * points (docs/TIME.md): `validAt` — when it was true in the world — and
 * `asOf` — what the journal knew then. Payroll's April run can be explained
 * (what we knew), and back pay computed (what we know now).
 */
import { Tally } from '../../src/index.js';
import { runIfMain } from '../run-main.js';

const at = (iso: string) => Date.parse(iso);

export async function main(dir: string, say: (line: string) => void = () => {}) {
  let now = at('2026-01-01T09:00:00Z');
  const db = await Tally.open(dir, { now: () => now });
  try {
    const t = db.tenant('acme');
    const hired = await t.set('salary:alice', { monthly: 5000 }); // valid from now: 1 Jan
    now = at('2026-06-01T09:00:00Z');
    const raise = await t.set('salary:alice', { monthly: 5500 }, { validFrom: '2026-03-01' }); // written June, true since March
    now = at('2026-09-01T09:00:00Z');
    const fix = await t.set('salary:alice', { monthly: 5600 }, { validFrom: '2026-03-01' }); // same validFrom, later seq: a correction

    /** The salary valid at `validAt`, as known at `asOf` (default: now), or the error code. */
    const salary = async (validAt: string, asOf?: number | string) => {
      try {
        const b = await t.get('salary:alice', { validAt, ...(asOf !== undefined ? { asOf } : {}) });
        return (b.data as { monthly: number }).monthly;
      } catch (err) {
        return (err as { code: string }).code;
      }
    };
    const answers = {
      april_asKnownInMay: await salary('2026-04-01', '2026-05-01'), // what April's payroll run knew
      april_asKnownAfterRaise: await salary('2026-04-01', raise.version),
      april_asKnownNow: await salary('2026-04-01'), // for back pay
      february_asKnownNow: await salary('2026-02-15'), // before the raise: unchanged by it
      lastDecember: await salary('2025-12-31'), // before any fact
      today: (await t.get('salary:alice')).data,
    };
    for (const [q, a] of Object.entries(answers)) say(`${q} → ${JSON.stringify(a)}`);

    // History keeps every version with both times.
    const history = (await t.history('salary:alice')).versions.map((v) => ({ seq: v.seq, written: new Date(v.time).toISOString().slice(0, 10), validFrom: new Date(v.validFrom).toISOString().slice(0, 10), data: v.data }));
    for (const v of history) say(`history: seq ${v.seq} written ${v.written}, valid from ${v.validFrom}: ${JSON.stringify(v.data)}`);

    // The tempting move: record the late raise as a plain overwrite. It becomes valid from 1 June,
    // so "what was Alice paid in April?" still says 5000 and the back pay comes out as zero.
    now = at('2026-01-01T09:00:00Z');
    const naive = db.tenant('acme-naive');
    await naive.set('salary:alice', { monthly: 5000 });
    now = at('2026-06-01T09:00:00Z');
    await naive.set('salary:alice', { monthly: 5500 });
    const naiveApril = ((await naive.get('salary:alice', { validAt: '2026-04-01' })).data as { monthly: number }).monthly;
    say(`plain overwrite: April salary as known now → ${naiveApril}`);

    return { seqs: [hired.version, raise.version, fix.version], answers, history, naiveApril };
  } finally {
    await db.close();
  }
}

await runIfMain(import.meta.url, main);
