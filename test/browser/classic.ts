/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// Driving the classic Jupyter Notebook UI as a person does, and reading what it shows.
import type { Page } from 'playwright-core';

/** Waits for the kernel, clicks Cell > Run All, and waits until every cell has run or one failed. */
export async function runAllCells(page: Page, timeoutMs = 600_000): Promise<void> {
  await page.waitForFunction(() => {
    const J = (window as unknown as { Jupyter?: { notebook?: { kernel?: { is_connected(): boolean } } } }).Jupyter;
    return J?.notebook?.kernel?.is_connected?.() === true;
  }, null, { timeout: 60_000 });
  await page.click('#celllink');
  await page.click('#run_all_cells');
  // Done when the kernel is idle and no cell waits ([*]); a failed cell stops the rest,
  // which then keep an empty prompt.
  await page.waitForFunction(() => {
    const prompts = [...document.querySelectorAll('.cell.code_cell .input_prompt')].map((c) => c.textContent ?? '');
    const idle = document.querySelector('#kernel_indicator_icon')?.classList.contains('kernel_idle_icon');
    const ran = prompts.every((p) => /\[\d+\]/.test(p));
    // Run All stops at a failing cell: the rest keep an empty prompt, none waits.
    const failed = !ran && !prompts.some((p) => p.includes('[*]')) && prompts.some((p) => /\[\d+\]/.test(p));
    return idle && (ran || failed);
  }, null, { timeout: timeoutMs, polling: 500 });
}

/**
 * What went wrong in the run, empty when every cell ran: `error` outputs, and, since tslab
 * reports a thrown error or a compile error as stderr text with an error reply (which
 * stops Run All), the stderr of the last cell that ran when later cells did not. stderr of
 * cells that succeeded (warnings, notices) is not an error.
 */
export async function errorOutputs(page: Page): Promise<string[]> {
  return page.$$eval('.cell.code_cell', (cells) => {
    const out: string[] = [];
    // No named helper functions in here: tsx would wrap them in a __name() the page lacks.
    for (const c of cells) for (const e of c.querySelectorAll('.output_error')) out.push((e.textContent ?? '').trim().slice(0, 500));
    const ran = cells.map((c) => /\[\d+\]/.test(c.querySelector('.input_prompt')?.textContent ?? ''));
    const firstNotRun = ran.indexOf(false);
    if (firstNotRun > 0) {
      const failed = cells[firstNotRun - 1]!;
      const stderr = [...failed.querySelectorAll('.output_stderr')].map((e) => (e.textContent ?? '').trim().slice(0, 500)).join('\n');
      out.push(`cell ${firstNotRun} stopped the run${stderr ? `: ${stderr}` : ''}`);
    } else if (firstNotRun === 0) {
      out.push('no cell ran');
    }
    return out;
  });
}

/** stderr text of cells that ran fine (notices, warnings), for the test log. */
export async function stderrNotices(page: Page): Promise<string[]> {
  return page.$$eval('.output_stderr', (els) => els.map((e) => (e.textContent ?? '').trim().slice(0, 300)));
}

/** Durations (s) of every `showAudio` player, once the browser has decoded each WAV. */
export async function audioDurations(page: Page): Promise<number[]> {
  return page.$$eval('.ttslab-audio audio', (els) =>
    Promise.all(
      els.map((el) => {
        const a = el as HTMLAudioElement;
        if (a.readyState >= 1) return a.duration;
        return new Promise<number>((res) => {
          a.addEventListener('loadedmetadata', () => res(a.duration));
          a.addEventListener('error', () => res(Number.NaN));
          a.load();
        });
      }),
    ),
  );
}

/** For every `showPlot` output: whether plotly.js drew it (an SVG in the page). */
export async function plotsDrawn(page: Page): Promise<boolean[]> {
  return page.$$eval('.ttslab-plot', (els) => els.map((e) => e.querySelector('.main-svg') !== null));
}

/** One plot output that appeared in the page while the notebook ran (a render, or an in-place update of one). */
export interface PlotRender {
  /** The plot element's id: every render (and every update_display_data) brings a new one. */
  id: string;
  /** Index of the code cell whose output holds it. */
  cell: number;
  /** The figure's title (the static image's alt text). */
  title: string;
  /** Whether that cell was still running ([*]) when the plot arrived. */
  whileRunning: boolean;
  /** ms since the watch began. */
  t: number;
  /** Points of the first trace once plotly.js drew it (-1 if it never did before being replaced). */
  points: number;
}

/**
 * Starts recording every plot output as it arrives (a MutationObserver on the notebook),
 * with whether its cell was still running and, polled every 50 ms, how many points
 * plotly.js drew in its first trace. Call before running the cells; read with `plotRenders`.
 */
