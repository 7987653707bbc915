/**
 * Llama decoder (transformers' LlamaForCausalLM) in tfjs, built bottom-up from the
 * shared blocks: decoder layer, model, causal-LM head, loss.
 *
 * Module and weight names follow the checkpoint keys (`model.layers.N.self_attn.q_proj`),
 * so weights load by name and LoRA finds its targets by the same paths PEFT uses.
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/llama/modeling_llama.py
 *
 * Tensor lifetimes: a model owns its weights (`dispose()` frees them); `forward` and
 * `causalLmLoss` run inside `tf.tidy` and return one new tensor the caller owns; a
 * `KVCache` owns its tensors.
 */
import * as tf from '@tensorflow/tfjs';
import type { WeightSource } from '../../weights/types';
import { Checkpoint } from '../../weights/checkpoint';
import { snapshot } from '../../hub';
import type { SnapshotOptions } from '../../hub';
import { Attention, KVCache, causalMask, positionIdsFromMask } from '../common/attention';
import type { AttentionContext } from '../common/attention';
import { Linear } from '../common/linear';
import type { ApplyOptions, LinearLike } from '../common/linear';
import { SwiGLU } from '../common/mlp';
import { RMSNorm } from '../common/rmsnorm';
import { ropeInvFreq, rotaryCosSin } from '../common/rotary';
import { loadLlamaConfig, validateLlamaConfig } from './config';
import type { LlamaConfig } from './config';
import { HalfTensor, halfFromValues, toHalf } from '../../runtime/kernels/half';
import { gatherHalf } from '../../runtime/kernels/half_gather';
import { linearHalf } from '../../runtime/kernels/half_linear';
import { HalfLinear } from './half_linear';
import { chunkedLmHeadLoss, shiftLabels } from './loss';
import type { LmHead } from './loss';

/** HF's CrossEntropyLoss ignore_index: labels with this value are not predicted. */
export const IGNORE_INDEX = -100;

/** One forward call. Token ids and masks are plain arrays: they are small and JS-side bookkeeping needs them. */
export interface CausalLMInput {
  /** `[batch][seq]` token ids; with a cache holding the past, only the new tokens. */
  inputIds?: number[][];
  /**
   * `[batch, seq, hidden]` input embeddings instead of `inputIds` (HF `inputs_embeds`), for
   * models that build their own inputs, e.g. CSM's summed audio-codebook embeddings. Owned
   * by the caller; gradients flow into it.
   */
  inputsEmbeds?: tf.Tensor3D;
  /**
   * `[batch][past + seq]`: 1 for real tokens, 0 for padding (left or right). Omitted:
   * every token is real.
   */
  attentionMask?: number[][];
  /** `[batch][seq]`. Omitted: from the mask as HF generate does (left padding counts from 0), else past + 0..seq-1. */
  positionIds?: number[][];
  /** Reads past keys/values and appends this call's. */
  cache?: KVCache;
  /** Only the last n positions get logits (HF `logits_to_keep`); 0 or omitted = all. */
  logitsToKeep?: number;
  /** Training mode (LoRA dropout on). */
  training?: boolean;
}

/** What generation and training need from a causal LM (Llama or anything shaped like it). */
export interface CausalLM {
  readonly config: { vocabSize: number; eosTokenIds: number[]; padTokenId: number | null; maxPositionEmbeddings: number };
  /** Logits `[batch, seq or logitsToKeep, vocab]`, owned by the caller. */
  forward(input: CausalLMInput): tf.Tensor3D;
  createCache(): KVCache;
}

/** A linear module found by its reference path, with a setter so LoRA can replace it. */
export interface NamedLinear {
  /** e.g. `model.layers.0.self_attn.q_proj` */
  path: string;
  module: LinearLike;
  set(module: LinearLike): void;
}

/** LlamaDecoderLayer: pre-norm attention and SwiGLU, each with a residual. */
export class LlamaDecoderLayer {
  constructor(
    public self_attn: Attention,
    public mlp: SwiGLU,
    public input_layernorm: RMSNorm,
    public post_attention_layernorm: RMSNorm,
  ) {}

