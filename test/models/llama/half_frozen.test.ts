/**
 * Frozen f16 base weights (`frozenDtype: 'float16'`, issue 10): a tiny Llama (untied head, so
 * lm_head is f16 too) loaded from a checkpoint holding F32, F16 and BF16 linear weights gives
 * the LoRA loss and the gradients of every LoRA A and B within 2% of the float32 model on the
 * cpu backend (the f16 side runs on WebGPU: lavapipe here, the tiled f16 kernel), holds the
 * linear weights in half the bytes, and refuses what needs float32 weights with a clear error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initRuntime } from '../../../src/runtime';
import { fromHfConfig } from '../../../src/models/llama/config';
import { LlamaForCausalLM, baseLinear, llamaWeightShapes } from '../../../src/models/llama/modeling';
import { HalfLinear } from '../../../src/models/llama/half_linear';
import { MemoryWeights } from '../../../src/weights/checkpoint';
import type { MemoryTensor } from '../../../src/weights/checkpoint';
import { convertFromF32 } from '../../../src/weights/dtype';
import { applyLora } from '../../../src/lora';
import { normal, relError, seededLoraStep } from './lora_checks';

process.env.XDG_RUNTIME_DIR ??= '/tmp';

const CONFIG = fromHfConfig({
  model_type: 'llama', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4,
  num_key_value_heads: 2, head_dim: 16, vocab_size: 96, tie_word_embeddings: false, max_position_embeddings: 64,
  rms_norm_eps: 1e-5, rope_theta: 10000, bos_token_id: 0, eos_token_id: 1, pad_token_id: 1,
}, { source: 'half_frozen test' });
const LORA = { r: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], useRslora: false, seed: 3 };
const IDS = [[5, 17, 33, 2, 90, 41, 8, 64, 12, 77, 3, 50], [9, 9, 21, 70, 44, 6, 88, 15, 30, 2, 61, 19]];

/** LoRA loss and every A/B gradient of `model` (B seeded), read back; disposes the model. */
async function lossAndGrads(model: LlamaForCausalLM): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  try {
    return await seededLoraStep(model, LORA, (m) => m.loss({ inputIds: IDS, labels: IDS }));
  } finally {
    model.dispose();
  }
}

/** A checkpoint of CONFIG's weights: linear weights stored in turn as F32, F16 and BF16. */
function checkpoint(): MemoryWeights {
  const tensors = new Map<string, MemoryTensor>();
  let i = 0;
  for (const [name, shape] of llamaWeightShapes(CONFIG)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = /norm\.weight$/.test(name) ? normal(n, 100 + i, 0.1).map((v) => 1 + v) : normal(n, 100 + i, name.includes('embed') ? 1 : 0.08);
    const dtype = /proj\.weight$|lm_head/.test(name) ? (['F32', 'F16', 'BF16'] as const)[i % 3] : 'F32';
    tensors.set(name, { shape, dtype, data: dtype === 'F32' ? values : convertFromF32(dtype, values) });
    i++;
  }
  return new MemoryWeights(tensors, 'half_frozen test checkpoint');
}

test("frozenDtype 'float16': LoRA loss and every A/B gradient within 2% of float32, linear weights in half the bytes", async (t) => {
  const source = checkpoint();
  await initRuntime({ backend: 'cpu' });
  const ref = await lossAndGrads(await LlamaForCausalLM.fromWeights(CONFIG, source));

  await initRuntime({ backend: 'webgpu' });
  const before = tf.memory();
  const m32 = await LlamaForCausalLM.fromWeights(CONFIG, source);
  const bytes32 = tf.memory().numBytes - before.numBytes;
  m32.dispose();
  const m16 = await LlamaForCausalLM.fromWeights(CONFIG, source, { frozenDtype: 'float16' });
  const bytes16 = tf.memory().numBytes - before.numBytes;
  assert.equal(m16.frozenDtype, 'float16');
  assert.ok(m16.namedLinears().every((n) => n.module instanceof HalfLinear), 'every linear (lm_head included) is a HalfLinear');
  // Linear weights are all but the embedding and the norms: their bytes halve.
  const H = CONFIG.hiddenSize;
  const other = 4 * (CONFIG.vocabSize * H + (2 * CONFIG.numHiddenLayers + 1) * H);
  assert.equal(bytes32 - other, 2 * (bytes16 - other), `f32 ${bytes32} B vs f16 ${bytes16} B (embedding + norms ${other} B)`);
  assert.equal(m16.numParameters(), [...llamaWeightShapes(CONFIG).values()].reduce((n, s) => n + s[0] * (s[1] ?? 1), 0));
  assert.throws(() => baseLinear(m16.lm_head!).weight, /lm_head holds its frozen weight \[96,64\] in f16/);

  const got = await lossAndGrads(m16);
  assert.equal(tf.memory().numTensors, before.numTensors, 'the f16 model leaks tensors');
  const lossErr = Math.abs(got.loss - ref.loss) / Math.abs(ref.loss);
  assert.ok(lossErr <= 0.02, `loss ${got.loss} vs ${ref.loss} (rel ${lossErr})`);
  assert.equal(got.grads.size, ref.grads.size);
  assert.equal(got.grads.size, 2 * 7 * CONFIG.numHiddenLayers);
  let worst = 0;
  for (const [k, g] of ref.grads) {
    const e = relError(got.grads.get(k)!, g);
    worst = Math.max(worst, e);
    assert.ok(e <= 0.02, `${k}: gradient rel err ${e}`);
  }
  t.diagnostic(`loss f16 ${got.loss} vs f32 ${ref.loss} (rel ${lossErr.toExponential(2)}); largest gradient rel err ${worst.toExponential(2)}; bytes f32 ${bytes32}, f16 ${bytes16}`);
  // f16 rounding is visible: the path really ran in f16.
  assert.ok(worst > 1e-5, `largest gradient rel err ${worst} is too small for f16 weights`);
});

test("frozenDtype 'float16' off webgpu, an unknown dtype, and merging into f16 weights fail with a clear message", async () => {
  await initRuntime({ backend: 'cpu' });
  assert.throws(() => LlamaForCausalLM.random(CONFIG, { frozenDtype: 'float16' }), /frozenDtype 'float16' needs the webgpu backend.*active backend is cpu/);
  await assert.rejects(LlamaForCausalLM.fromWeights(CONFIG, checkpoint(), { frozenDtype: 'bfloat16' as 'float16' }), /frozenDtype must be 'float32' or 'float16', got "bfloat16"/);
  await initRuntime({ backend: 'webgpu' });
  const before = tf.memory().numTensors;
  const model = LlamaForCausalLM.random(CONFIG, { frozenDtype: 'float16', seed: 2 });
  const adapter = applyLora(model, LORA);
  assert.throws(() => adapter.merge(), /f16/);
  model.dispose();
  assert.equal(tf.memory().numTensors, before);
});
