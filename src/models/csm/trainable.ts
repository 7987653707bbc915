/**
 * CSM + LoRA as the trainer's `TrainableModel` (src/train/types.ts): examples are one
 * tokenized clip each (codes + text + speaker, one conversation turn), collated by
 * `CsmProcessor` into a left-padded batch as long as its longest example (dynamic padding:
 * no fixed maximum, so a clip longer than the others never crashes), and the loss is CSM's
 * (codebook 0 through the backbone + codebooks 1.. through the depth decoder).
 *
 * Compute amortisation (Sesame; the processor's `depth_decoder_labels_ratio`): the depth
 * decoder trains on a random `depthDecoderLabelsRatio` share of each batch's frames (the
 * rest are labelled -101, backbone only). The draw is made when the loss is computed:
 * - training: seeded by (config seed, training micro-batch number), so each step draws
 *   new frames and a run is reproducible. The micro-batch counter is saved next to the
 *   adapter (`CSM_TRAIN_STATE_NAME`) so `resume` continues with the same draws;
 * - evaluation: always the same seed, so eval losses of different steps are comparable.
 */
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ADAPTER_WEIGHTS_NAME, LoraLinear, TORCH_DTYPE, applyLora, saveMergedCheckpoint, saveMergedWeights, savePeftAdapter } from '../../lora';
import { LlamaForCausalLM } from '../llama/modeling';
import type { LoraAdapter } from '../../lora';
import { isLocalDir, snapshot } from '../../hub';
import type { SnapshotOptions } from '../../hub';
import { TOKENIZER_FILES } from '../../tokenizer';
import { loraConfigOf } from '../../train/llama';
import { decaysWeight } from '../../train/optim';
import type { TrainConfig } from '../../train/config';
import type { BatchInfo, NamedVariable, TrainableModel } from '../../train/types';
import { Checkpoint } from '../../weights/checkpoint';
import type { Codes } from '../types';
import type { CsmForConditionalGeneration } from './modeling';
import { validateCodes } from './modeling';
import type { CsmBatch, CsmProcessor } from './processor';
import { registerWasmUnsortedSegmentSum } from '../../runtime/kernels/wasm_segment_sum';

/** One training example: a clip's codes with what is said and who says it. */
export interface CsmTrainingExample {
  /** `[frames][codebooks]` */
  codes: Codes;
  text: string;
  /** Speaker id (dataset `source`). */
  speaker: number;
  /** Sequence length in tokens once encoded (text tokens + frames + specials), for length bucketing. */
  length: number;
}

/** One training example per clip; throws naming the clip when its codes or speaker are malformed. Needs no adapter. */
export function csmTrainingExample(processor: CsmProcessor, clip: { codes: Codes; text: string; speaker: number }, where = 'clip'): CsmTrainingExample {
  const c = processor.config;
  if (!Array.isArray(clip.codes) || clip.codes.length === 0) throw new Error(`${where}: codes must be a non-empty [frames][codebooks] array`);
  validateCodes(clip.codes, c.numCodebooks, c.audioVocabSize, `${where} codes`);
  const { ids } = processor.encodeConversation([{ text: clip.text, speaker: clip.speaker, codes: clip.codes }]);
  return { codes: clip.codes, text: clip.text, speaker: clip.speaker, length: ids.length };
}

/** A collated batch: the processor's left-padded ids and codes, without labels (drawn in `loss`). */
export interface CsmTrainBatch extends BatchInfo, Omit<CsmBatch, 'labels' | 'maxNewFrames'> {}

export interface CsmTrainableOptions {
  /** Share of audio frames the depth decoder trains on (Sesame: 1/16; 1 = every frame, as transformers' processor default). */
  depthDecoderLabelsRatio?: number;
  /** Written into adapter_config.json as base_model_name_or_path (the repo the adapter applies to). */
  baseModelNameOrPath?: string | null;
}

/** File next to the adapter with the amortisation draw counter (what `resume` needs besides the weights). */
export const CSM_TRAIN_STATE_NAME = 'ttslab_csm_train_state.json';

/** Seed of the -101 draw used for every evaluation batch. */
const EVAL_LABEL_SEED = 0x5eed;

