/**
 * `ttslab train` (`npm run train -- ...`): the training loop in a terminal, for long runs.
 *
 * Two ways to name what to train:
 *
 * 1. A text-to-speech model and a dataset, as notebook 05 does (the same library calls:
 *    `loadTtsModel`, `ttsTrainingData`, `trainTts`):
 *
 *      ttslab train --model tiny-random-csm|csm|<Hub repo id>|<model folder> \
 *                   --data <work folder>|<dataset folder>|<file.parquet>|<Hub dataset id> \
 *                   [--<TrainConfig field in kebab case> <value> ...]
 *
 *    e.g. `--lora-r 16 --learning-rate 1e-4 --max-steps 200 --output-dir runs/voice
 *    --resume`. Every TrainConfig field (src/train/config.ts) has a flag; booleans take no
 *    value (`--use-rslora`, `--no-use-rslora`) or `true`/`false`; `--target-modules` takes
 *    a comma list; `--resume` alone continues from the newest checkpoint in the output
 *    folder, `--resume <checkpoint folder>` from that one. The default output folder is
 *    notebook 05's, `<work>/adapters/<model>/`. `--merged <folder>` then writes the merged
 *    checkpoint (`--merged-dtype BF16|F16|F32`).
 *
 * 2. A run file of token examples for a Llama-architecture model:
 *
 *      ttslab train --config run.json   (flags as above override its "train" fields)
 *
 *    run.json (paths relative to the working directory):
 *      {
 *        "model": "meta-llama/Llama-3.2-1B" | "path/to/model" | { "random": { <config.json keys> }, "seed": 0 },
 *        "data": "train.jsonl",          one example per line: {"input_ids": [...], "labels": [...]}
 *        "evalData": "eval.jsonl",       optional; otherwise train.evalSplit holds some out
 *        "train": { <TrainConfig fields> }
 *      }
 *
 * Common flags: `--backend cpu|wasm|webgpu|tensorflow|auto`, `--progress bar|lines|none`
 * (default: a bar redrawn on stderr in a terminal, one line per logged step otherwise).
 * Unknown flags or keys, and bad values, are errors naming the flag and the value.
 * Exit codes: 0 done, 1 error, 2 usage error, 3 stopped on a NaN/Inf (the message names
 * the step and the last good checkpoint).
 */
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { LlamaForCausalLM } from '../models/llama/modeling';
import { fromHfConfig } from '../models/llama/config';
import { initRuntime } from '../runtime';
import type { BackendRequest } from '../runtime';
import { DEFAULT_TRAIN_CONFIG, TRAIN_CONFIG_FIELDS, TrainConfigError, validateTrainConfig } from './config';
import type { TrainConfig } from './config';
import { LlamaLoraTrainable } from './llama';
import { NonFiniteError, train } from './trainer';
import type { TrainOptions } from './trainer';
import type { StepMetrics } from './metrics';
import type { TokenExample } from './types';
import { adapterOutputDir, loadTtsModel } from '../models/registry';
import { saveMergedTts } from '../models/csm/trainable';
import { trainTts, ttsTrainConfig, ttsTrainingData } from './tts';

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

/** `loraR` -> `lora-r`, `adamBeta1` -> `adam-beta1`. */
export function flagName(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

const FIELD_OF_FLAG = new Map(TRAIN_CONFIG_FIELDS.map((f) => [flagName(f), f]));

/** A command-line mistake: names the flag and the value. Exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const BACKENDS = ['cpu', 'wasm', 'webgpu', 'tensorflow', 'auto'] as const;
const PROGRESS = ['bar', 'lines', 'none'] as const;
const MERGED_DTYPES = ['BF16', 'F16', 'F32'] as const;

export interface CliArgs {
  /** `--config run.json` (mode 2). */
  config?: string;
  /** `--model` (mode 1). */
  model?: string;
  /** `--data` (mode 1). */
  data?: string;
  backend: (typeof BACKENDS)[number];
  progress?: (typeof PROGRESS)[number];
  /** `--merged <folder>`: write the merged checkpoint after training (mode 1). */
  merged?: string;
  mergedDtype: (typeof MERGED_DTYPES)[number];
  /** TrainConfig fields given as flags (validated). */
  train: Partial<TrainConfig>;
  help: boolean;
}

function parseValue(flag: string, field: keyof TrainConfig, raw: string | undefined): unknown {
  const example = DEFAULT_TRAIN_CONFIG[field];
  if (raw === undefined) throw new UsageError(`--${flag} needs a value`);
  if (typeof example === 'number') {
    const v = raw.trim() === '' ? Number.NaN : Number(raw);
    if (!Number.isFinite(v)) throw new UsageError(`--${flag} must be a number, got ${JSON.stringify(raw)}`);
    return v;
  }
  if (typeof example === 'boolean') {
    if (raw !== 'true' && raw !== 'false') throw new UsageError(`--${flag} must be true or false, got ${JSON.stringify(raw)}`);
    return raw === 'true';
  }
  if (Array.isArray(example)) return raw.split(',').map((x) => x.trim()).filter(Boolean);
  return raw;
}

