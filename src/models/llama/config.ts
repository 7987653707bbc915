/**
 * Llama configuration: a typed, validated view of a Hugging Face `config.json`.
 *
 * `fromHfConfig` reads both layouts in the wild: transformers 4.x (`rope_theta` +
 * `rope_scaling`, as the Llama 3.2 / Orpheus / Llasa checkpoints on the Hub are saved)
 * and transformers 5.x (`rope_parameters`). Keys it does not know are ignored; a bad
 * value throws an error naming the file, field and value.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RopeScaling } from '../common/rotary';

export interface LlamaConfig {
  /** Token embedding rows and logits columns. */
  vocabSize: number;
  /** Width of the residual stream. */
  hiddenSize: number;
  /** Width of the SwiGLU hidden layer. */
  intermediateSize: number;
  numHiddenLayers: number;
  /** Query heads. */
  numAttentionHeads: number;
  /** Key/value heads (GQA); equals numAttentionHeads for plain multi-head attention. */
  numKeyValueHeads: number;
  /** Per-head width; HF defaults it to hiddenSize / numAttentionHeads. */
  headDim: number;
  /** Longest context the checkpoint claims; generation checks against it. */
  maxPositionEmbeddings: number;
  /** RMSNorm epsilon (1e-5 for Llama 3, 1e-6 for Llama 2). */
  rmsNormEps: number;
  /** RoPE base theta (500000 for Llama 3). */
  ropeTheta: number;
  ropeScaling: RopeScaling;
  /** lm_head shares the token embedding matrix (Llama 3.2 1B/3B). */
  tieWordEmbeddings: boolean;
  /** q/k/v/o projections have biases (false for every Llama we target). */
  attentionBias: boolean;
  /** gate/up/down projections have biases. */
  mlpBias: boolean;
  bosTokenId: number | null;
  /** Stop tokens from the config (HF allows an int or a list). */
  eosTokenIds: number[];
  padTokenId: number | null;
  /** The parsed config.json, kept so a merged export writes back what it read. */
  hf?: Record<string, unknown>;
}

/** Llama-3.2-1B (also the CSM-1B backbone shape); vocabulary of Llama 3. */
export const LLAMA_3_2_1B: LlamaConfig = {
  vocabSize: 128256,
  hiddenSize: 2048,
  intermediateSize: 8192,
  numHiddenLayers: 16,
  numAttentionHeads: 32,
  numKeyValueHeads: 8,
  headDim: 64,
  maxPositionEmbeddings: 131072,
  rmsNormEps: 1e-5,
  ropeTheta: 500000,
  ropeScaling: { ropeType: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
  tieWordEmbeddings: true,
  attentionBias: false,
  mlpBias: false,
  bosTokenId: 128000,
  eosTokenIds: [128001],
  padTokenId: null,
};

export interface FromHfConfigOptions {
  /** Named in errors (a file path, or a repo id). */
  source?: string;
  /**
   * Accepted `model_type` values; a config without one is accepted. Default `['llama']`;
   * CSM passes its sub-config types.
   */
  modelTypes?: string[];
}

class ConfigReader {
  constructor(
    private readonly obj: Record<string, unknown>,
    private readonly source: string,
  ) {}

  fail(field: string, value: unknown, why: string): never {
    throw new Error(`${this.source}: ${field} ${why}, got ${JSON.stringify(value)}`);
  }

  has(field: string): boolean {
    return this.obj[field] !== undefined && this.obj[field] !== null;
  }

  int(field: string, fallback?: number, min = 1): number {
    const v = this.has(field) ? this.obj[field] : fallback;
    if (v === undefined) this.fail(field, this.obj[field], 'is required');
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) this.fail(field, v, `must be an integer >= ${min}`);
    return v;
  }

  positive(field: string, fallback?: number): number {
    const v = this.has(field) ? this.obj[field] : fallback;
    if (v === undefined) this.fail(field, this.obj[field], 'is required');
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) this.fail(field, v, 'must be a finite number > 0');
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.has(field) ? this.obj[field] : fallback;
    if (typeof v !== 'boolean') this.fail(field, v, 'must be true or false');
    return v;
  }

  tokenIds(field: string): number[] {
    const v = this.obj[field];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    for (const x of list) if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) this.fail(field, v, 'must be a token id or a list of token ids');
    return list as number[];
  }
}

