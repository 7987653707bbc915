/**
 * Llasa behind the one model interface of notebooks 04-06 (`TtsModel`, src/models/types.ts):
 * a Llama over text + `<|s_N|>` speech tokens, XCodec2 (one codebook, 50 Hz, 16 kHz) as the
 * codec, train_tts.py's sequences for LoRA training through `LlamaLoraTrainable`, and
 * generation with an optional cloning context, step-wise too (`continueGeneration`, the hook
 * beam search needs: a prefix of frames goes back into the stream as its `<|s_N|>` tokens,
 * through src/models/llama/stepwise.ts).
 *
 * Ownership: a LlasaTts owns its model (`dispose()` frees it, and the codec's model when
 * given); an adapter it attaches (`trainable`, `loadAdapter`) lives on the model until
 * `unloadAdapter()`.
 */
import { loadPeftAdapter } from '../../lora';
import type { LoraAdapter } from '../../lora';
import { validateTrainConfig } from '../../train/config';
import type { TrainConfig } from '../../train/config';
import { LlamaLoraTrainable } from '../../train/llama';
import type { TokenBatch } from '../../train/llama';
import type { TokenExample } from '../../train/types';
import type { LlamaForCausalLM } from '../llama/modeling';
import { AllowedTokensLM, continuationFrameBudget, continueTokenStream } from '../llama/stepwise';
import type { AudioCodec, CodedClip, Codes, ContextTurn, StepwiseTtsModel, TtsContinuation, TtsGenerateRequest, TtsModel, TtsSampling } from '../types';
import { LLASA_LORA_TRAIN, LLASA_MAX_LENGTH, LLASA_PRESET } from './generation';
import type { LlasaProcessor, LlasaPromptClip } from './processor';
import { codesToSpeechTokens, parseSpeechTokens } from './tokens';
import type { TokenIssue } from './tokens';

export interface LlasaTtsOptions {
  /** What the notebooks show as the model's name, e.g. "HKUSTAudio/Llasa-1B". */
  name: string;
  /** Written into saved adapters as base_model_name_or_path (null for a model built in code). */
  baseModelNameOrPath?: string | null;
  /** When set, a warning every notebook output of this model shows (a tiny random model's). */
  warning?: string;
  /** The codec's model, disposed with this one (omit when the caller owns it). */
  codecModel?: { dispose(): void };
  /** Codes of the codec's one codebook (65536 for XCodec2, 1024 for the tiny model): histograms span it. */
  codebookSize?: number;
  /**
   * A generated token that is not speech: 'throw' (default; the error names its position and
   * value) or 'skip' (drop it and report it in `generateWithStatus`, as the model card's
   * `extract_speech_ids` does). A random tiny model emits text tokens all the time and skips.
   */
  onInvalidSpeech?: 'throw' | 'skip';
  /**
   * Mask the logits so that only speech tokens `<|s_N|>` and <|SPEECH_GENERATION_END|> can be
   * sampled (default false: a real Llasa's stream is parsed as it is). For a random model,
   * whose frames would otherwise be interleaved with skipped text tokens.
   */
  constrainSpeech?: boolean;
}

/** What `generateWithStatus` and `continueWithStatus` return. */
export interface LlasaGeneration {
  /** New frames `[frames][1]` (XCodec2 codes), at most `maxNewFrames`, without the stop token. */
  codes: Codes;
  /** True when the model wrote <|SPEECH_GENERATION_END|>. */
  stopped: boolean;
  /** Non-speech tokens dropped (only with `onInvalidSpeech: 'skip'`); positions index `tokens`. */
  invalid: TokenIssue[];
  /** Every generated token id (after the prefix, when there is one), stop token included. */
  tokens: number[];
  /** Tokens read before the first new one: the prompt (cloning clip included) and the prefix. */
  promptLength: number;
}

/** Frame-major codes `[frames][1]` -> the flat code list Llasa reads; throws naming `where` and the frame. */
export function flattenSingleCodebook(codes: Codes, where: string): number[] {
  return codes.map((frame, t) => {
    if (!Array.isArray(frame) || frame.length !== 1) {
      throw new Error(`${where}: frame ${t} has ${Array.isArray(frame) ? frame.length : 'no'} codebooks, Llasa reads XCodec2's single codebook`);
    }
    return frame[0]!;
  });
}

/**
 * Cloning context -> one prompt clip: the turns' texts joined by spaces and their codes
 * concatenated, oldest first (the reference prompts with a single clip; several turns are
 * read as one longer clip).
 */
export function contextToClip(context: readonly ContextTurn[]): LlasaPromptClip | undefined {
  if (context.length === 0) return undefined;
  const codes: number[] = [];
  context.forEach((turn, i) => codes.push(...flattenSingleCodebook(turn.codes, `context turn ${i}`)));
  return { text: context.map((t) => t.text.trim()).filter((t) => t !== '').join(' '), codes };
}

