/**
 * w2v-BERT 2.0's encoder in tfjs: transformers' `Wav2Vec2BertModel` without the adapter and
 * heads, read side by side with
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/wav2vec2_bert/modeling_wav2vec2_bert.py
 *
 *   feature_projection   LayerNorm(160) -> Linear(160 -> hidden)          (dropout off in eval)
 *   encoder.layers[i]    conformer block (Gulati et al. 2020), pre-norm:
 *     x += 0.5 * ffn1(LN(x))                         Linear -> swish -> Linear
 *     x += attn(LN(x))                               4 Linear with bias; scores q.k / sqrt(d)
 *                                                    + q.E[clamp(j - i, -64, 8)] / sqrt(d) ("relative_key")
 *     x += conv(x)                                   LN -> pointwise (2h, no bias) -> GLU
 *                                                    -> causal depthwise conv k31 (left pad 30)
 *                                                    -> LN -> swish -> pointwise (no bias)
 *     x = LN(x + 0.5 * ffn2(LN(x)))
 *
 * `hidden_states[0]` is the projection's output and `hidden_states[i]` the output of layer i,
 * as transformers' `output_hidden_states=True`; XCodec2 reads `hidden_states[16]`.
 * Weight names are transformers' (`encoder.layers.0.self_attn.linear_q.weight`, ...), under an
 * optional prefix (`semantic_encoder.` inside an XCodec2 checkpoint).
 * One clip at a time (batch 1, no attention mask, no padding frames).
 * Layout: activations `[1, time, hidden]`.
 */
import * as tf from '@tensorflow/tfjs';
import type { WeightSource } from '../../weights/types';
import { MemoryWeights } from '../../weights/checkpoint';
import { Rng } from '../../generate/rng';
import { LayerNorm } from '../common/layernorm';
import { Linear } from '../common/linear';
import { validateW2vBertConfig } from './config';
import type { W2vBertConfig } from './config';

const swish = (x: tf.Tensor): tf.Tensor => x.mul(tf.sigmoid(x));

/** Reads prefixed reference-named tensors with shape checks; tracks what it read and what to free on failure. */
class Reader {
  readonly used = new Set<string>();
  readonly owned: tf.Tensor[] = [];
  constructor(private readonly source: WeightSource, private readonly prefix: string) {}

  async get(name: string, shape: number[]): Promise<tf.Tensor> {
    const key = this.prefix + name;
    if (!this.source.has(key)) throw new Error(`w2v-BERT checkpoint has no tensor ${key}`);
    const { shape: got, data } = await this.source.getF32(key);
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new Error(`w2v-BERT checkpoint tensor ${key} has shape [${got}], expected [${shape}]`);
    }
    this.used.add(key);
    const t = tf.tensor(data, shape);
    this.owned.push(t);
    return t;
  }

  async linear(name: string, out: number, inp: number, bias = true): Promise<Linear> {
    return new Linear((await this.get(`${name}.weight`, [out, inp])) as tf.Tensor2D, bias ? ((await this.get(`${name}.bias`, [out])) as tf.Tensor1D) : null);
  }

  async layerNorm(name: string, n: number, eps: number): Promise<LayerNorm> {
    return new LayerNorm((await this.get(`${name}.weight`, [n])) as tf.Tensor1D, (await this.get(`${name}.bias`, [n])) as tf.Tensor1D, eps);
  }

  /** A kernel-1 Conv1d `[out, in, 1]` read as a Linear `[out, in]`. */
  async pointwise(name: string, out: number, inp: number): Promise<Linear> {
    const w = await this.get(`${name}.weight`, [out, inp, 1]);
    const m = w.reshape([out, inp]) as tf.Tensor2D;
    this.owned.push(m);
    return new Linear(m, null);
  }
}

class FeedForward {
  constructor(readonly intermediate: Linear, readonly output: Linear) {}
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.output.apply(swish(this.intermediate.apply(x))));
  }
  dispose(): void {
    this.intermediate.dispose();
    this.output.dispose();
  }
}

