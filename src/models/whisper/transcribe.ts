/**
 * `transcribe(audio, options)`: a file or 16 kHz samples to openai-whisper-style JSON
 * (`{text, segments: [{id, seek, start, end, text, tokens, temperature, avg_logprob,
 * compression_ratio, no_speech_prob, words?}], language}`), the format src/transcript reads,
 * with a progress bar over the audio.
 * https://github.com/openai/whisper/blob/main/whisper/transcribe.py
 */
import { decodeAudioWindows } from '../../audio/ffmpeg';
import { ProgressBar } from '../../notebook/progress';
import { TextTokenizer } from '../../tokenizer/tokenizer';
import { CHUNK_LENGTH, MIN_SAMPLES, SAMPLE_RATE, StreamedFeatures, attentionMaskFrames, extractFeatures } from './feature_extraction';
import type { LogMel } from './feature_extraction';
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

/** The checks of transcribe's input, block by block: finite samples, length, silence. */
class SampleCheck {
  samples = 0;
  peak = 0;

  constructor(private readonly source: string) {}

  add(block: Float32Array): void {
    for (let i = 0; i < block.length; i++) {
      const v = block[i]!;
      if (!Number.isFinite(v)) throw new RangeError(`${this.source}: sample ${this.samples + i} is ${v}; audio must be finite`);
      const a = Math.abs(v);
      if (a > this.peak) this.peak = a;
    }
    this.samples += block.length;
  }

  /** Throws for audio too short to transcribe; the empty transcript for silence, else null. */
  verdict(language: string | undefined): TranscriptJson | null {
    const n = this.samples;
    if (n < MIN_SAMPLES) {
      throw new RangeError(`${this.source}: ${n} samples (${(n / SAMPLE_RATE).toFixed(3)} s) is too short to transcribe; Whisper needs at least ${MIN_SAMPLES / SAMPLE_RATE} s`);
    }
    if (this.peak >= SILENCE_PEAK) return null;
    const warning = `${this.source}: the audio is silent (peak ${(20 * Math.log10(Math.max(this.peak, 1e-12))).toFixed(1)} dBFS): nothing to transcribe`;
    console.warn(warning);
    return { text: '', segments: [], language: language ?? null, warnings: [warning] };
  }
}

/**
 * A file's 16 kHz mono samples in 30 s blocks (`decodeAudioWindows`: the samples of
 * `decodeAudioFile`, never the whole file at once); the first pass checks them and shows
 * its progress.
 */
async function* fileBlocks(file: string, check: SampleCheck | null, progress: TranscribeOptions['progress']): AsyncGenerator<Float32Array> {
  let bar: ProgressBar | null = null;
  try {
    for await (const w of decodeAudioWindows(file, { sampleRate: SAMPLE_RATE, windowSeconds: CHUNK_LENGTH })) {
      if (check) {
        bar ??= new ProgressBar({ label: 'reading audio', total: w.info.durationSeconds === undefined ? undefined : Number(w.info.durationSeconds.toFixed(1)), unit: 's', mode: progress });
        check.add(w.samples);
        bar.update(Number(((w.offset + w.samples.length) / SAMPLE_RATE).toFixed(1)));
      }
      yield w.samples;
    }
    bar?.finish();
  } catch (e) {
    bar?.finish(`failed: ${(e as Error).message}`);
    throw e;
  }
}

/**
 * Transcribes a file or 16 kHz mono samples. A file is decoded with ffmpeg, resampled to
 * 16 kHz and streamed in 30 s blocks, twice (`StreamedFeatures`: the first pass finds the
 * log-mel maximum Whisper normalises by, the second feeds the encoder window by window), so
 * memory stays that of a few windows however long the recording is; the features, and so
 * the transcript, are those of the whole file decoded at once. Samples given as an array are
 * transformed whole. Audio shorter than 0.1 s, non-finite samples or another sample rate are
 * errors; silence gives an empty transcript with a warning.
 */
