/**
 * `tally serve [--data DIR] [--port N] [--host H] [--trust-proxy P]`; env
 * `TALLY_DATA`, `PORT`, `HOST`, `TALLY_TRUST_PROXY`; defaults `./tally-data`,
 * 8080, 127.0.0.1, no proxy trusted.
 */
import type { Command } from 'commander';
import { serve } from '../server/serve.js';
import { defaultDataDir } from './data-dir.js';

/** Registers `tally serve`. */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the REST server')
    .option('--data <dir>', 'data directory', defaultDataDir())
    .option('--port <n>', 'port', process.env['PORT'] || '8080')
    .option('--host <h>', 'host', process.env['HOST'] || '127.0.0.1')
    .option('--quiet', 'no request logs')
    .option('--trust-proxy <proxies>', 'behind a reverse proxy: the proxies to trust for X-Forwarded-For (addresses or CIDR ranges, comma-separated); per-address limits then count the client', process.env['TALLY_TRUST_PROXY'])
    .action(async (o: { data: string; port: string; host: string; quiet?: boolean; trustProxy?: string }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        process.stderr.write(`tally: --port must be 0..65535, got ${o.port}\n`);
        process.exit(2);
      }
      await serve({
        dataDir: o.data,
        port,
        host: o.host,
        logger: o.quiet ? false : { level: 'info', redact: ['req.headers.authorization'] },
        ...(o.trustProxy !== undefined ? { trustProxy: parseTrustProxy(o.trustProxy) } : {}),
      });
    });
}

/** `--trust-proxy`: comma-separated addresses and CIDR ranges. */
export function parseTrustProxy(value: string): string[] {
  return value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
}
