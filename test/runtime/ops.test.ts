/**
 * Every op the Llama-family models use, forward and gradient, on 'webgpu' (lavapipe here,
 * a GPU elsewhere) against tfjs' 'cpu' backend: relative error <= 1e-4 in f32.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { relError, uniform, use, take, TestBackend } from './helpers';

const TOLERANCE = 1e-4;

interface Input {
  shape: number[];
  dtype?: 'float32' | 'int32';
  /** Range of uniform values (float) or [0, hi) integers (int32). */
  lo?: number;
  hi?: number;
}

interface OpCase {
  name: string;
  inputs: Input[];
  f: (...xs: tf.Tensor[]) => tf.Tensor;
  /** Indices of inputs to differentiate; omitted: all float inputs; []: forward only. */
  grad?: number[];
}

const f32 = (...shape: number[]): Input => ({ shape });
const positive = (...shape: number[]): Input => ({ shape, lo: 0.1, hi: 2 });
const ints = (hi: number, ...shape: number[]): Input => ({ shape, dtype: 'int32', lo: 0, hi });

const silu = (x: tf.Tensor) => tf.mul(x, tf.sigmoid(x));
// GELU with erf, as HF's `gelu` (exact form): 0.5 x (1 + erf(x / sqrt 2)).
const gelu = (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));

const CASES: OpCase[] = [
  { name: 'matMul', inputs: [f32(33, 40), f32(40, 17)], f: (a, b) => tf.matMul(a, b) },
  { name: 'matMul transposeA', inputs: [f32(40, 33), f32(40, 17)], f: (a, b) => tf.matMul(a, b, true, false) },
  { name: 'matMul transposeB', inputs: [f32(33, 40), f32(17, 40)], f: (a, b) => tf.matMul(a, b, false, true) },
  { name: 'matMul transposeA+B', inputs: [f32(40, 33), f32(17, 40)], f: (a, b) => tf.matMul(a, b, true, true) },
  // [batch*heads, seq, headDim] x [batch*heads, headDim, seq]: attention scores.
  { name: 'matMul batched (attention scores)', inputs: [f32(4, 12, 16), f32(4, 12, 16)], f: (q, k) => tf.matMul(q, k, false, true) },
  // A linear layer on [batch, seq, in]: flatten to 2-D first. tfjs 4.22's BatchMatMul gradient
  // does not reduce a broadcast operand ("gradient of input 'b' has shape '3,8,6' ... '8,6'"), on
  // every backend, so broadcasting matMul is checked forward only and layers must reshape.
  { name: 'linear layer (reshape + matMul)', inputs: [f32(3, 10, 8), f32(8, 6)], f: (x, w) => tf.reshape(tf.matMul(tf.reshape(x, [30, 8]), w), [3, 10, 6]) },
  { name: 'matMul batched broadcast (forward)', inputs: [f32(3, 10, 8), f32(8, 6)], f: (a, b) => tf.matMul(a, b), grad: [] },
  { name: 'add (broadcast)', inputs: [f32(6, 20), f32(20)], f: (a, b) => tf.add(a, b) },
  { name: 'sub (broadcast)', inputs: [f32(6, 20), f32(6, 1)], f: (a, b) => tf.sub(a, b) },
  { name: 'mul', inputs: [f32(6, 20), f32(6, 20)], f: (a, b) => tf.mul(a, b) },
  { name: 'div', inputs: [f32(6, 20), positive(6, 20)], f: (a, b) => tf.div(a, b) },
  { name: 'exp', inputs: [f32(300)], f: (x) => tf.exp(x) },
  { name: 'log', inputs: [positive(300)], f: (x) => tf.log(x) },
  { name: 'rsqrt', inputs: [positive(300)], f: (x) => tf.rsqrt(x) },
  { name: 'sqrt', inputs: [positive(300)], f: (x) => tf.sqrt(x) },
  { name: 'square', inputs: [f32(300)], f: (x) => tf.square(x) },
  { name: 'pow', inputs: [positive(300)], f: (x) => tf.pow(x, 3) },
  { name: 'neg', inputs: [f32(300)], f: (x) => tf.neg(x) },
  { name: 'softmax', inputs: [f32(8, 50)], f: (x) => tf.softmax(tf.mul(x, 4)) },
  { name: 'logSoftmax', inputs: [f32(8, 50)], f: (x) => tf.logSoftmax(tf.mul(x, 4)) },
  { name: 'sum', inputs: [f32(8, 50)], f: (x) => tf.sum(x, -1) },
  { name: 'mean (keepDims)', inputs: [f32(8, 50)], f: (x) => tf.mean(x, -1, true) },
  { name: 'max', inputs: [f32(8, 50)], f: (x) => tf.max(x, -1) },
  // Embedding lookup: gradient flows to the table.
  { name: 'gather (embedding)', inputs: [f32(30, 16), ints(30, 2, 7)], f: (table, ids) => tf.gather(table, ids), grad: [0] },
  { name: 'gather axis 1', inputs: [f32(5, 30, 4), ints(30, 9)], f: (x, ids) => tf.gather(x, ids, 1), grad: [0] },
  { name: 'concat', inputs: [f32(4, 6, 8), f32(4, 3, 8)], f: (a, b) => tf.concat([a, b], 1) },
  { name: 'slice', inputs: [f32(4, 12, 8)], f: (x) => tf.slice(x, [1, 2, 0], [2, 7, 8]) },
  // Rotary embedding halves: x1 = x[..., :d/2], x2 = x[..., d/2:], cat(-x2, x1).
  { name: 'rotate_half (split+neg+concat)', inputs: [f32(2, 5, 16)], f: (x) => { const [a, b] = tf.split(x, 2, -1); return tf.concat([tf.neg(b), a], -1); } },
  { name: 'reshape+transpose (heads)', inputs: [f32(2, 6, 32)], f: (x) => tf.transpose(tf.reshape(x, [2, 6, 4, 8]), [0, 2, 1, 3]) },
  { name: 'silu', inputs: [f32(300)], f: silu },
  { name: 'sigmoid', inputs: [f32(300)], f: (x) => tf.sigmoid(tf.mul(x, 3)) },
  { name: 'tanh', inputs: [f32(300)], f: (x) => tf.tanh(tf.mul(x, 3)) },
  { name: 'erf / gelu', inputs: [f32(300)], f: (x) => gelu(tf.mul(x, 3)) },
  // Greater has no gradient, so the condition comes from an input that is not differentiated.
  { name: 'where/greater', inputs: [f32(8, 20), f32(8, 20), f32(8, 20)], f: (a, b, c) => tf.where(tf.greater(c, 0), a, tf.mul(b, 2)), grad: [0, 1] },
  // Causal mask: where(equal(mask, 1), scores, -1e9).
  { name: 'where/equal (causal mask)', inputs: [f32(6, 6)], f: (s) => tf.where(tf.equal(tf.linalg.bandPart(tf.ones([6, 6]) as tf.Tensor2D, -1, 0), 1), s, tf.fill([6, 6], -1e9)) },
  { name: 'oneHot', inputs: [ints(10, 12)], f: (ids) => tf.oneHot(ids, 10), grad: [] },
  { name: 'cast int32 -> float32', inputs: [ints(100, 50)], f: (ids) => tf.cast(ids, 'float32'), grad: [] },
  { name: 'cumsum', inputs: [f32(4, 30)], f: (x) => tf.cumsum(x, 1) },
  // [batch, frames, channels] * [kernel, in, out], causal conv (left pad) as in audio codecs.
  { name: 'conv1d (causal pad)', inputs: [f32(2, 20, 6), f32(3, 6, 5)], f: (x, w) => tf.conv1d(tf.pad(x, [[0, 0], [2, 0], [0, 0]]) as tf.Tensor3D, w as tf.Tensor3D, 1, 'valid') },
  { name: 'conv1d stride 2 same', inputs: [f32(2, 20, 6), f32(4, 6, 5)], f: (x, w) => tf.conv1d(x as tf.Tensor3D, w as tf.Tensor3D, 2, 'same') },
  // The sum of a cross-entropy as training computes it.
  { name: 'cross-entropy (logSoftmax+gather)', inputs: [f32(6, 40), ints(40, 6)], f: (logits, labels) => tf.neg(tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(labels, 40)), -1)), grad: [0] },
];

