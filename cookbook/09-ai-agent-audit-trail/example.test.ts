import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/tmpdir.js';
import { main } from './example.js';

describe('recipe 09: an AI agent audit trail', () => {
  it("rebuilds the agent's run from events({ kind }) and verifies every step's receipt, actor included", async () => {
    const r = await main(tempDir());
    expect(r.calls.map((e) => [e.seq, e.actor, (e.details as { tool: string }).tool])).toEqual([
      [0, 'agent:planner-7', 'search_flights'],
      [2, 'agent:planner-7', 'book_flight'],
      // seq 5 is the naive call through the admin handle, made after the auditor read the trail
    ]);
    expect(r.writes).toMatchObject([{ seq: 3, kind: 'block.set', key: 'booking:KL605:alice', actor: 'agent:planner-7' }]);
    expect(r.checked).toEqual([
      { seq: 0, kind: 'agent.tool_call', actor: 'agent:planner-7', verified: true, matches: true },
      { seq: 2, kind: 'agent.tool_call', actor: 'agent:planner-7', verified: true, matches: true },
      { seq: 3, kind: 'block.set', actor: 'agent:planner-7', verified: true, matches: true },
    ]);
    expect(r.eraseAttempt).toBe('forbidden');
    // The actor is inside the hashed header the checkpoint signs over.
    expect(r.blamed).toMatchObject({ ok: false, code: 'header_hash_mismatch' });
  });

  it("the tempting move — the app's admin handle with the agent named in details — signs the acts as \"admin\"", async () => {
    const r = await main(tempDir());
    expect(r.naiveActor).toBe('admin');
  });
});
