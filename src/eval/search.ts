/**
 * Inference-time search with verifiers (issue 13; the Llasa paper's inference-time scaling,
 * arXiv 2502.04128): spend more compute per sentence, let speech-understanding models pick.
 *
 *  - `bestOfN`: N finished candidates with seeds `seed, seed + 1, ...` (candidate 0 is
 *    plain sampling with `seed`), each decoded and scored by the ASR verifier (WER against
 *    the text) and/or the speaker verifier (similarity to the target); the lowest
 *    `searchScore` wins.
 *  - `beamSearch`: partial sequences extended K frames at a time; after every extension the
 *    partial codes are decoded, scored by speaker similarity, and the best B kept. Needs the
 *    model's step-wise hook (`continueGeneration`, src/models/types.ts).
 *  - `searchSpeech`: either of them, or plain sampling, behind one config (the report's).
 *
 * Every result carries the compute it spent (`SearchCompute`): generation calls, frames
 * sampled, frames decoded, verifier calls, seconds, and the real-time factor.
 *
 * Layering: this file works through the `TtsModel` contract (src/models/types.ts) and the
 * `Verifier` type of the listening comparison, so it lives in src/eval next to the
 * verifiers. src/generate is the token-level sampler the models themselves import; search
 * sits above the models and would be a cycle there.
 */
import { cosineSimilarity } from '../models/wavlm/modeling';
import type { Codes, TtsContinuation, TtsGenerateRequest, TtsModel } from '../models/types';
import type { EvalAudio, Metric, Verifier } from './listening';
import { spectrogramDb } from './spectrogram';

/** What search uses of a model: its codec, `generate`, and (beam search only) the step-wise hook. */
export type SearchModel = Pick<TtsModel, 'codec' | 'generate' | 'continueGeneration'>;

/**
 * The verifiers a search scores with. Both are `Verifier`s (src/eval/listening.ts), so
 * `asrVerifier()`, `speakerVerifier()` (src/eval/verifiers.ts) or `embeddingSpeakerVerifier`
 * below plug in unchanged.
 */
export interface SearchVerifiers {
  /** Word error rate of a clip against its text (lower is better), e.g. `asrVerifier()`. */
  asr?: Verifier;
  /** Similarity of a clip to the target speaker (higher is better), e.g. `speakerVerifier()`. */
  speaker?: Verifier;
  /** The target speaker's clip, passed to the verifiers as the reference (the speaker verifier of src/eval/verifiers.ts needs it). */
  reference?: EvalAudio;
}

/**
 * How best-of-N combines the two verifiers:
 *   `score = wer * werWeight - similarity * similarityWeight`   (lower is better)
 * With the defaults (1, 1), 0.1 of WER (one word in ten wrong) weighs as much as 0.1 of
 * cosine similarity. A verifier that is not given contributes nothing, so with the ASR
 * verifier alone the pick is the lowest WER, with the speaker verifier alone the highest
 * similarity. Ties go to the earlier candidate.
 */
export interface ScoreWeights {
  /** Weight of WER (default 1). */
  wer?: number;
  /** Weight of speaker similarity (default 1). */
  similarity?: number;
}

/** The two measures of one clip (absent when that verifier was not run). */
export interface ClipMeasures {
  /** Word error rate against the text (0 = every word right; can exceed 1). */
  wer?: number;
  /** Speaker similarity to the target (cosine, -1..1 for embeddings). */
  similarity?: number;
}

/** The best-of-N score of measured clip (see `ScoreWeights`); lower is better. */
export function searchScore(m: ClipMeasures, weights: ScoreWeights = {}): number {
  const w = validateWeights(weights);
  return (m.wer === undefined ? 0 : m.wer * w.wer) - (m.similarity === undefined ? 0 : m.similarity * w.similarity);
}

function validateWeights(weights: ScoreWeights): Required<ScoreWeights> {
  const w = { wer: weights.wer ?? 1, similarity: weights.similarity ?? 1 };
  for (const [k, v] of Object.entries(w)) {
    if (!(Number.isFinite(v) && v >= 0)) throw new Error(`search weights.${k} must be a finite number >= 0, got ${JSON.stringify(v)}`);
  }
  return w;
}

