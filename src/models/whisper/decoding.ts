/**
 * Whisper decoding as transformers' WhisperGenerationMixin.generate does it (batch 1):
 * language detection, task and timestamp prompt tokens, suppress lists, the timestamp
 * rules of WhisperTimeStampLogitsProcessor, long-form sequential decoding that slides a
 * 30 s window by `seek`, temperature fallback on compression ratio / average log
 * probability, no-speech skipping, conditioning on previous text, and token timestamps
 * from the cross-attention of the alignment heads (median filter + DTW).
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/whisper/generation_whisper.py
 * https://github.com/huggingface/transformers/blob/main/src/transformers/generation/logits_process.py
 * https://github.com/openai/whisper/blob/main/whisper/decoding.py
 *
 * Logits are read back to JS once per step (`await data()`, which works on every backend)
 * and processed there: the rules are sequential and the vocabulary is small.
 */
import { deflateSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../generate/rng';
import { N_FRAMES, melSource } from './feature_extraction';
import type { LogMel, MelSource } from './feature_extraction';
import type { WhisperForConditionalGeneration } from './modeling';
import type { WhisperGenerationConfig } from './config';

/** Seconds per timestamp token (and per encoder frame). */
export const TIME_PRECISION = 0.02;
/** Mel frames per encoder frame: conv1 stride 1 x conv2 stride 2. */
export const INPUT_STRIDE = 2;

export type WhisperTask = 'transcribe' | 'translate';

export interface GenerateOptions {
  /** Language code (`en`), token (`<|en|>`), or null/undefined to detect it from the first 30 s. */
  language?: string | null;
  /** Task token to add; undefined adds `transcribe` when a language is given (as transformers). */
  task?: WhisperTask;
  /** Predict timestamp tokens (always on for audio longer than 30 s). Default true. */
  returnTimestamps?: boolean;
  /** New tokens per window; default: generation_config.max_length. */
  maxNewTokens?: number;
  /** Prompt each window with the text of the previous ones (after <|startofprev|>). Default false. */
  conditionOnPrevTokens?: boolean;
  /** Temperatures tried in order: 0 is greedy, later ones are the fallback. Default [0]. */
  temperature?: number | number[];
  /** A window whose compression ratio is above this falls back to the next temperature (2.4 in openai-whisper). */
  compressionRatioThreshold?: number | null;
  /** A window whose average log probability is below this falls back (-1.0 in openai-whisper). */
  logprobThreshold?: number | null;
  /** A window with no-speech probability above this and low log probability is skipped as silence (0.6). Needs logprobThreshold. */
  noSpeechThreshold?: number | null;
  /**
   * Compression ratio of a window's tokens. Default: transformers' (zlib over the token ids
   * as little-endian bytes); `transcribe` passes openai-whisper's (zlib over the decoded text).
   */
  compressionRatio?: (tokens: number[]) => number;
  /** Token timestamps from cross-attention (needs generation_config.alignment_heads). Default false. */
  tokenTimestamps?: boolean;
  /**
   * Mel frames of real audio in the whole input (transformers' `attention_mask.sum(-1)`, i.e.
   * floor(samples / 160)): each window's attention is cropped to `(numFrames - seek) // 2`
   * encoder frames before DTW. Undefined: no crop, as transformers without an attention mask.
   */
  numFrames?: number;
  /** Seed of the sampler used at temperatures > 0. */
  seed?: number;
  /** Called after each window with the frames done so far (progress). */
  onWindow?: (seekFrames: number, totalFrames: number) => void;
}

/** One segment between timestamp tokens, as transformers' `_retrieve_segment` cuts it. */
export interface RawSegment {
  /** Seconds from the start of the audio. */
  start: number;
  end: number;
  /** Generated tokens of the segment, timestamps included, <|endoftext|> excluded. */
  tokens: number[];
  /** Mean log probability of the window's tokens (<|endoftext|> included) under the processed scores. */
  avgLogprob: number;
  compressionRatio: number;
  noSpeechProb: number;
  temperature: number;
  /** Seconds, one per token (with tokenTimestamps). */
  tokenTimestamps?: number[];
}

/** What one window's decoding did (for tests and debugging). */
export interface WindowRecord {
  seek: number;
  decoderInputIds: number[];
  /** Generated tokens, <|endoftext|> included when produced. */
  generated: number[];
  temperature: number;
  avgLogprob: number;
  noSpeechProb: number;
  skipped: boolean;
  /** Seconds per position of decoderInputIds + generated (HF's token_timestamps, window-relative). */
  tokenTimestamps?: number[];
}

export interface GenerateResult {
  segments: RawSegment[];
  windows: WindowRecord[];
  /** The language token used (detected or given), or null for an English-only model. */
  languageId: number | null;
  /** Every segment's tokens concatenated (transformers' returned `sequences`). */
  sequence: number[];
}

/** transformers' `_retrieve_compression_ratio`: zlib over the ids as little-endian bytes. */
export function tokenCompressionRatio(tokens: number[], vocabSize: number): number {
  const width = Math.floor(Math.log2(vocabSize) / 8) + 1;
  const bytes = new Uint8Array(tokens.length * width);
  tokens.forEach((t, i) => {
    for (let b = 0; b < width; b++) bytes[i * width + b] = (t >> (8 * b)) & 0xff;
  });
  return bytes.length / deflateSync(bytes).length;
}

/** openai-whisper's compression ratio: UTF-8 bytes of the text over their zlib size. */
export function textCompressionRatio(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return 0;
  return bytes.length / deflateSync(bytes).length;
}

function logSoftmax(x: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of x) if (v > max) max = v;
  let sum = 0;
  for (const v of x) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! - lse;
  return out;
}

