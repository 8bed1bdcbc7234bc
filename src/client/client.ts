/**
 * `tallydb/client`: the SDK for a Tally server. Uses only `fetch`, so it runs
 * in browsers; imports only `core/`. Method names and shapes follow the
 * BatenBase SDK. Given `verifierKey`, it verifies every receipt on arrival
 * against that key — and that the receipt is for the write it sent — and
 * throws `invalid_receipt` otherwise, so a client never trusts the server's
 * word for what was stored.
 */
import { bytesEqual, fromBase64, isWellFormed } from '../core/bytes.js';
import type { Block } from '../core/block.js';
import { assertKey } from '../core/event.js';
import { encodeKeySegment } from '../core/key-path.js';
import { encodeData, type JsonValue } from '../core/codec.js';
import { TallyError, type ErrorCode, ERROR_STATUS } from '../core/errors.js';
import type { ReceiptJson } from '../core/receipt.js';
import { verifyReceipt } from '../core/verify-receipt.js';

/** Options of {@link TallyClient}. */
export interface TallyClientOptions {
  token: string;
  /** Default `http://127.0.0.1:8080`. */
  baseUrl?: string;
  /** Verifier key string(s); when given every receipt is verified on arrival. */
  verifierKey?: string | string[];
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
}

/** A block as the server returns it. */
export type ClientBlock = Block;

type Query = Record<string, string | number | boolean | undefined>;
type IfVersion = number | 'absent';
type AsOf = number | string | Date;

/** The URL path segment of a key, checked first so bad keys fail here exactly as they do embedded. */
function keyPath(key: unknown, name = 'key'): string {
  assertKey(key, name);
  return encodeKeySegment(key);
}

function checkIdempotencyKey(k: unknown): void {
  if (k !== undefined && (typeof k !== 'string' || k.length === 0 || !isWellFormed(k))) {
    throw new TallyError('bad_request', '"idempotencyKey" must be a non-empty string without lone surrogates');
  }
  // It travels in the Idempotency-Key header, which carries printable ASCII; fetch would throw on the rest.
  if (typeof k === 'string' && !/^[\x20-\x7e]+$/.test(k)) {
    throw new TallyError('bad_request', '"idempotencyKey" must be printable ASCII to travel in the Idempotency-Key header');
  }
}

