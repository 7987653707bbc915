/// <reference types="@webgpu/types" />
/**
 * Custom WGSL compute kernels on the tfjs WebGPU backend's own device, reading and writing
 * tfjs tensors' GPU buffers in place: no copy through the CPU, no copy on the GPU.
 *
 * How it fits tfjs-backend-webgpu 4.22 (backend_webgpu.js):
 * - a tensor's data lives in `backend.tensorMap.get(dataId).resource` (a GPUBuffer) once
 *   `backend.uploadToGPU(dataId)` has run;
 * - tfjs records its dispatches into one pending command encoder and submits in batches;
 *   our passes go into that same encoder, so they run in program order with tfjs' kernels;
 * - outputs are tensors made by the backend (`makeTensorInfo` + `uploadToGPU`), so tfjs owns
 *   their buffers: `dispose()` returns them to its pool like any other tensor.
 * These are internals (not in the .d.ts); `webgpuInternals()` checks each one exists so that
 * a tfjs upgrade fails loudly here rather than silently elsewhere.
 */
import * as tf from '@tensorflow/tfjs';
import { RuntimeError } from '../errors';
import { webgpuStateIfReady } from '../webgpu';

interface TensorData {
  resource?: GPUBuffer | null;
  dtype: tf.DataType;
  shape: number[];
}

/** The parts of tfjs-backend-webgpu's `WebGPUBackend` that kernels use. */
interface WebGPUBackendInternals {
  device: GPUDevice;
  queue: GPUQueue;
  tensorMap: { get(dataId: object): TensorData; has(dataId: object): boolean };
  bufferManager: { acquireBuffer(size: number, usage: number): GPUBuffer };
  commandEncoder: GPUCommandEncoder | null;
  commandQueueOwnedIds: WeakSet<object>;
  uniformPendingDisposal: GPUBuffer[];
  dispatchCountInPass: number;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  uploadToGPU(dataId: object): void;
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

const REQUIRED_MEMBERS = [
  'device',
  'tensorMap',
  'bufferManager',
  'commandQueueOwnedIds',
  'uniformPendingDisposal',
  'ensureCommandEncoderReady',
  'endComputePassEncoder',
  'submitQueue',
  'uploadToGPU',
  'makeTensorInfo',
] as const;

/** A device with its features, for kernels choosing a variant. */
export interface GpuContext {
  backend: WebGPUBackendInternals;
  device: GPUDevice;
  features: ReadonlySet<string>;
  /** Subgroup size range reported by the adapter (0 when unknown). */
  subgroupMinSize: number;
  subgroupMaxSize: number;
}

/** The active tfjs backend as a kernel context; throws unless it is ttslab's WebGPU backend. */
export function gpuContext(): GpuContext {
  if (tf.getBackend() !== 'webgpu') {
    throw new RuntimeError(
      'not-webgpu',
      `custom GPU kernels need the 'webgpu' backend, but '${tf.getBackend()}' is active: await initRuntime({ backend: 'webgpu' })`,
    );
  }
  const backend = tf.backend() as unknown as WebGPUBackendInternals;
  for (const member of REQUIRED_MEMBERS) {
    if ((backend as unknown as Record<string, unknown>)[member] == null) {
      throw new RuntimeError('init-failed', `tfjs-backend-webgpu has no '${member}': the kernel layer is written for 4.22.0`);
    }
  }
  const info = webgpuStateIfReady()?.adapter.info as { subgroupMinSize?: number; subgroupMaxSize?: number } | undefined;
  return {
    backend,
    device: backend.device,
    features: backend.device.features as unknown as ReadonlySet<string>,
    subgroupMinSize: info?.subgroupMinSize ?? 0,
    subgroupMaxSize: info?.subgroupMaxSize ?? 0,
  };
}

/** The GPUBuffer holding `t`'s data (uploaded first if it is still on the CPU). Owned by tfjs: do not destroy. */
export function tensorBuffer(ctx: GpuContext, t: tf.TensorInfo): GPUBuffer {
  ctx.backend.uploadToGPU(t.dataId);
  const buffer = ctx.backend.tensorMap.get(t.dataId).resource;
  if (!buffer) throw new RuntimeError('init-failed', `tensor of shape [${t.shape}] has no GPU buffer`);
  return buffer;
}

/**
 * A new tensor whose GPU buffer a kernel will fill. The caller owns the tensor (dispose it,
 * or create it inside `tf.tidy`); its buffer comes from and returns to tfjs' pool.
 */
export function allocateTensor(ctx: GpuContext, shape: number[], dtype: tf.DataType = 'float32'): { tensor: tf.Tensor; buffer: GPUBuffer } {
  const info = ctx.backend.makeTensorInfo(shape, dtype);
  ctx.backend.uploadToGPU(info.dataId);
  const buffer = ctx.backend.tensorMap.get(info.dataId).resource as GPUBuffer;
  const tensor = tf.engine().makeTensorFromTensorInfo(info);
  return { tensor, buffer };
}

/** A compiled kernel: WGSL source plus the pipeline made from it on one device. */
export interface Kernel {
  name: string;
  pipeline: GPUComputePipeline;
}

const pipelines = new WeakMap<GPUDevice, Map<string, Kernel>>();

/**
 * Compiles (once per device and `key`) a compute shader with entry point `main`.
 * Synchronous so ops can run inside `tf.tidy` and custom gradients; a WGSL error shows as
 * a device error on the console. Call `compileKernelAsync` first to get it as an exception.
 */
export function compileKernel(ctx: GpuContext, key: string, wgsl: string): Kernel {
  let cache = pipelines.get(ctx.device);
  if (!cache) pipelines.set(ctx.device, (cache = new Map()));
  let kernel = cache.get(key);
  if (!kernel) {
    const module = ctx.device.createShaderModule({ code: wgsl, label: key });
    kernel = { name: key, pipeline: ctx.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key }) };
    cache.set(key, kernel);
  }
  return kernel;
}

