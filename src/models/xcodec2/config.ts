/**
 * XCodec2 configuration: a typed view of the `config.json` of transformers' `Xcodec2Model`
 * (the `HKUSTAudio/xcodec2-hf` layout): the decoder, the quantizer, the acoustic encoder and
 * the w2v-BERT 2.0 semantic model (`semantic_model_config`).
 */
import { W2VBERT_DEFAULT_CONFIG, validateW2vBertConfig, w2vBertConfigFromHf } from '../w2vbert/config';
import type { W2vBertConfig } from '../w2vbert/config';

export interface Xcodec2Config {
  /** Width of the decoder's backbone (1024). */
  hiddenSize: number;
  /** Width of the transformer MLP (4096; fc1 -> SiLU -> fc2, not gated). */
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  /** RMSNorm epsilon of the transformer layers (1e-6). */
  rmsNormEps: number;
  /** Width of the semantic (w2v-BERT 2.0) features the encoder concatenates (1024). */
  semanticHiddenSize: number;
  /** Width of the quantizer's output = hiddenSize + semanticHiddenSize (2048). */
  quantizationDim: number;
  /** FSQ levels per dimension ([4, 4, 4, 4, 4, 4, 4, 4]: 4^8 = 65536 codes). */
  quantizationLevels: number[];
  /** Encoder strides ([2, 2, 4, 4, 5]); their product is the hop (320 samples = 20 ms). */
  downsamplingRatios: number[];
  /** Hz (16000). */
  samplingRate: number;
  /** Channels of the acoustic encoder's first conv (48); doubled by each of its strided blocks. */
  encoderHiddenSize: number;
  /**
   * The semantic model: w2v-BERT 2.0 cut to the 16 layers XCodec2 reads (its output is the
   * original's `hidden_states[16]`). `hiddenSize` must equal `semanticHiddenSize`.
   */
  semanticModel: W2vBertConfig;
}

/** The HKUSTAudio/xcodec2-hf checkpoint's config (transformers' Xcodec2Config defaults). */
export const XCODEC2_DEFAULT_CONFIG: Readonly<Xcodec2Config> = Object.freeze({
  hiddenSize: 1024,
  intermediateSize: 4096,
  numHiddenLayers: 12,
  numAttentionHeads: 16,
  numKeyValueHeads: 16,
  headDim: 64,
  rmsNormEps: 1e-6,
  semanticHiddenSize: 1024,
  quantizationDim: 2048,
  quantizationLevels: [4, 4, 4, 4, 4, 4, 4, 4],
  downsamplingRatios: [2, 2, 4, 4, 5],
  samplingRate: 16000,
  encoderHiddenSize: 48,
  semanticModel: Object.freeze({ ...W2VBERT_DEFAULT_CONFIG, numHiddenLayers: 16 }),
});

/** Samples per code frame: the product of the encoder strides (320). */
export function xcodec2HopLength(c: Pick<Xcodec2Config, 'downsamplingRatios'>): number {
  return c.downsamplingRatios.reduce((a, b) => a * b, 1);
}

/** FFT size of the ISTFT head: 4 hops (1280), as transformers' `Xcodec2Config.n_fft`. */
export function xcodec2NFft(c: Pick<Xcodec2Config, 'downsamplingRatios'>): number {
  return 4 * xcodec2HopLength(c);
}

/** Codes of the FSQ codebook: the product of the levels (65536). */
export function xcodec2CodebookSize(c: Pick<Xcodec2Config, 'quantizationLevels'>): number {
  return c.quantizationLevels.reduce((a, b) => a * b, 1);
}

