/**
 * loadLlasa on a local folder in the Hub layout (config.json + model.safetensors written by
 * saveMergedCheckpoint, the Llasa fixture tokenizer): the model and processor load and give
 * the same logits as the model saved; a vocabulary too small for the tokenizer's Llasa tokens
 * is refused naming both numbers.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fromHfConfig } from '../../../src/models/llama/config';
import { LlamaForCausalLM } from '../../../src/models/llama/modeling';
import { saveMergedCheckpoint } from '../../../src/lora/merge';
import { TINY_XCODEC2_CONFIG, isLlasaTokenizerDir, loadLlasa, loadLlasaCheckpoint } from '../../../src/models/llasa';
import { xcodec2DecoderWeightShapes, xcodec2EncoderWeightShapes } from '../../../src/models/xcodec2';
import type { Xcodec2Config } from '../../../src/models/xcodec2';
import { writeSafetensors } from '../../../src/weights/safetensors';
import type { TensorToWrite } from '../../../src/weights/safetensors';

/** An XCodec2 folder in transformers' layout (config.json + model.safetensors) with seeded random weights. */
async function codecFolder(c: Xcodec2Config, keyOf: (k: string) => string = (k) => k): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'xcodec2-'));
  const hf = {
    model_type: 'xcodec2', hidden_size: c.hiddenSize, intermediate_size: c.intermediateSize, num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads, num_key_value_heads: c.numKeyValueHeads, head_dim: c.headDim, quantization_dim: c.quantizationDim,
    quantization_levels: c.quantizationLevels, downsampling_ratios: c.downsamplingRatios, encoder_hidden_size: c.encoderHiddenSize, sampling_rate: 16000,
    semantic_model_config: {
      model_type: 'wav2vec2-bert', hidden_size: c.semanticModel.hiddenSize, num_hidden_layers: c.semanticModel.numHiddenLayers,
      num_attention_heads: c.semanticModel.numAttentionHeads, intermediate_size: c.semanticModel.intermediateSize,
    },
  };
  await writeFile(join(dir, 'config.json'), JSON.stringify(hf));
  const tensors = new Map<string, TensorToWrite>();
  let x = 1;
  for (const [k, shape] of [...xcodec2EncoderWeightShapes(c), ...xcodec2DecoderWeightShapes(c)]) {
    const n = shape.reduce((a, b) => a * b, 1);
    const fan = shape.length >= 2 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
    // deterministic pseudo-random values of scale 1 / sqrt(fan_in); norms near 1
    const data = Float32Array.from({ length: n }, () => { x = (x * 16807) % 2147483647; return (x / 2147483647 - 0.5) * 3.4 / Math.sqrt(fan); });
    if (/norm\d?\.weight$/.test(k)) data.fill(1);
    tensors.set(keyOf(k), { dtype: 'F32', shape, data });
  }
  await writeSafetensors(join(dir, 'model.safetensors'), tensors);
  return dir;
}

const TOKENIZER = join(__dirname, '..', '..', 'fixtures', 'llasa', 'tokenizer');

function tiny(vocab: number): LlamaForCausalLM {
  return LlamaForCausalLM.random(fromHfConfig({
    model_type: 'llama', vocab_size: vocab, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2,
    num_key_value_heads: 1, head_dim: 16, max_position_embeddings: 2048, tie_word_embeddings: true, rope_theta: 500000,
  }), { seed: 5 });
}

async function folder(model: LlamaForCausalLM): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'llasa-load-'));
  await saveMergedCheckpoint(model, dir, { dtype: 'F32' });
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) await copyFile(join(TOKENIZER, f), join(dir, f));
  return dir;
}

before(async () => {
  await tf.setBackend('cpu');
});

