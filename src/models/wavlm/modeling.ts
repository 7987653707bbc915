/**
 * WavLM with the x-vector head (transformers' `WavLMForXVector`, e.g.
 * microsoft/wavlm-base-plus-sv) in tfjs, built bottom-up: convs and norms, feature
 * encoder, feature projection, positional conv embedding, gated relative-position
 * attention, encoder layers (post-LN and pre-LN), encoder, TDNN, the x-vector model.
 *
 * Module and weight names follow the checkpoint keys (`wavlm.encoder.layers.N.attention.
 * gru_rel_pos_linear`, `tdnn.N.kernel`, ...). Exceptions, listed in `IGNORED_KEYS`: the
 * training-only `wavlm.masked_spec_embed` (SpecAugment) and `objective.weight` (AM-softmax
 * loss); the positional conv's weight norm is folded at load from either naming scheme.
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/wavlm/modeling_wavlm.py
 *
 * Tensor lifetimes: the model owns its weights (`dispose()` frees them); `forward` runs in
 * `tf.tidy` and returns tensors the caller owns; `speakerEmbedding` returns plain arrays.
 */
import * as tf from '@tensorflow/tfjs';
import type { WeightSource } from '../../weights/types';
import { Checkpoint } from '../../weights/checkpoint';
import { snapshot } from '../../hub';
import type { SnapshotOptions } from '../../hub';
import { Linear } from '../common/linear';
import { LayerNorm } from '../common/layernorm';
import { gelu } from '../common/activations';
import { loadWavLMConfigs, validateWavLMConfig } from './config';
import type { WavLMConfig, WavLMFeatureExtractorConfig } from './config';

/** The checkpoint that `fromPretrained` loads by default (WavLM-Base-Plus fine-tuned on VoxCeleb for speaker verification). */
export const DEFAULT_WAVLM_SV_MODEL = 'microsoft/wavlm-base-plus-sv';

/** Files of a checkpoint that ttslab reads. */
export const WAVLM_FILES = ['config.json', 'preprocessor_config.json', '*.safetensors', '*.safetensors.index.json'];

/** Checkpoint keys that are present but unused at inference (listed, not silently dropped). */
export const IGNORED_KEYS = ['wavlm.masked_spec_embed', 'objective.weight'];

/** Rate the released models were trained at (Hz). */
export const WAVLM_SAMPLE_RATE = 16000;

/** torch.nn.GroupNorm's and nn.LayerNorm's default epsilon (the feature-encoder norms ignore layer_norm_eps). */
const TORCH_NORM_EPS = 1e-5;

/** Wav2Vec2FeatureExtractor's variance floor in zero-mean unit-variance normalisation. */
const FEATURE_NORM_EPS = 1e-7;

/** torch.nn.Conv1d with `[out, in / groups, k]` weights, symmetric zero padding, optional groups and dilation. */
export class Conv1d {
  /** Per group `[k, in / groups, out / groups]`: tfjs' filter layout, transposed once at load. */
  private readonly filters: tf.Tensor3D[];

  constructor(
    /** `[out, in / groups, k]` (checkpoint layout) */
    readonly weight: tf.Tensor3D,
    readonly bias: tf.Tensor1D | null,
    readonly options: { stride?: number; padding?: number; groups?: number; dilation?: number } = {},
  ) {
    const groups = options.groups ?? 1;
    const out = weight.shape[0];
    if (out % groups !== 0) throw new Error(`Conv1d: ${out} output channels are not divisible by ${groups} groups`);
    this.filters = tf.tidy(() => tf.split(weight, groups, 0).map((w) => tf.keep(w.transpose([2, 1, 0]) as tf.Tensor3D)));
  }

  /** `[batch, width, in]` -> `[batch, width', out]` */
  apply(x: tf.Tensor3D): tf.Tensor3D {
    const { stride = 1, padding = 0, groups = 1, dilation = 1 } = this.options;
    return tf.tidy(() => {
      const padded = padding ? tf.pad(x, [[0, 0], [padding, padding], [0, 0]]) : x;
      const inputs = groups === 1 ? [padded] : tf.split(padded, groups, 2);
      const outs = inputs.map((xi, g) => tf.conv1d(xi as tf.Tensor3D, this.filters[g]!, stride, 'valid', 'NWC', dilation));
      const y = outs.length === 1 ? outs[0]! : tf.concat(outs, 2);
      return (this.bias ? y.add(this.bias) : y) as tf.Tensor3D;
    });
  }

