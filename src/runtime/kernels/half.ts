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
import { GpuContext, allocateTensor, compileKernel, dispatch, gpuContext, maxBindingBytes, tensorBuffer, uniforms } from './gpu';

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

/** Largest finite f16. */
export const F16_MAX = 65504;

/** Elements per upload chunk of `halfFromValues` (64 Mi f32 = 256 MiB of transient GPU memory). */
const UPLOAD_ELEMENTS = 64 * 2 ** 20;

export interface HalfConvertOptions {
  /**
   * Largest storage binding in bytes one conversion pass may use (default: the device's
   * maxStorageBufferBindingSize). Tensors whose f32 side is larger are converted in chunks,
   * each bound as a range of the whole buffer. Lower it to run the chunked path on small
   * tensors (tests); at least 512 and at most the device's limit.
   */
  maxBindingBytes?: number;
  /** Names the tensor in error messages. */
  name?: string;
}

/**
 * Element offsets every chunk starts at a multiple of: minStorageBufferOffsetAlignment / 2, so
 * the offset is aligned on the f32 side (4 B per element) and on the packed f16 side (2 B), and
 * even, so no chunk splits a packed word.
 */
function alignUnit(ctx: GpuContext): number {
  return Math.max(2, ctx.device.limits.minStorageBufferOffsetAlignment / 2);
}

/** Elements per conversion chunk: as many as fit `maxBindingBytes` in f32 (4 B each), a multiple of the alignment unit. */
export function halfChunkElements(ctx: GpuContext, options: HalfConvertOptions = {}): number {
  const device = maxBindingBytes(ctx);
  const limit = options.maxBindingBytes ?? device;
  if (!(Number.isInteger(limit) && limit >= 512 && limit <= device)) {
    throw new RuntimeError('init-failed', `${options.name ?? 'f16 conversion'}: maxBindingBytes must be an integer in [512, ${device}] (the device's maxStorageBufferBindingSize), got ${limit}`);
  }
  const unit = alignUnit(ctx);
  const elements = Math.floor(limit / 4 / unit) * unit;
  if (elements < unit) {
    throw new RuntimeError('init-failed', `${options.name ?? 'f16 conversion'}: maxBindingBytes ${limit} is below one aligned chunk (${unit * 4} B at this device's offset alignment)`);
  }
  return elements;
}

/** Bytes [offset, offset + size) of `buffer` as a binding. */
function range(buffer: GPUBuffer, offset: number, size: number): GPUBufferBinding {
  return { buffer, offset, size };
}

/**
 * f32 elements [0, n) of `src` (bound from byte `srcOffset`) rounded into the packed words of
 * `dst` from word `dstWord` on: one pass, n <= one chunk.
 */
function toHalfPass(ctx: GpuContext, tensors: tf.TensorInfo[], src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstWord: number, n: number): void {
  const words = Math.ceil(n / 2);
  dispatch(ctx, {
    kernel: compileKernel(ctx, 'ttslab.toHalf', TO_HALF),
    tensors,
    buffers: [range(src, srcOffset, n * 4), range(dst, dstWord * 4, words * 4)],
    uniforms: uniforms([{ u32: n }]),
    workgroups: grid(ctx, Math.ceil(words / WORKGROUP)),
  });
}

/**
 * Rounds a float32 tensor to f16 on the GPU (round to nearest; beyond +-65504 becomes infinity,
 * no read-back to check). Tensors larger than one storage binding (an f32 [193800, 4096] lm_head
 * is 3.18 GB, the H100's limit 2 GiB) are converted in chunks (`halfChunkElements`). The caller
 * owns the result; `x` is not disposed.
 */
export function toHalf(x: tf.Tensor, options: HalfConvertOptions = {}): HalfTensor {
  const ctx = gpuContext();
  if (x.dtype !== 'float32') throw new RuntimeError('init-failed', `toHalf takes float32, got ${x.dtype}${options.name ? ` (${options.name})` : ''}`);
  if (x.size === 0) return new HalfTensor(tf.zeros([0]), x.shape.slice());
  const chunk = halfChunkElements(ctx, options);
  const { tensor, buffer } = allocateTensor(ctx, [Math.ceil(x.size / 2)]);
  const src = tensorBuffer(ctx, x);
  for (let start = 0; start < x.size; start += chunk) {
    toHalfPass(ctx, [x, tensor], src, start * 4, buffer, start / 2, Math.min(chunk, x.size - start));
  }
  return new HalfTensor(tensor, x.shape.slice());
}

/**
 * f16 from float32 values on the CPU (e.g. a checkpoint tensor widened by `getF32`), without a
 * float32 copy of the whole tensor on the GPU: each chunk of at most 64 Mi values (and at most
 * one binding) is uploaded, rounded into its place and freed. Values must be finite and within
 * +-65504 (checked here; the error names `options.name`). The caller owns the result.
 */
export function halfFromValues(data: Float32Array, shape: number[], options: HalfConvertOptions = {}): HalfTensor {
  const ctx = gpuContext();
  const name = options.name ?? 'halfFromValues';
  const size = shape.reduce((a, b) => a * b, 1);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) throw new RuntimeError('init-failed', `${name}: bad shape [${shape}]`);
  if (data.length !== size) throw new RuntimeError('init-failed', `${name}: ${data.length} values do not fill [${shape}]`);
  for (let i = 0; i < size; i++) {
    const v = data[i];
    if (!(Math.abs(v) <= F16_MAX)) {
      throw new RuntimeError('init-failed', `${name}: [${shape}] element ${i} is ${v}, outside f16's finite range (|v| <= ${F16_MAX}); keep this tensor float32`);
    }
  }
  if (size === 0) return new HalfTensor(tf.zeros([0]), shape.slice());
  const unit = alignUnit(ctx);
  const chunk = Math.max(unit, Math.floor(Math.min(halfChunkElements(ctx, options), UPLOAD_ELEMENTS) / unit) * unit);
  const { tensor, buffer } = allocateTensor(ctx, [Math.ceil(size / 2)]);
  for (let start = 0; start < size; start += chunk) {
    const n = Math.min(chunk, size - start);
    const part = tf.tensor1d(data.subarray(start, start + n), 'float32'); // [n] f32, freed once the pass is submitted
    toHalfPass(ctx, [part, tensor], tensorBuffer(ctx, part), 0, buffer, start / 2, n);
    part.dispose();
  }
  return new HalfTensor(tensor, shape.slice());
}

/**
 * Widens f16 data to a float32 tensor of the same shape, in chunks when the float32 side is
 * larger than one storage binding (see `toHalf`). The caller owns the result.
 */
export function fromHalf(h: HalfTensor, options: HalfConvertOptions = {}): tf.Tensor {
  const ctx = gpuContext();
  if (h.size === 0) return tf.zeros(h.shape);
  const chunk = halfChunkElements(ctx, options);
  const { tensor, buffer } = allocateTensor(ctx, h.shape);
  const src = tensorBuffer(ctx, h.packed);
  for (let start = 0; start < h.size; start += chunk) {
    const n = Math.min(chunk, h.size - start);
    const words = Math.ceil(n / 2);
    dispatch(ctx, {
      kernel: compileKernel(ctx, 'ttslab.fromHalf', FROM_HALF),
      tensors: [h.packed, tensor],
      buffers: [range(src, start * 2, words * 4), range(buffer, start * 4, n * 4)],
      uniforms: uniforms([{ u32: n }]),
      workgroups: grid(ctx, Math.ceil(words / WORKGROUP)),
    });
  }
  return tensor;
}