export class CsmLoraTrainable implements TrainableModel<CsmTrainingExample, CsmTrainBatch> {
  private readonly keyOf: Map<string, string>;
  /** Training micro-batches whose loss was computed so far: the -101 draw's counter. */
  trainingMicroBatches = 0;
  readonly depthDecoderLabelsRatio: number;
  readonly baseModelNameOrPath: string | null;

  constructor(
    readonly model: CsmForConditionalGeneration,
    readonly processor: CsmProcessor,
    readonly adapter: LoraAdapter,
    /** Seeds the -101 draws (the TrainConfig's seed). */
    readonly seed: number,
    options: CsmTrainableOptions = {},
  ) {
    this.keyOf = adapter.peftKeyOf();
    this.depthDecoderLabelsRatio = options.depthDecoderLabelsRatio ?? 1 / 16;
    if (!(this.depthDecoderLabelsRatio > 0 && this.depthDecoderLabelsRatio <= 1)) {
      throw new Error(`depthDecoderLabelsRatio must be in (0, 1], got ${this.depthDecoderLabelsRatio}`);
    }
    this.baseModelNameOrPath = options.baseModelNameOrPath ?? null;
    // Training on wasm needs the gather gradient (see src/runtime/kernels/wasm_segment_sum.ts).
    registerWasmUnsortedSegmentSum();
  }

  /** Wraps `model` with a fresh LoRA adapter from the config's LoRA fields (r, alpha, rsLoRA, targets, seed). */
  static create(model: CsmForConditionalGeneration, processor: CsmProcessor, config: TrainConfig, options: CsmTrainableOptions = {}): CsmLoraTrainable {
    return new CsmLoraTrainable(model, processor, applyLora(model, loraConfigOf(config)), config.seed, options);
  }

  /** One example per clip (see `csmTrainingExample`). */
  example(clip: { codes: Codes; text: string; speaker: number }, where = 'clip'): CsmTrainingExample {
    return csmTrainingExample(this.processor, clip, where);
  }

  trainableVariables(): NamedVariable[] {
    return this.adapter.variables().map((v) => {
      const name = this.keyOf.get(v.name)!;
      return { name, variable: v, decay: decaysWeight(name) };
    });
  }

  exampleLength(e: CsmTrainingExample): number {
    return e.length;
  }

  collate(examples: CsmTrainingExample[]): CsmTrainBatch {
    if (examples.length === 0) throw new Error('cannot collate an empty batch');
    examples.forEach((e, i) => {
      if (!e || !Array.isArray(e.codes) || e.codes.length === 0) throw new Error(`example ${i}: codes must be a non-empty [frames][codebooks] array`);
    });
    const b = this.processor.batch(examples.map((e) => [{ text: e.text, speaker: e.speaker, codes: e.codes }]));
    const { audioId, audioEosId } = this.processor;
    let numTokens = 0;
    let numTargets = 0;
    for (const [r, row] of b.inputIds.entries()) {
      numTokens += b.attentionMask[r]!.reduce((a, m) => a + m, 0);
      // Every audio frame and each <|audio_eos|> is a codebook-0 target (the -101 draw only
      // changes which frames also train the depth decoder).
      for (const id of row) if (id === audioId || id === audioEosId) numTargets++;
    }
    return { ...b, size: examples.length, paddedLength: b.inputIds[0]!.length, numTokens, numTargets };
  }

  /** Labels of a batch with this call's -101 draw (see the file comment); advances the training counter. */
  labelsFor(batch: CsmTrainBatch, training: boolean): number[][] {
    const seed = training ? this.seed * 1_000_003 + this.trainingMicroBatches++ : EVAL_LABEL_SEED;
    return this.processor.labels(batch.inputIds, { depthDecoderLabelsRatio: this.depthDecoderLabelsRatio, seed });
  }

  loss(batch: CsmTrainBatch, options: { training: boolean }): tf.Scalar {
    const labels = this.labelsFor(batch, options.training);
    return this.model.loss({
      inputIds: batch.inputIds, attentionMask: batch.attentionMask, audioCodes: batch.audioCodes, labels, training: options.training,
    });
  }

  async save(dir: string): Promise<void> {
    await savePeftAdapter(dir, this.adapter, { baseModelNameOrPath: this.baseModelNameOrPath });
    await writeFile(join(dir, CSM_TRAIN_STATE_NAME), JSON.stringify({ trainingMicroBatches: this.trainingMicroBatches }) + '\n');
  }

