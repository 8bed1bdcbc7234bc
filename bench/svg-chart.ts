/**
 * A tiny SVG chart generator for docs/BENCHMARKS.md: grouped bar charts and
 * line charts as standalone SVG text, no dependencies and no external
 * service. Scales are linear from zero, or logarithmic when asked (for
 * values that span orders of magnitude); every bar carries its value.
 */

/** One series: a name, a colour and one value per category (null: not measured). */
export interface Series {
  name: string;
  color: string;
  values: (number | null)[];
}

export interface ChartOptions {
  title: string;
  /** Label of the value axis, e.g. "events/s (higher is better)". */
  yLabel: string;
  /** Category labels along the x axis (e.g. journal sizes). */
  categories: string[];
  series: Series[];
  /** Logarithmic value axis; default: chosen when the values span more than 30×. */
  log?: boolean;
  width?: number;
  height?: number;
  /** Horizontal reference lines (e.g. a goal ratio), with a label each. */
  references?: { value: number; label: string }[];
}

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

/** Escapes text for SVG/XML content and attributes. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Compact number for labels: 1234 → "1.23k", 2500000 → "2.5M", 0.123 → "0.123". */
export function shortNumber(n: number): string {
  const a = Math.abs(n);
  const trim = (x: number, unit: string) => `${Number(x.toPrecision(3))}${unit}`;
  if (a >= 1e9) return trim(n / 1e9, 'G');
  if (a >= 1e6) return trim(n / 1e6, 'M');
  if (a >= 1e3) return trim(n / 1e3, 'k');
  if (a === 0) return '0';
  return String(Number(n.toPrecision(3)));
}

interface Scale {
  y: (v: number) => number;
  ticks: number[];
  log: boolean;
}

/** Linear (from 0) or log10 scale over [top, bottom] pixels. */
function makeScale(values: number[], top: number, bottom: number, log: boolean | undefined, refs: number[]): Scale {
  const all = [...values, ...refs].filter((v) => Number.isFinite(v) && v > 0);
  const max = all.length ? Math.max(...all) : 1;
  const min = all.length ? Math.min(...all) : 1;
  const useLog = log ?? max / min > 30;
  if (useLog) {
    // At least a third of a decade below the smallest value, so its bar stays visible.
    const lo = Math.floor(Math.log10(min / 3));
    const hi = Math.max(lo + 1, Math.ceil(Math.log10(max)));
    const y = (v: number) => bottom - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * (bottom - top);
    const ticks: number[] = [];
    for (let e = lo; e <= hi; e++) ticks.push(10 ** e);
    return { y, ticks, log: true };
  }
  const step = niceStep(max / 5);
  const hi = Math.ceil(max / step) * step || 1;
  const ticks: number[] = [];
  for (let t = 0; t <= hi + step / 2; t += step) ticks.push(t);
  return { y: (v: number) => bottom - (v / hi) * (bottom - top), ticks, log: false };
}

