/**
 * The fused WebGPU optimizer kernels (src/runtime/kernels/adamw.ts) against the reference
 * paths of src/train/optim.ts, on lavapipe here and in CI:
 * - AdamW: one WGSL dispatch per tensor (clip coefficient as gradScale) vs the tfjs-op chain
 *   on the cpu backend with clipGradsByNorm, over 5 steps: parameters and moments within
 *   1e-6 relative;
 * - AdamW8bit: 8-bit moments on the GPU (u8 codes packed in u32, f32 absmax per block) vs
 *   the host (float64 JavaScript) path. Each step starts both from the same state (the GPU
 *   state copied into the host optimizer through stateTensors/loadState, the checkpoint
 *   path), so every step is compared on its own: codes equal or one quantisation step apart
 *   (float32 vs float64 arithmetic near the midpoint between two map entries), absmax and
 *   parameters within 1e-6 relative. A free run of 5 steps on each side is compared too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { AdamW, AdamW8bit, clipCoefficient, clipGradsByNorm, decaysWeight, globalGradNorm } from '../../src/train/optim';
import type { Optimizer } from '../../src/train/optim';
import type { NamedVariable } from '../../src/train/types';
import type { TensorToWrite } from '../../src/weights/safetensors';
import type { WeightSource } from '../../src/weights/types';
import { relError, uniform, use } from '../runtime/helpers';

/** Sizes: ragged blocks (5003), several workgroups (70 000), float32 moments below min8bitSize (1000, 37). */
const SHAPES: number[][] = [[5003], [70, 1000], [1000], [37], [4096]];
const NAMES = ['layers.0.q_proj.lora_A.weight', 'layers.0.q_proj.lora_B.weight', 'layers.0.input_layernorm.weight', 'layers.0.bias', 'layers.1.v_proj.lora_A.weight'];
const STEPS = 5;
const LR = 2e-3;
const HP = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

function makeParams(): NamedVariable[] {
  return SHAPES.map((shape, i) => ({
    name: NAMES[i], decay: decaysWeight(NAMES[i]),
    variable: tf.tidy(() => tf.variable(tf.tensor(uniform(shape.reduce((a, b) => a * b, 1), 900 + i), shape))),
  }));
}

/** Gradients of step `step` (seeded), varied in scale so that clipping applies (norm > 1). */
function makeGrads(params: NamedVariable[], step: number): Map<string, tf.Tensor> {
  return new Map(params.map((p, i) => [p.name, tf.tensor(uniform(p.variable.size, 40 * step + i).map((x) => x * (0.2 + step) * (1 + i)), p.variable.shape)]));
}

async function stateArrays(opt: Optimizer): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [k, t] of opt.stateTensors()) {
    const d = typeof t.data === 'function' ? await t.data() : t.data;
    out.set(k, Float32Array.from(d as ArrayLike<number>));
  }
  return out;
}

/** A WeightSource over arrays (the moments as a checkpoint would hand them back). */
function arraySource(arrays: Map<string, Float32Array>): WeightSource {
  return {
    keys: () => [...arrays.keys()].sort(),
    has: (k) => arrays.has(k),
    info: () => { throw new Error('not used'); },
    getF32: async (k) => {
      const d = arrays.get(k);
      if (!d) throw new Error(`no ${k}`);
      return { shape: [d.length], data: d.slice() };
    },
  };
}

async function values(params: NamedVariable[]): Promise<Float32Array[]> {
  return Promise.all(params.map(async (p) => Float32Array.from((await p.variable.data()) as Float32Array)));
}

