/**
 * CSM-1B shape with random weights (issue 7, acceptance 3), ttslab on the active backend
 * (WebGPU on a GPU machine, f32) against PyTorch (bench/csm_torch.py: transformers
 * CsmForConditionalGeneration + PEFT, same sizes) in the same command:
 *   - one LoRA training step (r 32, alpha 16, rsLoRA, q,k,v,o,gate,up,down of the backbone and
 *     the depth decoder): forward + backward of a batch of 2 clips of 30 s (375 frames at
 *     12.5 Hz after a 20-token text), the depth decoder on 1/16 of the frames (every 16th frame
 *     and the end-of-audio frame): step time and peak GPU memory;
 *   - greedy generation, batch 1, 50 frames after a short text: frames per second.
 * Rows go to bench/results/<date>-<device>.json (bench/results.ts). Flags: --quick (tiny
 * sizes, for lavapipe), --out DIR (copy of the JSON), --no-torch, --skip-train, --skip-generate.
 *   scripts/gpu/run.sh node .gpu-run/bundle/bench-csm.js --out $OUT
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
import { applyLora, loraValueAndGrads } from '../src/lora';
import { appendRows, median, peakBytes, printRows, type BenchRow } from './results';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outDir = args.includes('--out') ? args[args.indexOf('--out') + 1] : undefined;
const noTorch = args.includes('--no-torch');

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


function runTorch(): { device?: string; rows?: Record<string, number>; notes?: Record<string, string>; error?: string } | undefined {
  if (noTorch) return undefined;
  const probe = spawnSync('python3', ['-c', 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 3)'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log('PyTorch column skipped: python3 with torch and CUDA not available');
    return undefined;
  }
  const t0 = performance.now();
  const r = spawnSync('python3', [join(__dirname, 'csm_torch.py'), JSON.stringify({ config: HF_CONFIG, bench: BENCH, lora_regex: LORA_REGEX })], {
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

  if (!args.includes('--skip-train')) {
    const batch = trainBatch(config.numCodebooks);
    console.log(`train batch: ${BENCH.batch} x ${batch.inputIds[0].length} tokens (${BENCH.frames} frames each), depth decoder on ${batch.depthFrames} frames`);
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

  if (!args.includes('--skip-generate')) {
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
