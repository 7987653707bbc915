/**
 * `initRuntime()` chooses and starts the tfjs backend; `runtimeInfo()` says what runs.
 *
 * Importing the union package `@tensorflow/tfjs` registers the gradient of every kernel
 * for every backend (tfjs-core's Node bundle alone registers none: "gradient function not
 * found for RealDiv"), so training works whichever backend is chosen.
 */
import * as tf from '@tensorflow/tfjs';
import { RuntimeError, cudaLibrariesMissing, notInstalled } from './errors';
import { registerWasmUnsortedSegmentSum } from './kernels/wasm_segment_sum';
import type { BackendName, BackendRequest, RuntimeInfo, RuntimeOptions } from './types';
import { DEFAULT_DAWN_TOGGLES, describeWebGPU, ensureWebGPU, markWebGPUReady, webgpuStateIfReady } from './webgpu';

const BACKENDS: readonly BackendName[] = ['webgpu', 'tensorflow', 'wasm', 'cpu'];

interface Choice {
  request: BackendRequest;
  backend: BackendName;
  reason: string;
  skipped: Array<{ backend: BackendName; why: string }>;
  versions: Record<string, string>;
}

// Shared through globalThis for the same reason as the WebGPU state (two module copies).
const CHOICE_KEY = Symbol.for('ttslab.runtime.choice');
const QUEUE_KEY = Symbol.for('ttslab.runtime.queue');
type GlobalWithChoice = typeof globalThis & { [CHOICE_KEY]?: Choice; [QUEUE_KEY]?: Promise<unknown> };
const g = globalThis as GlobalWithChoice;

/**
 * Starts a backend and makes it tfjs' active one. Safe to call again (from a notebook cell,
 * say): the same request returns at once, another switches backend; concurrent calls run one
 * after the other. Throws a `RuntimeError` that says what to install when an explicitly
 * requested backend cannot start; `auto` falls back down to `cpu` and never throws where
 * `cpu` works.
 */
export function initRuntime(options: RuntimeOptions = {}): Promise<RuntimeInfo> {
  const request = options.backend ?? 'auto';
  if (request !== 'auto' && !BACKENDS.includes(request)) {
    return Promise.reject(
      new RuntimeError('init-failed', `unknown backend '${String(request)}'; choose one of auto, ${BACKENDS.join(', ')}`),
    );
  }
  const run = async (): Promise<RuntimeInfo> => {
    const last = g[CHOICE_KEY];
    if (last && last.request === request && tf.getBackend() === last.backend) return runtimeInfo();
    const choice = request === 'auto' ? await chooseAuto(options) : await choose(request, options);
    g[CHOICE_KEY] = choice;
    const info = runtimeInfo();
    if (options.verbose) console.log(`[ttslab runtime] ${info.backend}: ${info.reason}`);
    return info;
  };
  const queued = (g[QUEUE_KEY] ?? Promise.resolve()).then(run, run);
  g[QUEUE_KEY] = queued.catch(() => undefined);
  return queued;
}

async function choose(backend: BackendName, options: RuntimeOptions): Promise<Choice> {
  const versions = await activate(backend, options);
  return { request: backend, backend, reason: `asked for '${backend}'`, skipped: [], versions };
}

/**
 * Fastest first: a hardware GPU through WebGPU (Vulkan), then libtensorflow (CUDA or
 * multi-threaded CPU), then wasm (XNNPACK, SIMD), a software WebGPU adapter, plain JS cpu.
 * A software adapter (Mesa lavapipe) ranks below wasm: it is correct but runs shaders on the
 * CPU (`node --import tsx bench/cpu.ts`: wasm 9 ms, lavapipe 64 ms, cpu 236 ms for a 512 matMul on 2 EPYC cores; docs/performance.md).
 */
async function chooseAuto(options: RuntimeOptions): Promise<Choice> {
  const skipped: Choice['skipped'] = [];
  const why = (e: unknown) => (e instanceof Error ? e.message.split('\n')[0] : String(e));
  let softwareWebGPU = false;
  try {
    const state = await ensureWebGPU(options.dawnToggles ?? DEFAULT_DAWN_TOGGLES);
    const info = describeWebGPU(state);
    if (!info.isFallbackAdapter) {
      const versions = await activate('webgpu', options);
      const f16 = info.features.includes('shader-f16') ? ', shader-f16' : '';
      const mm = info.subgroupMatrixConfigs.length > 0 ? `, ${info.subgroupMatrixConfigs.length} subgroup-matrix configs` : '';
      return {
        request: 'auto',
        backend: 'webgpu',
        reason: `hardware GPU '${info.description || info.device}' (${info.vendor}) through WebGPU/Vulkan${f16}${mm}`,
        skipped,
        versions,
      };
    }
    softwareWebGPU = true;
    skipped.push({ backend: 'webgpu', why: `adapter '${info.description}' is a software (CPU) Vulkan device; tried after wasm` });
  } catch (e) {
    skipped.push({ backend: 'webgpu', why: why(e) });
  }
  const order: BackendName[] = ['tensorflow', 'wasm', ...(softwareWebGPU ? (['webgpu'] as const) : [])];
  for (const backend of order) {
    try {
      const versions = await activate(backend, options);
      const reason =
        backend === 'tensorflow'
          ? `libtensorflow through ${versions['tfjs-node-gpu'] ? '@tensorflow/tfjs-node-gpu (CUDA)' : '@tensorflow/tfjs-node (CPU)'}; no hardware WebGPU adapter`
          : backend === 'wasm'
            ? 'WebAssembly with SIMD (XNNPACK); no GPU backend initialised'
            : 'software WebGPU adapter; no faster backend initialised';
      return { request: 'auto', backend, reason, skipped, versions };
    } catch (e) {
      skipped.push({ backend, why: why(e) });
    }
  }
  const versions = await activate('cpu', options);
  return { request: 'auto', backend: 'cpu', reason: 'plain JavaScript: every faster backend failed (see skipped)', skipped, versions };
}

