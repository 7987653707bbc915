/**
 * Fused RMSNorm, the Llama-family norm: y = x / sqrt(mean(x^2) + eps) * weight, over the
 * last axis (HF `LlamaRMSNorm`: statistics in f32 whatever the storage type).
 *
 * One WebGPU pass instead of tfjs' five (square, mean, add, rsqrt, two muls): x is read
 * twice from one workgroup's rows and y written once. Variants:
 * - reduction: `subgroupAdd` where the device has `subgroups`, else a tree in workgroup
 *   memory (same result up to summation order);
 * - storage: f32 (`rmsNorm`) or f16 (`rmsNormHalf`, two values per u32 word through
 *   unpack2x16float / pack2x16float, so it needs no shader-f16; arithmetic stays f32).
 * `rmsNorm` is differentiable (custom gradient in tfjs ops) and falls back to the composite
 * of tfjs ops on backends other than webgpu, so model code can call it everywhere.
 */
import * as tf from '@tensorflow/tfjs';
import { RuntimeError } from '../errors';
import { GpuContext, allocateTensor, compileKernel, dispatch, gpuContext, hasFeature, tensorBuffer, uniforms } from './gpu';
import { HalfTensor, grid } from './half';

/** Threads per row: 256 keeps 8 warps busy on rows of 2048 (8 values each) and is the portable maximum. */
const WORKGROUP = 256;

export interface RmsNormOptions {
  /** Added to mean(x^2) before the square root (Llama 3.2: 1e-5). */
  eps?: number;
  /** Force the workgroup-memory reduction even where subgroups exist (tests use it). */
  reduction?: 'auto' | 'subgroup' | 'workgroup';
}

type Storage = 'f32' | 'f16';

function shader(storage: Storage, reduction: 'subgroup' | 'workgroup'): string {
  const f16 = storage === 'f16';
  // f16 rows are read as words: element pairs (2w, 2w+1), so `dim` is even and each row starts on a word.
  const load = f16 ? 'unpack2x16float(x[rowWord + i])' : 'x[rowBase + i]';
  const count = f16 ? 'p.dim / 2u' : 'p.dim';
  const sumSquares = f16 ? 'dot(v, v)' : 'v * v';
  const store = f16
    ? 'y[rowWord + i] = pack2x16float(v * r * vec2f(w[2u * i], w[2u * i + 1u]));'
    : 'y[rowBase + i] = v * r * w[i];';
  const reduce =
    reduction === 'subgroup'
      ? `
  // One partial per subgroup, then every thread adds the few partials itself.
  let sgSum = subgroupAdd(acc);
  if (sgLane == 0u) { partial[lid / sgSize] = sgSum; }
  workgroupBarrier();
  var total = 0.0;
  for (var s = 0u; s < ${WORKGROUP}u / sgSize; s++) { total += partial[s]; }`
      : `
  partial[lid] = acc;
  workgroupBarrier();
  for (var stride = ${WORKGROUP / 2}u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let total = partial[0];`;
  return /* wgsl */ `
${reduction === 'subgroup' ? 'enable subgroups;' : ''}
@group(0) @binding(0) var<storage, read> x: array<${f16 ? 'u32' : 'f32'}>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<${f16 ? 'u32' : 'f32'}>;
struct Params { rows: u32, dim: u32, eps: f32 }
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> partial: array<f32, ${WORKGROUP}>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u,
        @builtin(local_invocation_index) lid: u32
        ${reduction === 'subgroup' ? ', @builtin(subgroup_invocation_id) sgLane: u32, @builtin(subgroup_size) sgSize: u32' : ''}) {
  // Rows past the end still take part in the barriers; they only skip loads and stores.
  let row = wid.x + wid.y * groups.x;
  let live = row < p.rows;
  let rowBase = row * p.dim;
  let rowWord = row * (p.dim / 2u);
  var acc = 0.0;
  if (live) {
    for (var i = lid; i < ${count}; i += ${WORKGROUP}u) {
      let v = ${load};
      acc += ${sumSquares};
    }
  }
  ${reduce}
  let r = inverseSqrt(total / f32(p.dim) + p.eps);
  if (live) {
    for (var i = lid; i < ${count}; i += ${WORKGROUP}u) {
      let v = ${load};
      ${store}
    }
  }
}`;
}

function pickReduction(ctx: GpuContext, requested: RmsNormOptions['reduction']): 'subgroup' | 'workgroup' {
  const can = hasFeature(ctx, 'subgroups') && ctx.subgroupMinSize >= 4 && ctx.subgroupMaxSize <= WORKGROUP;
  if (requested === 'subgroup' && !can) {
    throw new RuntimeError('missing-feature', "rmsNorm reduction 'subgroup' needs the WebGPU feature 'subgroups', which this device lacks");
  }
  if (requested === 'workgroup') return 'workgroup';
  return can ? 'subgroup' : 'workgroup';
}

