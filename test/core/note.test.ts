/**
 * C2SP signed notes: key IDs, verifier key strings, signing and verification
 * rules, a known-answer test from golang.org/x/mod/sumdb/note, and Ed25519
 * signatures checked against node:crypto.
 */
import { createPrivateKey, createPublicKey, sign as nodeSign } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { publicKeyOf, signEd25519, verifyEd25519 } from '../../src/core/ed25519.js';
import {
  formatNote,
  keyIdOf,
  MAX_SIGNATURES,
  parseNote,
  parseVerifierKey,
  seedSigner,
  signNote,
  verifierKeyOf,
  verifyNote,
  type NoteResult,
} from '../../src/core/note.js';

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const toB64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const toHexStr = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

const seed = (n: number): Uint8Array => new Uint8Array(32).fill(n);

/** Key ID computed in the test: SHA-256(name || 0x0A || 0x01 || pub)[:4]. */
function expectedKeyId(name: string, pub: Uint8Array): Uint8Array {
  return sha256(Uint8Array.from([...utf8(name), 0x0a, 0x01, ...pub])).slice(0, 4);
}

/** A node:crypto Ed25519 private key from a raw 32-byte seed (PKCS#8 DER). */
function nodeKey(seedBytes: Uint8Array) {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seedBytes)]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

function code(r: NoteResult): string {
  return r.ok ? 'ok' : r.code;
}

// golang.org/x/mod/sumdb/note's documented example (note.go, note_test.go).
const GO_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const GO_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE =
  GO_TEXT + '\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
/** The Go private key's seed: its base64 (after the fourth '+', and itself containing '+') is 0x01 || seed. */
const GO_SEED = b64(GO_SKEY.split('+').slice(4).join('+')).slice(1);

const keyName = fc.stringMatching(/^[A-Za-z0-9._\/:-]{1,40}$/);
const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe('key IDs', () => {
  it('computes keyIdOf as SHA-256(name || 0x0A || 0x01 || pub)[:4]', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (name, pub) => {
        expect(keyIdOf(name, pub)).toEqual(expectedKeyId(name, pub));
      }),
      { numRuns: 200 },
    );
  });

  it('encodes non-ASCII names as UTF-8 in the key ID', () => {
    const pub = publicKeyOf(seed(3));
    expect(keyIdOf('log.example/\u00fcber', pub)).toEqual(expectedKeyId('log.example/\u00fcber', pub));
  });

  it('reproduces the key ID of the Go sumdb/note example key (c74f20a3)', () => {
    const pub = publicKeyOf(GO_SEED);
    expect(toHexStr(keyIdOf('PeterNeumann', pub))).toBe('c74f20a3');
  });
});

