/**
 * Backs `auto`'s order on machines without a GPU: f32 matMul 512x512x512, median ms of 5
 * after 2 warm-ups, on wasm, cpu and (software) webgpu. Usage: node --import tsx bench/cpu.ts
 */
import * as tf from '@tensorflow/tfjs';
import { initRuntime } from '../src/runtime';

async function main(): Promise<void> {
  const n = 512;
  for (const backend of ['wasm', 'cpu', 'webgpu'] as const) {
    const info = await initRuntime({ backend });
    const [a, b] = [tf.randomNormal([n, n]), tf.randomNormal([n, n])];
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const start = performance.now();
      const c = tf.matMul(a, b);
      await c.data(); // waits for the device, on every backend
      c.dispose();
      if (i >= 2) times.push(performance.now() - start);
    }
    tf.dispose([a, b]);
    const ms = times.sort((x, y) => x - y)[2];
    console.log(`${backend}${info.webgpu ? ` (${info.webgpu.description})` : ''}: matMul ${n} ${ms.toFixed(1)} ms, ${((2 * n ** 3) / ms / 1e6).toFixed(1)} GFLOP/s`);
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
