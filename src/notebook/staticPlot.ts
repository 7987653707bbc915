/**
 * A static SVG image of a figure, drawn without a browser. It is what a saved notebook
 * shows where plotly.js cannot run (an untrusted notebook, a viewer without
 * JavaScript), and what a terminal run can save to disk.
 */
import { encodePng } from './png';
import { titleText, type Figure, type Numeric, type Trace } from './figure';
import { escapeHtml } from './display';

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** Viridis, sampled at 9 stops (matplotlib's values). */
const VIRIDIS: [number, number, number][] = [
  [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
];

/** Colour of `t` in [0, 1] on the viridis map (RGB 0-255). */
export function viridis(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i]!;
  const b = VIRIDIS[i + 1]!;
  return [0, 1, 2].map((k) => Math.round(a[k]! + (b[k]! - a[k]!) * f)) as [number, number, number];
}

/** "Nice" tick values covering [lo, hi] (1, 2, 5 x 10^k steps). */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi === lo) return [lo];
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function fmtTick(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
  return String(Number(v.toPrecision(6)));
}

function nums(a: Numeric | string[] | undefined): number[] | undefined {
  if (a === undefined) return undefined;
  return Array.from(a as ArrayLike<number | string>, (v) => (typeof v === 'number' ? v : Number.NaN));
}

interface Prepared {
  kind: 'line' | 'bar' | 'heatmap';
  trace: Trace;
  x: number[];
  y: number[];
  categories?: string[];
  width?: number;
  z?: number[][];
}

function histogram(values: number[], nbins: number | undefined): { x: number[]; y: number[]; width: number } {
  const v = values.filter(Number.isFinite);
  if (v.length === 0) return { x: [], y: [], width: 1 };
  let lo = Math.min(...v);
  let hi = Math.max(...v);
  if (hi === lo) { lo -= 0.5; hi += 0.5; }
  // Sturges' rule when the trace does not say.
  const n = nbins && nbins > 0 ? nbins : Math.max(1, Math.ceil(Math.log2(v.length) + 1));
  const w = (hi - lo) / n;
  const counts = new Array<number>(n).fill(0);
  for (const x of v) counts[Math.min(n - 1, Math.floor((x - lo) / w))]!++;
  return { x: counts.map((_, i) => lo + (i + 0.5) * w), y: counts, width: w };
}

function prepare(trace: Trace): Prepared | null {
  const type = trace.type ?? 'scatter';
  if (type === 'heatmap' && trace.z) {
    const z = trace.z.map((row) => Array.from(row as ArrayLike<number>));
    const cols = z[0]?.length ?? 0;
    const x = nums(trace.x) ?? Array.from({ length: cols }, (_, i) => i);
    const y = nums(trace.y) ?? Array.from({ length: z.length }, (_, i) => i);
    return { kind: 'heatmap', trace, x, y, z };
  }
  if (type === 'histogram') {
    const h = histogram(nums(trace.x) ?? [], trace.nbinsx);
    return { kind: 'bar', trace, ...h };
  }
  const rawX = trace.x;
  let categories: string[] | undefined;
  let x: number[];
  const y = nums(trace.y) ?? [];
  if (rawX && Array.isArray(rawX) && rawX.some((v) => typeof v === 'string')) {
    categories = (rawX as unknown[]).map(String);
    x = categories.map((_, i) => i);
  } else {
    x = nums(rawX) ?? y.map((_, i) => i);
  }
  if (type === 'bar') return { kind: 'bar', trace, x, y, categories, width: 0.8 };
  return { kind: 'line', trace, x, y, categories };
}

