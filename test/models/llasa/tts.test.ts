/**
 * Llasa behind the model interface on the tiny random Llasa-shaped Llama: the tiny chat
 * template renders what Llama-3.2's does, training examples from coded clips, the LoRA
 * recipe (r 8, alpha 32, q,v, dropout 0.1), a loss over the speech tokens only, seeded
 * generation with and without a cloning context, the preset, decoding through a random
 * XCodec2 decoder (speakLlasa), and no tensor leaks.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { TextTokenizer } from '../../../src/tokenizer';
import type { AudioCodec, Codes } from '../../../src/models/types';
import {
  LLASA_PRESET, LlasaProcessor, TINY_LLASA_SPEECH_TOKENS, TINY_LLASA_VOCAB_SIZE, speakLlasa, tinyLlasaTokenizer, tinyRandomLlasa,
} from '../../../src/models/llasa';
import { Xcodec2Decoder } from '../../../src/models/xcodec2';
import type { LlasaTts } from '../../../src/models/llasa';
import { TINY_RANDOM_LLASA, TINY_XCODEC2_CONFIG, tinyRandomLlasaTts } from '../../../src/models/llasa';
import type { NotebookTtsModel } from '../../../src/models/registry';
import { train } from '../../../src/train/trainer';
import { generateBaseAndFinetuned } from '../../../src/models/csm/tts';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';

/**
 * A test codec with one codebook of 1024 codes at Llasa's frame layout (16 kHz, 320 samples):
 * each frame's mean, quantised in [-1, 1). Enough to carry codes through the interface.
 */
function meanCodec(): AudioCodec {
  const frameSamples = 320;
  return {
    id: 'test-mean-1024', sampleRate: 16000, frameSamples, numCodebooks: 1,
    async encode(samples: Float32Array): Promise<Codes> {
      const frames = Math.ceil(samples.length / frameSamples);
      return Array.from({ length: frames }, (_, t) => {
        const part = samples.subarray(t * frameSamples, (t + 1) * frameSamples);
        const mean = part.reduce((a, b) => a + b, 0) / frameSamples;
        return [Math.min(TINY_LLASA_SPEECH_TOKENS - 1, Math.max(0, Math.floor((mean + 1) / 2 * TINY_LLASA_SPEECH_TOKENS)))];
      });
    },
    async decode(codes: Codes): Promise<Float32Array> {
      const out = new Float32Array(codes.length * frameSamples);
      codes.forEach(([c], t) => out.fill((c! + 0.5) / TINY_LLASA_SPEECH_TOKENS * 2 - 1, t * frameSamples, (t + 1) * frameSamples));
      return out;
    },
  };
}

let tts: LlasaTts;

before(async () => {
  await tf.setBackend('cpu');
  tts = tinyRandomLlasa(meanCodec(), 0);
});

