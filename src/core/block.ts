/**
 * The block as every reader sees it — embedded, over HTTP, or replayed from
 * a bundle. One definition, so the three cannot drift apart.
 */
import type { JsonValue } from './codec.js';

/** A block: its key, causal fields and data. */
export interface Block {
  key: string;
  /** First write, Unix ms. */
  f: number;
  /** Last write, Unix ms. */
  l: number;
  /** Visibility level. */
  v: number;
  /** 1 when redacted. */
  h: number;
  /** The data; null when the version's payload was erased. */
  data: JsonValue;
  /** Seq of the block's latest event. */
  version: number;
}
