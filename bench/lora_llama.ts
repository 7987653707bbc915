/**
 * One full LoRA training step (forward + backward of the LoRA A/B matrices, no optimizer) on
 * a Llama-shaped model with random weights, ttslab on the active backend (WebGPU on a GPU
 * machine, f32: ttslab has no bf16 path) against PyTorch (bench/lora_llama_torch.py:
 * transformers LlamaForCausalLM + PEFT, bf16, SDPA attention) in the same command. The
 * shapes of the models the workshop fine-tunes on a Llama:
 *   - orpheus-3b: Llama-3.2-3B (hidden 3072, 28 layers, 24 heads / 8 KV, FFN 8192, tied
 *     embeddings) with Orpheus' vocabulary of 156940; LoRA r 64 / alpha 64 on q,k,v,o,gate,up,down
 *     (ORPHEUS_LORA_TRAIN);
 *   - llasa-1b: Llama-3.2-1B (hidden 2048, 16 layers, 32 heads / 8 KV, FFN 8192, tied) with
 *     Llasa's vocabulary of 193800; LoRA r 8 / alpha 32 on q,v (LLASA_LORA_TRAIN);
 *   - llasa-8b: Llama-3.1-8B (hidden 4096, 32 layers, 32 heads / 8 KV, FFN 14336, untied),
 *     vocabulary 193800, Llasa's LoRA. In f32 its embedding and its lm_head are 3.18 GB each,
 *     beyond one WebGPU storage binding (2 GiB on an H100): it runs with `--frozen f16` only
 *     (f32 records a failure row).
 * Batch: 2 sequences of 2048 tokens (`--batch`, `--seq` to go smaller when memory forces),
 * random ids, labels = inputs. Reported per model: step time (median of `--steps` after one
 * warm-up step), tokens/s = batch * seq / step, and peak memory (ttslab: peak live tensor
 * bytes during the first step, weights included; PyTorch: max_memory_allocated).
 * Rope scaling (Llama-3's "llama3" type) is left out on both sides: it changes no cost.
 * Rows go to bench/results/<date>-<device>.json (bench/results.ts).
 *
 * `--frozen f16` (issues 10, 12): the frozen linear weights (q,k,v,o,gate,up,down and an untied
 * lm_head) are held in f16 (`HalfLinear`: f16 tensor-core matmuls through `linearHalf`, f32
 * accumulation, x and dy rounded to f16 per call), and so is the token embedding
 * (`embeddingDtype: 'float16'`: rows by the f16 gather kernel, a tied head on the f16 matmul);
 * LoRA A/B and norms stay f32. Weights are then drawn by a fast seeded uniform generator
 * (std 0.02) in JS, one tensor at a time, each uploaded in chunks of at most 256 MiB, rounded
 * to f16 in place and the f32 chunks freed (`halfFromValues`; tfjs' randomNormal took 166 s for
 * Orpheus-3B); values do not change any kernel's cost. Before the models, a check of the
 * f16 linear (forward and gradient, rel. error vs tf.matMul in f32 on the same GPU) and its time
 * at the shapes of one Orpheus-3B layer is printed and recorded.
 *
 *   node --import tsx bench/lora_llama.ts --tiny                      # CPU check: tiny shape, wasm
 *   scripts/gpu/run.sh node .gpu-run/bundle/bench-lora_llama.js --model orpheus-3b,llasa-1b,llasa-8b --out $OUT
 *
 * The loss is LlamaLoraTrainable's: the frozen head and the cross-entropy fused and chunked over
 * rows (`chunkedLmHeadLoss`, src/models/llama/loss.ts, 1024 rows by default), so the
 * [tokens, vocab] f32 logits are never stored whole; `--loss-chunk 0` computes the full logits
 * (`causalLmLoss`, the path of the figures recorded before issue 10's chunked loss).
 *
 * Flags: --model LIST (default orpheus-3b), --batch N (2), --seq N (2048), --steps N (3),
 * --frozen f32|f16 (f32; f16 needs WebGPU), --loss-chunk N (rows per chunk, 0 = full logits;
 * default LlamaLoraTrainable's), --tiny (tiny Llama, batch 2 x 64, for a CPU), --no-torch,
 * --out DIR (copy of the JSON).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initRuntime, runtimeInfo, gpuContext, synchronize, toHalf, matmulHalfPlan, HalfTensor } from '../src/runtime';
import { halfFromValues } from '../src/runtime/kernels/half';
import { gatherHalf } from '../src/runtime/kernels/half_gather';
import { linearHalf } from '../src/runtime/kernels/half_linear';
import { fromHfConfig } from '../src/models/llama/config';
import type { LlamaConfig } from '../src/models/llama/config';
import { LlamaForCausalLM, llamaWeightShapes } from '../src/models/llama/modeling';
import { loraValueAndGrads } from '../src/lora';
import { LlamaLoraTrainable } from '../src/train/llama';
import { validateTrainConfig } from '../src/train/config';
import type { TrainConfig } from '../src/train/config';
import { ORPHEUS_LORA_TRAIN } from '../src/models/orpheus/generation';
import { LLASA_LORA_TRAIN } from '../src/models/llasa/generation';
import { appendRows, median, peakBytes, printRows, type BenchRow } from './results';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const tiny = args.includes('--tiny');
const outDir = flag('--out');
const noTorch = args.includes('--no-torch');
const frozen = flag('--frozen') ?? 'f32';
if (frozen !== 'f32' && frozen !== 'f16') throw new Error(`--frozen must be f32 or f16, got ${JSON.stringify(frozen)}`);

function intFlag(name: string, fallback: number, min = 1): number {
  const v = flag(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

/** Rows per loss chunk (0: full logits); undefined: LlamaLoraTrainable's default. */
const lossChunk = flag('--loss-chunk') === undefined ? undefined : intFlag('--loss-chunk', 0, 0);

