/**
 * Public types of the tensor runtime: which tfjs backend runs the math, and what the
 * chosen device can do.
 */

/** Backends `initRuntime` can select. `auto` picks the fastest one that initialises. */
export type BackendName = 'webgpu' | 'tensorflow' | 'wasm' | 'cpu';
export type BackendRequest = BackendName | 'auto';

export interface RuntimeOptions {
  /** Which backend to run on; `auto` (the default) tries the fastest first and never fails where `cpu` works. */
  backend?: BackendRequest;
  /**
   * Dawn instance toggles for WebGPU. The defaults expose f16 on NVIDIA
   * (`vulkan_enable_f16_on_nvidia`) and subgroup matrices (`allow_unsafe_apis`); without them
   * an H100 reports neither (measured, ../shared/GPU.md).
   */
  dawnToggles?: string[];
  /** Print the choice and its reason to the console (default false; notebooks show `runtimeInfo()`). */
  verbose?: boolean;
}

/** One matrix-multiply shape the GPU's subgroup-matrix (tensor core) units support. */
export interface SubgroupMatrixConfig {
  /** Rows of the left and result matrices. */
  M: number;
  /** Columns of the right and result matrices. */
  N: number;
  /** Inner dimension. */
  K: number;
  /** Element type of the left and right matrices, e.g. `f16`. */
  componentType: string;
  /** Element type of the result (accumulator), e.g. `f32`. */
  resultComponentType: string;
}

/** What the WebGPU adapter and device offer (absent on other backends). */
export interface WebGPUInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for a software adapter (Mesa lavapipe, SwiftShader): right, but CPU-speed. */
  isFallbackAdapter: boolean;
  /** Features enabled on the device tfjs uses (a subset of the adapter's). */
  features: string[];
  /** Features the adapter has, enabled or not. */
  adapterFeatures: string[];
  subgroupMinSize: number;
  subgroupMaxSize: number;
  subgroupMatrixConfigs: SubgroupMatrixConfig[];
  /** Device limits, numbers only (bytes for sizes). */
  limits: Record<string, number>;
  /** Dawn toggles the instance was created with. */
  toggles: string[];
}

export interface RuntimeInfo {
  /** The tfjs backend now active. */
  backend: BackendName;
  /** Why this backend was chosen (auto) or that it was asked for. */
  reason: string;
  /** Backends tried before this one with why each was passed over (auto only). */
  skipped: Array<{ backend: BackendName; why: string }>;
  /** Versions of the pieces that run the math. */
  versions: Record<string, string>;
  /** Whether gradients are registered for every kernel (true: the union @tensorflow/tfjs is loaded). */
  gradientsRegistered: boolean;
  webgpu?: WebGPUInfo;
  memory: {
    /** Live tfjs tensors. */
    numTensors: number;
    /** Bytes held by live tensors (tfjs' count). */
    numBytes: number;
    /** WebGPU: bytes of the backend's GPU buffers in use and allocated (pool included). */
    gpuBytesInUse?: number;
    gpuBytesAllocated?: number;
  };
}