function readRope(r: ConfigReader, obj: Record<string, unknown>, source: string): { theta: number; scaling: RopeScaling } {
  // transformers 5: rope_parameters {rope_type, rope_theta, ...}; 4.x: rope_theta + rope_scaling {rope_type|type, ...}.
  const v5 = obj.rope_parameters;
  let params: Record<string, unknown> | null;
  let field: string;
  let theta: number;
  if (v5 !== undefined && v5 !== null) {
    field = 'rope_parameters';
    if (typeof v5 !== 'object' || Array.isArray(v5)) r.fail(field, v5, 'must be an object');
    params = v5 as Record<string, unknown>;
    theta = new ConfigReader(params, source).positive('rope_theta', typeof obj.rope_theta === 'number' ? obj.rope_theta : 10000);
  } else {
    field = 'rope_scaling';
    theta = r.positive('rope_theta', 10000);
    const s = obj.rope_scaling;
    if (s !== undefined && s !== null && (typeof s !== 'object' || Array.isArray(s))) r.fail(field, s, 'must be an object or null');
    params = (s as Record<string, unknown> | null | undefined) ?? null;
  }
  const type = params ? (params.rope_type ?? params.type ?? 'default') : 'default';
  if (type === 'default') return { theta, scaling: { ropeType: 'default' } };
  if (type !== 'llama3') {
    r.fail(`${field}.rope_type`, type, 'is not supported (ttslab implements "default" and "llama3")');
  }
  const p = new ConfigReader(params!, source);
  const scaling: RopeScaling = {
    ropeType: 'llama3',
    factor: p.positive('factor'),
    lowFreqFactor: p.positive('low_freq_factor'),
    highFreqFactor: p.positive('high_freq_factor'),
    originalMaxPositionEmbeddings: p.int('original_max_position_embeddings'),
  };
  if (!(scaling.highFreqFactor > scaling.lowFreqFactor)) {
    r.fail(`${field}.high_freq_factor`, scaling.highFreqFactor, `must be greater than low_freq_factor (${scaling.lowFreqFactor})`);
  }
  return { theta, scaling };
}

/**
 * Builds a `LlamaConfig` from a parsed HF `config.json`, applying transformers'
 * LlamaConfig defaults where a field is absent; ignores unknown keys.
 */
export function fromHfConfig(json: unknown, options: FromHfConfigOptions = {}): LlamaConfig {
  const source = options.source ?? 'config.json';
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`${source}: expected a JSON object, got ${JSON.stringify(json)?.slice(0, 60)}`);
  }
  const obj = json as Record<string, unknown>;
  const r = new ConfigReader(obj, source);
  const modelTypes = options.modelTypes ?? ['llama'];
  if (r.has('model_type') && !modelTypes.includes(obj.model_type as string)) {
    r.fail('model_type', obj.model_type, `must be one of ${JSON.stringify(modelTypes)}`);
  }
  const act = obj.hidden_act ?? 'silu';
  if (act !== 'silu') r.fail('hidden_act', act, 'is not supported (Llama uses "silu")');

  const hiddenSize = r.int('hidden_size');
  const numAttentionHeads = r.int('num_attention_heads');
  const numKeyValueHeads = r.int('num_key_value_heads', numAttentionHeads);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    r.fail('num_key_value_heads', numKeyValueHeads, `must divide num_attention_heads (${numAttentionHeads})`);
  }
  if (!r.has('head_dim') && hiddenSize % numAttentionHeads !== 0) {
    r.fail('hidden_size', hiddenSize, `must be a multiple of num_attention_heads (${numAttentionHeads}) when head_dim is not given`);
  }
  const headDim = r.int('head_dim', hiddenSize / numAttentionHeads);
  if (headDim % 2 !== 0) r.fail('head_dim', headDim, 'must be even (rotary embeddings rotate pairs)');
  const { theta, scaling } = readRope(r, obj, source);
  const pad = obj.pad_token_id;
  const bos = obj.bos_token_id;
  const config: LlamaConfig = {
    vocabSize: r.int('vocab_size'),
    hiddenSize,
    intermediateSize: r.int('intermediate_size'),
    numHiddenLayers: r.int('num_hidden_layers'),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    maxPositionEmbeddings: r.int('max_position_embeddings', 2048),
    rmsNormEps: r.positive('rms_norm_eps', 1e-6),
    ropeTheta: theta,
    ropeScaling: scaling,
    tieWordEmbeddings: r.bool('tie_word_embeddings', false),
    attentionBias: r.bool('attention_bias', false),
    mlpBias: r.bool('mlp_bias', false),
    bosTokenId: typeof bos === 'number' ? bos : null,
    eosTokenIds: r.tokenIds('eos_token_id'),
    padTokenId: typeof pad === 'number' ? pad : null,
    hf: { ...obj },
  };
  if (pad !== undefined && pad !== null && !(typeof pad === 'number' && Number.isInteger(pad) && pad >= 0)) {
    r.fail('pad_token_id', pad, 'must be a token id or null');
  }
  return validateLlamaConfig(config, source);
}

