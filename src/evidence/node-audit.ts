/**
 * The auditor with Node's fast primitives plugged in: WASM BLAKE3 for the
 * hashes and the digest, OpenSSL Ed25519 for signatures. Same checks as the
 * pure auditor in core/ (which a browser runs), just faster.
 */
import { createBLAKE3 } from 'hash-wasm';
import { auditBundle, type AuditOptions, type AuditResult, type DigestHash } from '../core/audit-bundle.js';
import type { VerifierKey } from '../core/note.js';
import { fastHashing } from '../journal/fast-hashing.js';
import { nodeVerify } from '../journal/signing-keys.js';

/** Audits a bundle's lines with the fast primitives. */
export async function auditFast(lines: AsyncIterable<string>, trusted: readonly VerifierKey[], opts: Omit<AuditOptions, 'hashing' | 'digest' | 'verify'> = {}): Promise<AuditResult> {
  const h = await createBLAKE3();
  h.init();
  const digest = (): DigestHash => ({ update: (d) => void h.update(d), digest: () => h.digest('binary') });
  return auditBundle(lines, trusted, { ...opts, hashing: fastHashing, digest, verify: nodeVerify });
}