  dispose(): void {
    this.weight.dispose();
    this.bias?.dispose();
    for (const f of this.filters) f.dispose();
  }
}

/**
 * torch.nn.GroupNorm with one group per channel, as WavLM's first feature conv uses it:
 * each channel is normalised over time, per clip.
 */
export class ChannelGroupNorm {
  constructor(public weight: tf.Tensor1D, public bias: tf.Tensor1D, readonly eps = TORCH_NORM_EPS) {}

  /** `[batch, width, channels]` -> same */
  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, 1, true); // [batch, 1, channels]
      return x.sub(mean).mul(tf.rsqrt(variance.add(this.eps))).mul(this.weight).add(this.bias) as tf.Tensor3D;
    });
  }

  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
  }
}

/** One feature-encoder layer: conv, optional norm (group norm on layer 0 or layer norm on all), GELU. */
export class WavLMFeatureConvLayer {
  constructor(readonly conv: Conv1d, readonly layer_norm: ChannelGroupNorm | LayerNorm | null) {}

  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      let h = this.conv.apply(x);
      if (this.layer_norm) h = this.layer_norm.apply(h) as tf.Tensor3D;
      return gelu(h) as tf.Tensor3D;
    });
  }

  dispose(): void {
    this.conv.dispose();
    this.layer_norm?.dispose();
  }
}

/** Raw 16 kHz samples -> one 512-d (conv_dim[-1]) vector per 20 ms. */
export class WavLMFeatureEncoder {
  constructor(readonly conv_layers: WavLMFeatureConvLayer[]) {}

  /** `[batch, samples]` -> `[batch, frames, convDim[-1]]` */
  apply(samples: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      let h = samples.expandDims(2) as tf.Tensor3D; // [batch, samples, 1]
      for (const layer of this.conv_layers) h = layer.apply(h);
      return h;
    });
  }

  dispose(): void {
    for (const l of this.conv_layers) l.dispose();
  }
}

/**
 * The convolutional relative positional embedding: a grouped conv over time (kernel 128,
 * padding 64), one frame dropped when the kernel is even so the length is kept, GELU.
 * Its weight is stored with weight norm over dim 2 and folded at load (`foldWeightNorm`).
 */
export class WavLMPositionalConvEmbedding {
  constructor(readonly conv: Conv1d, readonly kernelSize: number) {}

  /** `[batch, frames, hidden]` -> same */
  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      let h = this.conv.apply(x); // [batch, frames + 1 - (k % 2), hidden]
      if (this.kernelSize % 2 === 0) h = h.slice([0, 0, 0], [-1, h.shape[1] - 1, -1]);
      return gelu(h) as tf.Tensor3D;
    });
  }

  dispose(): void {
    this.conv.dispose();
  }
}

/**
 * Weight norm over dim 2 (`torch.nn.utils.weight_norm(conv, dim=2)`): `w = g * v / ||v||`
 * with the norm taken over dims 0 and 1 for each kernel tap; g is `[1, 1, k]`.
 */
export function foldWeightNorm(g: tf.Tensor, v: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const norm = tf.sqrt(tf.sum(tf.square(v), [0, 1], true)); // [1, 1, k]
    return v.mul(g.reshape([1, 1, -1])).div(norm) as tf.Tensor3D;
  });
}

/**
 * T5-style relative position buckets as WavLM computes them: half the buckets for keys
 * after the query; exact below `numBuckets / 4`, log-spaced up to `maxDistance`, clamped.
 * The log branch is evaluated in float32 steps as torch does, so boundaries fall alike.
 * Returns `[queries * keys]` bucket ids, row-major.
 */
export function relativePositionBuckets(queries: number, keys: number, numBuckets: number, maxDistance: number): Int32Array {
  const half = Math.floor(numBuckets / 2);
  const maxExact = Math.floor(half / 2);
  const f = Math.fround;
  const logRange = f(Math.log(maxDistance / maxExact));
  const out = new Int32Array(queries * keys);
  for (let q = 0; q < queries; q++) {
    for (let k = 0; k < keys; k++) {
      const rel = k - q;
      let bucket = rel > 0 ? half : 0;
      const dist = Math.abs(rel);
      if (dist < maxExact) bucket += dist;
      else {
        const large = f(f(f(Math.log(f(dist / maxExact))) / logRange) * (half - maxExact));
        bucket += Math.min(Math.trunc(f(maxExact + large)), half - 1);
      }
      out[q * keys + k] = bucket;
    }
  }
  return out;
}

