/**
 * OrpheusTts (the notebooks' model interface for Orpheus) on the tiny random Orpheus:
 * layout and tokenizer, the SNAC codec's frames, training examples in the recipe layout,
 * the LoRA preset, generation that stops on end-of-speech and decodes complete frames only
 * (a broken frame rejected with position and value, a partial frame reported), cloning
 * context, adapters on and off, the registry entries, and no tensor leaks.
 *
 * The stop / broken-frame / partial-frame cases come from the model itself: a LoRA adapter
 * is trained until it reproduces three token streams (one clean, one with a level-0 token
 * in a level-2 slot, one that ends inside a frame), then greedy generation replays them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, copyFile, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  ORPHEUS_LORA_TRAIN, ORPHEUS_PRESET, ORPHEUS_TTS_SAMPLING, OrpheusTts, TINY_ORPHEUS_CODEBOOK_SIZE, TINY_ORPHEUS_LAYOUT,
  TINY_ORPHEUS_VOCAB_SIZE, TINY_RANDOM_ORPHEUS, allowedAfter, buildOrpheusCloningPrompt, framesToTokens, positionRange,
  snacAsAudioCodec, tinyOrpheusConfig, tinyOrpheusTokenizer, tinyRandomOrpheus, tinyRandomSnac,
} from '../../../src/models/orpheus';
import { LlamaForCausalLM } from '../../../src/models/llama/modeling';
import type { SnacModel } from '../../../src/models/snac';
import { loadSnac24k, loadTtsModel } from '../../../src/models/registry';
import type { TokenExample } from '../../../src/train/types';
import { initRuntime } from '../../../src/runtime';

const L = TINY_ORPHEUS_LAYOUT;
const FIXTURES = join(__dirname, '..', '..', 'fixtures');

before(async () => {
  // wasm, as the notebooks: tfjs' plain-JS cpu backend takes ~25 s for one LoRA step here.
  await initRuntime({ backend: 'wasm' });
});

/** Frames of distinct codes, frame f code k = (37 f + 11 k + base) mod 256. */
function frames(n: number, base: number): number[][] {
  return Array.from({ length: n }, (_, f) => Array.from({ length: 7 }, (_, k) => (37 * f + 11 * k + base) % TINY_ORPHEUS_CODEBOOK_SIZE));
}

describe('tiny-random-orpheus', () => {
  test('layout: Orpheus ids counted from a 259-token text vocabulary, 2061 ids', () => {
    assert.deepEqual(
      [L.startOfText, L.endOfText, L.startOfSpeech, L.endOfSpeech, L.startOfHuman, L.endOfHuman, L.startOfAi, L.endOfAi, L.pad, L.audioTokensStart],
      [256, 258, 260, 261, 262, 263, 264, 265, 266, 269]);
    assert.equal(TINY_ORPHEUS_VOCAB_SIZE, 269 + 7 * 256);
    const tok = tinyOrpheusTokenizer();
    assert.deepEqual(tok.encode('hi'), [256, 104, 105], 'bos + bytes');
    assert.equal(tok.tokenToId('<custom_token_1>'), L.startOfSpeech);
    assert.equal(tok.tokenToId('<custom_token_10>'), L.audioTokensStart);
  });

  test('frame grammar: end_of_human -> start_of_ai -> start_of_speech -> positions 0..6 -> 0 or end_of_speech', () => {
    assert.deepEqual(allowedAfter(L.endOfHuman, L), [[L.startOfAi, L.startOfAi + 1]]);
    assert.deepEqual(allowedAfter(L.startOfAi, L), [[L.startOfSpeech, L.startOfSpeech + 1]]);
    assert.deepEqual(allowedAfter(L.startOfSpeech, L), [positionRange(0, L)]);
    assert.deepEqual(allowedAfter(positionRange(3, L)[0] + 5, L), [positionRange(4, L)]);
    assert.deepEqual(allowedAfter(positionRange(6, L)[1] - 1, L), [positionRange(0, L), [L.endOfSpeech, L.endOfSpeech + 1]]);
    assert.equal(allowedAfter(104, L), null, 'a text token: unconstrained');
  });
});