/** The language token id for a code (`en`), a token (`<|en|>`), checked against lang_to_id. */
export function languageTokenId(g: WhisperGenerationConfig, language: string): number {
  const lower = language.toLowerCase();
  const token = /^<\|.*\|>$/.test(lower) ? lower : `<|${lower}|>`;
  const id = g.langToId[token];
  if (id === undefined) {
    throw new Error(`language ${JSON.stringify(language)} is not in this model's lang_to_id (${Object.keys(g.langToId).join(' ') || 'none: English-only model'})`);
  }
  return id;
}

/**
 * The logits processors of Whisper's generate, in transformers' order (begin-suppress,
 * suppress, timestamp rules), applied in place to one row of raw logits.
 * `generated`: tokens after the prompt (`begin_index`).
 */
export function processLogits(logits: Float32Array, generated: number[], g: WhisperGenerationConfig, returnTimestamps: boolean): void {
  const NEG = -Infinity;
  if (generated.length === 0) for (const t of g.beginSuppressTokens) logits[t] = NEG;
  for (const t of g.suppressTokens) logits[t] = NEG;
  if (!returnTimestamps) return;
  // WhisperTimeStampLogitsProcessor
  const tsBegin = g.noTimestampsTokenId + 1;
  const V = logits.length;
  logits[g.noTimestampsTokenId] = NEG;
  const n = generated.length;
  const lastWasTs = n >= 1 && generated[n - 1]! >= tsBegin;
  const penultimateWasTs = n < 2 || generated[n - 2]! >= tsBegin;
  if (lastWasTs) {
    if (penultimateWasTs) logits.fill(NEG, tsBegin, V); // has to be text
    else logits.fill(NEG, 0, g.eosTokenId); // has to be a timestamp or <|endoftext|>
  }
  let lastTs = -1;
  for (const t of generated) if (t >= tsBegin) lastTs = t;
  if (lastTs >= 0) {
    // Timestamps never decrease; after a pair they strictly increase (no second <|0.00|>).
    const bound = lastWasTs && !penultimateWasTs ? lastTs : lastTs + 1;
    logits.fill(NEG, tsBegin, Math.min(bound, V));
  }
  if (n === 0) {
    logits.fill(NEG, 0, tsBegin);
    if (g.maxInitialTimestampIndex !== null) logits.fill(NEG, tsBegin + g.maxInitialTimestampIndex + 1, V);
  }
  // If the timestamps together are likelier than any single text token, take a timestamp.
  const lp = logSoftmax(logits);
  let maxText = -Infinity;
  for (let i = 0; i < tsBegin; i++) if (lp[i]! > maxText) maxText = lp[i]!;
  let m = -Infinity;
  for (let i = tsBegin; i < V; i++) if (lp[i]! > m) m = lp[i]!;
  let s = 0;
  if (m > -Infinity) for (let i = tsBegin; i < V; i++) s += Math.exp(lp[i]! - m);
  const tsLogprob = m === -Infinity ? -Infinity : m + Math.log(s);
  if (tsLogprob > maxText) logits.fill(NEG, 0, tsBegin);
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

function sample(x: Float32Array, temperature: number, rng: Rng): number {
  const scaled = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) scaled[i] = x[i]! / temperature;
  const lp = logSoftmax(scaled);
  let u = rng.next();
  for (let i = 0; i < lp.length; i++) {
    u -= Math.exp(lp[i]!);
    if (u <= 0) return i;
  }
  return argmax(x);
}

