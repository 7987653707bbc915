/**
 * XCodec2 decoder and quantizer against transformers' Xcodec2Model on a tiny random model
 * with the real frame layout (test/fixtures/xcodec2, made by make_xcodec2_fixtures.py):
 * decoded audio within 1e-4 relative error, quantizer codes identical, FSQ codebook rows
 * from the definition, the checkpoint's key set read whole, and no tensor leaks.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Checkpoint } from '../../../src/weights/checkpoint';
import {
  XCODEC2_DEFAULT_CONFIG, Xcodec2Decoder, fsqCodebookRows, xcodec2CodebookSize, xcodec2DecoderWeightShapes, xcodec2ConfigFromHf, xcodec2HopLength, xcodec2NFft,
} from '../../../src/models/xcodec2';
import type { Xcodec2Config } from '../../../src/models/xcodec2';

const DIR = join(__dirname, '..', '..', 'fixtures', 'xcodec2');

let weights: Checkpoint;
let config: Xcodec2Config;
let decoder: Xcodec2Decoder;

async function ints(name: string): Promise<number[]> {
  const { data } = await weights.read(name);
  return Array.from(data as Int32Array, Number);
}

before(async () => {
  await tf.setBackend('cpu');
  weights = await Checkpoint.open(join(DIR, 'xcodec2_tiny.safetensors'));
  config = xcodec2ConfigFromHf(JSON.parse(await readFile(join(DIR, 'xcodec2_tiny_config.json'), 'utf8')), 'xcodec2_tiny_config.json');
  decoder = await Xcodec2Decoder.fromWeights(weights, config);
});

describe('XCodec2 config', () => {
  test('the real layout: 16 kHz, hop 320 (50 Hz), n_fft 1280, 65536 codes; the tiny fixture keeps it', () => {
    assert.equal(xcodec2HopLength(XCODEC2_DEFAULT_CONFIG), 320);
    assert.equal(xcodec2NFft(XCODEC2_DEFAULT_CONFIG), 1280);
    assert.equal(xcodec2CodebookSize(XCODEC2_DEFAULT_CONFIG), 65536);
    assert.equal(XCODEC2_DEFAULT_CONFIG.samplingRate / xcodec2HopLength(XCODEC2_DEFAULT_CONFIG), 50);
    assert.deepEqual([decoder.hopLength, decoder.nFft, decoder.codebookSize], [320, 1280, 65536]);
    assert.equal(config.hiddenSize, 64);
  });

  test('unsupported or inconsistent configs are named', () => {
    assert.throws(() => xcodec2ConfigFromHf({ hidden_act: 'gelu' }, 'c.json'), /c.json: hidden_act "gelu" is not supported/);
    assert.throws(() => xcodec2ConfigFromHf({ hidden_size: 64, quantization_dim: 2048, semantic_model_config: { hidden_size: 64 } }, 'c.json'),
      /c.json: quantizationDim must equal hiddenSize \+ semanticHiddenSize \(128\)/);
  });
});

describe('XCodec2 FSQ', () => {
  test('codebook rows from the definition: digit (i // 4^d) % 4, value (digit - 2) / 2', () => {
    const levels = [4, 4, 4, 4, 4, 4, 4, 4];
    assert.deepEqual(Array.from(fsqCodebookRows([0], levels)), new Array(8).fill(-1));
    // 65535 = every digit 3 -> 0.5; 1 + 4 * 2 = digits [1, 2, 0, ...] -> [-0.5, 0, -1, ...]
    assert.deepEqual(Array.from(fsqCodebookRows([65535], levels)), new Array(8).fill(0.5));
    assert.deepEqual(Array.from(fsqCodebookRows([9], levels)), [-0.5, 0, -1, -1, -1, -1, -1, -1]);
    assert.throws(() => fsqCodebookRows([3, 65536], levels), /XCodec2 code 1 is 65536, expected an integer in \[0, 65536\)/);
  });

  test('quantizer codes equal the reference (project_in, bound twice, round)', async () => {
    const { shape, data } = await weights.getF32('quant.latents');
    const latents = tf.tensor2d(data, shape as [number, number]);
    const codes = await decoder.quantize(latents);
    latents.dispose();
    const expected = await ints('quant.codes');
    assert.equal(expected.length, 40);
    assert.deepEqual(Array.from(codes), expected);
    // Random latents reach many codes: the test would notice a wrong basis or offset.
    assert.ok(new Set(expected).size > 30);
  });
});

describe('XCodec2 decoder', () => {
  for (const i of [0, 1]) {
    test(`case ${i}: audio equals transformers' decode within 1e-4 relative error`, async () => {
      const codes = await ints(`case${i}.codes`);
      const { data: expected } = await weights.getF32(`case${i}.audio`);
      const before = tf.memory().numTensors;
      const audio = await decoder.decode(codes);
      assert.equal(tf.memory().numTensors, before);
      assert.equal(audio.length, codes.length * 320);
      assert.equal(audio.length, expected.length);
      let num = 0;
      let den = 0;
      for (let k = 0; k < audio.length; k++) {
        num += (audio[k]! - expected[k]!) ** 2;
        den += expected[k]! ** 2;
      }
      const rel = Math.sqrt(num / den);
      assert.ok(den > 0 && rel <= 1e-4, `relative error ${rel}`);
    });
  }

  test('every decoder/quantizer tensor of the checkpoint is read; a missing one is named', async () => {
    const ours = weights.keys().filter((k) => /^(quantizer|acoustic_decoder)\./.test(k));
    assert.ok(ours.length > 40);
    const partial = {
      keys: () => ours.filter((k) => k !== 'acoustic_decoder.norm.bias'),
      has: (k: string) => k !== 'acoustic_decoder.norm.bias' && weights.has(k),
      info: (k: string) => weights.info(k),
      getF32: (k: string) => weights.getF32(k),
    };
    const before = tf.memory().numTensors;
    await assert.rejects(Xcodec2Decoder.fromWeights(partial, config), /no tensor acoustic_decoder\.norm\.bias/);
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('XCodec2 weights', () => {
  test('xcodec2DecoderWeightShapes names exactly the decoder/quantizer tensors transformers saves', () => {
    const ours = weights.keys().filter((k) => /^(quantizer|acoustic_decoder)\./.test(k)).sort();
    const shapes = xcodec2DecoderWeightShapes(config);
    assert.deepEqual([...shapes.keys()].sort(), ours);
    for (const k of ours) assert.deepEqual(shapes.get(k), weights.info(k).shape, k);
  });

  test('random: seeded, a 1024-code layout (FSQ levels [4]*5), frames * 320 finite samples, no leaks', async () => {
    const tiny = { ...config, quantizationLevels: [4, 4, 4, 4, 4] };
    const before = tf.memory().numTensors;
    const a = await Xcodec2Decoder.random(tiny, 3);
    const b = await Xcodec2Decoder.random(tiny, 3);
    assert.equal(a.codebookSize, 1024);
    const codes = [0, 1023, 17, 512, 900];
    const x = await a.decode(codes);
    assert.equal(x.length, codes.length * 320);
    assert.ok(x.every(Number.isFinite));
    assert.deepEqual(x, await b.decode(codes));
    await assert.rejects(a.decode([1024]), /XCodec2 code 0 is 1024, expected an integer in \[0, 1024\)/);
    a.dispose();
    b.dispose();
    assert.equal(tf.memory().numTensors, before);
  });
});
