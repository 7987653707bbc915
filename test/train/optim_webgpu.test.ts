/**
 * The optimizer helpers on the WebGPU backend (lavapipe here and in CI, the GPU on a GPU
 * machine) with as many gradient tensors as CSM-1B's LoRA has (140 modules = 280 tensors):
 * tfjs-backend-webgpu's AddN binds every input as a storage buffer of one shader, so a
 * single tf.addN over 280 sums fails shader validation (limit 8 to 16 per stage) and the
 * norm read back is a stale buffer. Found by bench/csm.ts on an H100 (issue 8).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { AdamW, clipGradsByNorm, decaysWeight, globalGradNorm } from '../../src/train/optim';
import type { NamedVariable } from '../../src/train/types';
import { relError, take, uniform, use } from '../runtime/helpers';

const TENSORS = 281; // more than any per-stage storage buffer limit, odd so the chunks are ragged
const SIZE = 24;

/** Gradient values per tensor, seeded; tensor i scaled by (1 + i % 5) so no two chunks are alike. */
function gradValues(): Float32Array[] {
  return Array.from({ length: TENSORS }, (_, i) => uniform(SIZE, 100 + i).map((x) => x * (1 + (i % 5))));
}

test('globalGradNorm and clipGradsByNorm over 281 tensors on webgpu match a float64 sum', async () => {
  await use('webgpu');
  const values = gradValues();
  let sq = 0;
  for (const v of values) for (const x of v) sq += x * x;
  const expected = Math.sqrt(sq);
  const start = tf.memory().numTensors;
  const grads = new Map(values.map((v, i) => [`g${i}`, tf.tensor1d(v)]));
  const norm = await globalGradNorm(grads.values());
  assert.ok(Math.abs(norm - expected) / expected < 1e-5, `norm ${norm}, expected ${expected}`);
  const coef = clipGradsByNorm(grads, 1.0, norm);
  assert.ok(Math.abs(coef - 1 / (expected + 1e-6)) < 1e-6 * coef, `clip coefficient ${coef}`);
  const clipped = await globalGradNorm(grads.values());
  assert.ok(Math.abs(clipped - 1) < 1e-5, `norm after clipping to 1: ${clipped}`);
  for (const g of grads.values()) g.dispose();
  assert.equal(tf.memory().numTensors, start, 'no tensor left behind');
});

test('AdamW over 281 parameters: webgpu equals cpu after 3 steps', async () => {
  const run = async (backend: 'webgpu' | 'cpu'): Promise<Float32Array[]> => {
    await use(backend);
    const values = gradValues();
    const params: NamedVariable[] = values.map((_, i) => {
      const name = `base_model.model.layers.${i}.q_proj.lora_${i % 2 ? 'B' : 'A'}.weight`;
      return { name, variable: tf.variable(tf.tensor1d(uniform(SIZE, 500 + i))), decay: decaysWeight(name) };
    });
    const opt = new AdamW(params, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
    for (let step = 0; step < 3; step++) {
      const grads = new Map(params.map((p, i) => [p.name, tf.tensor1d(values[i].map((x) => x * (step + 1)))]));
      clipGradsByNorm(grads, 1.0, await globalGradNorm(grads.values()));
      await opt.step(grads, 2e-4 * 100);
      for (const g of grads.values()) g.dispose();
    }
    opt.dispose();
    const out: Float32Array[] = [];
    for (const p of params) out.push(await take(p.variable));
    return out;
  };
  const gpu = await run('webgpu');
  const cpu = await run('cpu');
  for (let i = 0; i < TENSORS; i++) assert.ok(relError(gpu[i], cpu[i]) < 1e-5, `parameter ${i}: relative error ${relError(gpu[i], cpu[i])}`);
});