/** Median filter of odd `width` along rows of `[rows][cols]`, reflect-padded (HF `_median_filter`). */
export function medianFilter(rows: Float64Array[], width: number): Float64Array[] {
  const pad = Math.floor(width / 2);
  return rows.map((r) => {
    const n = r.length;
    if (n <= pad) return Float64Array.from(r);
    const out = new Float64Array(n);
    const buf = new Float64Array(width);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < width; k++) {
        let j = i - pad + k;
        if (j < 0) j = -j;
        if (j >= n) j = 2 * (n - 1) - j;
        buf[k] = r[j]!;
      }
      buf.sort();
      out[i] = buf[pad]!;
    }
    return out;
  });
}

/** DTW over a cost matrix `[rows][cols]` (HF `_dynamic_time_warping`, float32 costs): the path's text and time indices. */
export function dynamicTimeWarping(matrix: Float64Array[]): { textIndices: number[]; timeIndices: number[] } {
  const N = matrix.length;
  const M = matrix[0]?.length ?? 0;
  const cost = new Float32Array((N + 1) * (M + 1)).fill(Infinity);
  const trace = new Int8Array((N + 1) * (M + 1)).fill(-1);
  const at = (i: number, j: number) => i * (M + 1) + j;
  cost[0] = 0;
  for (let j = 1; j <= M; j++) {
    for (let i = 1; i <= N; i++) {
      const c0 = cost[at(i - 1, j - 1)]!;
      const c1 = cost[at(i - 1, j)]!;
      const c2 = cost[at(i, j - 1)]!;
      let c: number;
      let t: number;
      if (c0 < c1 && c0 < c2) [c, t] = [c0, 0];
      else if (c1 < c0 && c1 < c2) [c, t] = [c1, 1];
      else [c, t] = [c2, 2];
      cost[at(i, j)] = Math.fround(matrix[i - 1]![j - 1]! + c);
      trace[at(i, j)] = t;
    }
  }
  for (let j = 0; j <= M; j++) trace[at(0, j)] = 2;
  for (let i = 0; i <= N; i++) trace[at(i, 0)] = 1;
  const text: number[] = [];
  const time: number[] = [];
  let i = N;
  let j = M;
  while (i > 0 || j > 0) {
    text.push(i - 1);
    time.push(j - 1);
    const t = trace[at(i, j)];
    if (t === 0) {
      i--;
      j--;
    } else if (t === 1) i--;
    else j--;
  }
  return { textIndices: text.reverse(), timeIndices: time.reverse() };
}

/**
 * Python's `x[..., :stop]` column count for `stop = floor(n / 2)` on `length` columns
 * (negative stops count from the end), as transformers crops the attention to `num_frames // 2`.
 */
function pythonSliceStop(n: number, length: number): number {
  const stop = Math.floor(n / 2);
  if (stop < 0) return Math.max(0, length + stop);
  return Math.min(stop, length);
}

/**
 * Token timestamps from alignment-head cross-attention `[heads][rows][frames]` (rows = every
 * decoder position fed in the window, prompt included), as transformers 5's
 * `_extract_token_timestamps(num_frames, num_input_ids)`:
 * - crop the frames to `numFrames // 2` (encoder frames) with Python slice semantics: a
 *   negative `numFrames` (`seek` past the real audio, which short-form decoding can do as it
 *   runs to the end of the padded 30 s) crops from the end, and transformers crops twice, so
 *   such a window is left with fewer columns or none (then every time is -0.02 s);
 * - drop the first `numInputIds` rows (the prompt: they do not take part in the DTW);
 * - per head, normalise each frame over the rows ((w - mean) / std, biased), median-filter
 *   along the frames, average the heads; DTW on the negated matrix;
 * - position p < numInputIds gets 0; position numInputIds + k gets the time (s) where the
 *   path first reaches row k; the last position (never fed to the decoder) repeats the last time.
 * Returns rows + 1 values in seconds, window-relative.
 */
