/**
 * Runtime: which tfjs backend runs the math (`initRuntime`, `runtimeInfo`) and custom WebGPU
 * kernels that exchange GPU buffers with tfjs tensors (`kernels/`).
 */
export { initRuntime, runtimeInfo } from './init';
export type { BackendName, BackendRequest, RuntimeInfo, RuntimeOptions, SubgroupMatrixConfig, WebGPUInfo } from './types';
export { RuntimeError, INSTALL_HINT } from './errors';
export type { RuntimeErrorCode } from './errors';
export { DEFAULT_DAWN_TOGGLES, findVulkanLoader } from './webgpu';
export { gpuContext, tensorBuffer, allocateTensor, compileKernel, compileKernelAsync, dispatch, synchronize, uniforms, hasFeature, maxBindingBytes } from './kernels/gpu';
export type { GpuContext, Kernel, Dispatch } from './kernels/gpu';
export { HalfTensor, toHalf, fromHalf, halfFromValues, halfChunkElements, F16_MAX } from './kernels/half';
export type { HalfConvertOptions } from './kernels/half';
export { gatherHalf } from './kernels/half_gather';
export { rmsNorm, rmsNormHalf, rmsNormReference } from './kernels/rmsnorm';
export { linearHalf } from './kernels/half_linear';
export type { RmsNormOptions } from './kernels/rmsnorm';
export { matmulHalf, matmulHalfPlan, prepareMatmulHalf, subgroupMatrixUnavailable, subgroupMatrixWgsl, tilingWorkgroupBytes, DEFAULT_TILING } from './kernels/matmul';
export type { MatmulHalfOptions, MatmulVariant, SubgroupMatrixTiling } from './kernels/matmul';