describe('OrpheusTts on the tiny model', () => {
  let tts: OrpheusTts;
  before(async () => {
    tts = await tinyRandomOrpheus(0);
  });
  after(() => tts.dispose());

  test('the codec: SNAC 24 kHz frames of 7 codes (2048 samples), decoded whole', async () => {
    assert.equal(tts.family, 'orpheus');
    assert.equal(tts.name, TINY_RANDOM_ORPHEUS);
    assert.match(tts.warning!, /RANDOM weights: a pipeline check only/);
    assert.equal(tts.codebookSize, TINY_ORPHEUS_CODEBOOK_SIZE);
    const c = tts.codec;
    assert.deepEqual([c.sampleRate, c.frameSamples, c.numCodebooks], [24000, 2048, 7]);
    const audio = Float32Array.from({ length: 5000 }, (_, i) => 0.3 * Math.sin(i / 7));
    const codes = await c.encode(audio);
    assert.equal(codes.length, 3, 'ceil(5000 / 2048) frames');
    for (const f of codes) for (const v of f) assert.ok(Number.isInteger(v) && v >= 0 && v < TINY_ORPHEUS_CODEBOOK_SIZE);
    const out = await c.decode(codes);
    assert.equal(out.length, 3 * 2048);
    assert.ok(out.every(Number.isFinite));
  });

  test('training examples: the recipe sequence with "{source}: {text}", labels = inputs, duplicate frames dropped', () => {
    const codes = frames(3, 0);
    const dup = [...codes, [codes[2]![0]!, 1, 2, 3, 4, 5, 6]]; // frame 3 repeats frame 2's first code
    const [ex] = tts.buildTrainingExamples([{ codes: dup, text: 'Hi <laugh>', source: 2 }]);
    const text = [...Buffer.from('2: Hi <laugh>')];
    assert.deepEqual(ex!.inputIds, [L.startOfHuman, L.startOfText, ...text, L.endOfText, L.endOfHuman, L.startOfAi, L.startOfSpeech,
      ...framesToTokens(codes, L), L.endOfSpeech, L.endOfAi]);
    assert.deepEqual(ex!.labels, ex!.inputIds);
    // Frame k's token at position k: code + 269 + k * 256.
    assert.equal(ex!.inputIds[text.length + 6 + 7 + 2], codes[1]![2]! + 269 + 2 * 256);
  });

  test('training examples: a row with the wrong codebook count or a code out of range is named', () => {
    assert.throws(() => tts.buildTrainingExamples([{ codes: frames(2, 0), text: 'a', source: 0 }, { codes: [[1, 2, 3]], text: 'b', source: 0 }]),
      /row 1: frame 0 has 3 codes, expected 7/);
    assert.throws(() => tts.buildTrainingExamples([{ codes: [[0, 0, 0, 256, 0, 0, 0]], text: 'a', source: 0 }]), /row 0: frame 0 position 3: code 256 outside \[0, 256\)/);
    assert.throws(() => tts.buildTrainingExamples([{ codes: [], text: 'a', source: 0 }]), /row 0: no frames of codes/);
  });

  test('the LoRA preset: r 64, alpha 64, no rsLoRA, 7 projections, lr 2e-4; another shape while attached is refused', () => {
    assert.deepEqual({ ...ORPHEUS_LORA_TRAIN }, { ...ORPHEUS_PRESET.train });
    const t = tts.trainable();
    try {
      assert.equal(t.adapter.config.r, 64);
      assert.equal(t.adapter.config.alpha, 64);
      assert.equal(t.adapter.config.useRslora, false);
      assert.equal(t.trainableVariables().length, 2 * 7 * 2, 'A and B of 7 projections in 2 layers');
      assert.equal(tts.trainable({ learningRate: 1e-3 }), t, 'same adapter when only the lr differs');
      assert.throws(() => tts.trainable({ loraR: 8 }), /already attached; unloadAdapter\(\) before asking for/);
    } finally {
      tts.unloadAdapter();
    }
  });

  test('sampling: a depth decoder or a repetition penalty below 1.1 is refused; bad maxNewFrames named', async () => {
    const req = { text: 'Hello.', speaker: 0, seed: 0, maxNewFrames: 2 };
    await assert.rejects(tts.generate({ ...req, sampling: { ...ORPHEUS_TTS_SAMPLING, depthDecoder: { temperature: 0.6 } } }), /Orpheus has no depth decoder/);
    await assert.rejects(tts.generate({ ...req, sampling: { temperature: 0.8, topK: 50 } }), /repetitionPenalty >= 1.1/);
    await assert.rejects(tts.generate({ ...req, maxNewFrames: 0, sampling: ORPHEUS_TTS_SAMPLING }), /maxNewFrames must be an integer >= 1, got 0/);
  });

  test('constrained generation: whole frames only, the unfinished one reported, not decoded', async () => {
    const n0 = tf.memory().numTensors;
    const g = await tts.generateWithStatus({ text: 'Hello.', speaker: 0, sampling: ORPHEUS_TTS_SAMPLING, seed: 1, maxNewFrames: 3 });
    // Budget 2 + 3 * 7 + 1 tokens: start_of_ai, start_of_speech, 3 frames, then the 4th frame's first token.
    assert.deepEqual(g.tokens.slice(0, 2), [L.startOfAi, L.startOfSpeech]);
    assert.equal(g.tokens.length, 24);
    assert.equal(g.codes.length, 3);
    assert.equal(g.stopped, false);
    assert.deepEqual(g.invalid, []);
    assert.deepEqual(g.partial, { position: 23, values: [g.tokens[23]!] });
    assert.equal((await tts.codec.decode(g.codes)).length, 3 * 2048);
    assert.equal(tf.memory().numTensors, n0, 'no tensor leaks');
  });

  test('cloning context: each turn as a whole exchange before the prompt, speaker prefixed', async () => {
    const context = [{ codes: frames(2, 5), text: 'Before.', speaker: 1 }];
    const g = await tts.generateWithStatus({ text: 'Now.', speaker: 1, context, sampling: ORPHEUS_TTS_SAMPLING, seed: 0, maxNewFrames: 1 });
    const prompt = buildOrpheusCloningPrompt(tinyOrpheusTokenizer(), [{ text: 'Before.', source: 1, audioTokens: framesToTokens(frames(2, 5), L) }], 'Now.', 1, L);
    assert.equal(g.promptLength, prompt.length);
    assert.equal(prompt.length, (1 + 1 + 10 + 4 + 14 + 2) + (1 + 1 + 7 + 2));
    assert.equal(g.codes.length, 1);
  });
});