  /** `[batch, seq, hidden]` -> `[batch, seq, hidden]` */
  apply(h: tf.Tensor3D, ctx: AttentionContext, layer: number, options: ApplyOptions): tf.Tensor3D {
    return tf.tidy(() => {
      const a = h.add(this.self_attn.apply(this.input_layernorm.apply(h) as tf.Tensor3D, ctx, layer, options));
      return a.add(this.mlp.apply(this.post_attention_layernorm.apply(a), options)) as tf.Tensor3D;
    });
  }

  dispose(): void {
    this.self_attn.dispose();
    this.mlp.dispose();
    this.input_layernorm.dispose();
    this.post_attention_layernorm.dispose();
  }
}

/** Reference weight names and shapes of a LlamaForCausalLM with this config. */
export function llamaWeightShapes(c: LlamaConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  m.set('model.embed_tokens.weight', [c.vocabSize, c.hiddenSize]);
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const p = `model.layers.${i}`;
    const lin = (name: string, out: number, inp: number, bias: boolean) => {
      m.set(`${p}.${name}.weight`, [out, inp]);
      if (bias) m.set(`${p}.${name}.bias`, [out]);
    };
    lin('self_attn.q_proj', q, c.hiddenSize, c.attentionBias);
    lin('self_attn.k_proj', kv, c.hiddenSize, c.attentionBias);
    lin('self_attn.v_proj', kv, c.hiddenSize, c.attentionBias);
    lin('self_attn.o_proj', c.hiddenSize, q, c.attentionBias);
    lin('mlp.gate_proj', c.intermediateSize, c.hiddenSize, c.mlpBias);
    lin('mlp.up_proj', c.intermediateSize, c.hiddenSize, c.mlpBias);
    lin('mlp.down_proj', c.hiddenSize, c.intermediateSize, c.mlpBias);
    m.set(`${p}.input_layernorm.weight`, [c.hiddenSize]);
    m.set(`${p}.post_attention_layernorm.weight`, [c.hiddenSize]);
  }
  m.set('model.norm.weight', [c.hiddenSize]);
  if (!c.tieWordEmbeddings) m.set('lm_head.weight', [c.vocabSize, c.hiddenSize]);
  return m;
}

/**
 * Source keys a Llama checkpoint may hold that the model does not use: rotary buffers
 * older transformers saved, and a stored copy of a tied lm_head.
 */
function isKnownExtra(name: string, c: LlamaConfig): boolean {
  return /\.rotary_emb\.inv_freq$/.test(name) || (c.tieWordEmbeddings && name === 'lm_head.weight');
}

/**
 * How the linear layers' weights (q,k,v,o,gate,up,down and an untied lm_head) are held:
 * 'float32' (default, every backend) or 'float16' (WebGPU only: `HalfLinear`, half the memory,
 * f16 tensor-core matmuls; frozen, for LoRA training and inference). Norms stay float32 either
 * way; the embedding follows `embeddingDtype`.
 */
export type FrozenDtype = 'float32' | 'float16';

/**
 * How the token embedding `model.embed_tokens` (and so a tied head) is held: 'float32' (default,
 * every backend) or 'float16' (WebGPU only: a frozen `HalfTensor`, rows looked up by the f16
 * gather kernel and widened to float32; a tied head runs on the f16 matmul). Half the memory:
 * Llasa-8B's [193800, 4096] table is 3.18 GB in f32, more than one WebGPU storage binding, and
 * 1.59 GB in f16. The embedding gets no gradient either way (LoRA trains adapters only).
 */
export type EmbeddingDtype = FrozenDtype;

export interface LoadWeightsOptions {
  /** Maps a reference name to the source's key (e.g. add a prefix for a nested backbone). Default: identity. */
  rename?: (referenceName: string) => string;
  /** Source keys that may stay unused (beyond the known extras), e.g. other sub-models of the checkpoint. */
  ignoreUnused?: RegExp[];
  /** Dtype of the linear weights on the device (default 'float32'). */
  frozenDtype?: FrozenDtype;
  /** Dtype of the token embedding on the device (default 'float32'; see `EmbeddingDtype`). */
  embeddingDtype?: EmbeddingDtype;
}

export interface RandomInitOptions {
  seed?: number;
  /** Standard deviation of matrices (HF initializer_range, 0.02). Norm weights are 1. */
  std?: number;
  /** Dtype of the linear weights on the device (default 'float32'). */
  frozenDtype?: FrozenDtype;
  /** Dtype of the token embedding on the device (default 'float32'; see `EmbeddingDtype`). */
  embeddingDtype?: EmbeddingDtype;
}