describe('loadLlasa', () => {
  test('a local folder loads: layout from the tokenizer, weights equal to the saved model', async () => {
    const saved = tiny(1595);
    const dir = await folder(saved);
    try {
      const { model, processor } = await loadLlasa(dir);
      assert.equal(processor.layout.speechTokenStart, 571);
      assert.equal(processor.layout.numSpeechTokens, 1024);
      const ids = [processor.prompt('Hello world.')];
      const a = saved.forward({ inputIds: ids });
      const b = model.forward({ inputIds: ids });
      assert.ok(tf.max(tf.abs(a.sub(b))).arraySync() as number < 1e-6);
      tf.dispose([a, b]);
      model.dispose();
    } finally {
      saved.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a vocabulary without room for the speech tokens is refused', async () => {
    const saved = tiny(1000);
    const dir = await folder(saved);
    try {
      await assert.rejects(loadLlasa(dir), /config.json vocab_size is 1000, the tokenizer's Llasa tokens need 1595/);
    } finally {
      saved.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('loadLlasaCheckpoint', () => {
  test('Llasa folder + XCodec2 folder -> a LlasaTts that encodes, decodes and owns its codec', async () => {
    const saved = tiny(1595);
    const dir = await folder(saved);
    const codecDir = await codecFolder(TINY_XCODEC2_CONFIG);
    try {
      const before = tf.memory().numTensors;
      const tts = await loadLlasaCheckpoint(dir, { codec: codecDir });
      assert.equal(tts.family, 'llasa');
      assert.equal(tts.name, dir);
      assert.equal(await isLlasaTokenizerDir(dir), true);
      assert.equal(await isLlasaTokenizerDir(codecDir), false, 'no tokenizer there');
      assert.equal(await isLlasaTokenizerDir(join(__dirname, '..', '..', 'fixtures', 'tokenizer')), false, 'a tokenizer without Llasa markers');
      assert.equal(tts.warning, null);
      assert.equal(tts.codebookSize, 1024);
      assert.equal(tts.codec.id, `xcodec2:${codecDir}`);
      const codes = await tts.codec.encode(Float32Array.from({ length: 3200 }, (_, i) => 0.3 * Math.sin(i / 9)));
      assert.equal(codes.length, 10);
      assert.equal((await tts.codec.decode(codes)).length, 3200);
      const [ex] = tts.buildTrainingExamples([{ codes, text: 'Hi.', source: 0 }]);
      assert.equal(ex!.labels.filter((y) => y !== -100).length, 12);
      tts.dispose();
      assert.equal(tf.memory().numTensors, before, 'dispose frees the Llama and the codec');
    } finally {
      saved.dispose();
      await rm(dir, { recursive: true, force: true });
      await rm(codecDir, { recursive: true, force: true });
    }
  });

  test('a codec whose codebook is not the tokenizer\'s speech vocabulary, or with original-layout keys it cannot place, is refused by name', async () => {
    const saved = tiny(1595);
    const dir = await folder(saved);
    const big = await codecFolder({ ...TINY_XCODEC2_CONFIG, quantizationLevels: [4, 4, 4, 4, 4, 4] });
    const original = await codecFolder(TINY_XCODEC2_CONFIG, (k) => k.replace(/^acoustic_encoder\./, 'CodecEnc.'));
    try {
      const n = tf.memory().numTensors;
      await assert.rejects(loadLlasaCheckpoint(dir, { codec: big }), /the tokenizer has 1024 speech tokens, the XCodec2 codec .* 4096 codes/);
      await assert.rejects(loadLlasaCheckpoint(dir, { codec: original }), /XCodec2 original checkpoint has keys this port cannot place: CodecEnc\./);
      await assert.rejects(loadLlasaCheckpoint(dir, { codec: join(dir, 'missing') }), /cannot get the XCodec2 codec/);
      assert.equal(tf.memory().numTensors, n, 'failed loads free what they read');
    } finally {
      saved.dispose();
      for (const d of [dir, big, original]) await rm(d, { recursive: true, force: true });
    }
  });
});