/** Throws naming the field and value of anything the port does not support. */
export function validateXcodec2Config(c: Xcodec2Config, source = 'Xcodec2Config'): Xcodec2Config {
  const fail = (field: string, v: unknown, why: string): never => {
    throw new Error(`${source}: ${field} ${why}, got ${JSON.stringify(v)}`);
  };
  for (const f of ['hiddenSize', 'intermediateSize', 'numHiddenLayers', 'numAttentionHeads', 'numKeyValueHeads', 'headDim', 'semanticHiddenSize', 'quantizationDim', 'samplingRate', 'encoderHiddenSize'] as const) {
    if (!(Number.isInteger(c[f]) && c[f] >= 1)) fail(f, c[f], 'must be an integer >= 1');
  }
  if (!(c.rmsNormEps > 0)) fail('rmsNormEps', c.rmsNormEps, 'must be > 0');
  // GroupNorm(32) in the ResNet blocks.
  if (c.hiddenSize % 32 !== 0) fail('hiddenSize', c.hiddenSize, 'must be a multiple of 32 (the ResNet blocks GroupNorm in 32 groups)');
  if (c.quantizationDim !== c.hiddenSize + c.semanticHiddenSize) {
    fail('quantizationDim', c.quantizationDim, `must equal hiddenSize + semanticHiddenSize (${c.hiddenSize + c.semanticHiddenSize}): the decoder's fc reads the quantizer's output`);
  }
  validateW2vBertConfig(c.semanticModel, `${source}.semanticModel`);
  if (c.semanticModel.hiddenSize !== c.semanticHiddenSize) {
    fail('semanticModel.hiddenSize', c.semanticModel.hiddenSize, `must equal semanticHiddenSize (${c.semanticHiddenSize})`);
  }
  if (c.numAttentionHeads % c.numKeyValueHeads !== 0) fail('numKeyValueHeads', c.numKeyValueHeads, `must divide numAttentionHeads (${c.numAttentionHeads})`);
  if (!(Array.isArray(c.quantizationLevels) && c.quantizationLevels.length > 0 && c.quantizationLevels.every((l) => Number.isInteger(l) && l >= 2))) {
    fail('quantizationLevels', c.quantizationLevels, 'must be a non-empty list of integers >= 2');
  }
  if (!(Array.isArray(c.downsamplingRatios) && c.downsamplingRatios.length > 0 && c.downsamplingRatios.every((r) => Number.isInteger(r) && r >= 1))) {
    fail('downsamplingRatios', c.downsamplingRatios, 'must be a non-empty list of integers >= 1');
  }
  return c;
}

/** Reads a transformers `config.json` of model_type "xcodec2"; unknown keys are ignored. */
export function xcodec2ConfigFromHf(json: unknown, source = 'config.json'): Xcodec2Config {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${source}: expected a JSON object`);
  const o = json as Record<string, unknown>;
  if (o.model_type !== undefined && o.model_type !== 'xcodec2') throw new Error(`${source}: model_type must be "xcodec2", got ${JSON.stringify(o.model_type)}`);
  if (o.hidden_act !== undefined && o.hidden_act !== 'silu') throw new Error(`${source}: hidden_act ${JSON.stringify(o.hidden_act)} is not supported (XCodec2 uses "silu")`);
  if (o.attention_bias === true) throw new Error(`${source}: attention_bias true is not supported (XCodec2 has none)`);
  const d = XCODEC2_DEFAULT_CONFIG;
  const num = (k: string, fallback: number): number => (o[k] === undefined || o[k] === null ? fallback : (o[k] as number));
  const semantic = (o.semantic_model_config ?? {}) as Record<string, unknown>;
  // No semantic_model_config: transformers' default, wav2vec2-bert with 16 layers (Xcodec2Config.__post_init__);
  // a given one without num_hidden_layers gets Wav2Vec2BertConfig's 24, as in transformers.
  const semanticModel = o.semantic_model_config === undefined || o.semantic_model_config === null
    ? { ...d.semanticModel }
    : w2vBertConfigFromHf(semantic, `${source}: semantic_model_config`);
  const hiddenSize = num('hidden_size', d.hiddenSize);
  const numAttentionHeads = num('num_attention_heads', d.numAttentionHeads);
  return validateXcodec2Config({
    hiddenSize,
    intermediateSize: num('intermediate_size', d.intermediateSize),
    numHiddenLayers: num('num_hidden_layers', d.numHiddenLayers),
    numAttentionHeads,
    // transformers' defaults (16 KV heads, head_dim 64) apply when a key is absent, as in Xcodec2Config.
    numKeyValueHeads: num('num_key_value_heads', d.numKeyValueHeads),
    headDim: num('head_dim', d.headDim),
    rmsNormEps: num('rms_norm_eps', d.rmsNormEps),
    semanticHiddenSize: typeof semantic.hidden_size === 'number' ? semantic.hidden_size : d.semanticHiddenSize,
    quantizationDim: num('quantization_dim', d.quantizationDim),
    quantizationLevels: (o.quantization_levels as number[] | undefined) ?? [...d.quantizationLevels],
    downsamplingRatios: (o.downsampling_ratios as number[] | undefined) ?? [...d.downsamplingRatios],
    samplingRate: num('sampling_rate', d.samplingRate),
    encoderHiddenSize: num('encoder_hidden_size', d.encoderHiddenSize),
    semanticModel,
  }, source);
}
