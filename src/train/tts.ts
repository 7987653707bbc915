/**
 * Fine-tuning a text-to-speech model on a prepared dataset: what notebook 05 runs cell by
 * cell and `ttslab train --model ... --data ...` runs in a terminal, through the same two
 * functions, so both train the same way:
 *
 *   const data = await ttsTrainingData(tts, datasetDir);        // codes from 04's cache
 *   const result = await trainTts(tts, data, config, options);  // tts.trainable(config) + train()
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadDataset } from '../data/dataset';
import { tokenizeDataset } from '../data/tokenize';
import type { ProgressOptions } from '../notebook/progress';
import type { NotebookTtsModel } from '../models/registry';
import { validateTrainConfig } from './config';
import type { TrainConfig } from './config';
import { train } from './trainer';
import type { TrainOptions, TrainResult } from './trainer';

/** A dataset resolved from what the user named. */
export interface TrainingDataSource {
  /** The dataset: a folder with `data/train-*.parquet` (+ validation), a Parquet file or a Hub dataset id. */
  dataset: string;
  /** Where the codes cache lives (`<work>/codes` for a work folder; undefined = the work folder's default). */
  cacheDir?: string;
}

/**
 * What `--data` may name: a work folder (notebooks 01-04 leave `dataset/` and `codes/` in
 * it), or a dataset folder, Parquet file or Hub dataset id (codes cached in the current
 * work folder, `$TTSLAB_WORKDIR` or `work/`).
 */
export function resolveTrainingData(data: string): TrainingDataSource {
  if (typeof data !== 'string' || data.trim() === '') throw new Error(`data must be a work folder, dataset folder, Parquet file or Hub dataset id, got ${JSON.stringify(data)}`);
  if (existsSync(join(data, 'dataset'))) return { dataset: resolve(data, 'dataset'), cacheDir: resolve(data, 'codes') };
  return { dataset: existsSync(data) ? resolve(data) : data };
}

export interface TtsTrainingData {
  /** One example per training clip, in the model family's layout. */
  train: unknown[];
  /** One per validation clip (empty when the dataset has no validation split). */
  eval: unknown[];
  /** Where the examples came from, for logs. */
  source: TrainingDataSource;
}

export interface TtsTrainingDataOptions {
  /** Progress bar of tokenization (default: detected). */
  progress?: ProgressOptions['mode'];
  /** Notices of tokenization (resampling, damaged cache entries); default console.warn. */
  onNotice?: (message: string) => void;
}

/**
 * Training and validation examples of `data` (see `resolveTrainingData`) for `tts`: each
 * clip's codes come from the tokenization cache (encoded and cached when missing), then
 * `tts.buildTrainingExamples`. A dataset without a validation split gives no eval examples.
 */
export async function ttsTrainingData(tts: NotebookTtsModel, data: string | TrainingDataSource, options: TtsTrainingDataOptions = {}): Promise<TtsTrainingData> {
  const source = typeof data === 'string' ? resolveTrainingData(data) : data;
  const tok = { cacheDir: source.cacheDir, progress: options.progress, onNotice: options.onNotice };
  const trainRows = await loadDataset(source.dataset, { split: 'train' });
  if (trainRows.length === 0) throw new Error(`${source.dataset}: the train split has no rows`);
  let evalRows: Awaited<ReturnType<typeof loadDataset>> = [];
  try {
    evalRows = await loadDataset(source.dataset, { split: 'eval' });
  } catch (e) {
    if (!/no Parquet files for split "validation"/.test((e as Error).message)) throw e;
  }
  const trainClips = (await tokenizeDataset(trainRows, tts.codec, tok)).clips;
  const evalClips = evalRows.length ? (await tokenizeDataset(evalRows, tts.codec, tok)).clips : [];
  return { train: tts.buildTrainingExamples(trainClips), eval: tts.buildTrainingExamples(evalClips), source };
}

/**
 * The config a run of `tts` trains with: the family's preset (`tts.trainDefaults`, e.g.
 * Orpheus' r 64 / alpha 64) under the fields `config` sets, then the workshop's defaults
 * for the rest; validated (errors name the field and value).
 */
export function ttsTrainConfig(tts: Pick<NotebookTtsModel, 'trainDefaults'>, config: Partial<TrainConfig>, source?: string): TrainConfig {
  return validateTrainConfig({ ...(tts.trainDefaults ?? {}), ...config }, source);
}

/**
 * Trains a LoRA adapter of `tts` on `data` with `config` (a partial TrainConfig over the
 * family's preset and the workshop's defaults, see `ttsTrainConfig`): the adapter `tts.trainable(config)` attaches,
 * then the library's `train` loop (progress bar, live plot in a notebook, JSONL metrics,
 * atomic checkpoints, `resume`). The validation examples are the eval set.
 */
export async function trainTts(tts: NotebookTtsModel, data: TtsTrainingData, config: Partial<TrainConfig>, options: Omit<TrainOptions<unknown>, 'evalExamples'> = {}): Promise<TrainResult> {
  const c = ttsTrainConfig(tts, config);
  const trainable = tts.trainable(c);
  return train(trainable, data.train, c, { ...options, evalExamples: data.eval.length ? data.eval : undefined });
}
