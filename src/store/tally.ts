/**
 * `Tally`: the embedded database. One per data directory; hands out tenant
 * handles that carry who is acting.
 */
import { TallyError } from '../core/errors.js';
import { isValidTenantName } from '../core/event.js';
import type { VerifierKey } from '../core/note.js';
import { Journal, type JournalOptions } from '../journal/journal.js';
import { assertPlan, type Plan } from './plans.js';
import { Projection } from './projection.js';
import { TenantHandle, EMBEDDED_PLAN, type Actor } from './tenant.js';

/** Options of {@link Tally.open}. */
export type TallyOptions = JournalOptions;

/** An open Tally data directory. */
export class Tally {
  private closed = false;
  /** The block projection, kept by the journal's appends. */
  readonly projection: Projection;

  private constructor(readonly journal: Journal, private readonly now: () => number) {
    this.projection = new Projection(journal.storage);
    journal.setProjector(this.projection);
  }

  /**
   * Opens (creating on first use) the data directory `dir`: the LMDB
   * environment and the node's signing key.
   * @example const db = await Tally.open('./tally-data');
   */
  static async open(dir: string, opts: TallyOptions = {}): Promise<Tally> {
    const db = new Tally(Journal.open(dir, opts), opts.now ?? Date.now);
    try {
      await db.projection.upgrade(db.journal, db.journal.storage, opts.readOnly === true);
    } catch (err) {
      // Leave nothing open: the caller gets the error, not a half-opened environment.
      await db.journal.close();
      throw err;
    }
    return db;
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
   * A handle on tenant `name`, acting as `actor`. The embedded default acts
   * as an admin that sees everything; a tenant that does not exist yet is
   * created with the `unlimited` plan on its first write (pass
   * `{ create: false }` to require it to exist, as the server does).
   * @throws TallyError `bad_request` for an invalid tenant name, role or clearance.
   * @example const t = db.tenant('acme', { actor: 'billing-service', role: 'write', clearance: 1 });
   */
  tenant(name: string, actor: Partial<Actor> & { create?: boolean } = {}): TenantHandle {
    if (this.closed) throw new TallyError('closed', 'the database is closed');
    if (!isValidTenantName(name)) throw new TallyError('bad_request', `"tenant" must match [a-z0-9][a-z0-9._-]{0,62}, got ${JSON.stringify(name)}`);
    const { create = true, ...who } = actor;
    const full: Actor = { actor: 'admin', role: 'admin', clearance: Number.MAX_SAFE_INTEGER, ...who };
    if (!['read', 'write', 'admin'].includes(full.role)) throw new TallyError('bad_request', `"role" must be read, write or admin`);
    if (!Number.isSafeInteger(full.clearance) || full.clearance < 0) throw new TallyError('bad_request', '"clearance" must be a non-negative integer');
    return new TenantHandle(this.journal, this.projection, name, full, { ...(create ? { createPlan: EMBEDDED_PLAN } : {}), now: this.now });
  }

  /**
   * Creates a tenant with a plan (durably).
   * @throws TallyError `bad_request`, `conflict` if it exists.
   */
  async createTenant(name: string, opts: { plan?: Plan } = {}): Promise<{ tenant: string; plan: string; created: number }> {
    const plan = opts.plan ?? 'free';
    assertPlan(plan);
    const rec = await this.journal.createTenant(name, plan);
    return { tenant: rec.name, plan: rec.plan, created: rec.created };
  }

  /** Changes a tenant's plan. @throws TallyError `not_found`, `bad_request`. */
  async setPlan(name: string, plan: Plan): Promise<void> {
    assertPlan(plan);
    await this.journal.setPlan(name, plan);
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