/**
 * Self-attention with WavLM's gated relative position bias: the first layer's bucket table
 * gives `bias[h, i, j]`; every layer scales it per head and query position by a gate
 * computed from its own input, `a * (b * const - 1) + 2` with `(a, b) = sigmoid(sum of 4 of
 * gru_rel_pos_linear(x_head))` (WavLM paper, section 2).
 */
export class WavLMAttention {
  readonly headDim: number;

  constructor(
    public q_proj: Linear,
    public k_proj: Linear,
    public v_proj: Linear,
    public out_proj: Linear,
    /** `[headDim -> 8]` */
    public gru_rel_pos_linear: Linear,
    /** `[1, heads, 1, 1]` */
    public gru_rel_pos_const: tf.Tensor4D,
    /** `[numBuckets, heads]`, first layer only */
    public rel_attn_embed: tf.Tensor2D | null,
    readonly numHeads: number,
    readonly numBuckets: number,
    readonly maxDistance: number,
  ) {
    this.headDim = q_proj.outFeatures / numHeads;
  }

  /** The ungated bias `[1, heads, frames, frames]` from this layer's bucket table. */
  computeBias(frames: number): tf.Tensor4D {
    if (!this.rel_attn_embed) throw new Error('WavLMAttention: only the first layer holds rel_attn_embed');
    const table = this.rel_attn_embed;
    return tf.tidy(() => {
      const buckets = tf.tensor1d(relativePositionBuckets(frames, frames, this.numBuckets, this.maxDistance), 'int32');
      const values = tf.gather(table, buckets).reshape([frames, frames, this.numHeads]); // [q, k, heads]
      return values.transpose([2, 0, 1]).expandDims(0) as tf.Tensor4D; // [1, heads, q, k]
    });
  }

  /** `[batch, frames, hidden]` and the ungated bias `[1, heads, frames, frames]` -> `[batch, frames, hidden]` */
  apply(x: tf.Tensor3D, positionBias: tf.Tensor4D): tf.Tensor3D {
    const [b, t, d] = x.shape;
    const h = this.numHeads;
    const hd = this.headDim;
    return tf.tidy(() => {
      const heads = (y: tf.Tensor) => y.reshape([b, t, h, hd]).transpose([0, 2, 1, 3]); // [b, h, t, hd]
      // Gate: the 8 outputs summed in two groups of 4 -> (a, b) per head and query.
      const proj = this.gru_rel_pos_linear.apply(heads(x)).reshape([b, h, t, 2, 4]).sum(-1); // [b, h, t, 2]
      const [gateA, gateB] = tf.split(tf.sigmoid(proj), 2, -1); // [b, h, t, 1] each
      const gate = gateA!.mul(gateB!.mul(this.gru_rel_pos_const).sub(1)).add(2); // [b, h, t, 1]
      const bias = gate.mul(positionBias); // [b, h, t, t]
      // torch's multi_head_attention_forward: q scaled by 1/sqrt(headDim), float mask added.
      const q = heads(this.q_proj.apply(x)).mul(1 / Math.sqrt(hd));
      const k = heads(this.k_proj.apply(x));
      const v = heads(this.v_proj.apply(x));
      const probs = tf.softmax(tf.matMul(q, k, false, true).add(bias)); // [b, h, t, t]
      const ctx = tf.matMul(probs, v).transpose([0, 2, 1, 3]).reshape([b, t, d]); // [b, t, hidden]
      return this.out_proj.apply(ctx) as tf.Tensor3D;
    });
  }

  dispose(): void {
    for (const m of [this.q_proj, this.k_proj, this.v_proj, this.out_proj, this.gru_rel_pos_linear]) m.dispose();
    this.gru_rel_pos_const.dispose();
    this.rel_attn_embed?.dispose();
  }
}

export class WavLMFeedForward {
  constructor(public intermediate_dense: Linear, public output_dense: Linear) {}

  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => this.output_dense.apply(gelu(this.intermediate_dense.apply(x))) as tf.Tensor3D);
  }

  dispose(): void {
    this.intermediate_dense.dispose();
    this.output_dense.dispose();
  }
}