/** Reference name of the token embedding. */
const EMBED = 'model.embed_tokens.weight';

/** Reference names of the weights a 'float16' model holds in f16: the linear layers'. */
function isLinearWeight(name: string): boolean {
  return /\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)\.weight$/.test(name) || name === 'lm_head.weight';
}

function checkFrozenDtype(d: FrozenDtype | undefined, option = 'frozenDtype'): FrozenDtype {
  const v = d ?? 'float32';
  if (v !== 'float32' && v !== 'float16') throw new Error(`${option} must be 'float32' or 'float16', got ${JSON.stringify(d)}`);
  if (v === 'float16' && tf.getBackend() !== 'webgpu') {
    throw new Error(`${option} 'float16' needs the webgpu backend (f16 weights live in GPU buffers), the active backend is ${tf.getBackend()}: `
      + "call initRuntime({ backend: 'webgpu' }) or keep the default 'float32'");
  }
  return v;
}

export class LlamaModel {
  /** RoPE inverse frequencies `[headDim / 2]`, from the config. */
  readonly invFreq: Float32Array;

  /** `[vocab, hidden]`, float32 or f16 (`embeddingDtype: 'float16'`). */
  private embedTable: tf.Tensor2D | HalfTensor;

  constructor(
    readonly config: LlamaConfig,
    /** `[vocab, hidden]`, float32, or f16 for a frozen embedding. Owned by the model. */
    embed: tf.Tensor2D | HalfTensor,
    public layers: LlamaDecoderLayer[],
    public norm: RMSNorm,
  ) {
    if (embed.shape.length !== 2) throw new Error(`embed_tokens must be [vocab, hidden], got [${embed.shape}]`);
    this.embedTable = embed;
    this.invFreq = ropeInvFreq(config.headDim, config.ropeTheta, config.ropeScaling);
  }

  /**
   * The float32 embedding `[vocab, hidden]`. A model loaded with `embeddingDtype: 'float16'` has
   * none and throws here (its table is `embedHalf`; `embed()` looks rows up either way).
   */
  get embed_tokens(): tf.Tensor2D {
    const t = this.embedTable;
    if (t instanceof HalfTensor) {
      throw new Error(`model.embed_tokens [${t.shape}] is held in f16 on the GPU (embeddingDtype 'float16'); it has no float32 tensor: `
        + 'use model.embed(ids) for rows, fromHalf(model.embedHalf) for a copy, or load the model with the default float32 embedding');
    }
    return t;
  }

  set embed_tokens(t: tf.Tensor2D) {
    this.embedTable = t;
  }

  /** The f16 embedding `[vocab, hidden]`, or null when it is float32. */
  get embedHalf(): HalfTensor | null {
    return this.embedTable instanceof HalfTensor ? this.embedTable : null;
  }

  get embeddingDtype(): EmbeddingDtype {
    return this.embedTable instanceof HalfTensor ? 'float16' : 'float32';
  }

  /** Token embeddings: int32 ids `[batch, seq]` -> float32 `[batch, seq, hidden]`, owned by the caller. */
  embed(ids: tf.Tensor2D): tf.Tensor3D {
    const t = this.embedTable;
    return (t instanceof HalfTensor ? gatherHalf(t, ids) : tf.gather(t, ids)) as tf.Tensor3D;
  }

