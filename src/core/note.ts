/**
 * C2SP signed notes (c2sp.org/signed-note) with Ed25519 signatures, and
 * verifier key strings `name+keyid+base64(0x01 ‖ pub)`.
 *
 * A note is text ending in a newline, a blank line, then signature lines
 * `— <name> base64(keyID(4) ‖ signature)`. Per the spec, signatures from
 * unknown keys are ignored; a known key whose signature fails rejects the
 * whole note; a note with no known signer is rejected.
 */
import { bytesEqual, concatBytes, fromBase64, fromHex, isWellFormed, toBase64, toHex, utf8 } from './bytes.js';
import { publicKeyOf, signEd25519, verifyEd25519 } from './ed25519.js';
import { badRequest } from './errors.js';
import { sha256Hash } from './hash.js';

/** Signature type byte of Ed25519 in signed notes. */
export const ED25519_TYPE = 0x01;
/** The most signature lines a note may carry before it is refused as malformed. */
export const MAX_SIGNATURES = 64;
/** The largest note accepted, in characters. */
export const MAX_NOTE_LENGTH = 65536;

const EM_DASH_PREFIX = '\u2014 ';

/** One signature line of a note. */
export interface NoteSignature {
  readonly name: string;
  /** 4-byte key ID. */
  readonly keyId: Uint8Array;
  readonly signature: Uint8Array;
}

/** A parsed signed note. `text` includes its final newline. */
export interface SignedNote {
  readonly text: string;
  readonly signatures: readonly NoteSignature[];
}

/** A key that can verify notes. */
export interface VerifierKey {
  readonly name: string;
  readonly keyId: Uint8Array;
  readonly publicKey: Uint8Array;
  /** The key's string form, `name+keyid+base64(0x01 ‖ pub)`. */
  readonly text: string;
}

/** Something that signs note text as a named Ed25519 key. */
export interface NoteSigner {
  readonly name: string;
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/** An Ed25519 verification function: (public key, message, signature) → valid. */
export type Ed25519Verify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

/** Failure of note verification; `code` is stable. */
export type NoteFailure = { ok: false; code: 'malformed' | 'unknown_key' | 'bad_signature'; message: string };

/** Result of {@link verifyNote}. */
export type NoteResult = { ok: true; text: string; key: VerifierKey } | NoteFailure;

/** True when `name` is a valid key name: non-empty, no whitespace, no '+', no control characters. */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && name.length <= 256 && isWellFormed(name) && !/[\s+\u0000-\u001f\u007f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u.test(name);
}

/** Key ID = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ pub)[:4]. */
export function keyIdOf(name: string, publicKey: Uint8Array): Uint8Array {
  return sha256Hash(concatBytes(utf8(name), new Uint8Array([0x0a, ED25519_TYPE]), publicKey)).slice(0, 4);
}

/** The verifier key for an Ed25519 public key under `name`. */
export function verifierKeyOf(name: string, publicKey: Uint8Array): VerifierKey {
  if (!isValidKeyName(name)) throw new Error(`invalid key name ${JSON.stringify(name)}`);
  if (publicKey.length !== 32) throw new Error('an Ed25519 public key is 32 bytes');
  const keyId = keyIdOf(name, publicKey);
  const text = `${name}+${toHex(keyId)}+${toBase64(concatBytes(new Uint8Array([ED25519_TYPE]), publicKey))}`;
  return { name, keyId, publicKey, text };
}

/**
 * Parses a verifier key string, checking that its key ID matches its name
 * and public key.
 * @throws TallyError `bad_request` with a plain sentence when the string is not a valid Ed25519 verifier key.
 */
export function parseVerifierKey(text: string): VerifierKey {
  // The base64 key may itself contain '+', so split on the first two only.
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  if (second < 0) throw badRequest('a verifier key is name+keyid+base64key');
  const name = text.slice(0, first);
  const idHex = text.slice(first + 1, second);
  const keyB64 = text.slice(second + 1);
  if (!isValidKeyName(name)) throw badRequest('verifier key has an invalid name');
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw badRequest('verifier key ID must be 8 lower-case hex digits');
  let raw: Uint8Array;
  try {
    raw = fromBase64(keyB64);
  } catch {
    throw badRequest('verifier key is not valid base64');
  }
  if (raw.length !== 33 || raw[0] !== ED25519_TYPE) throw badRequest('verifier key is not an Ed25519 key (type 0x01, 32 bytes)');
  const key = verifierKeyOf(name, raw.slice(1));
  if (!bytesEqual(key.keyId, fromHex(idHex))) throw badRequest('verifier key ID does not match its name and public key');
  return key;
}

/** A note signer over a raw 32-byte seed, using noble (works anywhere). */
export function seedSigner(name: string, seed: Uint8Array): NoteSigner {
  return { name, publicKey: publicKeyOf(seed), sign: (m) => signEd25519(seed, m) };
}

/**
 * Parses a signed note.
 * @throws TallyError `bad_request` with a plain sentence if it does not follow the format.
 */
export function parseNote(note: string): SignedNote {
  if (note.length > MAX_NOTE_LENGTH) throw badRequest(`note longer than ${MAX_NOTE_LENGTH} characters`);
  // Control characters other than newline are forbidden by the spec.
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note)) throw badRequest('note contains a control character');
  if (!note.endsWith('\n')) throw badRequest('note does not end with a newline');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw badRequest('note has no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const sigLines = note.slice(split + 2, -1).split('\n');
  if (sigLines.length > MAX_SIGNATURES) throw badRequest(`note has more than ${MAX_SIGNATURES} signatures`);
  const signatures: NoteSignature[] = [];
  for (const line of sigLines) {
    if (!line.startsWith(EM_DASH_PREFIX)) throw badRequest('signature line does not start with an em dash and a space');
    const rest = line.slice(EM_DASH_PREFIX.length);
    const space = rest.indexOf(' ');
    if (space <= 0) throw badRequest('signature line has no key name');
    const name = rest.slice(0, space);
    if (!isValidKeyName(name)) throw badRequest('signature line has an invalid key name');
    let raw: Uint8Array;
    try {
      raw = fromBase64(rest.slice(space + 1));
    } catch {
      throw badRequest('signature is not valid base64');
    }
    if (raw.length < 5) throw badRequest('signature is shorter than a key ID and one byte');
    signatures.push({ name, keyId: raw.slice(0, 4), signature: raw.slice(4) });
  }
  return { text, signatures };
}

