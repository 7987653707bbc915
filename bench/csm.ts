/**
 * CSM-1B shape with random weights (issue 7, acceptance 3), ttslab on the active backend
 * (WebGPU on a GPU machine, f32) against PyTorch (bench/csm_torch.py: transformers
 * CsmForConditionalGeneration + PEFT, same sizes) in the same command:
 *   - one LoRA training step (r 32, alpha 16, rsLoRA, q,k,v,o,gate,up,down of the backbone and
 *     the depth decoder): forward + backward of a batch of 2 clips of 30 s (375 frames at
 *     12.5 Hz after a 20-token text), the depth decoder on 1/16 of the frames (every 16th frame
 *     and the end-of-audio frame): step time and peak GPU memory;
 *   - full training steps (issue 8, acceptance 3) on the same batch: forward + backward, global
 *     grad norm + clipping to 1.0, optimizer update (lr 2e-4, weight decay 0.01, the trainer's
 *     defaults) with ttslab's 'adamw' (float32 moments on the device) and 'adamw_8bit'
 *     (block-wise 8-bit moments, bitsandbytes' layout; on WebGPU both update in one fused WGSL
 *     dispatch per tensor with the clip coefficient folded in, src/runtime/kernels/adamw.ts): step
 *     time with its phases, tokens/s, peak live tensor bytes, optimizer state bytes; PyTorch:
 *     torch.optim.AdamW (fused=False, the foreach default, and fused=True) in f32 and with bf16
 *     weights under torch.autocast, and bitsandbytes' AdamW8bit where it is installed;
 *   - greedy generation, batch 1, 50 frames after a short text: frames per second.
 * Rows go to bench/results/<date>-<device>.json (bench/results.ts). Flags: --quick (tiny
 * sizes, for lavapipe), --out DIR (copy of the JSON), --no-torch, --skip-train, --skip-optim,
 * --skip-generate; --optim runs the optimizer steps alone (same as --skip-train --skip-generate),
 * --optim=adamw,adamw_8bit picks the ttslab optimizers (default both).
 *   scripts/gpu/run.sh node .gpu-run/bundle/bench-csm.js --out $OUT
 *   scripts/gpu/run.sh node .gpu-run/bundle/bench-csm.js --optim --out $OUT
 *
 * Memory: tfjs has no peak counter; the peak of live tensor bytes is tracked by wrapping the
 * engine's trackTensor (every new tensor) during one step, weights included (as PyTorch's
 * max_memory_allocated); the WebGPU buffer pool (tensors + freed buffers kept for reuse, what
 * the device really holds) is read after the step.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initRuntime, runtimeInfo, gpuContext, synchronize } from '../src/runtime';
import { CsmForConditionalGeneration, BACKBONE_ONLY_INDEX, fromHfConfig, generateFrames } from '../src/models/csm';
import { applyLora, loraValueAndGrads, type LoraAdapter } from '../src/lora';
import { clipCoefficient, createOptimizer, decaysWeight, globalGradNorm } from '../src/train/optim';
import { DEFAULT_TRAIN_CONFIG, type OptimizerName } from '../src/train/config';
import type { NamedVariable } from '../src/train/types';
import { appendRows, median, peakBytes, printRows, type BenchRow } from './results';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outDir = args.includes('--out') ? args[args.indexOf('--out') + 1] : undefined;
const noTorch = args.includes('--no-torch');
/** `--optim` / `--optim=adamw,adamw_8bit`: the optimizer steps alone (no plain step, no generation). */
const optimArg = args.find((a) => a === '--optim' || a.startsWith('--optim='));
const OPTIMIZERS: OptimizerName[] = ['adamw', 'adamw_8bit'];
const optimizers = (optimArg?.includes('=') ? optimArg.slice('--optim='.length).split(',') : OPTIMIZERS).map((o) => {
  if (!(OPTIMIZERS as string[]).includes(o)) throw new Error(`bench/csm.ts --optim: unknown optimizer ${JSON.stringify(o)} (${OPTIMIZERS.join(', ')})`);
  return o as OptimizerName;
});
const run = {
  train: !optimArg && !args.includes('--skip-train'),
  optim: !args.includes('--skip-optim'),
  generate: !optimArg && !args.includes('--skip-generate'),
};

