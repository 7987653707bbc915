/// <reference types="@webgpu/types" />
/**
 * WebGPU through Dawn (npm `webgpu`): creates the adapter and device with the features
 * ttslab's kernels use, and registers a tfjs `WebGPUBackend` on that device as 'webgpu'.
 *
 * tfjs-backend-webgpu registers itself only when `navigator.gpu` exists at import time, and
 * its own device request enables none of f16 / subgroups / subgroup matrices. So the
 * device is made here and handed to `new WebGPUBackend(device, adapter.info)`.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { RuntimeError, noAdapter, noVulkanLoader, notInstalled } from './errors';
import type { SubgroupMatrixConfig, WebGPUInfo } from './types';

/**
 * Dawn toggles: `vulkan_enable_f16_on_nvidia` exposes shader-f16 on NVIDIA and
 * `allow_unsafe_apis` exposes chromium-experimental-subgroup-matrix (both measured on an
 * H200: without them neither feature shows, ../shared/GPU.md).
 */
export const DEFAULT_DAWN_TOGGLES = ['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia'];

/** Features requested when the adapter has them; kernels check `device.features` before use. */
export const WANTED_FEATURES = [
  'shader-f16',
  'subgroups',
  'chromium-experimental-subgroup-matrix',
  'timestamp-query',
] as const;

/** Limits raised to the adapter's maximum (the defaults cap storage bindings at 128 MiB). */
const MAX_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

interface DawnModule {
  create(options: string[]): GPU;
  globals: Record<string, unknown>;
}

/** What stays alive for the process: the Dawn instance, adapter, device and tfjs backend. */
export interface WebGPUState {
  gpu: GPU;
  adapter: GPUAdapter;
  device: GPUDevice;
  backend: WebGPUBackend;
  toggles: string[];
  lost?: string;
}

// Kept on globalThis (not module scope) so that two copies of this module (dist/ and src/
// through tsx, or a notebook re-importing) share one device and one registration.
const STATE_KEY = Symbol.for('ttslab.runtime.webgpu');
type GlobalWithState = typeof globalThis & { [STATE_KEY]?: Promise<WebGPUState> };

export function webgpuState(): Promise<WebGPUState> | undefined {
  return (globalThis as GlobalWithState)[STATE_KEY];
}

/**
 * Creates (once per process) the Dawn device and registers it with tfjs as 'webgpu'.
 * Does not switch the active backend.
 */
export function ensureWebGPU(toggles: string[] = DEFAULT_DAWN_TOGGLES): Promise<WebGPUState> {
  const g = globalThis as GlobalWithState;
  const existing = g[STATE_KEY];
  if (existing) return existing;
  const created = createWebGPU(toggles);
  g[STATE_KEY] = created;
  // A failed attempt is forgotten so that a later call (after installing a driver in
  // another terminal, say) tries again rather than replaying the old error.
  created.catch(() => {
    if (g[STATE_KEY] === created) delete g[STATE_KEY];
  });
  return created;
}

function loadDawn(): Promise<DawnModule> {
  // `webgpu` is ESM-only; import() works from this CommonJS module on every Node >= 20.
  return (import('webgpu') as Promise<DawnModule>).catch((e: unknown) => {
    throw notInstalled('webgpu', 'webgpu (Dawn for Node)', e);
  });
}

function loadWebGPUBackendModule(): typeof import('@tensorflow/tfjs-backend-webgpu') {
  try {
    return require('@tensorflow/tfjs-backend-webgpu') as typeof import('@tensorflow/tfjs-backend-webgpu');
  } catch (e) {
    throw notInstalled('webgpu', '@tensorflow/tfjs-backend-webgpu', e);
  }
}

async function createWebGPU(toggles: string[]): Promise<WebGPUState> {
  const dawn = await loadDawn();
  const { WebGPUBackend } = loadWebGPUBackendModule();
  // tfjs' WebGPU backend tests `instanceof GPUBuffer` and reads GPUBufferUsage etc. as globals.
  for (const [name, value] of Object.entries(dawn.globals)) {
    if (!(name in globalThis)) Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  }
  const gpu = dawn.create([`enable-dawn-features=${toggles.join(',')}`]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    const loader = findVulkanLoader();
    if (!loader.found) throw noVulkanLoader(loader.searched);
    throw noAdapter(`requestAdapter() returned null with libvulkan at ${loader.found}`);
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  for (const name of MAX_LIMITS) {
    const value = (adapter.limits as unknown as Record<string, number | undefined>)[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  } catch (e) {
    throw new RuntimeError('no-device', `WebGPU adapter '${adapter.info.description}' refused a device: ${String(e)}`, 'webgpu', {
      cause: e,
    });
  }
  // tfjs checks navigator.gpu in the WebGPUBackend constructor. Node 20 has no navigator;
  // Node 21+ has one without `gpu`.
  const nav = ((globalThis as { navigator?: object }).navigator ??= {}) as { gpu?: GPU };
  if (!nav.gpu) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });

  const state: WebGPUState = { gpu, adapter, device, backend: undefined as unknown as WebGPUBackend, toggles };
  reportDeviceErrors(state);
  state.backend = new WebGPUBackend(device, adapter.info);
  explainReadSync(state.backend);
  // If tfjs-backend-webgpu registered its own factory (navigator.gpu existed when it was
  // first imported), replace it: that one would create a device without f16 / subgroups.
  if (tf.findBackendFactory('webgpu') != null) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => state.backend, 3);
  return state;
}

