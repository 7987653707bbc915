/** Shared helpers of the runtime tests: seeded data and relative error. */
import * as tf from '@tensorflow/tfjs';
import { initRuntime } from '../../src/runtime';
import { Rng } from '../../src/generate/rng';

// Lavapipe logs to XDG_RUNTIME_DIR; without one it warns on every start.
process.env.XDG_RUNTIME_DIR ??= '/tmp';

/** A seeded generator of [0, 1) numbers (the library's Rng), so every backend sees the same numbers. */
export function seeded(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** `size` values uniform in [lo, hi). */
export function uniform(size: number, seed: number, lo = -1, hi = 1): Float32Array {
  const rand = seeded(seed);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = lo + (hi - lo) * rand();
  return out;
}

/** ||a - b|| / ||b|| (0 when both are 0); NaN anywhere gives Infinity. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) || Number.isNaN(b[i])) return Infinity;
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  if (norm === 0) return Math.sqrt(diff);
  return Math.sqrt(diff / norm);
}

export type TestBackend = 'webgpu' | 'wasm' | 'cpu';

export async function use(backend: TestBackend): Promise<void> {
  await initRuntime({ backend });
}

/** Reads and disposes. */
export async function take(t: tf.Tensor): Promise<Float32Array> {
  const values = (await t.data()) as Float32Array;
  t.dispose();
  return Float32Array.from(values);
}

/** Round to the nearest f16 (ties to even), returned as a float: the CPU reference for toHalf. */
export function f16Round(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity;
  // Spacing of f16 values around a: 2^(e - 10), subnormals below 2^-14.
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  const ulp = 2 ** (e - 10);
  const q = a / ulp;
  let r = Math.round(q);
  if (Math.abs(q - Math.trunc(q) - 0.5) < 1e-12 && r % 2 === 1) r -= 1;
  return Math.sign(x) * r * ulp;
}