// transformers CsmConfig keys (sesame/csm-1b sizes); the same dict goes to bench/csm_torch.py.
const HF_CONFIG = quick
  ? {
    num_codebooks: 8, vocab_size: 2051, text_vocab_size: 128256, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 256,
    depth_decoder_config: {
      num_codebooks: 8, backbone_hidden_size: 64, vocab_size: 2051, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
      num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, max_position_embeddings: 9,
    },
  }
  : {
    num_codebooks: 32, vocab_size: 2051, text_vocab_size: 128256, hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16,
    num_attention_heads: 32, num_key_value_heads: 8, max_position_embeddings: 2048,
    depth_decoder_config: {
      num_codebooks: 32, backbone_hidden_size: 2048, vocab_size: 2051, hidden_size: 1024, intermediate_size: 8192, num_hidden_layers: 4,
      num_attention_heads: 8, num_key_value_heads: 2, head_dim: 128, max_position_embeddings: 33,
    },
  };
const BENCH = {
  batch: 2,
  frames: quick ? 40 : 375, // 30 s at 12.5 Hz
  text: quick ? 8 : 20, // bos + text + eos
  depthEvery: 16, // depth decoder trains on every 16th frame (+ the end-of-audio frame)
  lora: { r: 32, alpha: 16 },
  genFrames: quick ? 4 : 50,
  genText: quick ? 6 : 12,
  steps: quick ? 2 : 3,
  /** Full training steps (forward, backward, clip, update) timed per optimizer, after `optimWarmup`. */
  optimSteps: quick ? 2 : 3,
  optimWarmup: 1,
  /** The trainer's defaults (src/train/config.ts DEFAULT_TRAIN_CONFIG). */
  lr: DEFAULT_TRAIN_CONFIG.learningRate,
  weightDecay: DEFAULT_TRAIN_CONFIG.weightDecay,
  maxGradNorm: DEFAULT_TRAIN_CONFIG.maxGradNorm,
  betas: [DEFAULT_TRAIN_CONFIG.adamBeta1, DEFAULT_TRAIN_CONFIG.adamBeta2],
  eps: DEFAULT_TRAIN_CONFIG.adamEpsilon,
};
const LORA_REGEX = String.raw`(backbone_model|depth_decoder\.model)\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)`;
const BOS = 128000;
const EOS = 128001;
const AUDIO = 128002;
const AUDIO_EOS = 128003;

