/**
 * `tiny-random-llasa`: a seeded, tiny, randomly initialised Llama with Llasa's token layout
 * and a byte-level tokenizer with Llasa's markers, built in code (nothing to download), to
 * check the pipeline of notebooks 04-06 on a CPU. It is NOT a speech model: random weights.
 *
 * Sizes:
 * - Text: 256 byte tokens + 5 Llama-3 specials (<|begin_of_text|>, <|end_of_text|>,
 *   <|start_header_id|>, <|end_header_id|>, <|eot_id|>), then the 8 Llasa markers, then
 *   `<|s_N|>` - the same order as the real vocabulary, shorter.
 * - Speech: a REDUCED codebook of 1024 codes (`TINY_LLASA_SPEECH_TOKENS`), not XCodec2's
 *   65536: a 193800-row embedding would dominate the tiny model (12 M parameters at width 64)
 *   and its logits. Its codec must have 1024 codes (XCodec2's FSQ cannot; a tiny codec
 *   for it is still to be written with the XCodec2 port).
 * - Llama: 2 layers, hidden 64, 4 heads / 2 KV heads (head_dim 16), FFN 128, tied
 *   embeddings (as Llasa-1B), rope theta 500000, 2048 positions (LLASA_MAX_LENGTH).
 * - Chat template: Llama-3.2's, shortened to the part Llasa uses (system header with
 *   `date_string`, then `<|start_header_id|>role<|end_header_id|>\n\n content|trim <|eot_id|>`
 *   per message); for user/assistant chats it renders what the full template renders (tested).
 */
import { TextTokenizer } from '../../tokenizer';
import { fromHfConfig } from '../llama/config';
import type { LlamaConfig } from '../llama/config';
import { LlamaForCausalLM } from '../llama/modeling';
import type { AudioCodec } from '../types';
import { LLASA_MAX_LENGTH } from './generation';
import { LlasaProcessor } from './processor';
import { LLASA_MARKERS, markerToken, speechTokenText } from './tokens';
import { LlasaTts } from './tts';
import { bytesToUnicode } from '../../tokenizer/bytes';

/** The name notebooks use for this model. */
export const TINY_RANDOM_LLASA = 'tiny-random-llasa';
/** Speech codes of the tiny model (see the file comment). */
export const TINY_LLASA_SPEECH_TOKENS = 1024;

export const TINY_RANDOM_LLASA_WARNING = `${TINY_RANDOM_LLASA} has RANDOM weights and a ${TINY_LLASA_SPEECH_TOKENS}-code speech vocabulary: `
  + 'a pipeline check only; its codes are meaningless. Pick HKUSTAudio/Llasa-1B for real speech.';

const BYTE_TOKENS = 256;
const SPECIALS = ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'] as const;
const MARKERS_START = BYTE_TOKENS + SPECIALS.length;
const SPEECH_START = MARKERS_START + LLASA_MARKERS.length;
/** Ids of the tiny vocabulary. */
export const TINY_LLASA_VOCAB_SIZE = SPEECH_START + TINY_LLASA_SPEECH_TOKENS;

/** Llama-3.2-Instruct's chat template restricted to messages without tools or a system turn. */
export const TINY_LLASA_CHAT_TEMPLATE = '{{- bos_token }}'
  + '{%- if not date_string is defined %}{%- if strftime_now is defined %}{%- set date_string = strftime_now("%d %b %Y") %}'
  + '{%- else %}{%- set date_string = "26 Jul 2024" %}{%- endif %}{%- endif %}'
  + '{{- "<|start_header_id|>system<|end_header_id|>\\n\\nCutting Knowledge Date: December 2023\\nToday Date: " + date_string + "\\n\\n<|eot_id|>" }}'
  + "{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}"
  + "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";

/** The tiny model's tokenizer: one token per UTF-8 byte, Llama-3 specials, Llasa markers and 1024 speech tokens. */
export function tinyLlasaTokenizer(): TextTokenizer {
  const vocab: Record<string, number> = {};
  bytesToUnicode().forEach((ch, b) => { vocab[ch] = b; });
  const added = [
    ...SPECIALS.map((content, i) => ({ id: BYTE_TOKENS + i, content, special: true, normalized: false })),
    // Added as the training script adds them: plain (not special) tokens.
    ...LLASA_MARKERS.map((m, i) => ({ id: MARKERS_START + i, content: markerToken(m), special: false, normalized: true })),
    ...Array.from({ length: TINY_LLASA_SPEECH_TOKENS }, (_, n) => ({ id: SPEECH_START + n, content: speechTokenText(n), special: false, normalized: true })),
  ].map((t) => ({ ...t, single_word: false, lstrip: false, rstrip: false }));
  const json = {
    version: '1.0',
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
  };
  // pad = eos = <|eot_id|>, as Llasa's training script sets it.
  return new TextTokenizer(json, { bos_token: SPECIALS[0], eos_token: '<|eot_id|>', pad_token: '<|eot_id|>', chat_template: TINY_LLASA_CHAT_TEMPLATE }, TINY_RANDOM_LLASA);
}

/** The tiny model's config (transformers layout, through the checkpoint parser). */
export function tinyLlasaConfig(): LlamaConfig {
  return fromHfConfig({
    model_type: 'llama',
    vocab_size: TINY_LLASA_VOCAB_SIZE,
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 16,
    max_position_embeddings: LLASA_MAX_LENGTH,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    tie_word_embeddings: true,
    bos_token_id: BYTE_TOKENS,
    eos_token_id: BYTE_TOKENS + SPECIALS.indexOf('<|eot_id|>'),
    pad_token_id: BYTE_TOKENS + SPECIALS.indexOf('<|eot_id|>'),
  }, { source: TINY_RANDOM_LLASA });
}

/** The tiny Llama with seeded N(0, 0.02) weights (+ 1: tfjs reads a seed of 0 as "unseeded"). */
export function tinyRandomLlasaLm(seed = 0): LlamaForCausalLM {
  return LlamaForCausalLM.random(tinyLlasaConfig(), { seed: seed + 1 });
}

/**
 * The tiny model as a TtsModel over `codec` (one codebook of 1024 codes). Non-speech tokens
 * it generates are skipped and reported, never decoded.
 */
export function tinyRandomLlasa(codec: AudioCodec, seed = 0): LlasaTts {
  const processor = new LlasaProcessor(tinyLlasaTokenizer());
  return new LlasaTts(tinyRandomLlasaLm(seed), processor, codec, {
    name: TINY_RANDOM_LLASA, baseModelNameOrPath: null, warning: TINY_RANDOM_LLASA_WARNING, onInvalidSpeech: 'skip',
  });
}