  /** Loads adapter weights `save` (or PEFT) wrote into the existing LoRA variables, and the draw counter when present. */
  async load(dir: string): Promise<void> {
    const file = join(dir, ADAPTER_WEIGHTS_NAME);
    const weights = await Checkpoint.open(file);
    for (const p of this.trainableVariables()) {
      if (!weights.has(p.name)) throw new Error(`${file}: no tensor ${p.name}`);
      const { shape, data } = await weights.getF32(p.name);
      if (shape.join() !== p.variable.shape.join()) throw new Error(`${file}: ${p.name} has shape [${shape}], the adapter needs [${p.variable.shape}]`);
      const t = tf.tensor(data, shape, 'float32');
      p.variable.assign(t);
      t.dispose();
    }
    try {
      const state = JSON.parse(await readFile(join(dir, CSM_TRAIN_STATE_NAME), 'utf8')) as { trainingMicroBatches?: unknown };
      const n = state.trainingMicroBatches;
      if (!(typeof n === 'number' && Number.isInteger(n) && n >= 0)) throw new Error(`trainingMicroBatches must be an integer >= 0, got ${JSON.stringify(n)}`);
      this.trainingMicroBatches = n;
    } catch (e) {
      // A plain PEFT adapter (from Python, say) has no counter: training from it starts new draws.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${join(dir, CSM_TRAIN_STATE_NAME)}: ${(e as Error).message}`);
    }
  }
}

// -- merged export ------------------------------------------------------------------------

export interface SaveMergedTtsOptions {
  /** Weight dtype of the merged model (default BF16, as CSM-1B ships; the codec keeps its own dtype). */
  dtype?: 'F16' | 'BF16' | 'F32';
  /** Largest shard in bytes (default 5 GB, transformers'). */
  maxShardBytes?: number;
  /** How the base checkpoint (codec weights, tokenizer) is found again: revision, offline, cache. */
  snapshot?: SnapshotOptions;
}

export interface MergedExport {
  dir: string;
  /** Every file written (config.json, weights, tokenizer files). */
  files: string[];
  /** What the folder lacks, or null when it loads on its own (`loadTtsModel(dir)`). */
  note: string | null;
}

/** What `saveMergedTts` reads of a Llama-based text-to-speech model (OrpheusTts, LlasaTts). */
interface LlamaTtsLike {
  readonly family: string;
  readonly name: string;
  readonly model: LlamaForCausalLM;
  readonly options: { baseModelNameOrPath?: string | null };
}

/** The base checkpoint's folder (a local folder as is, a repo id through the cache), or null for a model built in code. */
async function baseFolder(base: string | null, options: SaveMergedTtsOptions): Promise<string | null> {
  if (!base) return null;
  return (await isLocalDir(base)) ? base : snapshot(base, {
    ...options.snapshot, allowPatterns: ['config.json', '*.safetensors', '*.safetensors.index.json', ...TOKENIZER_FILES],
  });
}

/** Copies the tokenizer files that exist in `from` into `dir`; returns the paths written. */
async function copyTokenizer(from: string, dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const f of TOKENIZER_FILES) {
    const src = join(from, f);
    if (!(await stat(src).catch(() => null))?.isFile()) continue;
    await copyFile(src, join(dir, f));
    out.push(join(dir, f));
  }
  return out;
}

/**
 * Orpheus and Llasa: the Llama decoder merged (`saveMergedCheckpoint`, config.json from its
 * LlamaConfig) plus the base's tokenizer files. Their codecs (SNAC, XCodec2) are separate
 * repositories, so nothing else belongs in the folder.
 */
async function saveMergedLlamaTts(tts: LlamaTtsLike, dir: string, dtype: 'F16' | 'BF16' | 'F32', options: SaveMergedTtsOptions): Promise<MergedExport> {
  if (!tts.model.namedLinears().some((n) => n.module instanceof LoraLinear)) {
    throw new Error(`saveMergedTts: ${tts.name} has no LoRA adapter attached (train it or loadAdapter first); nothing to merge`);
  }
  const baseDir = await baseFolder(tts.options.baseModelNameOrPath ?? null, options);
  const files = await saveMergedCheckpoint(tts.model, dir, { dtype, maxShardBytes: options.maxShardBytes });
  if (baseDir) files.push(...(await copyTokenizer(baseDir, dir)));
  const note = baseDir ? null : `${tts.name} was built in code: its tokenizer is not in ${dir} (only the merged weights and config.json)`;
  return { dir, files, note };
}