  /** Final hidden states `[batch, seq, hidden]` (after the last norm). */
  forward(input: CausalLMInput): tf.Tensor3D {
    const { inputIds, inputsEmbeds, cache } = input;
    if ((inputIds === undefined) === (inputsEmbeds === undefined)) throw new Error('pass exactly one of inputIds and inputsEmbeds');
    let batch: number;
    let seq: number;
    if (inputsEmbeds) {
      [batch, seq] = inputsEmbeds.shape;
      if (inputsEmbeds.shape[2] !== this.config.hiddenSize) {
        throw new Error(`inputsEmbeds must be [batch, seq, ${this.config.hiddenSize}], got [${inputsEmbeds.shape}]`);
      }
    } else {
      const ids = inputIds!;
      batch = ids.length;
      seq = batch ? ids[0].length : 0;
      const V = this.config.vocabSize;
      for (const row of ids) {
        if (row.length !== seq) throw new Error(`inputIds rows differ in length (${row.length} vs ${seq}); pad them and pass attentionMask`);
        for (const id of row) if (!(Number.isInteger(id) && id >= 0 && id < V)) throw new Error(`token id ${id} is outside the vocabulary [0, ${V})`);
      }
    }
    if (batch === 0 || seq === 0) throw new Error(`the input must be a non-empty [batch][seq], got [${batch}][${seq}]`);
    if (cache && cache.numLayers !== this.layers.length) throw new Error(`cache has ${cache.numLayers} layers, model has ${this.layers.length}`);
    const past = cache?.seqLength ?? 0;
    const positions = input.positionIds
      ?? (input.attentionMask
        ? positionIdsFromMask(input.attentionMask, seq)
        : Array.from({ length: batch }, () => Array.from({ length: seq }, (_, i) => past + i)));
    if (positions.length !== batch || positions.some((r) => r.length !== seq)) {
      throw new Error(`positionIds must be [${batch}][${seq}]`);
    }
    const options: ApplyOptions = { training: input.training ?? false };
    return tf.tidy(() => {
      let h = inputsEmbeds
        ?? this.embed(tf.tensor2d(inputIds!.flat(), [batch, seq], 'int32')); // [batch, seq, hidden]
      const { cos, sin } = rotaryCosSin(this.invFreq, positions); // [batch, seq, headDim]
      const mask = causalMask(batch, seq, past, input.attentionMask); // [batch, 1, seq, past + seq]
      const ctx = { cos, sin, mask, cache };
      this.layers.forEach((layer, i) => {
        h = layer.apply(h, ctx, i, options);
      });
      return this.norm.apply(h) as tf.Tensor3D;
    });
  }

  dispose(): void {
    this.embedTable.dispose();
    for (const l of this.layers) l.dispose();
    this.norm.dispose();
  }
}

export class LlamaForCausalLM implements CausalLM {
  constructor(
    readonly config: LlamaConfig,
    public model: LlamaModel,
    /** null when tied: the head is `model.embed_tokens`. */
    public lm_head: LinearLike | null,
  ) {
    if (config.tieWordEmbeddings !== (lm_head === null)) {
      throw new Error(`tie_word_embeddings is ${config.tieWordEmbeddings} but lm_head was ${lm_head ? 'given' : 'not given'}`);
    }
  }

