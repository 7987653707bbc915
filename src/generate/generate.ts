/**
 * Autoregressive generation with Hugging Face `generate` semantics (greedy or sampling,
 * transformers/generation/utils.py `_sample`): batched prompts (left-padded, with an
 * attention mask), a KV cache, logits processors in HF's order, stop tokens with
 * per-row stopping (a finished row is filled with the pad token while the others go on),
 * and max new tokens.
 */
import * as tf from '@tensorflow/tfjs';
import type { CausalLM } from '../models/llama/modeling';
import { Rng } from './rng';
import { selectToken, validateSamplingOptions } from './sampling';
import type { SamplingOptions } from './sampling';

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate at most per row (HF `max_new_tokens`). */
  maxNewTokens: number;
  /** Stop tokens; a row stops after emitting one (it is kept in the output). Default: the model config's eos ids. */
  eosTokenId?: number | number[];
  /** Fills finished rows. Default: the config's pad id, else the first stop token (as HF). */
  padTokenId?: number;
  /** Seeds sampling; the same seed gives the same samples. */
  seed?: number;
  /** Reuse keys/values of past positions (default true); false recomputes the whole sequence each step. */
  useCache?: boolean;
  /** Called after each step with the tokens just chosen (`[batch]`), e.g. for a progress bar. */
  onStep?: (step: number, tokens: number[]) => void;
}

export interface GenerateInput {
  /** `[batch][seq]` prompts, left-padded to one length. */
  inputIds: number[][];
  /** `[batch][seq]`, 0 at padding. Default: all ones. */
  attentionMask?: number[][];
}

export interface GenerateOutput {
  /** `[batch][seq + steps]`: prompts followed by the generated tokens (pad after a stop), as HF `sequences`. */
  sequences: number[][];
  /** `[batch][n]`: each row's generated tokens up to and including its stop token, no padding. */
  newTokens: number[][];
  /** Whether each row emitted a stop token (false: it ran to maxNewTokens). */
  finished: boolean[];
}

/** Generates continuations of a batch of prompts. */
export async function generate(model: CausalLM, input: GenerateInput, options: GenerateOptions): Promise<GenerateOutput> {
  validateSamplingOptions(options);
  const { maxNewTokens } = options;
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 1)) throw new Error(`maxNewTokens must be an integer >= 1, got ${maxNewTokens}`);
  const batch = input.inputIds.length;
  if (batch === 0) throw new Error('inputIds is empty');
  const ids = input.inputIds.map((r) => [...r]);
  const mask = (input.attentionMask ?? ids.map((r) => r.map(() => 1))).map((r) => [...r]);
  const promptLen = ids[0].length;
  if (ids.some((r) => r.length !== promptLen) || mask.some((r) => r.length !== promptLen) || mask.length !== batch) {
    throw new Error('inputIds and attentionMask rows must all have one length (left-pad the prompts)');
  }
  // HF warns about right padding because new tokens would follow pad tokens; here it is an error.
  mask.forEach((row, b) => {
    if (row[row.length - 1] !== 1) throw new Error(`prompt row ${b} ends with padding; generation needs left padding`);
  });
  const eos = options.eosTokenId === undefined ? model.config.eosTokenIds
    : Array.isArray(options.eosTokenId) ? options.eosTokenId : [options.eosTokenId];
  const pad = options.padTokenId ?? model.config.padTokenId ?? eos[0];
  if (pad === undefined) throw new Error('padTokenId is needed to fill finished rows (no pad or eos token in the config or options)');
  if (promptLen + maxNewTokens > model.config.maxPositionEmbeddings) {
    throw new Error(`prompt (${promptLen}) + maxNewTokens (${maxNewTokens}) exceeds max_position_embeddings (${model.config.maxPositionEmbeddings})`);
  }
  const rng = new Rng(options.seed ?? 0);
  const useCache = options.useCache ?? true;
  const cache = useCache ? model.createCache() : undefined;
  const unfinished = new Array<boolean>(batch).fill(true);
  const newTokens: number[][] = ids.map(() => []);
  try {
    for (let step = 0; step < maxNewTokens; step++) {
      // With a cache, the first step feeds the prompt and later steps only the last token.
      const feed = cache && step > 0 ? ids.map((r) => [r[r.length - 1]]) : ids;
      const logits = model.forward({ inputIds: feed, attentionMask: mask, cache, logitsToKeep: 1 }); // [batch, 1, vocab]
      const vocab = logits.shape[2];
      const data = (await logits.data()) as Float32Array;
      logits.dispose();
      const chosen: number[] = [];
      for (let b = 0; b < batch; b++) {
        const row = data.slice(b * vocab, (b + 1) * vocab);
        const token = selectToken(row, ids[b], options, rng);
        chosen.push(unfinished[b] ? token : pad);
      }
      for (let b = 0; b < batch; b++) {
        ids[b].push(chosen[b]);
        mask[b].push(1); // HF extends the mask with ones for every row, finished or not
        if (unfinished[b]) {
          newTokens[b].push(chosen[b]);
          if (eos.includes(chosen[b])) unfinished[b] = false;
        }
      }
      options.onStep?.(step, chosen);
      if (!unfinished.some(Boolean)) break;
    }
  } finally {
    cache?.dispose();
  }
  return { sequences: ids, newTokens, finished: unfinished.map((u) => !u) };
}

/** The sequences as an int32 tensor `[batch, seq + steps]`, owned by the caller. */
export function sequencesTensor(out: GenerateOutput): tf.Tensor2D {
  return tf.tensor2d(out.sequences.flat(), [out.sequences.length, out.sequences[0].length], 'int32');
}
