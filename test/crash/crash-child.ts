/**
 * The process `crash.test.ts` kills. It opens a Tally data directory,
 * serves it over HTTP in the same process, and runs writers concurrently
 * through the library (tenant handles) and through HTTP (fetch to its own
 * server) until it is killed with SIGKILL.
 *
 * Every acknowledged write is reported as one JSON line appended to the ack
 * file (argv[3]) with a synchronous write, strictly after the receipt was
 * delivered (the library promise resolved, or the HTTP answer arrived). A
 * line without its newline is torn and does not count. It loads its modules,
 * waits for `go` on stdin (the parent has closed the directory by then), and
 * prints `ready` on stdout once the server and tokens are set up.
 *
 * Usage: node --import tsx test/crash/crash-child.ts DATA_DIR ACK_FILE CYCLE
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { ReceiptJson } from '../../src/core/receipt.js';
import { buildServer } from '../../src/server/app.js';
import { Tokens } from '../../src/server/tokens.js';
import { Tally } from '../../src/store/tally.js';
import type { BatchOp } from '../../src/store/write-plan.js';

/** Tenants written concurrently by both paths. */
export const CRASH_TENANTS = ['crash-a', 'crash-b', 'crash-c'];
const LIB_WRITERS = 6;
const HTTP_WRITERS = 6;
/** Keys per writer: small, so sets overwrite and deletes find blocks. */
const KEYS_PER_WRITER = 24;

/** What a write asked for, one per receipt, so the parent checks the receipt proves exactly that. */
export type Expected = { op: 'set'; key: string; data: unknown } | { op: 'delete'; key: string } | { op: 'log'; key: string; data: unknown };

/** One ack line. */
export interface AckLine {
  via: 'lib' | 'http';
  call: 'set' | 'delete' | 'log' | 'batch';
  tenant: string;
  expected: Expected[];
  receipts: ReceiptJson[];
}

const [dir, ackPath, cycleArg] = process.argv.slice(2);
if (!dir || !ackPath) {
  process.stderr.write('usage: crash-child.ts DATA_DIR ACK_FILE CYCLE\n');
  process.exit(2);
}
const cycle = Number(cycleArg ?? 0);

const ackFd = openSync(ackPath, 'a');
/** Reports an acknowledged write: one line, one write(2), after the receipt arrived. */
function ack(line: AckLine): void {
  writeSync(ackFd, JSON.stringify(line) + '\n');
}