/** Compute a search spent. Counts are exact; seconds are wall-clock (`performance.now`). */
export interface SearchCompute {
  /** Sequences the search produced: finished candidates (best-of-N, plain) or continuations of a beam (beam search). */
  candidates: number;
  /** Calls to the model's `generate` or `continueGeneration`. */
  generationCalls: number;
  /** Frames sampled by the model over all calls (pruned and losing candidates included), end frames not counted. */
  framesGenerated: number;
  /** Frames decoded to audio by the codec (beam search decodes each partial sequence whole). */
  framesDecoded: number;
  /** Calls of each verifier. */
  verifierCalls: { asr: number; speaker: number };
  /** Wall-clock seconds of the whole search. */
  wallSeconds: number;
  /** Of which: in the model's generation, in the codec's decode, in the verifiers. */
  generateSeconds: number;
  decodeSeconds: number;
  verifySeconds: number;
  /** Seconds of audio of the chosen output. */
  audioSeconds: number;
  /** wallSeconds / audioSeconds: seconds of compute per second of speech delivered (> 1 is slower than real time). */
  realTimeFactor: number;
}

/** One finished sequence a search considered. */
export interface SearchCandidate {
  /** Order of creation (0-based). */
  index: number;
  /** Seed of its generation call (best-of-N); for a beam, the seed of its last extension. */
  seed: number;
  /** For a beam: the seeds of every extension that built it, in order. */
  seeds: number[];
  codes: Codes;
  /** Its audio; null when it has no frames (the model ended at once). */
  audio: EvalAudio | null;
  /** True when the model ended the turn; false when the frame budget cut it; null when the model's `generate` does not say. */
  stopped: boolean | null;
  measures: ClipMeasures;
  /** `searchScore` of `measures` (lower is better); +Infinity for an empty candidate. */
  score: number;
}

/** A round of beam search: which partial sequences were made, and which were kept. */
export interface BeamRound {
  /** 1-based. */
  round: number;
  /** Frames of the longest sequence after this round. */
  frames: number;
  /** Every sequence of the pool this round ranked (kept beams carried over + new continuations). */
  pool: { id: number; parent: number | null; frames: number; similarity: number; finished: boolean; kept: boolean }[];
}

export interface SearchResult {
  strategy: SearchStrategy;
  /** The chosen output (`candidates[best]`). */
  codes: Codes;
  audio: EvalAudio;
  measures: ClipMeasures;
  score: number;
  /** Index into `candidates` of the chosen one. */
  best: number;
  /** Best-of-N, plain: every candidate. Beam search: the final beams. */
  candidates: SearchCandidate[];
  /** Beam search only: the rounds, for a trace of what was kept. */
  rounds?: BeamRound[];
  /** The metric names the verifiers returned (e.g. "WER", "speaker similarity"), for the roles that ran. */
  metricNames: { asr?: string; speaker?: string };
  compute: SearchCompute;
}

export type SearchStrategy = 'plain' | 'best-of-n' | 'beam';

/** Best-of-N's budget. */
export interface BestOfNOptions {
  /** Candidates to generate (N >= 1). */
  n: number;
  verifiers: SearchVerifiers;
  weights?: ScoreWeights;
  /** Called after each candidate is scored (a progress bar, say). */
  onCandidate?: (candidate: SearchCandidate) => void;
}

/** Beam search's budget. */
export interface BeamSearchOptions {
  /** B: sequences kept after each round (>= 1). */
  beams: number;
  /** Continuations each kept, unfinished beam gets per round, each with its own seed (default 2). */
  expand?: number;
  /**
   * K: frames generated between two scorings (>= 1). The first scoring sees K frames of
   * audio, which must be enough for the speaker verifier: WavLM's x-vector needs about
   * 0.35 s (5 Mimi frames at 12.5 Hz); shorter audio is the verifier's error.
   */
  chunkFrames: number;
  /** Frames a sequence may have at most (>= 1); a beam reaching it is finished. */
  maxFrames: number;
  /** `speaker` ranks the beams (required); with `asr` too, the final beams are transcribed and picked by `searchScore`. */
  verifiers: SearchVerifiers;
  /** For the final pick when `verifiers.asr` is given. */
  weights?: ScoreWeights;
  /** Called after each round. */
  onRound?: (round: BeamRound) => void;
}

/** `searchSpeech`'s choice of strategy and budget. */
export type SearchConfig =
  | { strategy: 'plain' }
  | ({ strategy: 'best-of-n' } & Omit<BestOfNOptions, 'verifiers' | 'onCandidate'>)
  | ({ strategy: 'beam' } & Omit<BeamSearchOptions, 'verifiers' | 'onRound'>);

