/**
 * C2SP tlog-checkpoint bodies (c2sp.org/tlog-checkpoint): the note text
 * `origin\nsize\nbase64(root)\n`. Tally emits no extension lines (the spec
 * does not recommend them); the parser accepts non-empty ones and keeps them.
 * Parsing is strict — decimal without leading zeros, canonical base64 of
 * exactly 32 bytes — so one tree head has one text and one signature.
 */
import { fromBase64, toBase64 } from './bytes.js';
import { badRequest } from './errors.js';
import { HASH_LENGTH } from './hash.js';

/** A tree head. */
export interface Checkpoint {
  /** The log's identity: `<node name>/<tenant>` for Tally. */
  readonly origin: string;
  readonly size: number;
  readonly root: Uint8Array;
  readonly extensions: readonly string[];
}

/** True when `origin` can be a checkpoint origin line: non-empty printable text without whitespace. */
export function isValidOrigin(origin: string): boolean {
  return origin.length > 0 && origin.length <= 512 && /^[\x21-\x7e]+$/.test(origin);
}

/** The note text of a checkpoint. */
export function formatCheckpoint(cp: Checkpoint): string {
  if (!isValidOrigin(cp.origin)) throw new Error(`invalid checkpoint origin ${JSON.stringify(cp.origin)}`);
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) throw new Error(`invalid tree size ${cp.size}`);
  if (cp.root.length !== HASH_LENGTH) throw new Error('a root hash is 32 bytes');
  let text = `${cp.origin}\n${cp.size}\n${toBase64(cp.root)}\n`;
  for (const ext of cp.extensions) {
    if (ext.length === 0 || ext.includes('\n')) throw new Error('extension lines are non-empty single lines');
    text += ext + '\n';
  }
  return text;
}

/**
 * Parses checkpoint note text.
 * @throws TallyError `bad_request` with a plain sentence when the text is not a valid checkpoint.
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw badRequest('checkpoint text does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw badRequest('checkpoint has fewer than three lines');
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (!isValidOrigin(origin)) throw badRequest('checkpoint origin is empty or has whitespace');
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    throw badRequest('checkpoint tree size is not a canonical decimal number');
  }
  let root: Uint8Array;
  try {
    root = fromBase64(rootText);
  } catch {
    throw badRequest('checkpoint root is not valid base64');
  }
  if (root.length !== HASH_LENGTH) throw badRequest('checkpoint root is not 32 bytes');
  if (extensions.some((e) => e.length === 0)) throw badRequest('checkpoint has an empty extension line');
  return { origin, size: Number(sizeText), root, extensions };
}