/** Self-attention with "relative_key" position scores (Shaw et al. 2018, keys only). */
class RelativeKeyAttention {
  constructor(
    readonly q: Linear, readonly k: Linear, readonly v: Linear, readonly out: Linear,
    /** `[left + right + 1, headDim]` */
    readonly distance: tf.Tensor2D,
    readonly heads: number, readonly left: number, readonly right: number,
  ) {}

  /** `[1, T, H]` -> `[1, T, H]`; `index` `[T, T]` int32 = clamp(j - i, -left, right) + left. */
  apply(x: tf.Tensor3D, index: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [, T, H] = x.shape;
      const d = H / this.heads;
      const split = (t: tf.Tensor) => t.reshape([T, this.heads, d]).transpose([1, 0, 2]); // [heads, T, d]
      const q = split(this.q.apply(x));
      const k = split(this.k.apply(x));
      const v = split(this.v.apply(x));
      const scale = 1 / Math.sqrt(d);
      const content = tf.matMul(q, k, false, true); // [heads, T, T]
      // q . E[index[i][j]]: project q on every distance row, then pick row index[i][j] per (i, j).
      const byDistance = tf.matMul(q.reshape([this.heads * T, d]), this.distance, false, true) // [heads*T, R]
        .reshape([this.heads, T, -1]).transpose([1, 2, 0]); // [T, R, heads]
      const position = tf.gather(byDistance, index, 1, 1).transpose([2, 0, 1]); // [T, T, heads] -> [heads, T, T]
      const probs = tf.softmax(content.add(position).mul(scale), -1);
      const ctx = tf.matMul(probs, v).transpose([1, 0, 2]).reshape([1, T, H]); // [1, T, H]
      return this.out.apply(ctx) as tf.Tensor3D;
    });
  }

  dispose(): void {
    for (const m of [this.q, this.k, this.v, this.out]) m.dispose();
    this.distance.dispose();
  }
}

/** The conformer convolution module (no BatchNorm: w2v-BERT uses a LayerNorm after the depthwise conv). */
class ConvModule {
  constructor(
    readonly norm: LayerNorm,
    /** `[2H, H]` */
    readonly pointwise1: Linear,
    /** tfjs depthwise filter `[1, K, H, 1]` */
    readonly depthwise: tf.Tensor4D,
    readonly depthwiseNorm: LayerNorm,
    readonly pointwise2: Linear,
  ) {}

  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [, T, H] = x.shape;
      const K = this.depthwise.shape[1];
      const h = this.pointwise1.apply(this.norm.apply(x)); // [1, T, 2H]
      const glu = h.slice([0, 0, 0], [1, T, H]).mul(tf.sigmoid(h.slice([0, 0, H], [1, T, H]))); // nn.GLU(dim=channels)
      const padded = glu.pad([[0, 0], [K - 1, 0], [0, 0]]).reshape([1, 1, T + K - 1, H]) as tf.Tensor4D; // causal: all K-1 on the left
      const dw = tf.depthwiseConv2d(padded, this.depthwise, 1, 'valid').reshape([1, T, H]);
      return this.pointwise2.apply(swish(this.depthwiseNorm.apply(dw))) as tf.Tensor3D;
    });
  }

  dispose(): void {
    for (const m of [this.norm, this.pointwise1, this.depthwiseNorm, this.pointwise2]) m.dispose();
    this.depthwise.dispose();
  }
}

class ConformerLayer {
  constructor(
    readonly ffn1Norm: LayerNorm, readonly ffn1: FeedForward,
    readonly attnNorm: LayerNorm, readonly attn: RelativeKeyAttention,
    readonly conv: ConvModule,
    readonly ffn2Norm: LayerNorm, readonly ffn2: FeedForward,
    readonly finalNorm: LayerNorm,
  ) {}

  apply(x: tf.Tensor3D, index: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      let h = this.ffn1.apply(this.ffn1Norm.apply(x)).mul(0.5).add(x) as tf.Tensor3D;
      h = this.attn.apply(this.attnNorm.apply(h) as tf.Tensor3D, index).add(h);
      h = this.conv.apply(h).add(h);
      h = this.ffn2.apply(this.ffn2Norm.apply(h)).mul(0.5).add(h) as tf.Tensor3D;
      return this.finalNorm.apply(h) as tf.Tensor3D;
    });
  }

  dispose(): void {
    for (const m of [this.ffn1Norm, this.ffn1, this.attnNorm, this.attn, this.conv, this.ffn2Norm, this.ffn2, this.finalNorm]) m.dispose();
  }
}