/** Formats a note from its text and signatures. */
export function formatNote(note: SignedNote): string {
  let out = note.text + '\n';
  for (const s of note.signatures) out += `${EM_DASH_PREFIX}${s.name} ${toBase64(concatBytes(s.keyId, s.signature))}\n`;
  return out;
}

/** Key ids of signers: a signer's name and key never change, and a node signs a note per committed batch. */
const signerKeyIds = new WeakMap<NoteSigner, Uint8Array>();

/** Signs `text` (which must end in a newline) and returns the signed note. */
export function signNote(text: string, signer: NoteSigner): string {
  if (!text.endsWith('\n')) throw new Error('note text must end with a newline');
  const signature = signer.sign(utf8(text));
  let keyId = signerKeyIds.get(signer);
  if (!keyId) signerKeyIds.set(signer, (keyId = keyIdOf(signer.name, signer.publicKey)));
  return formatNote({ text, signatures: [{ name: signer.name, keyId, signature }] });
}

/**
 * Verifies a signed note against trusted keys, following the spec's rules
 * for unknown and failing signatures. `verify` defaults to noble's strict
 * RFC 8032 check; Node callers may pass a faster equivalent.
 */
export function verifyNote(note: string, trusted: readonly VerifierKey[], verify: Ed25519Verify = verifyEd25519): NoteResult {
  let parsed: SignedNote;
  try {
    parsed = parseNote(note);
  } catch (err) {
    return { ok: false, code: 'malformed', message: `checkpoint note is malformed: ${(err as Error).message}` };
  }
  const message = utf8(parsed.text);
  let verifiedBy: VerifierKey | undefined;
  for (const sig of parsed.signatures) {
    const key = trusted.find((k) => k.name === sig.name && bytesEqual(k.keyId, sig.keyId));
    if (!key) continue;
    if (!verify(key.publicKey, message, sig.signature)) {
      return { ok: false, code: 'bad_signature', message: `signature by ${key.name} does not verify` };
    }
    verifiedBy ??= key;
  }
  if (!verifiedBy) return { ok: false, code: 'unknown_key', message: 'no signature is by a trusted verifier key' };
  return { ok: true, text: parsed.text, key: verifiedBy };
}
