/**
 * CSM + LoRA as a TrainableModel and the CSM TtsModel, on the tiny random CSM
 * (src/models/csm/tiny.ts): dynamic padding, gradient accumulation equals one big batch,
 * no tensor leaks, the loss falls on a few clips, PEFT save/load round trip, the seeded
 * -101 draws; the registry's choices and errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initRuntime } from '../../../src/runtime';
import { Checkpoint } from '../../../src/weights/checkpoint';
import { train } from '../../../src/train';
import { BACKBONE_ONLY_INDEX, CsmProcessor } from '../../../src/models/csm';
import { tinyCsmTokenizer, tinyRandomCsm, TINY_RANDOM_WARNING } from '../../../src/models/csm/tiny';
import { CSM_TRAIN_STATE_NAME, CsmLoraTrainable } from '../../../src/models/csm/trainable';
import type { CsmTrainingExample } from '../../../src/models/csm/trainable';
import { CsmTts, WORKSHOP_TTS_SAMPLING } from '../../../src/models/csm/tts';
import { registerWasmUnsortedSegmentSum } from '../../../src/runtime/kernels/wasm_segment_sum';
import { CSM_DEFAULT_REPO, loadTtsModel, modelSlug, readModelChoice, saveModelChoice } from '../../../src/models/registry';
import { validateTrainConfig } from '../../../src/train/config';
import type { CodedClip } from '../../../src/models/types';
import { tensorsLeaked } from '../llama_fixtures';
import { CSM_DIR } from './csm_fixtures';

const NC = 8; // the tiny model's codebooks
const tmp = mkdtempSync(join(tmpdir(), 'ttslab-csm-trainable-'));

before(async () => {
  // wasm is what a CPU-only notebook runs; it needs the gather-gradient kernel this code registers.
  await initRuntime({ backend: 'wasm' });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Learnable codes: frame t of clip i repeats a short pattern (what a model can fit in a few steps). */
function clip(i: number, frames: number, text: string): CodedClip {
  const codes = Array.from({ length: frames }, (_, t) => Array.from({ length: NC }, (_, k) => 1 + ((i * 7 + k * 3 + (t % 4)) % 60)));
  return { codes, text, source: 0 };
}

const CLIPS = [
  clip(0, 20, 'Hello there, this is the first clip.'),
  clip(1, 14, 'A second, shorter one.'),
  clip(2, 26, 'And a third clip that is the longest of all three.'),
];

function tinyTrainable(config: Record<string, unknown> = {}, ratio?: number, seed = 0): { t: CsmLoraTrainable; dispose: () => void } {
  const model = tinyRandomCsm(seed);
  const processor = new CsmProcessor(tinyCsmTokenizer(), model.config);
  const t = CsmLoraTrainable.create(model, processor, validateTrainConfig({ loraR: 4, loraAlpha: 8, ...config }), { depthDecoderLabelsRatio: ratio });
  return { t, dispose: () => { t.adapter.unload(); model.dispose(); } };
}

/** Gives every LoRA variable seeded nonzero values (B starts at zero, which makes A's gradient zero). */
function perturb(t: CsmLoraTrainable, seed: number): void {
  t.trainableVariables().forEach((p, i) => {
    const v = tf.randomNormal(p.variable.shape, 0, 0.05, 'float32', seed + i);
    p.variable.assign(v);
    v.dispose();
  });
}

async function lossValue(t: CsmLoraTrainable, examples: CsmTrainingExample[], training = false): Promise<number> {
  const l = t.loss(t.collate(examples), { training });
  const v = (await l.data())[0]!;
  l.dispose();
  return v;
}

