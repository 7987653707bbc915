/**
 * Fused AdamW updates on WebGPU: one dispatch per parameter tensor reads the gradient, the
 * parameter and both moments once and writes the new parameter and moments, where the
 * tfjs-op path of src/train/optim.ts runs ~13 element-wise kernels per tensor.
 *
 * Two kernels, the same maths as the optimizers' reference paths (src/train/optim.ts):
 * - `adamwFused`: float32 moments, updated in place in their own buffers;
 *     g' = g * gradScale                      (the clip coefficient, folded in)
 *     m <- b1 m + (1 - b1) g' ;  v <- b2 v + (1 - b2) g'^2
 *     p <- p * decay - (m / (sqrt(v) / sqrtBc2 + eps)) * stepSize
 *   with decay = 1 - lr wd (or 1), stepSize = lr / (1 - b1^t), sqrtBc2 = sqrt(1 - b2^t);
 * - `adamw8bitFused`: bitsandbytes' block-wise 8-bit moments (src/train/quant8.ts): one
 *   workgroup per block dequantises its codes (u8, four per u32 word, little-endian, so a
 *   Uint8Array view of the words is the codes in order), updates the parameter with the
 *   fresh float32 moments, takes the block's new absmax (workgroup max) and requantises to
 *   the nearest entry of the dynamic map (binary search, ties to the lower entry, as
 *   `nearestCode`), all in one pass.
 * The parameter is written to a new tensor (ping-pong: the caller assigns it to the variable
 * and disposes it), so a buffer tfjs may share between tensors is never written in place;
 * the moments belong to the optimizer and are written in place.
 *
 * Arithmetic is float32 on the GPU; the 8-bit reference on the host computes in float64,
 * so a value lying within float32 rounding of the midpoint between two map entries can
 * round to the neighbouring code (one quantisation step); test/train/optim_webgpu.test.ts
 * counts them.
 */
import * as tf from '@tensorflow/tfjs';
import { RuntimeError } from '../errors';
import { GpuContext, allocateTensor, compileKernel, dispatch, tensorBuffer, uniforms } from './gpu';

/** Threads per workgroup; also the 8-bit kernel's maximum block size handled per thread pass. */
const WORKGROUP = 256;

/** Per-step constants of one tensor's update, as the reference paths round them (float32 uniforms). */
export interface AdamWStepConstants {
  beta1: number;
  beta2: number;
  eps: number;
  /** 1 - lr * weightDecay, or 1 for parameters without decay. */
  decay: number;
  /** lr / (1 - beta1^t). */
  stepSize: number;
  /** sqrt(1 - beta2^t). */
  sqrtBc2: number;
  /** Multiplies the gradient first (global-norm clip coefficient; 1 = none). */
  gradScale: number;
}

/**
 * tfjs-backend-webgpu keeps a tensor's values on the CPU after `data()` read them (its
 * tensors are immutable) and answers later reads from that copy. A kernel that writes a
 * tensor's buffer in place must drop the copy, or the next read returns the old values.
 */
function dropCpuCopy(ctx: GpuContext, t: tf.Tensor): void {
  const d = ctx.backend.tensorMap.get(t.dataId) as { values?: unknown };
  d.values = null;
}

function grid2d(ctx: GpuContext, groups: number): [number, number] {
  const max = ctx.device.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [Math.max(groups, 1), 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y];
}

function stepUniforms(n: number, c: AdamWStepConstants, extra: Array<{ u32: number }> = []): ArrayBuffer {
  return uniforms([
    { u32: n }, ...extra,
    { f32: c.beta1 }, { f32: 1 - c.beta1 }, { f32: c.beta2 }, { f32: 1 - c.beta2 },
    { f32: c.eps }, { f32: c.decay }, { f32: c.stepSize }, { f32: c.sqrtBc2 }, { f32: c.gradScale },
  ]);
}

const PARAMS_STRUCT = (extra: string) => /* wgsl */ `
struct Params {
  n: u32, ${extra}
  b1: f32, omb1: f32, b2: f32, omb2: f32,
  eps: f32, decay: f32, stepSize: f32, sqrtBc2: f32, gradScale: f32,
}`;