describe('generation stops on end-of-speech; broken and partial frames (a LoRA adapter trained to write them)', () => {
  let tts: OrpheusTts;
  let snac: SnacModel;
  let dir: string;
  const clean = frames(3, 3);
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ttslab-orpheus-tts-'));
    snac = await tinyRandomSnac(0);
    // Unconstrained: what the model writes is what is parsed. Weights N(0, 0.3) instead of the
    // tiny model's 0.02: its tied, frozen embedding bounds the logits at about
    // |h| * |e| = 8 * (0.02 * 8) = 1.3, too flat for any adapter to make one token certain.
    tts = new OrpheusTts(LlamaForCausalLM.random(tinyOrpheusConfig(), { seed: 1, std: 0.3 }), tinyOrpheusTokenizer(), snacAsAudioCodec(snac, 'snac:test'), {
      name: 'test', layout: L, codecModel: snac,
    });
    const tok = tinyOrpheusTokenizer();
    const prompt = (text: string) => [L.startOfHuman, ...tok.encode(`0: ${text}`), L.endOfText, L.endOfHuman];
    const audio = framesToTokens(frames(2, 40), L);
    const broken = [...audio];
    broken[9] = positionRange(0, L)[0] + 7; // frame 1, slot 2 holds a level-0 id
    const seq = (text: string, speech: number[]): TokenExample => {
      const ids = [...prompt(text), L.startOfAi, L.startOfSpeech, ...speech, L.endOfSpeech, L.endOfAi];
      return { inputIds: ids, labels: ids };
    };
    const examples = [
      tts.buildTrainingExamples([{ codes: clean, text: 'Clean.', source: 0 }])[0]!,
      seq('Broken.', broken),
      seq('Partial.', audio.slice(0, 10)), // one frame and 3 tokens of the next
    ];
    const trainable = tts.trainable({ loraR: 16, loraAlpha: 32 });
    const batch = trainable.collate(examples);
    const vars = trainable.trainableVariables().map((v) => v.variable);
    const opt = tf.train.adam(5e-3);
    let loss = Infinity;
    // The floor is ~0.045, not 0: the three texts share "0: " and their next byte cannot be predicted.
    for (let step = 0; step < 300 && loss > 0.055; step++) {
      const l = opt.minimize(() => trainable.loss(batch, { training: true }), true, vars)!;
      loss = (await l.data())[0]!;
      l.dispose();
    }
    opt.dispose();
    assert.ok(loss <= 0.06, `the adapter did not learn the streams (loss ${loss})`);
    await trainable.save(dir);
  });
  after(async () => {
    tts.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  const greedy = { doSample: false, repetitionPenalty: 1.1 };

  test('a clean stream: stops on end-of-speech, the trained frames come back', async () => {
    const g = await tts.generateWithStatus({ text: 'Clean.', speaker: 0, sampling: greedy, seed: 0, maxNewFrames: 10 });
    assert.equal(g.stopped, true);
    assert.equal(g.tokens[g.tokens.length - 1], L.endOfSpeech);
    assert.deepEqual(g.codes, clean);
    assert.equal(g.partial, null);
  });

  test('a broken frame is rejected with its position and value; with skip it is dropped and reported', async () => {
    const req = { text: 'Broken.', speaker: 0, sampling: greedy, seed: 0, maxNewFrames: 10 };
    const bad = positionRange(0, L)[0] + 7;
    await assert.rejects(tts.generate(req),
      new RegExp(`invalid token ${bad} at position 11 \\(frame 1, slot 2\\): expected an id in \\[${positionRange(2, L).join(', ')}\\)`));
    const skipping = new OrpheusTts(tts.model, tts.tokenizer, tts.codec, { name: 'skip', layout: L, onInvalidFrame: 'skip' });
    const g = await skipping.generateWithStatus(req);
    assert.equal(g.codes.length, 1, 'frame 0 kept, frame 1 dropped');
    assert.deepEqual(g.invalid.map((i) => [i.position, i.value, i.frame, i.slot]), [[11, bad, 1, 2]]);
    assert.equal(g.stopped, true);
  });

  test('a stream ending inside a frame: complete frames decoded, the rest reported as partial', async () => {
    const g = await tts.generateWithStatus({ text: 'Partial.', speaker: 0, sampling: greedy, seed: 0, maxNewFrames: 10 });
    assert.equal(g.stopped, true);
    assert.equal(g.codes.length, 1);
    assert.deepEqual(g.partial, { position: 9, values: framesToTokens(frames(2, 40), L).slice(7, 10) });
    assert.equal((await tts.codec.decode(g.codes)).length, 2048);
  });

  test('adapters: off gives the base model, loadAdapter brings the trained one back', async () => {
    const req = { text: 'Clean.', speaker: 0, sampling: greedy, seed: 0, maxNewFrames: 3 };
    tts.unloadAdapter();
    assert.equal(tts.adapterDir, null);
    // The base model writes random tokens: parsed with 'skip' so that its broken frames are dropped, not thrown.
    const skipping = new OrpheusTts(tts.model, tts.tokenizer, tts.codec, { name: 'skip', layout: L, onInvalidFrame: 'skip' });
    const base = await skipping.generateWithStatus(req);
    assert.ok(!(base.stopped && JSON.stringify(base.codes) === JSON.stringify(clean)), 'the base model does not write the trained stream');
    await tts.loadAdapter(dir);
    assert.equal(tts.adapterDir, dir);
    const tuned = await tts.generateWithStatus({ ...req, maxNewFrames: 10 });
    assert.deepEqual(tuned.codes, clean);
    assert.throws(() => tts.trainable(), /an adapter loaded from .* is attached/);
    tts.unloadAdapter();
  });
});