/** A one-line description of a config, e.g. "best-of-8" or "beam B2 x2, K 10, max 125 frames". */
export function describeSearch(config: SearchConfig): string {
  if (config.strategy === 'plain') return 'plain sampling';
  if (config.strategy === 'best-of-n') return `best-of-${config.n}`;
  return `beam B${config.beams} x${config.expand ?? 2}, K ${config.chunkFrames}, max ${config.maxFrames} frames`;
}

function positiveInt(v: unknown, field: string): number {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= 1)) throw new Error(`${field} must be an integer >= 1, got ${JSON.stringify(v)}`);
  return v;
}

/** Validates a `SearchConfig`, naming the field and value. */
export function validateSearchConfig(config: SearchConfig): SearchConfig {
  if (!config || typeof config !== 'object') throw new Error(`search config must be an object, got ${JSON.stringify(config)}`);
  const known: Record<string, string[]> = {
    plain: ['strategy'],
    'best-of-n': ['strategy', 'n', 'weights'],
    beam: ['strategy', 'beams', 'expand', 'chunkFrames', 'maxFrames', 'weights'],
  };
  const fields = known[config.strategy as string];
  if (!fields) throw new Error(`search strategy must be one of ${Object.keys(known).join(', ')}, got ${JSON.stringify(config.strategy)}`);
  for (const k of Object.keys(config)) {
    if (!fields.includes(k)) throw new Error(`search config (${config.strategy}): unknown field ${JSON.stringify(k)}; known: ${fields.join(', ')}`);
  }
  if (config.strategy === 'best-of-n') positiveInt(config.n, 'search n');
  if (config.strategy === 'beam') {
    positiveInt(config.beams, 'search beams');
    if (config.expand !== undefined) positiveInt(config.expand, 'search expand');
    positiveInt(config.chunkFrames, 'search chunkFrames');
    positiveInt(config.maxFrames, 'search maxFrames');
  }
  if (config.strategy !== 'plain' && config.weights) validateWeights(config.weights);
  return config;
}

// -- the accounting, shared by the strategies ----------------------------------------------

/** Times and counts the model, codec and verifier calls of one search. */
class Meter {
  readonly compute: SearchCompute = {
    candidates: 0, generationCalls: 0, framesGenerated: 0, framesDecoded: 0, verifierCalls: { asr: 0, speaker: 0 },
    wallSeconds: 0, generateSeconds: 0, decodeSeconds: 0, verifySeconds: 0, audioSeconds: 0, realTimeFactor: 0,
  };
  readonly metricNames: { asr?: string; speaker?: string } = {};
  private readonly start = performance.now();

  constructor(private readonly model: SearchModel, private readonly text: string, private readonly verifiers: SearchVerifiers) {}

  /** A whole generation: through the step-wise hook with no prefix when the model has it (it says whether the model stopped), else `generate`. */
  async generate(request: TtsGenerateRequest): Promise<{ codes: Codes; stopped: boolean | null }> {
    const t = performance.now();
    let out: { codes: Codes; stopped: boolean | null };
    if (typeof this.model.continueGeneration === 'function') out = await this.model.continueGeneration(request, []);
    else {
      const codes = await this.model.generate(request);
      // Fewer frames than the budget means the model ended the turn; without a budget, `generate` does not say.
      out = { codes, stopped: request.maxNewFrames === undefined ? null : codes.length < request.maxNewFrames };
    }
    this.compute.generateSeconds += (performance.now() - t) / 1000;
    this.compute.generationCalls += 1;
    this.compute.framesGenerated += out.codes.length;
    return out;
  }

  async continueFrom(request: TtsGenerateRequest, prefix: Codes): Promise<TtsContinuation> {
    const t = performance.now();
    const out = await this.model.continueGeneration!(request, prefix);
    this.compute.generateSeconds += (performance.now() - t) / 1000;
    this.compute.generationCalls += 1;
    this.compute.framesGenerated += out.codes.length;
    return out;
  }

  async decode(codes: Codes): Promise<EvalAudio> {
    const t = performance.now();
    const samples = await this.model.codec.decode(codes);
    this.compute.decodeSeconds += (performance.now() - t) / 1000;
    this.compute.framesDecoded += codes.length;
    return { samples, sampleRate: this.model.codec.sampleRate };
  }

