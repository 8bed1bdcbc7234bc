/**
 * Offline receipt verification: everything an auditor needs, nothing that
 * needs Node. A receipt is accepted only when every link holds — the
 * checkpoint is signed by a trusted key, it is the checkpoint of this
 * journal, the header hashes to the claimed hash, the payload matches its
 * commitment, and the inclusion proof folds the event into the signed root.
 */
import { bytesEqual } from './bytes.js';
import { parseCheckpoint, type Checkpoint } from './checkpoint.js';
import { decodeCanonical, type JsonValue } from './codec.js';
import { encodeHeader, type Op } from './event.js';
import { blake3Tree, eventHash, payloadCommitment, SALT_LENGTH } from './hash.js';
import { verifyInclusion } from './merkle.js';
import { parseVerifierKey, verifyNote, type VerifierKey } from './note.js';
import { receiptFromJson, type Receipt } from './receipt.js';
import { TallyError } from './errors.js';

/** Why a receipt was refused. Each code is stable. */
export type ReceiptFailureCode =
  | 'malformed'
  | 'unknown_key'
  | 'bad_signature'
  | 'origin_mismatch'
  | 'header_hash_mismatch'
  | 'payload_mismatch'
  | 'proof_mismatch';

/** A refused receipt. */
export interface ReceiptFailure {
  ok: false;
  code: ReceiptFailureCode;
  message: string;
}

/** An accepted receipt, with what it proves. */
export interface ReceiptSuccess {
  ok: true;
  tenant: string;
  seq: number;
  op: Op;
  key: string;
  time: number;
  actor: string;
  /** Size of the signed tree the event was proven in. */
  treeSize: number;
  origin: string;
  /** Verifier key string of the key that signed the checkpoint. */
  signer: string;
  /** True when the receipt carried the payload and it matched its commitment. */
  payloadVerified: boolean;
  /** The data the payload encodes, when verified. */
  data?: JsonValue;
  /** The checkpoint the receipt is proven against. */
  checkpoint: Checkpoint;
}

/** Result of {@link verifyReceipt}. */
export type ReceiptVerdict = ReceiptSuccess | ReceiptFailure;

function fail(code: ReceiptFailureCode, message: string): ReceiptFailure {
  return { ok: false, code, message };
}

/** Parses verifier keys given as strings or objects. @throws TallyError `bad_request` on an invalid key string. */
export function toVerifierKeys(keys: readonly (string | VerifierKey)[]): VerifierKey[] {
  return keys.map((k) => {
    if (typeof k !== 'string') return k;
    try {
      return parseVerifierKey(k);
    } catch (err) {
      throw new TallyError('bad_request', `invalid verifier key: ${(err as Error).message}`);
    }
  });
}

/**
 * Verifies a receipt offline against trusted verifier keys.
 * @param receipt the receipt as a parsed {@link Receipt}, its JSON object, or JSON text.
 * @param trusted verifier key strings (`name+keyid+base64`) or parsed keys.
 * @returns `{ ok: true, ... }` or `{ ok: false, code, message }`; never throws for a bad receipt.
 * @throws TallyError `bad_request` only when a trusted key string is itself invalid.
 * @example
 * const verdict = verifyReceipt(receiptJson, ['tally-a1b2+0a1b2c3d+AR...']);
 * if (!verdict.ok) console.error(verdict.code, verdict.message);
 */
export function verifyReceipt(receipt: Receipt | unknown, trusted: readonly (string | VerifierKey)[]): ReceiptVerdict {
  const keys = toVerifierKeys(trusted);
  let r: Receipt;
  try {
    r = isReceipt(receipt) ? receipt : receiptFromJson(receipt);
  } catch (err) {
    return fail('malformed', err instanceof Error ? err.message : String(err));
  }

  let headerBytes: Uint8Array;
  try {
    headerBytes = encodeHeader(r.header);
  } catch (err) {
    return fail('malformed', (err as Error).message);
  }
  // justifies: INV-RECEIPT-COVERS-HEADER
  const hash = eventHash(headerBytes);
  if (!bytesEqual(hash, r.hash)) return fail('header_hash_mismatch', 'the header does not hash to the receipt\'s event hash');

  const note = verifyNote(r.checkpoint, keys);
  if (!note.ok) return fail(note.code, note.message);
  let cp: Checkpoint;
  try {
    cp = parseCheckpoint(note.text);
  } catch (err) {
    return fail('malformed', `checkpoint body: ${(err as Error).message}`);
  }
  const expectedOrigin = `${note.key.name}/${r.header.journal}`;
  if (cp.origin !== expectedOrigin) {
    return fail('origin_mismatch', `checkpoint origin "${cp.origin}" is not this journal's origin "${expectedOrigin}"`);
  }

  let data: JsonValue | undefined;
  let payloadVerified = false;
  if (r.header.payload === null) {
    if (r.payload !== null || r.salt !== null) return fail('malformed', 'receipt carries a payload for an event without one');
  } else if (r.payload !== null || r.salt !== null) {
    if (r.payload === null || r.salt === null) return fail('malformed', 'receipt carries a payload without its salt, or a salt without its payload');
    if (r.salt.length !== SALT_LENGTH) return fail('malformed', `payload salt must be ${SALT_LENGTH} bytes`);
    if (!bytesEqual(payloadCommitment(r.salt, r.payload), r.header.payload)) {
      return fail('payload_mismatch', 'the payload does not match the commitment in the header');
    }
    try {
      data = decodeCanonical(r.payload) as JsonValue;
    } catch {
      return fail('malformed', 'payload is not canonical CBOR');
    }
    payloadVerified = true;
  }

  if (r.header.seq >= cp.size) return fail('proof_mismatch', `event seq ${r.header.seq} is not inside the checkpoint's tree of size ${cp.size}`);
  if (!verifyInclusion(blake3Tree, r.header.seq, cp.size, blake3Tree.leaf(hash), r.proof, cp.root)) {
    return fail('proof_mismatch', 'the inclusion proof does not lead to the checkpoint root');
  }

  const out: ReceiptSuccess = {
    ok: true,
    tenant: r.header.journal,
    seq: r.header.seq,
    op: r.header.op,
    key: r.header.key,
    time: r.header.time,
    actor: r.header.actor,
    treeSize: cp.size,
    origin: cp.origin,
    signer: note.key.text,
    payloadVerified,
    checkpoint: cp,
  };
  if (data !== undefined) out.data = data;
  return out;
}

function isReceipt(x: unknown): x is Receipt {
  return typeof x === 'object' && x !== null && (x as { hash?: unknown }).hash instanceof Uint8Array;
}
