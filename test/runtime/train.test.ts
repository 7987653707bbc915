/**
 * A tiny Llama-style model (embedding, RMSNorm, SwiGLU MLP, tied output, cross-entropy)
 * trains 20 Adam steps on webgpu, wasm and cpu from the same initial weights: the losses
 * agree within 1e-3 relative at every step, and no step leaks a tensor.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { rmsNorm } from '../../src/runtime';
import { uniform, use, TestBackend } from './helpers';

const VOCAB = 50;
const HIDDEN = 32;
const FFN = 64;
const TOKENS = 24; // one batch of [TOKENS] ids, next-token targets
const STEPS = 20;

async function train(backend: TestBackend): Promise<number[]> {
  await use(backend);
  const ids = tf.tensor1d(Int32Array.from(uniform(TOKENS, 1, 0, VOCAB), Math.floor), 'int32');
  const targets = tf.tensor1d(Int32Array.from(uniform(TOKENS, 2, 0, VOCAB), Math.floor), 'int32');
  // tidy disposes the initial values; variables survive it.
  const param = (shape: number[], seed: number, scale: number) =>
    tf.tidy(() => tf.variable(tf.tensor(uniform(shape.reduce((a, b) => a * b, 1), seed, -scale, scale), shape)));
  const embed = param([VOCAB, HIDDEN], 3, 0.5);
  const norm = tf.tidy(() => tf.variable(tf.ones([HIDDEN])));
  const gate = param([HIDDEN, FFN], 4, 0.3);
  const up = param([HIDDEN, FFN], 5, 0.3);
  const down = param([FFN, HIDDEN], 6, 0.3);
  const optimizer = tf.train.adam(1e-2);
  const losses: number[] = [];
  let afterFirst = 0;
  for (let step = 0; step < STEPS; step++) {
    const loss = optimizer.minimize(() => {
      // Embedding as oneHot x table: gather's gradient needs UnsortedSegmentSum, which the
      // wasm backend (4.22) does not implement.
      const h = tf.matMul(tf.oneHot(ids, VOCAB), embed); // [TOKENS, HIDDEN]
      const x = rmsNorm(h, norm);
      const act = tf.mul(tf.mul(tf.matMul(x, gate), tf.sigmoid(tf.matMul(x, gate))), tf.matMul(x, up)); // SwiGLU [TOKENS, FFN]
      const y = tf.add(h, tf.matMul(act, down)); // residual [TOKENS, HIDDEN]
      const logits = tf.matMul(y, embed, false, true); // tied output [TOKENS, VOCAB]
      return tf.losses.softmaxCrossEntropy(tf.oneHot(targets, VOCAB), logits) as tf.Scalar;
    }, true) as tf.Scalar;
    losses.push((await loss.data())[0]);
    loss.dispose();
    // Adam's moment variables appear on the first step; after that, nothing may grow.
    if (step === 0) afterFirst = tf.memory().numTensors;
    else assert.equal(tf.memory().numTensors, afterFirst, `${backend}: step ${step} leaked tensors`);
  }
  optimizer.dispose();
  tf.dispose([ids, targets, embed, norm, gate, up, down]);
  return losses;
}

test('a tiny model trains 20 steps with equal losses on webgpu, wasm and cpu', async () => {
  const start = tf.memory().numTensors;
  const cpu = await train('cpu');
  const wasm = await train('wasm');
  const webgpu = await train('webgpu');
  assert.ok(cpu[STEPS - 1] < cpu[0] * 0.8, `loss falls: ${cpu[0]} -> ${cpu[STEPS - 1]}`);
  for (let i = 0; i < STEPS; i++) {
    for (const [name, losses] of [['wasm', wasm], ['webgpu', webgpu]] as const) {
      const rel = Math.abs(losses[i] - cpu[i]) / Math.abs(cpu[i]);
      assert.ok(rel <= 1e-3, `step ${i}: ${name} ${losses[i]} vs cpu ${cpu[i]} (rel ${rel.toExponential(2)})`);
    }
  }
  assert.equal(tf.memory().numTensors, start, 'all tensors released');
});