  async verify(role: 'asr' | 'speaker', audio: EvalAudio): Promise<number> {
    const verifier = this.verifiers[role]!;
    const t = performance.now();
    const m: Metric = await verifier(audio, this.text, this.verifiers.reference);
    this.compute.verifySeconds += (performance.now() - t) / 1000;
    this.compute.verifierCalls[role] += 1;
    if (!m || typeof m.name !== 'string' || !Number.isFinite(m.value)) throw new Error(`search: the ${role} verifier returned ${JSON.stringify(m)} for "${this.text}"; expected {name, value: finite number}`);
    this.metricNames[role] ??= m.name;
    return m.value;
  }

  /** Runs the given verifiers on `audio`. */
  async measure(audio: EvalAudio, roles: readonly ('asr' | 'speaker')[]): Promise<ClipMeasures> {
    const m: ClipMeasures = {};
    if (roles.includes('asr') && this.verifiers.asr) m.wer = await this.verify('asr', audio);
    if (roles.includes('speaker') && this.verifiers.speaker) m.similarity = await this.verify('speaker', audio);
    return m;
  }

  finish(chosen: EvalAudio): SearchCompute {
    const c = this.compute;
    c.wallSeconds = (performance.now() - this.start) / 1000;
    c.audioSeconds = chosen.samples.length / chosen.sampleRate;
    c.realTimeFactor = c.audioSeconds > 0 ? c.wallSeconds / c.audioSeconds : Infinity;
    return c;
  }
}

function checkRequest(request: TtsGenerateRequest): void {
  if (!request || typeof request.text !== 'string' || request.text.trim() === '') throw new Error(`search: request.text must be a non-empty string, got ${JSON.stringify(request?.text)}`);
  if (!Number.isInteger(request.seed)) throw new Error(`search: request.seed must be an integer (candidate i uses seed + i), got ${JSON.stringify(request.seed)}`);
}

/** Index of the lowest score; the first on ties. */
function argmin(scores: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i]! < scores[best]!) best = i;
  return best;
}

/** Thrown when a search has no non-empty sequence to return (the model ended every candidate at once). */
export class EmptyGenerationError extends Error {
  constructor(readonly text: string, readonly seeds: number[]) {
    super(`search: every candidate for "${text}" ended at once with 0 frames (seeds ${seeds.join(', ')}); try other seeds, a cloning context, or more candidates`);
    this.name = 'EmptyGenerationError';
  }
}

function noFramesError(text: string, seeds: number[]): Error {
  return new EmptyGenerationError(text, seeds);
}

// -- plain sampling and best-of-N ---------------------------------------------------------

/**
 * Best-of-N: candidates i = 0..N-1 generated with `request` and seed `request.seed + i`,
 * decoded, scored by the given verifiers, and the one with the lowest `searchScore` chosen
 * (ties: the earlier). A candidate with no frames is kept in the list with score +Infinity
 * and not verified; when all are empty the search throws.
 */
export async function bestOfN(model: SearchModel, request: TtsGenerateRequest, options: BestOfNOptions): Promise<SearchResult> {
  checkRequest(request);
  const n = positiveInt(options.n, 'best-of-N n');
  const v = options.verifiers ?? {};
  if (!v.asr && !v.speaker) throw new Error('best-of-N needs a verifier to choose with: verifiers.asr (WER) and/or verifiers.speaker (similarity)');
  const weights = validateWeights(options.weights ?? {});
  const meter = new Meter(model, request.text, v);
  const candidates: SearchCandidate[] = [];
  for (let i = 0; i < n; i++) {
    const seed = request.seed + i;
    const out = await meter.generate({ ...request, seed });
    meter.compute.candidates += 1;
    const audio = out.codes.length ? await meter.decode(out.codes) : null;
    const measures = audio ? await meter.measure(audio, ['asr', 'speaker']) : {};
    const candidate: SearchCandidate = {
      index: i, seed, seeds: [seed], codes: out.codes, audio, stopped: out.stopped, measures,
      score: audio ? searchScore(measures, weights) : Infinity,
    };
    candidates.push(candidate);
    options.onCandidate?.(candidate);
  }
  const best = argmin(candidates.map((c) => c.score));
  const chosen = candidates[best]!;
  if (!chosen.audio) throw noFramesError(request.text, candidates.map((c) => c.seed));
  return {
    strategy: 'best-of-n', codes: chosen.codes, audio: chosen.audio, measures: chosen.measures, score: chosen.score, best, candidates,
    metricNames: meter.metricNames, compute: meter.finish(chosen.audio),
  };
}

