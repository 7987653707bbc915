/**
 * `tiny-random-orpheus`: a seeded, tiny, randomly initialised Orpheus (Llama + SNAC 24 kHz)
 * with a byte-level tokenizer in Orpheus' token layout, all built in code (nothing to
 * download), to check the pipeline of notebooks 04-06 on a CPU. It is NOT a speech model:
 * its weights are random, its codes meaningless and its audio noise.
 *
 * Sizes:
 * - Text: 256 byte tokens, then `<|begin_of_text|>` (256, the bos), `<|end_of_text|>` (257)
 *   and `<|eot_id|>` (258, the recipe's end_of_text): a 259-token "text vocabulary" in place
 *   of Llama-3's 128256. Past it, Orpheus' layout exactly (`orpheusLayout(259, ...)`):
 *   `<custom_token_N>` = 259 + N as Orpheus-3B's `<custom_token_N>` = 128256 + N, so
 *   start/end of speech = 260/261, start/end of human 262/263, start/end of AI 264/265,
 *   pad 266, audio from 269 = 259 + 10.
 * - SNAC: the 24 kHz layout (hop 512, vq_strides [4, 2, 1], 2048 samples = 7 codes per
 *   frame, noise blocks, depthwise convs, no attention) with small layers (encoder_dim 4,
 *   decoder_dim 64, the shape of the parity fixture `tiny24`) and a REDUCED codebook of 256
 *   codes (`TINY_ORPHEUS_CODEBOOK_SIZE`) instead of 4096, so the vocabulary is 2061 ids, not
 *   156940: a 30 s clip is 2461 tokens, and their logits over 156940 ids (1.5 GB per clip in
 *   float32) would not train on a CPU.
 * - Llama: 2 layers, hidden 64, ONE attention head (head_dim 64, one KV head), FFN 128, tied
 *   embeddings, rope theta 500000, 8192 positions (a 30 s context turn + 1200 new tokens fit).
 *   One head because Orpheus sequences are long (82 tokens per second of audio: a 32 s clip
 *   is 2673 tokens) and the attention scores grow with heads x length^2: with 4 heads a
 *   batch of 2 such clips overflowed the wasm heap, with 2 a micro-batch took ~40 s on 2 cores.
 * - Generation is constrained to whole valid frames (`constrainFrames`), since random logits
 *   never write 7 in-range tokens in a row; a real Orpheus runs unconstrained.
 */
import { TextTokenizer } from '../../tokenizer';
import { bytesToUnicode } from '../../tokenizer/bytes';
import { MemoryWeights } from '../../weights/checkpoint';
import type { MemoryTensor } from '../../weights/checkpoint';
import { Rng } from '../../generate/rng';
import { fromHfConfig } from '../llama/config';
import type { LlamaConfig } from '../llama/config';
import { LlamaForCausalLM } from '../llama/modeling';
import { SNAC_24KHZ, validateSnacConfig } from '../snac/config';
import type { SnacConfig } from '../snac/config';
import { SnacModel } from '../snac/modeling';
import { snacAsAudioCodec } from './codec';
import { OrpheusTts } from './tts';
import { layoutVocabSize, orpheusLayout } from './tokens';
import type { OrpheusLayout } from './tokens';

/** The name notebooks use for this model. */
export const TINY_RANDOM_ORPHEUS = 'tiny-random-orpheus';
/** Codes per SNAC level of the tiny model (see the file comment). */
export const TINY_ORPHEUS_CODEBOOK_SIZE = 256;

/** Said next to every output of the tiny model, so nobody mistakes its noise for a result. */
export const TINY_RANDOM_ORPHEUS_WARNING = `${TINY_RANDOM_ORPHEUS} has RANDOM weights: a pipeline check only. Its codes are meaningless `
  + `(a ${TINY_ORPHEUS_CODEBOOK_SIZE}-code SNAC, generation held to valid frames) and its audio is noise; `
  + 'pick MODEL = "orpheus" (canopylabs/orpheus-3b-0.1-ft) for real speech.';

const BYTE_TOKENS = 256;
const TEXT_SPECIALS = ['<|begin_of_text|>', '<|end_of_text|>', '<|eot_id|>'] as const;
const TINY_TOKENISER_LENGTH = BYTE_TOKENS + TEXT_SPECIALS.length;
const textSpecialId = (t: (typeof TEXT_SPECIALS)[number]) => BYTE_TOKENS + TEXT_SPECIALS.indexOf(t);

/** The tiny model's token layout: Orpheus' over a 259-token text vocabulary and 256 codes. */
export const TINY_ORPHEUS_LAYOUT: OrpheusLayout = orpheusLayout(
  TINY_TOKENISER_LENGTH, { startOfText: textSpecialId('<|begin_of_text|>'), endOfText: textSpecialId('<|eot_id|>') }, TINY_ORPHEUS_CODEBOOK_SIZE);
