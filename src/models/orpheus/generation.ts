/**
 * Orpheus generation and decoding: the preset of Orpheus defaults, the repetition-penalty
 * guard, generation through src/generate (stop on end-of-speech), and streaming SNAC
 * decoding in windows.
 */
import type { CausalLM } from '../llama/modeling';
import { AllowedTokensLM } from '../llama/stepwise';
import { generate } from '../../generate/generate';
import type { SamplingOptions } from '../../generate/sampling';
import type { TrainConfig } from '../../train/config';
import type { TtsSampling } from '../types';
import type { SnacDecodeOptions, SnacModel } from '../snac/modeling';
import { ORPHEUS_IDS, ORPHEUS_LAYOUT, TOKENS_PER_FRAME, audioPosition, framesToSnac, parseSpeechTokens, positionRange } from './tokens';
import type { OrpheusLayout, ParsedSpeech, ParseOptions } from './tokens';
import { buildOrpheusCloningPrompt } from './processor';
import type { OrpheusContextTurn, TextEncoder } from './processor';

/** Samples per Orpheus frame: SNAC 24 kHz hop 512 * level-0 stride 4. */
export const ORPHEUS_FRAME_SAMPLES = 2048;
export const ORPHEUS_SAMPLE_RATE = 24000;

/**
 * The LoRA part of Unsloth's Orpheus notebook (REFERENCE.md): r 64, alpha 64 (scale 1, no
 * rsLoRA), dropout 0, every attention and MLP projection, lr 2e-4. Fields not set here
 * take `DEFAULT_TRAIN_CONFIG`'s values (the workshop's batch, schedule, optimizer).
 */
export const ORPHEUS_LORA_TRAIN: Readonly<Partial<TrainConfig>> = Object.freeze({
  loraR: 64,
  loraAlpha: 64,
  useRslora: false,
  loraDropout: 0,
  targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
  learningRate: 2e-4,
});

/**
 * Orpheus' sampling (REFERENCE.md) as the model interface's `TtsSampling`: temperature 0.6,
 * top_p 0.95, repetition penalty 1.1 (required: lower values make the model loop). Orpheus
 * has no depth decoder, so there is no `depthDecoder` part.
 */
export const ORPHEUS_TTS_SAMPLING: Readonly<TtsSampling> = Object.freeze({ doSample: true, temperature: 0.6, topP: 0.95, repetitionPenalty: 1.1 });

/**
 * Orpheus defaults (REFERENCE.md): Unsloth's LoRA r 64 / alpha 64 at lr 2e-4; sampling
 * temperature 0.6, top_p 0.95, repetition penalty 1.1 (required: lower values make the
 * model loop), stop on end-of-speech.
 */
export const ORPHEUS_PRESET = Object.freeze({
  repoId: 'canopylabs/orpheus-3b-0.1-ft',
  codecRepoId: 'hubertsiuzdak/snac_24khz',
  train: ORPHEUS_LORA_TRAIN,
  sampling: ORPHEUS_TTS_SAMPLING,
  stopTokenId: ORPHEUS_IDS.endOfSpeech,
  /** ~14 s of audio at 7 tokens per 2048 samples (the reference's max_new_tokens 1200). */
  maxNewTokens: 1200,
});

/** The smallest repetition penalty Orpheus is run with. */
export const MIN_REPETITION_PENALTY = 1.1;

/**
 * Throws unless `repetitionPenalty >= 1.1` (missing counts as 1), naming the value;
 * `allowLowRepetitionPenalty` lets an experiment through on purpose.
 */
export function checkOrpheusSampling(s: SamplingOptions & { allowLowRepetitionPenalty?: boolean }): void {
  const rp = s.repetitionPenalty ?? 1;
  if (rp < MIN_REPETITION_PENALTY && !s.allowLowRepetitionPenalty) {
    throw new Error(
      `Orpheus needs repetitionPenalty >= ${MIN_REPETITION_PENALTY} (without it the model repeats frames and does not stop), ` +
        `got ${s.repetitionPenalty === undefined ? 'none (1)' : rp}; pass allowLowRepetitionPenalty: true to override`);
  }
}

export interface OrpheusGenerateOptions extends SamplingOptions {
  /** Default ORPHEUS_PRESET.maxNewTokens. */
  maxNewTokens?: number;
  seed?: number;
  allowLowRepetitionPenalty?: boolean;
  /** How invalid frames are handled when parsing (default 'throw'). */
  onInvalid?: ParseOptions['onInvalid'];
  /** Token layout (default Orpheus-3B's). */
  layout?: OrpheusLayout;
  /** Earlier turns for voice cloning (see `buildOrpheusCloningPrompt`); none = zero-shot. */
  context?: readonly OrpheusContextTurn[];
  /**
   * Mask the logits so that only what the layout allows next can be sampled (see
   * `FrameConstrainedLM`). Off by default: a real model's stream is parsed as it is, and a
   * broken frame is reported. A random model (the tiny pipeline check) never writes a valid
   * frame without it.
   */
  constrainFrames?: boolean;
}

/**
 * Text -> parsed speech frames: prompt as the reference notebooks (after the cloning
 * context, if any), sampling with the given options (checked by `checkOrpheusSampling`),
 * stop on end-of-speech (128258), then `parseSpeechTokens` (complete valid frames only).
 */