/** Draws `fig` as a self-contained SVG document. */
export function figureToSvg(fig: Figure, size: { width?: number; height?: number } = {}): string {
  const W = size.width ?? fig.layout?.width ?? 720;
  const H = size.height ?? fig.layout?.height ?? 360;
  const title = titleText(fig.layout?.title);
  const xTitle = titleText(fig.layout?.xaxis?.title);
  const yTitle = titleText(fig.layout?.yaxis?.title);
  const prepared = fig.data.map(prepare).filter((p): p is Prepared => p !== null);
  const legendItems = prepared.filter((p) => p.kind !== 'heatmap' && p.trace.name && p.trace.showlegend !== false);
  const m = { l: 64, r: legendItems.length ? 150 : 20, t: title ? 36 : 14, b: xTitle ? 48 : 32 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;

  // Data ranges over all traces (bars extend to zero and by half their width).
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const p of prepared) {
    const half = p.kind === 'bar' ? (p.width ?? 0) / 2 : 0;
    for (const v of p.x) if (Number.isFinite(v)) { x0 = Math.min(x0, v - half); x1 = Math.max(x1, v + half); }
    if (p.kind === 'heatmap') {
      for (const v of p.y) if (Number.isFinite(v)) { y0 = Math.min(y0, v); y1 = Math.max(y1, v); }
    } else {
      for (const v of p.y) if (Number.isFinite(v)) { y0 = Math.min(y0, v); y1 = Math.max(y1, v); }
      if (p.kind === 'bar') { y0 = Math.min(y0, 0); y1 = Math.max(y1, 0); }
    }
  }
  const xr = fig.layout?.xaxis?.range;
  const yr = fig.layout?.yaxis?.range;
  if (xr) [x0, x1] = xr;
  if (yr) [y0, y1] = yr;
  if (!Number.isFinite(x0)) { x0 = 0; x1 = 1; }
  if (!Number.isFinite(y0)) { y0 = 0; y1 = 1; }
  if (x1 === x0) { x0 -= 0.5; x1 += 0.5; }
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  if (!yr && prepared.some((p) => p.kind !== 'heatmap')) {
    const pad = (y1 - y0) * 0.05;
    // Bars stand on zero: pad only away from it.
    if (!(prepared.every((p) => p.kind === 'bar') && y0 === 0)) y0 -= pad;
    y1 += pad;
  }
  const sx = (v: number) => m.l + ((v - x0) / (x1 - x0)) * pw;
  const sy = (v: number) => m.t + ph - ((v - y0) / (y1 - y0)) * ph;

  const parts: string[] = [];
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  // Heatmaps first, as an embedded PNG stretched over their extent.
  for (const p of prepared.filter((q) => q.kind === 'heatmap')) {
    const z = p.z!;
    const rows = z.length;
    const cols = z[0]?.length ?? 0;
    if (rows === 0 || cols === 0) continue;
    let lo = Infinity, hi = -Infinity;
    for (const row of z) for (const v of row) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const rgba = new Uint8Array(rows * cols * 4);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const v = z[r]![c]!;
        const [R, G, B] = viridis(hi > lo ? (v - lo) / (hi - lo) : 0.5);
        // Row 0 of z is the lowest y: flip so it is drawn at the bottom.
        const o = ((rows - 1 - r) * cols + c) * 4;
        rgba[o] = R; rgba[o + 1] = G; rgba[o + 2] = B; rgba[o + 3] = Number.isFinite(v) ? 255 : 0;
      }
    }
    const png = encodePng(cols, rows, rgba).toString('base64');
    parts.push(`<image x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" preserveAspectRatio="none" href="data:image/png;base64,${png}"/>`);
  }
  // Grid and ticks.
  const cats = prepared.find((p) => p.categories)?.categories;
  // Grid lines would cut through a heatmap's image.
  const grid = prepared.some((p) => p.kind === 'heatmap') ? 'none' : '#eee';
  const xTicks = cats ? cats.map((_, i) => i) : niceTicks(x0, x1);
  for (const t of xTicks) {
    if (t < x0 || t > x1) continue;
    const X = sx(t).toFixed(1);
    parts.push(`<line x1="${X}" y1="${m.t}" x2="${X}" y2="${m.t + ph}" stroke="${grid}"/>`);
    const label = cats ? cats[t] ?? '' : fmtTick(t);
    parts.push(`<text x="${X}" y="${m.t + ph + 16}" text-anchor="middle">${escapeHtml(label)}</text>`);
  }
  for (const t of niceTicks(y0, y1)) {
    const Y = sy(t).toFixed(1);
    parts.push(`<line x1="${m.l}" y1="${Y}" x2="${m.l + pw}" y2="${Y}" stroke="${grid}"/>`);
    parts.push(`<text x="${m.l - 6}" y="${Y}" text-anchor="end" dominant-baseline="middle">${fmtTick(t)}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  // Traces.
  prepared.forEach((p, i) => {
    const color = p.trace.line?.color ?? p.trace.marker?.color ?? PALETTE[i % PALETTE.length]!;
    if (p.kind === 'bar') {
      const bw = Math.max(1, ((p.width ?? 0.8) / (x1 - x0)) * pw);
      p.x.forEach((xv, k) => {
        const yv = p.y[k];
        if (yv === undefined || !Number.isFinite(xv) || !Number.isFinite(yv)) return;
        const top = sy(Math.max(yv, 0));
        const h = Math.abs(sy(yv) - sy(0));
        parts.push(`<rect x="${(sx(xv) - bw / 2).toFixed(1)}" y="${top.toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${escapeHtml(color)}" fill-opacity="0.85"/>`);
      });
    } else if (p.kind === 'line') {
      const mode = p.trace.mode ?? (p.x.length > 50 ? 'lines' : 'lines+markers');
      const pts = p.x.map((xv, k) => [xv, p.y[k]] as const).filter(([a, b]) => Number.isFinite(a) && b !== undefined && Number.isFinite(b));
      if (mode.includes('lines') && pts.length > 1) {
        const d = pts.map(([a, b], k) => `${k ? 'L' : 'M'}${sx(a).toFixed(1)},${sy(b!).toFixed(1)}`).join('');
        parts.push(`<path d="${d}" fill="none" stroke="${escapeHtml(color)}" stroke-width="${p.trace.line?.width ?? 1.5}"/>`);
      }
      if (mode.includes('markers')) {
        for (const [a, b] of pts) parts.push(`<circle cx="${sx(a).toFixed(1)}" cy="${sy(b!).toFixed(1)}" r="${(p.trace.marker?.size ?? 6) / 2}" fill="${escapeHtml(color)}"/>`);
      }
    }
  });
  // Titles and legend.
  if (title) parts.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${escapeHtml(title)}</text>`);
  if (xTitle) parts.push(`<text x="${m.l + pw / 2}" y="${H - 10}" text-anchor="middle">${escapeHtml(xTitle)}</text>`);
  if (yTitle) parts.push(`<text transform="translate(16,${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(yTitle)}</text>`);
  legendItems.forEach((p, k) => {
    const i = prepared.indexOf(p);
    const color = p.trace.line?.color ?? p.trace.marker?.color ?? PALETTE[i % PALETTE.length]!;
    const y = m.t + 10 + k * 18;
    parts.push(`<rect x="${m.l + pw + 12}" y="${y - 6}" width="14" height="4" fill="${escapeHtml(color)}"/>`);
    parts.push(`<text x="${m.l + pw + 32}" y="${y}" dominant-baseline="middle">${escapeHtml(p.trace.name!)}</text>`);
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
    `font-family="sans-serif" font-size="11" fill="#333">${parts.join('')}</svg>`
  );
}
