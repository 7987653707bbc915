/**
 * f16 matmul with B transposed (transB) and the frozen f16 linear layer (linearHalf: forward
 * y = x W^T, backward dx = dy W) against float32 CPU references, on lavapipe (tiled kernel).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { subgroupMatrixWgsl, tilingWorkgroupBytes, DEFAULT_TILING, toHalf, fromHalf, matmulHalf, RuntimeError } from '../../src/runtime';
import type { SubgroupMatrixTiling } from '../../src/runtime';
import { linearHalf } from '../../src/runtime/kernels/half_linear';
import { relError, uniform, use, take } from './helpers';

/** f16 rounding through the GPU conversion itself (toHalf is tested bit-exactly in kernels.test.ts). */
async function roundF16(values: Float32Array, shape: number[]): Promise<Float32Array> {
  const x = tf.tensor(values, shape);
  const h = toHalf(x);
  x.dispose();
  const back = await take(fromHalf(h));
  h.dispose();
  return back;
}

test('f16 matmul with transB (tiled kernel) equals the plain product with B transposed on the CPU, ragged shapes', async () => {
  await use('webgpu');
  const before = tf.memory().numTensors;
  for (const [M, K, N] of [[37, 50, 70], [64, 64, 64], [130, 18, 66], [1, 256, 2], [5, 130, 3 * 64 + 2]]) {
    const a = tf.tensor(uniform(M * K, M + 1, -1, 1), [M, K]);
    const bt = tf.tensor(uniform(N * K, N + 2, -1, 1), [N, K]); // B^T [N, K]
    const [ah, bh] = [toHalf(a), toHalf(bt)];
    tf.dispose([a, bt]);
    const av = await roundF16(uniform(M * K, M + 1, -1, 1), [M, K]);
    const btv = await roundF16(uniform(N * K, N + 2, -1, 1), [N, K]);
    const got = await take(matmulHalf(ah, bh, { variant: 'tiled', transB: true }));
    // The wrong orientation must be refused, not silently computed (K != N in most shapes).
    if (K !== N) assert.throws(() => matmulHalf(ah, bh, { variant: 'tiled' }), (e: unknown) => e instanceof RuntimeError && /B \[K, N\]/.test(e.message));
    ah.dispose();
    bh.dispose();
    const want = new Float64Array(M * N);
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += av[i * K + k] * btv[j * K + k];
      want[i * N + j] = s;
    }
    const err = relError(got, want);
    assert.ok(err <= 1e-6, `${M}x${K}x${N} transB: rel err ${err}`);
  }
  assert.equal(tf.memory().numTensors, before);
});

