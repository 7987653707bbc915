/**
 * Orpheus behind the one model interface of notebooks 04-06 (`TtsModel`, src/models/types.ts):
 * a Llama over text + SNAC audio tokens, SNAC 24 kHz as the codec (`snacAsAudioCodec`:
 * codes `[frames][7]` in token order, one frame = 2048 samples), the recipe's training
 * sequences for LoRA training through `LlamaLoraTrainable`, and generation with the
 * required repetition penalty, a stop on end-of-speech and an optional cloning context.
 * Only complete, valid 7-token frames become codes; a broken frame is an error naming its
 * position and value (or, with `onInvalidFrame: 'skip'`, dropped and reported) and an
 * unfinished last frame is reported in `generateWithStatus`, never decoded. It implements
 * the step-wise hook beam search needs (`continueGeneration`: a prefix of frames goes back
 * into the stream as its 7 tokens per frame, through src/models/llama/stepwise.ts).
 *
 * Ownership: an OrpheusTts owns its model (`dispose()` frees it, and the codec's model when
 * given); an adapter it attaches (`trainable`, `loadAdapter`) lives on the model until
 * `unloadAdapter()`.
 */
import { loadPeftAdapter } from '../../lora';
import type { LoraAdapter } from '../../lora';
import { validateTrainConfig } from '../../train/config';
import type { TrainConfig } from '../../train/config';
import { LlamaLoraTrainable, loraConfigOf } from '../../train/llama';
import type { TokenBatch } from '../../train/llama';
import type { TokenExample } from '../../train/types';
import type { LlamaForCausalLM } from '../llama/modeling';
import { continuationFrameBudget, continueTokenStream } from '../llama/stepwise';
import type { AudioCodec, CodedClip, Codes, StepwiseTtsModel, TtsContinuation, TtsGenerateRequest, TtsModel, TtsSampling } from '../types';
import { FrameConstrainedLM, ORPHEUS_LORA_TRAIN, ORPHEUS_PRESET, ORPHEUS_TTS_SAMPLING, checkOrpheusSampling } from './generation';
import { buildOrpheusCloningPrompt, buildOrpheusSequence } from './processor';
import type { OrpheusContextTurn, TextEncoder } from './processor';
import { ORPHEUS_LAYOUT, TOKENS_PER_FRAME, framesToTokens, layoutVocabSize, parseSpeechTokens } from './tokens';
import type { OrpheusLayout, TokenIssue } from './tokens';

/** Tokens the model writes around the frames of one answer: start_of_ai, start_of_speech before, end_of_speech after. */
const FRAMING_TOKENS = 3;

/**
 * Frames generated at most when a request gives no `maxNewFrames`: the reference's
 * max_new_tokens 1200 less the 3 framing tokens, 1197 / 7 = 171 frames (14.6 s at 2048
 * samples per frame, 24 kHz). A continuation's default is this minus its prefix's frames.
 */
export const ORPHEUS_DEFAULT_MAX_FRAMES = Math.floor((ORPHEUS_PRESET.maxNewTokens - FRAMING_TOKENS) / TOKENS_PER_FRAME);

export interface OrpheusTtsOptions {
  /** What the notebooks show as the model's name, e.g. "canopylabs/orpheus-3b-0.1-ft". */
  name: string;
  /** Written into saved adapters as base_model_name_or_path (null for a model built in code). */
  baseModelNameOrPath?: string | null;
  /** When set, a warning every notebook output of this model shows (the tiny random model's). */
  warning?: string;
  /** The codec's model, disposed with this one (omit when the caller owns it). */
  codecModel?: { dispose(): void };
  /** Where the Orpheus tokens are in the vocabulary (default Orpheus-3B's, `ORPHEUS_LAYOUT`). */
  layout?: OrpheusLayout;
  /**
   * Prefix every text with `"{speaker}: "` in training, context and prompt (default true):
   * the recipe's multi-speaker format, with the dataset's `source` column as the speaker,
   * so a fine-tune learns the voice under that name.
   */
  speakerPrefix?: boolean;
  /** Drop training frames that repeat the previous frame's first code, as the recipe does (default true). */
  removeDuplicateFrames?: boolean;
  /**
   * A generated frame with a token outside its position's range: 'throw' (default; the
   * error names the token's position and value) or 'skip' (drop the frame, report it in
   * `generateWithStatus`).
   */
  onInvalidFrame?: 'throw' | 'skip';
  /**
   * Constrain sampling to what the layout allows next (`FrameConstrainedLM`), default false.
   * The tiny random model turns it on: random logits never make a whole valid frame.
   */
  constrainFrames?: boolean;
}

