/**
 * Acceptance 3 of issue 4: one forward of a Llama-3.2-1B-shaped model with random weights
 * over a 512-token batch, on the GPU through WebGPU, against torch's f32 logits (TF32
 * off). The model, input and reference come from
 * `make_llama_fixtures.py --bench-1b DIR` (run first, same machine). Prints one JSON line
 * and writes it to $OUT/bench_llama_1b.json when OUT is set. docs/performance.md has the
 * command and the numbers.
 *
 *   node --import tsx test/models/bench_llama_1b.ts DIR        # BACKEND=cpu|wasm|webgpu (default webgpu)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initRuntime } from '../../src/runtime';
import type { BackendName } from '../../src/runtime';
import { Checkpoint } from '../../src/weights/checkpoint';
import { LlamaForCausalLM } from '../../src/models/llama';
import { relError } from './llama_fixtures';

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: bench_llama_1b.ts DIR (made by make_llama_fixtures.py --bench-1b DIR)');
  const backend = (process.env.BACKEND ?? 'webgpu') as BackendName;
  const info = await initRuntime({ backend });
  const ref = JSON.parse(readFileSync(join(dir, 'bench.json'), 'utf8')) as { input_ids: number[][]; torch_median_ms: number; device: string };
  let t = performance.now();
  const model = await LlamaForCausalLM.fromPretrained(dir);
  const loadMs = performance.now() - t;
  const inputIds = ref.input_ids;
  // Completion of the whole forward is forced by reading one logit (a 1-element download);
  // reading all logits adds a [1, 512, 128256] float32 (263 MB) download, timed apart.
  const forward = async () => {
    const t0 = performance.now();
    const logits = model.forward({ inputIds });
    const one = logits.slice([0, 0, 0], [1, 1, 1]);
    await one.data();
    const computeMs = performance.now() - t0;
    one.dispose();
    return { logits, computeMs };
  };
  const first = await forward(); // includes shader compilation
  first.logits.dispose();
  const computeMs: number[] = [];
  let last: tf.Tensor3D | null = null;
  for (let i = 0; i < 3; i++) {
    last?.dispose();
    const r = await forward();
    computeMs.push(r.computeMs);
    last = r.logits;
  }
  t = performance.now();
  const data = (await last!.data()) as Float32Array;
  const downloadMs = performance.now() - t;
  const shape = last!.shape;
  last!.dispose();
  const expected = await (await Checkpoint.open(join(dir, 'expected.safetensors'))).getF32('logits');
  if (expected.shape.join() !== shape.join()) throw new Error(`logits [${shape}] vs reference [${expected.shape}]`);
  const relErr = relError(data, expected.data);
  computeMs.sort((a, b) => a - b);
  const result = {
    what: 'Llama-3.2-1B shape, random weights, forward of [1, 512] tokens, f32',
    date: new Date().toISOString().slice(0, 10),
    device: info.webgpu ? `${info.webgpu.vendor} ${info.webgpu.architecture} ${info.webgpu.description}`.trim() : ref.device,
    torchDevice: ref.device,
    backend: info.backend,
    params: model.numParameters(),
    loadMs: Math.round(loadMs),
    firstForwardMs: Math.round(first.computeMs),
    forwardMs: computeMs.map((x) => Math.round(x)),
    medianForwardMs: Math.round(computeMs[1]),
    logitsDownloadMs: Math.round(downloadMs),
    torchF32MedianMs: +ref.torch_median_ms.toFixed(1),
    relErr,
    pass: relErr <= 1e-3,
  };
  model.dispose();
  const line = JSON.stringify(result);
  console.log(line);
  if (process.env.OUT) writeFileSync(join(process.env.OUT, 'bench_llama_1b.json'), line + '\n');
  if (!result.pass) process.exit(1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