/**
 * Plain sampling with the same accounting: one generation with `request.seed`, decoded, and
 * measured by whichever verifiers are given (none is fine). The baseline of a search.
 */
export async function plainSample(model: SearchModel, request: TtsGenerateRequest, verifiers: SearchVerifiers = {}, weights: ScoreWeights = {}): Promise<SearchResult> {
  checkRequest(request);
  const meter = new Meter(model, request.text, verifiers);
  const out = await meter.generate(request);
  meter.compute.candidates += 1;
  if (!out.codes.length) throw noFramesError(request.text, [request.seed]);
  const audio = await meter.decode(out.codes);
  const measures = await meter.measure(audio, ['asr', 'speaker']);
  const candidate: SearchCandidate = {
    index: 0, seed: request.seed, seeds: [request.seed], codes: out.codes, audio, stopped: out.stopped, measures, score: searchScore(measures, weights),
  };
  return {
    strategy: 'plain', codes: out.codes, audio, measures, score: candidate.score, best: 0, candidates: [candidate],
    metricNames: meter.metricNames, compute: meter.finish(audio),
  };
}

// -- beam search --------------------------------------------------------------------------

interface Beam {
  id: number;
  parent: number | null;
  codes: Codes;
  seeds: number[];
  audio: EvalAudio | null;
  similarity: number;
  finished: boolean;
  stopped: boolean;
}

/**
 * Beam search over partial sequences, scored by speaker similarity every K frames.
 *
 * Round r: every kept, unfinished beam is continued `expand` times (each continuation its
 * own seed: `request.seed`, `+ 1`, ... in order of creation) by up to K new frames, never
 * past `maxFrames`; each continuation's whole codes are decoded and scored by
 * `verifiers.speaker`. The pool of the round (finished beams carried over + the new
 * continuations) is ranked by similarity, highest first (ties: earlier created), and the
 * first B kept. A continuation is finished when the model ended the turn or it reached
 * `maxFrames`. Round 1 starts from one empty beam, so it makes `expand` continuations.
 * The search ends when every kept beam is finished; the pick is the kept beam with the
 * highest similarity or, when `verifiers.asr` is given, the lowest `searchScore` after
 * transcribing the final beams (WER judged on whole sentences only).
 *
 * A continuation that adds no frames to a non-empty beam (the model ended at once) keeps
 * its parent's audio and similarity without another verifier call.
 */
