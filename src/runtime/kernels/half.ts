/**
 * f16 tensors for custom kernels. tfjs 4.22 has no float16 dtype, so a `HalfTensor` keeps
 * its IEEE half values packed two to a 32-bit word inside an ordinary float32 tfjs tensor
 * (`packed`, shape [ceil(size / 2)]). tfjs owns and pools that buffer, `tf.tidy` tracks it,
 * and kernels bind it as `array<u32>` (pack2x16float / unpack2x16float, core WGSL, no
 * feature needed) or as `array<f16>` where the device has shader-f16. Never pass `packed`
 * to a tfjs op: its values are not floats.
 */
import * as tf from '@tensorflow/tfjs';
import { RuntimeError } from '../errors';
import { GpuContext, allocateTensor, compileKernel, dispatch, gpuContext, tensorBuffer, uniforms } from './gpu';

export class HalfTensor {
  /** Number of f16 elements. */
  readonly size: number;
  constructor(
    /** float32 tensor of shape [ceil(size / 2)] holding the f16 bits. */
    readonly packed: tf.Tensor,
    /** Logical shape of the f16 data. */
    readonly shape: number[],
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
    if (packed.size !== Math.ceil(this.size / 2)) {
      throw new RuntimeError('init-failed', `HalfTensor of shape [${shape}] needs ${Math.ceil(this.size / 2)} packed words, got ${packed.size}`);
    }
  }
  get isDisposed(): boolean {
    return this.packed.isDisposed;
  }
  dispose(): void {
    this.packed.dispose();
  }
  /** Same data, another shape (no copy). */
  reshape(shape: number[]): HalfTensor {
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== this.size) throw new RuntimeError('init-failed', `cannot reshape HalfTensor [${this.shape}] to [${shape}]`);
    return new HalfTensor(this.packed, shape);
  }
}

const WORKGROUP = 256;

/** Workgroup grid for `groups` workgroups: 2-D once one dimension's limit is passed. */
export function grid(ctx: GpuContext, groups: number): [number, number] {
  const max = ctx.device.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [Math.max(groups, 1), 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y];
}

const TO_HALF = /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
struct Params { n: u32 }
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let w = gid.x + gid.y * groups.x * ${WORKGROUP}u;
  let i = 2u * w;
  if (i >= p.n) { return; }
  // The odd tail pads its word with 0.
  let hi = select(0.0, x[min(i + 1u, p.n - 1u)], i + 1u < p.n);
  y[w] = pack2x16float(vec2f(x[i], hi));
}`;

const FROM_HALF = /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
struct Params { n: u32 }
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let w = gid.x + gid.y * groups.x * ${WORKGROUP}u;
  let i = 2u * w;
  if (i >= p.n) { return; }
  let v = unpack2x16float(x[w]);
  y[i] = v.x;
  if (i + 1u < p.n) { y[i + 1u] = v.y; }
}`;

/** Rounds a float32 tensor to f16 on the GPU (round to nearest). The caller owns the result. */
export function toHalf(x: tf.Tensor): HalfTensor {
  const ctx = gpuContext();
  if (x.dtype !== 'float32') throw new RuntimeError('init-failed', `toHalf takes float32, got ${x.dtype}`);
  if (x.size === 0) return new HalfTensor(tf.zeros([0]), x.shape.slice());
  const words = Math.ceil(x.size / 2);
  const { tensor, buffer } = allocateTensor(ctx, [words]);
  dispatch(ctx, {
    kernel: compileKernel(ctx, 'ttslab.toHalf', TO_HALF),
    tensors: [x, tensor],
    buffers: [tensorBuffer(ctx, x), buffer],
    uniforms: uniforms([{ u32: x.size }]),
    workgroups: grid(ctx, Math.ceil(words / WORKGROUP)),
  });
  return new HalfTensor(tensor, x.shape.slice());
}

/** Widens f16 data to a float32 tensor of the same shape. The caller owns the result. */
export function fromHalf(h: HalfTensor): tf.Tensor {
  const ctx = gpuContext();
  if (h.size === 0) return tf.zeros(h.shape);
  const { tensor, buffer } = allocateTensor(ctx, h.shape);
  dispatch(ctx, {
    kernel: compileKernel(ctx, 'ttslab.fromHalf', FROM_HALF),
    tensors: [h.packed, tensor],
    buffers: [tensorBuffer(ctx, h.packed), buffer],
    uniforms: uniforms([{ u32: h.size }]),
    workgroups: grid(ctx, Math.ceil(Math.ceil(h.size / 2) / WORKGROUP)),
  });
  return tensor;
}