export function extractTokenTimestamps(weights: Float32Array[][], medianWidth: number, numFrames?: number, numInputIds = 0): number[] {
  const heads = weights.length;
  const allRows = weights[0]?.length ?? 0;
  if (!Number.isInteger(numInputIds) || numInputIds < 0) throw new Error(`extractTokenTimestamps: numInputIds must be an integer >= 0, got ${numInputIds}`);
  if (numFrames !== undefined && !Number.isInteger(numFrames)) throw new Error(`extractTokenTimestamps: numFrames must be an integer, got ${numFrames}`);
  const out = new Array<number>(allRows + 1).fill(0);
  const rows = allRows - numInputIds;
  // Only the prompt was fed (one token generated): no DTW, every time is 0 (as transformers).
  if (heads === 0 || rows <= 0) return out;
  const width = weights[0]![0]!.length;
  // transformers crops twice (all heads, then each batch item's matrix): the same for
  // numFrames >= 0; a negative one crops twice from the end.
  const cols = numFrames === undefined ? width : pythonSliceStop(numFrames, pythonSliceStop(numFrames, width));
  const mats: Float64Array[][] = weights.map((head) => {
    const m = head.slice(numInputIds).map((r) => Float64Array.from(r.subarray(0, cols)));
    // (w - mean) / std over the rows (torch.std unbiased=False), per frame.
    for (let j = 0; j < cols; j++) {
      let mean = 0;
      for (let i = 0; i < rows; i++) mean += m[i]![j]!;
      mean /= rows;
      let v = 0;
      for (let i = 0; i < rows; i++) v += (m[i]![j]! - mean) ** 2;
      const std = Math.sqrt(v / rows);
      for (let i = 0; i < rows; i++) m[i]![j] = Math.fround((m[i]![j]! - mean) / std);
    }
    return medianFilter(m, medianWidth);
  });
  const avg: Float64Array[] = [];
  for (let i = 0; i < rows; i++) {
    const r = new Float64Array(cols);
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let h = 0; h < heads; h++) s += mats[h]![i]![j]!;
      r[j] = -Math.fround(s / heads);
    }
    avg.push(r);
  }
  const { textIndices, timeIndices } = dynamicTimeWarping(avg);
  // The path starts at row 0 and visits every row: one jump per row.
  let p = numInputIds;
  for (let k = 0; k < textIndices.length; k++) {
    if (k === 0 || textIndices[k] !== textIndices[k - 1]) out[p++] = Math.fround(timeIndices[k]! * TIME_PRECISION);
  }
  if (p !== allRows) throw new Error(`extractTokenTimestamps: DTW gave ${p - numInputIds} row times for ${rows} rows`);
  out[allRows] = out[allRows - 1]!;
  return out;
}

interface WindowResult {
  generated: number[];
  chosenLogprobs: number[];
  noSpeechProb: number;
  /** [heads][rows][frames] */
  alignment?: Float32Array[][];
}