/** Parses the arguments after `train`; throws a UsageError naming the flag and value. TrainConfig values are validated too. */
export function parseArgs(argv: string[]): CliArgs {
  const args = [...argv];
  if (args[0] === 'train') args.shift();
  const out: CliArgs = { backend: 'auto', mergedDtype: 'BF16', train: {}, help: false };
  const raw: Record<string, unknown> = {};
  const oneOf = <T extends string>(flag: string, xs: readonly T[], v: string | undefined): T => {
    if (v === undefined || !(xs as readonly string[]).includes(v)) throw new UsageError(`--${flag} must be one of ${xs.join(', ')}, got ${JSON.stringify(v ?? null)}`);
    return v as T;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--help' || a === '-h') {
      out.help = true;
      continue;
    }
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(a)} (flags start with --)`);
    let flag = a.slice(2);
    let inline: string | undefined;
    const eq = flag.indexOf('=');
    if (eq >= 0) {
      inline = flag.slice(eq + 1);
      flag = flag.slice(0, eq);
    }
    const next = (): string | undefined => {
      if (inline !== undefined) return inline;
      const v = args[i + 1];
      if (v === undefined || v.startsWith('--')) return undefined;
      i++;
      return v;
    };
    const str = (): string => {
      const v = next();
      if (v === undefined || v === '') throw new UsageError(`--${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case 'config': out.config = str(); continue;
      case 'model': out.model = str(); continue;
      case 'data': out.data = str(); continue;
      case 'merged': out.merged = str(); continue;
      case 'backend': out.backend = oneOf(flag, BACKENDS, next()); continue;
      case 'progress': out.progress = oneOf(flag, PROGRESS, next()); continue;
      case 'merged-dtype': out.mergedDtype = oneOf(flag, MERGED_DTYPES, next()?.toUpperCase()); continue;
      default: break;
    }
    const negated = flag.startsWith('no-') && FIELD_OF_FLAG.has(flag.slice(3));
    const field = FIELD_OF_FLAG.get(negated ? flag.slice(3) : flag);
    if (!field) {
      const near = [...FIELD_OF_FLAG.keys(), 'model', 'data', 'config', 'backend', 'progress', 'merged', 'merged-dtype']
        .find((f) => f.replace(/-/g, '') === flag.toLowerCase().replace(/[-_]/g, ''));
      throw new UsageError(`unknown flag --${flag}${inline !== undefined ? `=${inline}` : ''}${near ? ` (did you mean --${near}?)` : ''}; see ttslab train --help`);
    }
    if (field in raw) throw new UsageError(`--${flag} given twice`);
    const example = DEFAULT_TRAIN_CONFIG[field];
    if (negated) {
      if (typeof example !== 'boolean' && field !== 'resume') throw new UsageError(`--${flag}: --${flagName(field)} is not a true/false flag`);
      if (inline !== undefined) throw new UsageError(`--${flag} takes no value, got ${JSON.stringify(inline)}`);
      raw[field] = false;
    } else if (field === 'resume') {
      const v = next();
      raw[field] = v === undefined || v === 'true' ? true : v === 'false' ? false : v;
    } else if (typeof example === 'boolean') {
      const v = inline ?? (args[i + 1] === 'true' || args[i + 1] === 'false' ? args[++i] : 'true');
      raw[field] = parseValue(flag, field, v);
    } else {
      raw[field] = parseValue(flag, field, next());
    }
  }
  // Ranges and enums: the TrainConfig validator, with the flag named.
  for (const [field, value] of Object.entries(raw)) {
    try {
      validateTrainConfig({ [field]: value, ...(field === 'warmupSteps' ? { maxSteps: Math.max(1, Number(value) || 1) } : {}) }, 'flags');
    } catch (e) {
      if (e instanceof TrainConfigError) throw new UsageError(`--${flagName(field)} ${e.message.replace(/^flags: \S+ /, '')}`);
      throw e;
    }
  }
  out.train = raw as Partial<TrainConfig>;
  if (!out.help) {
    if (out.config && (out.model || out.data)) throw new UsageError('give either --config run.json or --model and --data, not both');
    if (!out.config && !(out.model && out.data)) throw new UsageError(out.model ? '--data is missing (a work folder, dataset folder, Parquet file or Hub dataset id)' : out.data ? '--model is missing (tiny-random-csm, csm, a Hub repo id or a model folder)' : 'nothing to train: give --model and --data, or --config run.json');
    if (out.merged && !out.model) throw new UsageError('--merged needs --model (the merged checkpoint is of a text-to-speech model)');
  }
  return out;
}

