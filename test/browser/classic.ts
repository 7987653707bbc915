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
