/**
 * `tallydb/verify`: the browser-safe verifier. Everything here is pure
 * (no Node APIs, no LMDB), so an auditor can check receipts, checkpoints and
 * proofs in a web page without trusting or reaching the server.
 */
export { verifyReceipt, toVerifierKeys } from './core/verify-receipt.js';
export type { ReceiptVerdict, ReceiptSuccess, ReceiptFailure, ReceiptFailureCode } from './core/verify-receipt.js';
export { receiptFromJson, receiptToJson, receiptFromCbor, receiptToCbor, RECEIPT_FORMAT } from './core/receipt.js';
export type { Receipt, ReceiptJson } from './core/receipt.js';
export { verifyNote, parseNote, parseVerifierKey, verifierKeyOf, keyIdOf } from './core/note.js';
export type { VerifierKey, SignedNote, NoteResult } from './core/note.js';
export { parseCheckpoint, formatCheckpoint } from './core/checkpoint.js';
export type { Checkpoint } from './core/checkpoint.js';
export { verifyInclusion, verifyConsistency } from './core/merkle.js';
export { blake3Tree, sha256Tree, eventHash, payloadCommitment } from './core/hash.js';
export { encodeHeader, decodeHeader, headerFromJson, headerToJson } from './core/event.js';
export type { EventHeader, HeaderJson, Op } from './core/event.js';
export { TallyError } from './core/errors.js';
export type { ErrorCode } from './core/errors.js';
export { auditBundle } from './core/audit-bundle.js';
export type { AuditResult, AuditSuccess, AuditFailure, AuditFailureCode, AuditOptions } from './core/audit-bundle.js';
export { parseRecord, BUNDLE_FORMAT } from './core/bundle.js';