export class LlasaTts implements TtsModel<TokenExample, TokenBatch>, Pick<StepwiseTtsModel, 'continueGeneration'> {
  readonly family = 'llasa';
  /** Llasa's sampling (temperature 0.9, top_p 0.95; `LLASA_PRESET.sampling`): what generation should use. */
  readonly defaultSampling: TtsSampling = LLASA_PRESET.sampling;
  /** The reference LoRA recipe (r 8, alpha 32, q,v, dropout 0.1, lr 5e-4): what `trainable()` uses where the config says nothing. */
  readonly trainDefaults: Readonly<Partial<TrainConfig>> = LLASA_LORA_TRAIN;
  private lora: LlamaLoraTrainable | null = null;
  private loaded: { adapter: LoraAdapter; dir: string } | null = null;

  constructor(
    readonly model: LlamaForCausalLM,
    readonly processor: LlasaProcessor,
    readonly codec: AudioCodec,
    readonly options: LlasaTtsOptions,
  ) {
    if (codec.numCodebooks !== 1) throw new Error(`codec ${codec.id} makes ${codec.numCodebooks} codebooks per frame; Llasa reads one (XCodec2)`);
    const { speechTokenStart, numSpeechTokens, markers } = processor.layout;
    const top = Math.max(speechTokenStart + numSpeechTokens, ...Object.values(markers).map((m) => m + 1));
    if (model.config.vocabSize < top) {
      throw new Error(`the model's vocabulary has ${model.config.vocabSize} ids, the tokenizer's Llasa tokens need ${top}`);
    }
  }

  get name(): string {
    return this.options.name;
  }

  /** Codes per codebook of the codec, when known (histograms then show unused codes too). */
  get codebookSize(): number | undefined {
    return this.options.codebookSize;
  }

  /** The tiny random model's warning, or null for a real model. */
  get warning(): string | null {
    return this.options.warning ?? null;
  }

  /** Folder of the adapter now attached by `loadAdapter`, or null. */
  get adapterDir(): string | null {
    return this.loaded?.dir ?? null;
  }

  /** One train_tts.py sequence per clip (the speaker column is not used: Llasa has no speaker prefix). */
  buildTrainingExamples(rows: CodedClip[]): TokenExample[] {
    return rows.map((r, i) => this.processor.trainingExample(r.text, flattenSingleCodebook(r.codes, `row ${i}`), `row ${i}`));
  }