describe('tiny random Llasa', () => {
  test('its short chat template renders what the full Llama-3.2 template renders for Llasa chats', async () => {
    const full = await TextTokenizer.fromDir(join(__dirname, '..', '..', 'fixtures', 'llasa', 'tokenizer'));
    const tiny = tinyLlasaTokenizer();
    const chat = [
      { role: 'user', content: 'Convert the text to speech:<|TEXT_UNDERSTANDING_START|> Hi there. <|TEXT_UNDERSTANDING_END|>' },
      { role: 'assistant', content: '<|SPEECH_GENERATION_START|><|s_3|><|SPEECH_GENERATION_END|>' },
    ];
    for (const extra of [{}, { date_string: '02 Feb 2025' }]) {
      assert.equal(tiny.applyChatTemplate(chat, { extra }), full.applyChatTemplate(chat, { extra }));
    }
    const layout = new LlasaProcessor(tiny).layout;
    assert.equal(layout.speechTokenStart + layout.numSpeechTokens, TINY_LLASA_VOCAB_SIZE);
    assert.equal(layout.markers.TEXT_GENERATION_START, 261);
    assert.equal(tts.model.config.vocabSize, TINY_LLASA_VOCAB_SIZE);
    assert.match(tts.warning!, /RANDOM weights/);
  });

  test('training examples from coded clips; a clip with two codebooks is named', async () => {
    const codes = await tts.codec.encode(Float32Array.from({ length: 16000 }, (_, i) => Math.sin(i / 50)));
    assert.equal(codes.length, 50); // 1 s at 50 Hz
    const [ex] = tts.buildTrainingExamples([{ codes, text: 'Hello there.', source: 0 }]);
    const m = tts.processor.layout.markers;
    const start = ex!.inputIds.indexOf(m.SPEECH_GENERATION_START);
    assert.deepEqual(ex!.inputIds.slice(start + 1, start + 51), codes.map(([c]) => c! + tts.processor.layout.speechTokenStart));
    assert.equal(ex!.inputIds[start + 51], m.SPEECH_GENERATION_END);
    assert.ok(ex!.labels.slice(0, start).every((y) => y === -100));
    // Learnt: SPEECH_GENERATION_START, 50 codes, SPEECH_GENERATION_END; not the closing <|eot_id|> (pad = eos).
    assert.equal(ex!.labels.filter((y) => y !== -100).length, 52);
    assert.throws(() => tts.buildTrainingExamples([{ codes, text: 'ok', source: 0 }, { codes: [[1, 2]], text: 'bad', source: 0 }]),
      /row 1: frame 0 has 2 codebooks/);
  });

  test('trainable: the reference LoRA recipe on q,v; loss over speech tokens is about ln(vocab) at random init', async () => {
    const t = tts.trainable();
    const names = t.trainableVariables().map((v) => v.name);
    assert.equal(names.length, 2 /* layers */ * 2 /* q,v */ * 2 /* A,B */);
    assert.ok(names.every((n) => /self_attn\.(q|v)_proj\.lora_(A|B)\.weight$/.test(n)), names.join());
    assert.equal(t.adapter.config.r, 8);
    assert.equal(t.adapter.config.alpha, 32);
    assert.equal(t.adapter.config.dropout, 0.1);
    const codes = Array.from({ length: 30 }, (_, i) => [(i * 37) % TINY_LLASA_SPEECH_TOKENS]);
    const batch = t.collate(tts.buildTrainingExamples([{ codes, text: 'One.', source: 0 }, { codes: codes.slice(0, 10), text: 'Two words.', source: 0 }]));
    assert.equal(batch.numTargets, 32 + 12);
    const before = tf.memory().numTensors;
    const loss = t.loss(batch, { training: false });
    const value = (await loss.data())[0]!;
    loss.dispose();
    assert.equal(tf.memory().numTensors, before);
    assert.ok(Math.abs(value - Math.log(TINY_LLASA_VOCAB_SIZE)) < 0.5, `loss ${value} vs ln(vocab) ${Math.log(TINY_LLASA_VOCAB_SIZE)}`);
    tts.unloadAdapter();
  });

  test('generation: seeded, capped by maxNewFrames, with a cloning context; depth-decoder sampling refused', async () => {
    const sampling = { ...LLASA_PRESET.sampling };
    assert.deepEqual(sampling, { doSample: true, temperature: 0.9, topP: 0.95 });
    const before = tf.memory().numTensors;
    const a = await tts.generateWithStatus({ text: 'Hi.', speaker: 0, sampling, seed: 7, maxNewFrames: 12 });
    const b = await tts.generateWithStatus({ text: 'Hi.', speaker: 0, sampling, seed: 7, maxNewFrames: 12 });
    assert.deepEqual(a, b);
    // Random weights: non-speech tokens are skipped and reported; the rest are codes.
    assert.ok(a.codes.length + a.invalid.length <= 13);
    assert.ok(a.codes.every(([c]) => Number.isInteger(c) && c! >= 0 && c! < TINY_LLASA_SPEECH_TOKENS));
    const context = [{ codes: [[5], [6], [7]], text: 'Earlier.', speaker: 0 }];
    const c = await tts.generateWithStatus({ text: 'Hi.', speaker: 0, sampling, seed: 7, maxNewFrames: 12, context });
    assert.notDeepEqual(c, a);
    assert.equal(tf.memory().numTensors, before);
    await assert.rejects(tts.generate({ text: 'Hi.', speaker: 0, sampling: { ...sampling, depthDecoder: { temperature: 1 } }, seed: 1 }), /no depth decoder/);
    await assert.rejects(tts.generate({ text: 'Hi.', speaker: 0, sampling, seed: 1, maxNewFrames: 0 }), /maxNewFrames must be an integer >= 1, got 0/);
  });

  test('a cloning context too long for the 2048-token context: oldest turns dropped whole, with a warning naming the count', async () => {
    const sampling = { ...LLASA_PRESET.sampling };
    const turn = (n: number, text: string) => ({ codes: Array.from({ length: n }, (_, i) => [i % TINY_LLASA_SPEECH_TOKENS]), text, speaker: 0 });
    const long = turn(1500, 'A long earlier clip.');
    const short = turn(40, 'A short one.');
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (m: unknown) => { warnings.push(String(m)); };
    try {
      // long + short + the new text do not fit with 400 new tokens; short alone does.
      const kept = await tts.generateWithStatus({ text: 'Hi.', speaker: 0, sampling, seed: 3, maxNewFrames: 400, context: [long, short] });
      const onlyShort = await tts.generateWithStatus({ text: 'Hi.', speaker: 0, sampling, seed: 3, maxNewFrames: 400, context: [short] });
      assert.deepEqual(kept, onlyShort);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /dropped the 1 oldest cloning-context turn\(s\) of 2/);
      // Nothing fits: zero-shot, said so.
      const none = await tts.generateWithStatus({ text: 'Hi.', speaker: 0, sampling, seed: 3, maxNewFrames: 1000, context: [long] });
      const zeroShot = await tts.generateWithStatus({ text: 'Hi.', speaker: 0, sampling, seed: 3, maxNewFrames: 1000 });
      assert.deepEqual(none, zeroShot);
      assert.match(warnings[1]!, /none fit: generating without a cloning context/);
    } finally {
      console.warn = warn;
    }
  });

  test('the preset is the reference recipe', () => {
    assert.equal(LLASA_PRESET.repoId, 'HKUSTAudio/Llasa-1B');
    assert.deepEqual({ ...LLASA_PRESET.train }, {
      loraR: 8, loraAlpha: 32, useRslora: false, loraDropout: 0.1, targetModules: ['q_proj', 'v_proj'], learningRate: 5e-4,
      weightDecay: 0.01, adamBeta2: 0.95, schedule: 'cosine',
    });
    assert.equal(LLASA_PRESET.maxLength, 2048);
  });
});

