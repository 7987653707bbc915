/**
 * The subset of plotly.js figures that ttslab draws: line/scatter, bar, histogram and
 * heatmap traces. Figures are plain plotly.js JSON, so anything plotly.js accepts can be
 * passed; the static fallback image draws these four trace types.
 */

export type Numeric = number[] | Float32Array | Float64Array | Int32Array | Uint8Array;

export interface Trace {
  type?: 'scatter' | 'scattergl' | 'bar' | 'histogram' | 'heatmap' | string;
  name?: string;
  x?: Numeric | string[];
  y?: Numeric | string[];
  /** Heatmap values `[rows (y), columns (x)]`. */
  z?: Numeric[];
  mode?: 'lines' | 'markers' | 'lines+markers' | string;
  line?: { color?: string; width?: number; dash?: string };
  marker?: { color?: string; size?: number };
  nbinsx?: number;
  colorscale?: string;
  showlegend?: boolean;
  [key: string]: unknown;
}

export interface Axis {
  title?: string | { text?: string };
  type?: 'linear' | 'log' | string;
  range?: [number, number];
  [key: string]: unknown;
}

export interface Layout {
  title?: string | { text?: string };
  xaxis?: Axis;
  yaxis?: Axis;
  width?: number;
  height?: number;
  [key: string]: unknown;
}

export interface Figure {
  data: Trace[];
  layout?: Layout;
}

export function titleText(t: string | { text?: string } | undefined): string {
  if (t === undefined) return '';
  return typeof t === 'string' ? t : (t.text ?? '');
}

/** Converts typed arrays to plain arrays so the figure serialises as plotly.js JSON. */
export function toPlainFigure(fig: Figure): Figure {
  const conv = (v: unknown): unknown => {
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
    if (Array.isArray(v)) return v.map(conv);
    if (v && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) o[k] = conv(x);
      return o;
    }
    return v;
  };
  return conv(fig) as Figure;
}