/** What `generateWithStatus` returns besides the codes. */
export interface OrpheusGeneration {
  /** Complete, valid frames `[frames][7]` (raw codes in token order), ready for `codec.decode`. */
  codes: Codes;
  /** True when the model wrote end-of-speech; false when it ran out of `maxNewFrames`. */
  stopped: boolean;
  /** Frames dropped for a token out of range (only with `onInvalidFrame: 'skip'`). */
  invalid: TokenIssue[];
  /** Tokens of an unfinished last frame (not decoded), with their index in `tokens`. */
  partial: { position: number; values: number[] } | null;
  /** Every generated token id, stop token included. */
  tokens: number[];
  /** Prompt length in tokens (cloning context included). */
  promptLength: number;
}

export class OrpheusTts implements TtsModel<TokenExample, TokenBatch>, Pick<StepwiseTtsModel, 'continueGeneration'> {
  readonly family = 'orpheus';
  /** Orpheus' sampling (temperature 0.6, top_p 0.95, repetition penalty 1.1): what generation should use. */
  readonly defaultSampling: TtsSampling = ORPHEUS_TTS_SAMPLING;
  /** Unsloth's Orpheus LoRA fields (r 64, alpha 64, lr 2e-4): what `trainable()` uses where the config says nothing. */
  readonly trainDefaults: Readonly<Partial<TrainConfig>> = ORPHEUS_LORA_TRAIN;
  readonly layout: OrpheusLayout;
  private lora: LlamaLoraTrainable | null = null;
  /** The LoRA config `lora` was built from (JSON of `loraConfigOf`). */
  private loraShape: string | null = null;
  private loaded: { adapter: LoraAdapter; dir: string } | null = null;

  constructor(
    readonly model: LlamaForCausalLM,
    /** Text -> ids with the tokenizer's bos (`TextTokenizer`). */
    readonly tokenizer: TextEncoder,
    readonly codec: AudioCodec,
    readonly options: OrpheusTtsOptions,
  ) {
    this.layout = options.layout ?? ORPHEUS_LAYOUT;
    if (codec.numCodebooks !== TOKENS_PER_FRAME) {
      throw new Error(`codec ${codec.id} makes ${codec.numCodebooks} codes per frame; Orpheus reads ${TOKENS_PER_FRAME} (SNAC 24 kHz, see snacAsAudioCodec)`);
    }
    const top = layoutVocabSize(this.layout);
    if (model.config.vocabSize < top) {
      throw new Error(`the model's vocabulary has ${model.config.vocabSize} ids, the Orpheus layout needs ${top} (audio tokens from ${this.layout.audioTokensStart})`);
    }
  }

  get name(): string {
    return this.options.name;
  }

  /** The tiny random model's warning, or null for a real model. */
  get warning(): string | null {
    return this.options.warning ?? null;
  }

  /** Codes per SNAC level (4096 for Orpheus-3B), for `showCodeHistograms`. */
  get codebookSize(): number {
    return this.layout.codebookSize;
  }

  /** Folder of the adapter now attached by `loadAdapter`, or null. */
  get adapterDir(): string | null {
    return this.loaded?.dir ?? null;
  }

  private speakerOf(speaker: number): number | undefined {
    return this.options.speakerPrefix === false ? undefined : speaker;
  }