/** An encoder layer: post-LN (base: norm after each residual add) or pre-LN ("stable layer norm", large). */
export class WavLMEncoderLayer {
  constructor(
    public attention: WavLMAttention,
    public layer_norm: LayerNorm,
    public feed_forward: WavLMFeedForward,
    public final_layer_norm: LayerNorm,
    readonly preNorm: boolean,
  ) {}

  apply(x: tf.Tensor3D, positionBias: tf.Tensor4D): tf.Tensor3D {
    return tf.tidy(() => {
      if (this.preNorm) {
        const h = x.add(this.attention.apply(this.layer_norm.apply(x) as tf.Tensor3D, positionBias)) as tf.Tensor3D;
        return h.add(this.feed_forward.apply(this.final_layer_norm.apply(h) as tf.Tensor3D)) as tf.Tensor3D;
      }
      const h = this.layer_norm.apply(x.add(this.attention.apply(x, positionBias))) as tf.Tensor3D;
      return this.final_layer_norm.apply(h.add(this.feed_forward.apply(h))) as tf.Tensor3D;
    });
  }

  dispose(): void {
    for (const m of [this.attention, this.layer_norm, this.feed_forward, this.final_layer_norm]) m.dispose();
  }
}

export class WavLMEncoder {
  constructor(
    readonly config: WavLMConfig,
    public pos_conv_embed: WavLMPositionalConvEmbedding,
    /** Before the layers (post-LN encoder) or after them (pre-LN). */
    public layer_norm: LayerNorm,
    public layers: WavLMEncoderLayer[],
  ) {}

  /**
   * `[batch, frames, hidden]` -> the last hidden state (after the final norm in the pre-LN
   * encoder) and the hidden states transformers 5 returns with `output_hidden_states`: the
   * input of every layer, then the last layer's output (before the pre-LN encoder's final
   * norm: v5 records layer outputs), `numHiddenLayers + 1` tensors. The caller owns them.
   */
  apply(x: tf.Tensor3D): { lastHiddenState: tf.Tensor3D; hiddenStates: tf.Tensor3D[] } {
    return tf.tidy(() => {
      let h = x.add(this.pos_conv_embed.apply(x)) as tf.Tensor3D;
      if (!this.config.doStableLayerNorm) h = this.layer_norm.apply(h) as tf.Tensor3D;
      const bias = this.layers[0]!.attention.computeBias(h.shape[1]);
      const hiddenStates: tf.Tensor3D[] = [];
      for (const layer of this.layers) {
        hiddenStates.push(h);
        h = layer.apply(h, bias);
      }
      hiddenStates.push(h);
      const lastHiddenState = this.config.doStableLayerNorm ? this.layer_norm.apply(h) as tf.Tensor3D : h.clone();
      return { lastHiddenState, hiddenStates };
    });
  }

  dispose(): void {
    for (const m of [this.pos_conv_embed, this.layer_norm, ...this.layers]) m.dispose();
  }
}

/** x-vector TDNN layer: a dilated conv stored as a Linear `[out, kernel * in]`, then ReLU. */
export class TDNNLayer {
  /** `[kernel, in, out]`: the Linear weight viewed as `[out, kernel, in]`, as the reference does. */
  private readonly filter: tf.Tensor3D;

  constructor(public kernel: Linear, readonly kernelSize: number, readonly dilation: number) {
    const out = kernel.outFeatures;
    const inp = kernel.inFeatures / kernelSize;
    this.filter = tf.tidy(() => kernel.weight.reshape([out, kernelSize, inp]).transpose([1, 2, 0]) as tf.Tensor3D);
  }

  /** `[batch, frames, in]` -> `[batch, frames - dilation * (kernel - 1), out]` */
  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const y = tf.conv1d(x, this.filter, 1, 'valid', 'NWC', this.dilation);
      return tf.relu(this.kernel.bias ? y.add(this.kernel.bias) : y) as tf.Tensor3D;
    });
  }

  dispose(): void {
    this.kernel.dispose();
    this.filter.dispose();
  }
}

/** What `forward` returns; the caller owns every tensor. */
export interface XVectorOutput {
  /** `[batch, xvectorOutputDim]`: the speaker embedding. */
  embeddings: tf.Tensor2D;
  /** `[batch, xvectorOutputDim]`: the classifier's output (training speakers; unused for verification). */
  logits: tf.Tensor2D;
  /** Feature-encoder output after the projection's LayerNorm, `[batch, frames, convDim[-1]]` (transformers' `extract_features`). */
  extractFeatures: tf.Tensor3D;
  /** The encoder output `[batch, frames, hidden]` (after the pre-LN encoder's final norm). */
  lastHiddenState: tf.Tensor3D;
  /** `numHiddenLayers + 1` tensors `[batch, frames, hidden]`, as transformers 5's `hidden_states`. */
  hiddenStates: tf.Tensor3D[];
}

