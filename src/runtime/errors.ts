/**
 * Errors the runtime raises at its boundary. Each message says what is missing and the
 * command that fixes it, since the person reading it is usually in a notebook cell.
 */
import type { BackendName } from './types';

export type RuntimeErrorCode =
  | 'no-vulkan-loader'
  | 'no-adapter'
  | 'no-device'
  | 'not-installed'
  | 'cuda-libraries-missing'
  | 'init-failed'
  | 'not-webgpu'
  | 'missing-feature';

export class RuntimeError extends Error {
  constructor(
    readonly code: RuntimeErrorCode,
    message: string,
    readonly backend?: BackendName,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RuntimeError';
  }
}

/** The npm line that installs each backend's package (versions pinned to the tfjs in package.json). */
export const INSTALL_HINT: Record<BackendName, string> = {
  webgpu: 'npm install @tensorflow/tfjs-backend-webgpu@4.22.0 webgpu@0.6.2',
  tensorflow:
    'npm install @tensorflow/tfjs-node-gpu@4.22.0 (NVIDIA, needs CUDA 11.2 + cuDNN 8.1) or npm install @tensorflow/tfjs-node@4.22.0 (CPU)',
  wasm: 'npm install @tensorflow/tfjs-backend-wasm@4.22.0',
  cpu: 'npm install @tensorflow/tfjs@4.22.0',
};

export function notInstalled(backend: BackendName, pkg: string, cause?: unknown): RuntimeError {
  return new RuntimeError(
    'not-installed',
    `backend '${backend}' needs the package ${pkg}, which is not installed. Install it with: ${INSTALL_HINT[backend]}`,
    backend,
    { cause },
  );
}

export function noVulkanLoader(searched: string[]): RuntimeError {
  return new RuntimeError(
    'no-vulkan-loader',
    'WebGPU (Dawn) needs the Vulkan loader libvulkan.so.1, which was not found ' +
      `(looked in: ${searched.join(', ')}). On Debian/Ubuntu: ` +
      '`apt-get install libvulkan1 mesa-vulkan-drivers` (mesa-vulkan-drivers gives the CPU device lavapipe; ' +
      'Debian 12 needs it from bookworm-backports, >= 25). On an NVIDIA machine install the NVIDIA driver, ' +
      'and libvulkan1 libglvnd0 libglx0 libgl1 libegl1 libgles2 libopengl0 ' +
      '(scripts/gpu/run.sh unpacks these from .gpu/ on machines without a package registry).',
    'webgpu',
  );
}

export function noAdapter(detail: string): RuntimeError {
  return new RuntimeError(
    'no-adapter',
    `WebGPU (Dawn) found the Vulkan loader but no adapter: ${detail}. Install a Vulkan driver: ` +
      '`apt-get install mesa-vulkan-drivers` (CPU lavapipe; Debian 12: from bookworm-backports) or the NVIDIA driver. ' +
      'On NVIDIA containers point the loader at the driver: ' +
      'export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ' +
      '__EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ' +
      '(the NVIDIA ICD also needs libglvnd0 libglx0 libgl1 libegl1 from Debian). `vulkaninfo --summary` shows what the loader sees.',
    'webgpu',
  );
}

export function cudaLibrariesMissing(cause: unknown): RuntimeError {
  const detail = cause instanceof Error ? cause.message.split('\n')[0] : String(cause);
  return new RuntimeError(
    'cuda-libraries-missing',
    '@tensorflow/tfjs-node-gpu is installed but does not load: it needs its native addon (built at install time, ' +
      'downloading libtensorflow) and the CUDA 11.2 and cuDNN 8.1 libraries on LD_LIBRARY_PATH. ' +
      'Rebuild it with `npm rebuild @tensorflow/tfjs-node-gpu` after installing CUDA 11.2 + cuDNN 8.1, ' +
      `or use backend 'webgpu', which needs only a Vulkan driver. Loader said: ${detail}`,
    'tensorflow',
    { cause },
  );
}
