/**
 * Orpheus generation and decoding: the preset of Orpheus defaults, the repetition-penalty
 * guard, generation through src/generate (stop on end-of-speech), and streaming SNAC
 * decoding in windows.
 */
import type { CausalLM } from '../llama/modeling';
import { generate } from '../../generate/generate';
import type { SamplingOptions } from '../../generate/sampling';
import type { SnacDecodeOptions, SnacModel } from '../snac/modeling';
import { ORPHEUS_IDS, TOKENS_PER_FRAME, framesToSnac, parseSpeechTokens } from './tokens';
import type { ParsedSpeech, ParseOptions } from './tokens';
import { buildOrpheusPrompt } from './processor';
import type { TextEncoder } from './processor';

/** Samples per Orpheus frame: SNAC 24 kHz hop 512 * level-0 stride 4. */
export const ORPHEUS_FRAME_SAMPLES = 2048;
export const ORPHEUS_SAMPLE_RATE = 24000;

/**
 * Orpheus defaults (REFERENCE.md): Unsloth's LoRA r 64 / alpha 64 at lr 2e-4; sampling
 * temperature 0.6, top_p 0.95, repetition penalty 1.1 (required: lower values make the
 * model loop), stop on end-of-speech.
 */
export const ORPHEUS_PRESET = Object.freeze({
  repoId: 'canopylabs/orpheus-3b-0.1-ft',
  codecRepoId: 'hubertsiuzdak/snac_24khz',
  train: Object.freeze({ loraR: 64, loraAlpha: 64, useRslora: false, learningRate: 2e-4 }),
  sampling: Object.freeze({ doSample: true, temperature: 0.6, topP: 0.95, repetitionPenalty: 1.1 }),
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
}

/**
 * Text -> parsed speech frames: prompt as the reference notebooks, sampling with the given
 * options (checked by `checkOrpheusSampling`), stop on end-of-speech (128258), then
 * `parseSpeechTokens` (complete valid frames only).
 */
export async function generateOrpheusSpeech(
  model: CausalLM, tokenizer: TextEncoder, text: string, options: OrpheusGenerateOptions, source?: string | number,
): Promise<ParsedSpeech & { tokens: number[] }> {
  checkOrpheusSampling(options);
  const prompt = buildOrpheusPrompt(tokenizer, text, source);
  const { maxNewTokens, seed, allowLowRepetitionPenalty: _allow, onInvalid, ...sampling } = options;
  const out = await generate(model, { inputIds: [prompt] }, {
    ...sampling, maxNewTokens: maxNewTokens ?? ORPHEUS_PRESET.maxNewTokens, seed, eosTokenId: ORPHEUS_IDS.endOfSpeech,
    padTokenId: ORPHEUS_IDS.pad,
  });
  const tokens = out.newTokens[0];
  return { ...parseSpeechTokens(tokens, { onInvalid }), tokens };
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
    const audio = await this.snac.decode(framesToSnac(this.frames.slice(lo, hi)), {
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
