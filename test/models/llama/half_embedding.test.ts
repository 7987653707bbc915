/**
 * Frozen f16 token embedding (`embeddingDtype: 'float16'`, issue 12: Llasa-8B's [193800, 4096]
 * table does not fit one f32 storage binding): a tiny Llama, tied and untied, loaded from a
 * checkpoint with its embedding in f16 (rows by the f16 gather kernel on WebGPU, lavapipe here;
 * a tied head on the f16 matmul) gives the LoRA loss and every A/B gradient within 2% of the
 * float32 model on the cpu backend, holds the embedding in half the bytes, and refuses float32
 * reads of it and non-WebGPU backends with a clear error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initRuntime } from '../../../src/runtime';
import { fromHalf } from '../../../src/runtime/kernels/half';
import { fromHfConfig } from '../../../src/models/llama/config';
import type { LlamaConfig } from '../../../src/models/llama/config';
import { LlamaForCausalLM, llamaWeightShapes } from '../../../src/models/llama/modeling';
import type { LoadWeightsOptions } from '../../../src/models/llama/modeling';
import { MemoryWeights } from '../../../src/weights/checkpoint';
import type { MemoryTensor } from '../../../src/weights/checkpoint';
import { normal, relError, seededLoraStep } from './lora_checks';

process.env.XDG_RUNTIME_DIR ??= '/tmp';

function config(tied: boolean, vocab = 98): LlamaConfig {
  return fromHfConfig({
    model_type: 'llama', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4,
    num_key_value_heads: 2, head_dim: 16, vocab_size: vocab, tie_word_embeddings: tied, max_position_embeddings: 64,
    rms_norm_eps: 1e-5, rope_theta: 10000, bos_token_id: 0, eos_token_id: 1, pad_token_id: 1,
  }, { source: `half_embedding test (${tied ? 'tied' : 'untied'})` });
}
const LORA = { r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'v_proj'], useRslora: false, seed: 3 };
const IDS = [[5, 17, 33, 2, 96, 41, 8, 64, 12, 77, 3, 50], [9, 9, 21, 70, 44, 6, 88, 15, 30, 2, 61, 19]];

/** LoRA loss and every A/B gradient of `model` (B seeded), read back; disposes the model. */
async function lossAndGrads(model: LlamaForCausalLM): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  try {
    return await seededLoraStep(model, LORA, (m) => m.loss({ inputIds: IDS, labels: IDS }));
  } finally {
    model.dispose();
  }
}

/** A float32 checkpoint of `c`'s weights (embedding std 1, so its f16 rounding shows). */
function checkpoint(c: LlamaConfig): MemoryWeights {
  const tensors = new Map<string, MemoryTensor>();
  let i = 0;
  for (const [name, shape] of llamaWeightShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = /norm\.weight$/.test(name) ? normal(n, 100 + i, 0.1).map((v) => 1 + v) : normal(n, 100 + i, name.includes('embed') ? 1 : 0.08);
    tensors.set(name, { shape, dtype: 'F32', data: values });
    i++;
  }
  return new MemoryWeights(tensors, 'half_embedding test checkpoint');
}

