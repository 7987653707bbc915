/**
 * CSM's processor (transformers' CsmProcessor + the csm-1b chat template), on codes:
 * each turn is `bos + "[speaker]" + text + eos`, followed, when the turn has audio, by one
 * `<|AUDIO|>` per frame and `<|audio_eos|>`; rows are left-padded with the tokenizer's pad
 * (eos); labels keep the audio ids and set -100 elsewhere, then a random
 * `1 - depthDecoderLabelsRatio` share of the batch's audio frames becomes -101
 * (backbone-only, Sesame's compute amortisation).
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/csm/processing_csm.py
 *
 * Audio enters as codes; `encodeTurnAudio` turns samples into codes with a codec, after
 * resampling to the codec's rate with a notice.
 */
import { resample } from '../../audio/resample';
import { Rng } from '../../generate/rng';
import type { TextTokenizer } from '../../tokenizer';
import { IGNORE_INDEX } from '../llama/modeling';
import type { CsmConfig } from './config';
import { BACKBONE_ONLY_INDEX, validateCodes } from './modeling';
import type { AudioCodec, CsmCodedTurn, CsmTurn } from './types';

/** Mimi's rate and frame: 24 kHz / 12.5 Hz = 1920 samples per frame (CSM-1B's; a processor
 * made with another codec, e.g. the mini family's 25 Hz one, takes `frameRateHz`). */
export const CSM_SAMPLE_RATE = 24000;
export const CSM_FRAME_RATE_HZ = 12.5;
export const CSM_FRAME_SAMPLES = CSM_SAMPLE_RATE / CSM_FRAME_RATE_HZ;

/** Frames a clip of `samples` (at 24 kHz) encodes to with Mimi: the processor's causal-conv length, = ceil(samples / 1920). */
export function framesForSamples(samples: number): number {
  if (!(Number.isInteger(samples) && samples >= 1)) throw new Error(`audio must have at least 1 sample, got ${samples}`);
  return Math.ceil(samples / CSM_FRAME_SAMPLES);
}

/** Speech rate the default frame budget assumes: about 14 characters per second of English speech. */
export const CHARS_PER_SECOND = 14;

/**
 * Default `maxNewFrames` for a text: twice its expected duration at CHARS_PER_SECOND plus
 * 2 s, in frames of `frameRateHz` (Hz): `ceil((2 * chars / 14 + 2) * 12.5)` for Mimi. A
 * 125-character sentence gets 249 frames (19.9 s) instead of transformers' fixed 125 (10 s)
 * that silently cuts long lines.
 */
export function defaultMaxNewFrames(text: string, frameRateHz = CSM_FRAME_RATE_HZ): number {
  if (!(frameRateHz > 0 && Number.isFinite(frameRateHz))) throw new Error(`frameRateHz must be a positive number, got ${frameRateHz}`);
  const chars = [...text.trim()].length;
  return Math.ceil(((2 * chars) / CHARS_PER_SECOND + 2) * frameRateHz);
}

export interface CsmProcessorOptions {
  /** Code frames per second of the model's codec, for the default generation budget (12.5, Mimi). */
  frameRateHz?: number;
}

export interface CsmBatch {
  /** `[batch][seq]`, left-padded */
  inputIds: number[][];
  attentionMask: number[][];
  /** `[batch][frames][codebooks]`: codes of each row's `<|AUDIO|>` positions, in order. */
  audioCodes: number[][][];
  /** `[batch][seq]` when asked for. */
  labels?: number[][];
  /** Per row, the generation budget from its last turn's text (prompts only). */
  maxNewFrames?: number[];
}

export interface CsmLabelOptions {
  /** Share of audio frames the depth decoder trains on; the rest are -101. Default 1/16 (Sesame). transformers' processor defaults to 1. */
  depthDecoderLabelsRatio?: number;
  /** Seeds the choice of -101 frames. */
  seed?: number;
}

export class CsmProcessor {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly audioId: number;
  readonly audioEosId: number;

  /** Code frames per second of the codec the model speaks in (12.5 for Mimi). */
  readonly frameRateHz: number;

  constructor(readonly tokenizer: TextTokenizer, readonly config: CsmConfig, options: CsmProcessorOptions = {}) {
    this.frameRateHz = options.frameRateHz ?? CSM_FRAME_RATE_HZ;
    if (!(this.frameRateHz > 0 && Number.isFinite(this.frameRateHz))) throw new Error(`frameRateHz must be a positive number, got ${this.frameRateHz}`);
    const need = (id: number | undefined, what: string) => {
      if (id === undefined) throw new Error(`tokenizer ${tokenizer.source} has no ${what} token`);
      return id;
    };
    this.bosId = need(tokenizer.bosTokenId, 'bos');
    this.eosId = need(tokenizer.eosTokenId, 'eos');
    this.padId = tokenizer.padTokenId ?? this.eosId;
    this.audioId = tokenizer.requireTokenId('<|AUDIO|>');
    this.audioEosId = tokenizer.requireTokenId('<|audio_eos|>');
    if (this.audioId !== config.audioTokenId || this.audioEosId !== config.audioEosTokenId) {
      throw new Error(`tokenizer's <|AUDIO|> / <|audio_eos|> are ${this.audioId} / ${this.audioEosId}, the model's config says ${config.audioTokenId} / ${config.audioEosTokenId}`);
    }
  }