/** Ids of the tiny vocabulary: 259 + 10 + 7 * 256 = 2061. */
export const TINY_ORPHEUS_VOCAB_SIZE = layoutVocabSize(TINY_ORPHEUS_LAYOUT);

/** A byte-level tokenizer (no merges) that adds `<|begin_of_text|>` as Llama-3's does, with Orpheus' custom tokens. */
export function tinyOrpheusTokenizer(): TextTokenizer {
  const vocab: Record<string, number> = {};
  bytesToUnicode().forEach((ch, b) => { vocab[ch] = b; });
  const bos = TEXT_SPECIALS[0];
  const added = [
    ...TEXT_SPECIALS.map((content) => ({ id: textSpecialId(content), content })),
    ...Array.from({ length: TINY_ORPHEUS_VOCAB_SIZE - TINY_TOKENISER_LENGTH }, (_, n) => ({ id: TINY_TOKENISER_LENGTH + n, content: `<custom_token_${n}>` })),
  ].map((t) => ({ ...t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const json = {
    version: '1.0',
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    // Llama-3's post-processor: bos before every sequence (the recipe encodes text with it).
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { [bos]: { id: bos, ids: [textSpecialId(bos)], tokens: [bos] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
  };
  return new TextTokenizer(json, { bos_token: bos, eos_token: '<|eot_id|>', pad_token: `<custom_token_${TINY_ORPHEUS_LAYOUT.pad - TINY_TOKENISER_LENGTH}>` }, TINY_RANDOM_ORPHEUS);
}

/** The tiny Llama's config (transformers layout, through the checkpoint parser). */
export function tinyOrpheusConfig(): LlamaConfig {
  return fromHfConfig({
    model_type: 'llama',
    vocab_size: TINY_ORPHEUS_VOCAB_SIZE,
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 1,
    num_key_value_heads: 1,
    head_dim: 64,
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    tie_word_embeddings: true,
    bos_token_id: TINY_ORPHEUS_LAYOUT.startOfText,
    eos_token_id: TINY_ORPHEUS_LAYOUT.endOfSpeech,
    pad_token_id: TINY_ORPHEUS_LAYOUT.pad,
  }, { source: TINY_RANDOM_ORPHEUS });
}

/** The tiny SNAC: the 24 kHz frame layout with the parity fixture's small widths and 256 codes. */
export const TINY_SNAC_CONFIG: SnacConfig = {
  ...SNAC_24KHZ,
  encoderDim: 4,
  latentDim: 4 * 2 ** SNAC_24KHZ.encoderRates.length,
  decoderDim: 64,
  codebookSize: TINY_ORPHEUS_CODEBOOK_SIZE,
};

/**
 * Tensor names and torch shapes of a SNAC state dict without attention, with plain (folded)
 * conv weights: the names `SnacModel.fromWeights` reads (snac.py's module tree).
 */
export function snacWeightShapes(c: SnacConfig): Array<[string, number[]]> {
  validateSnacConfig(c);
  if (c.attnWindowSize !== null) throw new Error('snacWeightShapes: LocalMHA weights are not generated (the 24 kHz model has none)');
  const out: Array<[string, number[]]> = [];
  const conv = (name: string, cin: number, cout: number, k: number, groups = 1, bias = true) => {
    out.push([`${name}.weight`, [cout, cin / groups, k]]);
    if (bias) out.push([`${name}.bias`, [cout]]);
  };
  const snake = (name: string, ch: number) => out.push([`${name}.alpha`, [1, ch, 1]]);
  const residual = (name: string, dim: number, groups: number) => {
    snake(`${name}.block.0`, dim);
    conv(`${name}.block.1`, dim, dim, 7, groups);
    snake(`${name}.block.2`, dim);
    conv(`${name}.block.3`, dim, dim, 1);
  };
  conv('encoder.block.0', 1, c.encoderDim, 7);
  let d = c.encoderDim;
  c.encoderRates.forEach((stride, b) => {
    const name = `encoder.block.${b + 1}.block`;
    for (let r = 0; r < 3; r++) residual(`${name}.${r}`, d, c.depthwise ? d : 1);
    snake(`${name}.3`, d);
    conv(`${name}.4`, d, 2 * d, 2 * stride);
    d *= 2;
  });
  conv(`encoder.block.${c.encoderRates.length + 1}`, d, d, 7, c.depthwise ? d : 1);
  for (let i = 0; i < c.vqStrides.length; i++) {
    const name = `quantizer.quantizers.${i}`;
    conv(`${name}.in_proj`, c.latentDim, c.codebookDim, 1);
    conv(`${name}.out_proj`, c.codebookDim, c.latentDim, 1);
    out.push([`${name}.codebook.weight`, [c.codebookSize, c.codebookDim]]);
  }
  let m = 0;
  if (c.depthwise) {
    conv(`decoder.model.${m++}`, c.latentDim, c.latentDim, 7, c.latentDim);
    conv(`decoder.model.${m++}`, c.latentDim, c.decoderDim, 1);
  } else {
    conv(`decoder.model.${m++}`, c.latentDim, c.decoderDim, 7);
  }
  let outDim = c.decoderDim;
  c.decoderRates.forEach((stride, b) => {
    const inDim = c.decoderDim / 2 ** b;
    outDim = c.decoderDim / 2 ** (b + 1);
    const base = `decoder.model.${m++}.block`;
    snake(`${base}.0`, inDim);
    out.push([`${base}.1.weight`, [inDim, outDim, 2 * stride]], [`${base}.1.bias`, [outDim]]); // ConvTranspose1d: [in, out, k]
    let j = 2;
    if (c.noise) conv(`${base}.${j++}.linear`, outDim, outDim, 1, 1, false);
    for (let r = 0; r < 3; r++) residual(`${base}.${j++}`, outDim, c.depthwise ? outDim : 1);
  });
  snake(`decoder.model.${m++}`, outDim);
  conv(`decoder.model.${m++}`, outDim, 1, 7);
  return out;
}

/** Scale of the decoder's output conv: keeps the random decoder's tanh out of saturation (noise at a listenable level). */
const OUTPUT_GAIN = 0.02;

/**
 * Seeded random SNAC weights: convs N(0, 1/fan_in) (fan_in = in/groups * k, so signals keep
 * their scale; residual branches x 0.1, the output conv x OUTPUT_GAIN), biases 0, Snake
 * alpha 1 (snac.py's init), codebooks N(0, 1).
 */
export function randomSnacWeights(c: SnacConfig, seed: number): MemoryWeights {
  const rng = new Rng(seed + 1);
  const tensors: Record<string, MemoryTensor> = {};
  const shapes = snacWeightShapes(c);
  const outputConv = shapes[shapes.length - 2]![0]; // the decoder's last conv (to 1 channel), before its bias
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (name.endsWith('.alpha')) data.fill(1);
    else if (name.endsWith('.weight')) {
      const transposed = /^decoder\.model\.\d+\.block\.1\.weight$/.test(name);
      // torch conv [out, in/groups, k]; ConvTranspose1d [in, out, k] (its fan-in per output sample is in * k / stride, ~in * 2)
      const fanIn = name.endsWith('codebook.weight') ? 1 : transposed ? shape[0]! * 2 : shape[1]! * shape[2]!;
      // Residual branches (`.block.3`, the unit's last conv) start small, so 3 x 8 residual
      // units do not blow the signal up into a saturated tanh.
      const std = (/\.block\.3\.weight$/.test(name) ? 0.1 : name === outputConv ? OUTPUT_GAIN : 1) / Math.sqrt(fanIn);
      for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
    }
    tensors[name] = { shape, data };
  }
  return new MemoryWeights(tensors, `${TINY_RANDOM_ORPHEUS}-snac-seed${seed}`);
}

/** The tiny SNAC with seeded random weights. */
export function tinyRandomSnac(seed = 0): Promise<SnacModel> {
  return SnacModel.fromWeights(randomSnacWeights(TINY_SNAC_CONFIG, seed), TINY_SNAC_CONFIG);
}

/**
 * Weight std of the tiny Llama: 0.1, not Llama's 0.02. The embedding is tied and frozen under
 * LoRA, so it bounds the logits at about |h| |e| = 8 * (std * 8): 1.3 at 0.02, too flat for a
 * short LoRA run to move the loss much (notebook 05's 8 quick steps: 7.64 -> 7.46).
 */
export const TINY_ORPHEUS_INIT_STD = 0.1;

/** The tiny Llama with seeded N(0, TINY_ORPHEUS_INIT_STD) weights (+ 1: tfjs reads a seed of 0 as "unseeded"). */
export function tinyRandomOrpheusLm(seed = 0): LlamaForCausalLM {
  return LlamaForCausalLM.random(tinyOrpheusConfig(), { seed: seed + 1, std: TINY_ORPHEUS_INIT_STD });
}

/** The whole tiny model as the notebooks' TtsModel (it owns its SNAC). */
export async function tinyRandomOrpheus(seed = 0): Promise<OrpheusTts> {
  const snac = await tinyRandomSnac(seed);
  const codec = snacAsAudioCodec(snac, `snac:${TINY_RANDOM_ORPHEUS}-seed${seed}:${TINY_ORPHEUS_CODEBOOK_SIZE}`);
  return new OrpheusTts(tinyRandomOrpheusLm(seed), tinyOrpheusTokenizer(), codec, {
    name: TINY_RANDOM_ORPHEUS, baseModelNameOrPath: null, warning: TINY_RANDOM_ORPHEUS_WARNING, codecModel: snac,
    layout: TINY_ORPHEUS_LAYOUT, constrainFrames: true,
  });
}