/** Every tensor the encoder stack reads, with its torch shape (transformers' names, no prefix). */
export function w2vBertWeightShapes(config: W2vBertConfig, numLayers = config.numHiddenLayers): Map<string, number[]> {
  const c = validateW2vBertConfig(config);
  const H = c.hiddenSize;
  const F = c.featureProjectionInputDim;
  const d = H / c.numAttentionHeads;
  const m = new Map<string, number[]>([
    ['feature_projection.layer_norm.weight', [F]], ['feature_projection.layer_norm.bias', [F]],
    ['feature_projection.projection.weight', [H, F]], ['feature_projection.projection.bias', [H]],
  ]);
  const ln = (p: string) => { m.set(`${p}.weight`, [H]); m.set(`${p}.bias`, [H]); };
  const lin = (p: string, o: number, i: number) => { m.set(`${p}.weight`, [o, i]); m.set(`${p}.bias`, [o]); };
  for (let i = 0; i < numLayers; i++) {
    const p = `encoder.layers.${i}`;
    for (const f of ['ffn1', 'ffn2']) {
      ln(`${p}.${f}_layer_norm`);
      lin(`${p}.${f}.intermediate_dense`, c.intermediateSize, H);
      lin(`${p}.${f}.output_dense`, H, c.intermediateSize);
    }
    ln(`${p}.self_attn_layer_norm`);
    for (const n of ['linear_q', 'linear_k', 'linear_v', 'linear_out']) lin(`${p}.self_attn.${n}`, H, H);
    m.set(`${p}.self_attn.distance_embedding.weight`, [c.leftMaxPositionEmbeddings + c.rightMaxPositionEmbeddings + 1, d]);
    ln(`${p}.conv_module.layer_norm`);
    m.set(`${p}.conv_module.pointwise_conv1.weight`, [2 * H, H, 1]);
    m.set(`${p}.conv_module.depthwise_conv.weight`, [H, 1, c.convDepthwiseKernelSize]);
    ln(`${p}.conv_module.depthwise_layer_norm`);
    m.set(`${p}.conv_module.pointwise_conv2.weight`, [H, H, 1]);
    ln(`${p}.final_layer_norm`);
  }
  return m;
}

export interface W2vBertLoadOptions {
  /** Prefix of every key (`semantic_encoder.` in an XCodec2 checkpoint). Default none. */
  prefix?: string;
  /**
   * Layers to load and run (default all of the config's). XCodec2 reads hidden_states[16] of
   * the 24-layer facebook/w2v-bert-2.0: 16 layers are enough, the rest are never read.
   */
  numLayers?: number;
}

/** The w2v-BERT 2.0 encoder stack. Owns its tensors (`dispose()`). */
export class W2vBertModel {
  private constructor(
    readonly config: W2vBertConfig,
    private readonly projectionNorm: LayerNorm,
    private readonly projection: Linear,
    private readonly layers: ConformerLayer[],
  ) {}

  get numLayers(): number {
    return this.layers.length;
  }