/** transformers LlamaConfig keys; the same dict goes to bench/lora_llama_torch.py. */
const LLAMA_32_3B = { hidden_size: 3072, intermediate_size: 8192, num_hidden_layers: 28, num_attention_heads: 24, num_key_value_heads: 8, head_dim: 128, tie_word_embeddings: true };
const LLAMA_32_1B = { hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64, tie_word_embeddings: true };
const LLAMA_31_8B = { hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 128, tie_word_embeddings: false };
const TINY = { hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, tie_word_embeddings: true };

interface Shape {
  config: Record<string, unknown>;
  lora: Readonly<Partial<TrainConfig>>;
}

const MODELS: Record<string, Shape> = {
  'orpheus-3b': { config: { ...LLAMA_32_3B, vocab_size: 156940 }, lora: ORPHEUS_LORA_TRAIN },
  'llasa-1b': { config: { ...LLAMA_32_1B, vocab_size: 193800 }, lora: LLASA_LORA_TRAIN },
  'llasa-8b': { config: { ...LLAMA_31_8B, vocab_size: 193800 }, lora: LLASA_LORA_TRAIN },
};

const seq = intFlag('--seq', tiny ? 64 : 2048);
const BENCH = { batch: intFlag('--batch', 2), seq, steps: intFlag('--steps', tiny ? 2 : 3) };
const names = tiny ? ['tiny'] : (flag('--model') ?? 'orpheus-3b').split(',');
for (const n of names) if (!tiny && !(n in MODELS)) throw new Error(`--model: unknown model ${JSON.stringify(n)}; known: ${Object.keys(MODELS).join(', ')}`);

function hfConfig(shape: Shape): Record<string, unknown> {
  return {
    model_type: 'llama', ...shape.config, max_position_embeddings: Math.max(2048, BENCH.seq), rms_norm_eps: 1e-5, rope_theta: 500000,
    bos_token_id: 0, eos_token_id: 1, pad_token_id: 1,
  };
}