/**
 * Operation order of the float32 kernel: 'torch' as AdamW's tfjs ops
 * (m0 b1 + g (1-b1); p decay - (m / denom) stepSize), 'host8' as AdamW8bit's float32 moments
 * for small tensors (b1 m0 + (1-b1) g; p decay - (stepSize m) / denom).
 */
export type AdamWOrder = 'torch' | 'host8';

const ADAMW_WGSL = (order: AdamWOrder) => /* wgsl */ `
@group(0) @binding(0) var<storage, read> pIn: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> pOut: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
${PARAMS_STRUCT('')}
@group(0) @binding(5) var<uniform> u: Params;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let i = gid.x + gid.y * groups.x * ${WORKGROUP}u;
  if (i >= u.n) { return; }
  let gi = g[i] * u.gradScale;
${order === 'torch'
    ? `  // Same operation order as the tfjs reference: m0*b1 + g*(1-b1); v0*b2 + g^2*(1-b2).
  let m1 = m[i] * u.b1 + gi * u.omb1;
  let v1 = v[i] * u.b2 + (gi * gi) * u.omb2;
  let denom = sqrt(v1) / u.sqrtBc2 + u.eps;
  pOut[i] = pIn[i] * u.decay - (m1 / denom) * u.stepSize;`
    : `  let m1 = u.b1 * m[i] + u.omb1 * gi;
  let v1 = u.b2 * v[i] + u.omb2 * gi * gi;
  pOut[i] = pIn[i] * u.decay - (u.stepSize * m1) / (sqrt(v1) / u.sqrtBc2 + u.eps);`}
  m[i] = m1;
  v[i] = v1;
}`;

/**
 * One fused AdamW update of a float32 tensor with float32 moments `m`, `v` (updated in
 * place). Returns the new parameter (caller owns it).
 */
export function adamwFused(
  ctx: GpuContext, param: tf.Tensor, grad: tf.Tensor, m: tf.Tensor, v: tf.Tensor, c: AdamWStepConstants, order: AdamWOrder = 'torch',
): tf.Tensor {
  const n = param.size;
  for (const [name, t] of [['grad', grad], ['m', m], ['v', v]] as const) {
    if (t.size !== n || t.dtype !== 'float32') throw new RuntimeError('init-failed', `adamwFused: ${name} is ${t.dtype} [${t.shape}], parameter float32 [${param.shape}]`);
  }
  const { tensor: out, buffer } = allocateTensor(ctx, param.shape.slice());
  if (n === 0) return out;
  dispatch(ctx, {
    kernel: compileKernel(ctx, `ttslab.adamw.f32.${order}`, ADAMW_WGSL(order)),
    tensors: [param, grad, out, m, v],
    buffers: [tensorBuffer(ctx, param), tensorBuffer(ctx, grad), buffer, tensorBuffer(ctx, m), tensorBuffer(ctx, v)],
    uniforms: stepUniforms(n, c),
    workgroups: grid2d(ctx, Math.ceil(n / WORKGROUP)),
  });
  dropCpuCopy(ctx, m);
  dropCpuCopy(ctx, v);
  return out;
}

/**
 * The 8-bit kernel for blocks of `blockSize` values (a multiple of 4, at most 4096): each
 * of the 256 threads holds PER = ceil(blockSize / 256) values of its block.
 * Bindings: pIn, g, pOut, mCodes, vCodes (u32 words of 4 codes), absmax ([2 x blocks]:
 * m's then v's), maps ([512]: signed map, then unsigned), uniforms.
 */
