/**
 * `Tally`: the embedded database. One per data directory; hands out tenant
 * handles that carry who is acting.
 */
import { TallyError } from '../core/errors.js';
import { isValidTenantName } from '../core/event.js';
import type { VerifierKey } from '../core/note.js';
import { Journal, type JournalOptions } from '../journal/journal.js';
import { TenantHandle, type Actor } from './tenant.js';

/** Options of {@link Tally.open}. */
export type TallyOptions = JournalOptions;

/** An open Tally data directory. */
export class Tally {
  private closed = false;

  private constructor(readonly journal: Journal) {}

  /**
   * Opens (creating on first use) the data directory `dir`: the LMDB
   * environment and the node's signing key.
   * @example const db = await Tally.open('./tally-data');
   */
  static async open(dir: string, opts: TallyOptions = {}): Promise<Tally> {
    return new Tally(Journal.open(dir, opts));
  }

  /** The node name: the signing key name and the first part of every checkpoint origin. */
  get name(): string {
    return this.journal.name;
  }

  /** The active verifier key string (`name+keyid+base64`): give it to whoever verifies receipts. */
  verifierKey(): string {
    return this.journal.verifierKey().text;
  }

  /** Every verifier key this node signed with, oldest first; rotated keys stay valid for what they signed. */
  verifierKeys(): string[] {
    return this.journal.verifierKeys().map((k: VerifierKey) => k.text);
  }

  /** Creates a new signing key and makes it active; returns its verifier key string. */
  rotateKey(): string {
    return this.journal.keys.rotate().text;
  }

  /**
   * A handle on tenant `name`. The embedded default acts as an admin that sees everything.
   * @throws TallyError `bad_request` for an invalid tenant name.
   */
  tenant(name: string, actor: Partial<Actor> = {}): TenantHandle {
    if (this.closed) throw new TallyError('closed', 'the database is closed');
    if (!isValidTenantName(name)) throw new TallyError('bad_request', `"tenant" must match [a-z0-9][a-z0-9._-]{0,62}, got ${JSON.stringify(name)}`);
    return new TenantHandle(this.journal, name, { actor: 'admin', role: 'admin', clearance: Number.MAX_SAFE_INTEGER, ...actor });
  }

  /** Names of every tenant. */
  tenants(): string[] {
    return this.journal.tenantNames();
  }

  /** Waits for pending writes to become durable, then closes the environment. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.journal.close();
  }
}