export async function transcribe(audio: string | Float32Array, options: TranscribeOptions = {}): Promise<TranscriptJson> {
  const source = typeof audio === 'string' ? audio : '<samples>';
  const check = new SampleCheck(source);
  if (typeof audio !== 'string') {
    if (!(audio instanceof Float32Array)) throw new TypeError('transcribe expects a file path or a Float32Array of 16 kHz samples');
    const rate = options.sampleRate ?? SAMPLE_RATE;
    if (rate !== SAMPLE_RATE) {
      throw new RangeError(`Whisper needs ${SAMPLE_RATE} Hz audio, got ${rate} Hz: resample first (ttslab's resample(samples, ${rate}, ${SAMPLE_RATE}))`);
    }
    check.add(audio);
    const early = check.verdict(options.language);
    if (early) return early;
  }

  const ownModel = !options.model;
  const modelId = options.modelId ?? DEFAULT_WHISPER_MODEL;
  const model = options.model ?? await WhisperForConditionalGeneration.fromPretrained(modelId);
  let streamed: StreamedFeatures | null = null;
  try {
    let features: LogMel | StreamedFeatures;
    let numSamples: number;
    if (typeof audio === 'string') {
      streamed = await StreamedFeatures.scan((pass) => fileBlocks(audio, pass === 0 ? check : null, options.progress), model.config.numMelBins);
      const early = check.verdict(options.language);
      if (early) return early;
      features = streamed;
      numSamples = streamed.scanned.samples;
    } else {
      features = extractFeatures(audio, model.config.numMelBins);
      numSamples = audio.length;
    }
    const tokenizer = options.tokenizer ?? await TextTokenizer.fromPretrained(modelId);
    const g = model.generationConfig;
    if (!g) throw new Error('the model has no generation config: load it with fromPretrained');
    // No clean-up of spaces before punctuation (openai-whisper has none; transformers 5 skips it for BPE tokenizers).
    const textOf = (tokens: number[]) => tokenizer.decode(tokens.filter((t) => t < g.eosTokenId), { cleanUpTokenizationSpaces: false });
    const durationS = numSamples / SAMPLE_RATE;
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
      numFrames: attentionMaskFrames(numSamples),
      maxNewTokens: options.maxNewTokens,
      seed: options.seed,
      onWindow: (seek, total) => bar.update(Number(Math.min(durationS, (seek / total) * durationS).toFixed(1))),
    };
    if (gen.noSpeechThreshold != null && gen.logprobThreshold == null) gen.noSpeechThreshold = null;
    let result;
    try {
      result = await generate(model, features, gen);
      bar.finish();
    } catch (e) {
      bar.finish(`failed: ${(e as Error).message}`);
      throw e;
    }
    const language = result.languageId === null ? null
      : (Object.entries(g.langToId).find(([, id]) => id === result.languageId)?.[0] ?? '').replace(/^<\|(.*)\|>$/, '$1') || null;
    const segments: TranscriptSegmentJson[] = [];
    // Time of the token before each segment in transformers' concatenated output (word starts).
    let prevTime = 0;
    for (const s of result.segments) {
      const before = prevTime;
      if (s.tokenTimestamps && s.tokenTimestamps.length > 0) prevTime = s.tokenTimestamps[s.tokenTimestamps.length - 1]!;
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
      if (s.tokenTimestamps) seg.words = words(s.tokens, s.tokenTimestamps, before, g.eosTokenId, tokenizer, language);
      segments.push(seg);
    }
    const out: TranscriptJson = { text: segments.map((s) => s.text).join(''), segments, language };
    if (segments.length === 0) {
      const warning = `${source}: no speech was recognised`;
      console.warn(warning);
      out.warnings = [warning];
    }
    return out;
  } finally {
    try {
      await streamed?.close();
    } finally {
      if (ownModel) model.dispose();
    }
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** transformers' `_combine_tokens_into_words` defaults. */
const PREPEND_PUNCTUATIONS = '"\'“¡¿([{-';
const APPEND_PUNCTUATIONS = '"\'.。,，!！?？:：”)]}、';
/** Python's `string.punctuation`: `subword.strip() in` it is a substring test (so "" and "()" count). */
const ASCII_PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
/** Languages without spaces between words, split at unicode boundaries (chinese, japanese, thai, lao, myanmar, cantonese). */
const NO_SPACE_LANGUAGES = new Set(['zh', 'ja', 'th', 'lo', 'my', 'yue']);
const REPLACEMENT = '\ufffd';

interface WordGroup {
  text: string;
  /** Indices into the token list given to the grouping. */
  indices: number[];
}

/** transformers' `_split_tokens_on_unicode`: cut where the tokens so far decode to whole code points. */
function splitOnUnicode(tokens: number[], decode: (ids: number[]) => string): WordGroup[] {
  // Python indexes strings by code point: compare code point arrays.
  const full = Array.from(decode(tokens));
  const out: WordGroup[] = [];
  let current: number[] = [];
  let indices: number[] = [];
  let offset = 0;
  tokens.forEach((t, i) => {
    current.push(t);
    indices.push(i);
    const decoded = Array.from(decode(current));
    const r = decoded.indexOf(REPLACEMENT);
    if (r < 0 || offset + r >= full.length || full[offset + r] === REPLACEMENT) {
      out.push({ text: decoded.join(''), indices });
      current = [];
      indices = [];
      offset += decoded.length;
    }
  });
  return out;
}

/** transformers' `_split_tokens_on_spaces`: a word starts at a subword with a leading space, a punctuation subword, or a special token. */
function splitOnSpaces(tokens: number[], decode: (ids: number[]) => string, eot: number): WordGroup[] {
  const out: WordGroup[] = [];
  for (const sub of splitOnUnicode(tokens, decode)) {
    const special = tokens[sub.indices[0]!]! >= eot;
    if (special || sub.text.startsWith(' ') || ASCII_PUNCTUATION.includes(sub.text.trim()) || out.length === 0) out.push({ text: sub.text, indices: [...sub.indices] });
    else {
      const last = out[out.length - 1]!;
      last.text += sub.text;
      last.indices.push(...sub.indices);
    }
  }
  return out;
}

/** transformers' `_merge_punctuations`: opening punctuation joins the next word, closing punctuation the previous one. */
function mergePunctuations(words: WordGroup[]): WordGroup[] {
  for (let i = words.length - 2, j = words.length - 1; i >= 0; i--) {
    const w = words[i]!;
    if (w.text.startsWith(' ') && PREPEND_PUNCTUATIONS.includes(w.text.trim())) {
      words[j] = { text: w.text + words[j]!.text, indices: [...w.indices, ...words[j]!.indices] };
      words[i] = { text: '', indices: [] };
    } else j = i;
  }
  for (let i = 0, j = 1; j < words.length; j++) {
    const w = words[j]!;
    if (!words[i]!.text.endsWith(' ') && APPEND_PUNCTUATIONS.includes(w.text)) {
      words[i] = { text: words[i]!.text + w.text, indices: [...words[i]!.indices, ...w.indices] };
      words[j] = { text: '', indices: [] };
    } else i = j;
  }
  return words.filter((w) => w.text !== '' && w.indices.length > 0);
}

/**
 * Words of one segment with their times, as transformers' ASR pipeline makes them with
 * `return_timestamps="word"` (`_decode_asr` -> `_collate_word_timestamps`):
 * - the text tokens (below <|endoftext|>; timestamps and special tokens are left out) are
 *   grouped into words at subwords with a leading space or ASCII punctuation (at whole code
 *   points for `NO_SPACE_LANGUAGES`), then opening punctuation joins the next word and
 *   closing punctuation the previous one;
 * - the token at position i spans `times[i - 1]` .. `times[i]` (transformers 5 gives position
 *   i the alignment time of the step that fed it, so its start is the previous position's
 *   time); `prevTime` is the time of the token before the segment (0 for the first);
 * - a word runs from its first token's start to its last token's end, rounded to 0.01 s.
 * `tokens` and `times` (seconds, absolute) are the segment's; `language` is a code (`en`).
 * The pipeline takes the language from a language token in the output, else the tokenizer's
 * (English); here it is the transcript's language.
 */
export function words(tokens: number[], times: number[], prevTime: number, eot: number, tokenizer: TextTokenizer, language?: string | null): TranscriptWord[] {
  if (times.length !== tokens.length) throw new Error(`words: ${tokens.length} tokens but ${times.length} token times`);
  const text: number[] = [];
  const at: number[] = [];
  tokens.forEach((t, i) => {
    if (t < eot) {
      text.push(t);
      at.push(i);
    }
  });
  if (text.length === 0) return [];
  const decode = (ids: number[]) => tokenizer.decode(ids, { cleanUpTokenizationSpaces: false });
  const groups = language != null && NO_SPACE_LANGUAGES.has(language) ? splitOnUnicode(text, decode) : splitOnSpaces(text, decode, eot);
  const round2 = (x: number) => Math.round(x * 100) / 100;
  const startOf = (i: number) => round2(i === 0 ? prevTime : times[i - 1]!);
  return mergePunctuations(groups).map((w) => ({
    word: w.text,
    start: startOf(at[w.indices[0]!]!),
    end: round2(times[at[w.indices[w.indices.length - 1]!]!]!),
  }));
}
