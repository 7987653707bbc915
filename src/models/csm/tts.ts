/**
 * CSM behind the one model interface of notebooks 04-06 (`TtsModel`, src/models/types.ts):
 * Mimi as the codec, one clip = one training turn, LoRA training through
 * `CsmLoraTrainable`, generation with an optional cloning context, and audio out.
 *
 * Ownership: a CsmTts owns its model and codec (`dispose()` frees both); an adapter it
 * attaches (`trainable`, `loadAdapter`) lives on the model until `unloadAdapter()`.
 */
import { generateComparison } from '../../eval/listening';
import type { ComparisonPrompt, ComparisonSystem, GenerateComparisonOptions, ListeningPrompt } from '../../eval/listening';
import { loadPeftAdapter } from '../../lora';
import type { LoraAdapter } from '../../lora';
import { validateTrainConfig } from '../../train/config';
import { loraConfigOf } from '../../train/llama';
import type { TrainConfig } from '../../train/config';
import type { AudioCodec, CodedClip, Codes, StepwiseTtsModel, TtsContinuation, TtsGenerateRequest, TtsModel, TtsSampling } from '../types';
import type { MimiModel } from '../mimi/modeling';
import { WORKSHOP_BACKBONE_SAMPLING, WORKSHOP_DEPTH_SAMPLING, generateFrames } from './generation';
import { validateCodes } from './modeling';
import type { CsmForConditionalGeneration } from './modeling';
import type { CsmProcessor } from './processor';
import { CsmLoraTrainable, csmTrainingExample } from './trainable';
import type { CsmTrainBatch, CsmTrainableOptions, CsmTrainingExample } from './trainable';
import type { CsmCodedTurn } from './types';

/** The workshop's evaluation sampling (REFERENCE.md): codebook 0 at temperature 0.8, top-k 50; the depth decoder at 0.6, top-p 0.9. */
export const WORKSHOP_TTS_SAMPLING: TtsSampling = { ...WORKSHOP_BACKBONE_SAMPLING, depthDecoder: WORKSHOP_DEPTH_SAMPLING };

/** A Mimi model as the model interface's codec: CSM's frame-major codes plus an `id` naming the weights (the tokenization cache key). */
export function mimiCodec(mimi: MimiModel, numCodebooks: number, weightsId: string): AudioCodec {
  return { ...mimi.asAudioCodec(numCodebooks), id: `mimi:${weightsId}:${numCodebooks}` };
}

/** What `speak` returns: the codes and their audio. */
export interface Speech {
  codes: Codes;
  /** Mono audio at `sampleRate`. */
  samples: Float32Array;
  /** Hz */
  sampleRate: number;
  /** Seconds of audio. */
  durationSeconds: number;
  /** True when generation hit `maxNewFrames` instead of ending on its own (the end frame). */
  truncated: boolean;
}

export interface CsmTtsOptions {
  /** What the notebooks show as the model's name, e.g. "unsloth/csm-1b" or "tiny-random-csm". */
  name: string;
  /** Written into saved adapters as base_model_name_or_path (null for a model built in code). */
  baseModelNameOrPath?: string | null;
  /** Frames the depth decoder trains on (default 1/16, Sesame's amortisation). */
  depthDecoderLabelsRatio?: number;
  /** When set, a warning every notebook output of this model shows (the tiny random model's). */
  warning?: string;
  /** Codes per codebook of the codec (Mimi: 2048), for histograms; CSM's audio vocabulary adds its specials on top. */
  codebookSize?: number;
}

export class CsmTts implements TtsModel<CsmTrainingExample, CsmTrainBatch>, Pick<StepwiseTtsModel, 'continueGeneration'> {
  readonly family = 'csm';
  private lora: CsmLoraTrainable | null = null;
  /** The LoRA fields `lora` was built from. */
  private loraFields: Pick<TrainConfig, 'loraR' | 'loraAlpha' | 'loraDropout' | 'targetModules' | 'useRslora' | 'seed'> | null = null;
  private loaded: { adapter: LoraAdapter; dir: string } | null = null;