describe('CsmLoraTrainable', () => {
  test('collate pads to the longest example of the batch and counts codebook-0 targets', () => {
    const { t, dispose } = tinyTrainable();
    try {
      const ex = CLIPS.map((c, i) => t.example({ codes: c.codes, text: c.text, speaker: c.source }, `clip ${i}`));
      const b = t.collate([ex[1]!, ex[2]!]);
      assert.equal(b.paddedLength, Math.max(ex[1]!.length, ex[2]!.length));
      assert.equal(b.numTokens, ex[1]!.length + ex[2]!.length);
      assert.equal(b.numTargets, 14 + 1 + 26 + 1, 'every frame and each <|audio_eos|>');
      // Left padding with the pad id and a zero mask.
      const pad = ex[2]!.length - ex[1]!.length;
      assert.ok(pad > 0);
      assert.deepEqual(b.attentionMask[0]!.slice(0, pad), new Array(pad).fill(0));
      assert.deepEqual(b.inputIds[0]!.slice(0, pad), new Array(pad).fill(t.processor.padId));
      // A batch of one long example alone is as long as it is: no fixed maximum.
      assert.equal(t.collate([ex[2]!]).paddedLength, ex[2]!.length);
      assert.throws(() => t.example({ codes: [[1, 2, 3]], text: 'x', speaker: 0 }, 'clip 7'), /clip 7 codes/);
      assert.throws(() => t.collate([]), /empty batch/);
    } finally {
      dispose();
    }
  });

  test('-101 draws: new per training micro-batch and reproducible; evaluation always draws the same', () => {
    const a = tinyTrainable({ seed: 5 });
    const b = tinyTrainable({ seed: 5 });
    try {
      const ex = CLIPS.map((c) => a.t.example({ codes: c.codes, text: c.text, speaker: 0 }));
      const batch = a.t.collate(ex);
      const minus101 = (l: number[][]) => l.flatMap((r, i) => r.map((y, j) => (y === BACKBONE_ONLY_INDEX ? `${i},${j}` : ''))).filter(Boolean).join(' ');
      const [a1, a2] = [minus101(a.t.labelsFor(batch, true)), minus101(a.t.labelsFor(batch, true))];
      const [b1, b2] = [minus101(b.t.labelsFor(batch, true)), minus101(b.t.labelsFor(batch, true))];
      assert.notEqual(a1, a2, 'a new draw per micro-batch');
      assert.equal(a1, b1);
      assert.equal(a2, b2);
      assert.equal(a.t.trainingMicroBatches, 2);
      assert.equal(minus101(a.t.labelsFor(batch, false)), minus101(b.t.labelsFor(batch, false)));
      assert.equal(a.t.trainingMicroBatches, 2, 'evaluation does not advance the counter');
      // 60 frames + ... : floor(n * 15/16) of them are backbone-only.
      const frames = 20 + 14 + 26;
      assert.equal(a1.split(' ').length, Math.floor(frames * (1 - 1 / 16)));
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  test('gradient accumulation: two micro-batches of one equal one padded batch of two', async () => {
    // Every frame trains the depth decoder (ratio 1) and both clips have 20 frames, so the
    // batch loss is the mean of the two clip losses; their texts differ in length, so the
    // batch is padded and the test fails if padding leaks into the result.
    const { t, dispose } = tinyTrainable({}, 1);
    try {
      perturb(t, 11);
      const a = t.example({ codes: clip(0, 20, '').codes, text: 'Short text.', speaker: 0 });
      const b = t.example({ codes: clip(1, 20, '').codes, text: 'A much longer text than the other one has.', speaker: 0 });
      assert.notEqual(a.length, b.length);
      const vars = t.trainableVariables().map((p) => p.variable);
      const grads = (examples: CsmTrainingExample[][]) => {
        const { value, grads: g } = tf.variableGrads(() => tf.tidy(() => tf.addN(examples.map((e) => t.loss(t.collate(e), { training: false })))
          .div(examples.length) as tf.Scalar), vars);
        value.dispose();
        return g;
      };
      const one = grads([[a, b]]);
      const two = grads([[a], [b]]);
      let maxRel = 0;
      let nonzero = 0;
      for (const k of Object.keys(one)) {
        const d = tf.tidy(() => one[k]!.sub(two[k]!).abs().max().div(one[k]!.abs().max().add(1e-12)).dataSync()[0]!);
        if (tf.tidy(() => one[k]!.abs().max().dataSync()[0]!) > 0) nonzero++;
        maxRel = Math.max(maxRel, d);
      }
      tf.dispose([...Object.values(one), ...Object.values(two)]);
      assert.ok(nonzero >= vars.length / 2, `${nonzero} of ${vars.length} gradients are nonzero`);
      assert.ok(maxRel < 1e-4, `max relative gradient difference ${maxRel}`);
    } finally {
      dispose();
    }
  });

  test('train(): the loss falls on three clips, nothing leaks, the PEFT adapter round-trips', async () => {
    const { t, dispose } = tinyTrainable({ seed: 3 });
    const out = join(tmp, 'run');
    const examples = CLIPS.map((c) => t.example({ codes: c.codes, text: c.text, speaker: 0 }));
    try {
      const before = await lossValue(t, examples);
      let result: Awaited<ReturnType<typeof train>> | undefined;
      const leaked = await tensorsLeaked(async () => {
        result = await train(t, examples, {
          loraR: 4, loraAlpha: 8, seed: 3, maxSteps: 12, batchSize: 2, gradientAccumulationSteps: 2, learningRate: 5e-3,
          optimizer: 'adamw', outputDir: out, saveSteps: 0, livePlot: false,
        }, { progress: 'none', log: () => undefined });
      });
      assert.equal(leaked, 0, `${leaked} tensors leaked`);
      const h = result!.history;
      assert.equal(h.length, 12);
      const after = await lossValue(t, examples);
      assert.ok(after < before - 0.5, `eval loss ${before} -> ${after}`);
      assert.ok(h[h.length - 1]!.loss < h[0]!.loss, `training loss ${h[0]!.loss} -> ${h[h.length - 1]!.loss}`);
      assert.equal(t.trainingMicroBatches, 12 * 2);

      // PEFT layout: config + safetensors with PEFT keys of both decoders, and the draw counter.
      const dir = result!.adapterDir;
      const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(cfg.peft_type, 'LORA');
      assert.equal(cfg.r, 4);
      const keys = (await Checkpoint.open(join(dir, 'adapter_model.safetensors'))).keys();
      assert.ok(keys.includes('base_model.model.backbone_model.layers.0.self_attn.q_proj.lora_A.weight'), keys.slice(0, 3).join());
      assert.ok(keys.includes('base_model.model.depth_decoder.model.layers.1.mlp.down_proj.lora_B.weight'));
      assert.deepEqual(JSON.parse(readFileSync(join(dir, CSM_TRAIN_STATE_NAME), 'utf8')), { trainingMicroBatches: 24 });

      // Loading into a fresh adapter (different LoRA init seed) gives the trained loss exactly.
      const fresh = tinyTrainable({ seed: 99 });
      try {
        assert.notEqual(await lossValue(fresh.t, examples), after);
        await fresh.t.load(dir);
        assert.equal(await lossValue(fresh.t, examples), after);
        assert.equal(fresh.t.trainingMicroBatches, 24);
      } finally {
        fresh.dispose();
      }
    } finally {
      dispose();
    }
  });
});

describe('wasm UnsortedSegmentSum (the gather gradient)', () => {
  test('equals the cpu backend: 1-D and 2-D segments, repeated and out-of-range ids; gather gradients match', async () => {
    registerWasmUnsortedSegmentSum();
    registerWasmUnsortedSegmentSum(); // a second call is a no-op
    const x = Array.from({ length: 5 * 3 }, (_, i) => Math.sin(i) * 3);
    const ids = [2, 0, 2, -1, 7];
    const run = (backend: string) => {
      tf.setBackend(backend);
      return tf.tidy(() => {
        const seg2d = tf.unsortedSegmentSum(tf.tensor2d(x, [5, 3]), tf.tensor1d(ids, 'int32'), 4).arraySync();
        const seg1d = tf.unsortedSegmentSum(tf.tensor1d(x.slice(0, 5)), tf.tensor1d(ids, 'int32'), 3).arraySync();
        const table = tf.variable(tf.tensor2d(x, [5, 3]));
        const g = tf.grad((t: tf.Tensor) => tf.gather(t, tf.tensor1d([4, 1, 4, 0], 'int32')).square().sum())(table).arraySync();
        table.dispose();
        return { seg2d, seg1d, g };
      });
    };
    const wasm = run('wasm');
    const cpu = run('cpu');
    tf.setBackend('wasm');
    assert.deepEqual(wasm.seg1d, cpu.seg1d);
    const close = (a: number[][], b: number[][]) => a.every((r, i) => r.every((v, j) => Math.abs(v - b[i]![j]!) < 1e-5));
    assert.ok(close(wasm.seg2d as number[][], cpu.seg2d as number[][]), JSON.stringify(wasm.seg2d));
    assert.ok(close(wasm.g as number[][], cpu.g as number[][]), JSON.stringify(wasm.g));
    assert.deepEqual((wasm.seg2d as number[][])[1], [0, 0, 0], 'a segment no id names is zero');
  });
});

describe('CsmLoraTrainable resume', () => {
  test('4 steps in one run = 2 steps, then resume for 2 (same -101 draws, same losses)', async () => {
    const cfg = {
      loraR: 4, loraAlpha: 8, seed: 8, batchSize: 1, gradientAccumulationSteps: 2, learningRate: 5e-3, optimizer: 'adamw' as const,
      warmupSteps: 0, saveSteps: 2, livePlot: false,
    };
    const run = async (outputDir: string, maxSteps: number, resume: boolean) => {
      const { t, dispose } = tinyTrainable({ seed: 8 });
      try {
        const examples = CLIPS.map((c) => t.example({ codes: c.codes, text: c.text, speaker: 0 }));
        const r = await train(t, examples, { ...cfg, maxSteps, outputDir, resume }, { progress: 'none', log: () => undefined });
        return r.history.map((m) => m.loss);
      } finally {
        dispose();
      }
    };
    const straight = await run(join(tmp, 'straight'), 4, false);
    await run(join(tmp, 'resumed'), 2, false);
    const resumed = await run(join(tmp, 'resumed'), 4, true);
    assert.equal(resumed.length, 4);
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(resumed[i]! - straight[i]!) <= 1e-6, `step ${i + 1}: ${resumed[i]} vs ${straight[i]}`);
  });
});

describe('CsmTts and the registry', () => {
  test('tiny-random-csm: examples, generation with and without context, audio, adapters on and off', async () => {
    const loaded = await loadTtsModel('tiny-random-csm');
    assert.ok(loaded instanceof CsmTts);
    const tts = loaded;
    try {
      assert.equal(tts.warning, TINY_RANDOM_WARNING);
      assert.match(tts.warning!, /RANDOM weights/);
      assert.equal(tts.codec.numCodebooks, NC);
      assert.equal(tts.codebookSize, 67);
      assert.match(tts.codec.id, /^mimi:tiny-random-csm-seed0:8$/);
      const ex = tts.buildTrainingExamples(CLIPS);
      assert.equal(ex.length, 3);
      assert.equal(tts.model.namedLinears().filter((n) => n.module.constructor.name === 'LoraLinear').length, 0, 'examples attach no adapter');
      assert.throws(() => tts.buildTrainingExamples([{ codes: [[1, 2]], text: 'x', source: 0 }]), /row 0 codes/);
      const request = { text: 'Hi there.', speaker: 0, sampling: WORKSHOP_TTS_SAMPLING, maxNewFrames: 6, seed: 1 };
      const leaked = await tensorsLeaked(async () => {
        const zero = await tts.generate(request);
        assert.equal(zero.length, 6, 'random weights never end on their own within 6 frames');
        assert.deepEqual(await tts.generate(request), zero, 'same seed, same codes');
        const ctx = await tts.generate({ ...request, context: [{ codes: CLIPS[0]!.codes, text: CLIPS[0]!.text, speaker: 0 }] });
        assert.notDeepEqual(ctx, zero, 'the context changes the prompt');
        const speech = await tts.speak(request);
        assert.equal(speech.samples.length, 6 * tts.codec.frameSamples);
        assert.equal(speech.sampleRate, 24000);
        assert.equal(speech.truncated, true);
      });
      assert.equal(leaked, 0);
      // A trained adapter changes generation; unloading restores the base model.
      const base = await tts.generate(request);
      const t = tts.trainable({ loraR: 4, loraAlpha: 8 });
      assert.equal(tts.trainable({ loraR: 4, loraAlpha: 8, learningRate: 1e-3 }), t, 'same LoRA fields: the same adapter');
      assert.throws(() => tts.trainable({ loraR: 8, loraAlpha: 8 }), /already attached/);
      perturb(t, 3);
      const dir = join(tmp, 'tts-adapter');
      mkdirSync(dir, { recursive: true });
      await t.save(dir);
      assert.notDeepEqual(await tts.generate(request), base);
      tts.unloadAdapter();
      assert.deepEqual(await tts.generate(request), base);
      await tts.loadAdapter(dir);
      assert.equal(tts.adapterDir, dir);
      assert.notDeepEqual(await tts.generate(request), base);
      assert.throws(() => tts.trainable(), /unloadAdapter/);
      tts.unloadAdapter();
      assert.deepEqual(await tts.generate(request), base);
    } finally {
      tts.dispose();
    }
  });

  test('a local CSM checkpoint folder (transformers layout, Mimi inside) loads and generates', async () => {
    const tts = await loadTtsModel(CSM_DIR, { tokenizerDir: join(CSM_DIR, 'tokenizer') });
    assert.ok(tts instanceof CsmTts);
    try {
      assert.equal(tts.warning, null);
      assert.equal(tts.codec.numCodebooks, tts.model.config.numCodebooks);
      const codes = await tts.generate({ text: 'Hello.', speaker: 0, sampling: WORKSHOP_TTS_SAMPLING, maxNewFrames: 3, seed: 0 });
      assert.ok(codes.length <= 3);
    } finally {
      tts.dispose();
    }
  });

  test('errors: an unknown model; offline without the cache each family names its repo', async () => {
    await assert.rejects(loadTtsModel('not a model!'), /MODEL must be one of/);
    const cacheDir = join(tmp, 'empty-hub-cache');
    await assert.rejects(loadTtsModel('orpheus', { snapshot: { offline: true, cacheDir } }), /canopylabs\/orpheus-3b-0\.1-ft/);
    await assert.rejects(loadTtsModel('llasa', { snapshot: { offline: true, cacheDir } }), /HKUSTAudio\/Llasa-1B/);
    await assert.rejects(loadTtsModel('csm', { snapshot: { offline: true, cacheDir } }), (e: Error) => {
      assert.match(e.message, new RegExp(CSM_DEFAULT_REPO.replace('/', '\\/')));
      assert.match(e.message, /not in the cache/);
      assert.match(e.message, /model "csm"/);
      return true;
    });
  });

  test('the model choice persists in the work folder', async () => {
    const prev = process.env.TTSLAB_WORKDIR;
    process.env.TTSLAB_WORKDIR = join(tmp, 'work');
    try {
      await assert.rejects(readModelChoice(), /run notebook 04_tokenize first/);
      await saveModelChoice('unsloth/csm-1b');
      assert.equal(await readModelChoice(), 'unsloth/csm-1b');
      assert.ok(existsSync(join(tmp, 'work', 'model.json')));
      assert.equal(modelSlug('unsloth/csm-1b'), 'unsloth--csm-1b');
    } finally {
      if (prev === undefined) delete process.env.TTSLAB_WORKDIR;
      else process.env.TTSLAB_WORKDIR = prev;
    }
  });
});
