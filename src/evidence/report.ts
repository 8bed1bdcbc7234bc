/**
 * `report.html`: a self-contained page (no scripts, no external resources,
 * opens offline) that summarises a bundle: totals, checkpoints, per-key
 * timelines, erasures and the audit result. Built from the audit's event
 * stream; timelines are capped so the report stays small for any journal.
 */
import { toBase64 } from '../core/bytes.js';
import type { AuditResult } from '../core/audit-bundle.js';
import type { Checkpoint } from '../core/checkpoint.js';
import type { EventHeader } from '../core/event.js';

const MAX_KEYS = 500;
const MAX_VERSIONS = 50;

/** Collects what the report shows while an audit streams the bundle. */
export class ReportCollector {
  events = 0;
  readonly ops = new Map<string, number>();
  readonly checkpoints: { size: number; root: string }[] = [];
  readonly timelines = new Map<string, { seq: number; time: number; op: string; actor: string; erased: boolean }[]>();
  readonly erasures: { seq: number; key: string; time: number; actor: string }[] = [];
  keysTruncated = false;
  firstTime: number | undefined;
  lastTime: number | undefined;

  onEvent = (h: EventHeader, payload: Uint8Array | null): void => {
    this.events++;
    this.ops.set(h.op, (this.ops.get(h.op) ?? 0) + 1);
    this.firstTime ??= h.time;
    this.lastTime = h.time;
    if (h.op === 'erase') this.erasures.push({ seq: h.seq, key: h.key, time: h.time, actor: h.actor });
    if (h.op === 'log') return;
    let line = this.timelines.get(h.key);
    if (!line) {
      if (this.timelines.size >= MAX_KEYS) {
        this.keysTruncated = true;
        return;
      }
      this.timelines.set(h.key, (line = []));
    }
    if (line.length < MAX_VERSIONS) line.push({ seq: h.seq, time: h.time, op: h.op, actor: h.actor, erased: h.payload !== null && payload === null });
  };

  onCheckpoint = (cp: Checkpoint): void => {
    if (this.checkpoints.length < 10_000) this.checkpoints.push({ size: cp.size, root: toBase64(cp.root) });
  };
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const iso = (ms: number | undefined): string => (ms === undefined ? '—' : new Date(ms).toISOString());

/** The report page. `keysNote` says which keys the audit trusted. */
export function renderReport(r: ReportCollector, audit: AuditResult, meta: { tenant: string; from: number; to: number; keysNote: string }): string {
  const verdict = audit.ok
    ? `<p class="ok">PASSED — events ${audit.from}…${audit.to - 1} complete, chained and signed (${audit.checkpoints} checkpoints, ${audit.erasedPayloads} erased payloads accounted for).</p>`
    : `<p class="bad">FAILED — <code>${esc(audit.code)}</code>: ${esc(audit.message)} (line ${audit.line}${audit.seq !== undefined ? `, seq ${audit.seq}` : ''})</p>`;
  const ops = [...r.ops].map(([op, n]) => `<tr><td>${esc(op)}</td><td>${n}</td></tr>`).join('');
  const cps = r.checkpoints.map((c) => `<tr><td>${c.size}</td><td><code>${esc(c.root)}</code></td></tr>`).join('');
  const lines = [...r.timelines]
    .map(
      ([key, vs]) =>
        `<details><summary><code>${esc(key)}</code> — ${vs.length} event${vs.length === 1 ? '' : 's'}</summary><table><tr><th>seq</th><th>time</th><th>op</th><th>actor</th><th></th></tr>${vs
          .map((v) => `<tr><td>${v.seq}</td><td>${iso(v.time)}</td><td>${esc(v.op)}</td><td>${esc(v.actor)}</td><td>${v.erased ? 'payload erased' : ''}</td></tr>`)
          .join('')}</table></details>`,
    )
    .join('');
  const erasures = r.erasures.map((e) => `<tr><td>${e.seq}</td><td><code>${esc(e.key)}</code></td><td>${iso(e.time)}</td><td>${esc(e.actor)}</td></tr>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tally evidence report — ${esc(meta.tenant)}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}code{font-size:12px}.ok{color:#155724;background:#d4edda;padding:.6rem}.bad{color:#721c24;background:#f8d7da;padding:.6rem}details{margin:.2rem 0}</style>
</head><body>
<h1>Evidence report: tenant <code>${esc(meta.tenant)}</code></h1>
<h2>Audit result</h2>${verdict}<p>${esc(meta.keysNote)}</p>
<h2>Totals</h2><table><tr><td>range</td><td>seq ${meta.from} to ${meta.to - 1}</td></tr><tr><td>events</td><td>${r.events}</td></tr><tr><td>first event</td><td>${iso(r.firstTime)}</td></tr><tr><td>last event</td><td>${iso(r.lastTime)}</td></tr></table>
<table><tr><th>op</th><th>events</th></tr>${ops}</table>
<h2>Checkpoints (${r.checkpoints.length})</h2><table><tr><th>tree size</th><th>root (base64)</th></tr>${cps}</table>
<h2>Erasures (${r.erasures.length})</h2>${r.erasures.length ? `<table><tr><th>seq</th><th>key</th><th>time</th><th>actor</th></tr>${erasures}</table>` : '<p>none</p>'}
<h2>Per-key timelines</h2>${r.keysTruncated ? `<p>Showing the first ${MAX_KEYS} keys.</p>` : ''}${lines || '<p>no block events</p>'}
</body></html>
`;
}
