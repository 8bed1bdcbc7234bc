/**
 * Recipe 08: safe concurrent writes and safe retries.
 * - `ifVersion: n` — optimistic concurrency: the write happens only if the
 *   block's version is still the one you read; otherwise `conflict` (REST:
 *   409 for a body `ifVersion`, 412 for an `If-Match` header).
 * - `ifVersion: 'absent'` — create-only (REST: `If-None-Match: *`).
 * - `idempotencyKey` — a retry after a timeout returns the original receipt
 *   and appends nothing (REST: the `Idempotency-Key` header).
 */
import { Tally, TallyError, type TenantHandle } from '../../src/index.js';
import { runIfMain } from '../run-main.js';

const codeOf = (err: unknown) => (err instanceof TallyError ? err.code : String(err));

/** Adds 1 to a counter with read-modify-write, retrying on conflict when `guarded`. */
async function increment(t: TenantHandle, key: string, guarded: boolean): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const b = await t.get(key);
    try {
      await t.set(key, (b.data as number) + 1, guarded ? { ifVersion: b.version } : {});
      return attempt;
    } catch (err) {
      if (!guarded || codeOf(err) !== 'conflict' || attempt === 10) throw err;
    }
  }
}

export async function main(dir: string, say: (line: string) => void = () => {}) {
  const db = await Tally.open(dir);
  try {
    const t = db.tenant('acme');

    // Optimistic concurrency: two editors read version v, both write with ifVersion v; one wins.
    const { version } = await t.set('doc:readme', { text: 'v1' });
    const edits = await Promise.allSettled([t.set('doc:readme', { text: 'edit A' }, { ifVersion: version }), t.set('doc:readme', { text: 'edit B' }, { ifVersion: version })]);
    const outcome = edits.map((e) => (e.status === 'fulfilled' ? 'ok' : codeOf(e.reason)));
    say(`two edits of version ${version} → ${outcome.join(', ')}; now ${JSON.stringify((await t.get('doc:readme')).data)}`);

    // Create-only: the second registration of the same username is refused.
    await t.set('username:alice', { owner: 'user-1' }, { ifVersion: 'absent' });
    const second = await t.set('username:alice', { owner: 'user-2' }, { ifVersion: 'absent' }).then(() => 'ok', codeOf);
    say(`create-only twice → ok, ${second}`);

    // Idempotent retry: same key, same request → same receipt, nothing appended.
    const before = (await t.events({ limit: 1000 })).events.length;
    const first = await t.set('payment:p-981', { amount: 4200, to: 'ACME' }, { idempotencyKey: 'pay-p-981' });
    const retry = await t.set('payment:p-981', { amount: 4200, to: 'ACME' }, { idempotencyKey: 'pay-p-981' });
    const appended = (await t.events({ limit: 1000 })).events.length - before;
    // The same key reused for a different request is a client bug, refused.
    const misuse = await t.set('payment:p-981', { amount: 9999, to: 'ACME' }, { idempotencyKey: 'pay-p-981' }).then(() => 'ok', codeOf);
    say(`retry → version ${retry.version} (first ${first.version}), ${appended} event appended; reused for other data → ${misuse}`);

    // The tempting move: read-modify-write without ifVersion. Two concurrent increments, one is lost.
    await t.set('counter:naive', 0);
    await Promise.all([increment(t, 'counter:naive', false), increment(t, 'counter:naive', false)]);
    await t.set('counter:guarded', 0);
    const attempts = await Promise.all([increment(t, 'counter:guarded', true), increment(t, 'counter:guarded', true)]);
    const naive = (await t.get('counter:naive')).data;
    const guarded = (await t.get('counter:guarded')).data;
    say(`two concurrent increments: without ifVersion → ${naive}; with ifVersion and retry → ${guarded} (attempts ${attempts.join(', ')})`);

    return { outcome, winner: (await t.get('doc:readme')).data, second, first, retry, appended, misuse, naive, guarded, attempts };
  } finally {
    await db.close();
  }
}

await runIfMain(import.meta.url, main);