/** Reference weight names and shapes of a WavLMForXVector with this config (the weight-normed conv as its folded `weight`). */
export function wavlmWeightShapes(c: WavLMConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const d = c.hiddenSize;
  const lin = (p: string, out: number, inp: number) => {
    m.set(`${p}.weight`, [out, inp]);
    m.set(`${p}.bias`, [out]);
  };
  const norm = (p: string, n: number) => {
    m.set(`${p}.weight`, [n]);
    m.set(`${p}.bias`, [n]);
  };
  c.convDim.forEach((out, i) => {
    const p = `wavlm.feature_extractor.conv_layers.${i}`;
    m.set(`${p}.conv.weight`, [out, i === 0 ? 1 : c.convDim[i - 1]!, c.convKernel[i]!]);
    if (c.convBias) m.set(`${p}.conv.bias`, [out]);
    if (c.featExtractNorm === 'layer' || i === 0) norm(`${p}.layer_norm`, out);
  });
  const last = c.convDim[c.convDim.length - 1]!;
  norm('wavlm.feature_projection.layer_norm', last);
  lin('wavlm.feature_projection.projection', d, last);
  m.set('wavlm.encoder.pos_conv_embed.conv.weight', [d, d / c.numConvPosEmbeddingGroups, c.numConvPosEmbeddings]);
  m.set('wavlm.encoder.pos_conv_embed.conv.bias', [d]);
  norm('wavlm.encoder.layer_norm', d);
  const hd = d / c.numAttentionHeads;
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const p = `wavlm.encoder.layers.${i}`;
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) lin(`${p}.attention.${proj}`, d, d);
    lin(`${p}.attention.gru_rel_pos_linear`, 8, hd);
    m.set(`${p}.attention.gru_rel_pos_const`, [1, c.numAttentionHeads, 1, 1]);
    if (i === 0) m.set(`${p}.attention.rel_attn_embed.weight`, [c.numBuckets, c.numAttentionHeads]);
    norm(`${p}.layer_norm`, d);
    lin(`${p}.feed_forward.intermediate_dense`, c.intermediateSize, d);
    lin(`${p}.feed_forward.output_dense`, d, c.intermediateSize);
    norm(`${p}.final_layer_norm`, d);
  }
  if (c.useWeightedLayerSum) m.set('layer_weights', [c.numHiddenLayers + 1]);
  lin('projector', c.tdnnDim[0]!, d);
  c.tdnnDim.forEach((out, i) => {
    const inp = i === 0 ? c.tdnnDim[0]! : c.tdnnDim[i - 1]!;
    lin(`tdnn.${i}.kernel`, out, inp * c.tdnnKernel[i]!);
  });
  lin('feature_extractor', c.xvectorOutputDim, 2 * c.tdnnDim[c.tdnnDim.length - 1]!);
  lin('classifier', c.xvectorOutputDim, c.xvectorOutputDim);
  return m;
}

const POS_CONV = 'wavlm.encoder.pos_conv_embed.conv';
/** The two names of the positional conv's weight norm (g, v): torch >= 2.1 parametrizations, legacy weight_norm. */
const WEIGHT_NORM_SCHEMES: [string, string][] = [
  [`${POS_CONV}.parametrizations.weight.original0`, `${POS_CONV}.parametrizations.weight.original1`],
  [`${POS_CONV}.weight_g`, `${POS_CONV}.weight_v`],
];

function describeKeys(missing: string[], unexpected: string[]): string {
  const show = (ks: string[]) => (ks.length > 8 ? `${ks.slice(0, 8).join(', ')}, ... (${ks.length})` : ks.join(', '));
  return [missing.length ? `missing ${show(missing)}` : '', unexpected.length ? `unexpected ${show(unexpected)}` : ''].filter(Boolean).join('; ');
}

/** Mono samples of one clip. */
export interface SpeakerAudio {
  samples: Float32Array;
  /** Hz; must equal the model's (16000): resample first. */
  sampleRate: number;
}

