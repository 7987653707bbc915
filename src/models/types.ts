/**
 * The one contract notebooks 04-06 use, whatever the model family: an `AudioCodec` that
 * turns audio into codes and back, and a `TtsModel` that builds training examples from
 * codes, hands the trainer a `TrainableModel`, and generates codes for a text with an
 * optional cloning context. CSM (Mimi), Orpheus (SNAC), Llasa (XCodec2) and the mini family
 * (a small CSM with its own codec) implement it, so a notebook switches family with one config value
 * (`model: 'csm' | 'orpheus' | 'llasa' | 'mini'` or a Hub repo id, see `parseModelChoice`).
 *
 * `AudioCodec` is CSM's codec contract (src/models/csm/types.ts, which Mimi's
 * `asAudioCodec` implements) plus `id`, the cache key of tokenization: the same field
 * names and the same frame-major `number[][]` codes, so a CSM codec only has to name itself.
 */
import type { SamplingOptions } from '../generate/sampling';
import type { BatchInfo, TrainableModel } from '../train/types';

/**
 * Codes of one clip, frame-major: `codes[t][k]` is codebook k of frame t
 * (`[frames][codebooks]`, every frame the same length). The layout CSM's processor and
 * Mimi's `asAudioCodec` use.
 */
export type Codes = number[][];

/** A neural audio codec: samples at `sampleRate` <-> discrete codes at `sampleRate / frameSamples` frames per second. */
export interface AudioCodec {
  /**
   * Names the codec *and its weights*, e.g. `"mimi:kyutai/mimi@<revision>:32"`: two codecs
   * with the same id must produce the same codes for the same audio. Tokenization caches
   * codes under it, so a new checkpoint or codebook count must change it.
   */
  readonly id: string;
  /** Sample rate in Hz the codec reads and writes (24000 for Mimi and SNAC, 16000 for XCodec2). */
  readonly sampleRate: number;
  /** Samples per code frame (1920 for Mimi: 24000 Hz / 12.5 Hz). Frame rate in Hz = sampleRate / frameSamples. */
  readonly frameSamples: number;
  /** Codebooks per frame (32 for CSM-1B's Mimi, 1 for XCodec2). */
  readonly numCodebooks: number;
  /** Mono samples at `sampleRate` -> codes `[frames][codebooks]`, frames = ceil(samples / frameSamples). */
  encode(samples: Float32Array): Promise<Codes>;
  /** Codes `[frames][codebooks]` -> `frames * frameSamples` mono samples at `sampleRate`. */
  decode(codes: Codes): Promise<Float32Array>;
}

/** Frames per second of a codec (12.5 Hz for Mimi). */
export function codecFrameRateHz(codec: Pick<AudioCodec, 'sampleRate' | 'frameSamples'>): number {
  return codec.sampleRate / codec.frameSamples;
}

/** Frames the codec makes for `samples` samples at its rate: ceil(samples / frameSamples). */
export function codecFrames(codec: Pick<AudioCodec, 'frameSamples'>, samples: number): number {
  return Math.ceil(samples / codec.frameSamples);
}

/** A tokenized dataset row: what `tokenizeDataset` returns and training starts from. */
export interface CodedClip {
  /** The clip's audio as codes `[frames][codebooks]`. */
  codes: Codes;
  /** What is said in the clip. */
  text: string;
  /** Speaker id (dataset column `source`, from 0). */
  source: number;
}

/** An earlier turn given as a cloning context: audio (as codes) with its text and speaker. */
export interface ContextTurn {
  codes: Codes;
  text: string;
  speaker: number;
}

/**
 * Sampling for generation. The top-level fields drive the model's main sampler (CSM's
 * backbone codebook 0; Orpheus and Llasa's only one). `depthDecoder` is for families with a
 * second-stage decoder (CSM's codebooks 1..n-1); a family without one rejects it rather
 * than ignoring it.
 */
export interface TtsSampling extends SamplingOptions {
  depthDecoder?: SamplingOptions;
}

export interface TtsGenerateRequest {
  /** What to say. */
  text: string;
  /** Speaker id the text is attributed to (CSM's `[speaker]` prefix, Orpheus's `"{source}: "`). */
  speaker: number;
  /** Earlier turns (oldest first) for voice cloning; empty or absent = zero-shot. */
  context?: ContextTurn[];
  sampling: TtsSampling;
  /** Frames to generate at most (at the codec's frame rate); default: the family's estimate from the text length. */
  maxNewFrames?: number;
  /** Seeds the sampler: the same request and seed give the same codes. */
  seed: number;
}

/**
 * A text-to-speech model family behind one interface. `E` is the family's training example,
 * `B` its collated batch (the trainer's `TrainableModel<E, B>`).
 */