/** Deterministic token ids in [2, vocab) (the same LCG as bench/lora_llama_torch.py). */
export function tokenBatch(vocab: number, batch: number, seqLen: number): number[][] {
  let s = 1234;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
  return Array.from({ length: batch }, () => Array.from({ length: seqLen }, () => 2 + (next() % (vocab - 2))));
}



/**
 * Random Llama weights for `--frozen f16`: uniform with std 0.02 (norms 1) from a seeded
 * xorshift in JS, one tensor at a time; linear weights and the embedding are uploaded in chunks
 * and rounded to f16 on the GPU (`halfFromValues`), so no f32 copy of a whole [193800, 4096]
 * table (3.18 GB, beyond one storage binding) ever exists on the GPU. Much faster than
 * tf.randomNormal, which draws on the CPU one Box-Muller pair at a time.
 */
function randomHalfModel(config: LlamaConfig, seed: number): LlamaForCausalLM {
  let s = seed >>> 0 || 1;
  const a = 0.02 * Math.sqrt(12); // width of a uniform with std 0.02
  const tensors = new Map<string, tf.Tensor | HalfTensor>();
  for (const [k, shape] of llamaWeightShapes(config)) {
    const n = shape.reduce((x, y) => x * y, 1);
    const data = new Float32Array(n);
    if (/norm\.weight$/.test(k)) data.fill(1);
    else {
      for (let i = 0; i < n; i++) {
        s ^= s << 13; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
        data[i] = a * (s / 4294967296 - 0.5);
      }
    }
    if (/_proj\.weight$|^lm_head\.weight$|^model\.embed_tokens\.weight$/.test(k)) tensors.set(k, halfFromValues(data, shape, { name: k }));
    else tensors.set(k, tf.tensor(data, shape, 'float32'));
  }
  return LlamaForCausalLM.fromTensors(config, tensors);
}

/**
 * The f16 linear against tf.matMul in f32 on the same GPU at one shape (x [M, K], W [N, K]):
 * forward and gradient rel. errors, the kernel linearHalf's plan picks, and the median times of
 * forward and forward+backward for both (ms).
 */