  /**
   * Builds the model from reference-named tensors, taking ownership of them. The names
   * must be exactly `llamaWeightShapes(config)`'s, with matching shapes. A linear weight given
   * as a `HalfTensor` (f16) becomes a frozen `HalfLinear`, an f16 `model.embed_tokens.weight` a
   * frozen f16 embedding; norms and biases must be float32.
   */
  static fromTensors(config: LlamaConfig, weights: Map<string, tf.Tensor | HalfTensor>): LlamaForCausalLM {
    validateLlamaConfig(config);
    const shapes = llamaWeightShapes(config);
    const missing = [...shapes.keys()].filter((k) => !weights.has(k));
    const unexpected = [...weights.keys()].filter((k) => !shapes.has(k));
    if (missing.length || unexpected.length) {
      throw new Error(`Llama weights do not match the config: ${describeKeys(missing, unexpected)}`);
    }
    for (const [k, shape] of shapes) {
      const got = weights.get(k)!.shape;
      if (got.join() !== shape.join()) throw new Error(`weight ${k} has shape [${got}], config needs [${shape}]`);
    }
    for (const [k, t] of weights) {
      if (t instanceof HalfTensor && !isLinearWeight(k) && k !== EMBED) throw new Error(`weight ${k} is f16; only the linear layers' weights and the embedding may be (norms and biases stay float32)`);
    }
    const w = <R extends tf.Rank>(k: string) => {
      const t = weights.get(k);
      if (t instanceof HalfTensor) throw new Error(`weight ${k} is f16 where float32 is needed`);
      return t as tf.Tensor<R>;
    };
    const lin = (p: string): Linear => {
      const weight = weights.get(`${p}.weight`)!;
      const bias = weights.has(`${p}.bias`) ? w<tf.Rank.R1>(`${p}.bias`) : null;
      return weight instanceof HalfTensor ? new HalfLinear(weight, bias, p) : new Linear(weight as tf.Tensor2D, bias);
    };
    const layers: LlamaDecoderLayer[] = [];
    for (let i = 0; i < config.numHiddenLayers; i++) {
      const p = `model.layers.${i}`;
      const attn = new Attention(
        lin(`${p}.self_attn.q_proj`), lin(`${p}.self_attn.k_proj`), lin(`${p}.self_attn.v_proj`), lin(`${p}.self_attn.o_proj`),
        { numHeads: config.numAttentionHeads, numKvHeads: config.numKeyValueHeads, headDim: config.headDim },
      );
      const mlp = new SwiGLU(lin(`${p}.mlp.gate_proj`), lin(`${p}.mlp.up_proj`), lin(`${p}.mlp.down_proj`));
      layers.push(new LlamaDecoderLayer(attn, mlp,
        new RMSNorm(w(`${p}.input_layernorm.weight`), config.rmsNormEps),
        new RMSNorm(w(`${p}.post_attention_layernorm.weight`), config.rmsNormEps)));
    }
    const embed = weights.get(EMBED)!;
    if (embed instanceof HalfTensor && config.tieWordEmbeddings && (config.vocabSize % 2 !== 0 || config.hiddenSize % 2 !== 0)) {
      throw new Error(`an f16 embedding tied to the head needs an even vocabulary and hidden size (the f16 matmul reads pairs), got [${embed.shape}]: `
        + "keep embeddingDtype 'float32' for this model");
    }
    const model = new LlamaModel(config, embed instanceof HalfTensor ? embed : embed as tf.Tensor2D, layers,
      new RMSNorm(w('model.norm.weight'), config.rmsNormEps));
    return new LlamaForCausalLM(config, model, config.tieWordEmbeddings ? null : lin('lm_head'));
  }

  /**
   * Loads weights from a `WeightSource` one tensor at a time (float32). The source's key
   * set must match the reference names exactly, except the listed known extras (rotary
   * buffers, a saved copy of a tied head) and `ignoreUnused`; otherwise the error lists
   * what is missing and what is unexpected.
   */
  static async fromWeights(config: LlamaConfig, source: WeightSource, options: LoadWeightsOptions = {}): Promise<LlamaForCausalLM> {
    validateLlamaConfig(config);
    const half = checkFrozenDtype(options.frozenDtype) === 'float16';
    const halfEmbed = checkFrozenDtype(options.embeddingDtype, 'embeddingDtype') === 'float16';
    const rename = options.rename ?? ((n: string) => n);
    const shapes = llamaWeightShapes(config);
    const wanted = new Map([...shapes.keys()].map((k) => [rename(k), k]));
    const missing = [...wanted.keys()].filter((k) => !source.has(k));
    const unexpected = source.keys().filter((k) => !wanted.has(k) && !isKnownExtra(k, config)
      && !(options.ignoreUnused ?? []).some((re) => re.test(k)));
    if (missing.length || unexpected.length) {
      throw new Error(`checkpoint does not match the Llama config: ${describeKeys(missing, unexpected)}`);
    }
    const tensors = new Map<string, tf.Tensor | HalfTensor>();
    try {
      for (const [key, ref] of wanted) {
        const shape = shapes.get(ref)!;
        const got = source.info(key).shape;
        if (got.join() !== shape.join()) throw new Error(`checkpoint tensor ${key} has shape [${got}], config needs [${shape}]`);
        // F32, F16 or BF16 in the file, widened to float32 here; 'float16' rounds the linear
        // weights once on the GPU (exact for an F16 checkpoint).
        const { data } = await source.getF32(key);
        if (half && isLinearWeight(ref)) {
          const lin = HalfLinear.fromValues(data, shape as [number, number], null, `${key} (${source.info(key).dtype})`);
          tensors.set(ref, lin.half);
        } else if (halfEmbed && ref === EMBED) {
          // Uploaded and rounded in chunks: no float32 copy of the whole table on the GPU.
          tensors.set(ref, halfFromValues(data, shape, { name: `${key} (${source.info(key).dtype})` }));
        } else tensors.set(ref, tf.tensor(data, shape, 'float32'));
      }
      return LlamaForCausalLM.fromTensors(config, tensors);
    } catch (e) {
      for (const t of tensors.values()) t.dispose();
      throw e;
    }
  }

