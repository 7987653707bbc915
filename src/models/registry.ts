/**
 * Model selection for notebooks 04-06: one config value names the model, `loadTtsModel`
 * turns it into a `TtsModel`, and the choice is written into the work folder by 04 so 05
 * and 06 use the same model.
 *
 * Values:
 * - 'csm': CSM-1B from `unsloth/csm-1b` (ungated, transformers layout, Mimi inside as
 *   `codec_model.*`), through the shared Hugging Face cache (offline-aware).
 * - a Hub repo id or a local folder in the same layout (a CSM fine-tune, say).
 * - 'tiny-random-csm': a seeded tiny random CSM + Mimi built in code, a PIPELINE CHECK
 *   ONLY (random weights: its audio is noise). See src/models/csm/tiny.ts for its sizes.
 * - 'orpheus', 'llasa', 'mini': not available yet (issues below).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '../audio/files';
import { workspace } from '../data/workspace';
import { HubError, isLocalDir, snapshot } from '../hub';
import type { SnapshotOptions } from '../hub';
import { TOKENIZER_FILES, TextTokenizer } from '../tokenizer';
import { Checkpoint } from '../weights/checkpoint';
import { CsmForConditionalGeneration, CsmProcessor, fromHfConfig } from './csm';
import { TINY_MIMI_CONFIG, TINY_RANDOM_CSM, TINY_RANDOM_WARNING, tinyCsmTokenizer, tinyRandomCsm, tinyRandomMimi } from './csm/tiny';
import { CsmTts, mimiCodec } from './csm/tts';
import { MimiModel } from './mimi/modeling';
import { mimiConfigFromHf } from './mimi/config';
import { parseModelChoice } from './types';
import type { TtsModel } from './types';
import type { LoraAdapter } from '../lora';
import type { TrainConfig } from '../train/config';
import type { BatchInfo, TrainableModel } from '../train/types';

/** The Hub repo behind `model: 'csm'`: CSM-1B in transformers' layout, ungated (sesame/csm-1b is gated). */
export const CSM_DEFAULT_REPO = 'unsloth/csm-1b';

/** Families that have no implementation yet, and the issue that tracks each. */
const NOT_YET: Record<string, string> = {
  orpheus: 'Orpheus (Llama-3B + SNAC) is not available in notebooks 04-06 yet (issue 8); use "csm" or "tiny-random-csm"',
  llasa: 'Llasa (Llama + XCodec2) is not available in notebooks 04-06 yet (issue 8); use "csm" or "tiny-random-csm"',
  mini: 'the offline mini model is not available yet (issue 9); use "tiny-random-csm" for a pipeline check or "csm" for CSM-1B',
};

export interface LoadTtsModelOptions {
  /** Seed of the tiny random model's weights (default 0). Ignored for checkpoints. */
  seed?: number;
  /** Hub snapshot options (revision, offline, cache folder, token). */
  snapshot?: SnapshotOptions;
  /** Tokenizer folder when it is not in the model folder itself (default: the model folder). */
  tokenizerDir?: string;
}

/**
 * What notebooks 04-06 use of a model, whatever its family: the `TtsModel` contract plus a
 * name, the random-weights warning, LoRA training with a config, adapters on and off, and
 * `dispose`. CsmTts implements it (LlasaTts has the same members); a family added to
 * `loadTtsModel` must too, so the notebooks need no change.
 */
export interface NotebookTtsModel extends TtsModel<unknown, BatchInfo> {
  readonly family: string;
  /** e.g. "unsloth/csm-1b" or "tiny-random-csm". */
  readonly name: string;
  /** Shown next to every output when the weights are random; null for a real model. */
  readonly warning: string | null;
  /** Codes per codebook of the codec, when the family knows it (histograms then show unused codes too). */
  readonly codebookSize?: number;
  /** Folder of the adapter `loadAdapter` attached, or null. */
  readonly adapterDir: string | null;
  /** The model with a LoRA adapter built from `config`'s LoRA fields, for `train()`. */
  trainable(config?: Partial<TrainConfig>): TrainableModel<unknown, BatchInfo> & { readonly adapter: LoraAdapter };
  loadAdapter(dir: string): Promise<void>;
  unloadAdapter(): void;
  dispose(): void;
}

/** Loads the model a notebook's `MODEL` value names (see the file comment). */
export async function loadTtsModel(model: string, options: LoadTtsModelOptions = {}): Promise<NotebookTtsModel> {
  if (typeof model !== 'string' || model.trim() === '') throw new Error(`model must be a non-empty string, got ${JSON.stringify(model)}`);
  if (model === TINY_RANDOM_CSM) return tinyRandomTts(options.seed ?? 0);
  if (model in NOT_YET) throw new Error(`model ${JSON.stringify(model)}: ${NOT_YET[model]}`);
  if (await isLocalDir(model)) return loadCsmCheckpoint(model, model, options);
  const choice = parseModelChoice(model, 'MODEL');
  const repo = choice.kind === 'family' ? CSM_DEFAULT_REPO : choice.repoId;
  return loadCsmCheckpoint(repo, model, options);
}