/** Checks a config built in code (presets, CSM sub-configs); returns it unchanged. */
export function validateLlamaConfig(c: LlamaConfig, source = 'LlamaConfig'): LlamaConfig {
  const ints: (keyof LlamaConfig)[] = [
    'vocabSize', 'hiddenSize', 'intermediateSize', 'numHiddenLayers', 'numAttentionHeads', 'numKeyValueHeads',
    'headDim', 'maxPositionEmbeddings',
  ];
  for (const k of ints) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new Error(`${source}: ${k} must be an integer >= 1, got ${JSON.stringify(v)}`);
    }
  }
  if (c.numAttentionHeads % c.numKeyValueHeads !== 0) {
    throw new Error(`${source}: numKeyValueHeads must divide numAttentionHeads (${c.numAttentionHeads}), got ${c.numKeyValueHeads}`);
  }
  if (c.headDim % 2 !== 0) throw new Error(`${source}: headDim must be even, got ${c.headDim}`);
  if (!(c.rmsNormEps > 0)) throw new Error(`${source}: rmsNormEps must be > 0, got ${c.rmsNormEps}`);
  if (!(c.ropeTheta > 0)) throw new Error(`${source}: ropeTheta must be > 0, got ${c.ropeTheta}`);
  for (const id of [...c.eosTokenIds, c.bosTokenId, c.padTokenId]) {
    if (id !== null && (id < 0 || id >= c.vocabSize)) {
      throw new Error(`${source}: special token id ${id} is outside the vocabulary [0, ${c.vocabSize})`);
    }
  }
  return c;
}

/** Reads and validates `<dir>/config.json`. */
export async function loadLlamaConfig(dir: string, options: Omit<FromHfConfigOptions, 'source'> = {}): Promise<LlamaConfig> {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  return fromHfConfig(json, { ...options, source: file });
}

/**
 * The `config.json` to write next to exported weights: the one read (with `dtype` and
 * `torch_dtype` updated), or for a config built in code, the transformers 4.x layout
 * that transformers 4 and 5 both read.
 */
export function toHfConfig(c: LlamaConfig, dtype: 'float32' | 'float16' | 'bfloat16' = 'float32'): Record<string, unknown> {
  if (c.hf) {
    const out: Record<string, unknown> = { ...c.hf, torch_dtype: dtype };
    if ('dtype' in out) out.dtype = dtype;
    return out;
  }
  const s = c.ropeScaling;
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads,
    num_key_value_heads: c.numKeyValueHeads,
    head_dim: c.headDim,
    max_position_embeddings: c.maxPositionEmbeddings,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    rope_scaling: s.ropeType === 'default' ? null : {
      rope_type: 'llama3', factor: s.factor, low_freq_factor: s.lowFreqFactor, high_freq_factor: s.highFreqFactor,
      original_max_position_embeddings: s.originalMaxPositionEmbeddings,
    },
    tie_word_embeddings: c.tieWordEmbeddings,
    attention_bias: c.attentionBias,
    mlp_bias: c.mlpBias,
    hidden_act: 'silu',
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenIds.length === 1 ? c.eosTokenIds[0] : c.eosTokenIds.length ? c.eosTokenIds : null,
    pad_token_id: c.padTokenId,
    torch_dtype: dtype,
  };
}