/** Like `compileKernel`, but rejects with the compiler's messages when the WGSL is bad. */
export async function compileKernelAsync(ctx: GpuContext, key: string, wgsl: string): Promise<Kernel> {
  let cache = pipelines.get(ctx.device);
  if (!cache) pipelines.set(ctx.device, (cache = new Map()));
  const cached = cache.get(key);
  if (cached) return cached;
  const module = ctx.device.createShaderModule({ code: wgsl, label: key });
  const compiled = await module.getCompilationInfo();
  const errors = compiled.messages.filter((m) => m.type === 'error');
  if (errors.length > 0) {
    throw new RuntimeError('init-failed', `WGSL of kernel '${key}' does not compile:\n${errors.map((m) => `  ${m.lineNum}:${m.linePos} ${m.message}`).join('\n')}`);
  }
  try {
    const pipeline = await ctx.device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
    const kernel = { name: key, pipeline };
    cache.set(key, kernel);
    return kernel;
  } catch (e) {
    throw new RuntimeError('init-failed', `kernel '${key}' failed to build: ${String(e)}`, 'webgpu', { cause: e });
  }
}

/** Storage buffers in binding order 0..n-1, then one uniform buffer (if any) at binding n. */
export interface Dispatch {
  kernel: Kernel;
  /** Tensors read or written by the kernel: kept alive until tfjs submits this pass. */
  tensors: tf.TensorInfo[];
  /** Whole buffers, or ranges of them (`{ buffer, offset, size }`, offset a multiple of minStorageBufferOffsetAlignment). */
  buffers: (GPUBuffer | GPUBufferBinding)[];
  /** Raw bytes of the uniform struct (16-byte aligned size), or omitted. */
  uniforms?: ArrayBuffer;
  workgroups: [number, number?, number?];
}

/**
 * Records one compute pass into tfjs' pending command encoder, after every tfjs kernel
 * recorded so far and before every later one.
 */
export function dispatch(ctx: GpuContext, d: Dispatch): void {
  const b = ctx.backend;
  const entries: GPUBindGroupEntry[] = d.buffers.map((b, i) => ({ binding: i, resource: 'buffer' in b ? b : { buffer: b } }));
  if (d.uniforms) {
    const size = Math.ceil(d.uniforms.byteLength / 16) * 16;
    const ub = b.bufferManager.acquireBuffer(size, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    ctx.device.queue.writeBuffer(ub, 0, d.uniforms);
    // Returned to the pool once the encoder holding this pass is submitted (tfjs does the same).
    b.uniformPendingDisposal.push(ub);
    entries.push({ binding: d.buffers.length, resource: { buffer: ub } });
  }
  const bindGroup = ctx.device.createBindGroup({ layout: d.kernel.pipeline.getBindGroupLayout(0), entries });
  const [x, y = 1, z = 1] = d.workgroups;
  const maxPerDim = ctx.device.limits.maxComputeWorkgroupsPerDimension;
  if (x > maxPerDim || y > maxPerDim || z > maxPerDim) {
    throw new RuntimeError('init-failed', `kernel '${d.kernel.name}': ${x}x${y}x${z} workgroups exceed the device's ${maxPerDim} per dimension`);
  }
  b.ensureCommandEncoderReady();
  b.endComputePassEncoder();
  const pass = (b.commandEncoder as GPUCommandEncoder).beginComputePass({ label: d.kernel.name });
  pass.setPipeline(d.kernel.pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(x, y, z);
  pass.end();
  // tfjs defers releasing a disposed tensor's buffer while the pending encoder uses it.
  for (const t of d.tensors) b.commandQueueOwnedIds.add(t.dataId);
  b.dispatchCountInPass++;
  if (b.dispatchCountInPass >= (tf.env().get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number)) b.submitQueue();
}

/** Submits tfjs' pending work and waits until the GPU has finished it (for timing). */
export async function synchronize(ctx: GpuContext): Promise<void> {
  if (ctx.backend.commandEncoder) {
    ctx.backend.endComputePassEncoder();
    ctx.backend.submitQueue();
  }
  await ctx.device.queue.onSubmittedWorkDone();
}

/** Packs uniform fields (u32, i32 or f32, 4 bytes each, in declaration order) into bytes. */
export function uniforms(fields: Array<{ u32: number } | { i32: number } | { f32: number }>): ArrayBuffer {
  const bytes = new ArrayBuffer(Math.max(16, Math.ceil((fields.length * 4) / 16) * 16));
  const view = new DataView(bytes);
  fields.forEach((f, i) => {
    if ('u32' in f) view.setUint32(i * 4, f.u32, true);
    else if ('i32' in f) view.setInt32(i * 4, f.i32, true);
    else view.setFloat32(i * 4, f.f32, true);
  });
  return bytes;
}

/**
 * Largest storage-buffer binding of the device in bytes (maxStorageBufferBindingSize: 2 GiB - 4
 * on an H100 under Dawn/Vulkan, 128 MiB on lavapipe). A kernel binding more fails validation.
 */
export function maxBindingBytes(ctx: GpuContext): number {
  return ctx.device.limits.maxStorageBufferBindingSize;
}

/** True when the device has the feature (shader-f16, subgroups, chromium-experimental-subgroup-matrix). */
export function hasFeature(ctx: GpuContext, feature: string): boolean {
  return ctx.features.has(feature);
}