function adamw8bitWgsl(blockSize: number): string {
  const per = Math.ceil(blockSize / WORKGROUP);
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read> pIn: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> pOut: array<f32>;
@group(0) @binding(3) var<storage, read_write> mCodes: array<u32>;
@group(0) @binding(4) var<storage, read_write> vCodes: array<u32>;
@group(0) @binding(5) var<storage, read_write> absmax: array<f32>;
@group(0) @binding(6) var<storage, read> maps: array<f32>;
${PARAMS_STRUCT('blocks: u32,')}
@group(0) @binding(7) var<uniform> u: Params;

const B = ${blockSize}u;
const PER = ${per}u;
var<workgroup> redM: array<f32, ${WORKGROUP}>;
var<workgroup> redV: array<f32, ${WORKGROUP}>;
var<workgroup> codesM: array<u32, ${blockSize}>;
var<workgroup> codesV: array<u32, ${blockSize}>;

fn code(word: u32, i: u32) -> u32 { return (word >> (8u * (i & 3u))) & 255u; }

// quant8.nearestCode on map 'base' (0: signed, 256: unsigned): sorted, ties to the lower entry.
fn nearest(base: u32, x: f32) -> u32 {
  var lo = 0u;
  var hi = 255u;
  if (x <= maps[base]) { return 0u; }
  if (x >= maps[base + 255u]) { return 255u; }
  while (hi - lo > 1u) {
    let mid = (lo + hi) >> 1u;
    if (maps[base + mid] <= x) { lo = mid; } else { hi = mid; }
  }
  if (x - maps[base + lo] <= maps[base + hi] - x) { return lo; }
  return hi;
}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) groups: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let b = wid.x + wid.y * groups.x;
  if (b >= u.blocks) { return; }  // uniform across the workgroup
  let start = b * B;
  let end = min(start + B, u.n);
  let amOld = absmax[b];
  let avOld = absmax[u.blocks + b];
  var mNew: array<f32, ${per}>;
  var vNew: array<f32, ${per}>;
  var mx = 0.0;
  var vx = 0.0;
  for (var k = 0u; k < PER; k++) {
    let j = lid + k * ${WORKGROUP}u;
    let i = start + j;
    if (j < B && i < end) {
      let m0 = maps[code(mCodes[i >> 2u], i)] * amOld;
      let v0 = maps[256u + code(vCodes[i >> 2u], i)] * avOld;
      let gi = g[i] * u.gradScale;
      // As AdamW8bit on the host: b1 m0 + (1-b1) g;  b2 v0 + (1-b2) g g;
      // p <- p decay - (stepSize m1) / (sqrt(v1) / sqrtBc2 + eps).
      let m1 = u.b1 * m0 + u.omb1 * gi;
      let v1 = u.b2 * v0 + u.omb2 * gi * gi;
      pOut[i] = pIn[i] * u.decay - (u.stepSize * m1) / (sqrt(v1) / u.sqrtBc2 + u.eps);
      mNew[k] = m1;
      vNew[k] = v1;
      mx = max(mx, abs(m1));
      vx = max(vx, abs(v1));
    }
  }
  redM[lid] = mx;
  redV[lid] = vx;
  workgroupBarrier();
  for (var stride = ${WORKGROUP / 2}u; stride > 0u; stride = stride / 2u) {
    if (lid < stride) {
      redM[lid] = max(redM[lid], redM[lid + stride]);
      redV[lid] = max(redV[lid], redV[lid + stride]);
    }
    workgroupBarrier();
  }
  let am = redM[0];
  let av = redV[0];
  // An all-zero block: every value maps to the exact 0 entry.
  var invM = 0.0;
  var invV = 0.0;
  if (am > 0.0) { invM = 1.0 / am; }
  if (av > 0.0) { invV = 1.0 / av; }
  for (var k = 0u; k < PER; k++) {
    let j = lid + k * ${WORKGROUP}u;
    if (j < B) {
      var cm = 0u;
      var cv = 0u;
      if (start + j < end) {
        cm = nearest(0u, mNew[k] * invM);
        cv = nearest(256u, vNew[k] * invV);
      }
      codesM[j] = cm;
      codesV[j] = cv;
    }
  }
  workgroupBarrier();
  // Blocks start on a word (B % 4 == 0): each word belongs to one block. Words past the
  // tensor's end (padding of the last word) are written as code 0.
  for (var w = lid; w < B / 4u; w += ${WORKGROUP}u) {
    let i = start + 4u * w;
    if (i < end) {
      let j = 4u * w;
      mCodes[i >> 2u] = codesM[j] | (codesM[j + 1u] << 8u) | (codesM[j + 2u] << 16u) | (codesM[j + 3u] << 24u);
      vCodes[i >> 2u] = codesV[j] | (codesV[j + 1u] << 8u) | (codesV[j + 2u] << 16u) | (codesV[j + 3u] << 24u);
    }
  }
  if (lid == 0u) {
    absmax[b] = am;
    absmax[u.blocks + b] = av;
  }
}`;
}

/** Largest 8-bit block the kernel takes (two u32 code arrays of this size in workgroup memory: 32 KiB would exceed WebGPU's 16 KiB). */
export const MAX_GPU_BLOCK_8BIT = 1024;

/** True when `adamw8bitFused` can run blocks of this size. */
export function gpuBlockSizeOk(blockSize: number): boolean {
  return Number.isInteger(blockSize) && blockSize > 0 && blockSize % 4 === 0 && blockSize <= MAX_GPU_BLOCK_8BIT;
}

/** 8-bit moments of one tensor on the GPU: codes as u32 words (int32 tensors), absmax [2 x blocks]. */
export interface Gpu8bitState {
  /** ceil(n / 4) words, 4 codes each (little-endian). */
  mCodes: tf.Tensor;
  vCodes: tf.Tensor;
  /** [2 * blocks]: m's absmax per block, then v's. */
  absmax: tf.Tensor;
  n: number;
  blocks: number;
}

/**
 * One fused 8-bit AdamW update: reads param, grad and the 8-bit state, writes the new
 * codes and absmax in place and returns the new parameter (caller owns it).
 * `maps` is float32 [512]: the signed dynamic map, then the unsigned one.
 */
export function adamw8bitFused(
  ctx: GpuContext, param: tf.Tensor, grad: tf.Tensor, s: Gpu8bitState, maps: tf.Tensor, blockSize: number, c: AdamWStepConstants,
): tf.Tensor {
  const n = param.size;
  if (!gpuBlockSizeOk(blockSize)) throw new RuntimeError('init-failed', `adamw8bitFused: block size ${blockSize} must be a multiple of 4 and at most ${MAX_GPU_BLOCK_8BIT}`);
  if (grad.size !== n || s.n !== n) throw new RuntimeError('init-failed', `adamw8bitFused: gradient [${grad.shape}] / state of ${s.n} values vs parameter [${param.shape}]`);
  if (maps.size !== 512) throw new RuntimeError('init-failed', `adamw8bitFused: maps must hold 512 values, got ${maps.size}`);
  const { tensor: out, buffer } = allocateTensor(ctx, param.shape.slice());
  if (n === 0) return out;
  dispatch(ctx, {
    kernel: compileKernel(ctx, `ttslab.adamw.8bit.${blockSize}`, adamw8bitWgsl(blockSize)),
    tensors: [param, grad, out, s.mCodes, s.vCodes, s.absmax, maps],
    buffers: [
      tensorBuffer(ctx, param), tensorBuffer(ctx, grad), buffer, tensorBuffer(ctx, s.mCodes), tensorBuffer(ctx, s.vCodes),
      tensorBuffer(ctx, s.absmax), tensorBuffer(ctx, maps),
    ],
    uniforms: stepUniforms(n, c, [{ u32: s.blocks }]),
    workgroups: grid2d(ctx, s.blocks),
  });
  for (const t of [s.mCodes, s.vCodes, s.absmax]) dropCpuCopy(ctx, t);
  return out;
}

/** Codes (one byte each) packed into little-endian u32 words, as an int32 tensor of ceil(n / 4) values. */
export function packCodes(codes: Uint8Array): tf.Tensor {
  const words = Math.ceil(codes.length / 4);
  const bytes = new Uint8Array(words * 4);
  bytes.set(codes);
  return tf.tensor1d(new Int32Array(bytes.buffer), 'int32');
}

/** The codes of a packed tensor (first `n` bytes of its words). */
export async function unpackCodes(t: tf.Tensor, n: number): Promise<Uint8Array> {
  const words = (await t.data()) as Int32Array;
  return new Uint8Array(words.buffer, words.byteOffset, n).slice();
}