async function checkLinearHalf(M: number, K: number, N: number): Promise<BenchRow[]> {
  const ctx = gpuContext();
  const x = tf.randomUniform([M, K], -1, 1, 'float32', 7);
  const w = tf.randomUniform([N, K], -0.05, 0.05, 'float32', 8);
  const g = tf.randomUniform([M, N], -1, 1, 'float32', 9);
  const wh = toHalf(w);
  const wr = tf.tidy(() => tf.transpose(tf.transpose(w))); // f32 copy for the reference
  const rel = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.norm(tf.sub(a, b)).div(tf.norm(b)));
  const f16 = (a: tf.Tensor) => linearHalf(a, wh);
  const f32 = (a: tf.Tensor) => tf.matMul(a, wr, false, true);
  const errs = tf.tidy(() => {
    const y16 = f16(x);
    const y32 = f32(x);
    const d16 = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f16(a), g)))(x);
    const d32 = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f32(a), g)))(x);
    return tf.stack([rel(y16, y32), rel(d16, d32)]);
  });
  const [ey, edx] = Array.from(await errs.data());
  errs.dispose();
  const time = async (fn: () => tf.Tensor): Promise<number> => {
    for (let i = 0; i < 3; i++) tf.dispose(fn());
    await synchronize(ctx);
    const meds: number[] = [];
    for (let b = 0; b < 3; b++) {
      const t0 = performance.now();
      for (let i = 0; i < 10; i++) tf.dispose(fn());
      await synchronize(ctx);
      meds.push((performance.now() - t0) / 10);
    }
    return median(meds);
  };
  const fwd16 = await time(() => f16(x));
  const fwd32 = await time(() => f32(x));
  const both16 = await time(() => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f16(a), g)))(x));
  const both32 = await time(() => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f32(a), g)))(x));
  const fwdPlan = matmulHalfPlan(M, N, K, { transB: true });
  const bwdPlan = matmulHalfPlan(M, K, N);
  tf.dispose([x, w, g, wr]);
  wh.dispose();
  const tflops = (ms: number, passes: number) => (passes * 2 * M * N * K) / (ms * 1e9);
  console.log(`f16 linear ${M}x${K} -> ${N}: forward rel err ${ey.toExponential(2)} (${fwdPlan.variant}: ${fwdPlan.why}), `
    + `gradient rel err ${edx.toExponential(2)} (${bwdPlan.variant}); forward ${fwd16.toFixed(3)} ms (${tflops(fwd16, 1).toFixed(1)} TFLOP/s) vs f32 tf.matMul ${fwd32.toFixed(3)} ms; `
    + `forward + dx ${both16.toFixed(3)} ms vs f32 ${both32.toFixed(3)} ms`);
  // Recorded either way (the rows carry the errors); a wrong kernel makes the step rows below meaningless.
  if (!(ey <= 1e-2 && edx <= 1e-2)) console.log(`f16 linear WRONG on this GPU: forward rel err ${ey}, gradient ${edx} (bound 1e-2)`);
  const shape = `${M}x${K}->${N}`;
  const note = `x [${M}, ${K}] f32 -> f16, W [${N}, ${K}] f16 (forward ${fwdPlan.variant} transB, dx ${bwdPlan.variant}); pytorch column: tfjs tf.matMul f32 on the same GPU`;
  return [
    { name: `f16 linear ${shape} forward rel err vs f32`, unit: 'rel', ttslab: ey, pytorch: null, note },
    { name: `f16 linear ${shape} dx rel err vs f32`, unit: 'rel', ttslab: edx, pytorch: null, note },
    { name: `f16 linear ${shape} forward`, unit: 'ms', ttslab: fwd16, pytorch: fwd32, note },
    { name: `f16 linear ${shape} forward + dx`, unit: 'ms', ttslab: both16, pytorch: both32, note },
  ];
}

/**
 * The f16 table path at a model's full embedding size (Llasa-8B: [193800, 4096], 3.18 GB of f32
 * values, more than one storage binding): values k/256 - 8 for k = (7 i) mod 4096 (exact in f16)
 * uploaded by `halfFromValues` in chunks, then rows spread over the table gathered by
 * `gatherHalf` and compared exactly with the formula on the CPU. Returns one row: mismatches.
 */
async function checkHalfTable(rows: number, cols: number): Promise<BenchRow> {
  const n = rows * cols;
  const value = (i: number) => ((i * 7) % 4096) / 256 - 8;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = value(i);
  const t0 = performance.now();
  const table = halfFromValues(data, [rows, cols], { name: `check table [${rows}, ${cols}]` });
  const pick = [0, 1, Math.floor(rows / 2), rows - 2, rows - 1];
  const ids = tf.tensor1d(pick, 'int32');
  const got = await gatherHalf(table, ids).data();
  const ms = performance.now() - t0;
  tf.dispose(ids);
  table.dispose();
  let bad = 0;
  pick.forEach((id, r) => {
    for (let c = 0; c < cols; c++) if (got[r * cols + c] !== value(id * cols + c)) bad++;
  });
  console.log(`f16 table [${rows}, ${cols}] (${(4 * n / 1e9).toFixed(2)} GB in f32): uploaded in chunks and rows ${pick.join(', ')} gathered in ${(ms / 1e3).toFixed(1)} s; `
    + `${bad} of ${pick.length * cols} values differ from the CPU reference`);
  return { name: `f16 table [${rows}, ${cols}] chunked upload + gather mismatches`, unit: 'values', ttslab: bad, pytorch: null, note: `rows ${pick.join(', ')} of ${pick.length * cols} values, exact comparison with the CPU formula; upload + gather ${ms.toFixed(0)} ms` };
}

