/**
 * WavLM configuration (transformers' `WavLMConfig`, the fields `WavLMForXVector` uses) and
 * its feature extractor's (`Wav2Vec2FeatureExtractor`, preprocessor_config.json).
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/wavlm/configuration_wavlm.py
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface WavLMConfig {
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  intermediateSize: number;
  /** Channels of each feature-encoder conv (7 x 512 in the released checkpoints). */
  convDim: number[];
  /** Kernels 10,3,3,3,3,2,2 and strides 5,2,2,2,2,2,2: one frame per 320 samples (20 ms at 16 kHz). */
  convKernel: number[];
  convStride: number[];
  convBias: boolean;
  /** "group": GroupNorm (one group per channel) on the first conv only (base models); "layer": LayerNorm after every conv (large). */
  featExtractNorm: 'group' | 'layer';
  /** Pre-LN encoder layers with a final LayerNorm (large) instead of post-LN with the norm before the layers (base). */
  doStableLayerNorm: boolean;
  /** Positional conv kernel (128); an even kernel drops one output frame to keep the length. */
  numConvPosEmbeddings: number;
  numConvPosEmbeddingGroups: number;
  /** Relative position buckets of the first layer's bias table (320), log-spaced up to `maxBucketDistance` (800 frames). */
  numBuckets: number;
  maxBucketDistance: number;
  layerNormEps: number;
  /** Softmax-weighted sum of the embedding output and every layer's (the -sv checkpoints), else the last layer. */
  useWeightedLayerSum: boolean;
  /** x-vector TDNN: channels, kernels and dilations per layer (512,512,512,512,1500 / 5,3,3,1,1 / 1,2,3,1,1). */
  tdnnDim: number[];
  tdnnKernel: number[];
  tdnnDilation: number[];
  /** Embedding size (512). */
  xvectorOutputDim: number;
}

/** The feature extractor's settings that change the model's input. */
export interface WavLMFeatureExtractorConfig {
  /** Hz (16000). */
  samplingRate: number;
  /** Zero mean, unit variance per clip before the model: `(x - mean) / sqrt(var + 1e-7)`. */
  doNormalize: boolean;
}

/** The activation names the port implements (both GELU, exact, as in the released checkpoints). */
const SUPPORTED_ACTIVATIONS = ['gelu'];

type Json = Record<string, unknown>;

function num(c: Json, key: string, fallback?: number): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`WavLM config: ${key} must be a number, got ${JSON.stringify(c[key])}`);
  return v;
}

function nums(c: Json, key: string): number[] {
  const v = c[key];
  if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x) && x > 0)) throw new Error(`WavLM config: ${key} must be a list of positive integers, got ${JSON.stringify(v)}`);
  return v as number[];
}

/** Reads transformers' config.json fields (unknown keys are ignored; defaults are WavLMConfig's). */
export function wavlmConfigFromHf(c: Json): WavLMConfig {
  for (const key of ['hidden_act', 'feat_extract_activation']) {
    const act = c[key] ?? 'gelu';
    if (!SUPPORTED_ACTIVATIONS.includes(act as string)) throw new Error(`WavLM config: ${key} ${JSON.stringify(act)} is not supported (only ${SUPPORTED_ACTIVATIONS.join(', ')})`);
  }
  if (c.add_adapter) throw new Error('WavLM config: add_adapter is true; the adapter (a CTC-only module) is not supported');
  const norm = c.feat_extract_norm ?? 'group';
  if (norm !== 'group' && norm !== 'layer') throw new Error(`WavLM config: feat_extract_norm must be "group" or "layer", got ${JSON.stringify(norm)}`);
  const config: WavLMConfig = {
    hiddenSize: num(c, 'hidden_size', 768),
    numHiddenLayers: num(c, 'num_hidden_layers', 12),
    numAttentionHeads: num(c, 'num_attention_heads', 12),
    intermediateSize: num(c, 'intermediate_size', 3072),
    convDim: nums(c, 'conv_dim'),
    convKernel: nums(c, 'conv_kernel'),
    convStride: nums(c, 'conv_stride'),
    convBias: Boolean(c.conv_bias ?? false),
    featExtractNorm: norm,
    doStableLayerNorm: Boolean(c.do_stable_layer_norm ?? false),
    numConvPosEmbeddings: num(c, 'num_conv_pos_embeddings', 128),
    numConvPosEmbeddingGroups: num(c, 'num_conv_pos_embedding_groups', 16),
    numBuckets: num(c, 'num_buckets', 320),
    maxBucketDistance: num(c, 'max_bucket_distance', 800),
    layerNormEps: num(c, 'layer_norm_eps', 1e-5),
    useWeightedLayerSum: Boolean(c.use_weighted_layer_sum ?? false),
    tdnnDim: nums(c, 'tdnn_dim'),
    tdnnKernel: nums(c, 'tdnn_kernel'),
    tdnnDilation: nums(c, 'tdnn_dilation'),
    xvectorOutputDim: num(c, 'xvector_output_dim', 512),
  };
  validateWavLMConfig(config);
  return config;
}

