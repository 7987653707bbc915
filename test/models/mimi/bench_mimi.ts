/**
 * Speed of the full-size codec (kyutai/mimi shapes: 512 hidden, 8+8 transformer layers,
 * 32 codebooks of 2048) with seeded random weights: encode and decode of a synthetic clip,
 * as a real-time factor. Prints one JSON line.
 *
 *   node --import tsx test/models/mimi/bench_mimi.ts [seconds=10]   # BACKEND=cpu|wasm|webgpu (default wasm)
 */
import * as tf from '@tensorflow/tfjs';
import { initRuntime } from '../../../src/runtime';
import type { BackendName } from '../../../src/runtime';
import { MIMI_DEFAULT_CONFIG, MimiModel } from '../../../src/models/mimi';

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 10);
  const backend = (process.env.BACKEND ?? 'wasm') as BackendName;
  await initRuntime({ backend });
  const model = await MimiModel.random(MIMI_DEFAULT_CONFIG, 1);
  const rate = MIMI_DEFAULT_CONFIG.samplingRate;
  // A chirp with some noise: every stage sees varied input (speed does not depend on it).
  const x = new Float32Array(rate * seconds).map((_, i) => 0.3 * Math.sin(0.0001 * i * i / rate * 440) + 0.01 * Math.sin(i * 1.7));
  await model.encode(x.subarray(0, rate), { progress: false }); // warm-up: kernels, buffers
  let t = performance.now();
  const codes = await model.encode(x, { progress: false });
  const encodeS = (performance.now() - t) / 1000;
  t = performance.now();
  const audio = await model.decode(codes, { progress: false });
  const decodeS = (performance.now() - t) / 1000;
  model.dispose();
  console.log(JSON.stringify({
    backend: tf.getBackend(), audio_s: seconds, frames: codes.shape[1], samples: audio.length,
    encode_s: +encodeS.toFixed(3), decode_s: +decodeS.toFixed(3),
    encode_x_realtime: +(seconds / encodeS).toFixed(2), decode_x_realtime: +(seconds / decodeS).toFixed(2),
    rss_mb: Math.round(process.memoryUsage().rss / 1e6), date: new Date().toISOString().slice(0, 10),
  }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
