/**
 * AdamW against a step computed by hand (torch.optim.AdamW's formulas in plain JS
 * numbers), weight-decay masks, 8-bit AdamW against 32-bit, the dynamic quantisation map,
 * schedules against transformers' formulas written out per step, clipping, state round trip.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { AdamW, AdamW8bit, clipGradsByNorm, decaysWeight, globalGradNorm } from '../../src/train/optim';
import type { Optimizer } from '../../src/train/optim';
import { SIGNED_DYNAMIC_MAP, UNSIGNED_DYNAMIC_MAP, createDynamicMap, dequantize, quantize } from '../../src/train/quant8';
import { learningRateAt, lrLambda } from '../../src/train/schedule';
import { writeSafetensors } from '../../src/weights/safetensors';
import { Checkpoint } from '../../src/weights/checkpoint';
import { Rng } from '../../src/generate/rng';
import type { NamedVariable } from '../../src/train/types';

let tmp: string;
before(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'ttslab-optim-'));
});
after(() => rm(tmp, { recursive: true, force: true }));

function param(name: string, values: number[]): NamedVariable {
  return { name, variable: tf.variable(tf.tensor1d(values)), decay: decaysWeight(name) };
}

test('HF decay mask: LoRA A/B decayed, biases and norm weights not', () => {
  assert.equal(decaysWeight('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'), true);
  assert.equal(decaysWeight('base_model.model.model.layers.0.mlp.down_proj.lora_B.weight'), true);
  assert.equal(decaysWeight('model.layers.0.self_attn.q_proj.bias'), false);
  assert.equal(decaysWeight('model.layers.0.input_layernorm.weight'), false);
  assert.equal(decaysWeight('model.norm.weight'), false);
  assert.equal(decaysWeight('encoder.layer_norm.weight'), false);
});

test('AdamW equals torch.optim.AdamW computed by hand over 3 steps', async () => {
  const lr = 0.1;
  const wd = 0.5;
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const a = param('x.lora_A.weight', [1.0]);
  const n = param('model.norm.weight', [-2.0]);
  const opt = new AdamW([a, n], { beta1: b1, beta2: b2, eps, weightDecay: wd });
  const gradsA = [0.5, -0.25, 2.0];
  const gradsN = [-1.5, 0.3, 0.0];
  // Hand computation, torch's single-tensor AdamW: decay, moments, bias-corrected step.
  const w = [1.0, -2.0];
  const m = [0, 0];
  const v = [0, 0];
  for (let t = 1; t <= 3; t++) {
    const g = [gradsA[t - 1], gradsN[t - 1]];
    for (let i = 0; i < 2; i++) {
      if (i === 0) w[i] *= 1 - lr * wd; // only the non-norm parameter decays
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const mHat = m[i] / (1 - b1 ** t);
      const vHat = v[i] / (1 - b2 ** t);
      w[i] -= (lr * mHat) / (Math.sqrt(vHat) + eps);
    }
    const grads = new Map<string, tf.Tensor>([[a.name, tf.tensor1d([g[0]])], [n.name, tf.tensor1d([g[1]])]]);
    await opt.step(grads, lr);
    tf.dispose([...grads.values()]);
    if (t === 1) {
      // First step of Adam: |update| = lr (m_hat / sqrt(v_hat) = sign(g)).
      assert.ok(Math.abs(a.variable.dataSync()[0] - (1.0 * (1 - lr * wd) - lr)) < 1e-6);
      assert.ok(Math.abs(n.variable.dataSync()[0] - (-2.0 + lr)) < 1e-6);
    }
  }
  assert.ok(Math.abs(a.variable.dataSync()[0] - w[0]) < 1e-6, `${a.variable.dataSync()[0]} vs ${w[0]}`);
  assert.ok(Math.abs(n.variable.dataSync()[0] - w[1]) < 1e-6, `${n.variable.dataSync()[0]} vs ${w[1]}`);
  assert.equal(opt.stepCount, 3);
  assert.equal(opt.stateBytes(), 2 * 2 * 4);
  opt.dispose();
  tf.dispose([a.variable, n.variable]);
});

test('the dynamic maps are bitsandbytes\' layout: 256 sorted entries, 0 and 1, 1e-7 .. 1', () => {
  for (const [map, signed] of [[SIGNED_DYNAMIC_MAP, true], [UNSIGNED_DYNAMIC_MAP, false]] as const) {
    assert.equal(map.length, 256);
    for (let i = 1; i < 256; i++) assert.ok(map[i] > map[i - 1], `strictly increasing at ${i}`);
    assert.equal(map[255], 1);
    assert.ok(map.includes(0));
    const positive = [...map].filter((x) => x > 0);
    // Smallest positive: the first midpoint of the 1e-6 decade's grid on [0.1, 1]: 1 cell
    // signed ((0.1 + 1) / 2), 2 cells unsigned ((0.1 + 0.55) / 2).
    const smallest = (signed ? 0.55 : 0.325) * 1e-6;
    assert.ok(Math.abs(positive[0] - smallest) < 1e-12, `${positive[0]}`);
    if (signed) {
      assert.equal(map[0], -map[254]); // symmetric except the extra +1
      assert.equal(positive.length, 128);
    } else {
      assert.equal(map[0], 0);
      assert.equal(positive.length, 255);
    }
  }
  assert.deepEqual(createDynamicMap(true), SIGNED_DYNAMIC_MAP);
});

test('block-wise quantisation picks the nearest code of value / block absmax', () => {
  const rng = new Rng(5);
  const x = Float32Array.from({ length: 1000 }, () => rng.normal() * 10 ** Math.floor(rng.uniform(-4, 1)));
  const q = quantize(x, SIGNED_DYNAMIC_MAP, 256);
  assert.equal(q.absmax.length, 4);
  const d = dequantize(q, SIGNED_DYNAMIC_MAP, 256);
  for (let i = 0; i < x.length; i++) {
    const absmax = q.absmax[Math.floor(i / 256)];
    let best = Infinity;
    for (const c of SIGNED_DYNAMIC_MAP) best = Math.min(best, Math.abs(c - x[i] / absmax));
    assert.ok(Math.abs(Math.abs(d[i] / absmax - x[i] / absmax) - best) < 1e-6, `element ${i} not the nearest code`);
  }
  // Each block's largest magnitude is its absmax; it comes back within the map's top spacing
  // (exact when positive: the map holds 1.0 but not -1.0).
  for (let b = 0; b < 4; b++) {
    const block = x.subarray(b * 256, (b + 1) * 256);
    const k = block.reduce((j, v, i) => (Math.abs(v) > Math.abs(block[j]) ? i : j), 0);
    assert.equal(q.absmax[b], Math.abs(block[k]));
    if (block[k] > 0) assert.equal(Math.fround(d[b * 256 + k]), block[k]);
    else assert.ok(Math.abs(d[b * 256 + k] - block[k]) <= 0.0071 * q.absmax[b]);
  }
});

/** A quadratic with per-coordinate curvature: grad = c * (w - target). */
async function runQuadratic(opt: Optimizer, p: NamedVariable, c: tf.Tensor, target: tf.Tensor, steps: number, lr: number): Promise<number[]> {
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    // Seeded gradient noise, as minibatch gradients have: the same for both optimizers.
    const g = tf.tidy(() => p.variable.sub(target).mul(c).add(tf.randomNormal(c.shape, 0, 0.3, 'float32', s)));
    losses.push(tf.tidy(() => p.variable.sub(target).square().mul(c).sum().mul(0.5)).dataSync()[0]);
    await opt.step(new Map([[p.name, g]]), lr);
    g.dispose();
  }
  return losses;
}