export class WavLMForXVector {
  constructor(
    readonly config: WavLMConfig,
    readonly featureExtractorConfig: WavLMFeatureExtractorConfig,
    public feature_extractor_convs: WavLMFeatureEncoder,
    public feature_projection: { layer_norm: LayerNorm; projection: Linear },
    public encoder: WavLMEncoder,
    /** `[numHiddenLayers + 1]`, or null when the last layer is used. */
    public layer_weights: tf.Tensor1D | null,
    public projector: Linear,
    public tdnn: TDNNLayer[],
    /** The x-vector `feature_extractor` Linear (statistics -> embedding); reference name. */
    public feature_extractor: Linear,
    public classifier: Linear,
  ) {}

  /**
   * Builds the model from reference-named tensors (the positional conv as a folded
   * `...conv.weight`), taking ownership of them; names exactly `wavlmWeightShapes`.
   */
  static fromTensors(config: WavLMConfig, featureExtractor: WavLMFeatureExtractorConfig, weights: Map<string, tf.Tensor>): WavLMForXVector {
    validateWavLMConfig(config);
    const shapes = wavlmWeightShapes(config);
    const missing = [...shapes.keys()].filter((k) => !weights.has(k));
    const unexpected = [...weights.keys()].filter((k) => !shapes.has(k));
    if (missing.length || unexpected.length) throw new Error(`WavLM weights do not match the config: ${describeKeys(missing, unexpected)}`);
    for (const [k, shape] of shapes) {
      const got = weights.get(k)!.shape;
      if (got.join() !== shape.join()) throw new Error(`weight ${k} has shape [${got}], config needs [${shape}]`);
    }
    const w = <R extends tf.Rank>(k: string) => weights.get(k) as tf.Tensor<R>;
    const opt = <R extends tf.Rank>(k: string) => (weights.has(k) ? w<R>(k) : null);
    const lin = (p: string) => new Linear(w(`${p}.weight`), w(`${p}.bias`));
    const ln = (p: string, eps: number) => new LayerNorm(w(`${p}.weight`), w(`${p}.bias`), eps);

    const convs = config.convDim.map((_, i) => {
      const p = `wavlm.feature_extractor.conv_layers.${i}`;
      const conv = new Conv1d(w(`${p}.conv.weight`), opt(`${p}.conv.bias`), { stride: config.convStride[i]! });
      let norm: ChannelGroupNorm | LayerNorm | null = null;
      if (config.featExtractNorm === 'layer') norm = ln(`${p}.layer_norm`, TORCH_NORM_EPS);
      else if (i === 0) norm = new ChannelGroupNorm(w(`${p}.layer_norm.weight`), w(`${p}.layer_norm.bias`));
      return new WavLMFeatureConvLayer(conv, norm);
    });
    const eps = config.layerNormEps;
    const k = config.numConvPosEmbeddings;
    const posConv = new WavLMPositionalConvEmbedding(new Conv1d(w(`${POS_CONV}.weight`), w(`${POS_CONV}.bias`),
      { padding: Math.floor(k / 2), groups: config.numConvPosEmbeddingGroups }), k);
    const layers: WavLMEncoderLayer[] = [];
    for (let i = 0; i < config.numHiddenLayers; i++) {
      const p = `wavlm.encoder.layers.${i}`;
      const a = `${p}.attention`;
      const attention = new WavLMAttention(lin(`${a}.q_proj`), lin(`${a}.k_proj`), lin(`${a}.v_proj`), lin(`${a}.out_proj`),
        lin(`${a}.gru_rel_pos_linear`), w(`${a}.gru_rel_pos_const`), opt(`${a}.rel_attn_embed.weight`),
        config.numAttentionHeads, config.numBuckets, config.maxBucketDistance);
      layers.push(new WavLMEncoderLayer(attention, ln(`${p}.layer_norm`, eps),
        new WavLMFeedForward(lin(`${p}.feed_forward.intermediate_dense`), lin(`${p}.feed_forward.output_dense`)),
        ln(`${p}.final_layer_norm`, eps), config.doStableLayerNorm));
    }
    const encoder = new WavLMEncoder(config, posConv, ln('wavlm.encoder.layer_norm', eps), layers);
    const tdnn = config.tdnnDim.map((_, i) => new TDNNLayer(lin(`tdnn.${i}.kernel`), config.tdnnKernel[i]!, config.tdnnDilation[i]!));
    return new WavLMForXVector(config, featureExtractor, new WavLMFeatureEncoder(convs),
      { layer_norm: ln('wavlm.feature_projection.layer_norm', eps), projection: lin('wavlm.feature_projection.projection') },
      encoder, opt('layer_weights'), lin('projector'), tdnn, lin('feature_extractor'), lin('classifier'));
  }