/** Runs STEPS steps with clipping to 1 on the active backend; returns parameters and state. */
async function run(make: (params: NamedVariable[]) => Optimizer, clipInside: boolean) {
  const params = makeParams();
  const opt = make(params);
  for (let s = 0; s < STEPS; s++) {
    const grads = makeGrads(params, s);
    const norm = await globalGradNorm(grads.values());
    if (clipInside) await opt.step(grads, LR, clipCoefficient(1, norm));
    else {
      clipGradsByNorm(grads, 1, norm);
      await opt.step(grads, LR);
    }
    for (const g of grads.values()) g.dispose();
  }
  const out = { params: await values(params), state: await stateArrays(opt), path: opt.path, bytes: opt.stateBytes() };
  opt.dispose();
  for (const p of params) p.variable.dispose();
  return out;
}

test('fused AdamW on webgpu (clip as gradScale) equals the tfjs-op path on cpu over 5 steps within 1e-6', async () => {
  await use('webgpu');
  const before = tf.memory().numTensors;
  const gpu = await run((p) => new AdamW(p, HP), true);
  assert.equal(gpu.path, 'webgpu-fused');
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  await use('cpu');
  const cpu = await run((p) => new AdamW(p, HP), false);
  assert.equal(cpu.path, 'tfjs-ops');
  for (let i = 0; i < SHAPES.length; i++) {
    const e = relError(gpu.params[i], cpu.params[i]);
    assert.ok(e < 1e-6, `${NAMES[i]}: parameter relative error ${e}`);
  }
  for (const [k, ref] of cpu.state) {
    const e = relError(gpu.state.get(k)!, ref);
    assert.ok(e < 1e-6, `${k}: relative error ${e}`);
  }
  // The update really moved the parameters (a kernel that wrote nothing would fail here).
  const init = uniform(5003, 900);
  assert.ok(relError(gpu.params[0], init) > 1e-4, 'parameters did not move');
});

test('fused AdamW: gradScale equals clipping first, on the tfjs-op path too', async () => {
  await use('cpu');
  const a = await run((p) => new AdamW(p, HP), true);
  const b = await run((p) => new AdamW(p, HP), false);
  for (let i = 0; i < SHAPES.length; i++) assert.deepEqual(a.params[i], b.params[i], NAMES[i]);
});

/** Codes compared: how many differ, and by how much at most. */
function codeDiff(a: Float32Array, b: Float32Array): { differ: number; maxDiff: number } {
  let differ = 0;
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d) differ++;
    maxDiff = Math.max(maxDiff, d);
  }
  return { differ, maxDiff };
}