/**
 * Tolerances measured on this problem (seeded): the 8-bit loss curve stays within 7% of
 * the 32-bit one at every step and the weights within 5% of the distance they moved.
 * Quantisation error is the dynamic map's: ~0.7% of a block's absmax near the top,
 * coarser for moments far below it.
 */
test('8-bit AdamW tracks 32-bit AdamW (loss within 7% per step, weights within 5%) with < 30% of the state memory', async () => {
  const n = 8192;
  const rng = new Rng(11);
  const w0 = Float32Array.from({ length: n }, () => rng.normal());
  const c = tf.tensor1d(Float32Array.from({ length: n }, () => 10 ** rng.uniform(-1, 0.5)));
  const target = tf.tensor1d(Float32Array.from({ length: n }, () => rng.normal()));
  const p32 = { name: 'w.lora_A.weight', variable: tf.variable(tf.tensor1d(w0)), decay: true };
  const p8 = { name: 'w.lora_A.weight', variable: tf.variable(tf.tensor1d(w0)), decay: true };
  const options = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
  const o32 = new AdamW([p32], options);
  const o8 = new AdamW8bit([p8], options);
  const l32 = await runQuadratic(o32, p32, c, target, 100, 0.02);
  const l8 = await runQuadratic(o8, p8, c, target, 100, 0.02);
  assert.ok(l32[99] < 0.2 * l32[0], 'the problem is being solved');
  let worst = 0;
  for (let s = 0; s < 100; s++) worst = Math.max(worst, Math.abs(l8[s] - l32[s]) / l32[s]);
  console.log(`8-bit vs 32-bit AdamW: worst relative loss difference ${worst.toFixed(4)}`);
  assert.ok(worst <= 0.07, `8-bit loss curve differs by ${worst}`);
  const a = p8.variable.dataSync();
  const b = p32.variable.dataSync();
  let diff = 0;
  let moved = 0;
  for (let i = 0; i < n; i++) {
    diff += (a[i] - b[i]) ** 2;
    moved += (b[i] - w0[i]) ** 2;
  }
  const rel = Math.sqrt(diff / moved);
  console.log(`8-bit vs 32-bit AdamW: weight difference / distance moved ${rel.toFixed(4)}`);
  assert.ok(rel < 0.05, `8-bit vs 32-bit weights: ${rel}`);
  // 2 uint8 codes + 2 float32 absmax per 256 values vs 2 float32 moments.
  assert.equal(o8.stateBytes(), 2 * n + 2 * 4 * (n / 256));
  assert.equal(o32.stateBytes(), 8 * n);
  assert.ok(o8.stateBytes() / o32.stateBytes() < 0.3, `ratio ${o8.stateBytes() / o32.stateBytes()}`);
  o32.dispose();
  o8.dispose();
  tf.dispose([c, target, p8.variable, p32.variable]);
});