  /**
   * Loads `config.json` and the safetensors weights (single or sharded) of a local model
   * directory, or of a Hub repo id through the shared Hugging Face cache (`snapshot`,
   * only the config and safetensors files are fetched).
   */
  static async fromPretrained(repoIdOrDir: string, options: LoadWeightsOptions & { snapshot?: SnapshotOptions } = {}): Promise<LlamaForCausalLM> {
    // A local directory comes back as is; a repo id is fetched into (or served from) the cache.
    const dir = await snapshot(repoIdOrDir, {
      allowPatterns: ['config.json', '*.safetensors', '*.safetensors.index.json'], ...options.snapshot,
    });
    const config = await loadLlamaConfig(dir);
    return LlamaForCausalLM.fromWeights(config, await Checkpoint.open(dir), options);
  }

  /**
   * Random weights N(0, std) (norms at 1), seeded: for tests and benchmarks. With
   * `frozenDtype: 'float16'` each linear weight (with `embeddingDtype: 'float16'` the embedding
   * too) is drawn in float32, rounded to f16 and its float32 draw freed before the next, so
   * float32 copies never pile up.
   */
  static random(config: LlamaConfig, options: RandomInitOptions = {}): LlamaForCausalLM {
    validateLlamaConfig(config);
    const half = checkFrozenDtype(options.frozenDtype) === 'float16';
    const halfEmbed = checkFrozenDtype(options.embeddingDtype, 'embeddingDtype') === 'float16';
    const std = options.std ?? 0.02;
    let seed = options.seed ?? 0;
    const tensors = new Map<string, tf.Tensor | HalfTensor>();
    try {
      for (const [k, shape] of llamaWeightShapes(config)) {
        // Pre-increment: tfjs treats a seed of 0 as no seed at all (rand_util: seed ? seed : Math.random()).
        const t = /norm\.weight$/.test(k) ? tf.ones(shape) : tf.randomNormal(shape, 0, std, 'float32', ++seed);
        if (half && isLinearWeight(k)) {
          tensors.set(k, HalfLinear.fromF32(t as tf.Tensor2D, null, k).half);
          t.dispose();
        } else if (halfEmbed && k === EMBED) {
          tensors.set(k, toHalf(t, { name: k }));
          t.dispose();
        } else tensors.set(k, t);
      }
      return LlamaForCausalLM.fromTensors(config, tensors);
    } catch (e) {
      for (const t of tensors.values()) t.dispose();
      throw e;
    }
  }

  /** Logits `[batch, seq, vocab]` (or the last `logitsToKeep` positions), owned by the caller. */
  forward(input: CausalLMInput): tf.Tensor3D {
    const keep = input.logitsToKeep ?? 0;
    return tf.tidy(() => {
      let h = this.model.forward(input); // [batch, seq, hidden]
      const [batch, seq, hidden] = h.shape;
      if (keep > 0 && keep < seq) h = tf.slice(h, [0, seq - keep, 0], [batch, keep, hidden]);
      const rows = h.shape[1];
      if (this.lm_head) return this.lm_head.apply(h, { training: input.training }) as tf.Tensor3D;
      const table = this.model.embedHalf;
      const h2 = h.reshape([batch * rows, hidden]);
      // Tied head: h E^T, on the f16 matmul when the embedding is f16 (gradient to h only).
      const logits = table ? linearHalf(h2, table) : tf.matMul(h2, this.model.embed_tokens, false, true);
      return logits.reshape([batch, rows, this.config.vocabSize]) as tf.Tensor3D; // [batch, rows, vocab]
    });
  }