function launch(ctx: GpuContext, storage: Storage, x: tf.TensorInfo, w: tf.Tensor, y: tf.TensorInfo, buffers: [GPUBuffer, GPUBuffer, GPUBuffer], rows: number, dim: number, options: RmsNormOptions): void {
  const reduction = pickReduction(ctx, options.reduction);
  dispatch(ctx, {
    kernel: compileKernel(ctx, `ttslab.rmsNorm.${storage}.${reduction}`, shader(storage, reduction)),
    tensors: [x, w, y],
    buffers,
    uniforms: uniforms([{ u32: rows }, { u32: dim }, { f32: options.eps ?? 1e-5 }]),
    workgroups: grid(ctx, rows),
  });
}

function checkWeight(dim: number, weight: tf.Tensor): void {
  if (weight.rank !== 1 || weight.shape[0] !== dim || weight.dtype !== 'float32') {
    throw new RuntimeError('init-failed', `rmsNorm weight must be float32 [${dim}], got ${weight.dtype} [${weight.shape}]`);
  }
}

/** RMSNorm in tfjs ops: the reference, and the path on backends other than webgpu. */
export function rmsNormReference(x: tf.Tensor, weight: tf.Tensor, eps = 1e-5): tf.Tensor {
  return tf.tidy(() => {
    const meanSquare = tf.mean(tf.square(x), -1, true); // [..., 1]
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(meanSquare, eps))), weight);
  });
}

function rmsNormFused(x: tf.Tensor, weight: tf.Tensor, options: RmsNormOptions): tf.Tensor {
  const ctx = gpuContext();
  const dim = x.shape[x.rank - 1];
  const rows = x.size / dim;
  const { tensor: y, buffer } = allocateTensor(ctx, x.shape.slice());
  launch(ctx, 'f32', x, weight, y, [tensorBuffer(ctx, x), tensorBuffer(ctx, weight), buffer], rows, dim, options);
  return y;
}

/**
 * RMSNorm over the last axis of float32 `x` [..., dim] with `weight` [dim]. Fused WebGPU
 * kernel on 'webgpu', tfjs ops elsewhere; differentiable in x and weight on every backend.
 * Returns a new tensor owned by the caller.
 */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor, options: RmsNormOptions = {}): tf.Tensor {
  const eps = options.eps ?? 1e-5;
  const dim = x.shape[x.rank - 1];
  checkWeight(dim, weight);
  if (tf.getBackend() !== 'webgpu' || x.size === 0) return rmsNormReference(x, weight, eps);
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xs, w, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([xs, w]);
    return {
      value: rmsNormFused(xs, w, options),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xv, wv] = saved;
        // r = rsqrt(mean(x^2) + eps); y = x r w
        // dx = r (dy w) - x r^3 mean(dy w x);  dw = sum over rows of dy x r
        const r = tf.rsqrt(tf.add(tf.mean(tf.square(xv), -1, true), eps)); // [..., 1]
        const gw = tf.mul(dy, wv);
        const dx = tf.sub(tf.mul(gw, r), tf.mul(tf.mul(xv, tf.pow(r, 3)), tf.mean(tf.mul(gw, xv), -1, true)));
        const dw = tf.reshape(tf.sum(tf.reshape(tf.mul(tf.mul(dy, xv), r), [-1, dim]), 0), [dim]);
        return [dx, dw];
      },
    };
  });
  return f(x, weight) as tf.Tensor;
}

/**
 * RMSNorm of f16 data `x` [..., dim] (dim even) with float32 `weight` [dim], f32 statistics,
 * f16 result. WebGPU only. Returns a new HalfTensor owned by the caller.
 */
export function rmsNormHalf(x: HalfTensor, weight: tf.Tensor, options: RmsNormOptions = {}): HalfTensor {
  const ctx = gpuContext();
  const dim = x.shape[x.shape.length - 1];
  checkWeight(dim, weight);
  if (dim % 2 !== 0) throw new RuntimeError('init-failed', `rmsNormHalf needs an even last dimension, got ${dim}`);
  const rows = x.size / dim;
  const { tensor, buffer } = allocateTensor(ctx, [x.packed.size]);
  launch(ctx, 'f16', x.packed, weight, tensor, [tensorBuffer(ctx, x.packed), tensorBuffer(ctx, weight), buffer], rows, dim, options);
  return new HalfTensor(tensor, x.shape.slice());
}