  /**
   * The model with a LoRA adapter as the trainer sees it. The first call attaches a fresh
   * adapter from `config` over the Llasa recipe (`LLASA_LORA_TRAIN`: r 8, alpha 32, q,v,
   * dropout 0.1, lr 5e-4); later calls return the same one.
   */
  trainable(config: Partial<TrainConfig> = {}): LlamaLoraTrainable {
    if (this.loaded) throw new Error(`an adapter loaded from ${this.loaded.dir} is attached; unloadAdapter() before training a new one`);
    if (!this.lora) {
      this.lora = LlamaLoraTrainable.create(this.model, validateTrainConfig({ ...this.trainDefaults, ...config }), this.options.baseModelNameOrPath ?? null);
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
    this.loaded?.adapter.unload();
    this.loaded = null;
  }

  async generate(request: TtsGenerateRequest): Promise<Codes> {
    return (await this.generateWithStatus(request)).codes;
  }

  /**
   * Codes `[frames][1]` of the new speech, whether generation ended on
   * <|SPEECH_GENERATION_END|>, and the non-speech tokens skipped (with `onInvalidSpeech: 'skip'`).
   * `maxNewFrames` frames at most (default: what fits in the 2048-token context after the
   * prompt, less one token for the stop).
   */
  async generateWithStatus(request: TtsGenerateRequest): Promise<LlasaGeneration> {
    return this.continueWithStatus(request, []);
  }

  /**
   * The step-wise hook (`StepwiseTtsModel`, src/models/types.ts): the prompt of `request`
   * (ending with <|SPEECH_GENERATION_START|>, or with the cloning clip's codes after it),
   * then `prefix` as this turn's first `<|s_N|>` tokens, then up to `request.maxNewFrames`
   * new frames (default: what fits in `LLASA_MAX_LENGTH` after prompt and prefix, less one
   * for the stop token). The repetition penalty, when set, sees the prefix's tokens. Returns
   * the new frames only.
   *
   * With `onInvalidSpeech: 'skip'`, non-speech tokens a generation skipped are not part of
   * the frames, so a continuation from those frames does not see them (greedy continuation
   * reproduces a generation exactly when it skipped nothing).
   */
  async continueGeneration(request: TtsGenerateRequest, prefix: Codes): Promise<TtsContinuation> {
    const { codes, stopped } = await this.continueWithStatus(request, prefix);
    return { codes, stopped };
  }

  /** `continueGeneration` with `generateWithStatus`'s report (tokens: the new ones, after the prefix). */
  async continueWithStatus(request: TtsGenerateRequest, prefix: Codes): Promise<LlasaGeneration> {
    const { depthDecoder, ...sampling } = request.sampling;
    if (depthDecoder !== undefined) throw new Error('Llasa has no depth decoder: sampling.depthDecoder must be left out');
    if (request.maxNewFrames !== undefined && !(Number.isInteger(request.maxNewFrames) && request.maxNewFrames >= 1)) {
      throw new Error(`maxNewFrames must be an integer >= 1, got ${request.maxNewFrames}`);
    }
    if (!Array.isArray(prefix)) throw new Error(`prefix must be frames [frames][1] (an array, [] for none), got ${typeof prefix}`);
    const layout = this.processor.layout;
    const prefixCodes = flattenSingleCodebook(prefix, 'prefix');
    prefixCodes.forEach((c, t) => {
      if (!(Number.isInteger(c) && c >= 0 && c < layout.numSpeechTokens)) {
        throw new Error(`prefix: code ${c} at frame ${t} is outside [0, ${layout.numSpeechTokens}) (the tokenizer's <|s_N|> speech tokens)`);
      }
    });
    const prompt = this.processor.prompt(request.text, this.fitContext(request, prefix.length));
    // Frames the whole turn may have by default: the context left after the prompt, less the stop token.
    const maxNewFrames = continuationFrameBudget(request.maxNewFrames, LLASA_MAX_LENGTH - prompt.length - 1, prefix.length, 'Llasa');
    const total = prompt.length + prefix.length + maxNewFrames + 1;
    if (total > LLASA_MAX_LENGTH) {
      throw new Error(`Llasa: prompt (${prompt.length} tokens) + prefix (${prefix.length} frames) + ${maxNewFrames} new frames + the stop token = ${total} tokens, `
        + `over the ${LLASA_MAX_LENGTH}-token context (LLASA_MAX_LENGTH); ask for fewer frames or shorten the text`);
    }
    const m = layout.markers;
    const lm = this.options.constrainSpeech
      ? new AllowedTokensLM(this.model, () => [[layout.speechTokenStart, layout.speechTokenStart + layout.numSpeechTokens], [m.SPEECH_GENERATION_END, m.SPEECH_GENERATION_END + 1]])
      : this.model;
    const out = await continueTokenStream(lm, {
      ...sampling, prompt, lead: [], prefixTokens: codesToSpeechTokens(prefixCodes, layout), tokensPerFrame: 1, maxNewFrames,
      stopTokenId: m.SPEECH_GENERATION_END, padTokenId: this.processor.padTokenId, seed: request.seed,
    });
    const parsed = parseSpeechTokens(out.tokens, layout, { onInvalid: this.options.onInvalidSpeech ?? 'throw' });
    // The token after the last frame is the stop's slot; a speech token there is a frame past the budget.
    const codes = parsed.codes.slice(0, maxNewFrames).map((c) => [c]);
    return { codes, stopped: parsed.ended, invalid: parsed.invalid, tokens: out.tokens, promptLength: out.promptLength };
  }

  /**
   * The cloning clip of the request's context turns, oldest turns dropped (with a warning that
   * names them) until the prompt leaves room in Llasa's 2048-token context for the prefix's
   * frames and the new speech: `maxNewFrames` + 1 tokens when set, else at least a quarter of
   * the context. A turn is dropped whole, never cut: its text must stay the transcript of its audio.
   */
  private fitContext(request: TtsGenerateRequest, prefixFrames: number): LlasaPromptClip | undefined {
    const turns = [...(request.context ?? [])];
    const need = prefixFrames + (request.maxNewFrames !== undefined ? request.maxNewFrames + 1 : Math.ceil(LLASA_MAX_LENGTH / 4));
    let dropped = 0;
    for (;;) {
      const clip = contextToClip(turns);
      if (!clip || this.processor.prompt(request.text, clip).length + need <= LLASA_MAX_LENGTH) {
        if (dropped > 0) {
          const tokens = prefixFrames > 0 ? `${prefixFrames} prefix + ${need - prefixFrames} new tokens` : `${need} new tokens`;
          console.warn(`Llasa: dropped the ${dropped} oldest cloning-context turn(s) of ${dropped + turns.length}: prompt + ${tokens} must fit in ${LLASA_MAX_LENGTH} tokens`
            + (turns.length === 0 ? ' (none fit: generating without a cloning context; use a shorter reference clip)' : ''));
        }
        return clip;
      }
      turns.shift();
      dropped++;
    }
  }

  dispose(): void {
    this.unloadAdapter();
    this.model.dispose();
    this.options.codecModel?.dispose();
  }
}