export function validateWavLMConfig(c: WavLMConfig): void {
  const layers = c.convDim.length;
  if (c.convKernel.length !== layers || c.convStride.length !== layers) {
    throw new Error(`WavLM config: conv_dim, conv_kernel and conv_stride must have one entry per layer, got ${layers}, ${c.convKernel.length}, ${c.convStride.length}`);
  }
  if (c.hiddenSize % c.numAttentionHeads !== 0) throw new Error(`WavLM config: hidden_size ${c.hiddenSize} is not divisible by num_attention_heads ${c.numAttentionHeads}`);
  if (c.hiddenSize % c.numConvPosEmbeddingGroups !== 0) {
    throw new Error(`WavLM config: hidden_size ${c.hiddenSize} is not divisible by num_conv_pos_embedding_groups ${c.numConvPosEmbeddingGroups}`);
  }
  if (c.tdnnKernel.length !== c.tdnnDim.length || c.tdnnDilation.length !== c.tdnnDim.length) {
    throw new Error(`WavLM config: tdnn_dim, tdnn_kernel and tdnn_dilation must have equal lengths, got ${c.tdnnDim.length}, ${c.tdnnKernel.length}, ${c.tdnnDilation.length}`);
  }
  if (c.numBuckets < 4 || c.maxBucketDistance <= c.numBuckets / 4) {
    throw new Error(`WavLM config: num_buckets ${c.numBuckets} / max_bucket_distance ${c.maxBucketDistance} leave no log-spaced buckets`);
  }
}

/** Reads preprocessor_config.json fields (defaults are Wav2Vec2FeatureExtractor's). */
export function wavlmFeatureExtractorFromHf(c: Json): WavLMFeatureExtractorConfig {
  return { samplingRate: num(c, 'sampling_rate', 16000), doNormalize: Boolean(c.do_normalize ?? true) };
}

/** config.json and (when present) preprocessor_config.json of a checkpoint folder. */
export async function loadWavLMConfigs(dir: string): Promise<{ config: WavLMConfig; featureExtractor: WavLMFeatureExtractorConfig }> {
  const configPath = join(dir, 'config.json');
  let raw: Json;
  try {
    raw = JSON.parse(await readFile(configPath, 'utf8')) as Json;
  } catch (e) {
    throw new Error(`${configPath}: cannot read the WavLM config (${(e as Error).message})`);
  }
  if (raw.model_type !== undefined && raw.model_type !== 'wavlm') throw new Error(`${configPath}: model_type is ${JSON.stringify(raw.model_type)}, expected "wavlm"`);
  let fe: Json = {};
  try {
    fe = JSON.parse(await readFile(join(dir, 'preprocessor_config.json'), 'utf8')) as Json;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${join(dir, 'preprocessor_config.json')}: ${(e as Error).message}`);
  }
  return { config: wavlmConfigFromHf(raw), featureExtractor: wavlmFeatureExtractorFromHf(fe) };
}
