// Notebooks 04-06 through the real kernel with MODEL = 'tiny-random-orpheus' (the
// TTSLAB_MODEL variable 04 reads), after 01-03 have made the sample dataset, with
// TTSLAB_QUICK=1 (short training, short generations), the work and run folders in a
// temporary directory (test/helpers/notebook_run.ts): the Orpheus family goes through the
// same notebooks as CSM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { TINY_ORPHEUS_CODEBOOK_SIZE, TINY_RANDOM_ORPHEUS } from '../../src/models/orpheus/tiny';
import {
  assertAdapterTrained, assertListeningGrid, assertRandomWeightsNotice, assertTokenizeChoice,
  MODEL_NOTEBOOKS, notebookSandbox, runWorkshop,
} from '../helpers/notebook_run';

const sandbox = notebookSandbox('nborpheus', TINY_RANDOM_ORPHEUS);

test('04-06 on the tiny random Orpheus: SNAC codes, Llama LoRA training until the loss falls, PEFT adapter, listening grid of whole frames', async () => {
  const run = runWorkshop(sandbox, MODEL_NOTEBOOKS, 1_500_000);
  const { text, html } = run;

  // Every notebook that uses the random model says so.
  assertRandomWeightsNotice(run, /tiny-random-orpheus has RANDOM weights: a pipeline check only/);

  // 04: the choice is saved; SNAC codes: 7 per 2048-sample frame (11.71875 frames/s), histograms over the tiny codebook.
  const work = sandbox.work;
  assertTokenizeChoice(run, work, TINY_RANDOM_ORPHEUS);
  assert.match(text('04_tokenize'), /codec snac:tiny-random-orpheus-seed0:256, 24000 Hz, 7 codebooks, 11\.71875 frames\/s/);
  assert.match(html('04_tokenize'), new RegExp(`Codebook 0: \\d+ of ${TINY_ORPHEUS_CODEBOOK_SIZE} codes used`));

  // 05: the loss fell (metrics.jsonl); the adapter is PEFT's over the Llama's 7 projections.
  const { keys } = await assertAdapterTrained(run, join(work, 'adapters', TINY_RANDOM_ORPHEUS), 0.3);
  assert.ok(keys.includes('base_model.model.model.layers.1.mlp.gate_proj.lora_B.weight'), keys.slice(0, 3).join());
  assert.equal(keys.length, 2 * 7 * 2, 'A and B of 7 projections in 2 layers');

  // 06: manifest lists 3 prompts x (reference + 4 systems); every generated WAV is whole
  // frames of 2048 samples (never a partial frame), at most 20 of them (TTSLAB_QUICK).
  assertListeningGrid(run, (e, wav) => {
    if (e.system === 'reference') return;
    const samples = wav.channels[0]!.length;
    assert.equal(samples % 2048, 0, `${e.path}: ${samples} samples is not whole frames`);
    assert.ok(samples >= 2048 && samples <= 20 * 2048, `${e.path}: ${samples / 2048} frames`);
  });
});