export async function beamSearch(model: SearchModel, request: TtsGenerateRequest, options: BeamSearchOptions): Promise<SearchResult> {
  checkRequest(request);
  const B = positiveInt(options.beams, 'beam search beams');
  const expand = positiveInt(options.expand ?? 2, 'beam search expand');
  const K = positiveInt(options.chunkFrames, 'beam search chunkFrames');
  const maxFrames = positiveInt(options.maxFrames, 'beam search maxFrames');
  const v = options.verifiers ?? {};
  if (!v.speaker) throw new Error('beam search ranks partial sequences by speaker similarity: verifiers.speaker is required');
  if (typeof model.continueGeneration !== 'function') {
    throw new Error('beam search needs the model\'s step-wise hook continueGeneration(request, prefix) (StepwiseTtsModel, src/models/types.ts), which this model lacks; best-of-N works with generate alone');
  }
  const weights = validateWeights(options.weights ?? {});
  const meter = new Meter(model, request.text, v);
  let nextId = 0;
  let nextSeed = request.seed;
  let kept: Beam[] = [{ id: nextId++, parent: null, codes: [], seeds: [], audio: null, similarity: -Infinity, finished: false, stopped: false }];
  const rounds: BeamRound[] = [];
  while (kept.some((b) => !b.finished)) {
    const pool: Beam[] = kept.filter((b) => b.finished);
    for (const beam of kept.filter((b) => !b.finished)) {
      for (let e = 0; e < expand; e++) {
        const seed = nextSeed++;
        const budget = Math.min(K, maxFrames - beam.codes.length);
        const out = await meter.continueFrom({ ...request, seed, maxNewFrames: budget }, beam.codes);
        if (out.codes.length > budget) throw new Error(`continueGeneration returned ${out.codes.length} frames for a budget of ${budget}`);
        meter.compute.candidates += 1;
        const codes = [...beam.codes, ...out.codes];
        const child: Beam = {
          id: nextId++, parent: beam.id, codes, seeds: [...beam.seeds, seed], audio: beam.audio, similarity: beam.similarity,
          stopped: out.stopped, finished: out.stopped || codes.length >= maxFrames,
        };
        if (out.codes.length > 0) {
          child.audio = await meter.decode(codes);
          child.similarity = (await meter.measure(child.audio, ['speaker'])).similarity!;
        }
        pool.push(child);
      }
    }
    // Stable sort: equal similarities keep creation order (carried-over beams first).
    const ranked = [...pool].sort((a, b) => b.similarity - a.similarity);
    kept = ranked.slice(0, B);
    const keptIds = new Set(kept.map((b) => b.id));
    const round: BeamRound = {
      round: rounds.length + 1, frames: Math.max(...pool.map((b) => b.codes.length)),
      pool: pool.map((b) => ({ id: b.id, parent: b.parent, frames: b.codes.length, similarity: b.similarity, finished: b.finished, kept: keptIds.has(b.id) })),
    };
    rounds.push(round);
    options.onRound?.(round);
  }
  const candidates: SearchCandidate[] = [];
  for (const b of kept) {
    const measures: ClipMeasures = b.audio ? { similarity: b.similarity } : {};
    if (b.audio && v.asr) measures.wer = await meter.verify('asr', b.audio);
    candidates.push({
      index: b.id, seed: b.seeds[b.seeds.length - 1]!, seeds: b.seeds, codes: b.codes, audio: b.audio, stopped: b.stopped, measures,
      score: b.audio ? searchScore(measures, weights) : Infinity,
    });
  }
  // Without ASR the ranking by similarity already decided (kept[0] is the most similar).
  const best = v.asr ? argmin(candidates.map((c) => c.score)) : 0;
  const chosen = candidates[best]!;
  if (!chosen.audio) throw noFramesError(request.text, candidates.flatMap((c) => c.seeds));
  return {
    strategy: 'beam', codes: chosen.codes, audio: chosen.audio, measures: chosen.measures, score: chosen.score, best, candidates, rounds,
    metricNames: meter.metricNames, compute: meter.finish(chosen.audio),
  };
}

/** Runs the strategy `config` names (validated) for one request. */
export async function searchSpeech(model: SearchModel, request: TtsGenerateRequest, config: SearchConfig, verifiers: SearchVerifiers): Promise<SearchResult> {
  validateSearchConfig(config);
  if (config.strategy === 'plain') return plainSample(model, request, verifiers);
  const { strategy: _s, ...budget } = config;
  if (config.strategy === 'best-of-n') return bestOfN(model, request, { ...(budget as Omit<BestOfNOptions, 'verifiers'>), verifiers });
  return beamSearch(model, request, { ...(budget as Omit<BeamSearchOptions, 'verifiers'>), verifiers });
}

// -- speaker similarity to a target embedding ---------------------------------------------

export interface EmbeddingSpeakerVerifierOptions {
  /** Audio -> speaker embedding (e.g. `(a) => wavlm.speakerEmbedding(resampled to 16 kHz)`). */
  embed: (audio: EvalAudio) => Float32Array | Promise<Float32Array>;
  /** The target speaker's embedding, e.g. `meanEmbedding` of several of their clips. */
  target: Float32Array;
  /** Metric name (default "speaker similarity"). */
  name?: string;
}

/**
 * A speaker verifier against a fixed target embedding (instead of one reference clip):
 * cosine similarity of `embed(clip)` and `target`. The row's reference, if any, is ignored.
 */
export function embeddingSpeakerVerifier(options: EmbeddingSpeakerVerifierOptions): Verifier {
  const { embed, target } = options;
  if (!(target instanceof Float32Array) || target.length === 0) throw new Error(`embeddingSpeakerVerifier: target must be a non-empty Float32Array, got ${target?.constructor?.name ?? typeof target}`);
  const name = options.name ?? 'speaker similarity';
  return async (audio) => {
    const e = await embed(audio);
    if (e.length !== target.length) throw new Error(`embeddingSpeakerVerifier: the clip's embedding has ${e.length} values, the target ${target.length}`);
    return { name, value: cosineSimilarity(e, target) };
  };
}

