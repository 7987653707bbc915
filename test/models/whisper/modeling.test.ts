/**
 * Whisper front end and forward parity with transformers on test/fixtures/whisper (a tiny
 * random WhisperForConditionalGeneration, see test/fixtures/make_whisper_fixtures.py):
 * log-mel within 1e-4 absolute, encoder output and decoder logits within 1e-4 relative,
 * cached decoding equal to the full forward, weight key checks.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Checkpoint } from '../../../src/weights/checkpoint';
import { WhisperForConditionalGeneration, extractFeatures, whisperWeightShapes } from '../../../src/models/whisper';
import { FIXTURE_DIR, loadExpected, longInput, maxAbsError, readWavF32, relError } from './helpers';
import { join } from 'node:path';

before(async () => {
  await tf.setBackend('cpu');
});

describe('whisper log-mel', () => {
  test('short clip (padded to 30 s) matches WhisperFeatureExtractor within 1e-4', async () => {
    const arrays = await Checkpoint.open(join(FIXTURE_DIR, 'expected.safetensors'));
    const want = await arrays.getF32('mel_short');
    const got = extractFeatures(readWavF32('short.wav'), 80);
    assert.deepEqual([got.nMels, got.nFrames], want.shape);
    const err = maxAbsError(got.data, want.data);
    assert.ok(err <= 1e-4, `max abs error ${err}`);
  });

  test('long input (68 s, not truncated) matches at both ends within 1e-4', async () => {
    const arrays = await Checkpoint.open(join(FIXTURE_DIR, 'expected.safetensors'));
    const e = loadExpected();
    const got = extractFeatures(longInput(e), 80);
    assert.equal(got.nFrames, e.long_frames);
    for (const [key, start] of [['mel_long_head', 0], ['mel_long_tail', got.nFrames - 400]] as const) {
      const want = await arrays.getF32(key);
      const slice = new Float32Array(80 * 400);
      for (let m = 0; m < 80; m++) slice.set(got.data.subarray(m * got.nFrames + start, m * got.nFrames + start + 400), m * 400);
      const err = maxAbsError(slice, want.data);
      assert.ok(err <= 1e-4, `${key}: max abs error ${err}`);
    }
  });
});

describe('whisper forward parity', () => {
  let model: WhisperForConditionalGeneration;
  let arrays: Checkpoint;
  let features: tf.Tensor3D;
  before(async () => {
    model = await WhisperForConditionalGeneration.fromPretrained(FIXTURE_DIR);
    arrays = await Checkpoint.open(join(FIXTURE_DIR, 'expected.safetensors'));
    const mel = await arrays.getF32('mel_short');
    features = tf.tensor3d(mel.data, [1, 80, 3000]);
  });
  after(() => {
    features.dispose();
    model.dispose();
  });

  test('checkpoint keys are exactly the reference names', async () => {
    const ckpt = await Checkpoint.open(FIXTURE_DIR);
    const want = [...whisperWeightShapes(model.config).keys()].sort();
    assert.deepEqual(ckpt.keys().filter((k) => k !== 'proj_out.weight').sort(), want);
  });

  test('encoder output within 1e-4 relative', async () => {
    const want = await arrays.getF32('encoder_out');
    const before = tf.memory().numTensors;
    const enc = model.encode(features);
    assert.deepEqual(enc.shape, [1, ...want.shape]);
    const err = relError(await enc.data() as Float32Array, want.data);
    enc.dispose();
    assert.equal(tf.memory().numTensors, before, 'encode leaked tensors');
    assert.ok(err <= 1e-4, `encoder rel error ${err}`);
  });

  test('decoder logits within 1e-4 relative; cached step-by-step decoding gives the same', async () => {
    const want = await arrays.getF32('decoder_logits');
    const ids = loadExpected().decoder_input_ids;
    const before = tf.memory().numTensors;
    const logits = model.forward(features, [ids]);
    const full = await logits.data() as Float32Array;
    logits.dispose();
    const err = relError(full, want.data);
    assert.ok(err <= 1e-4, `logits rel error ${err}`);
    // Prompt of 3, then one token at a time through the KV cache.
    const cache = model.createCache();
    const enc = model.encode(features);
    model.setEncoderOutput(cache, enc);
    enc.dispose();
    const V = model.config.vocabSize;
    const stepped = new Float32Array(ids.length * V);
    const first = model.decode([ids.slice(0, 3)], cache, { logitRows: [0, 1, 2] }).logits;
    stepped.set(await first.data() as Float32Array, 0);
    first.dispose();
    for (let t = 3; t < ids.length; t++) {
      const l = model.decode([[ids[t]!]], cache).logits;
      stepped.set(await l.data() as Float32Array, t * V);
      l.dispose();
    }
    cache.dispose();
    assert.equal(tf.memory().numTensors, before, 'decoding leaked tensors');
    assert.ok(relError(stepped, want.data) <= 1e-4, `cached logits rel error ${relError(stepped, want.data)}`);
  });

  test('a checkpoint with a missing or extra key is refused with the names', async () => {
    const ckpt = await Checkpoint.open(FIXTURE_DIR);
    const fake = {
      keys: () => [...ckpt.keys().filter((k) => k !== 'model.encoder.conv1.bias'), 'model.encoder.extra.weight'],
      has: (k: string) => k !== 'model.encoder.conv1.bias' && ckpt.has(k),
      info: (k: string) => ckpt.info(k),
      getF32: (k: string) => ckpt.getF32(k),
    };
    await assert.rejects(WhisperForConditionalGeneration.fromWeights(model.config, null, fake),
      /missing model\.encoder\.conv1\.bias; unexpected model\.encoder\.extra\.weight/);
  });
});
