/**
 * The node's Ed25519 signing keys, kept in `<dir>/keys.json` (mode 0600).
 *
 * The first open creates one key under a node name; rotation appends a new
 * key and makes it active, keeping the old ones so checkpoints they signed
 * stay verifiable. Signing and checking use libsodium (sodium-native) when
 * its binding loads, else node:crypto; both are many times faster than
 * noble here. Ed25519 is deterministic, and a test checks that all three
 * produce the same bytes, so `core/` verifies with noble what this module
 * signs. On this machine libsodium signed and checked faster than OpenSSL
 * in side-by-side trials; the journal signs one checkpoint per committed
 * batch, and a re-check of a journal written in small batches checks one
 * per batch.
 */
import { createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fromBase64, toBase64, toHex } from '../core/bytes.js';
import { publicKeyOf } from '../core/ed25519.js';
import { isValidKeyName, verifierKeyOf, type NoteSigner, type VerifierKey } from '../core/note.js';
import { TallyError } from '../core/errors.js';

/** One stored key. */
interface StoredKey {
  seed: string;
  created: number;
}

interface KeyFile {
  name: string;
  /** Oldest first; the last one is active. */
  keys: StoredKey[];
}

const PKCS8_ED25519_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

const SPKI_ED25519_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);
const publicKeyObjects = new Map<string, KeyObject>();

/** The functions of sodium-native this module uses. */
interface Sodium {
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  crypto_sign_seed_keypair(publicKey: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): void;
  crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void;
}

/** Path of the sodium-native binding, for worker threads to load; undefined when it does not load here. */
export const sodiumPath: string | undefined = (() => {
  try {
    const require = createRequire(import.meta.url);
    const path = require.resolve('sodium-native');
    return typeof (require(path) as Sodium).crypto_sign_verify_detached === 'function' ? path : undefined;
  } catch {
    return undefined;
  }
})();
const sodium: Sodium | undefined = sodiumPath === undefined ? undefined : (createRequire(import.meta.url)(sodiumPath) as Sodium);

/**
 * Ed25519 verification through libsodium, or node:crypto (OpenSSL) when
 * sodium-native does not load, for the journal's own re-checks of many
 * checkpoints. Same contract as core's noble verifier.
 */
export function nodeVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  if (sodium) return sodium.crypto_sign_verify_detached(signature, message, publicKey);
  return opensslVerify(publicKey, message, signature);
}

/** Ed25519 verification through node:crypto (OpenSSL). */
export function opensslVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  const id = Buffer.from(publicKey).toString('hex');
  let key = publicKeyObjects.get(id);
  if (!key) {
    key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: 'der', type: 'spki' });
    publicKeyObjects.set(id, key);
  }
  try {
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}

/**
 * A {@link NoteSigner} for a raw 32-byte seed: libsodium when its binding
 * loads, else node:crypto (see the module's note). Both give noble's bytes
 * (Ed25519 is deterministic).
 */
export function nodeSigner(name: string, seed: Uint8Array): NoteSigner {
  if (!sodium) return opensslSigner(name, seed);
  const publicKey = new Uint8Array(32);
  const secretKey = new Uint8Array(64);
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed);
  return {
    name,
    publicKey,
    sign: (m) => {
      const signature = new Uint8Array(64);
      sodium.crypto_sign_detached(signature, m, secretKey);
      return signature;
    },
  };
}

/** A {@link NoteSigner} backed by node:crypto (OpenSSL) for a raw 32-byte seed. */
export function opensslSigner(name: string, seed: Uint8Array): NoteSigner {
  const der = Buffer.concat([PKCS8_ED25519_PREFIX, seed]);
  const key: KeyObject = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  return { name, publicKey: publicKeyOf(seed), sign: (m) => new Uint8Array(sign(null, m, key)) };
}

/** The key ring of a data directory. */
export class SigningKeys {
  private constructor(
    private readonly path: string,
    private file: KeyFile,
    private signerCache: NoteSigner,
  ) {}

  /**
   * Loads `<dir>/keys.json`, creating it with a fresh key on first open.
   * @param name node name for a new key file (default `tally-` + 8 random hex digits).
   */
  static open(dir: string, name?: string): SigningKeys {
    const path = join(dir, 'keys.json');
    let file: KeyFile;
    if (existsSync(path)) {
      file = JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
      if (!isValidKeyName(file.name) || !Array.isArray(file.keys) || file.keys.length === 0) {
        throw new TallyError('internal_error', `${path} is not a valid key file`);
      }
    } else {
      const nodeName = name ?? `tally-${toHex(randomBytes(4))}`;
      if (!isValidKeyName(nodeName) || nodeName.includes('/')) throw new TallyError('bad_request', `invalid node name ${JSON.stringify(nodeName)}`);
      file = { name: nodeName, keys: [{ seed: toBase64(randomBytes(32)), created: Date.now() }] };
      writeKeyFile(path, file);
    }
    const active = file.keys[file.keys.length - 1]!;
    return new SigningKeys(path, file, nodeSigner(file.name, fromBase64(active.seed)));
  }

  /** The node name: the key name of every signature and the first part of every origin. */
  get name(): string {
    return this.file.name;
  }

  /** The signer of the active key. */
  get signer(): NoteSigner {
    return this.signerCache;
  }

  /** Verifier key of the active key. */
  activeVerifierKey(): VerifierKey {
    return verifierKeyOf(this.file.name, this.signerCache.publicKey);
  }

  /** Every verifier key, oldest first; old keys stay valid for what they signed. */
  verifierKeys(): VerifierKey[] {
    return this.file.keys.map((k) => verifierKeyOf(this.file.name, publicKeyOf(fromBase64(k.seed))));
  }

  /** Creates a new active key; returns its verifier key. */
  rotate(): VerifierKey {
    const next: KeyFile = { name: this.file.name, keys: [...this.file.keys, { seed: toBase64(randomBytes(32)), created: Date.now() }] };
    writeKeyFile(this.path, next);
    this.file = next;
    this.signerCache = nodeSigner(next.name, fromBase64(next.keys[next.keys.length - 1]!.seed));
    return this.activeVerifierKey();
  }
}

/** Writes the key file atomically and durably: temp file (0600), fsync, rename. */
function writeKeyFile(path: string, file: KeyFile): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(file, null, 2) + '\n', { mode: 0o600 });
  chmodSync(tmp, 0o600);
  const fd = openSync(tmp, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