interface Result {
  out: Float32Array;
  grads: Float32Array[];
}

function makeInputs(c: OpCase, caseIndex: number): tf.Tensor[] {
  return c.inputs.map((spec, i) => {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const seed = 1000 * caseIndex + i;
    if (spec.dtype === 'int32') {
      const values = Int32Array.from(uniform(size, seed, 0, spec.hi ?? 10), (v) => Math.floor(v));
      return tf.tensor(values, spec.shape, 'int32');
    }
    return tf.tensor(uniform(size, seed, spec.lo ?? -1, spec.hi ?? 1), spec.shape, 'float32');
  });
}

async function run(backend: TestBackend, c: OpCase, caseIndex: number): Promise<Result> {
  await use(backend);
  const xs = makeInputs(c, caseIndex);
  const out = tf.tidy(() => tf.cast(c.f(...xs), 'float32'));
  const shape = out.shape;
  const result: Result = { out: await take(out), grads: [] };
  const gradIdx = c.grad ?? c.inputs.map((s, i) => (s.dtype === 'int32' ? -1 : i)).filter((i) => i >= 0);
  if (gradIdx.length > 0) {
    // Loss = sum(f(x) * r) with a fixed random r, so every output element weighs differently.
    const r = tf.tensor(uniform(shape.reduce((a, b) => a * b, 1), 7 + caseIndex), shape);
    const grads = tf.tidy(() =>
      tf.grads((...diff: tf.Tensor[]) => {
        const all = xs.slice();
        gradIdx.forEach((k, j) => (all[k] = diff[j]));
        return tf.sum(tf.mul(c.f(...all), r));
      })(gradIdx.map((k) => xs[k])),
    );
    for (const g of grads) result.grads.push(await take(g));
    r.dispose();
  }
  tf.dispose(xs);
  return result;
}

test('Llama-family ops: webgpu matches cpu, forward and gradient (rel err <= 1e-4)', async (t) => {
  await use('webgpu');
  const before = tf.memory().numTensors;
  const failures: string[] = [];
  for (const [i, c] of CASES.entries()) {
    await t.test(c.name, async () => {
      const ref = await run('cpu', c, i);
      const got = await run('webgpu', c, i);
      const errors = [relError(got.out, ref.out), ...got.grads.map((g, k) => relError(g, ref.grads[k]))];
      assert.equal(got.grads.length, ref.grads.length);
      const worst = Math.max(...errors);
      if (!(worst <= TOLERANCE)) failures.push(`${c.name}: ${errors.map((e) => e.toExponential(2)).join(', ')}`);
      assert.ok(worst <= TOLERANCE, `${c.name}: forward, grads rel err = ${errors.map((e) => e.toExponential(2)).join(', ')}`);
    });
  }
  assert.deepEqual(failures, []);
  assert.equal(tf.memory().numTensors, before, 'no tensors leaked');
});