/**
 * Destroys the GPU buffers tfjs-backend-webgpu keeps in its free pool (they are kept by exact
 * size for reuse and never returned otherwise), so one model's pool does not starve the next
 * model of GPU memory. Call with the queue drained. Reaches into the backend's BufferManager
 * (tfjs 4.22: freeBuffers: Map<key, GPUBuffer[]>, numFreeBuffers, numBytesAllocated).
 */
function releaseFreeBuffers(): number {
  const bm = (gpuContext().backend as unknown as { bufferManager: { freeBuffers: Map<string, GPUBuffer[]>; numFreeBuffers: number; numBytesAllocated: number } }).bufferManager;
  let bytes = 0;
  for (const list of bm.freeBuffers.values()) {
    for (const b of list) {
      bytes += b.size;
      b.destroy();
    }
    list.length = 0; // keys stay: releaseBuffer() does nothing while the map is empty
  }
  bm.numBytesAllocated -= bytes;
  bm.numFreeBuffers = 0;
  return bytes;
}

type TorchResult = { device?: string; rows?: Record<string, number>; notes?: Record<string, string>; error?: string };

function runTorch(name: string, shape: Shape, lora: TrainConfig): TorchResult | undefined {
  if (noTorch) return undefined;
  const probe = spawnSync('python3', ['-c', 'import torch, peft, transformers'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log('PyTorch column skipped: python3 with torch, transformers and peft is not available');
    return undefined;
  }
  const spec = { name, config: hfConfig(shape), bench: BENCH, lora: { r: lora.loraR, alpha: lora.loraAlpha, dropout: lora.loraDropout, targets: lora.targetModules, rslora: lora.useRslora } };
  const t0 = performance.now();
  const r = spawnSync('python3', [join(__dirname, 'lora_llama_torch.py'), JSON.stringify(spec)], {
    encoding: 'utf8', maxBuffer: 1 << 24, env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  console.log(r.stderr.split('\n').filter((l) => l.startsWith('lora_llama_torch:')).join('\n'));
  console.log(`PyTorch side: ${((performance.now() - t0) / 1e3).toFixed(1)} s, exit ${r.status}`);
  if (r.status !== 0) return { error: (r.stderr || '').slice(-3000) };
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as TorchResult;
}

async function benchModel(name: string, shape: Shape, info: Awaited<ReturnType<typeof initRuntime>>, torch: TorchResult | undefined): Promise<{ rows: BenchRow[]; device?: string }> {
  const lora = validateTrainConfig({ ...shape.lora, loraDropout: 0 });
  const pt = (key: string) => torch?.rows?.[key] ?? null;
  const tokens = BENCH.batch * BENCH.seq;
  const label = `${name} lora step B=${BENCH.batch}x${BENCH.seq}${frozen === 'f16' ? ' f16 frozen' : ''}`;
  const loraNote = `LoRA r ${lora.loraR} / alpha ${lora.loraAlpha} on ${lora.targetModules.join(',')}`;
  const rows: BenchRow[] = [];
  const ctx = info.backend === 'webgpu' ? gpuContext() : undefined;
  const sync = async () => { if (ctx) await synchronize(ctx); };
  let model: LlamaForCausalLM | null = null;
  try {
    const config = fromHfConfig(hfConfig(shape), { source: `lora_llama bench (${name})` });
    let t0 = performance.now();
    model = frozen === 'f16' ? randomHalfModel(config, 1) : LlamaForCausalLM.random(config, { seed: 1 });
    const trainable = LlamaLoraTrainable.create(model, lora, null, { lossChunkRows: lossChunk });
    const lossDesc = trainable.lossChunkRows > 0 ? `chunked loss (${trainable.lossChunkRows}-row chunks)` : 'full-logits loss';
    await sync();
    const loraParams = trainable.adapter.variables().reduce((n, v) => n + v.size, 0);
    const weightBytes = tf.memory().numBytes;
    console.log(`${name}: ${(model.numParameters() / 1e9).toFixed(3)} B base parameters, ${loraNote}: ${(loraParams / 1e6).toFixed(1)} M trainable; built in ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
    const ids = tokenBatch(config.vocabSize, BENCH.batch, BENCH.seq);
    const batch = trainable.collate(ids.map((r) => ({ inputIds: r, labels: r })));
    let loss = NaN;
    const step = async () => {
      const { value, grads } = loraValueAndGrads(trainable.adapter, () => trainable.loss(batch, { training: true }));
      loss = (await value.data())[0];
      value.dispose();
      for (const g of grads.values()) g.dispose();
      await sync();
    };
    t0 = performance.now();
    // A buffer WebGPU could not allocate does not throw: the kernels that use it are skipped and
    // the numbers are garbage. Out-of-memory and validation errors of the first step fail the row.
    ctx?.device.pushErrorScope('out-of-memory');
    ctx?.device.pushErrorScope('validation');
    const peak = await peakBytes(step); // first step: compiles pipelines; also the memory probe
    const first = performance.now() - t0;
    if (ctx) {
      const validation = await ctx.device.popErrorScope();
      const oom = await ctx.device.popErrorScope();
      const err = oom ?? validation;
      if (err) throw new Error(`WebGPU ${oom ? 'out of memory' : 'validation error'} during the first step (results would be invalid): ${err.message.split('\n')[0]}`);
    }
    const ts: number[] = [];
    for (let i = 0; i < BENCH.steps; i++) {
      const t = performance.now();
      await step();
      ts.push(performance.now() - t);
    }
    const ms = median(ts);
    const mem = runtimeInfo().memory;
    console.log(`${name} step (${lossDesc}, loss ${loss.toFixed(4)}): first ${first.toFixed(0)} ms, then ${ts.map((t) => t.toFixed(0)).join(', ')} ms = ${(tokens / (ms / 1e3)).toFixed(0)} tokens/s; `
      + `peak live tensors ${(peak / 2 ** 30).toFixed(2)} GiB (weights ${(weightBytes / 2 ** 30).toFixed(2)} GiB)`
      + (mem.gpuBytesAllocated != null ? `; WebGPU buffers ${(mem.gpuBytesAllocated / 2 ** 30).toFixed(2)} GiB` : ''));
    const wdesc = frozen === 'f16' ? 'f16 frozen linear weights (HalfLinear) and embedding (f16 gather), f32 norms/LoRA' : 'f32';
    const note = `${loraNote} (${(loraParams / 1e6).toFixed(1)} M); ttslab ${wdesc}, ${lossDesc}, ${info.backend}; PyTorch ${torch?.notes?.train ?? '-'}`
      + (mem.gpuBytesAllocated != null ? `; WebGPU buffers after the steps ${(mem.gpuBytesAllocated / 2 ** 30).toFixed(2)} GiB; first step ${(first / 1e3).toFixed(1)} s` : '');
    rows.push({ name: label, unit: 'ms', ttslab: ms, pytorch: pt('step_ms'), note });
    rows.push({ name: `${label} tokens/s`, unit: 'tokens/s', ttslab: tokens / (ms / 1e3), pytorch: pt('tokens_per_s'), note: `${tokens} tokens per step; ttslab ${frozen} frozen weights, PyTorch bf16` });
    rows.push({ name: `${label} peak memory`, unit: 'GiB', ttslab: peak / 2 ** 30, pytorch: pt('peak_gib'), note: `ttslab: peak live tensor bytes, ${frozen} weights (${(weightBytes / 2 ** 30).toFixed(2)} GiB) included, ${lossDesc}; PyTorch: max_memory_allocated, bf16` });
  } catch (e) {
    console.log(`ttslab ${name} step FAILED: ${String(e).slice(0, 2000)}`);
    rows.push({ name: label, unit: 'ms', ttslab: null, pytorch: pt('step_ms'), note: `ttslab FAILED: ${String(e).slice(0, 200)}` });
    rows.push({ name: `${label} tokens/s`, unit: 'tokens/s', ttslab: null, pytorch: pt('tokens_per_s'), note: 'ttslab failed (see the step row)' });
    rows.push({ name: `${label} peak memory`, unit: 'GiB', ttslab: null, pytorch: pt('peak_gib'), note: 'ttslab failed (see the step row); PyTorch: max_memory_allocated, bf16' });
  } finally {
    model?.dispose();
    if (ctx) {
      await sync();
      console.log(`${name}: released ${(releaseFreeBuffers() / 2 ** 30).toFixed(2)} GiB of pooled WebGPU buffers`);
    }
  }
  return { rows, device: torch?.device };
}

async function main(): Promise<void> {
  const info = await initRuntime({ backend: (process.env.BACKEND as 'webgpu' | 'wasm' | undefined) ?? (tiny ? 'wasm' : 'webgpu') });
  console.log(`ttslab backend ${info.backend} (${info.webgpu?.description ?? '-'}); batch ${BENCH.batch} x ${BENCH.seq} tokens; frozen weights ${frozen}`);
  if (frozen === 'f16' && info.backend !== 'webgpu') throw new Error(`--frozen f16 needs the webgpu backend, got ${info.backend}`);
  const all: BenchRow[] = [];
  let device: string | undefined;
  const shapeOf = (name: string): Shape => (tiny ? { config: { ...TINY, vocab_size: 2062 }, lora: ORPHEUS_LORA_TRAIN } : MODELS[name]!);
  // Every PyTorch side first, each in its own process: ttslab's WebGPU device keeps its buffer
  // pool until this process exits, which would starve a later PyTorch run of GPU memory.
  const torchResults = new Map<string, TorchResult | undefined>();
  for (const name of names) {
    const shape = shapeOf(name);
    const torch = runTorch(name, shape, validateTrainConfig({ ...shape.lora, loraDropout: 0 }));
    if (torch?.error) console.log(`PyTorch ${name} bench failed:\n${torch.error}`);
    torchResults.set(name, torch);
  }
  if (frozen === 'f16') {
    // Orpheus-3B's gate/up projection at the bench's token count (rounded to the 128-row tile for
    // the tiny shape too), then its q/o projection.
    const M = Math.max(128, BENCH.batch * BENCH.seq);
    const shapes: [number, number, number][] = tiny ? [[M, 64, 128]] : [[M, 3072, 8192], [M, 3072, 3072]];
    for (const [m, k, n] of shapes) all.push(...(await checkLinearHalf(m, k, n)));
    // The largest embedding among the models, at full size (tiny: its own).
    const tables = names.map((n) => shapeOf(n).config as { vocab_size: number; hidden_size: number });
    const big = tables.reduce((a, b) => (b.vocab_size * b.hidden_size > a.vocab_size * a.hidden_size ? b : a));
    all.push(await checkHalfTable(big.vocab_size, big.hidden_size));
    await synchronize(gpuContext());
    releaseFreeBuffers();
  }
  for (const name of names) {
    const r = await benchModel(name, shapeOf(name), info, torchResults.get(name));
    device ??= r.device;
    all.push(...r.rows);
    // Kept after each model: a later one may run out of memory or time.
    appendRows(device ?? info.webgpu?.description ?? info.backend, all, { quick: tiny, outDir });
  }
  const file = appendRows(device ?? info.webgpu?.description ?? info.backend, all, { quick: tiny, outDir });
  console.log(`\nwritten: ${file}\n`);
  printRows(all);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
