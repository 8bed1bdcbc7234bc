/**
 * Receipts: what a writer gets back and keeps. A receipt carries the event
 * header, its hash, the exact payload bytes and salt (so it proves the data
 * that was accepted, not just that something was), the inclusion proof of
 * the event in the signed checkpoint, and that checkpoint. Nothing in it is
 * trusted on its own; {@link verifyReceipt} recomputes every link.
 */
import { bytesEqual, fromBase64, toBase64 } from './bytes.js';
import { decodeCanonical, encodeCanonical } from './codec.js';
import { badRequest } from './errors.js';
import { headerFromJson, headerToJson, type EventHeader, type HeaderJson } from './event.js';

/** The receipt format identifier, first field of every receipt. */
export const RECEIPT_FORMAT = 'tally-receipt/v1';

/** A receipt with raw bytes. */
export interface Receipt {
  readonly format: typeof RECEIPT_FORMAT;
  readonly header: EventHeader;
  /** Event hash the writer computed: BLAKE3(EVENT_TAG ‖ header bytes). */
  readonly hash: Uint8Array;
  /** Canonical CBOR of the data; null for events without a payload, or once erased. */
  readonly payload: Uint8Array | null;
  /** The 16-byte salt of the payload commitment; null exactly when `payload` is. */
  readonly salt: Uint8Array | null;
  /** Inclusion proof of leaf `header.seq` in the checkpoint's tree, leaf first. */
  readonly proof: readonly Uint8Array[];
  /** The signed checkpoint note the proof leads to. */
  readonly checkpoint: string;
}

/** JSON form of a receipt: bytes as standard base64. */
export interface ReceiptJson {
  format: typeof RECEIPT_FORMAT;
  header: HeaderJson;
  hash: string;
  payload: string | null;
  salt: string | null;
  proof: string[];
  checkpoint: string;
}

const RECEIPT_FIELDS = ['format', 'header', 'hash', 'payload', 'salt', 'proof', 'checkpoint'] as const;
/** Longest inclusion proof a receipt may carry (a tree of 2^63 leaves needs 63). */
const MAX_PROOF_LENGTH = 64;

/** JSON form of a receipt. */
export function receiptToJson(r: Receipt): ReceiptJson {
  return {
    format: r.format,
    header: headerToJson(r.header),
    hash: toBase64(r.hash),
    payload: r.payload === null ? null : toBase64(r.payload),
    salt: r.salt === null ? null : toBase64(r.salt),
    proof: r.proof.map(toBase64),
    checkpoint: r.checkpoint,
  };
}

function b64(value: unknown, name: string): Uint8Array {
  if (typeof value !== 'string') throw badRequest(`receipt "${name}" must be a base64 string`);
  try {
    return fromBase64(value);
  } catch {
    throw badRequest(`receipt "${name}" is not valid base64`);
  }
}

/**
 * Parses the JSON form (an object, or its JSON text).
 * @throws TallyError `bad_request` naming the first thing that does not fit the format.
 */
export function receiptFromJson(input: unknown): Receipt {
  let j = input;
  if (typeof j === 'string') {
    try {
      j = JSON.parse(j);
    } catch {
      throw badRequest('receipt is not valid JSON');
    }
  }
  if (j === null || typeof j !== 'object' || Array.isArray(j)) throw badRequest('receipt must be a JSON object');
  const o = j as Record<string, unknown>;
  if (o['format'] !== RECEIPT_FORMAT) throw badRequest(`receipt "format" must be "${RECEIPT_FORMAT}"`);
  const extra = Object.keys(o).filter((k) => !(RECEIPT_FIELDS as readonly string[]).includes(k));
  if (extra.length > 0) throw badRequest(`receipt has unknown field "${extra[0]}"`);
  for (const f of RECEIPT_FIELDS) if (!(f in o)) throw badRequest(`receipt is missing "${f}"`);
  if (!Array.isArray(o['proof'])) throw badRequest('receipt "proof" must be an array');
  if (o['proof'].length > MAX_PROOF_LENGTH) throw badRequest(`receipt "proof" has more than ${MAX_PROOF_LENGTH} hashes`);
  if (typeof o['checkpoint'] !== 'string') throw badRequest('receipt "checkpoint" must be a string');
  return {
    format: RECEIPT_FORMAT,
    header: headerFromJson(o['header']),
    hash: b64(o['hash'], 'hash'),
    payload: o['payload'] === null ? null : b64(o['payload'], 'payload'),
    salt: o['salt'] === null ? null : b64(o['salt'], 'salt'),
    // Array.from visits holes of a sparse array (which map skips), so each is refused like any non-string.
    proof: Array.from(o['proof'] as unknown[], (p, i) => b64(p, `proof[${i}]`)),
    checkpoint: o['checkpoint'],
  };
}

/** CBOR form of a receipt: the JSON form's structure with raw bytes, canonically encoded. */
export function receiptToCbor(r: Receipt): Uint8Array {
  return encodeCanonical({
    format: r.format,
    header: { ...r.header },
    hash: r.hash,
    payload: r.payload,
    salt: r.salt,
    proof: [...r.proof],
    checkpoint: r.checkpoint,
  });
}

/**
 * Parses the CBOR form.
 * @throws TallyError `bad_request` if the bytes are not a canonical receipt.
 */
export function receiptFromCbor(bytes: Uint8Array): Receipt {
  const v = decodeCanonical(bytes);
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) throw badRequest('receipt must be a CBOR map');
  // Convert to the JSON form and reuse its strict parser, so both forms accept exactly the same receipts.
  const o = v as Record<string, unknown>;
  const enc = (x: unknown): unknown => (x instanceof Uint8Array ? toBase64(x) : x);
  const header = o['header'];
  const headerJson =
    header && typeof header === 'object' && !Array.isArray(header) && !(header instanceof Uint8Array)
      ? Object.fromEntries(Object.entries(header).map(([k, x]) => [k, enc(x)]))
      : header;
  const r = receiptFromJson({
    ...o,
    header: headerJson,
    hash: enc(o['hash']),
    payload: enc(o['payload']),
    salt: enc(o['salt']),
    proof: Array.isArray(o['proof']) ? o['proof'].map(enc) : o['proof'],
  });
  // The JSON form cannot tell text from bytes once converted: a text field sent as bytes (or bytes as
  // base64 text) would parse. Only the exact CBOR form of the parsed receipt is accepted.
  if (!bytesEqual(receiptToCbor(r), bytes)) throw badRequest('receipt is not in its CBOR form: a field has the wrong type');
  return r;
}
