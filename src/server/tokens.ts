/**
 * API tokens. A token is `tly_<id>_<secret>`: the id finds the record, the
 * 32-byte random secret is stored only as its SHA-256 and compared in
 * constant time. Tokens are shown once, when created. Each is bound to one
 * tenant with a role and a clearance — or, for the node admin token, to the
 * node's admin API and no tenant at all.
 *
 * Records live in the data directory's LMDB environment, read on every
 * request (no cache), so a revocation by the CLI takes effect at once even
 * while the server runs.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Database } from 'lmdb';
import { TallyError } from '../core/errors.js';
import type { Role } from '../store/tenant.js';
import type { Tally } from '../store/tally.js';

/** Marks the node admin token's "tenant". Not a valid tenant name, so it cannot collide. */
export const NODE_ADMIN = '*node*';

/** A stored token record (no secret). */
export interface TokenRecord {
  id: string;
  /** SHA-256 of the secret. */
  hash: Uint8Array;
  tenant: string;
  role: Role;
  clearance: number;
  created: number;
  revoked: number | null;
  label: string;
}

/** What a valid token grants. */
export interface Grant {
  tokenId: string;
  tenant: string;
  role: Role;
  clearance: number;
}

/** Token as listed: everything but the hash. */
export type TokenInfo = Omit<TokenRecord, 'hash'>;

const TOKEN_RE = /^tly_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

function hashSecret(secret: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(secret).digest());
}

/** The token store of a data directory. */
export class Tokens {
  private readonly db: Database<TokenRecord, string>;

  constructor(private readonly tally: Tally) {
    this.db = tally.journal.storage.openDB<TokenRecord, string>('tokens', 'msgpack');
  }

  /**
   * Creates a token and returns its secret form (shown once) and record.
   * Defaults: role `write`, clearance 1 (an `admin` token: every level).
   * @throws TallyError `not_found` if the tenant does not exist, `bad_request` for a bad role or clearance.
   */
  async create(tenant: string, opts: { role?: Role; clearance?: number; label?: string } = {}): Promise<{ token: string; info: TokenInfo }> {
    // Least privilege by default: a write token that reads visibility ≤ 1. Admin tokens see everything unless limited.
    const role = opts.role ?? (tenant === NODE_ADMIN ? 'admin' : 'write');
    if (!['read', 'write', 'admin'].includes(role)) throw new TallyError('bad_request', '"role" must be read, write or admin');
    if (tenant === NODE_ADMIN && role !== 'admin') throw new TallyError('bad_request', 'a node admin token has the admin role; it has no read or write form');
    const clearance = opts.clearance ?? (tenant === NODE_ADMIN ? 0 : role === 'admin' ? Number.MAX_SAFE_INTEGER : 1);
    if (!Number.isSafeInteger(clearance) || clearance < 0) throw new TallyError('bad_request', '"clearance" must be a non-negative integer');
    if (tenant !== NODE_ADMIN && !this.tally.journal.tenant(tenant)) throw new TallyError('not_found', `tenant "${tenant}" does not exist`);
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const token = `tly_${id}_${secret}`;
    const rec: TokenRecord = { id, hash: hashSecret(token), tenant, role, clearance, created: Date.now(), revoked: null, label: opts.label ?? '' };
    await this.db.put(id, rec);
    await this.db.flushed;
    const { hash: _hash, ...info } = rec;
    return { token, info };
  }

  /**
   * Checks a presented token.
   * @returns the grant, or undefined for a malformed, unknown or revoked token.
   */
  check(presented: string): Grant | undefined {
    const m = TOKEN_RE.exec(presented);
    if (!m) return undefined;
    const rec = this.db.get(m[1]!);
    if (!rec || rec.revoked !== null) return undefined;
    const actual = hashSecret(presented);
    if (!timingSafeEqual(actual, rec.hash)) return undefined;
    return { tokenId: rec.id, tenant: rec.tenant, role: rec.role, clearance: rec.clearance };
  }

  /** Revokes a token by id (or by its full secret form). @throws TallyError `not_found`. */
  async revoke(idOrToken: string): Promise<void> {
    const id = TOKEN_RE.exec(idOrToken)?.[1] ?? idOrToken;
    const rec = this.db.get(id);
    if (!rec) throw new TallyError('not_found', `token ${id} does not exist`);
    if (rec.revoked === null) {
      await this.db.put(id, { ...rec, revoked: Date.now() });
      await this.db.flushed;
    }
  }

  /** Every token (no secrets), optionally of one tenant. */
  list(tenant?: string): TokenInfo[] {
    const out: TokenInfo[] = [];
    for (const { value } of this.db.getRange({})) {
      if (tenant !== undefined && value.tenant !== tenant) continue;
      const { hash: _hash, ...info } = value;
      out.push(info);
    }
    return out;
  }

  /** True when a node admin token exists and is not revoked. */
  hasNodeAdmin(): boolean {
    return this.list(NODE_ADMIN).some((t) => t.revoked === null);
  }
}
