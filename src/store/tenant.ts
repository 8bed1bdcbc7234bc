/**
 * A tenant handle: the block-store API of one tenant, as one actor.
 */
import { encodeData } from '../core/codec.js';
import { TallyError } from '../core/errors.js';
import { receiptToJson, type ReceiptJson } from '../core/receipt.js';
import type { Journal } from '../journal/journal.js';
import { verifyJournal, type JournalVerdict } from '../journal/verify-journal.js';

/** Roles, weakest first. */
export type Role = 'read' | 'write' | 'admin';

/** Who is acting through a handle. */
export interface Actor {
  /** Recorded in every event this handle writes. */
  actor: string;
  role: Role;
  /** Highest visibility level this actor may read. */
  clearance: number;
}

/** A write's acknowledgement: its receipt, in JSON form. */
export interface WriteResult {
  ok: true;
  receipt: ReceiptJson;
}

/** Plan given to tenants created implicitly by an embedded write. */
export const EMBEDDED_PLAN = 'unlimited';

/** The API of one tenant as one actor. */
export class TenantHandle {
  constructor(
    private readonly journal: Journal,
    /** Tenant name. */
    readonly name: string,
    /** Who is acting. */
    readonly who: Actor,
  ) {}

  /**
   * Appends an immutable audit event.
   * @param kind dot-separated event kind, e.g. `user.login` (1..1024 UTF-8 bytes).
   * @param details any JSON value.
   * @throws TallyError `bad_request`, `payload_too_large`, `forbidden`.
   */
  async log(kind: string, details: unknown = {}): Promise<WriteResult> {
    this.requireRole('write');
    const payload = encodeData(details, 'details');
    const res = await this.journal.append(this.name, this.who.actor, () => ({ drafts: [{ op: 'log', key: kind, payload, v: 0 }], extra: null }), EMBEDDED_PLAN);
    return { ok: true, receipt: receiptToJson(res.receipts[0]!) };
  }

  /** The latest signed checkpoint note of this tenant, or null before the first write. */
  async checkpoint(): Promise<string | null> {
    const rec = this.journal.tenant(this.name);
    if (!rec) return null;
    return this.journal.latestCheckpoint(rec.id)?.note ?? null;
  }

  /**
   * Re-checks the whole journal of this tenant (see docs/FORMAT.md).
   * @returns `{ ok: true, checked }` or the first failing seq with a code.
   */
  async verify(): Promise<JournalVerdict> {
    const rec = this.journal.tenant(this.name);
    if (!rec) return { ok: true, checked: 0, checkpoints: 0 };
    return verifyJournal(this.journal, this.name);
  }

  private requireRole(role: 'write' | 'admin'): void {
    const rank = { read: 0, write: 1, admin: 2 } as const;
    if (rank[this.who.role] < rank[role]) throw new TallyError('forbidden', `this action needs the ${role} role`);
  }
}