test('8-bit AdamW on the GPU equals the host path step by step: codes within one step, absmax and parameters within 1e-6', async () => {
  await use('webgpu');
  const before = tf.memory().numTensors;
  const pg = makeParams();
  const ph = makeParams();
  const gpu = new AdamW8bit(pg, HP);
  const host = new AdamW8bit(ph, { ...HP, fused: false });
  assert.equal(gpu.path, 'webgpu-fused');
  assert.equal(host.path, 'host');
  let differ = 0;
  let codes = 0;
  for (let s = 0; s < STEPS; s++) {
    // Same start: the GPU's state and parameters copied to the host side.
    await host.loadState(arraySource(await stateArrays(gpu)), gpu.stepCount);
    for (let i = 0; i < pg.length; i++) ph[i].variable.assign(pg[i].variable);
    const grads = makeGrads(pg, s);
    const coef = clipCoefficient(1, await globalGradNorm(grads.values()));
    await gpu.step(grads, LR, coef);
    await host.step(grads, LR, coef);
    for (const g of grads.values()) g.dispose();
    const [sg, sh] = [await stateArrays(gpu), await stateArrays(host)];
    assert.deepEqual([...sg.keys()].sort(), [...sh.keys()].sort());
    for (const [k, ref] of sh) {
      const got = sg.get(k)!;
      if (/\.state[12]$/.test(k)) {
        const d = codeDiff(got, ref);
        assert.ok(d.maxDiff <= 1, `step ${s + 1} ${k}: codes differ by up to ${d.maxDiff}`);
        differ += d.differ;
        codes += ref.length;
      } else {
        const e = relError(got, ref);
        assert.ok(e < 1e-6, `step ${s + 1} ${k}: relative error ${e}`);
      }
    }
    const [vg, vh] = [await values(pg), await values(ph)];
    for (let i = 0; i < pg.length; i++) assert.ok(relError(vg[i], vh[i]) < 1e-6, `step ${s + 1} ${NAMES[i]}: parameter relative error ${relError(vg[i], vh[i])}`);
  }
  // Moved at all, and codes not all zero (a kernel that skipped the quantisation would fail).
  const st = await stateArrays(gpu);
  assert.ok(st.get(`${NAMES[0]}.state1`)!.some((c, i, a) => c !== a[0]), 'm codes all equal');
  assert.ok(differ <= codes * 1e-3, `${differ} of ${codes} codes one step apart`);
  console.log(`8-bit GPU vs host, per step from the same state: ${differ} of ${codes} codes one step apart, the rest identical`);
  // Optimizer state bytes on the GPU: u8 codes (4 per word) + f32 absmax per 256, float32 below 4096 values.
  const eightBit = [5003, 70_000, 4096];
  const expected = eightBit.reduce((n, k) => n + 2 * 4 * Math.ceil(k / 4) + 2 * 4 * Math.ceil(k / 256), 0) + (1000 + 37) * 8;
  assert.equal(gpu.stateBytes(), expected);
  assert.equal(host.stateBytes(), eightBit.reduce((n, k) => n + 2 * k + 2 * 4 * Math.ceil(k / 256), 0) + (1000 + 37) * 8);
  console.log(`optimizer state: GPU ${gpu.stateBytes()} B, host ${host.stateBytes()} B, float32 AdamW ${8 * (5003 + 70_000 + 1000 + 37 + 4096)} B`);
  gpu.dispose();
  host.dispose();
  for (const p of [...pg, ...ph]) p.variable.dispose();
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
});

test('8-bit AdamW free run: GPU on webgpu vs host path on cpu over 5 steps', async () => {
  await use('webgpu');
  const gpu = await run((p) => new AdamW8bit(p, HP), true);
  assert.equal(gpu.path, 'webgpu-fused');
  await use('cpu');
  const cpu = await run((p) => new AdamW8bit(p, HP), false);
  assert.equal(cpu.path, 'host');
  let differ = 0;
  let maxDiff = 0;
  for (const [k, ref] of cpu.state) {
    if (/\.state[12]$/.test(k)) {
      const d = codeDiff(gpu.state.get(k)!, ref);
      differ += d.differ;
      maxDiff = Math.max(maxDiff, d.maxDiff);
    }
  }
  console.log(`8-bit free run: ${differ} codes differ, by at most ${maxDiff}`);
  assert.ok(maxDiff <= 1, `codes differ by up to ${maxDiff}`);
  for (let i = 0; i < SHAPES.length; i++) {
    const e = relError(gpu.params[i], cpu.params[i]);
    assert.ok(e < 1e-5, `${NAMES[i]}: parameter relative error ${e}`);
  }
});

test('8-bit AdamW: a checkpoint of the GPU state loads into the host path and back (same entries, same values)', async () => {
  await use('webgpu');
  const p = makeParams();
  const gpu = new AdamW8bit(p, HP);
  const grads = makeGrads(p, 0);
  await gpu.step(grads, LR);
  for (const g of grads.values()) g.dispose();
  const saved = await stateArrays(gpu);
  const host = new AdamW8bit(makeParams(), { ...HP, fused: false });
  await host.loadState(arraySource(saved), gpu.stepCount);
  const back = new AdamW8bit(makeParams(), HP);
  await back.loadState(arraySource(await stateArrays(host)), host.stepCount);
  const again = await stateArrays(back);
  for (const [k, v] of saved) assert.deepEqual(again.get(k), v, k);
  const entries: Map<string, TensorToWrite> = gpu.stateTensors();
  assert.equal(entries.get(`${NAMES[0]}.state1`)!.dtype, 'U8');
  for (const o of [gpu, host, back]) o.dispose();
});