  /**
   * Loads weights from a `WeightSource` (float32). The key set must be `wavlmWeightShapes`
   * with the positional conv's weight as a weight-norm pair (either naming scheme) or
   * already folded, plus only `IGNORED_KEYS`; otherwise the error lists the difference.
   */
  static async fromWeights(config: WavLMConfig, featureExtractor: WavLMFeatureExtractorConfig, source: WeightSource): Promise<WavLMForXVector> {
    validateWavLMConfig(config);
    const shapes = wavlmWeightShapes(config);
    const scheme = WEIGHT_NORM_SCHEMES.find(([g, v]) => source.has(g) && source.has(v));
    const expected = new Set(shapes.keys());
    if (scheme) {
      expected.delete(`${POS_CONV}.weight`);
      for (const key of scheme) expected.add(key);
    }
    const missing = [...expected].filter((k) => !source.has(k));
    const unexpected = source.keys().filter((k) => !expected.has(k) && !IGNORED_KEYS.includes(k));
    if (missing.length || unexpected.length) throw new Error(`checkpoint does not match the WavLMForXVector config: ${describeKeys(missing, unexpected)}`);
    const load = async (key: string) => {
      const { shape, data } = await source.getF32(key);
      return tf.tensor(data, shape, 'float32');
    };
    const tensors = new Map<string, tf.Tensor>();
    try {
      for (const key of shapes.keys()) {
        if (scheme && key === `${POS_CONV}.weight`) {
          const g = await load(scheme[0]);
          const v = await load(scheme[1]);
          tensors.set(key, foldWeightNorm(g, v as tf.Tensor3D));
          g.dispose();
          v.dispose();
        } else {
          tensors.set(key, await load(key));
        }
        const got = tensors.get(key)!.shape;
        if (got.join() !== shapes.get(key)!.join()) throw new Error(`checkpoint tensor ${key} has shape [${got}], config needs [${shapes.get(key)}]`);
      }
    } catch (e) {
      for (const t of tensors.values()) t.dispose();
      throw e;
    }
    return WavLMForXVector.fromTensors(config, featureExtractor, tensors);
  }

  /**
   * Loads `config.json`, `preprocessor_config.json` and the safetensors weights of a local
   * folder, or of a Hub repo id through the shared cache (default `microsoft/wavlm-base-plus-sv`).
   */
  static async fromPretrained(repoIdOrDir: string = DEFAULT_WAVLM_SV_MODEL, options: { snapshot?: SnapshotOptions } = {}): Promise<WavLMForXVector> {
    const dir = await snapshot(repoIdOrDir, { allowPatterns: WAVLM_FILES, ...options.snapshot });
    const { config, featureExtractor } = await loadWavLMConfigs(dir);
    let source: Checkpoint;
    try {
      source = await Checkpoint.open(dir);
    } catch (e) {
      throw new Error(`${repoIdOrDir}: no safetensors weights could be opened in ${dir} (${(e as Error).message}); ttslab reads only safetensors: convert a pytorch_model.bin with transformers' save_pretrained first`);
    }
    return WavLMForXVector.fromWeights(config, featureExtractor, source);
  }

  /**
   * The model's input for one clip: the samples, normalised to zero mean and unit variance
   * when the feature extractor does so (`(x - mean) / sqrt(var + 1e-7)`, in float64).
   */
  inputValues(samples: Float32Array): Float32Array {
    if (!this.featureExtractorConfig.doNormalize) return samples;
    let mean = 0;
    for (let i = 0; i < samples.length; i++) mean += samples[i]!;
    mean /= samples.length;
    let variance = 0;
    for (let i = 0; i < samples.length; i++) variance += (samples[i]! - mean) ** 2;
    variance /= samples.length;
    const scale = 1 / Math.sqrt(variance + FEATURE_NORM_EPS);
    const out = new Float32Array(samples.length);
    for (let i = 0; i < samples.length; i++) out[i] = (samples[i]! - mean) * scale;
    return out;
  }

  /** Frames the feature encoder makes of `samples` samples (0 when too short). */
  featureFrames(samples: number): number {
    let n = samples;
    for (let i = 0; i < this.config.convKernel.length; i++) n = Math.floor((n - this.config.convKernel[i]!) / this.config.convStride[i]!) + 1;
    return Math.max(0, n);
  }