export async function generateOrpheusSpeech(
  model: CausalLM, tokenizer: TextEncoder, text: string, options: OrpheusGenerateOptions, source?: string | number,
): Promise<ParsedSpeech & { tokens: number[]; promptLength: number }> {
  checkOrpheusSampling(options);
  const { maxNewTokens, seed, allowLowRepetitionPenalty: _allow, onInvalid, layout = ORPHEUS_LAYOUT, context = [], constrainFrames, ...sampling } = options;
  const prompt = buildOrpheusCloningPrompt(tokenizer, context, text, source, layout);
  const lm = constrainFrames ? new FrameConstrainedLM(model, layout) : model;
  const out = await generate(lm, { inputIds: [prompt] }, {
    ...sampling, maxNewTokens: maxNewTokens ?? ORPHEUS_PRESET.maxNewTokens, seed, eosTokenId: layout.endOfSpeech, padTokenId: layout.pad,
  });
  const tokens = out.newTokens[0];
  return { ...parseSpeechTokens(tokens, { onInvalid, layout }), tokens, promptLength: prompt.length };
}

/**
 * Ids allowed after `last` in a stream of `layout` (null: no constraint): end_of_human ->
 * start_of_ai -> start_of_speech -> position 0, position k -> k + 1, position 6 ->
 * position 0 or end_of_speech. The positions' id ranges are disjoint, so the last token
 * alone says where in the frame the stream is.
 */
export function allowedAfter(last: number, layout: OrpheusLayout): Array<[number, number]> | null {
  if (last === layout.endOfHuman) return [[layout.startOfAi, layout.startOfAi + 1]];
  if (last === layout.startOfAi) return [[layout.startOfSpeech, layout.startOfSpeech + 1]];
  if (last === layout.startOfSpeech) return [positionRange(0, layout)];
  const k = audioPosition(last, layout);
  if (k < 0) return null;
  if (k < TOKENS_PER_FRAME - 1) return [positionRange(k + 1, layout)];
  return [positionRange(0, layout), [layout.endOfSpeech, layout.endOfSpeech + 1]];
}

/**
 * A CausalLM whose next-token logits are -Infinity wherever `allowedAfter` forbids a token
 * (HF's logits-processor way of constrained decoding), so every generated frame is complete
 * and in range. Only the last position's logits are masked: use it for generation
 * (`logitsToKeep: 1`), never for training.
 */
export class FrameConstrainedLM extends AllowedTokensLM {
  constructor(inner: CausalLM, layout: OrpheusLayout) {
    super(inner, (last) => allowedAfter(last, layout));
  }
}

export interface StreamDecodeOptions extends SnacDecodeOptions {
  /** Frames emitted per window (default 4). */
  windowFrames?: number;
  /**
   * Frames of context decoded on each side and thrown away (default 3 = 12 latent frames,
   * more than the 24 kHz decoder's receptive field of about 11 latent frames).
   */
  contextFrames?: number;
}

/**
 * Streaming decode without clicks by "decode with context, keep the middle": window
 * [a, b) is decoded together with `contextFrames` frames on each side (as far as they
 * exist), with the noise keyed by absolute position (`latentOffset`), and only its own
 * samples [a * 2048, b * 2048) are kept. With context at least the decoder's receptive
 * field, the windows join into the one-shot decode (tested within 1e-5), so there is no
 * seam to crossfade. `push` returns the audio of frames whose right context has arrived;
 * `finish` the rest.
 */
export class OrpheusStreamDecoder {
  private frames: number[][] = [];
  private emitted = 0;
  private readonly windowFrames: number;
  private readonly contextFrames: number;

  constructor(private readonly snac: SnacModel, private readonly options: StreamDecodeOptions = {}) {
    this.windowFrames = options.windowFrames ?? 4;
    this.contextFrames = options.contextFrames ?? 3;
    if (!(Number.isInteger(this.windowFrames) && this.windowFrames >= 1)) throw new Error(`windowFrames must be an integer >= 1, got ${this.windowFrames}`);
    if (!(Number.isInteger(this.contextFrames) && this.contextFrames >= 0)) throw new Error(`contextFrames must be an integer >= 0, got ${this.contextFrames}`);
    const s = snac.config.vqStrides;
    if (s[0] * snac.hopLength !== ORPHEUS_FRAME_SAMPLES || snac.config.attnWindowSize !== null) {
      throw new Error('OrpheusStreamDecoder needs the SNAC 24 kHz layout (2048 samples per frame, no attention windows)');
    }
  }

  private async decodeRange(a: number, b: number, final: boolean): Promise<Float32Array> {
    const lo = Math.max(0, a - this.contextFrames);
    const hi = final ? this.frames.length : Math.min(this.frames.length, b + this.contextFrames);
    const audio = await this.snac.decode(framesToSnac(this.frames.slice(lo, hi), this.snac.config.codebookSize), {
      noise: this.options.noise, latentOffset: lo * this.snac.config.vqStrides[0],
    });
    return audio.slice((a - lo) * ORPHEUS_FRAME_SAMPLES, (b - lo) * ORPHEUS_FRAME_SAMPLES);
  }

  /** Adds complete frames `[n][7]`; returns the samples now final (possibly none). */
  async push(frames: number[][]): Promise<Float32Array> {
    for (const f of frames) {
      if (f.length !== TOKENS_PER_FRAME) throw new Error(`frame has ${f.length} codes, expected ${TOKENS_PER_FRAME}`);
      this.frames.push(f);
    }
    const parts: Float32Array[] = [];
    while (this.emitted + this.windowFrames + this.contextFrames <= this.frames.length) {
      parts.push(await this.decodeRange(this.emitted, this.emitted + this.windowFrames, false));
      this.emitted += this.windowFrames;
    }
    return concat(parts);
  }

  /** Samples of every frame not yet returned. */
  async finish(): Promise<Float32Array> {
    if (this.emitted >= this.frames.length) return new Float32Array(0);
    const out = await this.decodeRange(this.emitted, this.frames.length, true);
    this.emitted = this.frames.length;
    return out;
  }
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