/**
 * tfjs reads GPU data synchronously through an OffscreenCanvas, which Node lacks: without
 * this, `t.dataSync()` dies with "OffscreenCanvas is not defined". Say what to do instead.
 */
function explainReadSync(backend: WebGPUBackend): void {
  if (typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== 'undefined') return;
  const readSync = backend.readSync.bind(backend);
  backend.readSync = (dataId: object) => {
    try {
      return readSync(dataId);
    } catch (e) {
      if (e instanceof ReferenceError && e.message.includes('OffscreenCanvas')) {
        throw new RuntimeError(
          'init-failed',
          "the 'webgpu' backend cannot read GPU data synchronously in Node (dataSync / arraySync / bufferSync): " +
            'use `await tensor.data()` or `await tensor.array()`',
          'webgpu',
          { cause: e },
        );
      }
      throw e;
    }
  };
}

function reportDeviceErrors(state: WebGPUState): void {
  const seen = new Set<string>();
  state.device.addEventListener('uncapturederror', (event) => {
    const message = (event as GPUUncapturedErrorEvent).error.message;
    // Once per message: a bad pipeline reports on every dispatch.
    if (seen.has(message)) return;
    seen.add(message);
    console.error(`[ttslab runtime] WebGPU error: ${message}`);
  });
  void state.device.lost.then((info) => {
    state.lost = `${info.reason}: ${info.message}`;
    if (info.reason !== 'destroyed') console.error(`[ttslab runtime] WebGPU device lost (${state.lost})`);
  });
}

/** Looks for libvulkan.so.1 the way the dynamic linker would (ldconfig cache, LD_LIBRARY_PATH, usual dirs). */
export function findVulkanLoader(): { found?: string; searched: string[] } {
  const searched: string[] = [];
  try {
    const cache = execFileSync('ldconfig', ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    searched.push('ldconfig -p');
    const line = cache.split('\n').find((l) => l.includes('libvulkan.so.1'));
    if (line) return { found: line.split('=>').pop()?.trim(), searched };
  } catch {
    // ldconfig is missing in some images; fall through to the directory scan.
  }
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/lib/x86_64-linux-gnu',
    '/usr/local/lib',
  ];
  for (const dir of dirs) {
    searched.push(dir);
    try {
      if (existsSync(dir) && readdirSync(dir).includes('libvulkan.so.1')) return { found: `${dir}/libvulkan.so.1`, searched };
    } catch {
      // unreadable directory: keep looking
    }
  }
  return { searched };
}

/** Adapter and device facts for `runtimeInfo()`. */
export function describeWebGPU(state: WebGPUState): WebGPUInfo {
  const info = state.adapter.info as GPUAdapterInfo & {
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
    subgroupMatrixConfigs?: ReadonlyArray<Record<string, unknown>>;
    isFallbackAdapter?: boolean;
  };
  const limits: Record<string, number> = {};
  // GPUSupportedLimits keeps its values on the prototype: for..in sees them, Object.keys does not.
  for (const name in state.device.limits) {
    const value = (state.device.limits as unknown as Record<string, unknown>)[name];
    if (typeof value === 'number') limits[name] = value;
  }
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter: info.isFallbackAdapter ?? false,
    features: [...state.device.features].sort(),
    adapterFeatures: [...state.adapter.features].sort(),
    subgroupMinSize: info.subgroupMinSize ?? 0,
    subgroupMaxSize: info.subgroupMaxSize ?? 0,
    subgroupMatrixConfigs: subgroupMatrixConfigs(state.adapter),
    limits,
    toggles: state.toggles,
  };
}

/** The adapter's subgroup-matrix shapes. Dawn's config objects print as `{}`: read each field. */
export function subgroupMatrixConfigs(adapter: GPUAdapter): SubgroupMatrixConfig[] {
  const raw = (adapter.info as { subgroupMatrixConfigs?: ReadonlyArray<Record<string, unknown>> }).subgroupMatrixConfigs ?? [];
  return raw.map((c) => ({
    M: Number(c.M),
    N: Number(c.N),
    K: Number(c.K),
    componentType: String(c.componentType),
    resultComponentType: String(c.resultComponentType),
  }));
}

/** The WebGPU state if `ensureWebGPU` has finished successfully, else undefined. */
export function webgpuStateIfReady(): WebGPUState | undefined {
  return (globalThis as typeof globalThis & { [READY_KEY]?: WebGPUState })[READY_KEY];
}
const READY_KEY = Symbol.for('ttslab.runtime.webgpu.ready');
export function markWebGPUReady(state: WebGPUState): void {
  (globalThis as typeof globalThis & { [READY_KEY]?: WebGPUState })[READY_KEY] = state;
}