  /** Frames left after the TDNN layers' valid convolutions. */
  tdnnFrames(featureFrames: number): number {
    return this.config.tdnnKernel.reduce((n, k, i) => n - this.config.tdnnDilation[i]! * (k - 1), featureFrames);
  }

  /**
   * `[batch, samples]` model input (already normalised: `inputValues`) of equal-length,
   * unpadded clips -> embeddings, logits and the hidden states. Inside `tf.tidy`.
   */
  forward(inputValues: tf.Tensor2D): XVectorOutput {
    const frames = this.featureFrames(inputValues.shape[1]);
    // Statistics pooling needs at least two frames after the TDNN (an unbiased std of one is NaN).
    if (this.tdnnFrames(frames) < 2) {
      const seconds = (inputValues.shape[1] / this.featureExtractorConfig.samplingRate).toFixed(3);
      throw new RangeError(`WavLM x-vector: ${inputValues.shape[1]} samples (${seconds} s) give ${frames} frames, ${this.tdnnFrames(frames)} after the TDNN; at least 2 are needed (a longer clip)`);
    }
    return tf.tidy(() => {
      const convOut = this.feature_extractor_convs.apply(inputValues); // [batch, frames, convDim[-1]]
      const extractFeatures = this.feature_projection.layer_norm.apply(convOut) as tf.Tensor3D;
      const projected = this.feature_projection.projection.apply(extractFeatures) as tf.Tensor3D; // [batch, frames, hidden]
      const { lastHiddenState, hiddenStates } = this.encoder.apply(projected);
      let h: tf.Tensor3D;
      if (this.layer_weights) {
        const weights = tf.softmax(this.layer_weights); // [layers + 1]
        h = tf.stack(hiddenStates).mul(weights.reshape([-1, 1, 1, 1])).sum(0) as tf.Tensor3D;
      } else {
        h = lastHiddenState;
      }
      h = this.projector.apply(h) as tf.Tensor3D; // [batch, frames, tdnn[0]]
      for (const layer of this.tdnn) h = layer.apply(h); // [batch, frames', tdnn[-1]]
      // Statistics pooling: mean and unbiased (Bessel) std over time, as torch's .std().
      const n = h.shape[1];
      const { mean, variance } = tf.moments(h, 1); // [batch, channels]
      const std = tf.sqrt(variance.mul(n / (n - 1)));
      const embeddings = this.feature_extractor.apply(tf.concat([mean, std], -1)) as tf.Tensor2D;
      const logits = this.classifier.apply(embeddings) as tf.Tensor2D;
      return { embeddings, logits, extractFeatures, lastHiddenState, hiddenStates };
    });
  }

  /**
   * The speaker embedding (x-vector, `xvectorOutputDim` values) of one 16 kHz mono clip.
   * Compare two with `cosineSimilarity` (the model card's threshold for "same speaker" on
   * wavlm-base-plus-sv is 0.86).
   */
  speakerEmbedding(samples16k: Float32Array): Float32Array {
    if (!(samples16k instanceof Float32Array)) throw new TypeError(`speakerEmbedding expects a Float32Array of ${this.featureExtractorConfig.samplingRate} Hz samples`);
    for (let i = 0; i < samples16k.length; i++) {
      if (!Number.isFinite(samples16k[i]!)) throw new RangeError(`speakerEmbedding: sample ${i} is ${samples16k[i]} (not finite)`);
    }
    const input = this.inputValues(samples16k);
    const out = tf.tidy(() => {
      const r = this.forward(tf.tensor2d(input, [1, input.length]));
      return r.embeddings;
    });
    try {
      return out.dataSync() as Float32Array;
    } finally {
      out.dispose();
    }
  }

  dispose(): void {
    for (const m of [this.feature_extractor_convs, this.feature_projection.layer_norm, this.feature_projection.projection, this.encoder,
      this.projector, ...this.tdnn, this.feature_extractor, this.classifier]) m.dispose();
    this.layer_weights?.dispose();
  }
}

/** Cosine similarity of two embeddings (-1..1); equal lengths, neither all zeros. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length || a.length === 0) throw new RangeError(`cosineSimilarity: lengths ${a.length} and ${b.length} must be equal and non-zero`);
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  if (na === 0 || nb === 0) throw new RangeError('cosineSimilarity: an embedding is all zeros');
  return dot / Math.sqrt(na * nb);
}
