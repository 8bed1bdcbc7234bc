/**
 * `tally serve [--data DIR] [--port N] [--host H]`; env `TALLY_DATA`,
 * `PORT`, `HOST`; defaults `./tally-data`, 8080, 127.0.0.1.
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
    .action(async (o: { data: string; port: string; host: string; quiet?: boolean }) => {
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
      });
    });
}