function fail(where: string, err: unknown): never {
  process.stderr.write(`crash-child: ${where}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}

const rand = (n: number) => Math.floor(Math.random() * n);
const pad = () => 'x'.repeat(rand(160));

/** One writer: sequential writes on its own keys of one tenant, through a `send` function. */
async function writer(via: 'lib' | 'http', id: number, tenant: string, send: (call: AckLine['call'], args: Op) => Promise<ReceiptJson[]>): Promise<never> {
  const live = new Set<string>(); // keys this writer set (and did not delete) in this run: deletes never miss
  let n = 0;
  const key = () => `${via}${id}:${rand(KEYS_PER_WRITER)}`;
  const data = () => ({ via, w: id, cycle, n: n++, pad: pad() });
  for (;;) {
    const dice = rand(100);
    let call: AckLine['call'];
    let expected: Expected[];
    let op: Op;
    if (dice < 50) {
      const k = key();
      const d = data();
      call = 'set';
      op = { op: 'set', key: k, data: d };
      expected = [{ op: 'set', key: k, data: d }];
    } else if (dice < 62 && live.size > 0) {
      const k = [...live][rand(live.size)]!;
      call = 'delete';
      op = { op: 'delete', key: k };
      expected = [{ op: 'delete', key: k }];
    } else if (dice < 80) {
      const kind = `crash.${via}.w${id}`;
      const d = data();
      call = 'log';
      op = { op: 'log', kind, details: d };
      expected = [{ op: 'log', key: kind, data: d }];
    } else {
      // A batch of 2..6 ops on distinct keys (a delete only of a key live before the batch).
      const ops: BatchOp[] = [];
      expected = [];
      const used = new Set<string>();
      for (let i = 0, m = 2 + rand(5); i < m; i++) {
        const r = rand(10);
        if (r < 2) {
          const kind = `crash.batch.w${id}`;
          const d = data();
          ops.push({ op: 'log', kind, details: d });
          expected.push({ op: 'log', key: kind, data: d });
          continue;
        }
        const candidates = [...live].filter((k) => !used.has(k));
        if (r < 4 && candidates.length > 0) {
          const k = candidates[rand(candidates.length)]!;
          used.add(k);
          ops.push({ op: 'delete', key: k });
          expected.push({ op: 'delete', key: k });
          continue;
        }
        const k = key();
        if (used.has(k)) continue;
        used.add(k);
        const d = data();
        ops.push({ op: 'set', key: k, data: d });
        expected.push({ op: 'set', key: k, data: d });
      }
      call = 'batch';
      op = { op: 'batch', ops };
    }
    let receipts: ReceiptJson[];
    try {
      receipts = await send(call, op);
    } catch (err) {
      fail(`${via} writer ${id} ${call}`, err);
    }
    if (receipts.length !== expected.length) fail(`${via} writer ${id}`, new Error(`${receipts.length} receipts for ${expected.length} ops`));
    ack({ via, call, tenant, expected, receipts });
    for (const e of expected) {
      if (e.op === 'set') live.add(e.key);
      if (e.op === 'delete') live.delete(e.key);
    }
  }
}

type Op = BatchOp | { op: 'batch'; ops: BatchOp[] };

async function main(): Promise<void> {
  const db = await Tally.open(dir!);
  const app = await buildServer(db, { limits: { rateLimit: false } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  const tokens = new Tokens(db);
  const tokenOf = new Map<string, string>();
  for (const t of CRASH_TENANTS) {
    if (!db.journal.tenant(t)) await db.createTenant(t, { plan: 'unlimited' });
    tokenOf.set(t, (await tokens.create(t, { role: 'admin', label: `crash cycle ${cycle}` })).token);
  }

  const lib = (tenant: string) => {
    const h = db.tenant(tenant, { actor: 'crash-lib' });
    return async (_call: AckLine['call'], op: Op): Promise<ReceiptJson[]> => {
      switch (op.op) {
        case 'set':
          return [(await h.set(op.key, op.data)).receipt];
        case 'delete':
          return [(await h.delete(op.key)).receipt];
        case 'log':
          return [(await h.log(op.kind, op.details)).receipt];
        case 'batch':
          return (await h.batch(op.ops)).results.map((r) => r.receipt);
      }
    };
  };

  const http = (tenant: string) => {
    const headers = { authorization: `Bearer ${tokenOf.get(tenant)!}`, 'content-type': 'application/json' };
    const call = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
      const res = await fetch(url + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      return JSON.parse(text) as Record<string, unknown>;
    };
    const path = (key: string) => `/blocks/${encodeURIComponent(key)}`;
    return async (_call: AckLine['call'], op: Op): Promise<ReceiptJson[]> => {
      switch (op.op) {
        case 'set':
          return [(await call('PUT', path(op.key), { data: op.data })).receipt as ReceiptJson];
        case 'delete':
          return [(await call('DELETE', path(op.key))).receipt as ReceiptJson];
        case 'log':
          return [(await call('POST', '/events', { kind: op.kind, details: op.details })).receipt as ReceiptJson];
        case 'batch':
          return ((await call('POST', '/batch', { ops: op.ops })).results as { receipt: ReceiptJson }[]).map((r) => r.receipt);
      }
    };
  };

  process.stdout.write('ready\n');
  const writers: Promise<never>[] = [];
  for (let i = 0; i < LIB_WRITERS; i++) {
    const t = CRASH_TENANTS[i % CRASH_TENANTS.length]!;
    writers.push(writer('lib', i, t, lib(t)));
  }
  for (let i = 0; i < HTTP_WRITERS; i++) {
    const t = CRASH_TENANTS[i % CRASH_TENANTS.length]!;
    writers.push(writer('http', i, t, http(t)));
  }
  await Promise.all(writers);
  closeSync(ackFd);
}

// Modules load while the parent still checks the previous cycle; the data directory is opened only on `go`.
let input = '';
process.stdin.setEncoding('utf8').on('data', (d: string) => {
  input += d;
  if (input === 'go\n') main().catch((err) => fail('main', err));
});
process.stdin.on('end', () => {
  if (input !== 'go\n') process.exit(0); // the parent went away before saying go
});