/** Deterministic pseudo-random integers (same sequence as csm_torch.py's `lcg`). */
function lcg(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

/** One training batch: bos, text, eos, `frames` x <|AUDIO|>, <|audio_eos|>; labels with -101 amortisation. */
export function trainBatch(nc: number): { inputIds: number[][]; audioCodes: number[][][]; labels: number[][]; depthFrames: number } {
  const rand = lcg(1234);
  const inputIds: number[][] = [];
  const audioCodes: number[][][] = [];
  const labels: number[][] = [];
  let depthFrames = 0;
  for (let b = 0; b < BENCH.batch; b++) {
    const ids = [BOS, ...Array.from({ length: BENCH.text - 2 }, () => 1000 + rand(100000)), EOS];
    const lab = ids.map(() => -100);
    const codes: number[][] = [];
    for (let f = 0; f < BENCH.frames; f++) {
      codes.push(Array.from({ length: nc }, () => rand(2048)));
      ids.push(AUDIO);
      const trained = f % BENCH.depthEvery === 0;
      lab.push(trained ? AUDIO : BACKBONE_ONLY_INDEX);
      if (trained) depthFrames++;
    }
    ids.push(AUDIO_EOS);
    lab.push(AUDIO_EOS);
    depthFrames++;
    inputIds.push(ids);
    audioCodes.push(codes);
    labels.push(lab);
  }
  return { inputIds, audioCodes, labels, depthFrames };
}

async function timed(fn: () => Promise<void>, warm: number, runs: number): Promise<number[]> {
  for (let i = 0; i < warm; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  return ts;
}


/** The LoRA variables under their PEFT keys, decayed as HF Trainer decays them (the trainer's NamedVariable list). */
function namedLoraVariables(adapter: LoraAdapter): NamedVariable[] {
  const keys = adapter.peftKeyOf();
  return adapter.variables().map((variable) => {
    const name = keys.get(variable.name);
    if (!name) throw new Error(`bench/csm.ts: LoRA variable ${variable.name} has no PEFT key`);
    return { name, variable, decay: decaysWeight(name) };
  });
}

function runTorch(): { device?: string; rows?: Record<string, number>; notes?: Record<string, string>; error?: string } | undefined {
  if (noTorch) return undefined;
  const probe = spawnSync('python3', ['-c', 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 3)'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log('PyTorch column skipped: python3 with torch and CUDA not available');
    return undefined;
  }
  const t0 = performance.now();
  const r = spawnSync('python3', [join(__dirname, 'csm_torch.py'), JSON.stringify({ config: HF_CONFIG, bench: BENCH, lora_regex: LORA_REGEX, run })], {
    encoding: 'utf8', maxBuffer: 1 << 24, env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  console.log(r.stderr.split('\n').filter((l) => l.startsWith('csm_torch:')).join('\n'));
  console.log(`PyTorch side: ${((performance.now() - t0) / 1e3).toFixed(1)} s, exit ${r.status}`);
  if (r.status !== 0) return { error: (r.stderr || '').slice(-3000) };
  return JSON.parse(r.stdout.trim().split('\n').pop() as string);
}

async function main(): Promise<void> {
  // PyTorch first, in its own process, so the two never share GPU memory.
  const torch = runTorch();
  if (torch?.error) console.log(`PyTorch CSM bench failed:\n${torch.error}`);
  const info = await initRuntime({ backend: (process.env.BACKEND as 'webgpu' | undefined) ?? 'webgpu' });
  const device = torch?.device ?? info.webgpu?.description ?? info.backend;
  console.log(`ttslab backend ${info.backend} (${info.webgpu?.description ?? '-'}); torch device ${torch?.device ?? '-'}`);
  const config = fromHfConfig(HF_CONFIG, quick ? 'csm bench (quick)' : 'csm bench (CSM-1B shape)');
  const rows: BenchRow[] = [];
  const pt = (name: string) => torch?.rows?.[name] ?? null;
  const tag = quick ? ' (quick sizes)' : '';

  let t0 = performance.now();
  const model = CsmForConditionalGeneration.random(config, { seed: 0 });
  const adapter = applyLora(model, { r: BENCH.lora.r, alpha: BENCH.lora.alpha, dropout: 0, targetModules: LORA_REGEX, useRslora: true });
  const ctx = info.backend === 'webgpu' ? gpuContext() : undefined;
  const sync = async () => { if (ctx) await synchronize(ctx); };
  await sync();
  const loraParams = adapter.variables().reduce((n, v) => n + v.size, 0);
  console.log(`model: ${(model.numParameters() / 1e9).toFixed(3)} B base parameters, LoRA ${(loraParams / 1e6).toFixed(1)} M trainable; built in ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
  const weightBytes = tf.memory().numBytes;

  const batch = trainBatch(config.numCodebooks);
  if (run.train || run.optim) console.log(`train batch: ${BENCH.batch} x ${batch.inputIds[0].length} tokens (${BENCH.frames} frames each), depth decoder on ${batch.depthFrames} frames`);
  if (run.train) {
    const step = async () => {
      const { value, grads } = loraValueAndGrads(adapter, () => model.loss({ ...batch, training: true }));
      await value.data();
      value.dispose();
      for (const g of grads.values()) g.dispose();
      await sync();
    };
    try {
      t0 = performance.now();
      const peak = await peakBytes(step); // first step: compiles pipelines; also the memory probe
      const first = performance.now() - t0;
      const ts = await timed(step, 0, BENCH.steps);
      const mem = runtimeInfo().memory;
      console.log(`train step: first ${first.toFixed(0)} ms, then ${ts.map((t) => t.toFixed(0)).join(', ')} ms; peak live tensors ${(peak / 2 ** 30).toFixed(2)} GiB `
        + `(weights ${(weightBytes / 2 ** 30).toFixed(2)} GiB); WebGPU buffers allocated ${mem.gpuBytesAllocated != null ? (mem.gpuBytesAllocated / 2 ** 30).toFixed(2) : '-'} GiB`);
      const note = `B=2 x 30 s (${BENCH.frames} frames), LoRA r 32 (${(loraParams / 1e6).toFixed(1)} M), depth 1/16; ttslab f32 WebGPU; PyTorch ${torch?.notes?.train ?? '-'}${tag}`;
      rows.push({ name: `csm-1b lora step B=2 30s${quick ? ' quick' : ''}`, unit: 'ms', ttslab: median(ts), pytorch: pt('step_ms_f32'), note });
      rows.push({ name: `csm-1b lora step B=2 30s bf16${quick ? ' quick' : ''}`, unit: 'ms', ttslab: null, pytorch: pt('step_ms_bf16'), note: `PyTorch bf16 weights + LoRA; ttslab has no bf16 path (tfjs 4.22: f32)${tag}` });
      rows.push({ name: `csm-1b lora step peak memory${quick ? ' quick' : ''}`, unit: 'GiB', ttslab: peak / 2 ** 30, pytorch: pt('peak_gib_f32'), note: `f32; ttslab: peak live tensor bytes (weights ${(weightBytes / 2 ** 30).toFixed(2)} GiB included); PyTorch: max_memory_allocated${tag}` });
      rows.push({ name: `csm-1b lora step peak memory bf16${quick ? ' quick' : ''}`, unit: 'GiB', ttslab: null, pytorch: pt('peak_gib_bf16'), note: `PyTorch bf16 max_memory_allocated${tag}` });
      appendRows(device, rows, { quick, outDir }); // kept if generation fails or runs out of time
      if (mem.gpuBytesAllocated != null) {
        rows.push({ name: `csm-1b lora step webgpu buffers${quick ? ' quick' : ''}`, unit: 'GiB', ttslab: mem.gpuBytesAllocated / 2 ** 30, pytorch: pt('reserved_gib_f32'), note: `after the steps: WebGPU buffer pool (live + free for reuse) vs PyTorch max_memory_reserved, f32${tag}` });
      }
    } catch (e) {
      console.log(`ttslab train step FAILED: ${String(e).slice(0, 2000)}`);
      rows.push({ name: `csm-1b lora step B=2 30s${quick ? ' quick' : ''}`, unit: 'ms', ttslab: null, pytorch: pt('step_ms_f32'), note: `ttslab FAILED: ${String(e).slice(0, 200)}` });
    }
  }

  if (run.optim) {
    const params = namedLoraVariables(adapter);
    // What tokens/s counts: every input position of the backbone, rows x sequence length (2 x 396),
    // no padding in this batch (the trainer's numTokens); the depth decoder's 50 x 32 codebook
    // positions ride along and are not counted.
    const tokensPerStep = batch.inputIds.reduce((n, r) => n + r.length, 0);
    for (const kind of optimizers) {
      const optimizer = createOptimizer(kind, params, { beta1: BENCH.betas[0], beta2: BENCH.betas[1], eps: BENCH.eps, weightDecay: BENCH.weightDecay });
      // Phases in ms: forward + backward (loss read back), grad norm (read back; the clip
      // coefficient is a number), optimizer update with the clip folded in as gradScale (drained).
      const fullStep = async (): Promise<{ loss: number; gradNorm: number; fwdBwd: number; clip: number; update: number; total: number }> => {
        const t0 = performance.now();
        const { value, grads } = loraValueAndGrads(adapter, () => model.loss({ ...batch, training: true }));
        try {
          const loss = (await value.data())[0];
          value.dispose();
          await sync();
          const t1 = performance.now();
          const gradNorm = await globalGradNorm(grads.values());
          if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) throw new Error(`bench/csm.ts ${kind}: loss ${loss}, grad norm ${gradNorm} (not finite)`);
          const coef = clipCoefficient(BENCH.maxGradNorm, gradNorm);
          await sync();
          const t2 = performance.now();
          await optimizer.step(grads, BENCH.lr, coef);
          await sync();
          const t3 = performance.now();
          return { loss, gradNorm, fwdBwd: t1 - t0, clip: t2 - t1, update: t3 - t2, total: t3 - t0 };
        } finally {
          for (const g of grads.values()) g.dispose();
        }
      };
      const name = (what: string) => `csm-1b train ${what} ${kind} B=2 30s${quick ? ' quick' : ''}`;
      try {
        // Warm-up (pipelines compile in the first one); the peak of live tensor bytes is taken
        // over the first step, optimizer state included (adamw's moments exist from construction).
        let peak = 0;
        const warm: number[] = [];
        for (let i = 0; i < BENCH.optimWarmup; i++) {
          let r: Awaited<ReturnType<typeof fullStep>> | undefined;
          // A rejected pipeline or an allocation that failed does not throw: its dispatches are
          // skipped and the numbers are garbage (the grad norm's 281-input AddN did this once).
          // Validation and out-of-memory errors of the warm-up step fail the row.
          ctx?.device.pushErrorScope('out-of-memory');
          ctx?.device.pushErrorScope('validation');
          const p = await peakBytes(async () => { r = await fullStep(); });
          if (ctx) {
            const validation = await ctx.device.popErrorScope();
            const oom = await ctx.device.popErrorScope();
            const err = oom ?? validation;
            if (err) throw new Error(`WebGPU ${oom ? 'out of memory' : 'validation error'} during the first ${kind} step (results would be invalid): ${err.message.split('\n')[0]}`);
          }
          if (i === 0) peak = p;
          warm.push(r!.total);
        }
        const steps: Awaited<ReturnType<typeof fullStep>>[] = [];
        for (let i = 0; i < BENCH.optimSteps; i++) steps.push(await fullStep());
        const stateBytes = optimizer.stateBytes();
        const where = kind === 'adamw'
          ? `${info.backend} tensors (m, v float32), update path ${optimizer.path}`
          : `${optimizer.path === 'webgpu-fused' ? 'GPU buffers (uint8 codes packed 4 per u32 word' : 'host memory (uint8 codes'} + float32 absmax per 256 values; tensors below 4096 values keep float32), update path ${optimizer.path}`;
        const med = (k: 'fwdBwd' | 'clip' | 'update' | 'total') => median(steps.map((s) => s[k]));
        const mem = runtimeInfo().memory;
        console.log(`${kind}: warm-up ${warm.map((t) => t.toFixed(0)).join(', ')} ms; steps ${steps.map((s) => s.total.toFixed(0)).join(', ')} ms `
          + `(median fwd+bwd ${med('fwdBwd').toFixed(0)}, norm ${med('clip').toFixed(0)}, update+clip ${med('update').toFixed(0)}, ${optimizer.path}); `
          + `losses ${steps.map((s) => s.loss.toFixed(4)).join(', ')}; grad norms ${steps.map((s) => s.gradNorm.toFixed(3)).join(', ')}; `
          + `${(tokensPerStep / (med('total') / 1e3)).toFixed(0)} tokens/s; peak live tensors ${(peak / 2 ** 30).toFixed(3)} GiB; `
          + `optimizer state ${(stateBytes / 2 ** 20).toFixed(1)} MiB in ${where}; WebGPU buffers ${mem.gpuBytesAllocated != null ? (mem.gpuBytesAllocated / 2 ** 30).toFixed(2) : '-'} GiB`);
        const phases = `median phases fwd+bwd ${med('fwdBwd').toFixed(0)} ms, grad norm ${med('clip').toFixed(0)} ms, update with clip folded in (${optimizer.path}) ${med('update').toFixed(0)} ms`;
        const ptKey = kind === 'adamw' ? 'adamw_f32' : 'adamw8bit_f32';
        const ptNote = `PyTorch: ${torch?.notes?.[ptKey] ?? (kind === 'adamw_8bit' ? torch?.notes?.adamw8bit : undefined) ?? 'not measured'}`;
        const common = `lr ${BENCH.lr}, wd ${BENCH.weightDecay}, clip ${BENCH.maxGradNorm}, ${params.length} LoRA tensors (${(params.reduce((n, p) => n + p.variable.size, 0) / 1e6).toFixed(1)} M); ttslab ${kind} f32 weights${tag}`;
        rows.push({ name: name('step'), unit: 'ms', ttslab: med('total'), pytorch: pt(`opt_step_ms_${ptKey}`), note: `forward + backward + clip + update, median of ${BENCH.optimSteps} after ${BENCH.optimWarmup} warm-up; ${phases}; ${common}; ${ptNote}` });
        rows.push({ name: name('tokens/s'), unit: 'tokens/s', ttslab: tokensPerStep / (med('total') / 1e3), pytorch: pt(`opt_tokens_s_${ptKey}`), note: `${tokensPerStep} tokens per step = ${BENCH.batch} rows x ${batch.inputIds[0].length} positions${tag}` });
        rows.push({ name: name('peak memory'), unit: 'GiB', ttslab: peak / 2 ** 30, pytorch: pt(`opt_peak_gib_${ptKey}`), note: `ttslab: peak live tensor bytes over a full step, weights ${(weightBytes / 2 ** 30).toFixed(2)} GiB included; PyTorch: max_memory_allocated over the timed steps${tag}` });
        rows.push({ name: name('optimizer state'), unit: 'MiB', ttslab: stateBytes / 2 ** 20, pytorch: pt(`opt_state_mib_${ptKey}`), note: `ttslab: Optimizer.stateBytes(), in ${where}; PyTorch: bytes of optimizer.state tensors${tag}` });
        appendRows(device, rows, { quick, outDir });
      } catch (e) {
        console.log(`ttslab ${kind} train step FAILED: ${String(e).slice(0, 2000)}`);
        rows.push({ name: name('step'), unit: 'ms', ttslab: null, pytorch: null, note: `ttslab FAILED: ${String(e).slice(0, 200)}` });
      } finally {
        optimizer.dispose();
      }
    }
    // The PyTorch-only variants (fused AdamW, bf16 autocast), so the table holds them too.
    for (const [key, label] of [['adamw_fused_f32', 'adamw fused'], ['adamw_bf16', 'adamw bf16-autocast'], ['adamw_fused_bf16', 'adamw fused bf16-autocast'], ['adamw8bit_bf16', 'adamw_8bit bf16-autocast']] as const) {
      if (torch?.rows?.[`opt_step_ms_${key}`] == null) continue;
      const base = `csm-1b train %s ${label} B=2 30s${quick ? ' quick' : ''}`;
      const note = `PyTorch only: ${torch?.notes?.[key] ?? key}; ttslab has no bf16 path (tfjs 4.22: f32); its fused WGSL update is in the adamw / adamw_8bit rows${tag}`;
      rows.push({ name: base.replace('%s', 'step'), unit: 'ms', ttslab: null, pytorch: pt(`opt_step_ms_${key}`), note });
      rows.push({ name: base.replace('%s', 'tokens/s'), unit: 'tokens/s', ttslab: null, pytorch: pt(`opt_tokens_s_${key}`), note });
      rows.push({ name: base.replace('%s', 'peak memory'), unit: 'GiB', ttslab: null, pytorch: pt(`opt_peak_gib_${key}`), note: `max_memory_allocated over the timed steps${tag}` });
      rows.push({ name: base.replace('%s', 'optimizer state'), unit: 'MiB', ttslab: null, pytorch: pt(`opt_state_mib_${key}`), note: `bytes of optimizer.state tensors${tag}` });
    }
    appendRows(device, rows, { quick, outDir });
  }

  if (run.generate) {
    adapter.unload?.();
    const ids = [BOS, ...Array.from({ length: BENCH.genText - 2 }, (_, i) => 2000 + 37 * i), EOS];
    const prompt = { inputIds: [ids], audioCodes: [[]], attentionMask: [ids.map(() => 1)] };
    const greedy = { doSample: false };
    try {
      await generateFrames(model, prompt, { maxNewFrames: 2, backbone: greedy, depthDecoder: greedy }); // warm-up
      t0 = performance.now();
      const out = await generateFrames(model, prompt, { maxNewFrames: BENCH.genFrames, backbone: greedy, depthDecoder: greedy });
      const s = (performance.now() - t0) / 1e3;
      const n = out.frames[0].length;
      console.log(`generation: ${n} frames in ${s.toFixed(2)} s (${(n / s).toFixed(2)} frames/s; real time needs 12.5)${out.stopped[0] ? ', stopped on the end frame' : ''}`);
      rows.push({ name: `csm-1b generate frames/s B=1${quick ? ' quick' : ''}`, unit: 'frames/s', ttslab: n / s, pytorch: pt('gen_fps_f32'), note: `greedy, ${n} frames after ${ids.length} text tokens, no LoRA; f32; PyTorch ${torch?.notes?.generate ?? '-'}${tag}` });
      rows.push({ name: `csm-1b generate frames/s B=1 bf16${quick ? ' quick' : ''}`, unit: 'frames/s', ttslab: null, pytorch: pt('gen_fps_bf16'), note: `PyTorch bf16 generate()${tag}` });
    } catch (e) {
      console.log(`ttslab generation FAILED: ${String(e).slice(0, 2000)}`);
      rows.push({ name: `csm-1b generate frames/s B=1${quick ? ' quick' : ''}`, unit: 'frames/s', ttslab: null, pytorch: pt('gen_fps_f32'), note: `ttslab FAILED: ${String(e).slice(0, 200)}` });
    }
  }
  model.dispose();

  const file = appendRows(device, rows, { quick, outDir });
  console.log(`\nwritten: ${file}\n`);
  printRows(rows);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
