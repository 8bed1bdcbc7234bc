/**
 * Bundles on disk: writing the export stream to a file with backpressure,
 * and reading a file back as lines — both in constant memory.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

/** Writes an async stream of text chunks to `path`, honouring backpressure. */
export async function writeLines(path: string, chunks: AsyncIterable<string>): Promise<void> {
  const out = createWriteStream(path);
  try {
    for await (const chunk of chunks) {
      if (!out.write(chunk)) await once(out, 'drain');
    }
  } finally {
    out.end();
    await once(out, 'close');
  }
}

/** The lines of a file, streamed. */
export function readLines(path: string): AsyncIterable<string> {
  return createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
}
