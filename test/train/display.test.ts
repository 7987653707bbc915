/** In a notebook the trainer shows one progress bar and one live plot, each refreshed in place. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setDisplaySink } from '../../src/notebook/display';
import type { MimeBundle } from '../../src/notebook/display';
import { train } from '../../src/train/trainer';
import { FAST, countingExamples, disposeTrainable, tinyTrainable } from './helpers';

let tmp: string;
before(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'ttslab-display-'));
});
after(async () => {
  setDisplaySink(null);
  await rm(tmp, { recursive: true, force: true });
});

test('live plot (loss, eval loss, grad norm, lr) and progress bar update one output each', async () => {
  const shown: { bundle: MimeBundle; displayId?: string; update: boolean }[] = [];
  setDisplaySink((bundle, o) => shown.push({ bundle, ...o }));
  const t = tinyTrainable();
  await train(t, countingExamples(12), { ...FAST, maxSteps: 4, livePlot: true, evalSplit: 0.2, evalSteps: 2, outputDir: join(tmp, 'run') },
    { progress: 'notebook', log: () => undefined });
  setDisplaySink(null);
  const ids = new Set(shown.map((s) => s.displayId));
  // One id for the bar, one for the plot (a plotly library bundle may add an output without id).
  const withId = [...ids].filter((x) => x !== undefined);
  assert.equal(withId.length, 2, `display ids ${[...ids]}`);
  for (const id of withId) {
    const outs = shown.filter((s) => s.displayId === id);
    assert.equal(outs[0].update, false);
    assert.ok(outs.slice(1).every((s) => s.update), 'later outputs replace the first');
  }
  const plots = shown.filter((s) => JSON.stringify(s.bundle).includes('grad norm'));
  assert.ok(plots.length >= 1);
  const last = JSON.stringify(plots[plots.length - 1].bundle);
  for (const name of ['loss', 'eval loss', 'grad norm', 'lr']) assert.ok(last.includes(`"name":"${name}"`) || last.includes(`\\"name\\":\\"${name}\\"`), name);
  const bars = shown.filter((s) => JSON.stringify(s.bundle).includes('ttslab-progress'));
  assert.match(String(bars[bars.length - 1].bundle['text/plain']), /step 4\/4 +loss \d+\.\d{4} +lr [\d.]+e[-+]\d+ +\d+ tok\/s/);
  disposeTrainable(t);
});