  /**
   * Mean HF causal-LM loss of this batch (see `causalLmLoss`). `lossChunkRows` > 0 computes it
   * from the final hidden states through the frozen head `lossChunkRows` rows at a time
   * (`chunkedLmHeadLoss`, src/models/llama/loss.ts), so the `[tokens, vocab]` logits are never
   * stored whole; the gradient reaches everything before the head (LoRA), not the head itself.
   * It needs a frozen head (`frozenLmHead()`): with a trainable (LoRA-wrapped) lm_head it throws.
   * Omitted or 0: full logits, then `causalLmLoss` (`logitsToKeep` is not allowed with chunks).
   */
  loss(input: CausalLMInput & { labels: number[][]; lossChunkRows?: number }): tf.Scalar {
    const chunk = input.lossChunkRows ?? 0;
    if (!(Number.isInteger(chunk) && chunk >= 0)) throw new Error(`LlamaForCausalLM.loss (src/models/llama/modeling.ts): lossChunkRows must be an integer >= 0, got ${JSON.stringify(input.lossChunkRows)}`);
    if (chunk === 0) return tf.tidy(() => causalLmLoss(this.forward(input), input.labels));
    const head = this.frozenLmHead();
    if (!head) {
      throw new Error(`LlamaForCausalLM.loss (src/models/llama/modeling.ts): lossChunkRows ${chunk} needs a frozen lm_head, but lm_head is a trainable `
        + `${this.lm_head!.constructor.name} (LoRA on lm_head): pass lossChunkRows 0 for the full-logits loss`);
    }
    if (input.logitsToKeep) throw new Error(`LlamaForCausalLM.loss (src/models/llama/modeling.ts): logitsToKeep ${input.logitsToKeep} cannot be combined with lossChunkRows ${chunk}`);
    const { labels } = input;
    const [batch, seq] = input.inputsEmbeds ? input.inputsEmbeds.shape : [input.inputIds?.length ?? 0, input.inputIds?.[0]?.length ?? 0];
    if (labels.length !== batch || labels.some((r) => r.length !== seq)) {
      throw new Error(`labels must be [${batch}][${seq}] like the input, got [${labels.length}][${labels[0]?.length}]`);
    }
    return tf.tidy(() => {
      const h = this.model.forward(input); // [batch, seq, hidden]
      return chunkedLmHeadLoss(h.reshape([batch * seq, h.shape[2]]), head, shiftLabels(labels), { rowChunk: chunk });
    });
  }

  /**
   * The LM head as a frozen `LmHead` (weight `[vocab, hidden]`, borrowed): the untied lm_head
   * when it is a plain `Linear` (float32) or `HalfLinear` (f16), or the tied embedding (float32
   * or f16). null when lm_head is wrapped (LoRA on lm_head: trainable, so the chunked loss,
   * which returns no head gradient, does not apply).
   */
  frozenLmHead(): LmHead | null {
    const h = this.lm_head;
    if (h === null) return { weight: this.model.embedHalf ?? this.model.embed_tokens, bias: null };
    if (h instanceof HalfLinear) return { weight: h.half, bias: h.bias };
    if (h instanceof Linear) return { weight: h.weight, bias: h.bias };
    return null;
  }

  createCache(): KVCache {
    return new KVCache(this.config.numHiddenLayers);
  }

  /** Every linear module by reference path, in checkpoint order (LoRA targets are chosen among these). */
  namedLinears(): NamedLinear[] {
    const out: NamedLinear[] = [];
    this.model.layers.forEach((layer, i) => {
      const p = `model.layers.${i}`;
      for (const name of ['q_proj', 'k_proj', 'v_proj', 'o_proj'] as const) {
        out.push({ path: `${p}.self_attn.${name}`, module: layer.self_attn[name], set: (m) => { layer.self_attn[name] = m; } });
      }
      for (const name of ['gate_proj', 'up_proj', 'down_proj'] as const) {
        out.push({ path: `${p}.mlp.${name}`, module: layer.mlp[name], set: (m) => { layer.mlp[name] = m; } });
      }
    });
    if (this.lm_head) out.push({ path: 'lm_head', module: this.lm_head, set: (m) => { this.lm_head = m; } });
    return out;
  }

