/**
 * `transcribe(audio, options)`: a file or 16 kHz samples to openai-whisper-style JSON
 * (`{text, segments: [{id, seek, start, end, text, tokens, temperature, avg_logprob,
 * compression_ratio, no_speech_prob, words?}], language}`), the format src/transcript reads,
 * with a progress bar over the audio.
 * https://github.com/openai/whisper/blob/main/whisper/transcribe.py
 */
import { decodeAudioFile } from '../../audio/ffmpeg';
import { ProgressBar } from '../../notebook/progress';
import { TextTokenizer } from '../../tokenizer/tokenizer';
import { MIN_SAMPLES, SAMPLE_RATE, extractFeatures } from './feature_extraction';
import { generate, textCompressionRatio } from './decoding';
import type { GenerateOptions, WhisperTask } from './decoding';
import { WHISPER_FILES, WhisperForConditionalGeneration } from './modeling';
import { snapshot } from '../../hub/snapshot';

/** The checkpoint notebook 02 uses by default. */
export const DEFAULT_WHISPER_MODEL = 'openai/whisper-large-v3-turbo';

/**
 * Where a Whisper checkpoint can be read without a download: its local folder when
 * `modelId` is a folder or is complete in the Hugging Face cache, else null. Notebook 02
 * uses it to transcribe when it can and to fall back to a shipped transcript offline.
 */
export async function whisperCheckpointCached(modelId: string = DEFAULT_WHISPER_MODEL): Promise<string | null> {
  try {
    return await snapshot(modelId, { allowPatterns: WHISPER_FILES, offline: true });
  } catch {
    return null;
  }
}

export interface TranscribeOptions {
  /** A loaded model; otherwise `modelId` is loaded (and disposed afterwards). */
  model?: WhisperForConditionalGeneration;
  /** The model's tokenizer (tokenizer.json); loaded from `modelId` when not given. */
  tokenizer?: TextTokenizer;
  /** Hub repo id or local directory. Default `openai/whisper-large-v3-turbo`. */
  modelId?: string;
  /** Rate of `samples` in Hz; must be 16000 (files are decoded and resampled to 16 kHz). */
  sampleRate?: number;
  /** Language code (`en`); undefined detects it from the first 30 s. */
  language?: string;
  task?: WhisperTask;
  /** Fallback temperatures (openai-whisper's default 0, 0.2, ..., 1.0). */
  temperature?: number[];
  /** Fall back when the text compresses better than this (2.4: repetition loops). */
  compressionRatioThreshold?: number | null;
  /** Fall back when the average log probability is below this (-1.0). */
  logprobThreshold?: number | null;
  /** Skip a window as silence above this no-speech probability when logprob is low too (0.6). */
  noSpeechThreshold?: number | null;
  /** Prompt each window with the previous text (openai-whisper's default true). */
  conditionOnPreviousText?: boolean;
  /** Word start/end times from cross-attention alignment. Default false. */
  wordTimestamps?: boolean;
  maxNewTokens?: number;
  seed?: number;
  /** Progress bar sink (default: detected; 'none' for tests and scripts). */
  progress?: 'notebook' | 'terminal' | 'none';
}

export interface TranscriptWord {
  word: string;
  start: number;
  end: number;
}

export interface TranscriptSegmentJson {
  id: number;
  /** Mel frame (10 ms) where the segment's window began. */
  seek: number;
  start: number;
  end: number;
  text: string;
  tokens: number[];
  temperature: number;
  avg_logprob: number;
  compression_ratio: number;
  no_speech_prob: number;
  words?: TranscriptWord[];
}

export interface TranscriptJson {
  text: string;
  segments: TranscriptSegmentJson[];
  language: string | null;
  /** Why the transcript is empty or partial (silence, ...), when it is. */
  warnings?: string[];
}

/** Peak level below which audio counts as silence (-60 dBFS). */
const SILENCE_PEAK = 1e-3;

/**
 * Transcribes a file (decoded with ffmpeg and resampled to 16 kHz) or 16 kHz mono samples.
 * Audio shorter than 0.1 s, non-finite samples or another sample rate are errors; silence
 * gives an empty transcript with a warning.
 */
