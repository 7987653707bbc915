/**
 * Whisper large-v3-turbo shape with random weights (issue 6, acceptance 3): time to encode one
 * 30 s window and greedy decoder tokens/s with the KV cache (64 steps after a 4-token prompt,
 * logits read back every step as decoding does), ttslab on the active backend (WebGPU on a GPU
 * machine) against PyTorch CUDA f32 in the same run (bench/whisper_torch.py). Prints JSON and
 * appends rows to bench/results/<date>-<device>.json (bench/results.ts).
 * Flags: --quick (tiny model, few steps, no PyTorch: for lavapipe), --out DIR (copy of the JSON).
 *   scripts/gpu/run.sh node .gpu-run/bundle/bench-whisper.js --out $OUT
 */
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { initRuntime } from '../src/runtime';
import { WHISPER_LARGE_V3_TURBO, WhisperForConditionalGeneration } from '../src/models/whisper';
import { appendRows, printRows } from './results';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outDir = args.includes('--out') ? args[args.indexOf('--out') + 1] : undefined;
const CONFIG = quick
  ? { ...WHISPER_LARGE_V3_TURBO, dModel: 64, encoderLayers: 2, decoderLayers: 2, encoderAttentionHeads: 4, decoderAttentionHeads: 4, encoderFfnDim: 128, decoderFfnDim: 128 }
  : WHISPER_LARGE_V3_TURBO;

async function median(fn: () => Promise<void>, warm: number, runs: number): Promise<number> {
  for (let i = 0; i < warm; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)]!;
}

async function main(): Promise<void> {
  const torch = quick ? undefined : spawnSync('python3', ['bench/whisper_torch.py'], { encoding: 'utf8' });
  const pytorch = !torch ? { skipped: '--quick' } : torch.status === 0 ? JSON.parse(torch.stdout.trim().split('\n').pop()!) : { error: torch.stderr.slice(-2000) };
  console.log(JSON.stringify({ pytorch }));
  const info = await initRuntime({ backend: process.env.BACKEND as 'webgpu' | undefined ?? 'webgpu' });
  const model = WhisperForConditionalGeneration.random(CONFIG, { seed: 0 });
  const feats = tf.randomNormal([1, 128, 3000], 0, 1, 'float32', 1) as tf.Tensor3D;
  const encodeMs = await median(async () => {
    const e = model.encode(feats);
    await e.data();
    e.dispose();
  }, 1, 3);
  const enc = model.encode(feats);
  const cache = model.createCache();
  const STEPS = quick ? 8 : 64;
  const decodeMs = await median(async () => {
    model.setEncoderOutput(cache, enc);
    let out = model.decode([[50258, 50259, 50360, 50365]], cache);
    for (let i = 0; i < STEPS; i++) {
      const l = await out.logits.data();
      out.logits.dispose();
      let best = 0;
      for (let j = 1; j < l.length; j++) if (l[j]! > l[best]!) best = j;
      out = model.decode([[best]], cache);
    }
    await out.logits.data();
    out.logits.dispose();
  }, 1, 3);
  cache.dispose();
  enc.dispose();
  console.log(JSON.stringify({
    ttslab: { backend: info.backend, encode_30s_ms: encodeMs, decoder_tokens_per_s: (STEPS / decodeMs) * 1000, decode_steps: STEPS, dtype: 'float32' },
    pytorch,
  }));
  const tag = quick ? ' quick' : '';
  const note = `large-v3-turbo shape${quick ? ' (quick: tiny sizes)' : ''}, random weights, f32 both (PyTorch TF32 off, eager attention); ttslab ${info.backend}`;
  const pt = (k: string) => (typeof pytorch[k] === 'number' ? (pytorch[k] as number) : null);
  const rows = [
    { name: `whisper encode 30 s${tag}`, unit: 'ms', ttslab: encodeMs, pytorch: pt('encode_30s_ms'), note },
    { name: `whisper decoder tokens/s${tag}`, unit: 'tokens/s', ttslab: (STEPS / decodeMs) * 1000, pytorch: pt('decoder_tokens_per_s'), note: `${note}; greedy, KV cache, batch 1, ${STEPS} steps after a 4-token prompt, logits read back each step` },
  ];
  const device = (pytorch.device as string | undefined) ?? info.webgpu?.description ?? info.backend;
  console.log(`written: ${appendRows(device, rows, { quick, outDir })}`);
  printRows(rows);
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