/** Starts one backend and makes it active; returns the versions of what runs it. */
async function activate(backend: BackendName, options: RuntimeOptions): Promise<Record<string, string>> {
  const versions: Record<string, string> = { 'tfjs-core': tf.version_core, node: process.versions.node };
  switch (backend) {
    case 'webgpu': {
      const state = await ensureWebGPU(options.dawnToggles ?? DEFAULT_DAWN_TOGGLES);
      markWebGPUReady(state);
      versions['tfjs-backend-webgpu'] = packageVersion('@tensorflow/tfjs-backend-webgpu');
      versions.webgpu = packageVersion('webgpu');
      break;
    }
    case 'tensorflow':
      versions[loadTensorflowBackend()] = tf.version_core;
      break;
    case 'wasm':
      try {
        require('@tensorflow/tfjs-backend-wasm');
      } catch (e) {
        throw notInstalled('wasm', '@tensorflow/tfjs-backend-wasm', e);
      }
      versions['tfjs-backend-wasm'] = packageVersion('@tensorflow/tfjs-backend-wasm');
      // tfjs-backend-wasm 4.22 lacks the kernel gather's gradient needs (training losses).
      registerWasmUnsortedSegmentSum();
      break;
    case 'cpu':
      break;
  }
  let ok: boolean;
  try {
    ok = await tf.setBackend(backend);
    await tf.ready();
  } catch (e) {
    throw new RuntimeError('init-failed', `backend '${backend}' failed to initialise: ${String(e)}`, backend, { cause: e });
  }
  if (!ok || tf.getBackend() !== backend) {
    throw new RuntimeError('init-failed', `backend '${backend}' failed to initialise (tf.setBackend returned false; see the warning above)`, backend);
  }
  if (backend === 'cpu') silenceNodeHint();
  return versions;
}

/** Loads tfjs-node-gpu, else tfjs-node; returns the package name that loaded. */
function loadTensorflowBackend(): string {
  const missing = (e: unknown, pkg: string) =>
    (e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String((e as Error).message).includes(`'${pkg}'`);
  let gpuError: unknown;
  try {
    require('@tensorflow/tfjs-node-gpu');
    return 'tfjs-node-gpu';
  } catch (e) {
    // Present but not loading (native addon unbuilt, CUDA/cuDNN libraries missing) is
    // reported as such unless the CPU package loads instead.
    if (!missing(e, '@tensorflow/tfjs-node-gpu')) gpuError = e;
  }
  try {
    require('@tensorflow/tfjs-node');
    return 'tfjs-node';
  } catch (e) {
    if (gpuError) throw cudaLibrariesMissing(gpuError);
    if (!missing(e, '@tensorflow/tfjs-node')) {
      throw new RuntimeError('init-failed', `@tensorflow/tfjs-node is installed but does not load: ${String(e)}`, 'tensorflow', { cause: e });
    }
    throw notInstalled('tensorflow', '@tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node', e);
  }
}

function packageVersion(name: string): string {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * tfjs' cpu backend prints "install our node backend to speed things up" on first use; in
 * ttslab that advice is wrong (tfjs-node does not install here) and the choice was deliberate.
 */
function silenceNodeHint(): void {
  const cpu = tf.findBackend('cpu') as (tf.KernelBackend & { firstUse?: boolean }) | null;
  if (cpu && 'firstUse' in cpu) cpu.firstUse = false;
}

/** What runs now: backend, why, adapter features and limits (WebGPU), memory in use. */
export function runtimeInfo(): RuntimeInfo {
  const backend = tf.getBackend() as BackendName;
  const choice = g[CHOICE_KEY];
  const current = choice && choice.backend === backend ? choice : undefined;
  const mem = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
  const info: RuntimeInfo = {
    backend,
    reason: current?.reason ?? 'tfjs default: initRuntime() has not selected this backend',
    skipped: current?.skipped ?? [],
    versions: current?.versions ?? { 'tfjs-core': tf.version_core, node: process.versions.node },
    // tfjs-core exports the registry; the union package adds all gradients when loaded.
    gradientsRegistered: tf.getGradient('RealDiv') != null,
    memory: { numTensors: mem.numTensors, numBytes: mem.numBytes },
  };
  const state = webgpuStateIfReady();
  if (backend === 'webgpu' && state) {
    info.webgpu = describeWebGPU(state);
    info.memory.gpuBytesInUse = mem.numBytesInGPU;
    info.memory.gpuBytesAllocated = mem.numBytesAllocatedInGPU;
  }
  return info;
}