/** The mean of several embeddings (a speaker's centroid), each L2-normalised first. */
export function meanEmbedding(embeddings: readonly Float32Array[]): Float32Array {
  if (embeddings.length === 0) throw new Error('meanEmbedding: no embeddings');
  const dim = embeddings[0]!.length;
  const out = new Float32Array(dim);
  embeddings.forEach((e, i) => {
    if (e.length !== dim) throw new Error(`meanEmbedding: embedding ${i} has ${e.length} values, embedding 0 has ${dim}`);
    let norm = 0;
    for (let j = 0; j < dim; j++) norm += e[j]! * e[j]!;
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < dim; j++) out[j]! += e[j]! / norm / embeddings.length;
  });
  return out;
}

// -- a model-free speaker measure ----------------------------------------------------------

/** Mel bands of the long-term spectrum, from LTAS_LOW_HZ to min(LTAS_HIGH_HZ, Nyquist). */
const LTAS_BANDS = 40;
const LTAS_LOW_HZ = 60;
const LTAS_HIGH_HZ = 8000;
const mel = (hz: number) => 2595 * Math.log10(1 + hz / 700);
const melToHz = (m: number) => 700 * (10 ** (m / 2595) - 1);

/**
 * The long-term average spectrum of a clip: the STFT power spectrum (25 ms Hann, 10 ms hop)
 * averaged over frames, in dB, pooled into 40 mel bands (60 Hz - 8 kHz), minus its mean over
 * the bands, so the vector describes the spectrum's shape, not the loudness.
 * `[LTAS_BANDS]`. A classic, crude speaker cue (vocal tract and voice quality shape it);
 * not a learned speaker embedding.
 */
export function longTermSpectrum(audio: EvalAudio): Float32Array {
  // A deep floor, and power averaged before the log: a level change then shifts every band
  // alike (silent frames add next to nothing), which the mean subtraction removes.
  const spec = spectrogramDb(audio.samples, audio.sampleRate, { dynamicRangeDb: 140 });
  const high = Math.min(LTAS_HIGH_HZ, audio.sampleRate / 2);
  const edges = Array.from({ length: LTAS_BANDS + 1 }, (_, i) => melToHz(mel(LTAS_LOW_HZ) + ((mel(high) - mel(LTAS_LOW_HZ)) * i) / LTAS_BANDS));
  const mean = new Float64Array(spec.numBins); // mean power per bin, then dB
  for (let t = 0; t < spec.numFrames; t++) for (let k = 0; k < spec.numBins; k++) mean[k]! += 10 ** (spec.db[t * spec.numBins + k]! / 10) / spec.numFrames;
  for (let k = 0; k < spec.numBins; k++) mean[k] = 10 * Math.log10(mean[k]!);
  const out = new Float32Array(LTAS_BANDS);
  for (let b = 0; b < LTAS_BANDS; b++) {
    // Bins whose centre frequency falls in the band; a band narrower than a bin takes the nearest bin.
    const lo = Math.ceil(edges[b]! / spec.binHz);
    const hi = Math.min(Math.floor(edges[b + 1]! / spec.binHz), spec.numBins - 1);
    let sum = 0;
    for (let k = lo; k <= hi; k++) sum += mean[k]!;
    const centre = Math.min(Math.round((edges[b]! + edges[b + 1]!) / 2 / spec.binHz), spec.numBins - 1);
    out[b] = hi >= lo ? sum / (hi - lo + 1) : mean[centre]!;
  }
  const avg = out.reduce((a, x) => a + x, 0) / LTAS_BANDS;
  for (let b = 0; b < LTAS_BANDS; b++) out[b]! -= avg;
  return out;
}

/**
 * A speaker verifier that needs no model: cosine similarity of the clip's and the
 * reference's `longTermSpectrum` (a Pearson correlation of their band levels). Named
 * "spectral similarity" so it is never mistaken for a learned speaker embedding's
 * "speaker similarity"; notebook 07 falls back to it when no speaker model is cached.
 */
export function spectralSpeakerVerifier(options: { name?: string } = {}): Verifier {
  const name = options.name ?? 'spectral similarity';
  const cache = new WeakMap<Float32Array, Float32Array>();
  const ltas = (a: EvalAudio) => {
    let e = cache.get(a.samples);
    if (!e) cache.set(a.samples, (e = longTermSpectrum(a)));
    return e;
  };
  return async (audio, _text, reference) => {
    if (!reference) throw new Error('spectral speaker verifier: no reference clip of the target speaker to compare with');
    return { name, value: cosineSimilarity(ltas(audio), ltas(reference)) };
  };
}
