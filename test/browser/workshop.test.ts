/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// Every workshop notebook, in order, in a real browser: classic Notebook + Debian's
// Chromium driven by playwright-core, cells run through the UI (Cell > Run All). Checks no
// error outputs, every showPlot output drawn by plotly.js, every showAudio player decodes,
// and saves a screenshot of each notebook under runs/browser/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, startJupyter } from './jupyter-server';
import { audioDurations, errorOutputs, plotsDrawn, runAllCells, stderrNotices } from './classic';

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
      await page.close();
    }
  } finally {
    await browser.close();
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
});