  constructor(
    readonly model: CsmForConditionalGeneration,
    readonly processor: CsmProcessor,
    readonly codec: AudioCodec,
    /** The codec's model, disposed with this one (null when the caller owns it). */
    private readonly codecModel: { dispose(): void } | null,
    readonly options: CsmTtsOptions,
  ) {
    if (codec.numCodebooks !== model.config.numCodebooks) {
      throw new Error(`codec ${codec.id} makes ${codec.numCodebooks} codebooks per frame, the CSM model reads ${model.config.numCodebooks}`);
    }
  }

  get name(): string {
    return this.options.name;
  }

  /** The tiny random model's warning, or null for a real model. */
  get warning(): string | null {
    return this.options.warning ?? null;
  }

  /** Codes per codebook of the codec, when known (for `showCodeHistograms`). */
  get codebookSize(): number | undefined {
    return this.options.codebookSize;
  }

  /** Folder of the adapter now attached by `loadAdapter`, or null. */
  get adapterDir(): string | null {
    return this.loaded?.dir ?? null;
  }

  buildTrainingExamples(rows: CodedClip[]): CsmTrainingExample[] {
    return rows.map((r, i) => csmTrainingExample(this.processor, { codes: r.codes, text: r.text, speaker: r.source }, `row ${i}`));
  }

  /**
   * The model with a LoRA adapter as the trainer sees it. The first call attaches a fresh
   * adapter built from `config`'s LoRA fields (default: the workshop's r 32, alpha 16,
   * rsLoRA, attention + MLP projections); later calls return the same one.
   */
  trainable(config: Partial<TrainConfig> = {}): CsmLoraTrainable {
    if (this.loaded) throw new Error(`an adapter loaded from ${this.loaded.dir} is attached; unloadAdapter() before training a new one`);
    const c = validateTrainConfig(config);
    if (!this.lora) {
      const opts: CsmTrainableOptions = { baseModelNameOrPath: this.options.baseModelNameOrPath ?? null, depthDecoderLabelsRatio: this.options.depthDecoderLabelsRatio };
      this.lora = CsmLoraTrainable.create(this.model, this.processor, c, opts);
      this.loraFields = { loraR: c.loraR, loraAlpha: c.loraAlpha, loraDropout: c.loraDropout, targetModules: c.targetModules, useRslora: c.useRslora, seed: c.seed };
      return this.lora;
    }
    // The attached adapter was built from the first call's LoRA fields; another shape cannot be had without a new adapter.
    const want = JSON.stringify(loraConfigOf(c));
    const have = JSON.stringify(loraConfigOf({ ...c, ...this.loraFields! }));
    if (want !== have) throw new Error(`a LoRA adapter ${have} is already attached; unloadAdapter() before asking for ${want}`);
    return this.lora;
  }

  /** Attaches a saved PEFT adapter (e.g. notebook 05's) for generation; the model without it is `unloadAdapter()` away. */
  async loadAdapter(dir: string): Promise<void> {
    this.unloadAdapter();
    this.loaded = { adapter: await loadPeftAdapter(this.model, dir), dir };
  }

  /** Removes any adapter (trained here or loaded): the base model again. */
  unloadAdapter(): void {
    this.lora?.adapter.unload();
    this.lora = null;
    this.loraFields = null;
    this.loaded?.adapter.unload();
    this.loaded = null;
  }

  async generate(request: TtsGenerateRequest): Promise<Codes> {
    return (await this.generateWithStatus(request)).codes;
  }

  /** Codes for the request and whether generation ended on its own. */
  async generateWithStatus(request: TtsGenerateRequest): Promise<{ codes: Codes; stopped: boolean }> {
    return this.continueGeneration(request, []);
  }

