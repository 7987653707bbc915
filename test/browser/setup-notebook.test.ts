/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// 00_setup in a real browser: Jupyter (Lab, else classic Notebook) + Debian's Chromium,
// driven by playwright-core. Checks what a headless nbclient run cannot: the plot is drawn
// by plotly.js (SVG in the page), the audio player's WAV decodes, and a saved notebook
// reopened from disk still shows its figure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { runAllCells } from './classic';
import { CHROMIUM_ARGS, startJupyter } from './jupyter-server';
// @ts-expect-error: plain ES module without types
import { findNbclientPython } from '../../scripts/jupyter-env.mjs';

const root = resolve(__dirname, '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const artifacts = join(root, 'runs', 'browser');

test('00_setup in the browser: plot drawn, audio decodes, figure survives reopening', { skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (apt-get install chromium)` }, async () => {
  // Inside the checkout, as notebooks/ is: the kernel resolves 'ttslab' through the
  // node_modules of a parent folder. The copy keeps the committed notebook unchanged.
  mkdirSync(join(root, 'runs'), { recursive: true });
  const work = mkdtempSync(join(root, 'runs', 'browser-work-'));
  cpSync(join(root, 'notebooks', '00_setup.ipynb'), join(work, '00_setup.ipynb'));
  const server = await startJupyter(work);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  mkdirSync(artifacts, { recursive: true });
  try {
    assert.equal(server.app, 'notebook', 'this test drives the classic Notebook UI; JupyterLab needs its own selectors');
    const page = await browser.newPage({ viewport: { width: 1280, height: 2400 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/notebooks/00_setup.ipynb?token=${server.token}`);
    await runAllCells(page);

    assert.equal(await page.locator('.output_error, .output_stderr').count(), 0, 'no error outputs');
    // plotly.js replaced the static image with its SVG.
    await page.waitForSelector('.ttslab-plot .main-svg', { timeout: 30_000 });
    assert.ok((await page.locator('.ttslab-plot .main-svg .scatterlayer .trace').count()) >= 1, 'the trace is drawn');
    // The audio element's WAV decodes: the browser reports its duration.
    const duration = await page.$eval('.ttslab-audio audio', (el) => {
      const a = el as HTMLAudioElement;
      return a.readyState >= 1 ? a.duration : new Promise<number>((res) => a.addEventListener('loadedmetadata', () => res(a.duration)));
    });
    assert.ok(Math.abs(duration - 1) < 0.01, `audio duration ${duration} s, expected 1 s`);
    await page.screenshot({ path: join(artifacts, '00_setup-live.png'), fullPage: true });

    // Save, then reopen from disk: the saved outputs must still show the figure.
    await page.keyboard.press('Control+s');
    await page.waitForFunction(() => !document.title.startsWith('*'), null, { timeout: 10_000 }).catch(() => undefined);
    await page.evaluate(() => (window as unknown as { Jupyter: { notebook: { save_checkpoint(): void } } }).Jupyter.notebook.save_checkpoint());
    await page.waitForTimeout(1500);
    const reopened = await browser.newPage({ viewport: { width: 1280, height: 2400 } });
    await reopened.goto(`${server.url}/notebooks/00_setup.ipynb?token=${server.token}`);
    await reopened.waitForSelector('.ttslab-plot', { timeout: 30_000 });
    const shows = await reopened.waitForFunction(() => {
      const el = document.querySelector('.ttslab-plot');
      return Boolean(el?.querySelector('.main-svg') || (el?.querySelector('img.ttslab-plot-static') as HTMLImageElement | null)?.naturalWidth);
    }, null, { timeout: 30_000 });
    assert.ok(await shows.jsonValue(), 'reopened notebook shows the plot or its static image');
    await reopened.screenshot({ path: join(artifacts, '00_setup-reopened.png'), fullPage: true });
    assert.deepEqual(errors, [], 'no JavaScript errors in the page');
  } finally {
    await browser.close();
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
});

test('an untrusted executed notebook (made by nbclient) still shows the static figure and plays audio', { skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM}` }, async () => {
  mkdirSync(join(root, 'runs'), { recursive: true });
  const work = mkdtempSync(join(root, 'runs', 'browser-work-'));
  const server = await startJupyter(work);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    // Executed headless, as `npm run workshop` does: nobody signed it, so Jupyter does not
    // trust it and strips its scripts.
    const python = findNbclientPython();
    assert.ok(python, 'a Python with nbclient');
    const py = spawnSync(python, [join(root, 'scripts', 'run_notebooks.py'), '--out', work, join(root, 'notebooks', '00_setup.ipynb')], { encoding: 'utf8', env: server.env });
    assert.equal(py.status, 0, py.stdout + py.stderr);
    const page = await browser.newPage({ viewport: { width: 1280, height: 2400 } });
    await page.goto(`${server.url}/notebooks/00_setup.ipynb?token=${server.token}`);
    await page.waitForSelector('.ttslab-plot', { timeout: 30_000 });
    assert.equal(await page.locator('.ttslab-plot .main-svg').count(), 0, 'plotly.js did not run (untrusted)');
    const width = await page.waitForFunction(() => (document.querySelector('.ttslab-plot img.ttslab-plot-static') as HTMLImageElement | null)?.naturalWidth ?? 0, null, { timeout: 30_000 });
    assert.equal(await width.jsonValue(), 720, 'the static SVG image is shown at its size');
    const duration = await page.$eval('.ttslab-audio audio', (el) => {
      const a = el as HTMLAudioElement;
      return a.readyState >= 1 ? a.duration : new Promise<number>((res) => a.addEventListener('loadedmetadata', () => res(a.duration)));
    });
    assert.ok(Math.abs(duration - 1) < 0.01, `audio duration ${duration} s`);
    await page.screenshot({ path: join(artifacts, '00_setup-untrusted.png'), fullPage: true });
  } finally {
    await browser.close();
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
});