/** Greedy or sampled decoding of one window whose encoder output is already in `cache`. */
async function decodeWindow(
  model: WhisperForConditionalGeneration, cache: ReturnType<WhisperForConditionalGeneration['createCache']>, prompt: number[],
  sotIndex: number, maxNewTokens: number, temperature: number, returnTimestamps: boolean, wantAlignment: boolean, rng: Rng,
): Promise<WindowResult> {
  const g = model.generationConfig!;
  const heads = wantAlignment ? g.alignmentHeads : undefined;
  const generated: number[] = [];
  const chosenLogprobs: number[] = [];
  const alignment: Float32Array[][] = heads ? heads.map(() => []) : [];
  const V = model.config.vocabSize;
  let noSpeechProb = 0;
  let input = prompt;
  let first = true;
  const readAlignment = async (a: tf.Tensor4D) => {
    // [1, heads, seq, src] -> per head, one Float32Array per row
    const [, h, seq, src] = a.shape;
    const data = await a.data() as Float32Array;
    for (let k = 0; k < h; k++) for (let r = 0; r < seq; r++) alignment[k]!.push(data.slice((k * seq + r) * src, (k * seq + r + 1) * src));
  };
  while (generated.length < maxNewTokens) {
    const rows = first ? [sotIndex, input.length - 1] : [0];
    const out = model.decode([input], cache, { logitRows: rows, alignmentHeads: heads });
    let data: Float32Array;
    try {
      data = await out.logits.data() as Float32Array;
      if (out.alignment) await readAlignment(out.alignment);
    } finally {
      out.logits.dispose();
      out.alignment?.dispose();
    }
    let logits: Float32Array;
    if (first) {
      // No-speech probability: softmax of the raw logits at <|startoftranscript|> (WhisperNoSpeechDetection).
      const lp = logSoftmax(data.subarray(0, V));
      noSpeechProb = Math.exp(lp[g.noTimestampsTokenId - 1]!);
      logits = data.slice(V, 2 * V);
      first = false;
    } else logits = data.slice(0, V);
    processLogits(logits, generated, g, returnTimestamps);
    const next = temperature > 0 ? sample(logits, temperature, rng) : argmax(logits);
    chosenLogprobs.push(logSoftmax(logits)[next]!);
    generated.push(next);
    if (next === g.eosTokenId) break;
    input = [next];
  }
  return { generated, chosenLogprobs, noSpeechProb, ...(heads ? { alignment } : {}) };
}

/** Detects the language from a 30 s window: the likeliest language token after <|startoftranscript|>. */
export async function detectLanguage(model: WhisperForConditionalGeneration, window: Float32Array): Promise<{ id: number; probs: Record<string, number> }> {
  const g = model.generationConfig;
  if (!g || Object.keys(g.langToId).length === 0) throw new Error('this model has no lang_to_id: it cannot detect a language');
  const cache = model.createCache();
  try {
    const feats = tf.tensor3d(window, [1, model.config.numMelBins, N_FRAMES]);
    const enc = model.encode(feats);
    feats.dispose();
    model.setEncoderOutput(cache, enc);
    enc.dispose();
    const out = model.decode([[g.decoderStartTokenId]], cache);
    const logits = await out.logits.data() as Float32Array;
    out.logits.dispose();
    const entries = Object.entries(g.langToId);
    let best = entries[0]![1];
    let max = -Infinity;
    for (const [, id] of entries) if (logits[id]! > max) [max, best] = [logits[id]!, id];
    let sum = 0;
    for (const [, id] of entries) sum += Math.exp(logits[id]! - max);
    const probs: Record<string, number> = {};
    for (const [tok, id] of entries) probs[tok] = Math.exp(logits[id]! - max) / sum;
    return { id: best, probs };
  } finally {
    cache.dispose();
  }
}

/**
 * Long-form (and short-form) generation over log-mel features `mel` (from
 * `extractFeatures`, or a `MelSource` such as `StreamedFeatures` that computes them window
 * by window): windows of 3000 frames from `seek`, segments cut at timestamp pairs.
 */