  private tokensOf(codes: Codes, where: string): number[] {
    if (!Array.isArray(codes) || codes.length === 0) throw new Error(`${where}: no frames of codes`);
    try {
      return framesToTokens(codes, this.layout);
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message} (Orpheus reads SNAC codes [frames][${TOKENS_PER_FRAME}], each in [0, ${this.layout.codebookSize}))`);
    }
  }

  /**
   * One recipe sequence per clip: `[start_of_human] text(bos) [end_of_text, end_of_human,
   * start_of_ai, start_of_speech] audio [end_of_speech, end_of_ai]`, labels = input ids
   * (the whole sequence is trained), text `"{source}: {text}"` (see `speakerPrefix`).
   */
  buildTrainingExamples(rows: CodedClip[]): TokenExample[] {
    return rows.map((r, i) => {
      const audioTokens = this.tokensOf(r.codes, `row ${i}`);
      const seq = buildOrpheusSequence(this.tokenizer, {
        text: r.text, source: this.speakerOf(r.source), audioTokens, removeDuplicates: this.options.removeDuplicateFrames ?? true,
      }, this.layout);
      return { inputIds: seq.inputIds, labels: seq.labels };
    });
  }

  /**
   * The model with a LoRA adapter as the trainer sees it. The first call attaches a fresh
   * adapter from `config` over the Orpheus preset (`ORPHEUS_LORA_TRAIN`: r 64, alpha 64,
   * every projection, lr 2e-4); later calls return the same one, and asking for another
   * LoRA shape while it is attached is an error.
   */
  trainable(config: Partial<TrainConfig> = {}): LlamaLoraTrainable {
    if (this.loaded) throw new Error(`an adapter loaded from ${this.loaded.dir} is attached; unloadAdapter() before training a new one`);
    const c = validateTrainConfig({ ...this.trainDefaults, ...config });
    const shape = JSON.stringify(loraConfigOf(c));
    if (!this.lora) {
      this.lora = LlamaLoraTrainable.create(this.model, c, this.options.baseModelNameOrPath ?? null);
      this.loraShape = shape;
    } else if (shape !== this.loraShape) {
      throw new Error(`a LoRA adapter ${this.loraShape} is already attached; unloadAdapter() before asking for ${shape}`);
    }
    return this.lora;
  }

  /** Attaches a saved PEFT adapter (e.g. notebook 05's) for generation. */
  async loadAdapter(dir: string): Promise<void> {
    this.unloadAdapter();
    this.loaded = { adapter: await loadPeftAdapter(this.model, dir), dir };
  }

  /** Removes any adapter (trained here or loaded): the base model again. */
  unloadAdapter(): void {
    this.lora?.adapter.unload();
    this.lora = null;
    this.loraShape = null;
    this.loaded?.adapter.unload();
    this.loaded = null;
  }

  async generate(request: TtsGenerateRequest): Promise<Codes> {
    return (await this.generateWithStatus(request)).codes;
  }

  /**
   * Codes of the new speech and how generation went. `request.sampling` must carry the
   * repetition penalty Orpheus needs (>= 1.1; `ORPHEUS_TTS_SAMPLING` / `defaultSampling`)
   * and no `depthDecoder` (Orpheus has none). `maxNewFrames` frames at most (default
   * `ORPHEUS_DEFAULT_MAX_FRAMES`, the reference's 1200 tokens, about 14.6 s).
   */
  async generateWithStatus(request: TtsGenerateRequest): Promise<OrpheusGeneration> {
    return this.continueWithStatus(request, []);
  }

  /**
   * The step-wise hook (`StepwiseTtsModel`, src/models/types.ts): the prompt of `request`
   * (cloning context, then the text), then start_of_ai, start_of_speech and `prefix` as
   * this answer's first frames (7 tokens each, `framesToTokens`), then up to
   * `request.maxNewFrames` new frames (default `ORPHEUS_DEFAULT_MAX_FRAMES` minus the
   * prefix's). The next token is position 0 of a frame or end_of_speech, as after any
   * whole frame, and the repetition penalty sees the prefix's tokens. Returns the new
   * frames only.
   */
  async continueGeneration(request: TtsGenerateRequest, prefix: Codes): Promise<TtsContinuation> {
    const { codes, stopped } = await this.continueWithStatus(request, prefix);
    return { codes, stopped };
  }

  /** `continueGeneration` with `generateWithStatus`'s report (tokens: the new ones, after the prefix). */
  async continueWithStatus(request: TtsGenerateRequest, prefix: Codes): Promise<OrpheusGeneration> {
    if (typeof request.text !== 'string' || request.text.trim() === '') throw new Error(`text must be a non-empty string, got ${JSON.stringify(request.text)}`);
    if (!Array.isArray(prefix)) throw new Error(`prefix must be frames [frames][${TOKENS_PER_FRAME}] (an array, [] for none), got ${typeof prefix}`);
    const { depthDecoder, ...sampling } = request.sampling;
    if (depthDecoder !== undefined) {
      throw new Error('Orpheus has no depth decoder: sampling.depthDecoder must be left out (Orpheus samples with ORPHEUS_TTS_SAMPLING, tts.defaultSampling)');
    }
    checkOrpheusSampling(sampling);
    const { allowLowRepetitionPenalty: _allow, ...sampler } = sampling as typeof sampling & { allowLowRepetitionPenalty?: boolean };
    const prefixTokens = prefix.length === 0 ? [] : this.tokensOf(prefix, 'prefix');
    const maxNewFrames = continuationFrameBudget(request.maxNewFrames, ORPHEUS_DEFAULT_MAX_FRAMES, prefix.length, 'Orpheus');
    const context: OrpheusContextTurn[] = (request.context ?? []).map((t, i) => ({
      text: t.text, source: this.speakerOf(t.speaker), audioTokens: this.tokensOf(t.codes, `context turn ${i}`),
    }));
    const L = this.layout;
    const prompt = buildOrpheusCloningPrompt(this.tokenizer, context, request.text, this.speakerOf(request.speaker), L);
    const lm = this.options.constrainFrames ? new FrameConstrainedLM(this.model, L) : this.model;
    const out = await continueTokenStream(lm, {
      ...sampler, prompt, lead: [L.startOfAi, L.startOfSpeech], prefixTokens, tokensPerFrame: TOKENS_PER_FRAME, maxNewFrames,
      stopTokenId: L.endOfSpeech, padTokenId: L.pad, seed: request.seed,
    });
    // With a prefix the new tokens hold no start_of_speech: parsing starts at index 0, at a frame's position 0.
    const parsed = parseSpeechTokens(out.tokens, { onInvalid: this.options.onInvalidFrame ?? 'throw', layout: L });
    return { codes: parsed.frames, stopped: parsed.ended, invalid: parsed.invalid, partial: parsed.partial, tokens: out.tokens, promptLength: out.promptLength };
  }

  dispose(): void {
    this.unloadAdapter();
    this.model.dispose();
    this.options.codecModel?.dispose();
  }
}