/** What `saveMergedTts` reads of a CSM text-to-speech model (CsmTts has these members). */
interface CsmLike {
  readonly family: string;
  readonly name: string;
  readonly model: CsmForConditionalGeneration;
  readonly processor: CsmProcessor;
  readonly options: { baseModelNameOrPath?: string | null };
}

/**
 * Writes a text-to-speech model with its LoRA adapter merged (W + s B A in every wrapped
 * linear) as a plain checkpoint, loadable without PEFT. The model in memory is not changed.
 *
 * - Llama-based families (Orpheus, Llasa): `saveMergedCheckpoint` (config.json from the
 *   LlamaConfig) plus the base's tokenizer files; their codecs are repositories of their own.
 * - CSM: `config.json` (the base model's, with `torch_dtype`), the merged weights in `dtype`
 *   and, copied from the base checkpoint when the model was loaded from one, the Mimi codec
 *   (`codec_model.*`, its own dtype) and the tokenizer files. Tensor names are transformers'
 *   (a tied audio table once, as `depth_decoder.model.embed_tokens.weight`); ttslab loads
 *   the folder (tested); loading it in transformers itself is not tested here.
 *
 * A model built in code (tiny-random-csm, tiny-random-orpheus) has no base checkpoint: its
 * codec and tokenizer are not written, and `note` says so.
 */
export async function saveMergedTts(tts: { readonly family: string; readonly name: string }, dir: string, options: SaveMergedTtsOptions = {}): Promise<MergedExport> {
  const dtype = options.dtype ?? 'BF16';
  if (!(dtype in TORCH_DTYPE)) throw new Error(`saveMergedTts: dtype must be F16, BF16 or F32, got ${JSON.stringify(dtype)}`);
  const m = (tts as { model?: unknown }).model;
  if (m instanceof LlamaForCausalLM) return saveMergedLlamaTts(tts as LlamaTtsLike, dir, dtype, options);
  const csm = tts as CsmLike;
  if (tts.family !== 'csm' || !csm.model?.namedLinears) throw new Error(`saveMergedTts: ${tts.name} is a ${tts.family} model; the merged export is implemented for CSM and Llama-based families (Orpheus, Llasa)`);
  const wrapped = csm.model.namedLinears().filter((n) => n.module instanceof LoraLinear).length;
  if (wrapped === 0) throw new Error(`saveMergedTts: ${tts.name} has no LoRA adapter attached (train it or loadAdapter first); nothing to merge`);

  const base = csm.options.baseModelNameOrPath ?? null;
  const baseDir = await baseFolder(base, options);
  await mkdir(dir, { recursive: true });
  let extra;
  if (baseDir) {
    const weights = await Checkpoint.open(baseDir);
    const names = weights.keys().filter((k) => k.startsWith('codec_model.') && ['F32', 'F16', 'BF16'].includes(weights.info(k).dtype));
    extra = { source: weights, names };
  }
  const files = await saveMergedWeights(csm.model, dir, { dtype, maxShardBytes: options.maxShardBytes, extra });
  const hf: Record<string, unknown> = { ...(csm.model.config.hf ?? {}), model_type: 'csm', torch_dtype: TORCH_DTYPE[dtype] };
  if ('dtype' in hf) hf.dtype = TORCH_DTYPE[dtype];
  const configFile = join(dir, 'config.json');
  await writeFile(configFile, JSON.stringify(hf, null, 2) + '\n');
  files.unshift(configFile);
  if (baseDir) {
    const tokDir = (await isLocalDir(csm.processor.tokenizer.source)) ? csm.processor.tokenizer.source : baseDir;
    files.push(...(await copyTokenizer(tokDir, dir)));
  }
  let note: string | null = null;
  if (!baseDir) note = `${tts.name} was built in code: its codec and tokenizer are not in ${dir} (only the merged CSM weights and config.json)`;
  else if (!extra?.names.length) note = `the base checkpoint ${base} has no codec_model.* tensors: ${dir} holds no codec`;
  else if (hf.codec_config === undefined) note = `the base config.json has no codec_config`;
  return { dir, files, note };
}
