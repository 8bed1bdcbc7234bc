/**
 * Where the CLI finds the data directory: `--data DIR`, else `TALLY_DATA`,
 * else `./tally-data`.
 */

/** The default data directory. */
export function defaultDataDir(): string {
  return process.env['TALLY_DATA'] || './tally-data';
}
