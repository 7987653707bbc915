/**
 * Logits processors with Hugging Face semantics, on one row of logits (`[vocab]`).
 *
 * Each function copies the behaviour of the transformers class named in its comment
 * (transformers/generation/logits_process.py); removed tokens get `-Infinity`, as HF's
 * `filter_value`. They modify the row in place, as the HF processors return a processed
 * copy that replaces the scores. The order `processLogits` applies them in is HF's
 * (`GenerationMixin._get_logits_processor`): repetition penalty, then, when sampling,
 * temperature, top-k, top-p, min-p.
 */
import { Rng } from './rng';

/** Sampling options; a field left out disables that processor (HF's neutral value). */
export interface SamplingOptions {
  /** Sample from the processed distribution; false = greedy (argmax). HF `do_sample`. */
  doSample?: boolean;
  /** Divides logits before sampling; > 0. Ignored when greedy, as in HF. */
  temperature?: number;
  /**
   * Keep the k highest logits; 0 or undefined = off. Note: HF's `GenerationConfig`
   * defaults `top_k` to 50 when sampling; ttslab has no hidden default, pass it.
   */
  topK?: number;
  /** Nucleus sampling: keep the smallest set of top tokens with probability >= topP; 1 = off. */
  topP?: number;
  /** Drop tokens whose probability is below minP x the top token's probability; undefined = off. */
  minP?: number;
  /** > 1 discourages tokens already in the sequence (prompt included); 1 = off. */
  repetitionPenalty?: number;
  /** Tokens every filter keeps at least (HF `min_tokens_to_keep`, 1 for plain sampling). */
  minTokensToKeep?: number;
}

/** Throws on values HF's GenerationConfig.validate would reject, naming the field and value. */
export function validateSamplingOptions(o: SamplingOptions): void {
  const bad = (field: string, v: unknown, why: string) => {
    throw new Error(`sampling option ${field} ${why}, got ${JSON.stringify(v)}`);
  };
  if (o.temperature !== undefined && !(o.temperature > 0 && Number.isFinite(o.temperature))) {
    bad('temperature', o.temperature, 'must be a finite number > 0 (use doSample: false for greedy)');
  }
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) bad('topK', o.topK, 'must be an integer >= 0');
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) bad('topP', o.topP, 'must be in (0, 1]');
  if (o.minP !== undefined && !(o.minP >= 0 && o.minP <= 1)) bad('minP', o.minP, 'must be in [0, 1]');
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0 && Number.isFinite(o.repetitionPenalty))) {
    bad('repetitionPenalty', o.repetitionPenalty, 'must be a finite number > 0');
  }
  if (o.minTokensToKeep !== undefined && !(Number.isInteger(o.minTokensToKeep) && o.minTokensToKeep >= 1)) {
    bad('minTokensToKeep', o.minTokensToKeep, 'must be an integer >= 1');
  }
}

/**
 * HF `RepetitionPenaltyLogitsProcessor`: for every distinct id in `previous`, a positive
 * logit is divided by the penalty and a negative one multiplied, so the token always
 * becomes less likely. `previous` is the whole sequence so far, prompt and padding included.
 */
export function applyRepetitionPenalty(logits: Float32Array, previous: ArrayLike<number>, penalty: number): void {
  if (penalty === 1) return;
  const seen = new Set<number>();
  for (let i = 0; i < previous.length; i++) {
    const id = previous[i];
    if (seen.has(id)) continue;
    seen.add(id);
    if (id < 0 || id >= logits.length) throw new Error(`token id ${id} outside the vocabulary [0, ${logits.length})`);
    const s = logits[id];
    logits[id] = s < 0 ? s * penalty : s / penalty;
  }
}

/** HF `TemperatureLogitsWarper`: logits / temperature. */
export function applyTemperature(logits: Float32Array, temperature: number): void {
  if (temperature === 1) return;
  for (let i = 0; i < logits.length; i++) logits[i] = logits[i] / temperature;
}

