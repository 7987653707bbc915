/**
 * `npm run bench`: matmul TFLOP/s (f32 through tfjs, f16 through ttslab's kernel), Llama-3.2-1B
 * attention and decoder block forward+backward times on the active WebGPU device, with the
 * same measurements from PyTorch in the same command when python3 has torch and CUDA.
 * Writes bench/results/<date>-<device>.json ({device, date, rows: [{name, unit, ttslab, pytorch}]},
 * merging with rows other issues put there) and prints the table.
 *
 * Timing: warm-ups first (pipeline compilation, buffer pool), then `reps` runs back to back
 * with the GPU queue drained (`queue.onSubmittedWorkDone`) before and after; the median of
 * three such batches, per run. Flags: --quick (small sizes, for lavapipe), --out DIR (copy the JSON).
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  initRuntime,
  runtimeInfo,
  gpuContext,
  synchronize,
  toHalf,
  fromHalf,
  matmulHalf,
  matmulHalfPlan,
  prepareMatmulHalf,
  rmsNorm,
  DEFAULT_TILING,
  type SubgroupMatrixTiling,
} from '../src/runtime';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
/** `--only matmul,attention,block` runs those groups alone (default: all). */
const onlyArg = args.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const only = new Set((onlyArg ?? 'matmul,attention,block').split(','));
for (const g of only) if (!['matmul', 'attention', 'block'].includes(g)) throw new Error(`--only: unknown group ${JSON.stringify(g)} (matmul, attention, block)`);
const outDir = args.includes('--out') ? args[args.indexOf('--out') + 1] : undefined;

// Llama-3.2-1B (HF config): hidden 2048, intermediate 8192, 32 heads, 8 kv heads, head_dim 64.
const LLAMA = { hidden: 2048, ffn: 8192, heads: 32, kv_heads: 8, head_dim: 64 };
const CONFIG = quick
  ? { ...LLAMA, hidden: 256, ffn: 1024, heads: 8, kv_heads: 2, matmul_sizes: [256, 512], attention: [[1, 128]], block: [[1, 64]] }
  : { ...LLAMA, matmul_sizes: [1024, 2048, 4096, 8192], attention: [[1, 512], [1, 2048], [2, 2048]], block: [[1, 512], [2, 1024]] };

interface Row {
  name: string;
  unit: string;
  ttslab: number | null;
  pytorch: number | null;
  note?: string;
}
const rows: Row[] = [];

/** Median seconds per call of `fn` (which queues GPU work and disposes its own results). */
async function time(fn: () => void, reps: number, warmup = 2): Promise<number> {
  const ctx = gpuContext();
  for (let i = 0; i < warmup; i++) fn();
  await synchronize(ctx);
  const batches: number[] = [];
  for (let b = 0; b < 3; b++) {
    const start = performance.now();
    for (let i = 0; i < reps; i++) fn();
    await synchronize(ctx);
    batches.push((performance.now() - start) / 1e3 / reps);
  }
  return batches.sort((a, b) => a - b)[1];
}

function relError(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d / n);
}

