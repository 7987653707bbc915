/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// Every workshop notebook, in order, in a real browser: classic Notebook + Debian's
// Chromium driven by playwright-core, cells run through the UI (Cell > Run All). Checks no
// error outputs, every showPlot output drawn by plotly.js, every showAudio player decodes,
// the live training plot of 05 updated in place while training ran, and that each saved
// notebook, reopened from disk in a fresh page with a fresh kernel that runs nothing, still
// shows every figure (drawn, or its static image) and audio player. Screenshots of each
// notebook after its run and reopened go under runs/browser/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, startJupyter } from './jupyter-server';
import { audioDurations, errorOutputs, plotRenders, plotsDrawn, reopenedOutputs, runAllCells, saveNotebook, stderrNotices, watchPlotRenders } from './classic';
import type { PlotRender } from './classic';

const root = resolve(__dirname, '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const artifacts = join(root, 'runs', 'browser');

test('workshop notebooks run in the browser with plots drawn and audio playable', { skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (apt-get install chromium)`, timeout: 1_800_000 }, async () => {
  mkdirSync(join(root, 'runs'), { recursive: true });
  // Inside the checkout so the kernel resolves 'ttslab' through node_modules; copies keep
  // the committed notebooks unchanged, and the work folder is the test's own.
  const work = mkdtempSync(join(root, 'runs', 'browser-work-'));
  const notebooks = readdirSync(join(root, 'notebooks')).filter((f) => /^\d\d_.*\.ipynb$/.test(f)).sort();
  for (const nb of notebooks) cpSync(join(root, 'notebooks', nb), join(work, nb));
  // TTSLAB_QUICK: the short training of the pipeline check (notebook 05 says so).
  const server = await startJupyter(work, { TTSLAB_WORKDIR: join(work, 'work'), TTSLAB_QUICK: '1' });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  mkdirSync(artifacts, { recursive: true });
  try {
    for (const nb of notebooks) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`${server.url}/notebooks/${nb}?token=${server.token}`);
      await page.waitForSelector('#notebook-container .cell', { timeout: 60_000 });
      await watchPlotRenders(page);
      await runAllCells(page);
      // The classic Notebook scrolls inside #site: let the page grow so the screenshot holds every cell.
      await page.addStyleTag({ content: '#site { height: auto !important; overflow: visible !important; }' });
      await page.screenshot({ path: join(artifacts, nb.replace('.ipynb', '.png')), fullPage: true });
      assert.deepEqual(await errorOutputs(page), [], `${nb}: error outputs`);
      const drawn = await plotsDrawn(page);
      assert.ok(drawn.every(Boolean), `${nb}: ${drawn.filter((d) => !d).length} of ${drawn.length} plots not drawn by plotly.js`);
      const durations = await audioDurations(page);
      assert.ok(durations.every((d) => Number.isFinite(d) && d > 0), `${nb}: audio durations ${durations.join(', ')}`);
      assert.deepEqual(pageErrors, [], `${nb}: JavaScript errors in the page`);
      for (const n of await stderrNotices(page)) console.log(`# ${nb} notice: ${n.split('\n')[0]}`);
      console.log(`# ${nb}: ${drawn.length} plots drawn, ${durations.length} audio players (${durations.map((d) => d.toFixed(2)).join(', ')} s)`);
      if (nb.startsWith('05_')) checkLiveTrainingPlot(await plotRenders(page));

      // Reopen from disk: save as a person does, stop the kernel, open the file in a new page.
      await saveNotebook(page);
      await page.close();
      await shutDownSessions(server.url, server.token);
      const reopened = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
      const reopenErrors: string[] = [];
      reopened.on('pageerror', (e) => reopenErrors.push(e.message));
      await reopened.goto(`${server.url}/notebooks/${nb}?token=${server.token}`);
      const shown = await reopenedOutputs(reopened);
      await reopened.addStyleTag({ content: '#site { height: auto !important; overflow: visible !important; }' });
      await reopened.screenshot({ path: join(artifacts, nb.replace('.ipynb', '-reopened.png')), fullPage: true });
      assert.equal(shown.plots.length, drawn.length, `${nb} reopened: ${shown.plots.length} figures, the run showed ${drawn.length}`);
      assert.ok(shown.plots.every((p) => p !== 'none'), `${nb} reopened: figures ${shown.plots.join(', ')} (none = neither drawn nor its static image)`);
      assert.equal(shown.audio.length, durations.length, `${nb} reopened: ${shown.audio.length} audio players, the run showed ${durations.length}`);
      assert.ok(shown.audio.every((d) => Number.isFinite(d) && d > 0), `${nb} reopened: audio durations ${shown.audio.join(', ')}`);
      assert.equal(shown.running, 0, `${nb} reopened: cells running`);
      assert.deepEqual(shown.brokenImages, [], `${nb} reopened: images that do not show`);
      assert.deepEqual(reopenErrors, [], `${nb} reopened: JavaScript errors in the page`);
      console.log(`# ${nb} reopened: figures ${shown.plots.join(', ') || '(none)'}; ${shown.audio.length} audio players; ${shown.images} images`);
      await reopened.close();
      await shutDownSessions(server.url, server.token);
    }
  } finally {
    await browser.close();
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
});

/** Stops every notebook session's kernel (the reopened page then starts a fresh one that runs nothing). */
async function shutDownSessions(url: string, token: string): Promise<void> {
  const sessions = (await (await fetch(`${url}/api/sessions?token=${token}`)).json()) as { id: string }[];
  for (const s of sessions) {
    const r = await fetch(`${url}/api/sessions/${s.id}?token=${token}`, { method: 'DELETE' });
    assert.ok(r.ok, `DELETE session ${s.id}: HTTP ${r.status}`);
  }
}

/**
 * The live training plot of 05 (the figure titled "LoRA r ..."): one output refreshed in
 * place, so its renders all sit in one cell; at least two of them must have arrived while
 * that cell was still running, and the points drawn must grow from render to render.
 */
function checkLiveTrainingPlot(renders: PlotRender[]): void {
  const live = renders.filter((r) => r.title.startsWith('LoRA r'));
  const summary = live.map((r) => `${Math.round(r.t)} ms: ${r.points} points${r.whileRunning ? '' : ' (cell done)'}`).join('; ');
  console.log(`# 05 live plot renders: ${summary}`);
  assert.ok(live.length > 0, `05: no live training plot among ${renders.length} plot renders (${renders.map((r) => r.title).join(', ')})`);
  assert.equal(new Set(live.map((r) => r.cell)).size, 1, `05: live plot renders in cells ${live.map((r) => r.cell).join(', ')}: one output should refresh in place`);
  const running = live.filter((r) => r.whileRunning);
  assert.ok(running.length >= 2, `05: the live plot updated ${running.length} time(s) while training ran, expected at least 2 (${summary})`);
  const drawn = live.filter((r) => r.points >= 0).map((r) => r.points);
  assert.ok(drawn.length >= 2, `05: plotly.js drew ${drawn.length} of the live plot's renders (${summary})`);
  for (let i = 1; i < drawn.length; i++) assert.ok(drawn[i]! > drawn[i - 1]!, `05: live plot points did not grow: ${drawn.join(' -> ')}`);
}
