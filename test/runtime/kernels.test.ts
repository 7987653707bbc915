/** Custom WGSL kernels (f16 conversion, fused RMSNorm, f16 matmul) against CPU references. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  initRuntime,
  toHalf,
  fromHalf,
  rmsNorm,
  rmsNormHalf,
  rmsNormReference,
  matmulHalf,
  matmulHalfPlan,
  prepareMatmulHalf,
  subgroupMatrixWgsl,
  DEFAULT_TILING,
  type SubgroupMatrixTiling,
  gpuContext,
  RuntimeError,
} from '../../src/runtime';
import { relError, uniform, use, take, f16Round } from './helpers';

test('toHalf / fromHalf round to nearest f16 and back, odd sizes included', async () => {
  await use('webgpu');
  const before = tf.memory().numTensors;
  for (const size of [1, 7, 1000, 4099]) {
    const values = uniform(size, size, -70000, 70000).map((v, i) => (i % 3 === 0 ? v / 1e5 : v));
    const x = tf.tensor(values);
    const h = toHalf(x);
    assert.equal(h.packed.size, Math.ceil(size / 2));
    const back = await take(fromHalf(h));
    h.dispose();
    x.dispose();
    const want = Float32Array.from(values, f16Round);
    for (let i = 0; i < size; i++) {
      if (want[i] !== back[i]) assert.fail(`element ${i}: ${values[i]} -> ${back[i]}, want ${want[i]}`);
    }
  }
  assert.equal(tf.memory().numTensors, before);
});

test('fused RMSNorm (subgroup and workgroup reductions) matches tfjs ops on cpu, forward and gradient', async () => {
  await use('cpu');
  const shape = [2, 5, 384];
  const dim = shape[2];
  const xv = uniform(2 * 5 * dim, 1, -3, 3);
  const wv = uniform(dim, 2, 0.5, 1.5);
  const rv = uniform(2 * 5 * dim, 3);
  const reference = async () => {
    const [x, w, r] = [tf.tensor(xv, shape), tf.tensor(wv), tf.tensor(rv, shape)];
    const y = rmsNormReference(x, w, 1e-5);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(rmsNormReference(a, b, 1e-5), r)))([x, w]);
    const out = { y: await take(y), dx: await take(g[0]), dw: await take(g[1]) };
    tf.dispose([x, w, r]);
    return out;
  };
  const ref = await reference();
  await use('webgpu');
  const before = tf.memory().numTensors;
  const reductions = gpuContext().features.has('subgroups') ? (['subgroup', 'workgroup'] as const) : (['workgroup'] as const);
  for (const reduction of reductions) {
    const [x, w, r] = [tf.tensor(xv, shape), tf.tensor(wv), tf.tensor(rv, shape)];
    const y = rmsNorm(x, w, { eps: 1e-5, reduction });
    assert.deepEqual(y.shape, shape);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(rmsNorm(a, b, { eps: 1e-5, reduction }), r)))([x, w]);
    const errs = [relError(await take(y), ref.y), relError(await take(g[0]), ref.dx), relError(await take(g[1]), ref.dw)];
    tf.dispose([x, w, r]);
    assert.ok(Math.max(...errs) <= 1e-5, `${reduction}: y, dx, dw rel err ${errs.map((e) => e.toExponential(2))}`);
  }
  assert.equal(tf.memory().numTensors, before);
});

test('rmsNorm falls back to tfjs ops off webgpu', async () => {
  await use('cpu');
  const y = tf.tidy(() => rmsNorm(tf.ones([2, 4]), tf.fill([4], 2)));
  for (const v of await take(y)) assert.ok(Math.abs(v - 2 / Math.sqrt(1 + 1e-5)) < 1e-6, String(v));
});

test('RMSNorm on f16 storage matches the f32 reference within f16 rounding', async () => {
  await use('webgpu');
  const before = tf.memory().numTensors;
  const [rows, dim] = [9, 2048];
  const xv = uniform(rows * dim, 11, -4, 4).map(f16Round);
  const wv = uniform(dim, 12, 0.5, 1.5);
  const [x, w] = [tf.tensor(xv, [rows, dim]), tf.tensor(wv)];
  const want = await take(rmsNormReference(x, w));
  const h = toHalf(x);
  const yh = rmsNormHalf(h, w);
  const got = await take(fromHalf(yh));
  tf.dispose([x, w]);
  h.dispose();
  yh.dispose();
  // The output is rounded to f16: relative error up to 2^-11 per element.
  const err = relError(got, want);
  assert.ok(err <= 6e-4, `rel err ${err}`);
  assert.equal(tf.memory().numTensors, before);
});

test('f16 matmul (tiled kernel) matches the CPU product of the same f16 values, ragged shapes', async () => {
  await use('webgpu');
  const before = tf.memory().numTensors;
  for (const [M, K, N] of [[37, 50, 70], [64, 64, 64], [130, 18, 66], [1, 256, 2]]) {
    const av = uniform(M * K, M, -1, 1).map(f16Round);
    const bv = uniform(K * N, N, -1, 1).map(f16Round);
    const [a, b] = [tf.tensor(av, [M, K]), tf.tensor(bv, [K, N])];
    const [ah, bh] = [toHalf(a), toHalf(b)];
    tf.dispose([a, b]);
    const got = await take(matmulHalf(ah, bh, { variant: 'tiled' }));
    ah.dispose();
    bh.dispose();
    // f16 x f16 products are exact in f32: only the summation order differs.
    const want = new Float64Array(M * N);
    for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) want[i * N + j] += av[i * K + k] * bv[k * N + j];
    const err = relError(got, want);
    assert.ok(err <= 1e-6, `${M}x${K}x${N}: rel err ${err}`);
  }
  assert.equal(tf.memory().numTensors, before);
});

test('f16 matmul picks subgroup matrices only where the device has them, and says why not', async () => {
  await use('webgpu');
  const ctx = gpuContext();
  const plan = matmulHalfPlan(256, 256, 256);
  if (!ctx.features.has('chromium-experimental-subgroup-matrix')) {
    assert.equal(plan.variant, 'tiled');
    assert.match(plan.why, /subgroup-matrix/);
    assert.throws(() => matmulHalfPlan(256, 256, 256, { variant: 'subgroup-matrix' }), (e: unknown) => e instanceof RuntimeError && e.code === 'missing-feature');
  }
  // Ragged shapes always take the tiled kernel.
  assert.equal(matmulHalfPlan(100, 256, 256).variant, 'tiled');
  assert.equal(await prepareMatmulHalf({ variant: 'tiled' }), 'tiled');
});

test("the subgroup-matrix WGSL compiles (Dawn's null backend, which has the feature but runs nothing)", async () => {
  const { create } = (await import('webgpu')) as unknown as { create(o: string[]): GPU };
  const gpu = create(['backend=null', 'enable-dawn-features=allow_unsafe_apis']);
  const adapter = await gpu.requestAdapter();
  assert.ok(adapter && adapter.features.has('chromium-experimental-subgroup-matrix'), 'null adapter offers subgroup matrices');
  const device = await adapter.requestDevice({
    requiredFeatures: ['chromium-experimental-subgroup-matrix', 'shader-f16', 'subgroups'] as GPUFeatureName[],
    // As initRuntime does (the null adapter's maximum is the default 16 KiB, enough for these tiles).
    requiredLimits: { maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize, maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup, maxComputeWorkgroupSizeX: adapter.limits.maxComputeWorkgroupSizeX },
  });
  try {
    // DEFAULT_TILING needs 36 KiB of workgroup memory, more than the null adapter's 16: its
    // form at 64x64 stands in for it.
    for (const tiling of [
      { ...DEFAULT_TILING, BM: 64, BN: 64, sgRows: 2, sgCols: 2, BK: 32 },
      { BM: 128, BN: 128, BK: 32, sgRows: 2, sgCols: 4 },
      { BM: 64, BN: 64, BK: 32, sgRows: 2, sgCols: 2 },
      { BM: 64, BN: 64, BK: 32, sgRows: 2, sgCols: 2, pad: 8 },
      { BM: 64, BN: 64, BK: 32, sgRows: 2, sgCols: 2, pad: 8, prefetch: true },
      { BM: 64, BN: 64, BK: 16, sgRows: 2, sgCols: 2, direct: true },
      { BM: 64, BN: 64, BK: 16, sgRows: 2, sgCols: 2, pad: 8, prefetch: true, stages: 2 },
      { BM: 64, BN: 64, BK: 16, sgRows: 2, sgCols: 2, pad: 8, prefetch: true, stages: 2, wide: true },
      { BM: 64, BN: 64, BK: 32, sgRows: 2, sgCols: 2, pad: 8, prefetch: true, wide: true },
      { BM: 64, BN: 64, BK: 32, sgRows: 2, sgCols: 2, pad: 8, prefetch: true, wide: true, swizzle: 8 },
    ] as SubgroupMatrixTiling[]) {
      const module = device.createShaderModule({ code: subgroupMatrixWgsl(tiling, 32) });
      const messages = (await module.getCompilationInfo()).messages.filter((m) => m.type !== 'info');
      assert.deepEqual(messages.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`), [], JSON.stringify(tiling));
      await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    }
  } finally {
    device.destroy();
  }
});

test('custom kernels refuse to run off webgpu with the call that fixes it', async () => {
  await initRuntime({ backend: 'cpu' });
  assert.throws(() => gpuContext(), /initRuntime\(\{ backend: 'webgpu' \}\)/);
});