function tinyRandomTts(seed: number): Promise<CsmTts> {
  return tinyRandomMimi(seed).then((mimi) => {
    const model = tinyRandomCsm(seed);
    const processor = new CsmProcessor(tinyCsmTokenizer(), model.config);
    const codec = mimiCodec(mimi, TINY_MIMI_CONFIG.numQuantizers, `${TINY_RANDOM_CSM}-seed${seed}`);
    return new CsmTts(model, processor, codec, mimi, {
      name: TINY_RANDOM_CSM, baseModelNameOrPath: null, warning: TINY_RANDOM_WARNING, codebookSize: TINY_MIMI_CONFIG.codebookSize,
    });
  });
}

/** A CSM checkpoint (transformers layout with `codec_config` and `codec_model.*`) from a repo id or folder. */
async function loadCsmCheckpoint(repoOrDir: string, asked: string, options: LoadTtsModelOptions): Promise<CsmTts> {
  let dir: string;
  try {
    dir = await snapshot(repoOrDir, {
      ...options.snapshot,
      allowPatterns: ['config.json', '*.safetensors', '*.safetensors.index.json', ...TOKENIZER_FILES],
    });
  } catch (e) {
    const via = asked === repoOrDir ? '' : ` (model ${JSON.stringify(asked)})`;
    const hint = e instanceof HubError ? '' : ' (is the repo id right?)';
    throw new Error(`cannot get ${repoOrDir}${via}: ${(e as Error).message}${hint}`);
  }
  const hf = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  if (hf.model_type !== 'csm') {
    throw new Error(`${repoOrDir}: config.json has model_type ${JSON.stringify(hf.model_type)}; only CSM checkpoints ("csm") load here for now`);
  }
  if (typeof hf.codec_config !== 'object' || hf.codec_config === null) {
    throw new Error(`${repoOrDir}: config.json has no codec_config; a CSM checkpoint in transformers' layout (e.g. ${CSM_DEFAULT_REPO}) carries its Mimi inside`);
  }
  const config = fromHfConfig(hf, join(dir, 'config.json'));
  const weights = await Checkpoint.open(dir);
  const mimiConfig = mimiConfigFromHf(hf.codec_config as Record<string, unknown>);
  const mimi = await MimiModel.fromWeights(weights, mimiConfig, { prefix: 'codec_model.' });
  let model: CsmForConditionalGeneration;
  try {
    model = await CsmForConditionalGeneration.fromWeights(config, weights);
  } catch (e) {
    mimi.dispose();
    throw e;
  }
  const tokenizerDir = options.tokenizerDir ?? dir;
  if (!existsSync(join(tokenizerDir, 'tokenizer.json'))) {
    model.dispose();
    mimi.dispose();
    throw new Error(`${repoOrDir}: no tokenizer.json in ${tokenizerDir}; pass tokenizerDir`);
  }
  const processor = new CsmProcessor(await TextTokenizer.fromDir(tokenizerDir), config);
  // The snapshot folder of a Hub repo is named by its commit, which pins the weights for the codes cache.
  const weightsId = (await isLocalDir(repoOrDir)) ? dir : `${repoOrDir}@${basename(dir)}`;
  const codec = mimiCodec(mimi, config.numCodebooks, weightsId);
  return new CsmTts(model, processor, codec, mimi, {
    name: asked === 'csm' ? CSM_DEFAULT_REPO : asked, baseModelNameOrPath: repoOrDir, codebookSize: mimiConfig.codebookSize,
  });
}

// -- the choice, shared by notebooks 04-06 -------------------------------------------------

/** File in the work folder holding the model notebook 04 chose. */
export const MODEL_CHOICE_FILE = 'model.json';

/** Records the model for notebooks 05 and 06 (written by 04). */
export async function saveModelChoice(model: string): Promise<string> {
  const file = join(workspace(), MODEL_CHOICE_FILE);
  await writeFileAtomic(file, JSON.stringify({ model, chosenAt: new Date().toISOString() }, null, 2) + '\n');
  return file;
}

/** The model notebook 04 chose; throws, saying to run 04, when it has not run in this work folder. */
export async function readModelChoice(): Promise<string> {
  const file = join(workspace(), MODEL_CHOICE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new Error(`${file} does not exist: run notebook 04_tokenize first (its MODEL value chooses the model for 05 and 06)`);
  }
  const json = JSON.parse(text) as { model?: unknown };
  if (typeof json.model !== 'string' || json.model === '') throw new Error(`${file}: "model" must be a non-empty string, got ${JSON.stringify(json.model)}`);
  return json.model;
}

/** A folder-name-safe form of a model value ("unsloth/csm-1b" -> "unsloth--csm-1b"), for work/adapters/<model>/. */
export function modelSlug(model: string): string {
  return model.replace(/[\\/]+/g, '--').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._-]+/, '') || 'model';
}

/** Where notebook 05 trains the adapter of `model`: `<work>/adapters/<model>/` (checkpoints, metrics.jsonl, adapter/). */
export function adapterOutputDir(model: string): string {
  return join(workspace('adapters'), modelSlug(model));
}
