/**
 * Step-wise generation for the families that write speech as tokens of one Llama stream
 * (Orpheus: 7 SNAC tokens per frame; Llasa: one `<|s_N|>` per XCodec2 frame): the part of
 * `continueGeneration` (`StepwiseTtsModel`, src/models/types.ts) they share.
 *
 * A continuation is plain generation (src/generate's `generate`, the one sampler) from a
 * longer prompt: the family's prompt, then the tokens the model writes before its first
 * frame (`lead`: Orpheus' start_of_ai, start_of_speech; none for Llasa), then the prefix
 * frames as the tokens the model would have written for them. Everything the sampler looks
 * back at (the repetition penalty reads the whole sequence, prompt included) therefore sees
 * the prefix as if it had been sampled in this call. With no prefix the model writes the
 * lead itself, so `continueTokenStream(..., prefix [])` is exactly the family's generation.
 *
 * Token budget: `maxNewFrames * tokensPerFrame` for the frames, + `lead.length` when the
 * model writes the lead (no prefix), + 1 for the stop token after the last frame. The
 * family parses the new tokens into frames (at most `maxNewFrames`: a frame the stop slot
 * started is the family's to drop).
 */
import * as tf from '@tensorflow/tfjs';
import { generate } from '../../generate/generate';
import type { SamplingOptions } from '../../generate/sampling';
import type { KVCache } from '../common/attention';
import type { CausalLM, CausalLMInput } from './modeling';

/**
 * New frames a continuation may generate: `requested` when given (an integer >= 1, else an
 * error naming it), otherwise the family's default budget for the whole turn minus the
 * prefix's frames; none left is an error saying to pass maxNewFrames.
 */
export function continuationFrameBudget(requested: number | undefined, defaultTotalFrames: number, prefixFrames: number, family: string): number {
  if (requested !== undefined) {
    if (!(Number.isInteger(requested) && requested >= 1)) throw new Error(`maxNewFrames must be an integer >= 1, got ${requested}`);
    return requested;
  }
  const left = defaultTotalFrames - prefixFrames;
  if (left < 1) {
    throw new Error(`${family}: the prefix has ${prefixFrames} frames, the default budget is ${defaultTotalFrames}: nothing left to generate; pass maxNewFrames`);
  }
  return left;
}

export interface TokenStreamContinuation extends SamplingOptions {
  /** The family's prompt ids (cloning context, then the text), up to where the model's own tokens start. */
  prompt: readonly number[];
  /** Tokens the model writes before its first frame (Orpheus: start_of_ai, start_of_speech; Llasa: none). */
  lead: readonly number[];
  /** The prefix frames as stream tokens (`prefixFrames * tokensPerFrame` of them); [] for none. */
  prefixTokens: readonly number[];
  /** Tokens per frame (7 for Orpheus, 1 for Llasa). */
  tokensPerFrame: number;
  /** New frames at most (>= 1). */
  maxNewFrames: number;
  /** The token that ends the turn (Orpheus end_of_speech, Llasa <|SPEECH_GENERATION_END|>). */
  stopTokenId: number;
  padTokenId: number;
  seed: number;
}

export interface TokenStreamOutput {
  /** The new tokens, stop token included when reached (not the prompt, lead or prefix given). */
  tokens: number[];
  /** True when the stop token was written. */
  stopped: boolean;
  /** Tokens the model read before the first new one: prompt, then (with a prefix) lead and prefix. */
  promptLength: number;
}

/**
 * Generates after `prompt` (+ `lead` + `prefixTokens` when there is a prefix) with
 * src/generate's `generate` and the given sampling; see the file comment for the budget.
 */
export async function continueTokenStream(lm: CausalLM, o: TokenStreamContinuation): Promise<TokenStreamOutput> {
  const { prompt, lead, prefixTokens, tokensPerFrame, maxNewFrames, stopTokenId, padTokenId, seed, ...sampling } = o;
  if (!(Number.isInteger(tokensPerFrame) && tokensPerFrame >= 1)) throw new Error(`tokensPerFrame must be an integer >= 1, got ${tokensPerFrame}`);
  if (prefixTokens.length % tokensPerFrame !== 0) {
    throw new Error(`prefix: ${prefixTokens.length} tokens is not a whole number of ${tokensPerFrame}-token frames`);
  }
  if (!(Number.isInteger(maxNewFrames) && maxNewFrames >= 1)) throw new Error(`maxNewFrames must be an integer >= 1, got ${maxNewFrames}`);
  const prefixed = prefixTokens.length > 0;
  const input = prefixed ? [...prompt, ...lead, ...prefixTokens] : [...prompt];
  const maxNewTokens = maxNewFrames * tokensPerFrame + (prefixed ? 0 : lead.length) + 1;
  const out = await generate(lm, { inputIds: [input] }, { ...sampling, maxNewTokens, seed, eosTokenId: stopTokenId, padTokenId });
  return { tokens: out.newTokens[0]!, stopped: out.finished[0]!, promptLength: input.length };
}

/**
 * A CausalLM whose next-token logits are -Infinity outside `allowed(lastToken)` (null: no
 * constraint for that row), HF's logits-processor way of constrained decoding. Only the
 * last position is masked: for generation (`logitsToKeep: 1`), never for training. Orpheus'
 * `FrameConstrainedLM` is the frame-grammar case; Llasa's speech-only mask uses this.
 */
export class AllowedTokensLM implements CausalLM {
  constructor(
    private readonly inner: CausalLM,
    /** Id ranges `[lo, hi)` allowed after `last`, or null for every id. */
    private readonly allowed: (last: number) => ReadonlyArray<readonly [number, number]> | null,
  ) {}

  get config(): CausalLM['config'] {
    return this.inner.config;
  }

  createCache(): KVCache {
    return this.inner.createCache();
  }

  forward(input: CausalLMInput): tf.Tensor3D {
    const rows = input.inputIds;
    if (!rows || input.logitsToKeep !== 1) throw new Error('AllowedTokensLM masks next-token logits only: call it with inputIds and logitsToKeep 1');
    const logits = this.inner.forward(input); // [batch, 1, vocab]
    const [batch, , vocab] = logits.shape;
    const mask = new Float32Array(batch * vocab);
    rows.forEach((r, b) => {
      const allowed = this.allowed(r[r.length - 1]!);
      if (!allowed) return;
      mask.fill(-Infinity, b * vocab, (b + 1) * vocab);
      for (const [lo, hi] of allowed) mask.fill(0, b * vocab + Math.max(lo, 0), b * vocab + Math.min(hi, vocab));
    });
    const out = tf.tidy(() => logits.add(tf.tensor3d(mask, [batch, 1, vocab])) as tf.Tensor3D);
    logits.dispose();
    return out;
  }
}
