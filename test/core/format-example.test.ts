import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { blake3 } from '@noble/hashes/blake3.js';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromHex, toHex, utf8 } from '../../src/core/bytes.js';
import { encodeData } from '../../src/core/codec.js';
import { decodeHeader, encodeHeader, ZERO_HASH, type EventHeader } from '../../src/core/event.js';
import { blake3Tree, eventHash, payloadCommitment } from '../../src/core/hash.js';
import { MemoryTree } from '../../src/core/merkle.js';
import { formatCheckpoint } from '../../src/core/checkpoint.js';
import { seedSigner, signNote, verifierKeyOf } from '../../src/core/note.js';
import { verifyReceipt } from '../../src/core/verify-receipt.js';

// docs/FORMAT.md's worked example, recomputed from its stated inputs: the doc cannot drift from the code.
const doc = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../docs/FORMAT.md'), 'utf8');
function example(name: string): string {
  const m = new RegExp(`<!-- example:${name} -->\\n\`\`\`(?:json)?\\n([\\s\\S]*?)\\n\`\`\``).exec(doc);
  if (!m) throw new Error(`docs/FORMAT.md has no example "${name}"`);
  return m[1]!;
}

describe('docs/FORMAT.md worked example', () => {
  const seed = Uint8Array.from({ length: 32 }, (_, i) => i);
  const salt = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
  const payload = encodeData({ name: 'Alice' });
  const signer = seedSigner('example.node', seed);
  const headers: EventHeader[] = [];
  const tree = new MemoryTree(blake3Tree);
  let prev: Uint8Array = ZERO_HASH;
  for (let seq = 0; seq < 3; seq++) {
    const h: EventHeader = { fmt: 1, journal: 'acme', seq, time: 1767225600000 + seq, op: 'set', key: `user:${['alice', 'bob', 'carol'][seq]}`, prev, keyPrev: null, payload: payloadCommitment(salt, payload), v: 1, validFrom: 1767225600000 + seq, actor: 'admin' };
    headers.push(h);
    prev = eventHash(encodeHeader(h));
    tree.push(blake3Tree.leaf(prev));
  }

  it('states the payload bytes', () => expect(toHex(payload)).toBe(example('payload')));
  it('states the header bytes of event 0, which decode back to the header', () => {
    expect(toHex(encodeHeader(headers[0]!))).toBe(example('header0'));
    expect(decodeHeader(fromHex(example('header0')))).toEqual(headers[0]);
  });
  it('states the event hash as BLAKE3 of the tag and the header', () => {
    const expected = toHex(blake3(concatBytes(utf8('tally/event/v1'), Uint8Array.of(0), fromHex(example('header0')))));
    expect(expected).toBe(example('hash0'));
    expect(toHex(eventHash(encodeHeader(headers[0]!)))).toBe(example('hash0'));
  });
  it('states the three-leaf root', () => expect(toHex(tree.root())).toBe(example('root3')));
  it('states the verifier key and the signed checkpoint', () => {
    expect(verifierKeyOf('example.node', signer.publicKey).text).toBe(example('vkey'));
    const note = signNote(formatCheckpoint({ origin: 'example.node/acme', size: 3, root: tree.root(), extensions: [] }), signer);
    expect(note).toBe(example('checkpoint') + '\n');
  });
  it('states a receipt that verifies with the stated key', () => {
    const verdict = verifyReceipt(JSON.parse(example('receipt')), [example('vkey')]);
    expect(verdict).toMatchObject({ ok: true, seq: 0, key: 'user:alice', treeSize: 3, payloadVerified: true, data: { name: 'Alice' } });
  });
});
