import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';

// The BatenBase curl examples, read from the seed at test time and run with curl
// verbatim but for the base URL and the token.
const seeds = join(dirname(fileURLToPath(import.meta.url)), '../../../shared/seeds');
const seedFile = readdirSync(seeds).find((f) => f.startsWith('001_'))!;
const text = readFileSync(join(seeds, seedFile), 'utf8');
// A command is a line starting with `curl` plus its backslash-continued lines.
const commands: string[] = [];
const lines = text.split('\n');
for (let i = 0; i < lines.length; i++) {
  if (!lines[i]!.startsWith('curl ')) continue;
  let cmd = lines[i]!;
  while (cmd.endsWith('\\') && i + 1 < lines.length) cmd += '\n' + lines[++i]!;
  commands.push(cmd);
}

let srv: TestServer;
let token: string;
beforeAll(async () => {
  srv = await startServer();
  token = await srv.tenant('dev', 'free');
});
afterAll(() => srv.close());

/**
 * Runs one seed command through bash with curl, after swapping base URL and
 * token. Asynchronously: the server answers from this same process.
 */
async function run(cmd: string): Promise<string> {
  const swapped = cmd.replaceAll('https://api.batenbase.com', srv.url).replaceAll('YOUR_TOKEN', token);
  const { stdout } = await promisify(execFile)('bash', ['-c', `${swapped} --silent --show-error --fail-with-body`], { encoding: 'utf8' });
  return stdout;
}

describe('seed curl examples', () => {
  it('finds the four curl examples in the seed', () => {
    expect(commands).toHaveLength(4);
  });

  it('runs them verbatim in order with the documented responses', async () => {
    const put = JSON.parse(await run(commands[0]!));
    expect(put).toMatchObject({ ok: true, key: 'user:alice@corp.com' });
    const get = JSON.parse(await run(commands[1]!));
    expect(get).toMatchObject({ key: 'user:alice@corp.com', v: 1, h: 0, data: { name: 'Alice', role: 'admin' } });
    expect(get.f).toBe(get.l);
    const list = JSON.parse(await run(commands[2]!));
    expect(list.blocks.map((b: { key: string }) => b.key)).toEqual(['user:alice@corp.com']);
    const ev = JSON.parse(await run(commands[3]!));
    expect(ev.ok).toBe(true);
    expect(ev.receipt.header).toMatchObject({ op: 'log', key: 'user.login' });
  });
});