async function matmuls(): Promise<void> {
  for (const n of CONFIG.matmul_sizes) {
    const [a, b] = [tf.randomNormal([n, n]), tf.randomNormal([n, n])];
    const reps = Math.max(2, Math.round(2 ** 33 / n ** 3));
    const s = await time(() => tf.matMul(a, b).dispose(), reps);
    rows.push({ name: `matmul f32 ${n}`, unit: 'TFLOP/s', ttslab: (2 * n ** 3) / s / 1e12, pytorch: null, note: 'tfjs-backend-webgpu tf.matMul' });
    tf.dispose([a, b]);
  }
  // f16: every tiling that compiles and is right, keep the fastest per size.
  const tilings: SubgroupMatrixTiling[] = [
    DEFAULT_TILING,
    { BM: 64, BN: 64, BK: 32, sgRows: 2, sgCols: 2 },
    { BM: 128, BN: 128, BK: 32, sgRows: 4, sgCols: 2 },
    { BM: 128, BN: 256, BK: 32, sgRows: 2, sgCols: 4 },
    { BM: 128, BN: 128, BK: 64, sgRows: 2, sgCols: 4 },
    // padded rows, register prefetch of the next K step (1 or 2 workgroup buffers, 8- or 16-byte loads), direct form
    { BM: 128, BN: 128, BK: 32, sgRows: 2, sgCols: 4, pad: 8 },
    { BM: 128, BN: 128, BK: 32, sgRows: 2, sgCols: 4, pad: 8, prefetch: true },
    { BM: 256, BN: 128, BK: 32, sgRows: 4, sgCols: 2, pad: 8, prefetch: true },
    { BM: 256, BN: 128, BK: 32, sgRows: 4, sgCols: 2, pad: 8, prefetch: true, wide: true },
    { BM: 128, BN: 256, BK: 32, sgRows: 2, sgCols: 4, pad: 8, prefetch: true, wide: true },
    { BM: 128, BN: 128, BK: 32, sgRows: 2, sgCols: 4, pad: 8, prefetch: true, stages: 2 },
    { BM: 128, BN: 128, BK: 32, sgRows: 2, sgCols: 4, pad: 8, prefetch: true, stages: 2, wide: true },
    { BM: 256, BN: 128, BK: 16, sgRows: 4, sgCols: 2, pad: 8, prefetch: true, stages: 2, wide: true },
    { BM: 128, BN: 256, BK: 16, sgRows: 2, sgCols: 4, pad: 8, prefetch: true, stages: 2, wide: true },
    { BM: 256, BN: 128, BK: 32, sgRows: 4, sgCols: 2, pad: 16, prefetch: true, wide: true },
    { BM: 256, BN: 256, BK: 32, sgRows: 4, sgCols: 4, pad: 8, prefetch: true, wide: true },
    { BM: 128, BN: 128, BK: 64, sgRows: 2, sgCols: 4, pad: 8, prefetch: true, wide: true },
    { BM: 64, BN: 128, BK: 32, sgRows: 2, sgCols: 2, pad: 8, prefetch: true, wide: true },
    { BM: 256, BN: 128, BK: 48, sgRows: 4, sgCols: 2, pad: 8, prefetch: true, wide: true },
    { BM: 128, BN: 256, BK: 48, sgRows: 2, sgCols: 4, pad: 8, prefetch: true, wide: true },
    { BM: 128, BN: 128, BK: 64, sgRows: 4, sgCols: 2, pad: 8, prefetch: true, wide: true },
    { BM: 128, BN: 128, BK: 64, sgRows: 2, sgCols: 2, pad: 8, prefetch: true, wide: true },
    { BM: 128, BN: 128, BK: 64, sgRows: 2, sgCols: 4, pad: 16, prefetch: true, wide: true },
    { BM: 128, BN: 128, BK: 64, sgRows: 2, sgCols: 4, pad: 8, prefetch: true, wide: true, swizzle: 8 },
    { BM: 128, BN: 256, BK: 32, sgRows: 2, sgCols: 4, pad: 8, prefetch: true, wide: true, swizzle: 8 },
    { BM: 256, BN: 128, BK: 32, sgRows: 4, sgCols: 2, pad: 8, prefetch: true, wide: true, swizzle: 4 },
    { BM: 128, BN: 128, BK: 64, sgRows: 2, sgCols: 4, pad: 8, prefetch: true, wide: true, swizzle: 16 },
  ];
  const usable: SubgroupMatrixTiling[] = [];
  const probe = 2048; // big enough for several bands of swizzled launch order
  for (const tiling of tilings) {
    const plan = matmulHalfPlan(probe, probe, probe, { tiling });
    if (plan.variant !== 'subgroup-matrix') {
      console.log(`f16 tiling ${JSON.stringify(tiling)} skipped: ${plan.why}`);
      continue;
    }
    try {
      await prepareMatmulHalf({ tiling, variant: 'subgroup-matrix', M: probe, N: probe, K: probe });
      const err = await checkHalf(probe, { tiling, variant: 'subgroup-matrix' });
      console.log(`f16 tiling ${JSON.stringify(tiling)}: rel err ${err.toExponential(2)} vs tf.matMul on the same f16 values`);
      if (err < 1e-3) usable.push(tiling);
    } catch (e) {
      console.log(`f16 tiling ${JSON.stringify(tiling)} failed: ${String(e).slice(0, 500)}`);
    }
  }
  const tiledErr = await checkHalf(quick ? 130 : 1000, { variant: 'tiled' });
  console.log(`f16 tiled fallback: rel err ${tiledErr.toExponential(2)}`);
  for (const n of CONFIG.matmul_sizes) {
    const [a, b] = [tf.randomNormal([n, n]), tf.randomNormal([n, n])];
    const [ah, bh] = [toHalf(a), toHalf(b)];
    tf.dispose([a, b]);
    const reps = Math.max(2, Math.round(2 ** 34 / n ** 3));
    let best: { s: number; label: string } | undefined;
    for (const tiling of usable) {
      if (n % tiling.BM || n % tiling.BN || n % tiling.BK) continue;
      const s = await time(() => matmulHalf(ah, bh, { tiling, variant: 'subgroup-matrix' }).dispose(), reps);
      console.log(`matmul f16 ${n} ${JSON.stringify(tiling)}: ${((2 * n ** 3) / s / 1e12).toFixed(1)} TFLOP/s`);
      if (!best || s < best.s) best = { s, label: `subgroup matrices ${tiling.BM}x${tiling.BN}x${tiling.BK}, ${tiling.sgRows}x${tiling.sgCols} subgroups${tiling.direct ? ', direct' : `, pad ${tiling.pad ?? 0}${tiling.prefetch ? `, prefetch, ${tiling.stages ?? 1} buffer(s)${tiling.wide ? ', 16-byte loads' : ''}` : ''}`}${tiling.swizzle ? `, bands of ${tiling.swizzle}` : ''}` };
    }
    if (!best && (n <= 4096 || quick)) {
      best = { s: await time(() => matmulHalf(ah, bh, { variant: 'tiled' }).dispose(), Math.max(1, reps >> 3)), label: 'tiled fallback (no subgroup matrices)' };
    }
    if (best) rows.push({ name: `matmul f16 ${n}`, unit: 'TFLOP/s', ttslab: (2 * n ** 3) / best.s / 1e12, pytorch: null, note: `ttslab matmulHalf, ${best.label}; f32 accumulate` });
    ah.dispose();
    bh.dispose();
  }
}