/**
 * HF `TopKLogitsWarper`: removes every logit strictly below the k-th largest, so ties
 * with the k-th value survive. k is raised to minTokensToKeep and capped at the vocab.
 */
export function applyTopK(logits: Float32Array, k: number, minTokensToKeep = 1): void {
  if (!k) return;
  const kk = Math.min(Math.max(k, minTokensToKeep), logits.length);
  const sorted = Float32Array.from(logits).sort().reverse();
  const kth = sorted[kk - 1];
  for (let i = 0; i < logits.length; i++) if (logits[i] < kth) logits[i] = -Infinity;
}

/** Indices of `logits` sorted by value, ascending; ties by index (a stable order). */
function argsortAscending(logits: Float32Array): number[] {
  const idx = Array.from({ length: logits.length }, (_, i) => i);
  return idx.sort((a, b) => logits[a] - logits[b] || a - b);
}

/** Softmax in float64; -Infinity logits get probability 0. */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  const out = new Float64Array(logits.length);
  if (max === -Infinity) throw new Error('every token was filtered out (all logits are -Infinity)');
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp(logits[i] - max);
    sum += out[i];
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/**
 * HF `TopPLogitsWarper`: sort ascending, accumulate probabilities, and remove the tokens
 * whose cumulative probability is <= 1 - topP (the low tail), always keeping the
 * minTokensToKeep most likely ones.
 */
export function applyTopP(logits: Float32Array, topP: number, minTokensToKeep = 1): void {
  if (topP >= 1) return;
  const order = argsortAscending(logits);
  const probs = softmax(logits);
  let cum = 0;
  const limit = order.length - minTokensToKeep; // the last minTokensToKeep (largest) are kept
  for (let j = 0; j < order.length; j++) {
    cum += probs[order[j]];
    if (j < limit && cum <= 1 - topP) logits[order[j]] = -Infinity;
  }
}

/**
 * HF `MinPLogitsWarper`: removes tokens whose probability is below minP times the
 * probability of the most likely token, always keeping the minTokensToKeep most likely.
 */
export function applyMinP(logits: Float32Array, minP: number, minTokensToKeep = 1): void {
  const probs = softmax(logits);
  let top = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i] > top) top = probs[i];
  const threshold = minP * top;
  // The minTokensToKeep highest logits are exempt (descending order, stable).
  const keep = new Set(argsortAscending(logits).reverse().slice(0, minTokensToKeep));
  for (let i = 0; i < logits.length; i++) if (probs[i] < threshold && !keep.has(i)) logits[i] = -Infinity;
}

/** Index of the largest logit; the first one on ties, as torch.argmax. */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** Draws one index from softmax(logits) (HF: torch.multinomial(probs, 1)). */
export function sampleFromLogits(logits: ArrayLike<number>, rng: Rng): number {
  const probs = softmax(logits);
  const u = rng.next();
  let cum = 0;
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] === 0) continue;
    last = i;
    cum += probs[i];
    if (u < cum) return i;
  }
  return last; // u landed in the rounding gap at the top end
}

/** Applies the processors in HF's order, in place. */
export function processLogits(logits: Float32Array, previous: ArrayLike<number>, o: SamplingOptions): void {
  applyRepetitionPenalty(logits, previous, o.repetitionPenalty ?? 1);
  if (!o.doSample) return;
  const keep = o.minTokensToKeep ?? 1;
  applyTemperature(logits, o.temperature ?? 1);
  if (o.topK) applyTopK(logits, o.topK, keep);
  if (o.topP !== undefined && o.topP < 1) applyTopP(logits, o.topP, keep);
  if (o.minP !== undefined) applyMinP(logits, o.minP, keep);
}

/** Processes one row of logits (in place) and picks the next token: argmax, or a sample. */
export function selectToken(logits: Float32Array, previous: ArrayLike<number>, o: SamplingOptions, rng: Rng): number {
  processLogits(logits, previous, o);
  return o.doSample ? sampleFromLogits(logits, rng) : argmax(logits);
}
