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
 *   and its logits. Its codec (`tinyRandomXcodec2`) is a random XCodec2 with FSQ levels
 *   [4, 4, 4, 4, 4] = 1024 codes and the real frame layout (16 kHz, 320 samples per code):
 *   encoder (1-layer w2v-BERT of width 64 + acoustic encoder of widths 2..64) and decoder
 *   (width 64, 1 transformer layer), see `TINY_XCODEC2_CONFIG`.
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
import { W2VBERT_DEFAULT_CONFIG } from '../w2vbert/config';
import { XCODEC2_DEFAULT_CONFIG, xcodec2CodebookSize } from '../xcodec2/config';
import type { Xcodec2Config } from '../xcodec2/config';
import { Xcodec2Codec } from '../xcodec2/codec';

/** The name notebooks use for this model. */
export const TINY_RANDOM_LLASA = 'tiny-random-llasa';
/** Speech codes of the tiny model (see the file comment). */
export const TINY_LLASA_SPEECH_TOKENS = 1024;

export const TINY_RANDOM_LLASA_WARNING = `${TINY_RANDOM_LLASA} has RANDOM weights: a pipeline check only `
  + `(a ${TINY_LLASA_SPEECH_TOKENS}-code speech vocabulary and a random XCodec2: its codes and audio are meaningless). Pick HKUSTAudio/Llasa-1B for real speech.`;

/**
 * The tiny model's codec: XCodec2's real frame layout (16 kHz, strides [2, 2, 4, 4, 5] = 320
 * samples per code, n_fft 1280) with FSQ levels [4, 4, 4, 4, 4] (1024 codes), widths 64,
 * acoustic encoder channels 2..64, 1 decoder transformer layer, a 1-layer w2v-BERT of width 64.
 */
export const TINY_XCODEC2_CONFIG: Readonly<Xcodec2Config> = Object.freeze({
  ...XCODEC2_DEFAULT_CONFIG,
  hiddenSize: 64,
  intermediateSize: 128,
  numHiddenLayers: 1,
  numAttentionHeads: 4,
  numKeyValueHeads: 4,
  headDim: 16,
  semanticHiddenSize: 64,
  quantizationDim: 128,
  quantizationLevels: [4, 4, 4, 4, 4],
  encoderHiddenSize: 2,
  semanticModel: Object.freeze({ ...W2VBERT_DEFAULT_CONFIG, hiddenSize: 64, numHiddenLayers: 1, numAttentionHeads: 4, intermediateSize: 128 }),
});


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

/** The tiny model's random XCodec2 (encoder and decoder, `TINY_XCODEC2_CONFIG`), seeded. */
export function tinyRandomXcodec2(seed = 0): Promise<Xcodec2Codec> {
  return Xcodec2Codec.random(TINY_XCODEC2_CONFIG, seed);
}

/**
 * `tiny-random-llasa` for notebooks 04-06: the tiny random Llasa with its tiny random XCodec2
 * as the codec (both seeded by `seed`), everything built in code. The LlasaTts owns the codec.
 */
export async function tinyRandomLlasaTts(seed = 0): Promise<LlasaTts> {
  const codec = await tinyRandomXcodec2(seed);
  if (codec.codebookSize !== TINY_LLASA_SPEECH_TOKENS) {
    codec.dispose();
    throw new Error(`tiny XCodec2 has ${codec.codebookSize} codes, the tiny Llasa ${TINY_LLASA_SPEECH_TOKENS} speech tokens`);
  }
  const processor = new LlasaProcessor(tinyLlasaTokenizer());
  return new LlasaTts(tinyRandomLlasaLm(seed), processor, codec.asAudioCodec(`${TINY_RANDOM_LLASA}-seed${seed}`), {
    name: TINY_RANDOM_LLASA, baseModelNameOrPath: null, warning: TINY_RANDOM_LLASA_WARNING, onInvalidSpeech: 'skip',
    codecModel: codec, codebookSize: xcodec2CodebookSize(TINY_XCODEC2_CONFIG),
  });
}