describe('speakLlasa', () => {
  test('tiny Llasa + a random 1024-code XCodec2 decoder: codes decode to frames * 320 samples at 16 kHz', async () => {
    const decoder = await Xcodec2Decoder.random(TINY_XCODEC2_CONFIG, 1);
    const before = tf.memory().numTensors;
    const out = await speakLlasa(tts.model, tts.processor, decoder, 'Hello.', { ...LLASA_PRESET.sampling, seed: 3, maxNewTokens: 20, onInvalid: 'skip' });
    assert.ok(out.codes.length > 0);
    assert.equal(out.samples.length, out.codes.length * 320);
    assert.equal(out.sampleRate, 16000);
    assert.equal(out.durationSeconds, out.codes.length / 50);
    assert.equal(tf.memory().numTensors, before);
    const wrong = await Xcodec2Decoder.random({ ...decoder.config, quantizationLevels: [4, 4, 4, 4] }, 1);
    await assert.rejects(speakLlasa(tts.model, tts.processor, wrong, 'Hello.', { seed: 3 }), /decoder has 256 codes, the tokenizer 1024 speech tokens/);
    wrong.dispose();
    decoder.dispose();
  });
});

describe('tinyRandomLlasaTts (tiny Llasa + tiny random XCodec2, encoder and decoder)', () => {
  test('the NotebookTtsModel contract: name, warning, codec layout, 1024 codes, Llasa presets', async () => {
    const t = await tinyRandomLlasaTts(0);
    try {
      const m: NotebookTtsModel = t; // type-checks against the registry's interface
      assert.equal(m.family, 'llasa');
      assert.equal(m.name, TINY_RANDOM_LLASA);
      assert.match(m.warning!, /tiny-random-llasa has RANDOM weights: a pipeline check only/);
      assert.equal(m.codebookSize, 1024);
      assert.equal(m.adapterDir, null);
      assert.deepEqual([m.codec.sampleRate, m.codec.frameSamples, m.codec.numCodebooks], [16000, 320, 1]);
      assert.equal(m.codec.id, 'xcodec2:tiny-random-llasa-seed0');
      assert.deepEqual({ ...m.defaultSampling }, { doSample: true, temperature: 0.9, topP: 0.95 });
      assert.deepEqual(m.trainDefaults, LLASA_PRESET.train);
      assert.equal(TINY_XCODEC2_CONFIG.quantizationLevels.length, 5);
    } finally {
      t.dispose();
    }
  });

  test('encode a clip -> training examples -> LoRA training lowers the loss -> generate -> decode; no tensor leaks', async () => {
    const t = await tinyRandomLlasaTts(1);
    const out = await mkdtemp(join(tmpdir(), 'llasa-tiny-train-'));
    try {
      const before = tf.memory().numTensors;
      // 0.5 s of a chirp: 25 frames of 320 samples.
      const clip = Float32Array.from({ length: 8000 }, (_, i) => 0.4 * Math.sin(i * (0.02 + i * 2e-6)));
      const codes = await t.codec.encode(clip);
      assert.equal(codes.length, 25);
      assert.ok(codes.every((f) => f.length === 1 && Number.isInteger(f[0]) && f[0]! >= 0 && f[0]! < 1024));
      assert.ok(new Set(codes.map(([c]) => c)).size > 1, 'a changing clip gives more than one code');
      const decoded = await t.codec.decode(codes);
      assert.equal(decoded.length, 25 * 320);
      const examples = t.buildTrainingExamples([
        { codes, text: 'A rising tone.', source: 0 }, { codes: codes.slice(0, 12), text: 'Half of it.', source: 0 },
      ]);
      const result = await train(t.trainable(), examples, {
        maxSteps: 6, batchSize: 2, gradientAccumulationSteps: 1, learningRate: 1e-2, warmupSteps: 0, schedule: 'constant',
        evalSplit: 0, saveSteps: 0, outputDir: out, optimizer: 'adamw',
      }, { log: () => {} });
      const losses = result.history.map((h) => h.loss);
      assert.equal(losses.length, 6);
      assert.ok(losses[5]! < losses[0]! - 0.1, `loss ${losses[0]} -> ${losses[5]}`);
      assert.equal(t.trainable().adapter.config.r, 8, 'the Llasa recipe under the config');
      const gen = await t.generateWithStatus({ text: 'A rising tone.', speaker: 0, sampling: t.defaultSampling, seed: 2, maxNewFrames: 8, context: [{ codes, text: 'A rising tone.', speaker: 0 }] });
      assert.ok(gen.codes.length + gen.invalid.length <= 9);
      if (gen.codes.length > 0) assert.equal((await t.codec.decode(gen.codes)).length, gen.codes.length * 320);
      t.unloadAdapter();
      // Notebook 06's path: base and fine-tuned (the saved PEFT adapter), zero-shot and with context, decoded.
      const cells = await generateBaseAndFinetuned(t, result.adapterDir, [{ text: 'Again.', speaker: 0, context: [{ codes, text: 'A rising tone.', speaker: 0 }] }],
        { sampling: t.defaultSampling, seed: 4, maxNewFrames: 6, onNotice: () => {}, progress: 'none' });
      assert.equal(cells.length, 1);
      const systems = Object.keys(cells[0]!.audio);
      assert.ok(systems.length > 0 && systems.every((k) => ['base', 'base+context', 'finetuned', 'finetuned+context'].includes(k)), systems.join());
      for (const audio of Object.values(cells[0]!.audio)) {
        assert.equal(audio!.sampleRate, 16000);
        assert.equal(audio!.samples.length % 320, 0);
      }
      assert.equal(t.adapterDir, null, 'the adapter is unloaded again');
      assert.equal(tf.memory().numTensors, before, 'encode, train, generate and decode free what they make');
    } finally {
      t.dispose();
      await rm(out, { recursive: true, force: true });
    }
  });
});