  /**
   * Loads by transformers' names. Under `prefix`, every `feature_projection.*` / `encoder.*` key
   * of the layers it runs must be read, and no `adapter.*` or `intermediate_ffn.*` may exist
   * (they would be silently skipped): an error names them. Layers past `numLayers` and
   * `masked_spec_embed` (SpecAugment, training only) are left alone.
   */
  static async fromWeights(source: WeightSource, config: W2vBertConfig, options: W2vBertLoadOptions = {}): Promise<W2vBertModel> {
    const c = validateW2vBertConfig(config);
    const prefix = options.prefix ?? '';
    const numLayers = options.numLayers ?? c.numHiddenLayers;
    if (!(Number.isInteger(numLayers) && numLayers >= 0 && numLayers <= c.numHiddenLayers)) {
      throw new Error(`w2v-BERT numLayers must be an integer in [0, ${c.numHiddenLayers}], got ${numLayers}`);
    }
    const r = new Reader(source, prefix);
    try {
      const H = c.hiddenSize;
      const eps = c.layerNormEps;
      const projectionNorm = await r.layerNorm('feature_projection.layer_norm', c.featureProjectionInputDim, eps);
      const projection = await r.linear('feature_projection.projection', H, c.featureProjectionInputDim);
      const layers: ConformerLayer[] = [];
      const d = H / c.numAttentionHeads;
      const K = c.convDepthwiseKernelSize;
      for (let i = 0; i < numLayers; i++) {
        const p = `encoder.layers.${i}`;
        const ffn = async (f: string) => new FeedForward(
          await r.linear(`${p}.${f}.intermediate_dense`, c.intermediateSize, H), await r.linear(`${p}.${f}.output_dense`, H, c.intermediateSize));
        const ffn1Norm = await r.layerNorm(`${p}.ffn1_layer_norm`, H, eps);
        const ffn1 = await ffn('ffn1');
        const attnNorm = await r.layerNorm(`${p}.self_attn_layer_norm`, H, eps);
        const attn = new RelativeKeyAttention(
          await r.linear(`${p}.self_attn.linear_q`, H, H), await r.linear(`${p}.self_attn.linear_k`, H, H),
          await r.linear(`${p}.self_attn.linear_v`, H, H), await r.linear(`${p}.self_attn.linear_out`, H, H),
          (await r.get(`${p}.self_attn.distance_embedding.weight`, [c.leftMaxPositionEmbeddings + c.rightMaxPositionEmbeddings + 1, d])) as tf.Tensor2D,
          c.numAttentionHeads, c.leftMaxPositionEmbeddings, c.rightMaxPositionEmbeddings,
        );
        const convNorm = await r.layerNorm(`${p}.conv_module.layer_norm`, H, eps);
        const pw1 = await r.pointwise(`${p}.conv_module.pointwise_conv1`, 2 * H, H);
        const dwTorch = await r.get(`${p}.conv_module.depthwise_conv.weight`, [H, 1, K]);
        const dw = tf.tidy(() => dwTorch.reshape([H, K]).transpose().reshape([1, K, H, 1]) as tf.Tensor4D); // [H, 1, K] -> [1, K, H, 1]
        r.owned.push(dw);
        const dwNorm = await r.layerNorm(`${p}.conv_module.depthwise_layer_norm`, H, eps);
        const pw2 = await r.pointwise(`${p}.conv_module.pointwise_conv2`, H, H);
        const ffn2Norm = await r.layerNorm(`${p}.ffn2_layer_norm`, H, eps);
        const ffn2 = await ffn('ffn2');
        const finalNorm = await r.layerNorm(`${p}.final_layer_norm`, H, eps);
        layers.push(new ConformerLayer(ffn1Norm, ffn1, attnNorm, attn, new ConvModule(convNorm, pw1, dw, dwNorm, pw2), ffn2Norm, ffn2, finalNorm));
      }
      const layerOf = (k: string) => /^encoder\.layers\.(\d+)\./.exec(k)?.[1];
      const unknown = source.keys().filter((k) => {
        if (!k.startsWith(prefix) || r.used.has(k)) return false;
        const rest = k.slice(prefix.length);
        // Wav2Vec2BertModel's own modules; anything else under the prefix (a head, other models) is not ours.
        if (!/^(feature_projection|encoder|adapter|intermediate_ffn)\./.test(rest)) return false;
        const layer = layerOf(rest);
        return layer === undefined || Number(layer) < numLayers || Number(layer) >= c.numHiddenLayers;
      });
      if (unknown.length) throw new Error(`w2v-BERT checkpoint has tensors this port does not read: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ` (+${unknown.length - 5})` : ''}`);
      // Only the tensors the modules hold stay; the torch-layout copies of reshaped ones go.
      const kept = new Set<tf.Tensor>([projectionNorm.weight, projectionNorm.bias!, projection.weight, projection.bias!]);
      for (const l of layers) {
        for (const n of [l.ffn1Norm, l.attnNorm, l.conv.norm, l.conv.depthwiseNorm, l.ffn2Norm, l.finalNorm]) { kept.add(n.weight); kept.add(n.bias!); }
        for (const lin of [l.ffn1.intermediate, l.ffn1.output, l.ffn2.intermediate, l.ffn2.output, l.attn.q, l.attn.k, l.attn.v, l.attn.out, l.conv.pointwise1, l.conv.pointwise2]) {
          kept.add(lin.weight);
          if (lin.bias) kept.add(lin.bias);
        }
        kept.add(l.attn.distance);
        kept.add(l.conv.depthwise);
      }
      for (const t of r.owned) if (!kept.has(t)) t.dispose();
      return new W2vBertModel(c, projectionNorm, projection, layers);
    } catch (e) {
      for (const t of r.owned) t.dispose();
      throw e;
    }
  }