describe('registry', () => {
  test("'tiny-random-orpheus' loads the tiny Orpheus; dispose frees every tensor", async () => {
    const n0 = tf.memory().numTensors;
    const tts = await loadTtsModel(TINY_RANDOM_ORPHEUS);
    assert.ok(tts instanceof OrpheusTts);
    assert.equal(tts.family, 'orpheus');
    assert.deepEqual(tts.defaultSampling, ORPHEUS_TTS_SAMPLING);
    assert.equal(tts.trainDefaults?.loraR, 64);
    tts.dispose();
    assert.equal(tf.memory().numTensors, n0);
  });

  test("'orpheus' offline without the cache names canopylabs/orpheus-3b-0.1-ft", async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'ttslab-empty-hub-'));
    try {
      await assert.rejects(loadTtsModel('orpheus', { snapshot: { offline: true, cacheDir } }), (e: Error) => {
        assert.match(e.message, /cannot get canopylabs\/orpheus-3b-0\.1-ft \(model "orpheus"\)/);
        return true;
      });
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  });

  test('SNAC without safetensors: the error says how to convert it and where to point', async () => {
    const d = await mkdtemp(join(tmpdir(), 'ttslab-snac-bin-'));
    try {
      await writeFile(join(d, 'config.json'), JSON.stringify({ sampling_rate: 24000 }));
      await assert.rejects(loadSnac24k({ codecDir: d }), (e: Error) => {
        assert.match(e.message, /has no \.safetensors file/);
        assert.match(e.message, /python3 scripts\/convert_snac\.py snac_24khz/);
        assert.match(e.message, /TTSLAB_SNAC_DIR=/);
        return true;
      });
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  test('a Llama folder whose tokenizer lacks the Orpheus ids is refused, naming the token', async () => {
    const d = await mkdtemp(join(tmpdir(), 'ttslab-llama-'));
    try {
      await mkdir(d, { recursive: true });
      await writeFile(join(d, 'config.json'), JSON.stringify({ model_type: 'llama', vocab_size: 600 }));
      for (const f of ['tokenizer.json', 'tokenizer_config.json']) await copyFile(join(FIXTURES, 'tokenizer', f), join(d, f));
      await assert.rejects(loadTtsModel(d), /its tokenizer has <custom_token_1> at no id, Orpheus-3B's layout has it at 128257/);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });
});
