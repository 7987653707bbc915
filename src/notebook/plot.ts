/**
 * Interactive plots in notebooks with plotly.js, loaded from this package (no network).
 *
 * Each plot output is HTML holding a static SVG image of the figure plus a script that
 * replaces it with the interactive plotly.js chart. plotly.js itself (1.5 MB) is sent
 * once per kernel session, as an output of its own that is never replaced, so a saved
 * notebook reopened later loads it again before its plots. Where scripts do not run (an
 * untrusted notebook, a static viewer) the static image stays.
 */
import { readFileSync } from 'node:fs';
import { DisplayHandle, display, inNotebook, type MimeBundle } from './display';
import { titleText, toPlainFigure, type Figure } from './figure';
import { figureToSvg } from './staticPlot';

export type { Figure, Trace, Layout, Axis } from './figure';

const PLOTLY_PACKAGE = 'plotly.js-cartesian-dist-min';
let plotlySent = false;
let plotCounter = 0;

function plotlySource(): string {
  const path = require.resolve(`${PLOTLY_PACKAGE}/plotly-cartesian.min.js`);
  return readFileSync(path, 'utf8');
}

/** `</script>` inside inline JSON or code would end the script element early. */
function scriptSafe(s: string): string {
  return s.replace(/<\/(script)/gi, '<\\/$1').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** The output that defines `window.Plotly` in the page. */
export function plotlyLibraryBundle(): MimeBundle {
  // The UMD wrapper would hand plotly.js to a CommonJS `module` if one were in scope;
  // shadowing it makes the bundle set window.Plotly in every front end.
  const code = `(function(module, exports, define){\n${plotlySource()}\n}).call(window);`;
  return {
    'text/html': `<script type="text/javascript">${scriptSafe(code)}</script>`,
    'text/plain': '',
  };
}

/** Sends plotly.js to the front end if this kernel has not yet (or `force`). */
export function initPlotly(force = false): void {
  if ((plotlySent && !force) || !inNotebook()) return;
  display(plotlyLibraryBundle());
  plotlySent = true;
}

export interface PlotOptions {
  /** Pixel size of the static image and the plot area (defaults 720 x 360). */
  width?: number;
  height?: number;
}

/** The MIME bundle of one plot: interactive HTML with a static SVG inside, and text. */
export function plotBundle(figure: Figure, options: PlotOptions = {}): MimeBundle {
  const fig = toPlainFigure(figure);
  const width = options.width ?? fig.layout?.width ?? 720;
  const height = options.height ?? fig.layout?.height ?? 360;
  const svg = figureToSvg(fig, { width, height });
  const id = `ttslab-plot-${process.pid}-${++plotCounter}-${Date.now().toString(36)}`;
  // plotly.js 3+ takes titles only as {text}; accept the older string form too.
  const asTitle = (t: unknown) => (typeof t === 'string' ? { text: t } : t);
  const layout: Record<string, unknown> = { margin: { l: 60, r: 20, t: titleText(fig.layout?.title) ? 40 : 20, b: 45 }, ...fig.layout, height };
  if (layout.title !== undefined) layout.title = asTitle(layout.title);
  for (const axis of ['xaxis', 'yaxis'] as const) {
    const a = fig.layout?.[axis];
    if (a) layout[axis] = { ...a, ...(a.title !== undefined ? { title: asTitle(a.title) } : {}) };
  }
  const json = scriptSafe(JSON.stringify({ data: fig.data, layout }));
  const script =
    `(function(){var el=document.getElementById(${JSON.stringify(id)});if(!el)return;var fig=${json};` +
    `function draw(){if(!window.Plotly)return false;el.innerHTML='';` +
    `window.Plotly.newPlot(el,fig.data,fig.layout,{responsive:true,displaylogo:false});return true;}` +
    // plotly.js may still be loading when this output renders (a notebook being reopened).
    `if(!draw()){var n=0;var t=setInterval(function(){if(draw()||++n>100)clearInterval(t);},100);}})();`;
  const html =
    `<div id="${id}" class="ttslab-plot" style="width:100%;max-width:${width}px;min-height:${height}px">` +
    `<img class="ttslab-plot-static" alt="${titleText(fig.layout?.title).replace(/"/g, '&quot;') || 'plot'}" ` +
    `src="data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}"></div>` +
    `<script type="text/javascript">${script}</script>`;
  const traces = fig.data.map((t) => `${t.type ?? 'scatter'}${t.name ? ` "${t.name}"` : ''}`).join(', ');
  const title = titleText(fig.layout?.title);
  return { 'text/html': html, 'text/plain': `<plot${title ? ` "${title}"` : ''}: ${traces}>` };
}

/** Shows a plotly.js figure: `showPlot({data: [{x, y, name: 'loss'}], layout: {title: 'Loss'}})`. */
export function showPlot(figure: Figure, options: PlotOptions = {}): void {
  initPlotly();
  display(plotBundle(figure, options));
}

/**
 * A plot that is redrawn in place, for live training curves: one output that
 * refreshes, not one plot per step. Refresh policy: the first update draws at once;
 * later ones at most every `minIntervalMs` (default 1000 ms; the newest figure waits as
 * pending); `flush` draws the pending one, so the final state always shows; a figure
 * equal to the one on screen is not sent again.
 */
export class LivePlot {
  private readonly handle = new DisplayHandle();
  private last = Number.NEGATIVE_INFINITY;
  private pending: Figure | null = null;
  /** JSON of the figure on screen, so an unchanged redraw is skipped. */
  private shownJson: string | null = null;
  /** Outputs sent (the first display plus its in-place updates). */
  renders = 0;

  constructor(private readonly options: PlotOptions & { minIntervalMs?: number } = {}) {
    const ms = options.minIntervalMs ?? 1000;
    if (!(Number.isFinite(ms) && ms >= 0)) throw new Error(`LivePlot minIntervalMs must be a number >= 0, got ${ms}`);
  }

  /** The output's display id (its `update_display_data` messages carry it). */
  get displayId(): string {
    return this.handle.id;
  }

  /** Redraws with `figure` (kept as pending if the last redraw was too recent, unless `force`). */
  update(figure: Figure, force = false): void {
    const now = performance.now();
    if (!force && now - this.last < (this.options.minIntervalMs ?? 1000)) {
      this.pending = figure;
      return;
    }
    this.pending = null;
    const json = JSON.stringify(toPlainFigure(figure));
    if (json === this.shownJson) return;
    initPlotly();
    this.handle.show(plotBundle(figure, this.options));
    this.shownJson = json;
    this.last = now;
    this.renders++;
  }

  /** Draws the last skipped update, so the final state is always shown. */
  flush(): void {
    if (this.pending) this.update(this.pending, true);
  }
}
