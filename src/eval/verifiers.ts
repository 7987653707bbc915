/**
 * Verifiers: objective measures of a generated clip, as `Verifier`s for the listening grid
 * (src/eval/listening.ts) and for search over candidates (issue 13; the Llasa paper's
 * inference-time scaling uses the same two):
 *  - `asrVerifier`: word error rate of the clip against the text it should say, by
 *    transcribing it with ttslab's Whisper (both sides normalised by `normalizeEnglish`);
 *  - `speakerVerifier`: cosine similarity of WavLM x-vector embeddings of the clip and the
 *    row's reference clip (microsoft/wavlm-base-plus-sv by default).
 * Clips at another rate are resampled to 16 kHz, with a notice (once per rate).
 */
import { resample } from '../audio/resample';
import { TextTokenizer } from '../tokenizer/tokenizer';
import { DEFAULT_WHISPER_MODEL, transcribe, WhisperForConditionalGeneration } from '../models/whisper';
import type { TranscribeOptions } from '../models/whisper';
import { DEFAULT_WAVLM_SV_MODEL, WavLMForXVector, cosineSimilarity } from '../models/wavlm';
import type { EvalAudio, Metric, Verifier } from './listening';
import { wordErrorRate } from './wer';
import type { UtteranceWer, WerOptions } from './wer';

/** Both models take 16 kHz audio. */
const VERIFIER_RATE = 16000;

/** A verifier that holds a model: `dispose()` frees it when the verifier loaded it itself. */
export type ModelVerifier<R> = Verifier & {
  /** One entry per call, oldest first (the per-utterance detail behind each value). */
  readonly history: R[];
  dispose(): void;
};

/** One ASR verification: what Whisper heard and the word alignment against the text. */
export interface AsrRecord {
  text: string;
  transcript: string;
  wer: UtteranceWer;
}

export interface AsrVerifierOptions {
  /** A loaded Whisper (kept by the caller); otherwise `modelId` is loaded and `dispose()` frees it. */
  model?: WhisperForConditionalGeneration;
  /** Its tokenizer; otherwise loaded from `modelId`. */
  tokenizer?: TextTokenizer;
  /** Hub repo id or folder (default openai/whisper-large-v3-turbo). */
  modelId?: string;
  /** Language of the texts (default "en": the normaliser is English). */
  language?: string;
  /** Further transcribe options (temperatures, thresholds, maxNewTokens, seed). */
  transcribe?: Omit<TranscribeOptions, 'model' | 'tokenizer' | 'modelId' | 'sampleRate' | 'language'>;
  /** How texts are normalised before alignment (default `normalizeEnglish`). */
  normalize?: WerOptions['normalize'];
  /** Metric name (default "WER", the grid's column). */
  name?: string;
  /** Where the resampling notice goes (default console.warn). */
  onNotice?: (message: string) => void;
}

export interface SpeakerVerifierOptions {
  /** A loaded WavLMForXVector (kept by the caller); otherwise `modelId` is loaded and `dispose()` frees it. */
  model?: WavLMForXVector;
  /** Hub repo id or folder (default microsoft/wavlm-base-plus-sv). */
  modelId?: string;
  /** Metric name (default "speaker similarity", the grid's column). */
  name?: string;
  onNotice?: (message: string) => void;
}

/** Resamples to 16 kHz when needed, telling once per input rate. */
function to16k(onNotice: (message: string) => void, who: string): (audio: EvalAudio) => Float32Array {
  const told = new Set<number>();
  return (audio) => {
    if (audio.sampleRate === VERIFIER_RATE) return audio.samples;
    if (!told.has(audio.sampleRate)) {
      told.add(audio.sampleRate);
      onNotice(`${who}: resampling ${audio.sampleRate} Hz audio to ${VERIFIER_RATE} Hz for the model`);
    }
    return resample(audio.samples, audio.sampleRate, VERIFIER_RATE);
  };
}

/**
 * WER of generated speech against its text (0 = every word right; can exceed 1). Each call
 * transcribes the clip and appends the alignment to `history`.
 */
export async function asrVerifier(options: AsrVerifierOptions = {}): Promise<ModelVerifier<AsrRecord>> {
  const modelId = options.modelId ?? DEFAULT_WHISPER_MODEL;
  const ownModel = !options.model;
  const model = options.model ?? await WhisperForConditionalGeneration.fromPretrained(modelId);
  let tokenizer: TextTokenizer;
  try {
    tokenizer = options.tokenizer ?? await TextTokenizer.fromPretrained(modelId);
  } catch (e) {
    if (ownModel) model.dispose();
    throw e;
  }
  const name = options.name ?? 'WER';
  const prepare = to16k(options.onNotice ?? ((m) => console.warn(m)), 'ASR verifier');
  const history: AsrRecord[] = [];
  const verify = async (audio: EvalAudio, text: string): Promise<Metric> => {
    const wer = wordErrorRate(text, '', { normalize: options.normalize });
    if (wer.referenceLength === 0) throw new Error(`ASR verifier: the text ${JSON.stringify(text)} has no words after normalisation; WER is undefined`);
    const result = await transcribe(prepare(audio), {
      progress: 'none', ...options.transcribe, model, tokenizer, language: options.language ?? 'en', sampleRate: VERIFIER_RATE,
    });
    const transcript = result.text.trim();
    const record: AsrRecord = { text, transcript, wer: wordErrorRate(text, transcript, { normalize: options.normalize }) };
    history.push(record);
    return { name, value: record.wer.wer };
  };
  return Object.assign(verify, { history, dispose: () => { if (ownModel) model.dispose(); } });
}

/** One speaker verification. */
export interface SpeakerRecord {
  similarity: number;
  /** The clip's embedding (x-vector). */
  embedding: Float32Array;
}

/**
 * Cosine similarity (-1..1) of the clip's speaker embedding to the row's reference clip.
 * The reference's embedding is computed once per clip object. A row without a reference
 * is an error: similarity to nobody is undefined.
 */
export async function speakerVerifier(options: SpeakerVerifierOptions = {}): Promise<ModelVerifier<SpeakerRecord>> {
  const ownModel = !options.model;
  const model = options.model ?? await WavLMForXVector.fromPretrained(options.modelId ?? DEFAULT_WAVLM_SV_MODEL);
  const name = options.name ?? 'speaker similarity';
  const prepare = to16k(options.onNotice ?? ((m) => console.warn(m)), 'speaker verifier');
  const cache = new WeakMap<Float32Array, Float32Array>();
  const embed = (audio: EvalAudio): Float32Array => {
    let e = cache.get(audio.samples);
    if (!e) {
      e = model.speakerEmbedding(prepare(audio));
      cache.set(audio.samples, e);
    }
    return e;
  };
  const history: SpeakerRecord[] = [];
  const verify = async (audio: EvalAudio, _text: string, reference?: EvalAudio): Promise<Metric> => {
    if (!reference) throw new Error('speaker verifier: this row has no reference clip of the target speaker to compare with');
    const embedding = embed(audio);
    const similarity = cosineSimilarity(embedding, embed(reference));
    history.push({ similarity, embedding });
    return { name, value: similarity };
  };
  return Object.assign(verify, { history, dispose: () => { if (ownModel) model.dispose(); } });
}
