/**
 * WavLMForXVector parity with transformers on test/fixtures/wavlm (make_wavlm_fixtures.py):
 * two tiny random models ("base": group-norm feature encoder, post-LN, weighted layer sum;
 * "large": layer-norm convs with bias, pre-LN, last layer) on two flite clips. Compared:
 * the feature extractor's normalised input, the feature-encoder output, every hidden
 * state, the embeddings (the acceptance bound, rel err <= 1e-4) and the logits.
 * Relative error = max |ttslab - reference| / max |reference|.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { decodeWav } from '../../../src/audio/wav';
import { Checkpoint, MemoryWeights } from '../../../src/weights';
import {
  IGNORED_KEYS, WavLMForXVector, cosineSimilarity, loadWavLMConfigs, relativePositionBuckets,
} from '../../../src/models/wavlm';

const DIR = join(__dirname, '..', '..', 'fixtures', 'wavlm');
const CLIPS = ['a', 'b'] as const;
const NAMES = ['base', 'large'] as const;

function clip(name: string): Float32Array {
  return decodeWav(readFileSync(join(DIR, `speech_${name}.wav`))).channels[0]!;
}

function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length, `length ${got.length} vs ${want.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return diff / scale;
}

const models = new Map<string, WavLMForXVector>();
const expected = new Map<string, Checkpoint>();

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  for (const name of NAMES) {
    models.set(name, await WavLMForXVector.fromPretrained(join(DIR, name)));
    expected.set(name, await Checkpoint.open(join(DIR, name, 'expected.safetensors')));
  }
});
after(() => {
  for (const m of models.values()) m.dispose();
});

for (const name of NAMES) {
  describe(`WavLMForXVector parity (${name})`, () => {
    for (const c of CLIPS) {
      test(`clip ${c}: input normalisation, features, hidden states, embeddings, logits`, async (t) => {
        const model = models.get(name)!;
        const want = expected.get(name)!;
        const get = async (k: string) => (await want.getF32(`${c}.${k}`)).data;
        const input = model.inputValues(clip(c));
        // numpy computes the clip's mean and variance in float32 (ttslab in float64): ~1.5e-5 apart.
        const inErr = relErr(input, await get('input_values'));
        assert.ok(inErr <= 5e-5, `normalised input: rel err ${inErr}`);
        // The model is fed the reference's input so its error is its own.
        const ref = await get('input_values');
        const before = tf.memory().numTensors;
        const x = tf.tensor2d(ref, [1, ref.length]);
        const out = model.forward(x);
        x.dispose();
        try {
          const errs: Record<string, number> = {};
          errs.extract_features = relErr(out.extractFeatures.dataSync(), await get('extract_features'));
          // transformers 5's hidden_states end with the last layer's output, before the pre-LN encoder's final norm.
          const lastKey = want.has(`${c}.last_hidden_state`) ? 'last_hidden_state' : model.config.doStableLayerNorm ? null : `hidden_states.${model.config.numHiddenLayers}`;
          if (lastKey) errs.last_hidden_state = relErr(out.lastHiddenState.dataSync(), await get(lastKey));
          for (const [i, h] of out.hiddenStates.entries()) errs[`hidden_states.${i}`] = relErr(h.dataSync(), await get(`hidden_states.${i}`));
          errs.embeddings = relErr(out.embeddings.dataSync(), await get('embeddings'));
          errs.logits = relErr(out.logits.dataSync(), await get('logits'));
          assert.equal(out.hiddenStates.length, model.config.numHiddenLayers + 1);
          t.diagnostic(`${name}/${c} rel err: ${Object.entries(errs).map(([k, e]) => `${k} ${e.toExponential(1)}`).join(', ')}`);
          for (const [k, e] of Object.entries(errs)) assert.ok(e <= 1e-4, `${name}/${c} ${k}: rel err ${e.toExponential(2)} > 1e-4 (all: ${JSON.stringify(errs)})`);
        } finally {
          tf.dispose([out.embeddings, out.logits, out.extractFeatures, out.lastHiddenState, ...out.hiddenStates]);
        }
        assert.equal(tf.memory().numTensors, before, 'forward leaks no tensors');
        // The public path: raw samples -> embedding, no tensors left behind.
        const emb = model.speakerEmbedding(clip(c));
        assert.equal(tf.memory().numTensors, before, 'speakerEmbedding leaks no tensors');
        assert.ok(relErr(emb, await get('embeddings')) <= 1e-4, `${name}/${c}: speakerEmbedding rel err ${relErr(emb, await get('embeddings'))}`);
      });
    }

    test('cosine similarity of the two clips equals the reference', async () => {
      const model = models.get(name)!;
      const info = JSON.parse(readFileSync(join(DIR, name, 'expected.json'), 'utf8')) as { cosine_a_b: number };
      const cos = cosineSimilarity(model.speakerEmbedding(clip('a')), model.speakerEmbedding(clip('b')));
      assert.ok(Math.abs(cos - info.cosine_a_b) <= 1e-4, `cosine ${cos} vs ${info.cosine_a_b}`);
    });
  });
}

describe('WavLM weights by reference name', () => {
  async function memoryCopy(name: string, rename: (k: string) => string | null): Promise<MemoryWeights> {
    const ckpt = await Checkpoint.open(join(DIR, name));
    const m = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const k of ckpt.keys()) {
      const to = rename(k);
      if (to) m.set(to, await ckpt.getF32(k));
    }
    return new MemoryWeights(m);
  }

  test('the checkpoint holds exactly the expected keys plus the listed exceptions', async () => {
    const ckpt = await Checkpoint.open(join(DIR, 'base'));
    for (const k of IGNORED_KEYS) assert.ok(ckpt.has(k), `fixture lacks ${k}: the exception list is stale`);
    const { config, featureExtractor } = await loadWavLMConfigs(join(DIR, 'base'));
    const extra = await memoryCopy('base', (k) => k);
    const withExtra = new MemoryWeights(new Map([...await Promise.all(extra.keys().map(async (k) => [k, await extra.getF32(k)] as const)),
      ['wavlm.encoder.layers.0.attention.unknown', { shape: [1], data: new Float32Array(1) }]]));
    await assert.rejects(WavLMForXVector.fromWeights(config, featureExtractor, withExtra), /unexpected wavlm\.encoder\.layers\.0\.attention\.unknown/);
    const missing = await memoryCopy('base', (k) => (k === 'tdnn.2.kernel.bias' ? null : k));
    await assert.rejects(WavLMForXVector.fromWeights(config, featureExtractor, missing), /missing tdnn\.2\.kernel\.bias/);
  });

  test('legacy weight_g / weight_v names fold to the same model', async () => {
    const { config, featureExtractor } = await loadWavLMConfigs(join(DIR, 'base'));
    const legacy = await memoryCopy('base', (k) => k.replace('parametrizations.weight.original0', 'weight_g').replace('parametrizations.weight.original1', 'weight_v'));
    assert.ok(legacy.has('wavlm.encoder.pos_conv_embed.conv.weight_g'));
    const model = await WavLMForXVector.fromWeights(config, featureExtractor, legacy);
    try {
      const want = (await expected.get('base')!.getF32('a.embeddings')).data;
      assert.ok(relErr(model.speakerEmbedding(clip('a')), want) <= 1e-4);
    } finally {
      model.dispose();
    }
  });
});

describe('WavLM helpers', () => {
  test('relative position buckets: exact near, log-spaced far, clamped, keys after the query in the upper half', () => {
    // num_buckets 32 -> 16 per side, exact below 8; distance 64 is the last bucket (15).
    const b = relativePositionBuckets(1, 200, 32, 64);
    assert.deepEqual([...b.slice(0, 8)], [0, 17, 18, 19, 20, 21, 22, 23]);
    assert.equal(b[8], 16 + 8); // log(8/8) = 0 -> bucket max_exact
    assert.equal(b[199], 16 + 15); // clamped
    const back = relativePositionBuckets(200, 1, 32, 64);
    assert.equal(back[5 * 1], 5);
    assert.equal(back[199], 15);
    // log branch: 8 + floor(log(d/8) / log(8) * 8)
    for (const d of [9, 12, 16, 23, 40, 63]) assert.equal(b[d], 16 + 8 + Math.floor(Math.log(d / 8) / Math.log(8) * 8), `distance ${d}`);
  });

  test('cosine similarity', () => {
    assert.equal(cosineSimilarity([1, 0], [0, 1]), 0);
    assert.ok(Math.abs(cosineSimilarity([1, 2, 3], [2, 4, 6]) - 1) < 1e-12);
    assert.ok(Math.abs(cosineSimilarity([1, 2], [-1, -2]) + 1) < 1e-12);
    assert.throws(() => cosineSimilarity([1], [1, 2]), /lengths 1 and 2/);
    assert.throws(() => cosineSimilarity([0, 0], [1, 2]), /all zeros/);
  });

  test('a clip too short for statistics pooling is an error naming its length', () => {
    const model = models.get('base')!;
    assert.throws(() => model.speakerEmbedding(new Float32Array(2000).fill(0.1)), /2000 samples \(0\.125 s\)/);
    assert.throws(() => model.speakerEmbedding(new Float32Array([0.1, NaN, 0.2])), /sample 1 is NaN/);
  });
});