export interface TtsModel<E = unknown, B extends BatchInfo = BatchInfo> {
  /** The codec whose codes this model reads and writes. */
  readonly codec: AudioCodec;
  /**
   * Tokenized clips -> training examples (text tokens, codes, labels in the family's
   * layout). Throws, naming the row, on codes of the wrong codebook count or range.
   */
  buildTrainingExamples(rows: CodedClip[]): E[];
  /** The model as the trainer sees it: LoRA variables, collation, loss, adapter save/load. */
  trainable(): TrainableModel<E, B>;
  /** Codes `[frames][codebooks]` for `request.text`, without the end-of-audio frame; decode with `codec.decode`. */
  generate(request: TtsGenerateRequest): Promise<Codes>;
  /**
   * Step-wise generation (optional; see `StepwiseTtsModel`): what search over partial
   * sequences needs (src/eval/search.ts's beam search). Best-of-N needs only `generate`.
   */
  continueGeneration?(request: TtsGenerateRequest, prefix: Codes): Promise<TtsContinuation>;
}

/** What a continued generation returns. */
export interface TtsContinuation {
  /** The NEW frames `[frames][codebooks]` after the prefix (the prefix not repeated), without the end-of-audio frame. */
  codes: Codes;
  /** True when the model ended the turn (its end frame or stop token); false when it stopped at `maxNewFrames`. */
  stopped: boolean;
}

/**
 * A model that can continue a partial generation, the hook beam search uses: generate K
 * frames, score the partial audio, keep the best beams, continue each from its frames.
 *
 * `continueGeneration(request, prefix)` reads `prefix` (`[frames][codebooks]`, possibly
 * empty) as frames of the turn being spoken that the model already generated: it builds the
 * same prompt `generate(request)` builds (context turns, then the text), appends the prefix
 * where the model's own frames would follow, and samples at most `request.maxNewFrames` NEW
 * frames with a sampler seeded by `request.seed`. Everything the model's sampler looks back
 * at (a repetition penalty, say) sees the prefix as if it had been sampled in this call.
 *
 * Contract (`checkStepwiseContract` in test/eval/stepwise_contract.ts checks it; CSM,
 * Orpheus and Llasa run it on their tiny random models in test/eval/stepwise.test.ts, and a
 * family adding the hook should too):
 *  1. `continueGeneration(r, [])` returns the codes `generate(r)` returns.
 *  2. Greedy (`doSample: false`): continuing from the first m frames of a greedy
 *     generation gives its remaining frames (up to float rounding of the prefill path).
 *  3. Same request, prefix and seed: same codes.
 *  4. A prefix frame of the wrong codebook count, or a code outside the model's range,
 *     throws naming the frame; `maxNewFrames` counts new frames only (default: the
 *     family's estimate for the text minus the prefix's frames; none left is an error).
 *
 * How the families implement it: CSM appends the prefix as `<|AUDIO|>` positions after the
 * text turn (src/models/csm/tts.ts). Orpheus and Llasa share src/models/llama/stepwise.ts
 * (`continueTokenStream`, around src/generate's one sampler): Orpheus appends start_of_ai,
 * start_of_speech and each prefix frame's 7 SNAC tokens (`framesToTokens`, the inverse of
 * `parseSpeechTokens`), so the next token is position 0 of a frame or end-of-speech;
 * Llasa appends the prefix's `<|s_N|>` tokens (`codesToSpeechTokens`) after
 * `<|SPEECH_GENERATION_START|>` (after a cloning clip's codes when there is one). Both then
 * generate with `maxNewTokens` = new frames x tokens per frame + 1 for the stop token, and
 * their repetition penalty sees the prefix because it is part of the sequence. Default
 * budgets: Orpheus 171 frames a turn (the reference's 1200 tokens), Llasa what fits in its
 * 2048-token context after the prompt; a Llasa request past 2048 tokens is refused.
 * Frames a generation skipped (Orpheus' `onInvalidFrame: 'skip'`, Llasa's
 * `onInvalidSpeech: 'skip'`) are not in its codes, so point 2 holds for a generation that
 * skipped nothing.
 */
export interface StepwiseTtsModel extends TtsModel {
  continueGeneration(request: TtsGenerateRequest, prefix: Codes): Promise<TtsContinuation>;
}

/** True when `model` implements the step-wise hook. */
export function isStepwise<M extends Pick<TtsModel, 'continueGeneration'>>(model: M): model is M & Required<Pick<TtsModel, 'continueGeneration'>> {
  return typeof model.continueGeneration === 'function';
}

/** The model families notebooks 04-06 can switch between. */
export const MODEL_FAMILIES = ['csm', 'orpheus', 'llasa', 'mini'] as const;
export type ModelFamily = (typeof MODEL_FAMILIES)[number];

/** What a notebook's `model` config value means: a family's default checkpoint or a Hub repository. */
export type ModelChoice = { kind: 'family'; family: ModelFamily } | { kind: 'repo'; repoId: string };

// Hub repo ids: "owner/name" with the characters the Hub allows (letters, digits, - _ .).
const REPO_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Parses a notebook's `model` value; throws naming the field and the value when it is neither a family nor a repo id. */
export function parseModelChoice(value: string, field = 'model'): ModelChoice {
  if ((MODEL_FAMILIES as readonly string[]).includes(value)) return { kind: 'family', family: value as ModelFamily };
  if (REPO_ID.test(value)) return { kind: 'repo', repoId: value };
  throw new Error(`${field} must be one of ${MODEL_FAMILIES.join(', ')} or a Hub repo id "owner/name", got ${JSON.stringify(value)}`);
}