  /**
   * The step-wise hook (`StepwiseTtsModel`, src/models/types.ts): the prompt of `request`
   * (context turns, then `[speaker]text`) followed by `prefix` as this turn's first
   * `<|AUDIO|>` frames, then up to `request.maxNewFrames` new frames (default: the text's
   * `defaultMaxNewFrames` minus the prefix's frames). Returns the new frames only.
   */
  async continueGeneration(request: TtsGenerateRequest, prefix: Codes): Promise<TtsContinuation> {
    if (typeof request.text !== 'string' || request.text.trim() === '') throw new Error(`text must be a non-empty string, got ${JSON.stringify(request.text)}`);
    if (!Array.isArray(prefix)) throw new Error(`prefix must be frames [frames][codebooks] (an array, [] for none), got ${typeof prefix}`);
    const c = this.model.config;
    validateCodes(prefix, c.numCodebooks, c.audioVocabSize, 'prefix');
    const turns: CsmCodedTurn[] = (request.context ?? []).map((t) => ({ text: t.text, speaker: t.speaker, codes: t.codes }));
    turns.push({ text: request.text, speaker: request.speaker });
    const prompt = this.processor.prompt([turns]);
    // [1][seq] -> [1][seq + prefix frames]: the prefix sits where this turn's generated frames go.
    for (const frame of prefix) {
      prompt.inputIds[0]!.push(this.processor.audioId);
      prompt.attentionMask[0]!.push(1);
      prompt.audioCodes[0]!.push(frame);
    }
    let maxNewFrames = request.maxNewFrames;
    if (maxNewFrames === undefined) {
      const estimate = prompt.maxNewFrames![0]!;
      maxNewFrames = estimate - prefix.length;
      if (maxNewFrames < 1) {
        throw new Error(`the prefix has ${prefix.length} frames, the default budget for this text is ${estimate}: nothing left to generate; pass maxNewFrames`);
      }
    }
    const { depthDecoder, ...backbone } = request.sampling;
    const out = await generateFrames(this.model, prompt, {
      maxNewFrames, backbone, depthDecoder: depthDecoder ?? WORKSHOP_DEPTH_SAMPLING, seed: request.seed, prefixFrames: [prefix],
    });
    return { codes: out.frames[0]!, stopped: out.stopped[0]! };
  }

  /** Generates and decodes: the audio of `request.text`. */
  async speak(request: TtsGenerateRequest): Promise<Speech> {
    const { codes, stopped } = await this.generateWithStatus(request);
    if (codes.length === 0) throw new Error(`the model ended "${request.text}" at once (0 frames); try another seed or a cloning context`);
    const samples = await this.codec.decode(codes);
    return {
      codes, samples, sampleRate: this.codec.sampleRate, durationSeconds: samples.length / this.codec.sampleRate,
      truncated: !stopped,
    };
  }

  dispose(): void {
    this.unloadAdapter();
    this.model.dispose();
    this.codecModel?.dispose();
  }
}

/** A TtsModel whose LoRA adapter can be attached and removed (CsmTts; LlasaTts has the same methods). */
export type AdapterSwitchable = Pick<TtsModel, 'codec' | 'generate'> & { loadAdapter(dir: string): Promise<void>; unloadAdapter(): void };

/** The four generated columns of notebook 06, in the order of `DEFAULT_SYSTEMS` after the reference. */
export const BASE_AND_FINETUNED_SYSTEMS = {
  base: [{ id: 'base', label: 'base zero-shot', withContext: false }, { id: 'base+context', label: 'base + cloning context', withContext: true }],
  finetuned: [{ id: 'finetuned', label: 'fine-tuned zero-shot', withContext: false }, { id: 'finetuned+context', label: 'fine-tuned + context', withContext: true }],
} as const;

/**
 * Every prompt through the base model and through the model with the adapter in
 * `adapterDir`, each zero-shot and with the prompt's cloning context: the cells of the
 * listening grid (reference clip included when the prompt has one). The base systems run
 * first, then the adapter is loaded once and unloaded again at the end, so `tts` is left
 * as it was found (any adapter attached before is removed first).
 */
export async function generateBaseAndFinetuned(
  tts: AdapterSwitchable, adapterDir: string, prompts: readonly ComparisonPrompt[], options: GenerateComparisonOptions,
): Promise<ListeningPrompt[]> {
  const systems = (list: readonly { id: string; label: string; withContext: boolean }[]): ComparisonSystem[] =>
    list.map((s) => ({ column: { id: s.id, label: s.label }, model: tts, withContext: s.withContext }));
  tts.unloadAdapter();
  const base = await generateComparison(prompts, systems(BASE_AND_FINETUNED_SYSTEMS.base), options);
  await tts.loadAdapter(adapterDir);
  try {
    // The reference cells are already in `base`; here only the generated ones are new.
    const tuned = await generateComparison(prompts.map((p) => ({ ...p, reference: undefined })), systems(BASE_AND_FINETUNED_SYSTEMS.finetuned), options);
    return base.map((p, i) => ({ ...p, audio: { ...p.audio, ...tuned[i]!.audio } }));
  } finally {
    tts.unloadAdapter();
  }
}
