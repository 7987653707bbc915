// Notebooks 01-06 in order through the real kernel, as `npm run workshop` runs them, with
// the tiny random CSM (the default MODEL) and TTSLAB_QUICK=1 (short training, short
// generations), the work folder and run folders in a temporary directory (test/helpers/notebook_run.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  assertAdapterTrained, assertListeningGrid, assertRandomWeightsNotice, assertTokenizeChoice,
  joined, MODEL_NOTEBOOKS, notebookSandbox, runWorkshop,
} from '../helpers/notebook_run';

// No TTSLAB_MODEL: the notebooks' default, tiny-random-csm.
const sandbox = notebookSandbox('nbmodel');

test('01-06 on the tiny random CSM: tokenize, train until the loss falls, save a PEFT adapter, listening grid with WAVs + manifest', async () => {
  const run = runWorkshop(sandbox, MODEL_NOTEBOOKS, 900_000);
  const { text, html } = run;

  // Every notebook that uses the random model says so.
  assertRandomWeightsNotice(run, /RANDOM weights: a pipeline check only/);

  // 04: the choice is saved, histograms are drawn, the clip is heard before and after the codec.
  const work = sandbox.work;
  assertTokenizeChoice(run, work, 'tiny-random-csm');
  assert.match(html('04_tokenize'), /class="ttslab-plot"/);
  assert.match(text('04_tokenize'), /Codebook 0: \d+ of 67 codes used/, 'histograms span the whole codebook');

  // 05: the loss fell (metrics.jsonl), the adapter is PEFT's, the live plot shows every step.
  const { cfg, keys } = await assertAdapterTrained(run, join(work, 'adapters', 'tiny-random-csm'), 0.3);
  assert.equal(cfg.r, 32);
  assert.equal(cfg.lora_alpha, 16);
  assert.equal(cfg.use_rslora, true);
  assert.ok(keys.includes('base_model.model.backbone_model.layers.1.mlp.gate_proj.lora_B.weight'), keys.slice(0, 3).join());
  assert.ok(keys.includes('base_model.model.depth_decoder.model.layers.0.self_attn.v_proj.lora_A.weight'));
  assert.equal(keys.length, 2 * 7 * 4, 'A and B of 7 projections in 2 backbone + 2 depth-decoder layers');
  // nbclient applies update_display_data in place, so the train cell holds ONE plot output,
  // whose final figure must hold all 8 steps (the plot was updated while training ran).
  const trainCell = run.cells('05_train_lora').find((c) => joined(c.source).includes('await trainTts('))!;
  const plots = (trainCell.outputs ?? []).map((o) => joined(o.data?.['text/html'])).filter((h) => h.includes('class="ttslab-plot"'));
  assert.equal(plots.length, 1, 'one plot output, updated in place');
  const lossTrace = /"name":"loss","x":\[([^\]]*)\]/.exec(plots[0]!);
  assert.ok(lossTrace, 'the plot has a loss trace');
  assert.equal(lossTrace[1], '1,2,3,4,5,6,7,8');
  assert.match(plots[0]!, /"name":"eval loss","x":\[4,8\]/);
  assert.match(html('05_train_lora'), /<caption>Memory<\/caption>/);

  // 06: manifest lists the grid's 3 prompts x (reference + 4 systems), and every WAV decodes.
  const grid = assertListeningGrid(run, (e, wav) => {
    assert.ok(Math.abs(wav.channels[0]!.length / wav.sampleRate - e.durationSeconds) < 1e-6, e.path);
    // Generated clips: 20 frames (TTSLAB_QUICK) of 1920 samples at 24 kHz at most.
    if (e.system !== 'reference') assert.ok(e.durationSeconds > 0 && e.durationSeconds <= 1.6 + 1e-9, `${e.path}: ${e.durationSeconds} s`);
  });
  assert.match(text('06_listen_compare'), /No verifier checkpoint in the Hugging Face cache/);
  assert.match(grid, /class="ttslab-spectrogram"/);
});