test("transB's subgroup-matrix WGSL compiles for every staged form (Dawn's null backend), and its workgroup bytes count B as [BN][BK + pad]", async () => {
  const t: SubgroupMatrixTiling = DEFAULT_TILING;
  assert.equal(tilingWorkgroupBytes(t, true), (128 * 72 + 128 * 72) * 2);
  assert.equal(tilingWorkgroupBytes(t, false), (128 * 72 + 64 * 136) * 2);
  const wgsl = subgroupMatrixWgsl(t, 32, true);
  assert.match(wgsl, /subgroup_matrix_right<f16, 16, 16>, col_major>/);
  assert.doesNotMatch(subgroupMatrixWgsl(t, 32, false), /col_major/);
  const { create } = (await import('webgpu')) as unknown as { create(o: string[]): GPU };
  const gpu = create(['backend=null', 'enable-dawn-features=allow_unsafe_apis']);
  const adapter = await gpu.requestAdapter();
  assert.ok(adapter && adapter.features.has('chromium-experimental-subgroup-matrix'), 'null adapter offers subgroup matrices');
  const device = await adapter.requestDevice({
    requiredFeatures: ['chromium-experimental-subgroup-matrix', 'shader-f16', 'subgroups'] as GPUFeatureName[],
    requiredLimits: { maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize, maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX: adapter.limits.maxComputeWorkgroupSizeX },
  });
  try {
    for (const tiling of [
      { ...DEFAULT_TILING, BM: 64, BN: 64, sgRows: 2, sgCols: 2, BK: 32 },
      { BM: 64, BN: 64, BK: 32, sgRows: 2, sgCols: 2 },
      { BM: 64, BN: 64, BK: 32, sgRows: 2, sgCols: 2, pad: 8, prefetch: true },
      { BM: 64, BN: 64, BK: 16, sgRows: 2, sgCols: 2, direct: true },
      { BM: 64, BN: 64, BK: 16, sgRows: 2, sgCols: 2, pad: 8, prefetch: true, stages: 2, wide: true },
    ] as SubgroupMatrixTiling[]) {
      assert.ok(tilingWorkgroupBytes(tiling, true) <= adapter.limits.maxComputeWorkgroupStorageSize, JSON.stringify(tiling));
      const module = device.createShaderModule({ code: subgroupMatrixWgsl(tiling, 32, true) });
      const messages = (await module.getCompilationInfo()).messages.filter((m) => m.type !== 'info');
      assert.deepEqual(messages.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`), [], JSON.stringify(tiling));
      await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    }
  } finally {
    device.destroy();
  }
});

/** Forward and backward of x W^T on the cpu backend in float32 (the reference). */
async function reference(xv: Float32Array, wv: Float32Array, gv: Float32Array, lead: number[], N: number, K: number) {
  await use('cpu');
  const [x, w, g] = [tf.tensor(xv, [...lead, K]), tf.tensor(wv, [N, K]), tf.tensor(gv, [...lead, N])];
  const f = (a: tf.Tensor) => tf.matMul(a.reshape([-1, K]), w, false, true).reshape([...lead, N]);
  const y = await take(f(x));
  const dx = await take(tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(a), g)))(x));
  tf.dispose([x, w, g]);
  return { y, dx };
}

test('linearHalf: forward x W^T and gradient dy W within f16 rounding of float32 (rel err <= 1e-2), no dW, no leaks', async () => {
  for (const [lead, N, K] of [[[2, 5], 48, 64], [[37], 70, 50], [[1, 3, 4], 130, 34]] as [number[], number, number][]) {
    const M = lead.reduce((a, b) => a * b, 1);
    const xv = uniform(M * K, 11 + M, -2, 2);
    const wv = uniform(N * K, 12 + N, -0.1, 0.1);
    const gv = uniform(M * N, 13 + K, -1, 1);
    const ref = await reference(xv, wv, gv, lead, N, K);
    await use('webgpu');
    const before = tf.memory().numTensors;
    const w32 = tf.tensor(wv, [N, K]);
    const wh = toHalf(w32);
    w32.dispose();
    const [x, g] = [tf.tensor(xv, [...lead, K]), tf.tensor(gv, [...lead, N])];
    const y = linearHalf(x, wh);
    assert.deepEqual(y.shape, [...lead, N]);
    const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(linearHalf(a, wh), g)))(x);
    assert.deepEqual(dx.shape, x.shape);
    const ey = relError(await take(y), ref.y);
    const edx = relError(await take(dx), ref.dx);
    assert.ok(ey <= 1e-2 && edx <= 1e-2, `[${lead}] x [${N}, ${K}]: forward rel err ${ey}, backward ${edx}`);
    // f16 rounding does show (the products are not the float32 ones), so the path really is f16.
    assert.ok(ey > 1e-6, `forward rel err ${ey} is too small for f16 inputs`);
    tf.dispose([x, g]);
    wh.dispose();
    assert.equal(tf.memory().numTensors, before, 'linearHalf leaks tensors');
  }
});

test('linearHalf refuses a mismatched input and a disposed weight, naming the shapes', async () => {
  await use('webgpu');
  const before = tf.memory().numTensors;
  const w = tf.ones([6, 4]);
  const wh = toHalf(w);
  const [x, x4] = [tf.ones([3, 5]), tf.ones([3, 4])];
  assert.throws(() => linearHalf(x, wh), /input \[3,5\] does not end in the weight's 4 input features/);
  wh.dispose();
  assert.throws(() => linearHalf(x4, wh), /was disposed/);
  tf.dispose([w, x, x4]);
  assert.equal(tf.memory().numTensors, before);
});