for (const tied of [true, false]) {
  for (const frozenDtype of ['float32', 'float16'] as const) {
    test(`embeddingDtype 'float16' (${tied ? 'tied head' : 'untied head'}, linear weights ${frozenDtype}): LoRA loss and gradients within 2% of float32, embedding in half the bytes`, async (t) => {
      const c = config(tied);
      const source = checkpoint(c);
      await initRuntime({ backend: 'cpu' });
      const ref = await lossAndGrads(await LlamaForCausalLM.fromWeights(c, source));

      await initRuntime({ backend: 'webgpu' });
      const options: LoadWeightsOptions = { frozenDtype };
      const before = tf.memory();
      const plain = await LlamaForCausalLM.fromWeights(c, source, options);
      const bytesPlain = tf.memory().numBytes - before.numBytes;
      plain.dispose();
      const model = await LlamaForCausalLM.fromWeights(c, source, { ...options, embeddingDtype: 'float16' });
      const bytesHalf = tf.memory().numBytes - before.numBytes;
      assert.equal(model.embeddingDtype, 'float16');
      assert.equal(model.frozenDtype, frozenDtype);
      const embedBytes = 4 * c.vocabSize * c.hiddenSize;
      assert.equal(bytesPlain - bytesHalf, embedBytes / 2, `bytes without ${bytesPlain}, with the f16 embedding ${bytesHalf}`);
      // The table is the checkpoint's, rounded to f16 (within f16's half-ulp, 2^-11 relative).
      const t32 = fromHalf(model.model.embedHalf!);
      const table = await t32.data();
      t32.dispose();
      const want = (await source.getF32('model.embed_tokens.weight')).data;
      let worstRow = 0;
      for (let i = 0; i < want.length; i++) worstRow = Math.max(worstRow, Math.abs(table[i] - want[i]) / Math.max(Math.abs(want[i]), 2 ** -14));
      assert.ok(worstRow <= 2 ** -11 + 1e-7, `embedding rounding error ${worstRow}`);
      assert.throws(() => model.model.embed_tokens, /model\.embed_tokens \[98,64\] is held in f16 on the GPU \(embeddingDtype 'float16'\)/);
      assert.throws(() => model.namedParameters(), /f16/);

      const got = await lossAndGrads(model);
      assert.equal(tf.memory().numTensors, before.numTensors, 'the f16-embedding model leaks tensors');
      const lossErr = Math.abs(got.loss - ref.loss) / Math.abs(ref.loss);
      assert.ok(lossErr <= 0.02, `loss ${got.loss} vs ${ref.loss} (rel ${lossErr})`);
      assert.equal(got.grads.size, ref.grads.size);
      assert.equal(got.grads.size, 2 * 2 * c.numHiddenLayers);
      let worst = 0;
      for (const [k, g] of ref.grads) {
        const e = relError(got.grads.get(k)!, g);
        worst = Math.max(worst, e);
        assert.ok(e <= 0.02, `${k}: gradient rel err ${e}`);
      }
      t.diagnostic(`loss ${got.loss} vs f32 ${ref.loss} (rel ${lossErr.toExponential(2)}); largest gradient rel err ${worst.toExponential(2)}; bytes ${bytesPlain} -> ${bytesHalf}`);
      // The f16 embedding is visible in the result: the path really ran in f16.
      assert.ok(lossErr > 1e-7 || worst > 1e-6, `loss rel err ${lossErr} and gradient rel err ${worst} are too small for an f16 embedding`);
    });
  }
}

test("random() with embeddingDtype 'float16' draws the same table as float32, rounded; off webgpu and unknown dtypes are refused", async () => {
  const c = config(false);
  await initRuntime({ backend: 'cpu' });
  assert.throws(() => LlamaForCausalLM.random(c, { embeddingDtype: 'float16' }), /embeddingDtype 'float16' needs the webgpu backend.*active backend is cpu/);
  await assert.rejects(LlamaForCausalLM.fromWeights(c, checkpoint(c), { embeddingDtype: 'bfloat16' as 'float16' }), /embeddingDtype must be 'float32' or 'float16', got "bfloat16"/);
  await initRuntime({ backend: 'webgpu' });
  const before = tf.memory().numTensors;
  const m32 = LlamaForCausalLM.random(c, { seed: 4, std: 0.5 });
  const m16 = LlamaForCausalLM.random(c, { seed: 4, std: 0.5, embeddingDtype: 'float16' });
  const ids = tf.tensor2d(IDS, undefined, 'int32');
  const [a, b] = [m32.model.embed(ids), m16.model.embed(ids)];
  assert.deepEqual(b.shape, [2, 12, 64]);
  const [av, bv] = [await a.data(), await b.data()];
  let worst = 0;
  for (let i = 0; i < av.length; i++) worst = Math.max(worst, Math.abs(av[i] - bv[i]) / Math.max(Math.abs(av[i]), 2 ** -14));
  assert.ok(worst > 0 && worst <= 2 ** -11 + 1e-7, `f16 rows vs f32 rows: largest relative difference ${worst}`);
  tf.dispose([ids, a, b]);
  m32.dispose();
  m16.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('an odd vocabulary: the f16 gather serves an untied model; a tied f16 head and an f16 lm_head are refused at load with the reason', async () => {
  await initRuntime({ backend: 'cpu' });
  const untied = config(false, 97);
  const source = checkpoint(untied);
  const ref = await lossAndGrads(await LlamaForCausalLM.fromWeights(untied, source));
  await initRuntime({ backend: 'webgpu' });
  const got = await lossAndGrads(await LlamaForCausalLM.fromWeights(untied, source, { embeddingDtype: 'float16' }));
  assert.ok(Math.abs(got.loss - ref.loss) / Math.abs(ref.loss) <= 0.02, `loss ${got.loss} vs ${ref.loss}`);
  const before = tf.memory().numTensors;
  await assert.rejects(LlamaForCausalLM.fromWeights(untied, source, { frozenDtype: 'float16' }), /lm_head\.weight \(F32\): an f16 weight needs even out and in features .* got \[97,64\]/);
  const tied = config(true, 97);
  await assert.rejects(LlamaForCausalLM.fromWeights(tied, checkpoint(tied), { embeddingDtype: 'float16' }), /an f16 embedding tied to the head needs an even vocabulary and hidden size .* got \[97,64\]/);
  assert.equal(tf.memory().numTensors, before, 'a refused load leaks tensors');
});