export async function generate(model: WhisperForConditionalGeneration, features: LogMel | MelSource, options: GenerateOptions = {}): Promise<GenerateResult> {
  const mel = melSource(features);
  const g = model.generationConfig;
  if (!g) throw new Error('the model has no generation config (generation_config.json): it cannot decode');
  if (mel.nMels !== model.config.numMelBins) throw new Error(`features have ${mel.nMels} mel bins, the model needs ${model.config.numMelBins}`);
  const totalFrames = mel.nFrames;
  const isShortform = totalFrames <= N_FRAMES;
  const returnTimestamps = isShortform ? options.returnTimestamps ?? true : true;
  const tsBegin = g.noTimestampsTokenId + 1;
  const maxPos = model.config.maxTargetPositions;
  const temps = options.temperature === undefined ? [0] : Array.isArray(options.temperature) ? options.temperature : [options.temperature];
  if (temps.length === 0 || temps.some((t) => !(t >= 0))) throw new Error(`temperatures must be numbers >= 0, got ${JSON.stringify(options.temperature)}`);
  if (options.noSpeechThreshold != null && options.logprobThreshold == null) {
    throw new Error('noSpeechThreshold needs logprobThreshold (a window is skipped when both say silence)');
  }
  if (options.numFrames !== undefined && !(Number.isInteger(options.numFrames) && options.numFrames > 0)) {
    throw new Error(`numFrames must be a positive integer (mel frames of real audio), got ${options.numFrames}`);
  }
  if (options.tokenTimestamps && g.alignmentHeads.length === 0) throw new Error('generation_config has no alignment_heads: token timestamps are not available');
  const ratioOf = options.compressionRatio ?? ((t: number[]) => tokenCompressionRatio(t, model.config.vocabSize));
  const rng = new Rng(options.seed ?? 0);

  // Prompt: <|startoftranscript|> <|lang|> <|task|> [<|notimestamps|>] (_retrieve_init_tokens).
  const init = [g.decoderStartTokenId];
  let languageId: number | null = null;
  if (options.language != null) languageId = languageTokenId(g, options.language);
  else if (Object.keys(g.langToId).length > 0) languageId = (await detectLanguage(model, await mel.window(0, N_FRAMES))).id;
  if (languageId !== null) init.push(languageId);
  if (options.task !== undefined) {
    const id = g.taskToId[options.task];
    if (id === undefined) throw new Error(`task ${JSON.stringify(options.task)} is not in this model's task_to_id`);
    init.push(id);
  } else if (options.language != null && g.taskToId.transcribe !== undefined) init.push(g.taskToId.transcribe);
  if (!returnTimestamps) init.push(g.noTimestampsTokenId);

  const segments: (RawSegment & { idx: number })[] = [];
  const windows: WindowRecord[] = [];
  let seek = 0;
  let doConditionOnPrev = options.conditionOnPrevTokens ?? false;
  const cutOff = Math.floor(maxPos / 2) - 1;
  const cache = model.createCache();
  try {
    while (seek < totalFrames) {
      const timeOffset = (seek * TIME_PRECISION) / INPUT_STRIDE;
      const segFrames = Math.min(totalFrames - seek, N_FRAMES);
      const feats = tf.tensor3d(await mel.window(seek, segFrames), [1, mel.nMels, N_FRAMES]);
      const enc = model.encode(feats);
      feats.dispose();

      // Previous text after <|startofprev|>: segments ending in a timestamp pair lose their last one (HF #34537).
      let prompt = init;
      if (doConditionOnPrev && segments.length > 0) {
        // (The returned segments keep their tokens: transformers 5 trims a copy.)
        const trimmed = (t: number[]) => (t.length > 2 && t[t.length - 2]! >= tsBegin ? t.slice(0, -1) : t);
        const prev = segments.flatMap((s) => trimmed(s.tokens)).slice(-cutOff);
        prompt = [...(g.prevSotTokenId !== null ? [g.prevSotTokenId] : []), ...prev, ...init];
      }
      if (prompt.length >= maxPos) throw new Error(`decoder prompt of ${prompt.length} tokens leaves no room in max_target_positions ${maxPos}`);
      let maxNew: number;
      if (options.maxNewTokens !== undefined) maxNew = Math.min(options.maxNewTokens, maxPos - prompt.length);
      else maxNew = Math.min(g.maxLength + Math.min(cutOff, prompt.length - 1), maxPos) - prompt.length;
      const sotIndex = prompt.length - init.length;

      let result: WindowResult | null = null;
      let temperature = 0;
      let avgLogprob = 0;
      let skip = false;
      let tokens: number[] = [];
      for (let ti = 0; ti < temps.length; ti++) {
        temperature = temps[ti]!;
        model.setEncoderOutput(cache, enc);
        result = await decodeWindow(model, cache, prompt, sotIndex, maxNew, temperature, returnTimestamps, !!options.tokenTimestamps, rng);
        tokens = result.generated;
        avgLogprob = result.chosenLogprobs.reduce((a, b) => a + b, 0) / Math.max(1, tokens.length);
        let fallback = false;
        skip = false;
        if (options.compressionRatioThreshold != null && ratioOf(tokens) > options.compressionRatioThreshold) fallback = true;
        if (options.logprobThreshold != null && avgLogprob < options.logprobThreshold) fallback = true;
        if (options.noSpeechThreshold != null && avgLogprob < options.logprobThreshold! && result.noSpeechProb > options.noSpeechThreshold) {
          fallback = false;
          skip = true;
        }
        doConditionOnPrev = (options.conditionOnPrevTokens ?? false) && temperature < 0.5;
        if (!fallback) break;
      }
      enc.dispose();
      const generated = result!.generated;
      const seq = generated[generated.length - 1] === g.eosTokenId ? generated.slice(0, -1) : generated;
      let tokenTimestamps: number[] | undefined;
      if (result!.alignment) {
        // transformers: num_frames (attention_mask.sum(-1)) - seek for this window, the prompt rows left out.
        const windowFrames = options.numFrames === undefined ? undefined : options.numFrames - seek;
        tokenTimestamps = extractTokenTimestamps(result!.alignment, model.config.medianFilterWidth, windowFrames, prompt.length);
      }
      windows.push({ seek, decoderInputIds: prompt, generated, temperature, avgLogprob, noSpeechProb: result!.noSpeechProb, skipped: skip,
        ...(tokenTimestamps ? { tokenTimestamps } : {}) });
      if (skip) {
        seek += segFrames;
        options.onWindow?.(Math.min(seek, totalFrames), totalFrames);
        continue;
      }
      const common = { avgLogprob, compressionRatio: ratioOf(generated), noSpeechProb: result!.noSpeechProb, temperature };
      const { segs, offset } = retrieveSegments(seq, tsBegin, timeOffset, segFrames, prompt.length, tokenTimestamps);
      for (const s of segs) segments.push({ ...s, ...common, idx: windows.length - 1 });
      seek += offset;
      options.onWindow?.(Math.min(seek, totalFrames), totalFrames);
    }
  } finally {
    cache.dispose();
  }
  const out = segments.map(({ idx: _idx, ...s }) => s);
  return { segments: out, windows, languageId, sequence: out.flatMap((s) => s.tokens) };
}