function checkIfVersion(v: unknown): void {
  if (v !== undefined && v !== 'absent' && !(typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) {
    throw new TallyError('bad_request', `"ifVersion" must be a version number or "absent", got ${JSON.stringify(v)}`);
  }
}

function asOfParam(a: AsOf | undefined): string | undefined {
  return a === undefined ? undefined : a instanceof Date ? a.toISOString() : String(a);
}

/** A client of one tenant, through one token. */
export class TallyClient {
  private readonly baseUrl: string;
  private readonly token: string;
  private readonly trusted: string[] | undefined;
  private readonly fetcher: typeof fetch;

  constructor(opts: TallyClientOptions) {
    if (!opts || typeof opts.token !== 'string' || opts.token.length === 0) throw new TallyError('bad_request', '"token" is required');
    this.token = opts.token;
    this.baseUrl = (opts.baseUrl ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
    this.trusted = opts.verifierKey === undefined ? undefined : Array.isArray(opts.verifierKey) ? opts.verifierKey : [opts.verifierKey];
    this.fetcher = opts.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Upserts a block. @throws TallyError (`bad_request`, `conflict`, `quota_exceeded`, `invalid_receipt`, …). */
  async set(key: string, data: unknown, opts: { v?: number; ifVersion?: IfVersion; idempotencyKey?: string; validFrom?: number | string } = {}): Promise<{ ok: true; key: string; version: number; receipt: ReceiptJson }> {
    checkIfVersion(opts.ifVersion);
    const body = { data, ...(opts.v !== undefined ? { v: opts.v } : {}), ...(opts.ifVersion !== undefined ? { ifVersion: opts.ifVersion } : {}), ...(opts.validFrom !== undefined ? { validFrom: opts.validFrom } : {}) };
    const res = await this.request<{ ok: true; key: string; version: number; receipt: ReceiptJson }>('PUT', `/blocks/${keyPath(key)}`, { body, idempotencyKey: opts.idempotencyKey });
    this.check(res.receipt, { op: 'set', key, data });
    return res;
  }

  /** Reads a block (now, or `asOf` a seq or time). @throws TallyError `not_found`. */
  async get(key: string, opts: { asOf?: AsOf; validAt?: number | string; includeHidden?: boolean } = {}): Promise<ClientBlock> {
    return this.request('GET', `/blocks/${keyPath(key)}`, { query: { asOf: asOfParam(opts.asOf), validAt: opts.validAt, includeHidden: opts.includeHidden } });
  }

  /** Deletes a block. @throws TallyError `not_found`, `conflict`. */
  async delete(key: string, opts: { ifVersion?: IfVersion; idempotencyKey?: string } = {}): Promise<{ ok: true; receipt: ReceiptJson }> {
    checkIfVersion(opts.ifVersion);
    const res = await this.request<{ ok: true; receipt: ReceiptJson }>('DELETE', `/blocks/${keyPath(key)}`, { query: { ifVersion: opts.ifVersion }, idempotencyKey: opts.idempotencyKey });
    this.check(res.receipt, { op: 'delete', key });
    return res;
  }

  /** Lists blocks by prefix. */
  async list(opts: { prefix?: string; limit?: number; cursor?: string; asOf?: AsOf; validAt?: number | string; includeHidden?: boolean } = {}): Promise<{ blocks: ClientBlock[]; next: string | null }> {
    return this.request('GET', '/blocks', { query: { prefix: opts.prefix, limit: opts.limit, cursor: opts.cursor, asOf: asOfParam(opts.asOf), validAt: opts.validAt, includeHidden: opts.includeHidden } });
  }

  /** Appends an audit event. */
  async log(kind: string, details: unknown = {}, opts: { idempotencyKey?: string } = {}): Promise<{ ok: true; receipt: ReceiptJson }> {
    assertKey(kind, 'kind');
    const res = await this.request<{ ok: true; receipt: ReceiptJson }>('POST', '/events', { body: { kind, details }, idempotencyKey: opts.idempotencyKey });
    this.check(res.receipt, { op: 'log', key: kind, data: details });
    return res;
  }

  /** Scans the audit trail. */
  async events(opts: { since?: string | number; limit?: number; kind?: string; cursor?: string } = {}): Promise<{ events: unknown[]; next: string | null }> {
    if (opts.kind !== undefined) assertKey(opts.kind, 'kind');
    return this.request('GET', '/events', { query: { since: opts.since, limit: opts.limit, kind: opts.kind, cursor: opts.cursor } });
  }

  /** Tenant info. */
  async me(): Promise<{ tenant: string; plan: string; blocks_used: number; quota: number | null }> {
    return this.request('GET', '/tenants/me');
  }

  /** Liveness (no token needed). */
  async health(): Promise<{ status: string }> {
    return this.request('GET', '/health', { auth: false });
  }

  /** Every version of a block, newest first; each receipt is verified when a key is configured. */
  async history(key: string, opts: { limit?: number; cursor?: string } = {}): Promise<{ key: string; versions: { seq: number; op: string; data: JsonValue | null; erased: boolean; receipt: ReceiptJson }[]; next: string | null }> {
    const res = await this.request<{ key: string; versions: { seq: number; op: string; data: JsonValue | null; erased: boolean; receipt: ReceiptJson }[]; next: string | null }>('GET', `/blocks/${keyPath(key)}/history`, { query: { limit: opts.limit, cursor: opts.cursor } });
    for (const v of res.versions) this.check(v.receipt, { key, allowErased: true });
    return res;
  }

  /** Appends several ops atomically. */
  async batch(ops: unknown[], opts: { idempotencyKey?: string } = {}): Promise<{ ok: true; results: { ok: true; key?: string; version?: number; receipt: ReceiptJson }[] }> {
    const res = await this.request<{ ok: true; results: { ok: true; receipt: ReceiptJson }[] }>('POST', '/batch', { body: { ops }, idempotencyKey: opts.idempotencyKey });
    res.results.forEach((r, i) => {
      const op = ops[i] as { op?: string; key?: string; kind?: string; data?: unknown; details?: unknown };
      this.check(r.receipt, { op: op?.op === 'log' ? 'log' : (op?.op as string), key: (op?.op === 'log' ? op.kind : op?.key) as string, data: op?.op === 'log' ? (op.details ?? {}) : op?.data });
    });
    return res;
  }

  /** Hides a block (admin token). */
  async redact(key: string, opts: { idempotencyKey?: string } = {}): Promise<{ ok: true; version: number; receipt: ReceiptJson }> {
    return this.flag('redact', key, opts);
  }

  /** Clears the hidden flag (admin token). */
  async unredact(key: string, opts: { idempotencyKey?: string } = {}): Promise<{ ok: true; version: number; receipt: ReceiptJson }> {
    return this.flag('unredact', key, opts);
  }

  private async flag(op: 'redact' | 'unredact', key: string, opts: { idempotencyKey?: string }): Promise<{ ok: true; version: number; receipt: ReceiptJson }> {
    const res = await this.request<{ ok: true; version: number; receipt: ReceiptJson }>('POST', `/blocks/${keyPath(key)}/${op}`, { idempotencyKey: opts.idempotencyKey });
    this.check(res.receipt, { op, key });
    return res;
  }

  /** Erases every payload of a block (admin token). */
  async erase(key: string, opts: { reason: string; idempotencyKey?: string }): Promise<{ ok: true; erased: number[]; receipt: ReceiptJson }> {
    const res = await this.request<{ ok: true; erased: number[]; receipt: ReceiptJson }>('POST', `/blocks/${keyPath(key)}/erase`, { body: { reason: opts?.reason }, idempotencyKey: opts?.idempotencyKey });
    this.check(res.receipt, { op: 'erase', key });
    return res;
  }

  /** The latest signed checkpoint note, or null before the first write. */
  async checkpoint(): Promise<string | null> {
    try {
      return await this.request<string>('GET', '/checkpoint', { text: true });
    } catch (err) {
      if (err instanceof TallyError && err.code === 'not_found') return null;
      throw err;
    }
  }

  /** The receipt of any past event (verified on arrival when a key is configured). */
  async receipt(seq: number): Promise<ReceiptJson> {
    const { receipt } = await this.request<{ receipt: ReceiptJson }>('GET', `/receipts/${encodeURIComponent(String(seq))}`);
    this.check(receipt, {});
    return receipt;
  }

  /** The node's verifier keys. */
  async keys(): Promise<{ keys: string[]; active: string }> {
    return this.request('GET', '/keys');
  }

  /** Verifies a receipt (when keys are configured) and that it is for the expected write. */
  private check(receipt: ReceiptJson, expect: { op?: string; key?: string; data?: unknown; allowErased?: boolean }): void {
    if (!this.trusted) return;
    const verdict = verifyReceipt(receipt, this.trusted);
    if (!verdict.ok) throw new TallyError('invalid_receipt', `receipt rejected: ${verdict.code}: ${verdict.message}`);
    if (expect.key !== undefined && verdict.key !== expect.key) throw new TallyError('invalid_receipt', 'receipt is for another key');
    if (expect.op !== undefined && verdict.op !== expect.op) throw new TallyError('invalid_receipt', 'receipt is for another operation');
    if (expect.data !== undefined) {
      const sent = encodeData(expect.data);
      if (!receipt.payload || !bytesEqual(fromBase64(receipt.payload), sent)) throw new TallyError('invalid_receipt', 'receipt does not carry the data that was sent');
    }
  }

  private async request<T>(method: string, path: string, opts: { query?: Query; body?: unknown; idempotencyKey?: string | undefined; auth?: boolean; text?: boolean } = {}): Promise<T> {
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (typeof v === 'string' && !isWellFormed(v)) throw new TallyError('bad_request', `"${k}" contains a lone surrogate`);
    }
    const qs = Object.entries(opts.query ?? {})
      .filter(([, v]) => v !== undefined && v !== false)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join('&');
    checkIdempotencyKey(opts.idempotencyKey);
    const headers: Record<string, string> = {};
    if (opts.auth !== false) headers['authorization'] = `Bearer ${this.token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.idempotencyKey !== undefined) headers['idempotency-key'] = opts.idempotencyKey;
    let res: Response;
    try {
      res = await this.fetcher(`${this.baseUrl}${path}${qs ? `?${qs}` : ''}`, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
    } catch (err) {
      throw new TallyError('internal_error', `cannot reach ${this.baseUrl}: ${(err as Error).message}`, { cause: err });
    }
    const text = await res.text();
    if (!res.ok) {
      let code: ErrorCode = 'internal_error';
      let message = `HTTP ${res.status}`;
      try {
        const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
        if (e?.code && Object.hasOwn(ERROR_STATUS, e.code)) code = e.code as ErrorCode;
        if (e?.message) message = e.message;
      } catch {
        /* not our error shape; keep the status */
      }
      const err = new TallyError(code, message);
      (err as { status: number }).status = res.status;
      throw err;
    }
    if (opts.text) return text as T;
    return JSON.parse(text) as T;
  }
}
