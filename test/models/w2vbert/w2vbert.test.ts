/**
 * w2v-BERT 2.0 against transformers (test/fixtures/xcodec2/w2vbert_tiny.safetensors, made by
 * make_xcodec2_fixtures.py): the SeamlessM4T fbank front end on a speech clip, and a tiny random
 * Wav2Vec2BertModel (2 conformer layers, relative_key positions) hidden state by hidden state.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Checkpoint } from '../../../src/weights/checkpoint';
import {
  W2VBERT_DEFAULT_CONFIG, W2vBertModel, kaldiMelFilters, poveyWindow, w2vBertConfigFromHf, w2vBertFeatures, w2vBertWeightShapes,
} from '../../../src/models/w2vbert';
import type { W2vBertConfig } from '../../../src/models/w2vbert';

const DIR = join(__dirname, '..', '..', 'fixtures', 'xcodec2');

let fixture: Checkpoint;
let encoderFixture: Checkpoint;
let config: W2vBertConfig;

/** max |a - b| / max |b| */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

before(async () => {
  await tf.setBackend('cpu');
  fixture = await Checkpoint.open(join(DIR, 'w2vbert_tiny.safetensors'));
  encoderFixture = await Checkpoint.open(join(DIR, 'xcodec2_tiny_encoder.safetensors'));
  config = w2vBertConfigFromHf(JSON.parse(await readFile(join(DIR, 'w2vbert_tiny_config.json'), 'utf8')), 'w2vbert_tiny_config.json');
});

describe('w2v-BERT front end (SeamlessM4TFeatureExtractor)', () => {
  test('Povey window and Kaldi mel filters have the reference shape', () => {
    const w = poveyWindow();
    assert.equal(w.length, 400);
    assert.equal(w[0], 0);
    assert.ok(Math.abs(w[199]! - w[200]!) < 1e-12, 'symmetric');
    const f = kaldiMelFilters();
    assert.equal(f.length, 80);
    assert.equal(f[0]!.length, 257);
    // 20 Hz .. 8 kHz: bin 0 (0 Hz) is below the first filter; every filter has a non-zero bin.
    assert.ok(f.every((row) => row[0] === 0 && Math.max(...row) > 0));
  });

  test('features of the speech clip equal transformers\' within 1e-4 (float32 rounding of the reference)', async () => {
    // The fixture's features are of the clip as XCodec2 pads it: (N // 320 + 1) * 320 samples, then 160 zeros each side.
    const { data: audio } = await encoderFixture.getF32('enc.audio');
    const padded = new Float32Array((Math.floor(audio.length / 320) + 1) * 320 + 320);
    padded.set(audio, 160);
    const got = w2vBertFeatures(padded);
    const { shape, data: expected } = await fixture.getF32('input.features');
    assert.deepEqual([got.rows, got.dim], shape);
    const err = maxAbs(got.data, expected);
    assert.ok(err < 1e-4, `max |diff| ${err}`);
    console.log(`# w2v-BERT features [${shape}]: max |diff| ${err.toExponential(2)}`);
  });

  test('an odd frame count gets one padding row of 1.0; too short a clip is refused', () => {
    // 400 + 2 * 160 samples = 3 frames -> padded to 4 -> 2 rows; the last 80 values are padding.
    const f = w2vBertFeatures(new Float32Array(720).map((_, i) => Math.sin(i / 7)));
    assert.equal(f.rows, 2);
    assert.deepEqual(Array.from(f.data.subarray(240)), new Array(80).fill(1));
    assert.throws(() => w2vBertFeatures(new Float32Array(300)), /at least 400 samples/);
    assert.throws(() => w2vBertFeatures(new Float32Array(500)), /at least 2 fbank frames/);
  });
});

describe('w2v-BERT encoder', () => {
  test('config: w2v-bert-2.0 defaults; unsupported options are named', () => {
    assert.equal(W2VBERT_DEFAULT_CONFIG.hiddenSize, 1024);
    assert.equal(config.numHiddenLayers, 2);
    assert.equal(config.convDepthwiseKernelSize, 31);
    assert.throws(() => w2vBertConfigFromHf({ position_embeddings_type: 'rotary' }, 'c.json'), /c.json: position_embeddings_type "rotary" is not supported/);
    assert.throws(() => w2vBertConfigFromHf({ add_adapter: true }, 'c.json'), /c.json: add_adapter true is not supported/);
    assert.throws(() => w2vBertConfigFromHf({ hidden_size: 65, num_attention_heads: 4 }, 'c.json'), /c.json: hiddenSize must be a multiple of numAttentionHeads/);
  });

  test('every hidden state equals transformers\' within 1e-4 relative error', async () => {
    const model = await W2vBertModel.fromWeights(fixture, config);
    const { shape, data } = await fixture.getF32('input.features');
    const features = tf.tensor2d(data, shape as [number, number]);
    const before = tf.memory().numTensors;
    const states = model.hiddenStates(features);
    assert.equal(states.length, 3);
    for (let i = 0; i < states.length; i++) {
      const { data: expected } = await fixture.getF32(`hidden_states.${i}`);
      const err = relErr((await states[i]!.data()) as Float32Array, expected);
      assert.ok(err < 1e-4, `hidden_states[${i}]: relative error ${err}`);
      console.log(`# w2v-BERT hidden_states[${i}] [${states[i]!.shape}]: rel err ${err.toExponential(2)}`);
    }
    for (const s of states) s.dispose();
    assert.equal(tf.memory().numTensors, before, 'hiddenStates leaks no tensors');
    // forward(layer 1) = hidden_states[1]; numLayers 1 loads and runs only the first layer.
    const one = await W2vBertModel.fromWeights(fixture, config, { numLayers: 1 });
    const h1 = one.forward(features);
    const { data: expected1 } = await fixture.getF32('hidden_states.1');
    assert.ok(relErr((await h1.data()) as Float32Array, expected1) < 1e-4);
    h1.dispose();
    one.dispose();
    features.dispose();
    model.dispose();
  });

  test('weight shapes are the checkpoint\'s key set; a missing or stray key is named', async () => {
    const keys = fixture.keys().filter((k) => /^(feature_projection|encoder)\./.test(k)).sort();
    assert.deepEqual([...w2vBertWeightShapes(config).keys()].sort(), keys);
    for (const k of keys) assert.deepEqual(w2vBertWeightShapes(config).get(k), fixture.info(k).shape, k);
    const n = tf.memory().numTensors;
    await assert.rejects(W2vBertModel.fromWeights(fixture, { ...config, numHiddenLayers: 3 }), /w2v-BERT checkpoint has no tensor encoder\.layers\.2\./);
    await assert.rejects(W2vBertModel.fromWeights(fixture, { ...config, numHiddenLayers: 1 }), /tensors this port does not read: encoder\.layers\.1\./);
    assert.equal(tf.memory().numTensors, n, 'failed loads free what they read');
  });

  test('random weights load and run on any length', async () => {
    const tiny = { ...config, numHiddenLayers: 1 };
    const model = await W2vBertModel.random(tiny, 3);
    const out = model.forward(tf.randomNormal([5, 160], 0, 1, 'float32', 1) as tf.Tensor2D);
    assert.deepEqual(out.shape, [1, 5, 64]);
    assert.ok(Array.from(await out.data()).every(Number.isFinite));
    out.dispose();
    model.dispose();
  });
});