function niceStep(raw: number): number {
  if (!(raw > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
}

function frame(o: ChartOptions, w: number, h: number, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" ${FONT} font-size="12">`,
    `<rect width="${w}" height="${h}" fill="#ffffff"/>`,
    `<text x="${w / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600" fill="#222">${escapeXml(o.title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function axes(o: ChartOptions, scale: Scale, left: number, right: number, top: number, bottom: number): string[] {
  const out: string[] = [];
  for (const t of scale.ticks) {
    const y = scale.y(t).toFixed(1);
    out.push(`<line x1="${left}" x2="${right}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${left - 6}" y="${y}" dy="4" text-anchor="end" fill="#555">${escapeXml(shortNumber(t))}</text>`);
  }
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${bottom}" stroke="#888"/>`);
  out.push(`<line x1="${left}" x2="${right}" y1="${bottom}" y2="${bottom}" stroke="#888"/>`);
  const label = `${o.yLabel}${scale.log ? ' — log scale' : ''}`;
  out.push(`<text transform="translate(16 ${(top + bottom) / 2}) rotate(-90)" text-anchor="middle" fill="#444">${escapeXml(label)}</text>`);
  for (const r of o.references ?? []) {
    const y = scale.y(r.value).toFixed(1);
    out.push(`<line x1="${left}" x2="${right}" y1="${y}" y2="${y}" stroke="#c0392b" stroke-dasharray="6 4"/>`);
    // Labelled mid-plot: bar value labels crowd the top, line labels the right edge.
    out.push(`<text x="${(left + right) / 2}" y="${y}" dy="-4" text-anchor="middle" fill="#c0392b">${escapeXml(r.label)}</text>`);
  }
  return out;
}

function legend(series: Series[], left: number, y: number): string[] {
  const out: string[] = [];
  let x = left;
  for (const s of series) {
    out.push(`<rect x="${x}" y="${y - 10}" width="12" height="12" fill="${s.color}"/>`);
    out.push(`<text x="${x + 17}" y="${y}" fill="#333">${escapeXml(s.name)}</text>`);
    x += 30 + s.name.length * 7;
  }
  return out;
}

/** The frame both chart kinds draw in: size, plot bounds, value scale and the axes. */
function plotArea(o: ChartOptions) {
  const w = o.width ?? 720;
  const h = o.height ?? 360;
  const left = 70;
  const right = w - 20;
  const top = 40;
  const bottom = h - 60;
  const values = o.series.flatMap((s) => s.values).filter((v): v is number => v !== null);
  const scale = makeScale(values, top + 14, bottom, o.log, (o.references ?? []).map((r) => r.value));
  return { w, h, left, right, top, bottom, scale, body: axes(o, scale, left, right, top, bottom) };
}

/** A grouped bar chart: one group per category, one bar per series. */
export function barChart(o: ChartOptions): string {
  const { w, h, left, right, bottom, scale, body } = plotArea(o);
  const groupW = (right - left) / Math.max(1, o.categories.length);
  const barW = Math.min(48, (groupW * 0.8) / Math.max(1, o.series.length));
  o.categories.forEach((cat, ci) => {
    const gx = left + ci * groupW + (groupW - barW * o.series.length) / 2;
    o.series.forEach((s, si) => {
      const v = s.values[ci];
      const x = gx + si * barW;
      if (v === null || v === undefined) {
        body.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${bottom - 4}" text-anchor="middle" font-size="10" fill="#999">n/a</text>`);
        return;
      }
      const y = scale.y(v);
      body.push(`<rect x="${(x + 1).toFixed(1)}" y="${y.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(bottom - y).toFixed(1)}" fill="${s.color}"><title>${escapeXml(`${s.name}, ${cat}: ${v}`)}</title></rect>`);
      body.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${(y - 4).toFixed(1)}" text-anchor="middle" font-size="10" fill="#333">${escapeXml(shortNumber(v))}</text>`);
    });
    body.push(`<text x="${(left + ci * groupW + groupW / 2).toFixed(1)}" y="${bottom + 18}" text-anchor="middle" fill="#333">${escapeXml(cat)}</text>`);
  });
  body.push(...legend(o.series, left, h - 16));
  return frame(o, w, h, body);
}

/** A line chart: one line per series across the categories, a dot and value per point. */
export function lineChart(o: ChartOptions): string {
  const { w, h, left, right, bottom, scale, body } = plotArea(o);
  const n = Math.max(1, o.categories.length);
  const xOf = (i: number) => (n === 1 ? (left + right) / 2 : left + 30 + (i * (right - left - 130)) / (n - 1));
  o.categories.forEach((cat, i) => body.push(`<text x="${xOf(i).toFixed(1)}" y="${bottom + 18}" text-anchor="middle" fill="#333">${escapeXml(cat)}</text>`));
  for (const s of o.series) {
    const pts = s.values.map((v, i) => (v === null || v === undefined ? null : ([xOf(i), scale.y(v), v] as const)));
    let path = '';
    for (const p of pts) {
      if (!p) continue;
      path += `${path ? 'L' : 'M'}${p[0].toFixed(1)} ${p[1].toFixed(1)} `;
    }
    if (path) body.push(`<path d="${path.trim()}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    pts.forEach((p, i) => {
      if (!p) return;
      body.push(`<circle cx="${p[0].toFixed(1)}" cy="${p[1].toFixed(1)}" r="3.5" fill="${s.color}"><title>${escapeXml(`${s.name}, ${o.categories[i]}: ${p[2]}`)}</title></circle>`);
    });
    // Only the last point is labelled (name and value), so lines that run close stay readable.
    const lastPoint = [...pts].reverse().find((p) => p);
    if (lastPoint) body.push(`<text x="${(lastPoint[0] + 6).toFixed(1)}" y="${(lastPoint[1] + 4).toFixed(1)}" font-size="10" fill="${s.color}">${escapeXml(`${s.name} ${shortNumber(lastPoint[2])}`)}</text>`);
  }
  body.push(...legend(o.series, left, h - 16));
  return frame(o, w, h, body);
}
