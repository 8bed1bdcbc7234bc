/**
 * Recipe 02: the REST server, driven with curl. Starts `serve()` (what
 * `tally serve` / `npm start` runs) in-process on a free port, creates a
 * tenant through the node admin API, then runs real curl commands.
 * curl runs as a child process through the async execFile: a synchronous
 * call would block the event loop the server answers on.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { serve } from '../../src/server/serve.js';
import { runIfMain } from '../run-main.js';

const run = promisify(execFile);

/** Runs curl; returns the HTTP status and the parsed JSON body. */
async function curl(...args: string[]): Promise<{ status: number; body: any }> {
  // -w appends the status on its own line after the body.
  const { stdout } = await run('curl', ['-sS', '-w', '\n%{http_code}', ...args]);
  const cut = stdout.lastIndexOf('\n');
  const text = stdout.slice(0, cut);
  return { status: Number(stdout.slice(cut + 1)), body: text ? JSON.parse(text) : null };
}

export async function main(dir: string, say: (line: string) => void = () => {}) {
  const printed: string[] = [];
  // signals: false — the embedding process owns SIGINT/SIGTERM; we close it ourselves.
  const server = await serve({ dataDir: dir, port: 0, host: '127.0.0.1', signals: false, print: (line) => printed.push(line) });
  try {
    for (const line of printed) say(line);
    // The first start prints the node admin token and tenant "dev"'s admin token, once.
    const nodeAdmin = /node admin token \(shown once\): (\S+)/.exec(printed.join('\n'))![1]!;
    const url = server.url;

    // A tenant and its first admin token, through the node admin API.
    const created = await curl('-X', 'POST', `${url}/admin/tenants`, '-H', `Authorization: Bearer ${nodeAdmin}`, '-H', 'Content-Type: application/json', '-d', '{"name": "acme", "plan": "pro"}');
    const auth = `Authorization: Bearer ${created.body.token}`;
    say(`POST /admin/tenants → ${created.status} tenant ${created.body.tenant} plan ${created.body.plan}`);
    // A second, read-only token for a dashboard (tokens are shown once and stored hashed).
    const reader = await curl('-X', 'POST', `${url}/admin/tokens`, '-H', `Authorization: Bearer ${nodeAdmin}`, '-d', '{"tenant": "acme", "role": "read", "clearance": 1, "label": "dashboard"}');
    const readAuth = `Authorization: Bearer ${reader.body.token}`;
    say(`POST /admin/tokens → ${reader.status} token ${reader.body.id} (${reader.body.role}, clearance ${reader.body.clearance})`);

    // The BatenBase calls.
    const put = await curl('-X', 'PUT', `${url}/blocks/user:alice@corp.com`, '-H', auth, '-H', 'Content-Type: application/json', '-d', '{"data": {"name": "Alice", "role": "admin"}}');
    await curl('-X', 'PUT', `${url}/blocks/user:bob@corp.com`, '-H', auth, '-d', '{"data": {"name": "Bob"}}');
    const logged = await curl('-X', 'POST', `${url}/events`, '-H', auth, '-d', '{"kind": "user.login", "details": {"email": "alice@corp.com"}}');
    const get = await curl(`${url}/blocks/user:alice@corp.com`, '-H', auth);
    const list = await curl(`${url}/blocks?prefix=user:`, '-H', readAuth);
    const readerPut = await curl('-X', 'PUT', `${url}/blocks/user:mallory@corp.com`, '-H', readAuth, '-d', '{"data": {}}');
    const events = await curl(`${url}/events?kind=user.login`, '-H', auth);
    const missing = await curl(`${url}/blocks/user:carol@corp.com`, '-H', auth);
    const noToken = await curl(`${url}/blocks/user:alice@corp.com`);
    const keys = await curl(`${url}/keys`, '-H', auth);
    // Keys travel URL-encoded: "report/2026?draft" must be sent as report%2F2026%3Fdraft.
    const rawKey = await curl('-X', 'PUT', `${url}/blocks/report/2026?draft`, '-H', auth, '-d', '{"data": 1}');
    const encodedKey = await curl('-X', 'PUT', `${url}/blocks/${encodeURIComponent('report/2026?draft')}`, '-H', auth, '-d', '{"data": 1}');
    say(`PUT → ${put.status} version ${put.body.version}, receipt for seq ${put.body.receipt.header.seq}`);
    say(`GET → ${get.status} ${JSON.stringify(get.body)}`);
    say(`GET /blocks?prefix=user: → ${list.body.blocks.map((b: { key: string }) => b.key).join(', ')}`);
    say(`GET /events?kind=user.login → ${JSON.stringify(events.body.events)}`);
    say(`PUT with the read token → ${readerPut.status} ${JSON.stringify(readerPut.body)}`);
    say(`GET a missing block → ${missing.status} ${JSON.stringify(missing.body)}`);
    say(`GET without a token → ${noToken.status} ${JSON.stringify(noToken.body)}`);
    say(`PUT /blocks/report/2026?draft (raw key) → ${rawKey.status} ${JSON.stringify(rawKey.body)}`);
    say(`PUT /blocks/report%2F2026%3Fdraft → ${encodedKey.status} key ${JSON.stringify(encodedKey.body.key)}`);

    return { printed, url, created, reader, readerPut, put, logged, get, list, events, missing, noToken, keys, rawKey, encodedKey, verifierKey: server.db.verifierKey() };
  } finally {
    await server.close(); // stop accepting, finish in-flight requests, close LMDB
  }
}

await runIfMain(import.meta.url, main);
