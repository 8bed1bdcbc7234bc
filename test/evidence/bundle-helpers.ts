/**
 * Helpers for the evidence-bundle tests: collecting an export into lines,
 * auditing with both auditors, and editing bundle lines the way an attacker
 * with a text editor would (keeping every line valid JSON).
 */
import { blake3 } from '@noble/hashes/blake3.js';
import { expect } from 'vitest';
import { auditBundle, type AuditResult } from '../../src/core/audit-bundle.js';
import type { BundleRecord } from '../../src/core/bundle.js';
import { fromBase64, toBase64, utf8 } from '../../src/core/bytes.js';
import type { VerifierKey } from '../../src/core/note.js';
import { auditFast } from '../../src/evidence/node-audit.js';

/** The lines of an export stream, without their trailing newline (what the auditor takes). */
export async function collect(stream: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const chunk of stream) {
    expect(chunk.endsWith('\n')).toBe(true);
    out.push(chunk.slice(0, -1));
  }
  return out;
}

/** An array as an async iterable (what auditFast takes). */
export async function* toAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  for (const item of items) yield item;
}

/** Audits with the pure (noble) auditor and with the fast one; they must agree on everything. */
export async function auditBoth(lines: readonly string[], keys: readonly VerifierKey[]): Promise<AuditResult> {
  const pure = await auditBundle(lines, keys);
  const fast = await auditFast(toAsync(lines), keys);
  expect(fast).toEqual(pure);
  return pure;
}

/** Parsed records of a bundle. */
export function records(lines: readonly string[]): BundleRecord[] {
  return lines.map((l) => JSON.parse(l) as BundleRecord);
}

/** The record type of each line. */
export function types(lines: readonly string[]): string[] {
  return records(lines).map((r) => r.t);
}

/** Base64 with one bit of byte `index` flipped (negative index: from the end); still canonical base64. */
export function flipB64(b64: string, index = 0, bit = 1): string {
  const bytes = fromBase64(b64);
  const i = index < 0 ? bytes.length + index : index;
  bytes[i]! ^= bit;
  return toBase64(bytes);
}

/** Position of `needle` inside `hay`, or -1. */
export function indexOfBytes(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Base64 header bytes with one bit flipped inside the first occurrence of `needle` (so the CBOR stays valid). */
export function flipInside(headerB64: string, needle: Uint8Array, offset = 0, bit = 1): string {
  const bytes = fromBase64(headerB64);
  const at = indexOfBytes(bytes, needle);
  if (at < 0) throw new Error('needle not found in header');
  bytes[at + offset]! ^= bit;
  return toBase64(bytes);
}

/** A copy of `lines` with record `i` edited by `fn` (JSON re-serialised in the same key order). */
export function editLine(lines: readonly string[], i: number, fn: (r: Record<string, unknown>) => void): string[] {
  const out = [...lines];
  const r = JSON.parse(out[i]!) as Record<string, unknown>;
  fn(r);
  out[i] = JSON.stringify(r);
  return out;
}

/**
 * Recomputes the end record's digest over the (edited) lines before it, as
 * anyone can: the digest is unkeyed, so it only catches accidents. Used to
 * show that the signed structure catches an edit on its own.
 */
export function reseal(lines: readonly string[]): string[] {
  const out = [...lines];
  const endAt = out.findIndex((l) => (JSON.parse(l) as BundleRecord).t === 'end');
  if (endAt < 0) throw new Error('no end record');
  const h = blake3.create();
  for (const l of out.slice(0, endAt)) h.update(utf8(l + '\n'));
  const end = JSON.parse(out[endAt]!) as { t: 'end'; events: number; digest: string };
  end.digest = toBase64(h.digest());
  out[endAt] = JSON.stringify(end);
  return out;
}

/** Index of the first line matching `pred`; fails the test when there is none. */
export function findLine(lines: readonly string[], pred: (r: BundleRecord, i: number, all: BundleRecord[]) => boolean, what: string): number {
  const recs = records(lines);
  const i = recs.findIndex((r, k) => pred(r, k, recs));
  if (i < 0) throw new Error(`the fixture bundle has no ${what}`);
  return i;
}