  /** One conversation's ids and codes. */
  encodeConversation(turns: CsmCodedTurn[]): { ids: number[]; codes: number[][] } {
    if (turns.length === 0) throw new Error('a conversation needs at least one turn');
    const ids: number[] = [];
    const codes: number[][] = [];
    turns.forEach((t, i) => {
      const speaker = t.speaker ?? 0;
      if (!(Number.isInteger(speaker) && speaker >= 0)) throw new Error(`turn ${i}: speaker must be an integer >= 0, got ${JSON.stringify(t.speaker)}`);
      if (typeof t.text !== 'string') throw new Error(`turn ${i}: text must be a string, got ${typeof t.text}`);
      ids.push(this.bosId, ...this.tokenizer.encode(`[${speaker}]${t.text}`, { addSpecialTokens: false }), this.eosId);
      if (t.codes) {
        if (t.codes.length === 0) throw new Error(`turn ${i}: audio has no frames`);
        validateCodes(t.codes, this.config.numCodebooks, this.config.audioVocabSize, `turn ${i} audio codes`);
        for (const f of t.codes) {
          ids.push(this.audioId);
          codes.push(f);
        }
        ids.push(this.audioEosId);
      }
    });
    return { ids, codes };
  }

  /** A left-padded batch, with labels when `labels` options are given. */
  batch(conversations: CsmCodedTurn[][], labels?: CsmLabelOptions): CsmBatch {
    if (conversations.length === 0) throw new Error('the batch is empty');
    const rows = conversations.map((c) => this.encodeConversation(c));
    const seq = Math.max(...rows.map((r) => r.ids.length));
    const inputIds = rows.map((r) => [...new Array(seq - r.ids.length).fill(this.padId), ...r.ids]);
    const attentionMask = rows.map((r) => [...new Array(seq - r.ids.length).fill(0), ...new Array(r.ids.length).fill(1)]);
    const out: CsmBatch = { inputIds, attentionMask, audioCodes: rows.map((r) => r.codes) };
    if (labels) out.labels = this.labels(inputIds, labels);
    return out;
  }

  /** Labels for a batch: audio ids kept, -100 elsewhere, a share of audio frames -101. */
  labels(inputIds: number[][], options: CsmLabelOptions = {}): number[][] {
    const ratio = options.depthDecoderLabelsRatio ?? 1 / 16;
    if (!(ratio >= 0 && ratio <= 1)) throw new Error(`depthDecoderLabelsRatio must be in [0, 1], got ${ratio}`);
    const labels = inputIds.map((r) => r.map((id) => (id === this.audioId || id === this.audioEosId ? id : IGNORE_INDEX)));
    const frames: [number, number][] = [];
    inputIds.forEach((r, b) => r.forEach((id, t) => { if (id === this.audioId) frames.push([b, t]); }));
    // As the processor: floor(n * (1 - ratio)) frames drawn without replacement over the batch.
    const skip = Math.floor(frames.length * (1 - ratio));
    const rng = new Rng(options.seed ?? 0);
    for (let i = 0; i < skip; i++) {
      const j = i + Math.floor(rng.next() * (frames.length - i));
      [frames[i], frames[j]] = [frames[j], frames[i]];
      labels[frames[i][0]][frames[i][1]] = BACKBONE_ONLY_INDEX;
    }
    return labels;
  }

  /**
   * A generation prompt: context turns (text + audio, e.g. for voice cloning) then the turn to
   * speak, text only. `maxNewFrames` per row comes from that last text (`defaultMaxNewFrames`).
   */
  prompt(conversations: CsmCodedTurn[][]): CsmBatch {
    conversations.forEach((c, i) => {
      const last = c[c.length - 1];
      if (!last || last.codes) throw new Error(`prompt ${i}: the last turn is the text to speak and must have no audio`);
    });
    const out = this.batch(conversations);
    out.maxNewFrames = conversations.map((c) => defaultMaxNewFrames(c[c.length - 1].text, this.frameRateHz));
    return out;
  }
}

/**
 * Turns with samples become turns with codes: audio not at the codec's rate is resampled
 * (Kaiser-sinc, src/audio) and `onNotice` says so; codes given directly pass through.
 */
export async function encodeTurnAudio(turns: CsmTurn[], codec: AudioCodec, onNotice: (msg: string) => void = console.warn): Promise<CsmCodedTurn[]> {
  const out: CsmCodedTurn[] = [];
  for (const [i, t] of turns.entries()) {
    const turn: CsmCodedTurn = { text: t.text, speaker: t.speaker };
    if (t.audio && 'codes' in t.audio) turn.codes = t.audio.codes;
    else if (t.audio) {
      let samples = t.audio.samples;
      if (t.audio.sampleRate !== codec.sampleRate) {
        onNotice(`turn ${i}: audio at ${t.audio.sampleRate} Hz resampled to ${codec.sampleRate} Hz for the codec`);
        samples = resample(samples, t.audio.sampleRate, codec.sampleRate);
      }
      const codes = await codec.encode(samples);
      const want = Math.ceil(samples.length / codec.frameSamples);
      if (codes.length !== want) throw new Error(`turn ${i}: codec returned ${codes.length} frames for ${samples.length} samples, expected ${want}`);
      turn.codes = codes;
    }
    out.push(turn);
  }
  return out;
}