/**
 * transformers' `_retrieve_segment`: cut one window's tokens (no <|endoftext|>) at
 * timestamp pairs and say how many frames to advance.
 */
export function retrieveSegments(seq: number[], tsBegin: number, timeOffset: number, segFrames: number, promptLength: number, tokenTimestamps?: number[]):
  { segs: Omit<RawSegment, 'avgLogprob' | 'compressionRatio' | 'noSpeechProb' | 'temperature'>[]; offset: number } {
  const isTs = seq.map((t) => t >= tsBegin);
  const n = seq.length;
  const singleEnding = n >= 2 ? !isTs[n - 2] && isTs[n - 1]! : n === 1 && isTs[0]!;
  const pairs: number[] = [];
  for (let i = 0; i + 1 < n; i++) if (isTs[i] && isTs[i + 1]) pairs.push(i + 1);
  const stamps = (a: number, b: number) => tokenTimestamps?.slice(promptLength + a, promptLength + b).map((t) => t + timeOffset);
  if (pairs.length > 0) {
    const slices = [...pairs];
    if (singleEnding) slices.push(n);
    else slices[slices.length - 1]! += 1;
    const segs: Omit<RawSegment, 'avgLogprob' | 'compressionRatio' | 'noSpeechProb' | 'temperature'>[] = [];
    let last = 0;
    slices.forEach((cur, i) => {
      const isLast = i === slices.length - 1;
      const tokens = seq.slice(last, cur);
      const startPos = tokens[0]! - tsBegin;
      const endPos = tokens[!isLast || singleEnding ? tokens.length - 1 : tokens.length - 2]! - tsBegin;
      const tt = stamps(last, cur);
      segs.push({ start: timeOffset + startPos * TIME_PRECISION, end: timeOffset + endPos * TIME_PRECISION, tokens, ...(tt ? { tokenTimestamps: tt } : {}) });
      last = cur;
    });
    // A single timestamp at the end means no speech after it: take the whole window;
    // otherwise drop the unfinished segment and seek to the last timestamp.
    const offset = singleEnding ? segFrames : (seq[last - 2]! - tsBegin) * INPUT_STRIDE;
    return { segs, offset };
  }
  const timestamps = seq.filter((t) => t >= tsBegin);
  let lastPos = Math.floor((segFrames * 0.01) / TIME_PRECISION);
  if (timestamps.length > 0 && timestamps[timestamps.length - 1] !== tsBegin) lastPos = timestamps[timestamps.length - 1]! - tsBegin;
  const tt = stamps(0, n);
  return {
    segs: [{ start: timeOffset, end: timeOffset + lastPos * TIME_PRECISION, tokens: seq, ...(tt ? { tokenTimestamps: tt } : {}) }],
    offset: segFrames,
  };
}