test('optimizer state round-trips through safetensors: the next step is identical', async () => {
  for (const kind of ['adamw', 'adamw_8bit'] as const) {
    const rng = new Rng(2);
    const w0 = Float32Array.from({ length: 5000 }, () => rng.normal());
    const grads = [0, 1, 2].map(() => Float32Array.from({ length: 5000 }, () => rng.normal()));
    const make = () => {
      const p = { name: 'p.lora_B.weight', variable: tf.variable(tf.tensor1d(w0)), decay: true };
      const o = kind === 'adamw' ? new AdamW([p], { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 })
        : new AdamW8bit([p], { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
      return { p, o };
    };
    const stepWith = async (x: { p: NamedVariable; o: Optimizer }, g: Float32Array) => {
      const t = tf.tensor1d(g);
      await x.o.step(new Map([[x.p.name, t]]), 1e-3);
      t.dispose();
    };
    const first = make();
    await stepWith(first, grads[0]);
    await stepWith(first, grads[1]);
    const file = join(tmp, `${kind}.safetensors`);
    await writeSafetensors(file, first.o.stateTensors());
    const second = make();
    second.p.variable.assign(tf.tensor1d(first.p.variable.dataSync() as Float32Array));
    await second.o.loadState(await Checkpoint.open(file), first.o.stepCount);
    await stepWith(first, grads[2]);
    await stepWith(second, grads[2]);
    assert.deepEqual(second.p.variable.dataSync(), first.p.variable.dataSync(), kind);
    for (const x of [first, second]) {
      x.o.dispose();
      x.p.variable.dispose();
    }
  }
});

test('schedules equal transformers\' get_*_schedule_with_warmup at every step (warmup 3, 10 steps)', () => {
  // lambda(k) written out per transformers' lr_lambda; update u uses lambda(u - 1).
  const linear = [0, 1 / 3, 2 / 3, 1, 6 / 7, 5 / 7, 4 / 7, 3 / 7, 2 / 7, 1 / 7];
  const cosine = [0, 1 / 3, 2 / 3, ...[0, 1, 2, 3, 4, 5, 6].map((j) => 0.5 * (1 + Math.cos((Math.PI * j) / 7)))];
  const constantWarm = [0, 1 / 3, 2 / 3, 1, 1, 1, 1, 1, 1, 1];
  for (let k = 0; k < 10; k++) {
    const base = { learningRate: 2e-4, warmupSteps: 3, maxSteps: 10 };
    assert.ok(Math.abs(learningRateAt({ ...base, schedule: 'linear' }, k + 1) - 2e-4 * linear[k]) < 1e-15, `linear ${k}`);
    assert.ok(Math.abs(learningRateAt({ ...base, schedule: 'cosine' }, k + 1) - 2e-4 * cosine[k]) < 1e-15, `cosine ${k}`);
    assert.ok(Math.abs(learningRateAt({ ...base, schedule: 'constant_with_warmup' }, k + 1) - 2e-4 * constantWarm[k]) < 1e-15);
    // get_scheduler("constant") ignores warmup.
    assert.equal(learningRateAt({ ...base, schedule: 'constant' }, k + 1), 2e-4);
  }
  assert.equal(lrLambda('cosine', 10, 3, 10), 0);
  assert.equal(lrLambda('linear', 12, 3, 10), 0);
  assert.equal(lrLambda('linear', 0, 0, 10), 1);
});

test('clipping by global norm as clip_grad_norm_', async () => {
  const g = new Map<string, tf.Tensor>([['a', tf.tensor1d([3, 4])], ['b', tf.tensor1d([12])]]);
  const norm = await globalGradNorm(g.values());
  assert.ok(Math.abs(norm - 13) < 1e-5);
  const coef = clipGradsByNorm(g, 1, norm);
  assert.ok(Math.abs(coef - 1 / (13 + 1e-6)) < 1e-12);
  const a = g.get('a')!.dataSync();
  assert.ok(Math.abs(a[0] - 3 / 13) < 1e-6 && Math.abs(a[1] - 4 / 13) < 1e-6);
  assert.ok(Math.abs((await globalGradNorm(g.values())) - 1) < 1e-5);
  // Below the limit nothing changes (same tensors).
  const before = g.get('b')!;
  assert.equal(clipGradsByNorm(g, 5, 1), 1);
  assert.equal(g.get('b'), before);
  assert.ok(Number.isNaN(await globalGradNorm([tf.tensor1d([1, Number.NaN])])));
  tf.dispose([...g.values()]);
});
