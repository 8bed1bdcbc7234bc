/**
 * C2SP tlog-checkpoint bodies: strict parsing (one text per tree head) and
 * formatting, including the spec's own example.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatCheckpoint, isValidOrigin, parseCheckpoint, type Checkpoint } from '../../src/core/checkpoint.js';
import { seedSigner, signNote, verifierKeyOf, verifyNote } from '../../src/core/note.js';

const toB64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

const ROOT_B64 = 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=';
const C2SP_EXAMPLE = `example.com/behind-the-sofa\n20852163\n${ROOT_B64}\n`;

const originArb = fc.stringMatching(/^[\x21-\x7e]{1,60}$/);
const extensionArb = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\n'));
const checkpointArb = fc.record({
  origin: originArb,
  size: fc.oneof(fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.constant(Number.MAX_SAFE_INTEGER)),
  root: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  extensions: fc.array(extensionArb, { maxLength: 3 }),
});

describe('parseCheckpoint', () => {
  it('parses the C2SP tlog-checkpoint example', () => {
    const cp = parseCheckpoint(C2SP_EXAMPLE);
    expect(cp.origin).toBe('example.com/behind-the-sofa');
    expect(cp.size).toBe(20852163);
    expect(cp.root).toEqual(b64(ROOT_B64));
    expect(cp.extensions).toEqual([]);
    expect(formatCheckpoint(cp)).toBe(C2SP_EXAMPLE);
  });

  it('keeps non-empty extension lines in order', () => {
    const cp = parseCheckpoint(`${C2SP_EXAMPLE}ext one\next two\n`);
    expect(cp.extensions).toEqual(['ext one', 'ext two']);
    expect(formatCheckpoint(cp)).toBe(`${C2SP_EXAMPLE}ext one\next two\n`);
  });

  it('accepts size 0 and 2^53 - 1', () => {
    expect(parseCheckpoint(`o\n0\n${ROOT_B64}\n`).size).toBe(0);
    expect(parseCheckpoint(`o\n9007199254740991\n${ROOT_B64}\n`).size).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('round-trips formatCheckpoint -> parseCheckpoint -> formatCheckpoint', () => {
    fc.assert(
      fc.property(checkpointArb, (cp: Checkpoint) => {
        const text = formatCheckpoint(cp);
        expect(text).toBe(`${cp.origin}\n${cp.size}\n${toB64(cp.root)}\n${cp.extensions.map((e) => e + '\n').join('')}`);
        const back = parseCheckpoint(text);
        expect(back).toEqual({ origin: cp.origin, size: cp.size, root: cp.root, extensions: cp.extensions });
        expect(formatCheckpoint(back)).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  const bad: [string, string][] = [
    ['a size with a leading zero', `o\n020852163\n${ROOT_B64}\n`],
    ['a size of "00"', `o\n00\n${ROOT_B64}\n`],
    ['a size of 2^53', `o\n9007199254740992\n${ROOT_B64}\n`],
    ['a size beyond 2^53 that rounds to a safe-looking double', `o\n9007199254740993\n${ROOT_B64}\n`],
    ['a size with 17 digits', `o\n12345678901234567\n${ROOT_B64}\n`],
    ['a negative size', `o\n-1\n${ROOT_B64}\n`],
    ['a size with a plus sign', `o\n+1\n${ROOT_B64}\n`],
    ['a size in exponent notation', `o\n1e3\n${ROOT_B64}\n`],
    ['a hexadecimal size', `o\n0x10\n${ROOT_B64}\n`],
    ['a size with a space', `o\n 1\n${ROOT_B64}\n`],
    ['an empty size', `o\n\n${ROOT_B64}\n`],
    ['a non-ASCII digit in the size', `o\n\u0661\n${ROOT_B64}\n`],
    ['a 31-byte root', `o\n1\n${toB64(new Uint8Array(31))}\n`],
    ['a 33-byte root', `o\n1\n${toB64(new Uint8Array(33))}\n`],
    ['an empty root', `o\n1\n\n`],
    ['a root in non-canonical base64 (non-zero trailing bits)', `o\n1\n${ROOT_B64.slice(0, -2)}J=\n`],
    ['an unpadded root', `o\n1\n${ROOT_B64.slice(0, -1)}\n`],
    ['a root in URL-safe base64', `o\n1\n${toB64(new Uint8Array(32).fill(0xfb)).replace(/\+/g, '-').replace(/\//g, '_')}\n`],
    ['a root in hex', `o\n1\n${'ab'.repeat(32)}\n`],
    ['an empty extension line', `${C2SP_EXAMPLE}\n`],
    ['an empty extension line between others', `${C2SP_EXAMPLE}a\n\nb\n`],
    ['an origin with a space', `example.com/behind the sofa\n1\n${ROOT_B64}\n`],
    ['an origin with a tab', `example.com\tx\n1\n${ROOT_B64}\n`],
    ['an empty origin', `\n1\n${ROOT_B64}\n`],
    ['a missing trailing newline', C2SP_EXAMPLE.slice(0, -1)],
    ['a CRLF line ending', C2SP_EXAMPLE.replace(/\n/g, '\r\n')],
    ['only two lines', `o\n1\n`],
    ['an empty text', ''],
  ];

  it.each(bad)('rejects %s', (_what, text) => {
    expect(text).not.toBe(C2SP_EXAMPLE);
    expect(() => parseCheckpoint(text)).toThrow();
  });
});

describe('formatCheckpoint', () => {
  const root = b64(ROOT_B64);
  const cases: [string, Checkpoint][] = [
    ['an origin with a space', { origin: 'a b', size: 1, root, extensions: [] }],
    ['an empty origin', { origin: '', size: 1, root, extensions: [] }],
    ['a negative size', { origin: 'o', size: -1, root, extensions: [] }],
    ['a fractional size', { origin: 'o', size: 1.5, root, extensions: [] }],
    ['a size of 2^53', { origin: 'o', size: 2 ** 53, root, extensions: [] }],
    ['a 31-byte root', { origin: 'o', size: 1, root: root.slice(1), extensions: [] }],
    ['an empty extension', { origin: 'o', size: 1, root, extensions: [''] }],
    ['a multi-line extension', { origin: 'o', size: 1, root, extensions: ['a\nb'] }],
  ];

  it.each(cases)('refuses %s', (_what, cp) => {
    expect(() => formatCheckpoint(cp)).toThrow();
  });

  it('isValidOrigin accepts printable ASCII without whitespace only', () => {
    expect(isValidOrigin('example.com/behind-the-sofa')).toBe(true);
    expect(isValidOrigin('a b')).toBe(false);
    expect(isValidOrigin('')).toBe(false);
    expect(isValidOrigin('x'.repeat(513))).toBe(false);
  });
});

describe('signed checkpoints', () => {
  it('signs a formatted checkpoint as a note that verifies and parses back', () => {
    const signer = seedSigner('example.com/behind-the-sofa', new Uint8Array(32).fill(5));
    const key = verifierKeyOf(signer.name, signer.publicKey);
    const note = signNote(C2SP_EXAMPLE, signer);
    const r = verifyNote(note, [key]);
    expect(r.ok).toBe(true);
    if (r.ok) expect(parseCheckpoint(r.text).size).toBe(20852163);
  });
});