export const USAGE = `usage:
  ttslab train --model <tiny-random-csm|csm|repo id|folder> --data <work folder|dataset> [flags]
  ttslab train --config run.json [flags]

TrainConfig flags (defaults: the workshop's, src/train/config.ts documents each):
${TRAIN_CONFIG_FIELDS.filter((f) => f !== 'livePlot').map((f) => `  --${flagName(f)} ${JSON.stringify(DEFAULT_TRAIN_CONFIG[f])}`).join('\n')}
Other flags:
  --backend cpu|wasm|webgpu|tensorflow|auto   (default auto)
  --progress bar|lines|none                   (default: bar on a terminal, else lines)
  --merged <folder> [--merged-dtype BF16|F16|F32]   also write the merged checkpoint
`;

/** Terminal progress: the ProgressBar on a TTY, else one line per logged step on stdout. */
function progressOptions(mode: CliArgs['progress']): Pick<TrainOptions<unknown>, 'progress' | 'onStep'> {
  const m = mode ?? (process.stderr.isTTY ? 'bar' : 'lines');
  if (m === 'bar') return { progress: 'terminal' };
  if (m === 'none') return { progress: 'none' };
  return {
    progress: 'none',
    onStep: (s: StepMetrics) => {
      const ev = s.eval_loss !== undefined ? `  eval_loss ${s.eval_loss.toFixed(4)}` : '';
      console.log(`step ${s.step}  loss ${s.loss.toFixed(4)}${ev}  lr ${s.lr.toExponential(2)}  grad_norm ${s.grad_norm.toFixed(3)}  ${Math.round(s.tokens_per_s)} tok/s`);
    },
  };
}

async function trainTtsFromArgs(a: CliArgs): Promise<number> {
  const tts = await loadTtsModel(a.model!);
  try {
    // The family's preset (tts.trainDefaults) under the flags, as trainTts applies it.
    const config = ttsTrainConfig(tts, { outputDir: adapterOutputDir(a.model!), ...a.train, livePlot: false }, 'flags');
    console.log(`model ${tts.name}`);
    if (tts.warning) console.log(`WARNING: ${tts.warning}`);
    const data = await ttsTrainingData(tts, a.data!, { progress: a.progress === 'bar' || (!a.progress && process.stderr.isTTY) ? 'terminal' : 'none' });
    console.log(`${data.train.length} training and ${data.eval.length} validation examples from ${data.source.dataset}`);
    console.log(tts.trainable(config).adapter.report().text);
    const r = await trainTts(tts, data, config, progressOptions(a.progress));
    console.log(`done: ${r.steps} steps, adapter in ${r.adapterDir}, metrics in ${config.outputDir}/metrics.jsonl`);
    if (a.merged) {
      const files = await saveMergedTts(tts, a.merged, { dtype: a.mergedDtype });
      console.log(`merged ${a.mergedDtype} checkpoint: ${files.dir} (${files.files.length} files)${files.note ? `; ${files.note}` : ''}`);
    }
    return 0;
  } finally {
    tts.dispose();
  }
}

async function trainRunFile(a: CliArgs): Promise<number> {
  const file = a.config!;
  const run = validateRunFile(JSON.parse(await readFile(file, 'utf8')), file);
  const trainConfig = validateTrainConfig({ ...run.train, ...a.train }, `${file}: train`);
  const base = typeof run.model === 'string'
    ? await LlamaForCausalLM.fromPretrained(run.model)
    : LlamaForCausalLM.random(fromHfConfig(run.model.random, { source: `${file}: model.random` }), { seed: run.model.seed, std: run.model.std });
  const model = LlamaLoraTrainable.create(base, trainConfig, typeof run.model === 'string' ? run.model : null);
  console.log(model.adapter.report().text);
  const examples = await readTokenExamples(run.data);
  const evalExamples = run.evalData ? await readTokenExamples(run.evalData) : undefined;
  const r = await train(model, examples, trainConfig, { evalExamples, ...(a.progress ? progressOptions(a.progress) : {}) });
  console.log(`done: ${r.steps} steps, adapter in ${r.adapterDir}`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  let a: CliArgs;
  try {
    a = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`ttslab train: ${e.message}`);
    console.error(USAGE);
    return 2;
  }
  if (a.help) {
    console.log(USAGE);
    return 0;
  }
  await initRuntime({ backend: a.backend as BackendRequest });
  try {
    return await (a.config ? trainRunFile(a) : trainTtsFromArgs(a));
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
