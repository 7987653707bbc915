/**
 * w2v-BERT 2.0 configuration: a typed view of transformers' `Wav2Vec2BertConfig`
 * (`facebook/w2v-bert-2.0`), limited to what the encoder stack reads (no adapter, no heads).
 */

export interface W2vBertConfig {
  /** 1024 */
  hiddenSize: number;
  /** 24 in facebook/w2v-bert-2.0 (XCodec2 reads the output of layer 16). */
  numHiddenLayers: number;
  /** 16 */
  numAttentionHeads: number;
  /** 4096 */
  intermediateSize: number;
  /** Input feature width: 80 mel bins x stride 2 = 160. */
  featureProjectionInputDim: number;
  /** 1e-5 */
  layerNormEps: number;
  /** Relative-key attention: distances clamped to [-left, right] (64, 8). */
  leftMaxPositionEmbeddings: number;
  rightMaxPositionEmbeddings: number;
  /** Causal depthwise convolution of the conformer module (31). */
  convDepthwiseKernelSize: number;
}

/** facebook/w2v-bert-2.0's config.json. */
export const W2VBERT_DEFAULT_CONFIG: Readonly<W2vBertConfig> = Object.freeze({
  hiddenSize: 1024,
  numHiddenLayers: 24,
  numAttentionHeads: 16,
  intermediateSize: 4096,
  featureProjectionInputDim: 160,
  layerNormEps: 1e-5,
  leftMaxPositionEmbeddings: 64,
  rightMaxPositionEmbeddings: 8,
  convDepthwiseKernelSize: 31,
});

export function validateW2vBertConfig(c: W2vBertConfig, source = 'W2vBertConfig'): W2vBertConfig {
  const fail = (field: string, v: unknown, why: string): never => {
    throw new Error(`${source}: ${field} ${why}, got ${JSON.stringify(v)}`);
  };
  for (const f of ['hiddenSize', 'numHiddenLayers', 'numAttentionHeads', 'intermediateSize', 'featureProjectionInputDim', 'convDepthwiseKernelSize'] as const) {
    if (!(Number.isInteger(c[f]) && c[f] >= 1)) fail(f, c[f], 'must be an integer >= 1');
  }
  for (const f of ['leftMaxPositionEmbeddings', 'rightMaxPositionEmbeddings'] as const) {
    if (!(Number.isInteger(c[f]) && c[f] >= 0)) fail(f, c[f], 'must be an integer >= 0');
  }
  if (c.hiddenSize % c.numAttentionHeads !== 0) fail('hiddenSize', c.hiddenSize, `must be a multiple of numAttentionHeads (${c.numAttentionHeads})`);
  if (c.convDepthwiseKernelSize % 2 !== 1) fail('convDepthwiseKernelSize', c.convDepthwiseKernelSize, 'must be odd (as transformers requires)');
  if (!(c.layerNormEps > 0)) fail('layerNormEps', c.layerNormEps, 'must be > 0');
  return c;
}

/**
 * Reads a transformers `config.json` of model_type "wav2vec2-bert" (also XCodec2's nested
 * `semantic_model_config`). What this port does not implement is refused by name: other
 * position embeddings than "relative_key", activations other than swish, the adapter.
 */
export function w2vBertConfigFromHf(json: unknown, source = 'config.json'): W2vBertConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${source}: expected a JSON object`);
  const o = json as Record<string, unknown>;
  if (o.model_type !== undefined && o.model_type !== 'wav2vec2-bert') throw new Error(`${source}: model_type must be "wav2vec2-bert", got ${JSON.stringify(o.model_type)}`);
  const pos = o.position_embeddings_type ?? 'relative_key';
  if (pos !== 'relative_key') throw new Error(`${source}: position_embeddings_type ${JSON.stringify(pos)} is not supported (w2v-BERT 2.0 uses "relative_key")`);
  const act = o.hidden_act ?? 'swish';
  if (act !== 'swish' && act !== 'silu') throw new Error(`${source}: hidden_act ${JSON.stringify(act)} is not supported (w2v-BERT 2.0 uses "swish")`);
  if (o.add_adapter === true) throw new Error(`${source}: add_adapter true is not supported (XCodec2 reads the encoder's hidden states)`);
  if (o.use_intermediate_ffn_before_adapter === true) throw new Error(`${source}: use_intermediate_ffn_before_adapter true is not supported`);
  const d = W2VBERT_DEFAULT_CONFIG;
  const num = (k: string, fallback: number): number => (o[k] === undefined || o[k] === null ? fallback : (o[k] as number));
  return validateW2vBertConfig({
    hiddenSize: num('hidden_size', d.hiddenSize),
    numHiddenLayers: num('num_hidden_layers', d.numHiddenLayers),
    numAttentionHeads: num('num_attention_heads', d.numAttentionHeads),
    intermediateSize: num('intermediate_size', d.intermediateSize),
    featureProjectionInputDim: num('feature_projection_input_dim', d.featureProjectionInputDim),
    layerNormEps: num('layer_norm_eps', d.layerNormEps),
    leftMaxPositionEmbeddings: num('left_max_position_embeddings', d.leftMaxPositionEmbeddings),
    rightMaxPositionEmbeddings: num('right_max_position_embeddings', d.rightMaxPositionEmbeddings),
    convDepthwiseKernelSize: num('conv_depthwise_kernel_size', d.convDepthwiseKernelSize),
  }, source);
}
