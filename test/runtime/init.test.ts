import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initRuntime, runtimeInfo, RuntimeError, findVulkanLoader } from '../../src/runtime';
import { noVulkanLoader } from '../../src/runtime/errors';
import './helpers';

test("initRuntime({backend: 'webgpu'}) starts Dawn and reports the adapter", async () => {
  const info = await initRuntime({ backend: 'webgpu' });
  assert.equal(info.backend, 'webgpu');
  assert.equal(tf.getBackend(), 'webgpu');
  assert.ok(info.webgpu, 'webgpu section present');
  assert.ok(info.webgpu.description.length > 0);
  assert.ok(info.webgpu.limits.maxStorageBufferBindingSize >= 128 * 2 ** 20, 'storage binding limit raised to the adapter maximum');
  // Every wanted feature the adapter has is enabled on the device.
  for (const f of ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix', 'timestamp-query']) {
    assert.equal(info.webgpu.features.includes(f), info.webgpu.adapterFeatures.includes(f), f);
  }
  assert.ok(info.gradientsRegistered);
  assert.match(info.reason, /asked for/);
});

test('initRuntime is idempotent: same backend, same device, no new tensors', async () => {
  const before = tf.memory().numTensors;
  const backendObject = tf.backend();
  const [a, b] = await Promise.all([initRuntime({ backend: 'webgpu' }), initRuntime({ backend: 'webgpu' })]);
  assert.equal(a.backend, 'webgpu');
  assert.equal(b.backend, 'webgpu');
  assert.equal(tf.backend(), backendObject);
  // Switching away and back reuses the registered backend.
  await initRuntime({ backend: 'cpu' });
  assert.equal(tf.getBackend(), 'cpu');
  await initRuntime({ backend: 'webgpu' });
  assert.equal(tf.backend(), backendObject);
  assert.equal(tf.memory().numTensors, before);
});

test("the webgpu backend explains that dataSync needs 'await data()' in Node", async () => {
  await initRuntime({ backend: 'webgpu' });
  // Large enough that tfjs runs it on the GPU rather than forwarding it to the CPU.
  const t = tf.tidy(() => tf.add(tf.ones([4096]), 1));
  assert.throws(() => t.dataSync(), /await tensor\.data\(\)/);
  assert.equal((await t.data())[4095], 2);
  t.dispose();
});

test('auto picks a backend, says why, and lists what it passed over', async () => {
  const info = await initRuntime({ backend: 'auto' });
  assert.ok(['webgpu', 'tensorflow', 'wasm', 'cpu'].includes(info.backend));
  assert.equal(tf.getBackend(), info.backend);
  assert.ok(info.reason.length > 10, info.reason);
  if (info.backend !== 'webgpu') assert.ok(info.skipped.some((s) => s.backend === 'webgpu'), JSON.stringify(info.skipped));
  const x = tf.tidy(() => tf.sum(tf.mul(tf.ones([3]), 2)));
  assert.equal((await x.data())[0], 6);
  x.dispose();
  assert.deepEqual(runtimeInfo().backend, info.backend);
});

test("asking for 'tensorflow' without a working libtensorflow says what to install", async () => {
  await assert.rejects(initRuntime({ backend: 'tensorflow' }), (e: unknown) => {
    assert.ok(e instanceof RuntimeError);
    // Installed-but-broken tfjs-node-gpu (this machine) or not installed at all (npm ci where the optional install failed).
    assert.ok(['cuda-libraries-missing', 'not-installed'].includes(e.code), e.code);
    if (e.code === 'cuda-libraries-missing') assert.match(e.message, /CUDA 11\.2.*cuDNN 8\.1/);
    assert.match(e.message, /npm (install|rebuild) @tensorflow\/tfjs-node/);
    return true;
  });
  // A failed request leaves a working backend active.
  await initRuntime({ backend: 'cpu' });
  assert.equal(tf.getBackend(), 'cpu');
});

test('an unknown backend name is refused with the list of choices', async () => {
  await assert.rejects(initRuntime({ backend: 'cuda' as never }), /unknown backend 'cuda'; choose one of auto, webgpu, tensorflow, wasm, cpu/);
});

test('a missing Vulkan loader is named with the Debian packages to install', async () => {
  // Only the message can be checked here (this machine has the loader); the lookup itself must find it.
  assert.ok(findVulkanLoader().found, 'libvulkan.so.1 found on this machine');
  const e = noVulkanLoader(['/usr/lib']);
  assert.equal(e.code, 'no-vulkan-loader');
  assert.match(e.message, /libvulkan1/);
  assert.match(e.message, /mesa-vulkan-drivers/);
  assert.match(e.message, /NVIDIA driver/);
});