describe('verifier keys', () => {
  it('round-trips verifierKeyOf through parseVerifierKey', () => {
    fc.assert(
      fc.property(keyName, seedArb, (name, s) => {
        const pub = publicKeyOf(s);
        const key = verifierKeyOf(name, pub);
        expect(key.text).toBe(`${name}+${toHexStr(expectedKeyId(name, pub))}+${toB64(Uint8Array.of(1, ...pub))}`);
        const parsed = parseVerifierKey(key.text);
        expect(parsed.name).toBe(name);
        expect(parsed.publicKey).toEqual(pub);
        expect(parsed.keyId).toEqual(key.keyId);
        expect(parsed.text).toBe(key.text);
      }),
      { numRuns: 100 },
    );
  });

  it('parses the Go sumdb/note example verifier key, whose public key matches the example seed', () => {
    const key = parseVerifierKey(GO_VKEY);
    expect(key.name).toBe('PeterNeumann');
    expect(toHexStr(key.keyId)).toBe('c74f20a3');
    expect(key.publicKey).toEqual(publicKeyOf(GO_SEED));
    expect(key.text).toBe(GO_VKEY);
  });

  const pub = publicKeyOf(seed(7));
  const good = verifierKeyOf('log.example/a', pub).text;
  const [gName, gId, gKey] = good.split('+') as [string, string, string];
  const otherType = Uint8Array.of(0x02, ...pub);
  const otherTypeId = toHexStr(sha256(Uint8Array.from([...utf8(gName), 0x0a, 0x02, ...pub])).slice(0, 4));
  const flippedId = (gId[0] === '0' ? '1' : '0') + gId.slice(1);
  // 44 base64 chars for 33 bytes end in a character carrying two zero bits; 'B' for 'A' sets one.
  const nonCanonicalKey = gKey.slice(0, -1) + String.fromCharCode(gKey.charCodeAt(gKey.length - 1) + 1);

  const bad: [string, string][] = [
    ['a wrong key ID', `${gName}+${flippedId}+${gKey}`],
    ['an upper-case key ID', `${gName}+${gId.toUpperCase()}+${gKey}`],
    ['a short key ID', `${gName}+${gId.slice(1)}+${gKey}`],
    ['a wrong type byte (with a matching key ID for it)', `${gName}+${otherTypeId}+${toB64(otherType)}`],
    ['a wrong type byte (with the Ed25519 key ID)', `${gName}+${gId}+${toB64(otherType)}`],
    ['bad base64', `${gName}+${gId}+${gKey.slice(0, -2)}!=`],
    ['non-canonical base64', `${gName}+${gId}+${nonCanonicalKey}`],
    ['truncated base64', `${gName}+${gId}+${gKey.slice(0, -1)}`],
    ['a 31-byte public key', `${gName}+${gId}+${toB64(Uint8Array.of(1, ...pub.slice(1)))}`],
    ['a 33-byte public key', `${gName}+${gId}+${toB64(Uint8Array.of(1, ...pub, 0))}`],
    ['a name with a space', `log example+${gId}+${gKey}`],
    ['a name with a tab', `log\texample+${gId}+${gKey}`],
    ['a name with a plus', `log+example+${gId}+${gKey}`],
    ['an empty name', `+${gId}+${gKey}`],
    ['a missing part', `${gName}+${gId}`],
    ['an extra part', `${good}+x`],
  ];

  it.each(bad)('parseVerifierKey rejects %s', (_what, text) => {
    expect(() => parseVerifierKey(text)).toThrow();
  });

  it('parseVerifierKey accepts the unaltered key the rejection cases are built from', () => {
    expect(parseVerifierKey(good).publicKey).toEqual(pub);
    expect(nonCanonicalKey).not.toBe(gKey);
  });

  it('verifierKeyOf refuses names with spaces or plus signs and keys that are not 32 bytes', () => {
    expect(() => verifierKeyOf('a b', pub)).toThrow();
    expect(() => verifierKeyOf('a+b', pub)).toThrow();
    expect(() => verifierKeyOf('', pub)).toThrow();
    expect(() => verifierKeyOf('a\u00a0b', pub)).toThrow();
    expect(() => verifierKeyOf('ab', pub.slice(1))).toThrow();
  });

  it('verifierKeyOf refuses a name with a lone surrogate (it has no UTF-8 form, and would share a key ID with U+FFFD)', () => {
    expect(() => verifierKeyOf('log\uD800', pub)).toThrow();
    expect(() => verifierKeyOf('\uDC00log', pub)).toThrow();
  });
});

describe('Ed25519', () => {
  it('signs byte-identically to node:crypto for the same seed', () => {
    fc.assert(
      fc.property(seedArb, fc.uint8Array({ maxLength: 200 }), (s, msg) => {
        const ours = seedSigner('k', s).sign(msg);
        const theirs = new Uint8Array(nodeSign(null, msg, nodeKey(s)));
        expect(toHexStr(ours)).toBe(toHexStr(theirs));
        expect(toHexStr(signEd25519(s, msg))).toBe(toHexStr(theirs));
      }),
      { numRuns: 60 },
    );
  });

  it('derives the same public key as node:crypto', () => {
    fc.assert(
      fc.property(seedArb, (s) => {
        const spki = createPublicKey(nodeKey(s)).export({ format: 'der', type: 'spki' });
        expect(toHexStr(publicKeyOf(s))).toBe(toHexStr(new Uint8Array(spki).slice(-32)));
        expect(toHexStr(seedSigner('k', s).publicKey)).toBe(toHexStr(publicKeyOf(s)));
      }),
      { numRuns: 60 },
    );
  });

  it('verifies its own signatures and refuses altered ones or malformed lengths', () => {
    const s = seed(9);
    const msg = utf8('hello');
    const sig = signEd25519(s, msg);
    expect(verifyEd25519(publicKeyOf(s), msg, sig)).toBe(true);
    const flipped = sig.slice();
    flipped[10]! ^= 1;
    expect(verifyEd25519(publicKeyOf(s), msg, flipped)).toBe(false);
    expect(verifyEd25519(publicKeyOf(s), utf8('hellO'), sig)).toBe(false);
    expect(verifyEd25519(publicKeyOf(s), msg, sig.slice(0, 63))).toBe(false);
    expect(verifyEd25519(publicKeyOf(s).slice(0, 31), msg, sig)).toBe(false);
  });

  it('refuses a malleated signature (S + L) under strict RFC 8032 verification', () => {
    const s = seed(11);
    const msg = utf8('malleable?');
    const sig = signEd25519(s, msg);
    // L = 2^252 + 27742317777372353535851937790883648493, little-endian.
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    let S = 0n;
    for (let i = 31; i >= 0; i--) S = (S << 8n) | BigInt(sig[32 + i]!);
    let S2 = S + L;
    const out = sig.slice();
    for (let i = 0; i < 32; i++) {
      out[32 + i] = Number(S2 & 255n);
      S2 >>= 8n;
    }
    expect(verifyEd25519(publicKeyOf(s), msg, out)).toBe(false);
  });
});

