/**
 * `tiny-random-csm`: a seeded, tiny, randomly initialised CSM with a tiny random Mimi and a
 * byte-level text tokenizer, all built in code (nothing to download). It exists to check
 * the pipeline of notebooks 04-06 (tokenize, train, generate, listen) on a CPU in minutes.
 *
 * It is NOT a speech model: its weights are random, so its codes are meaningless and its
 * audio is noise. The offline mini model (issue 9) replaces it as the embedded default.
 *
 * Sizes (chosen so a 30 s clip trains in well under a second per micro-batch on 2 cores):
 * - Mimi: 24 kHz, strides [8, 6, 5, 4] (960 samples per encoder step, 12.5 Hz frames like
 *   the real Mimi), 4 base filters, hidden 32, 2 transformer layers, 8 codebooks of 67 codes.
 * - CSM backbone: 2 layers, hidden 64, 4 heads / 2 KV heads (head_dim 16), FFN 128,
 *   2048 positions (a 30 s context turn + 30 s of generation fit).
 * - Depth decoder: 2 layers, hidden 48, 4 heads / 2 KV heads, FFN 96, over 8 codebooks.
 * - Audio vocabulary 67 (pad 66, end-of-audio frame all 0). Unlike CSM-1B (2048 Mimi codes +
 *   3 specials), the tiny Mimi has a code for every id of the vocabulary: a random model
 *   samples the specials often, and every frame it makes must decode.
 * - Text: 256 byte tokens + 4 specials = 260 ids.
 */
import { TextTokenizer } from '../../tokenizer';
import { MIMI_DEFAULT_CONFIG } from '../mimi/config';
import type { MimiConfig } from '../mimi/config';
import { MimiModel } from '../mimi/modeling';
import { fromHfConfig } from './config';
import type { CsmConfig } from './config';
import { CsmForConditionalGeneration } from './modeling';
import { bytesToUnicode } from '../../tokenizer/bytes';

/** The name notebooks use for this model. */
export const TINY_RANDOM_CSM = 'tiny-random-csm';

/** Said next to every output of the tiny model, so nobody mistakes its noise for a result. */
export const TINY_RANDOM_WARNING = 'tiny-random-csm has RANDOM weights: a pipeline check only. Its codes are meaningless and its audio is noise '
  + 'until the offline mini model (issue 9) exists; pick MODEL = "csm" (unsloth/csm-1b) for real speech.';

/** Codes per codebook of the tiny Mimi = the tiny CSM's audio vocabulary (see the sizes above). */
const TINY_CODEBOOK_SIZE = 67;
const TINY_NUM_CODEBOOKS = 8;

/** The tiny Mimi: the real Mimi's frame layout (24 kHz, 1920 samples per frame) with small layers. */
export const TINY_MIMI_CONFIG: MimiConfig = {
  ...MIMI_DEFAULT_CONFIG,
  hiddenSize: 32,
  numFilters: 4,
  codebookSize: TINY_CODEBOOK_SIZE,
  codebookDim: 16,
  numQuantizers: TINY_NUM_CODEBOOKS,
  vectorQuantizationHiddenDimension: 16,
  upsampleGroups: 32,
  numHiddenLayers: 2,
  intermediateSize: 64,
  numAttentionHeads: 4,
  numKeyValueHeads: 4,
  headDim: 8,
  slidingWindow: 12,
};

// Special text tokens after the 256 byte tokens, named as Llama 3's so CsmProcessor finds them.
const SPECIALS = ['<|begin_of_text|>', '<|end_of_text|>', '<|AUDIO|>', '<|audio_eos|>'] as const;
const BYTE_TOKENS = 256;
const specialId = (t: (typeof SPECIALS)[number]) => BYTE_TOKENS + SPECIALS.indexOf(t);

/** A byte-level tokenizer (one token per UTF-8 byte, no merges) with CSM's special tokens. */
export function tinyCsmTokenizer(): TextTokenizer {
  const vocab: Record<string, number> = {};
  bytesToUnicode().forEach((ch, b) => { vocab[ch] = b; });
  const json = {
    version: '1.0',
    added_tokens: SPECIALS.map((content) => ({
      id: specialId(content), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
  };
  return new TextTokenizer(json, { bos_token: SPECIALS[0], eos_token: SPECIALS[1] }, TINY_RANDOM_CSM);
}

/** The tiny CSM's config (transformers layout, read by the same parser as a checkpoint's config.json). */
export function tinyCsmConfig(): CsmConfig {
  const audioVocab = TINY_CODEBOOK_SIZE;
  return fromHfConfig({
    model_type: 'csm',
    num_codebooks: TINY_NUM_CODEBOOKS,
    vocab_size: audioVocab,
    text_vocab_size: BYTE_TOKENS + SPECIALS.length,
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 16,
    max_position_embeddings: 2048,
    codebook_pad_token_id: audioVocab - 1,
    codebook_eos_token_id: 0,
    audio_token_id: specialId('<|AUDIO|>'),
    audio_eos_token_id: specialId('<|audio_eos|>'),
    bos_token_id: specialId('<|begin_of_text|>'),
    pad_token_id: specialId('<|end_of_text|>'),
    tie_codebooks_embeddings: true,
    depth_decoder_config: {
      backbone_hidden_size: 64,
      hidden_size: 48,
      intermediate_size: 96,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 12,
      max_position_embeddings: TINY_NUM_CODEBOOKS + 1,
      num_codebooks: TINY_NUM_CODEBOOKS,
      vocab_size: audioVocab,
    },
  }, TINY_RANDOM_CSM);
}

/** The tiny CSM with seeded N(0, 0.02) weights. */
export function tinyRandomCsm(seed = 0): CsmForConditionalGeneration {
  // + 1: CsmForConditionalGeneration.random seeds tensor i with seed + i, and tfjs treats a seed of 0
  // as "no seed" (random), which would make the first tensor differ from run to run.
  return CsmForConditionalGeneration.random(tinyCsmConfig(), { seed: seed + 1 });
}

/** The tiny Mimi with seeded random weights (+ 1 for the same reason as `tinyRandomCsm`). */
export function tinyRandomMimi(seed = 0): Promise<MimiModel> {
  return MimiModel.random(TINY_MIMI_CONFIG, seed + 1);
}
