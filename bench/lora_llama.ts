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
 *     vocabulary 193800, Llasa's LoRA. In f32 its embedding alone is 3.2 GB: WebGPU may refuse
 *     a buffer that large, which is then recorded as a failure row.
 * Batch: 2 sequences of 2048 tokens (`--batch`, `--seq` to go smaller when memory forces),
 * random ids, labels = inputs. Reported per model: step time (median of `--steps` after one
 * warm-up step), tokens/s = batch * seq / step, and peak memory (ttslab: peak live tensor
 * bytes during the first step, weights included; PyTorch: max_memory_allocated).
 * Rope scaling (Llama-3's "llama3" type) is left out on both sides: it changes no cost.
 * Rows go to bench/results/<date>-<device>.json (bench/results.ts).
 *
 *   node --import tsx bench/lora_llama.ts --tiny                      # CPU check: tiny shape, wasm
 *   scripts/gpu/run.sh node .gpu-run/bundle/bench-lora_llama.js --model orpheus-3b,llasa-1b,llasa-8b --out $OUT
 *
 * Flags: --model LIST (default orpheus-3b), --batch N (2), --seq N (2048), --steps N (3),
 * --tiny (tiny Llama, batch 2 x 64, for a CPU), --no-torch, --out DIR (copy of the JSON).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initRuntime, runtimeInfo, gpuContext, synchronize } from '../src/runtime';
import { fromHfConfig } from '../src/models/llama/config';
import { LlamaForCausalLM } from '../src/models/llama/modeling';
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

function intFlag(name: string, fallback: number): number {
  const v = flag(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be an integer >= 1, got ${JSON.stringify(v)}`);
  return n;
}

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
  const label = `${name} lora step B=${BENCH.batch}x${BENCH.seq}`;
  const loraNote = `LoRA r ${lora.loraR} / alpha ${lora.loraAlpha} on ${lora.targetModules.join(',')}`;
  const rows: BenchRow[] = [];
  const ctx = info.backend === 'webgpu' ? gpuContext() : undefined;
  const sync = async () => { if (ctx) await synchronize(ctx); };
  let model: LlamaForCausalLM | null = null;
  try {
    const config = fromHfConfig(hfConfig(shape), { source: `lora_llama bench (${name})` });
    let t0 = performance.now();
    model = LlamaForCausalLM.random(config, { seed: 1 });
    const trainable = LlamaLoraTrainable.create(model, lora);
    await sync();
    const loraParams = trainable.adapter.variables().reduce((n, v) => n + v.size, 0);
    const weightBytes = tf.memory().numBytes;
    console.log(`${name}: ${(model.numParameters() / 1e9).toFixed(3)} B base parameters, ${loraNote}: ${(loraParams / 1e6).toFixed(1)} M trainable; built in ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
    const ids = tokenBatch(config.vocabSize, BENCH.batch, BENCH.seq);
    const batch = trainable.collate(ids.map((r) => ({ inputIds: r, labels: r })));
    const step = async () => {
      const { value, grads } = loraValueAndGrads(trainable.adapter, () => trainable.loss(batch, { training: true }));
      await value.data();
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
    console.log(`${name} step: first ${first.toFixed(0)} ms, then ${ts.map((t) => t.toFixed(0)).join(', ')} ms = ${(tokens / (ms / 1e3)).toFixed(0)} tokens/s; `
      + `peak live tensors ${(peak / 2 ** 30).toFixed(2)} GiB (weights ${(weightBytes / 2 ** 30).toFixed(2)} GiB)`
      + (mem.gpuBytesAllocated != null ? `; WebGPU buffers ${(mem.gpuBytesAllocated / 2 ** 30).toFixed(2)} GiB` : ''));
    const note = `${loraNote} (${(loraParams / 1e6).toFixed(1)} M); ttslab f32 ${info.backend}; PyTorch ${torch?.notes?.train ?? '-'}`;
    rows.push({ name: label, unit: 'ms', ttslab: ms, pytorch: pt('step_ms'), note });
    rows.push({ name: `${label} tokens/s`, unit: 'tokens/s', ttslab: tokens / (ms / 1e3), pytorch: pt('tokens_per_s'), note: `${tokens} tokens per step; ttslab f32, PyTorch bf16` });
    rows.push({ name: `${label} peak memory`, unit: 'GiB', ttslab: peak / 2 ** 30, pytorch: pt('peak_gib'), note: `ttslab: peak live tensor bytes, f32 weights (${(weightBytes / 2 ** 30).toFixed(2)} GiB) included; PyTorch: max_memory_allocated, bf16` });
  } catch (e) {
    console.log(`ttslab ${name} step FAILED: ${String(e).slice(0, 2000)}`);
    rows.push({ name: label, unit: 'ms', ttslab: null, pytorch: pt('step_ms'), note: `ttslab FAILED: ${String(e).slice(0, 200)}` });
    rows.push({ name: `${label} tokens/s`, unit: 'tokens/s', ttslab: null, pytorch: pt('tokens_per_s'), note: 'ttslab failed (see the step row)' });
    rows.push({ name: `${label} peak memory`, unit: 'GiB', ttslab: null, pytorch: pt('peak_gib'), note: 'ttslab failed (see the step row); PyTorch: max_memory_allocated, bf16' });
  } finally {
    model?.dispose();
  }
  return { rows, device: torch?.device };
}

async function main(): Promise<void> {
  const info = await initRuntime({ backend: (process.env.BACKEND as 'webgpu' | 'wasm' | undefined) ?? (tiny ? 'wasm' : 'webgpu') });
  console.log(`ttslab backend ${info.backend} (${info.webgpu?.description ?? '-'}); batch ${BENCH.batch} x ${BENCH.seq} tokens`);
  const all: BenchRow[] = [];
  let device: string | undefined;
  const shapeOf = (name: string): Shape => (tiny ? { config: { ...TINY, vocab_size: 2061 }, lora: ORPHEUS_LORA_TRAIN } : MODELS[name]!);
  // Every PyTorch side first, each in its own process: ttslab's WebGPU device keeps its buffer
  // pool until this process exits, which would starve a later PyTorch run of GPU memory.
  const torchResults = new Map<string, TorchResult | undefined>();
  for (const name of names) {
    const shape = shapeOf(name);
    const torch = runTorch(name, shape, validateTrainConfig({ ...shape.lora, loraDropout: 0 }));
    if (torch?.error) console.log(`PyTorch ${name} bench failed:\n${torch.error}`);
    torchResults.set(name, torch);
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