/** Relative error of matmulHalf against tf.matMul (f32) of the same f16-rounded values. */
async function checkHalf(n: number, options: Parameters<typeof matmulHalf>[2]): Promise<number> {
  const [a, b] = [tf.randomNormal([n, n]), tf.randomNormal([n, n])];
  const [ah, bh] = [toHalf(a), toHalf(b)];
  const [af, bf] = [fromHalf(ah), fromHalf(bh)];
  const want = tf.matMul(af, bf);
  const got = matmulHalf(ah, bh, options);
  const err = relError((await got.data()) as Float32Array, (await want.data()) as Float32Array);
  tf.dispose([a, b, af, bf, want, got]);
  ah.dispose();
  bh.dispose();
  return err;
}

/** Causal GQA attention in tfjs ops. q [B, H, S, D], k/v [B, KV, S, D] -> [B, H, S, D]. */
function attention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor2D): tf.Tensor4D {
  const [B, H, S, D] = q.shape;
  const KV = k.shape[1];
  const rep = H / KV;
  // repeat_interleave over heads: [B, KV, S, D] -> [B*KV, 1, S*D] -> [B*KV, rep, S*D] -> [B*H, S, D]
  // (rank 3: tfjs has no gradient for tiling rank-5 tensors)
  const expand = (t: tf.Tensor4D) => tf.reshape(tf.tile(tf.reshape(t, [B * KV, 1, S * D]), [1, rep, 1]), [B * H, S, D]);
  const scores = tf.div(tf.matMul(tf.reshape(q, [B * H, S, D]), expand(k), false, true), Math.sqrt(D)); // [B*H, S, S]
  const masked = tf.add(scores, mask); // mask: 0 on and below the diagonal, -1e9 above
  return tf.reshape(tf.matMul(tf.softmax(masked), expand(v)), [B, H, S, D]);
}

function causalMask(S: number): tf.Tensor2D {
  return tf.tidy(() => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([S, S]) as tf.Tensor2D, -1, 0)), -1e9) as tf.Tensor2D);
}

async function attentionRows(): Promise<void> {
  const { heads: H, kv_heads: KV, head_dim: D } = CONFIG;
  for (const [B, S] of CONFIG.attention) {
    const q = tf.randomNormal([B, H, S, D]) as tf.Tensor4D;
    const k = tf.randomNormal([B, KV, S, D]) as tf.Tensor4D;
    const v = tf.randomNormal([B, KV, S, D]) as tf.Tensor4D;
    const r = tf.randomNormal([B, H, S, D]);
    const mask = causalMask(S);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(attention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, mask), r)));
    const s = await time(() => tf.dispose(g([q, k, v])), 3, 1);
    rows.push({ name: `attention fwd+bwd B=${B} S=${S}`, unit: 'ms', ttslab: s * 1e3, pytorch: null, note: 'f32, naive causal GQA 32/8 heads x 64' });
    tf.dispose([q, k, v, r, mask]);
  }
}

function rotateHalf(x: tf.Tensor): tf.Tensor {
  const [a, b] = tf.split(x, 2, -1);
  return tf.concat([tf.neg(b), a], -1);
}

