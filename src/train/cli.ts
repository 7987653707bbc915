/**
 * `ttslab train --config run.json`: the training loop in a terminal, for long runs.
 *
 * run.json (paths relative to the working directory):
 *   {
 *     "model": "meta-llama/Llama-3.2-1B" | "path/to/model" | { "random": { <config.json keys> }, "seed": 0 },
 *     "data": "train.jsonl",          one example per line: {"input_ids": [...], "labels": [...]}
 *     "evalData": "eval.jsonl",       optional; otherwise train.evalSplit holds some out
 *     "train": { <TrainConfig fields> }
 *   }
 * Unknown keys are errors. Exit codes: 0 done, 1 error, 3 stopped on a NaN/Inf (the
 * message names the step and the last good checkpoint).
 */
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { LlamaForCausalLM } from '../models/llama/modeling';
import { fromHfConfig } from '../models/llama/config';
import { initRuntime } from '../runtime';
import type { BackendRequest } from '../runtime';
import { validateTrainConfig } from './config';
import { LlamaLoraTrainable } from './llama';
import { NonFiniteError, train } from './trainer';
import type { TokenExample } from './types';

export interface RunFile {
  model: string | { random: Record<string, unknown>; seed?: number; std?: number };
  data: string;
  evalData?: string;
  train: Record<string, unknown>;
}

const RUN_KEYS = ['model', 'data', 'evalData', 'train'];

export function validateRunFile(json: unknown, source: string): RunFile {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${source}: expected a JSON object`);
  const o = json as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!RUN_KEYS.includes(k)) throw new Error(`${source}: ${k} is not a run field (${RUN_KEYS.join(', ')}), got ${JSON.stringify(o[k])}`);
  const m = o.model;
  const okModel = (typeof m === 'string' && m.length > 0)
    || (typeof m === 'object' && m !== null && typeof (m as Record<string, unknown>).random === 'object');
  if (!okModel) throw new Error(`${source}: model must be a Hub repo id, a model folder or {"random": {...}}, got ${JSON.stringify(m)}`);
  if (typeof o.data !== 'string' || !o.data) throw new Error(`${source}: data must be a JSONL file path, got ${JSON.stringify(o.data)}`);
  if (o.evalData !== undefined && (typeof o.evalData !== 'string' || !o.evalData)) throw new Error(`${source}: evalData must be a JSONL file path, got ${JSON.stringify(o.evalData)}`);
  validateTrainConfig(o.train ?? {}, `${source}: train`);
  return { model: m as RunFile['model'], data: o.data, evalData: o.evalData as string | undefined, train: (o.train ?? {}) as Record<string, unknown> };
}

/** Reads token examples, one JSON object per line, HF (`input_ids`) or ttslab (`inputIds`) keys; labels default to the ids. */
export async function readTokenExamples(file: string): Promise<TokenExample[]> {
  const out: TokenExample[] = [];
  (await readFile(file, 'utf8')).split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file}:${i + 1}: ${(e as Error).message}`);
    }
    const ids = o.input_ids ?? o.inputIds;
    const labels = o.labels ?? ids;
    if (!Array.isArray(ids) || !Array.isArray(labels)) throw new Error(`${file}:${i + 1}: expected input_ids (and labels) arrays`);
    out.push({ inputIds: ids as number[], labels: labels as number[] });
  });
  if (out.length === 0) throw new Error(`${file}: no examples`);
  return out;
}

export async function main(argv: string[]): Promise<number> {
  const args = [...argv];
  if (args[0] === 'train') args.shift();
  const at = args.indexOf('--config');
  const backendAt = args.indexOf('--backend');
  if (at < 0 || !args[at + 1] || args.includes('--help')) {
    console.error('usage: ttslab train --config run.json [--backend cpu|wasm|webgpu|tensorflow|auto]');
    return args.includes('--help') ? 0 : 2;
  }
  const file = args[at + 1];
  const run = validateRunFile(JSON.parse(await readFile(file, 'utf8')), file);
  await initRuntime({ backend: (backendAt >= 0 ? args[backendAt + 1] : 'auto') as BackendRequest });
  const trainConfig = validateTrainConfig(run.train, `${file}: train`);
  const base = typeof run.model === 'string'
    ? await LlamaForCausalLM.fromPretrained(run.model)
    : LlamaForCausalLM.random(fromHfConfig(run.model.random, { source: `${file}: model.random` }), { seed: run.model.seed, std: run.model.std });
  const model = LlamaLoraTrainable.create(base, trainConfig, typeof run.model === 'string' ? run.model : null);
  console.log(model.adapter.report().text);
  const examples = await readTokenExamples(run.data);
  const evalExamples = run.evalData ? await readTokenExamples(run.evalData) : undefined;
  try {
    const r = await train(model, examples, trainConfig, { evalExamples });
    console.log(`done: ${r.steps} steps, adapter in ${r.adapterDir}`);
    return 0;
  } catch (e) {
    if (e instanceof NonFiniteError) return 3;
    throw e;
  } finally {
    tf.disposeVariables();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
