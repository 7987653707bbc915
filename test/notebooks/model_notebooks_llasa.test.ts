// Notebooks 04-06 through the real kernel with MODEL = 'tiny-random-llasa' (the TTSLAB_MODEL
// variable 04 reads), after 01-03 have made the sample dataset, with TTSLAB_QUICK=1 (short
// training, short generations), the work and run folders in a temporary directory
// (test/helpers/notebook_run.ts): the Llasa family (tiny Llama + tiny random XCodec2, encoder
// and decoder) goes through the same notebooks.
// Needs loadTtsModel('tiny-random-llasa') wired to tinyRandomLlasaTts in src/models/registry.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { TINY_LLASA_SPEECH_TOKENS, TINY_RANDOM_LLASA } from '../../src/models/llasa/tiny';
import {
  assertAdapterTrained, assertListeningGrid, assertRandomWeightsNotice, assertTokenizeChoice,
  MODEL_NOTEBOOKS, notebookSandbox, runWorkshop,
} from '../helpers/notebook_run';

const sandbox = notebookSandbox('nbllasa', TINY_RANDOM_LLASA);

test('04-06 on the tiny random Llasa: XCodec2 codes (1 codebook, 50 Hz), Llama LoRA training until the loss falls, PEFT adapter, listening grid of whole frames', async () => {
  const run = runWorkshop(sandbox, MODEL_NOTEBOOKS, 1_500_000);
  const { text, html } = run;

  // Every notebook that uses the random model says so.
  assertRandomWeightsNotice(run, /tiny-random-llasa has RANDOM weights: a pipeline check only/);

  // 04: the choice is saved; XCodec2 codes: one codebook, 320 samples per frame at 16 kHz (50 frames/s),
  // histograms over the tiny codebook of 1024 codes; the clip heard before and after the codec.
  const work = sandbox.work;
  assertTokenizeChoice(run, work, TINY_RANDOM_LLASA);
  assert.match(text('04_tokenize'), /codec xcodec2:tiny-random-llasa-seed0, 16000 Hz, 1 codebooks, 50 frames\/s/);
  assert.match(html('04_tokenize'), new RegExp(`Codebook 0: \\d+ of ${TINY_LLASA_SPEECH_TOKENS} codes used`));

  // 05: the loss fell (metrics.jsonl); the adapter is PEFT's over the tiny Llama's projections.
  // Llasa's reference recipe trains far fewer weights than CSM's (r 8 on q and v only), so 8
  // quick steps move the tiny model less: 7.02 -> 6.94 measured (seeded, same on every run of
  // a backend), hence a drop of 0.05 rather than CSM's and Orpheus' 0.3. The notebook itself
  // must also say the loss fell (checked by assertAdapterTrained).
  const { cfg, keys } = await assertAdapterTrained(run, join(work, 'adapters', TINY_RANDOM_LLASA), 0.05);
  const targets = cfg.target_modules as string[];
  assert.ok(Array.isArray(targets) && targets.includes('q_proj') && targets.includes('v_proj'), JSON.stringify(targets));
  assert.ok(keys.includes('base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight'), keys.slice(0, 3).join());
  assert.equal(keys.length, 2 * targets.length * 2, 'A and B of every target projection in the 2 layers');

  // 06: manifest lists 3 prompts x (reference + 4 systems); every generated WAV is whole
  // frames of 320 samples at 16 kHz, at most 20 of them (TTSLAB_QUICK).
  assertListeningGrid(run, (e, wav) => {
    if (e.system === 'reference') return;
    assert.equal(wav.sampleRate, 16000, e.path);
    const samples = wav.channels[0]!.length;
    assert.equal(samples % 320, 0, `${e.path}: ${samples} samples is not whole frames`);
    assert.ok(samples <= 20 * 320, `${e.path}: ${samples / 320} frames`);
  });
});