  /**
   * The base weights by reference name (a tied head appears once, as the embedding).
   * LoRA-wrapped modules report their frozen base weight. A model with f16 linear weights
   * (`frozenDtype: 'float16'`) throws here: it has no float32 tensors to report.
   */
  namedParameters(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    out.set('model.embed_tokens.weight', this.model.embed_tokens);
    const linears = new Map(this.namedLinears().map((n) => [n.path, baseLinear(n.module)]));
    this.model.layers.forEach((layer, i) => {
      const p = `model.layers.${i}`;
      for (const path of [`${p}.self_attn.q_proj`, `${p}.self_attn.k_proj`, `${p}.self_attn.v_proj`, `${p}.self_attn.o_proj`,
        `${p}.mlp.gate_proj`, `${p}.mlp.up_proj`, `${p}.mlp.down_proj`]) {
        const l = linears.get(path)!;
        out.set(`${path}.weight`, l.weight);
        if (l.bias) out.set(`${path}.bias`, l.bias);
      }
      out.set(`${p}.input_layernorm.weight`, layer.input_layernorm.weight);
      out.set(`${p}.post_attention_layernorm.weight`, layer.post_attention_layernorm.weight);
    });
    out.set('model.norm.weight', this.model.norm.weight);
    if (this.lm_head) out.set('lm_head.weight', baseLinear(this.lm_head).weight);
    return out;
  }

  /** Number of base parameters (tied weights once), from the config's shapes (any weight dtype). */
  numParameters(): number {
    let n = 0;
    for (const shape of llamaWeightShapes(this.config).values()) n += shape.reduce((a, b) => a * b, 1);
    return n;
  }

  /** Dtype of the token embedding: 'float16' when it is a `HalfTensor`. */
  get embeddingDtype(): EmbeddingDtype {
    return this.model.embeddingDtype;
  }

  /** Dtype of the linear weights: 'float16' when they are `HalfLinear`s. */
  get frozenDtype(): FrozenDtype {
    return this.namedLinears().some((n) => baseLinear(n.module) instanceof HalfLinear) ? 'float16' : 'float32';
  }

  dispose(): void {
    this.model.dispose();
    this.lm_head?.dispose();
  }
}

/** The plain `Linear` under a module: itself, or the `base` a wrapper (LoRA) holds. */
export function baseLinear(m: LinearLike): Linear {
  if (m instanceof Linear) return m;
  const base = (m as { base?: unknown }).base;
  if (base instanceof Linear) return base;
  throw new Error(`module ${m.constructor.name} is neither a Linear nor wraps one in .base`);
}

function describeKeys(missing: string[], unexpected: string[]): string {
  const list = (xs: string[]) => xs.slice(0, 8).join(', ') + (xs.length > 8 ? `, ... (${xs.length} in all)` : '');
  const parts: string[] = [];
  if (missing.length) parts.push(`missing ${list(missing)}`);
  if (unexpected.length) parts.push(`unexpected ${list(unexpected)}`);
  return parts.join('; ');
}

/**
 * Hugging Face's causal-LM loss (transformers/loss/loss_utils.py ForCausalLMLoss):
 * position t predicts `labels[t + 1]`, labels equal to -100 are skipped, and the result
 * is the mean over the predicted tokens. `logits` `[batch, seq, vocab]`, `labels`
 * `[batch][seq]` (usually the input ids with padding set to -100).
 */
export function causalLmLoss(logits: tf.Tensor3D, labels: number[][], ignoreIndex = IGNORE_INDEX): tf.Scalar {
  const [batch, seq, vocab] = logits.shape;
  if (labels.length !== batch || labels.some((r) => r.length !== seq)) {
    throw new Error(`labels must be [${batch}][${seq}] like the logits, got [${labels.length}][${labels[0]?.length}]`);
  }
  const picks: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t + 1 < seq; t++) {
      const y = labels[b][t + 1];
      if (y === ignoreIndex) continue;
      if (!(Number.isInteger(y) && y >= 0 && y < vocab)) throw new Error(`label ${y} at [${b}][${t + 1}] is outside the vocabulary [0, ${vocab})`);
      picks.push((b * (seq - 1) + t) * vocab + y);
    }
  }
  if (picks.length === 0) throw new Error('labels hold no token to predict (all -100 after the shift)');
  return tf.tidy(() => {
    const shifted = logits.slice([0, 0, 0], [batch, seq - 1, vocab]).reshape([batch * (seq - 1), vocab]);
    const logp = tf.logSoftmax(shifted).reshape([-1]); // [(batch * (seq - 1)) * vocab]
    const picked = tf.gather(logp, tf.tensor1d(picks, 'int32')); // [predicted tokens]
    return picked.sum().neg().div(picks.length) as tf.Scalar;
  });
}