async function blockRows(): Promise<void> {
  const { hidden: HID, ffn: FFN, heads: H, kv_heads: KV, head_dim: D } = CONFIG;
  for (const [B, S] of CONFIG.block) {
    const w = (r: number, c: number) => tf.variable(tf.mul(tf.randomNormal([r, c]), 0.02));
    const p = { q: w(HID, H * D), k: w(HID, KV * D), v: w(HID, KV * D), o: w(H * D, HID), gate: w(HID, FFN), up: w(HID, FFN), down: w(FFN, HID) };
    const ln1 = tf.variable(tf.ones([HID]));
    const ln2 = tf.variable(tf.ones([HID]));
    const x = tf.randomNormal([B * S, HID]); // [B*S, hidden]: linear layers work on 2-D (see test/runtime/ops.test.ts)
    const mask = causalMask(S);
    const [cos, sin] = tf.tidy(() => {
      const inv = tf.div(1, tf.pow(500000, tf.div(tf.range(0, D, 2), D)));
      const ang = tf.matMul(tf.reshape(tf.range(0, S), [S, 1]), tf.reshape(inv, [1, D / 2]));
      const full = tf.concat([ang, ang], -1); // [S, D]
      return [tf.cos(full), tf.sin(full)];
    });
    const heads = (t: tf.Tensor, n: number) => tf.transpose(tf.reshape(t, [B, S, n, D]), [0, 2, 1, 3]) as tf.Tensor4D; // [B, n, S, D]
    const rope = (t: tf.Tensor4D) => tf.add(tf.mul(t, cos), tf.mul(rotateHalf(t), sin)) as tf.Tensor4D;
    const block = () => {
      const h = rmsNorm(x, ln1);
      const q = rope(heads(tf.matMul(h, p.q), H));
      const k = rope(heads(tf.matMul(h, p.k), KV));
      const v = heads(tf.matMul(h, p.v), KV);
      const a = tf.reshape(tf.transpose(attention(q, k, v, mask), [0, 2, 1, 3]), [B * S, H * D]);
      const y = tf.add(x, tf.matMul(a, p.o));
      const h2 = rmsNorm(y, ln2);
      const gate = tf.matMul(h2, p.gate);
      const m = tf.mul(tf.mul(gate, tf.sigmoid(gate)), tf.matMul(h2, p.up));
      return tf.sum(tf.add(y, tf.matMul(m, p.down))) as tf.Scalar;
    };
    const vars = [...Object.values(p), ln1, ln2];
    const s = await time(() => {
      const { value, grads } = tf.variableGrads(block, vars);
      value.dispose();
      tf.dispose(Object.values(grads));
    }, 2, 1);
    rows.push({ name: `decoder block fwd+bwd B=${B} S=${S}`, unit: 'ms', ttslab: s * 1e3, pytorch: null, note: 'f32, Llama-3.2-1B shapes, fused RMSNorm, weight grads' });
    tf.dispose([...vars, x, mask, cos, sin]);
  }
}

function runPytorch(): { device?: string; rows: Record<string, number> } | undefined {
  const probe = spawnSync('python3', ['-c', 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 3)'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log(`PyTorch column skipped: python3 with torch and CUDA not available (${(probe.stderr || '').trim().split('\n').pop() ?? probe.status})`);
    return undefined;
  }
  const r = spawnSync('python3', [join(__dirname, 'torch_bench.py'), JSON.stringify(CONFIG)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    console.log(`PyTorch bench failed:\n${r.stderr}`);
    return undefined;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop() as string);
}

async function main(): Promise<void> {
  // PyTorch first, in its own process, so the two never share GPU memory.
  const torch = runPytorch();
  const info = await initRuntime({ backend: 'webgpu' });
  const w = info.webgpu!;
  console.log(`device: ${w.description} (${w.vendor} ${w.architecture}); features: ${w.features.join(', ')}`);
  console.log(`subgroup-matrix configs: ${JSON.stringify(w.subgroupMatrixConfigs)}`);
  if (only.has('matmul')) await matmuls();
  if (only.has('attention')) await attentionRows();
  if (only.has('block')) await blockRows();
  for (const row of rows) row.pytorch = torch?.rows[row.name] ?? null;

  const device = (torch?.device ?? w.description ?? 'unknown').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  const date = process.env.BENCH_DATE ?? new Date().toISOString().slice(0, 10);
  const dir = join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${date}-${quick ? 'quick-' : ''}${device}.json`);
  // Rows from other benches (later issues) stay; rows measured here replace their namesakes.
  const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { rows: Row[] }).rows : [];
  const merged = [...previous.filter((r) => !rows.some((n) => n.name === r.name)), ...rows];
  const result = {
    device: torch?.device ?? w.description,
    date,
    rows: merged,
    runtime: { webgpu: { ...w, limits: undefined, adapterFeatures: undefined }, versions: info.versions, pytorch: torch ? 'python3 torch, same command' : null },
    memory: runtimeInfo().memory,
  };
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  if (outDir) writeFileSync(join(outDir, `bench-${date}-${device}.json`), JSON.stringify(result, null, 2) + '\n');
  console.log(`\nwritten: ${file}\n`);
  const fmt = (v: number | null) => (v == null ? '-' : v >= 100 ? v.toFixed(0) : v.toPrecision(3));
  console.log('| name | unit | ttslab | pytorch |\n| --- | --- | --- | --- |');
  for (const r of merged) console.log(`| ${r.name} | ${r.unit} | ${fmt(r.ttslab)} | ${fmt(r.pytorch)} |`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