export async function watchPlotRenders(page: Page): Promise<void> {
  // Plain JavaScript: tsx would wrap named helpers of a TypeScript function in a __name() the page lacks.
  await page.evaluate(`(() => {
    const renders = (window.__ttslabRenders = []);
    const t0 = performance.now();
    const seen = new Map();
    // The plot's script may already have replaced the static image (and its alt) by
    // plotly.js's chart when the observer runs: the title then comes from the chart.
    const titleOf = (el) => {
      const img = el.querySelector('img.ttslab-plot-static');
      if (img) return img.getAttribute('alt') || '';
      const t = el.layout && el.layout.title;
      return (t && (typeof t === 'string' ? t : t.text)) || '';
    };
    const pointsOf = (el) => (el.data && el.data[0] && el.data[0].x ? el.data[0].x.length : -1);
    const record = (el) => {
      if (!el.id || seen.has(el.id)) return;
      const cellEl = el.closest('.cell.code_cell');
      const prompt = cellEl ? cellEl.querySelector('.input_prompt') : null;
      const r = {
        id: el.id,
        cell: cellEl ? [...document.querySelectorAll('.cell.code_cell')].indexOf(cellEl) : -1,
        title: titleOf(el),
        whileRunning: prompt ? (prompt.textContent || '').includes('[*]') : false,
        t: performance.now() - t0,
        points: pointsOf(el),
      };
      seen.set(el.id, r);
      renders.push(r);
    };
    new MutationObserver((muts) => {
      for (const m of muts) for (const n of m.addedNodes) {
        if (!(n instanceof Element)) continue;
        if (n.matches('.ttslab-plot')) record(n);
        for (const e of n.querySelectorAll('.ttslab-plot')) record(e);
      }
    }).observe(document.body, { childList: true, subtree: true });
    setInterval(() => {
      for (const el of document.querySelectorAll('.ttslab-plot')) {
        const r = seen.get(el.id);
        if (!r) continue;
        if (pointsOf(el) >= 0) r.points = pointsOf(el);
        if (!r.title) r.title = titleOf(el);
      }
    }, 50);
  })()`);
}

/** What `watchPlotRenders` recorded so far. */
export async function plotRenders(page: Page): Promise<PlotRender[]> {
  return page.evaluate(() => (window as unknown as { __ttslabRenders: PlotRender[] }).__ttslabRenders.map((r) => ({ ...r })));
}

/** Saves the notebook through the UI's own save (which also signs it as trusted, as a person's save does). */
export async function saveNotebook(page: Page): Promise<void> {
  await page.evaluate(() => (window as unknown as { Jupyter: { notebook: { save_notebook(): Promise<unknown> } } }).Jupyter.notebook.save_notebook());
  await page.waitForFunction(() => !document.title.startsWith('*'), null, { timeout: 30_000 });
}

/** What a reopened notebook shows for each figure and audio output. */
export interface ReopenedOutputs {
  /** Per `.ttslab-plot`: 'plot' (plotly.js drew it), 'static' (its SVG image is displayed) or 'none'. */
  plots: ('plot' | 'static' | 'none')[];
  /** Durations (s) of every audio player. */
  audio: number[];
  /** Images in outputs (waveforms, spectrograms, static plots) that did not load (naturalWidth 0), by alt text. */
  brokenImages: string[];
  /** Images in outputs in all. */
  images: number;
  /** Cells whose prompt says they are running ([*]): none should, nothing was run. */
  running: number;
}

/**
 * For a notebook just opened from disk: waits until each figure is drawn by plotly.js or
 * shows its static image (up to `timeoutMs`), then reports every figure and audio output.
 */
export async function reopenedOutputs(page: Page, timeoutMs = 30_000): Promise<ReopenedOutputs> {
  await page.waitForSelector('#notebook-container .cell', { timeout: 60_000 });
  await page.waitForFunction(() => [...document.querySelectorAll('.ttslab-plot')].every((el) =>
    el.querySelector('.main-svg') || ((el.querySelector('img.ttslab-plot-static') as HTMLImageElement | null)?.naturalWidth ?? 0) > 0),
  null, { timeout: timeoutMs, polling: 200 }).catch(() => undefined);
  const plots = await page.$$eval('.ttslab-plot', (els) => els.map((el) => {
    if (el.querySelector('.main-svg')) return 'plot' as const;
    const img = el.querySelector('img.ttslab-plot-static') as HTMLImageElement | null;
    return img && img.naturalWidth > 0 ? ('static' as const) : ('none' as const);
  }));
  const running = await page.$$eval('.cell.code_cell .input_prompt', (els) => els.filter((e) => (e.textContent ?? '').includes('[*]')).length);
  await page.waitForFunction(() => [...document.querySelectorAll('.output_area img')].every((i) => (i as HTMLImageElement).complete), null, { timeout: timeoutMs }).catch(() => undefined);
  const imgs = await page.$$eval('.output_area img', (els) => els.map((e) => ({ ok: (e as HTMLImageElement).naturalWidth > 0, alt: e.getAttribute('alt') ?? '' })));
  return { plots, audio: await audioDurations(page), running, images: imgs.length, brokenImages: imgs.filter((i) => !i.ok).map((i) => i.alt || '(no alt)') };
}