  /** Seeded random weights in the checkpoint's names (matrices N(0, 1/fan_in), norms 1, biases 0): for tests and tiny models. */
  static async random(config: W2vBertConfig, seed = 0, options: W2vBertLoadOptions = {}): Promise<W2vBertModel> {
    const prefix = options.prefix ?? '';
    return W2vBertModel.fromWeights(new MemoryWeights(randomW2vBertTensors(config, seed, prefix), 'w2vbert-random'), config, options);
  }

  /**
   * Features `[T, 160]` (or `[1, T, 160]`) -> hidden states: `[0]` after the feature
   * projection, `[i]` after conformer layer i, each `[1, T, hidden]`, owned by the caller.
   * `upTo` runs only the first `upTo` layers (default all loaded).
   */
  hiddenStates(features: tf.Tensor2D | tf.Tensor3D, upTo = this.layers.length): tf.Tensor3D[] {
    const x = features.rank === 2 ? features.expandDims(0) as tf.Tensor3D : features as tf.Tensor3D;
    const [b, T, F] = x.shape;
    if (b !== 1 || F !== this.config.featureProjectionInputDim) {
      if (x !== features) x.dispose();
      throw new Error(`w2v-BERT features must be [1, frames, ${this.config.featureProjectionInputDim}], got [${features.shape}]`);
    }
    if (!(Number.isInteger(upTo) && upTo >= 0 && upTo <= this.layers.length)) {
      if (x !== features) x.dispose();
      throw new Error(`w2v-BERT upTo must be an integer in [0, ${this.layers.length}], got ${upTo}`);
    }
    const { leftMaxPositionEmbeddings: L, rightMaxPositionEmbeddings: R } = this.config;
    const idx = new Int32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) idx[i * T + j] = Math.min(Math.max(j - i, -L), R) + L;
    const index = tf.tensor2d(idx, [T, T], 'int32');
    const out: tf.Tensor3D[] = [];
    try {
      out.push(tf.tidy(() => this.projection.apply(this.projectionNorm.apply(x)) as tf.Tensor3D));
      for (let i = 0; i < upTo; i++) out.push(this.layers[i]!.apply(out[i]!, index));
      return out;
    } catch (e) {
      for (const t of out) t.dispose();
      throw e;
    } finally {
      index.dispose();
      if (x !== features) x.dispose();
    }
  }

  /** Features -> `hidden_states[layer]` `[1, T, hidden]` (default the last loaded), freeing the others. */
  forward(features: tf.Tensor2D | tf.Tensor3D, layer = this.layers.length): tf.Tensor3D {
    const states = this.hiddenStates(features, layer);
    for (let i = 0; i < states.length - 1; i++) states[i]!.dispose();
    return states[states.length - 1]!;
  }

  dispose(): void {
    this.projectionNorm.dispose();
    this.projection.dispose();
    for (const l of this.layers) l.dispose();
  }
}

/** The random tensors `W2vBertModel.random` loads, keyed `prefix + name`. */
export function randomW2vBertTensors(config: W2vBertConfig, seed: number, prefix = ''): Map<string, { shape: number[]; data: Float32Array }> {
  const rng = new Rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of w2vBertWeightShapes(config)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (shape.length >= 2) {
      const std = 1 / Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1));
      for (let i = 0; i < data.length; i++) data[i] = normal() * std;
    } else if (/norm\.weight$/.test(name)) data.fill(1);
    tensors.set(prefix + name, { shape, data });
  }
  return tensors;
}
