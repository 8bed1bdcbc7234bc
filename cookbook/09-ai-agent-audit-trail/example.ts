/**
 * Recipe 09: an audit trail of what an AI agent did. The agent acts through
 * its own handle — its id is the actor, with the write role only — so every
 * tool call it logs and every block it writes is signed as its own. An
 * auditor later rebuilds the run from `events({ kind })` and checks each step
 * against the receipt the agent runtime kept.
 */
import { isDeepStrictEqual } from 'node:util';
import { Tally, TallyError, type ReceiptJson } from '../../src/index.js';
import { verifyReceipt } from '../../src/verify.js';
import { runIfMain } from '../run-main.js';

const AGENT = 'agent:planner-7';

export async function main(dir: string, say: (line: string) => void = () => {}) {
  const db = await Tally.open(dir);
  try {
    // --- the agent runtime -----------------------------------------------------
    const agent = db.tenant('acme', { actor: AGENT, role: 'write', clearance: 1 });
    const receipts = new Map<number, ReceiptJson>(); // the run record: seq → receipt
    const keep = ({ receipt }: { receipt: ReceiptJson }) => void receipts.set(receipt.header.seq, receipt);

    const run = 'run-2026-0412';
    keep(await agent.log('agent.tool_call', { run, step: 1, tool: 'search_flights', args: { from: 'AMS', to: 'SFO', date: '2026-05-02' } }));
    keep(await agent.log('agent.tool_result', { run, step: 1, ok: true, summary: '3 flights, cheapest KL605 at 612 EUR' }));
    keep(await agent.log('agent.tool_call', { run, step: 2, tool: 'book_flight', args: { flight: 'KL605', passenger: 'user:alice' } }));
    keep(await agent.set('booking:KL605:alice', { flight: 'KL605', price: 612, currency: 'EUR', by: run }));
    keep(await agent.log('agent.tool_result', { run, step: 2, ok: true, summary: 'booked, PNR X7Q2L' }));
    // The agent cannot cover its tracks: erase and redact need the admin role.
    const eraseAttempt = await agent.erase('booking:KL605:alice', { reason: 'oops' }).then(() => 'ok', (e: TallyError) => e.code);

    // --- the auditor -------------------------------------------------------------
    const auditor = db.tenant('acme', { actor: 'auditor:jane', role: 'read', clearance: 1 });
    const calls = (await auditor.events({ kind: 'agent.tool_call' })).events;
    const writes = (await auditor.events({ kind: 'block.set' })).events.filter((e) => e.actor === AGENT);
    const key = db.verifierKey();
    const checked = [...calls, ...writes].map((e) => {
      const v = verifyReceipt(receipts.get(e.seq), [key]);
      // The receipt's verdict carries the actor and the data from the signed, hashed event.
      const matches = v.ok && v.actor === e.actor && isDeepStrictEqual(v.data, e.details);
      return { seq: e.seq, kind: e.kind, actor: e.actor, verified: v.ok, matches };
    });
    for (const c of checked) say(`seq ${c.seq} ${c.kind} by ${c.actor}: receipt ${c.verified ? 'verified' : 'REJECTED'}, ${c.matches ? 'matches the trail' : 'DIFFERS'}`);
    say(`agent tried to erase its booking → ${eraseAttempt}`);

    // The actor is a header field: rewriting "who did it" breaks the receipt.
    const first = receipts.get(calls[0]!.seq)!;
    const blamed = verifyReceipt({ ...first, header: { ...first.header, actor: 'user:alice' } }, [key]);
    say(`receipt with the actor rewritten to user:alice → ${blamed.ok ? 'ok?!' : blamed.code}`);

    // The tempting move: run the agent through the application's own admin handle and put its name in
    // the details. The signed actor is then "admin" — the agent's acts look like the app's — and it may erase.
    const app = db.tenant('acme');
    const naive = await app.log('agent.tool_call', { agent: AGENT, run, step: 3, tool: 'cancel_flight' });
    const naiveVerdict = verifyReceipt(naive.receipt, [key]);
    say(`via the app's admin handle, the signed actor is "${naiveVerdict.ok ? naiveVerdict.actor : '?'}"`);

    return { calls, writes, checked, eraseAttempt, blamed, naiveActor: naiveVerdict.ok ? naiveVerdict.actor : null };
  } finally {
    await db.close();
  }
}

await runIfMain(import.meta.url, main);