export async function transcribe(audio: string | Float32Array, options: TranscribeOptions = {}): Promise<TranscriptJson> {
  let samples: Float32Array;
  const source = typeof audio === 'string' ? audio : '<samples>';
  if (typeof audio === 'string') {
    samples = (await decodeAudioFile(audio, { sampleRate: SAMPLE_RATE })).channels[0]!;
  } else {
    if (!(audio instanceof Float32Array)) throw new TypeError('transcribe expects a file path or a Float32Array of 16 kHz samples');
    const rate = options.sampleRate ?? SAMPLE_RATE;
    if (rate !== SAMPLE_RATE) {
      throw new RangeError(`Whisper needs ${SAMPLE_RATE} Hz audio, got ${rate} Hz: resample first (ttslab's resample(samples, ${rate}, ${SAMPLE_RATE}))`);
    }
    samples = audio;
  }
  if (samples.length < MIN_SAMPLES) {
    throw new RangeError(`${source}: ${samples.length} samples (${(samples.length / SAMPLE_RATE).toFixed(3)} s) is too short to transcribe; Whisper needs at least ${MIN_SAMPLES / SAMPLE_RATE} s`);
  }
  let peak = 0;
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i]!;
    if (!Number.isFinite(v)) throw new RangeError(`${source}: sample ${i} is ${v}; audio must be finite`);
    const a = Math.abs(v);
    if (a > peak) peak = a;
  }
  if (peak < SILENCE_PEAK) {
    const warning = `${source}: the audio is silent (peak ${(20 * Math.log10(Math.max(peak, 1e-12))).toFixed(1)} dBFS): nothing to transcribe`;
    console.warn(warning);
    return { text: '', segments: [], language: options.language ?? null, warnings: [warning] };
  }

  const ownModel = !options.model;
  const modelId = options.modelId ?? DEFAULT_WHISPER_MODEL;
  const model = options.model ?? await WhisperForConditionalGeneration.fromPretrained(modelId);
  try {
    const tokenizer = options.tokenizer ?? await TextTokenizer.fromPretrained(modelId);
    const g = model.generationConfig;
    if (!g) throw new Error('the model has no generation config: load it with fromPretrained');
    const tsBegin = g.noTimestampsTokenId + 1;
    const textOf = (tokens: number[]) => tokenizer.decode(tokens.filter((t) => t < g.eosTokenId));
    const mel = extractFeatures(samples, model.config.numMelBins);
    const durationS = samples.length / SAMPLE_RATE;
    const bar = new ProgressBar({ label: 'transcribing', total: Number(durationS.toFixed(1)), unit: 's', mode: options.progress });
    const gen: GenerateOptions = {
      language: options.language ?? null,
      task: options.task ?? 'transcribe',
      temperature: options.temperature ?? [0, 0.2, 0.4, 0.6, 0.8, 1.0],
      compressionRatioThreshold: options.compressionRatioThreshold === undefined ? 2.4 : options.compressionRatioThreshold,
      logprobThreshold: options.logprobThreshold === undefined ? -1 : options.logprobThreshold,
      noSpeechThreshold: options.noSpeechThreshold === undefined ? 0.6 : options.noSpeechThreshold,
      conditionOnPrevTokens: options.conditionOnPreviousText ?? true,
      compressionRatio: (tokens) => textCompressionRatio(textOf(tokens)),
      tokenTimestamps: options.wordTimestamps ?? false,
      numFrames: Math.floor(samples.length / 160),
      maxNewTokens: options.maxNewTokens,
      seed: options.seed,
      onWindow: (seek, total) => bar.update(Number(Math.min(durationS, (seek / total) * durationS).toFixed(1))),
    };
    if (gen.noSpeechThreshold != null && gen.logprobThreshold == null) gen.noSpeechThreshold = null;
    let result;
    try {
      result = await generate(model, mel, gen);
      bar.finish();
    } catch (e) {
      bar.finish(`failed: ${(e as Error).message}`);
      throw e;
    }
    const segments: TranscriptSegmentJson[] = [];
    for (const s of result.segments) {
      const text = textOf(s.tokens);
      if (text.trim() === '') continue;
      const seg: TranscriptSegmentJson = {
        id: segments.length,
        seek: Math.round(s.start * 100),
        start: round(s.start),
        end: round(Math.min(s.end, durationS)),
        text,
        tokens: s.tokens,
        temperature: s.temperature,
        avg_logprob: s.avgLogprob,
        compression_ratio: s.compressionRatio,
        no_speech_prob: s.noSpeechProb,
      };
      if (s.tokenTimestamps) seg.words = words(s.tokens, s.tokenTimestamps, s.end, tsBegin, g.eosTokenId, tokenizer);
      segments.push(seg);
    }
    const language = result.languageId === null ? null
      : (Object.entries(g.langToId).find(([, id]) => id === result.languageId)?.[0] ?? '').replace(/^<\|(.*)\|>$/, '$1') || null;
    const out: TranscriptJson = { text: segments.map((s) => s.text).join(''), segments, language };
    if (segments.length === 0) {
      const warning = `${source}: no speech was recognised`;
      console.warn(warning);
      out.warnings = [warning];
    }
    return out;
  } finally {
    if (ownModel) model.dispose();
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * Words from a segment's text tokens and their times: a word starts at a token whose text
 * begins with a space; it starts at its first token's time and ends where the next word's
 * first token starts (the last word: at the segment end).
 */
export function words(tokens: number[], times: number[], segmentEnd: number, tsBegin: number, eot: number, tokenizer: TextTokenizer): TranscriptWord[] {
  const groups: { ids: number[]; start: number }[] = [];
  tokens.forEach((t, i) => {
    if (t >= tsBegin || t >= eot) return;
    const piece = tokenizer.decode([t]);
    if (groups.length === 0 || /^\s/.test(piece)) groups.push({ ids: [t], start: times[i]! });
    else groups[groups.length - 1]!.ids.push(t);
  });
  return groups.map((w, i) => ({
    word: tokenizer.decode(w.ids),
    start: round(w.start),
    end: round(Math.max(w.start, i + 1 < groups.length ? groups[i + 1]!.start : segmentEnd)),
  }));
}