describe('signNote and verifyNote', () => {
  const alice = seedSigner('alice.example/log', seed(1));
  const bob = seedSigner('bob.example/log', seed(2));
  const aliceKey = verifierKeyOf(alice.name, alice.publicKey);
  const bobKey = verifierKeyOf(bob.name, bob.publicKey);
  const text = 'alice.example/log\n42\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';

  it('reproduces the Go sumdb/note signed example byte for byte', () => {
    expect(signNote(GO_TEXT, seedSigner('PeterNeumann', GO_SEED))).toBe(GO_NOTE);
  });

  it('verifies the Go sumdb/note signed example and refuses it when the text is altered', () => {
    const key = parseVerifierKey(GO_VKEY);
    const r = verifyNote(GO_NOTE, [key]);
    expect(r).toMatchObject({ ok: true, text: GO_TEXT });
    expect(code(verifyNote(GO_NOTE.replace('cryptography', 'cryptographY'), [key]))).toBe('bad_signature');
  });

  it('formats a note as text, a blank line and one em-dash signature line', () => {
    const note = signNote(text, alice);
    const sigLine = note.slice(text.length + 1);
    expect(note.startsWith(text + '\n')).toBe(true);
    expect(sigLine).toMatch(/^\u2014 alice\.example\/log [A-Za-z0-9+/]+=*\n$/);
    const raw = b64(sigLine.slice('\u2014 alice.example/log '.length, -1));
    expect(raw).toHaveLength(4 + 64);
    expect(raw.slice(0, 4)).toEqual(expectedKeyId(alice.name, alice.publicKey));
  });

  it('accepts a note signed by a trusted key and returns its text and key', () => {
    const r = verifyNote(signNote(text, alice), [bobKey, aliceKey]);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.text).toBe(text);
      expect(r.key.text).toBe(aliceKey.text);
    }
  });

  it('round-trips arbitrary note texts', () => {
    const line = fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => s.replace(/[\u0000-\u001f\u007f]/g, ''));
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 5 }).filter((ls) => ls[0] !== ''), (lines) => {
        const t = lines.join('\n') + '\n';
        if (t.includes('\n\n')) return;
        const r = verifyNote(signNote(t, alice), [aliceKey]);
        expect(r).toMatchObject({ ok: true, text: t });
      }),
      { numRuns: 50 },
    );
  });

  it("reports 'unknown_key' when no signature is by a trusted key", () => {
    expect(code(verifyNote(signNote(text, alice), [bobKey]))).toBe('unknown_key');
    expect(code(verifyNote(signNote(text, alice), []))).toBe('unknown_key');
  });

  it("reports 'unknown_key' for a trusted name with a different key ID", () => {
    const impostor = verifierKeyOf(alice.name, bob.publicKey);
    expect(code(verifyNote(signNote(text, alice), [impostor]))).toBe('unknown_key');
  });

  it("reports 'bad_signature' when the text is altered but the signature line kept", () => {
    const note = signNote(text, alice);
    expect(code(verifyNote(note.replace('\n42\n', '\n43\n'), [aliceKey]))).toBe('bad_signature');
  });

  it("reports 'bad_signature' when a signature byte is flipped", () => {
    const parsed = parseNote(signNote(text, alice));
    const sig = parsed.signatures[0]!;
    const flipped = sig.signature.slice();
    flipped[0]! ^= 0x80;
    const note = formatNote({ text: parsed.text, signatures: [{ ...sig, signature: flipped }] });
    expect(code(verifyNote(note, [aliceKey]))).toBe('bad_signature');
  });

  it("reports 'bad_signature' when a trusted signature is short (not 64 bytes)", () => {
    const note = formatNote({ text, signatures: [{ name: alice.name, keyId: aliceKey.keyId, signature: new Uint8Array(1) }] });
    expect(code(verifyNote(note, [aliceKey]))).toBe('bad_signature');
  });

  it('ignores a signature by an unknown key when another trusted signature verifies', () => {
    const carol = seedSigner('carol.example/log', seed(3));
    for (const order of [0, 1]) {
      const sigs = [parseNote(signNote(text, carol)).signatures[0]!, parseNote(signNote(text, alice)).signatures[0]!];
      if (order) sigs.reverse();
      const note = formatNote({ text, signatures: sigs });
      const r = verifyNote(note, [aliceKey]);
      expect(r.ok).toBe(true);
      if (r.ok) expect(r.key.name).toBe(alice.name);
    }
  });

  it('ignores an unknown signature even when it would not verify', () => {
    const garbage = { name: 'nobody', keyId: Uint8Array.of(1, 2, 3, 4), signature: new Uint8Array(64).fill(9) };
    const note = formatNote({ text, signatures: [garbage, parseNote(signNote(text, alice)).signatures[0]!] });
    expect(code(verifyNote(note, [aliceKey]))).toBe('ok');
  });

  it('rejects the whole note when any trusted signature fails, even if another verifies', () => {
    const good = parseNote(signNote(text, alice)).signatures[0]!;
    const bobBad = { ...parseNote(signNote('other\n', bob)).signatures[0]! };
    const note = formatNote({ text, signatures: [good, bobBad] });
    expect(code(verifyNote(note, [aliceKey, bobKey]))).toBe('bad_signature');
  });

  it('accepts a note co-signed by two trusted keys', () => {
    const sigs = [parseNote(signNote(text, alice)).signatures[0]!, parseNote(signNote(text, bob)).signatures[0]!];
    expect(code(verifyNote(formatNote({ text, signatures: sigs }), [aliceKey, bobKey]))).toBe('ok');
  });

  it('refuses to sign text without a final newline', () => {
    expect(() => signNote('no newline', alice)).toThrow();
  });

  describe("reports 'malformed'", () => {
    const note = signNote(text, alice);
    const sigLine = note.slice(text.length + 1);
    const sigB64 = sigLine.slice(sigLine.lastIndexOf(' ') + 1, -1);
    // 68 bytes -> 92 chars ending in 'x=' where x carries two zero bits; the next character sets one.
    const nonCanonicalSig = sigB64.slice(0, -2) + String.fromCharCode(sigB64.charCodeAt(sigB64.length - 2) + 1) + '=';
    const malformed: [string, string][] = [
      ['a missing blank line', text + sigLine],
      ['a missing final newline', note.slice(0, -1)],
      ['a control character in the text', note.replace('42', '4\u00012')],
      ['a tab in the text', note.replace('42', '4\t2')],
      ['a carriage return', note.replace('\n42\n', '\r\n42\n')],
      ['bad base64 in a signature', `${text}\n\u2014 ${alice.name} !${sigB64.slice(1)}\n`],
      ['URL-safe base64 in a signature', `${text}\n\u2014 ${alice.name} ${sigB64.replace(/[+/]/g, (c) => (c === '+' ? '-' : '_')).replace(/^./, '-')}\n`],
      ['non-canonical base64 in a signature', `${text}\n\u2014 ${alice.name} ${nonCanonicalSig}\n`],
      ['unpadded base64 in a signature', `${text}\n\u2014 ${alice.name} ${sigB64.replace(/=+$/, '')}\n`],
      ['a signature line without the em dash', note.replace('\u2014 ', '- ')],
      ['a signature line without a key name', note.replace('\u2014 alice.example/log ', '\u2014 ')],
      ['a signature shorter than a key ID and one byte', `${text}\n\u2014 ${alice.name} ${toB64(aliceKey.keyId)}\n`],
      ['no signature lines', text + '\n'],
      ['an empty note', ''],
      ['an empty line among the signatures', note + '\n'],
      [`more than MAX_SIGNATURES (${MAX_SIGNATURES}) signature lines`, text + '\n' + sigLine.repeat(MAX_SIGNATURES + 1)],
    ];

    it.each(malformed)('for %s', (_what, bad) => {
      expect(bad).not.toBe(note);
      expect(code(verifyNote(bad, [aliceKey]))).toBe('malformed');
    });

    it('but accepts exactly MAX_SIGNATURES signature lines', () => {
      expect(code(verifyNote(text + '\n' + sigLine.repeat(MAX_SIGNATURES), [aliceKey]))).toBe('ok');
    });
  });
});
