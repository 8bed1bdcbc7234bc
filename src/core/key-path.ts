/**
 * Block keys in URL paths. Most keys travel as one percent-encoded path
 * segment (`/blocks/user:alice@corp.com`). Two cannot: URL parsers treat
 * `.` and `..` (even as `%2E`) as dot segments and remove them. Such keys —
 * and, so the escape is unambiguous, every key starting with `~` — travel as
 * `~` followed by the base64url of their UTF-8 bytes.
 */
import { fromBase64, fromUtf8, isWellFormed, toBase64, utf8 } from './bytes.js';

/** True when a key must use the `~` escape in a path. */
export function needsEscape(key: string): boolean {
  return key === '.' || key === '..' || key.startsWith('~');
}

/** The path segment of a key (percent-encoded, or escaped). */
export function encodeKeySegment(key: string): string {
  if (!needsEscape(key)) return encodeURIComponent(key);
  return '~' + toBase64(utf8(key)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * The key of an already percent-decoded path segment.
 * @throws Error when a `~` segment is not valid base64url of UTF-8.
 */
export function decodeKeySegment(segment: string): string {
  if (!segment.startsWith('~')) return segment;
  let b64 = segment.slice(1).replace(/-/g, '+').replace(/_/g, '/');
  while (b64.length % 4) b64 += '=';
  const key = fromUtf8(fromBase64(b64));
  if (!isWellFormed(key)) throw new Error('escaped key is not valid UTF-8');
  return key;
}
