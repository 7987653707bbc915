/**
 * Mimi, Kyutai's neural audio codec (24 kHz audio <-> 12.5 Hz frames of up to 32 codes), as
 * transformers' MimiModel, built bottom-up: SEANet residual block, SEANet encoder and
 * decoder, the windowed causal transformer, the split residual vector quantizer, the model.
 * Module and weight names follow the reference so the two read side by side:
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/mimi/modeling_mimi.py
 *
 * Layout: one clip at a time, time-major: audio `[samples, 1]`, SEANet activations
 * `[steps, channels]`, transformer input `[1, steps, hidden]`, codes `[codebooks, frames]`.
 *
 * Every stage is causal and carries a streaming state (conv left context, transposed-conv
 * overlap, the transformer's last `slidingWindow - 1` keys and values), so long audio is
 * encoded and decoded in chunks of whole frames with the same codes and samples as a
 * single pass (tested), in bounded memory.
 */
import * as tf from '@tensorflow/tfjs';
import { Attention, KVCache, MASK_VALUE } from '../common/attention';
import type { LinearLike } from '../common/linear';
import { LayerNorm } from '../common/layernorm';
import { gelu } from '../common/activations';
import { ropeInvFreq, rotaryCosSin } from '../common/rotary';
import { CausalConv1d, CausalConvTranspose1d } from '../common/conv';
import type { ConvStreamState, ConvTransposeStreamState } from '../common/conv';
import type { WeightSource } from '../../weights/types';
import { Checkpoint } from '../../weights/checkpoint';
import { snapshot } from '../../hub';
import type { SnapshotOptions } from '../../hub';
import { ProgressBar } from '../../notebook/progress';
import { resample } from '../../audio/resample';
import {
  DOWNSAMPLE_STRIDE, encodecFrameRate, frameRate, frameSamples, framesForSamples, mimiConfigFromHf, validateMimiConfig,
} from './config';
import type { MimiConfig } from './config';

// ---------------------------------------------------------------------------------------
// Weight loading by reference name

/**
 * Checkpoint entries that are read by no module, by design: the codebooks' `initialized`
 * flag (a training-time buffer, always 1 in released checkpoints) and RoPE `inv_freq`
 * buffers some conversions saved (recomputed from rope_theta here).
 */
export const MIMI_IGNORED_KEYS: RegExp[] = [/\.codebook\.initialized$/, /\.rotary_emb\.inv_freq$/];

/**
 * Reads tensors by reference name with shape checks, and remembers what was read. Every
 * tensor it returns and every module registered with `own` is freed by `disposeAll` if
 * the load fails part way (on success the modules own them).
 */
class WeightReader {
  readonly used = new Set<string>();
  private readonly owned: { dispose(): void }[] = [];
  private seed: number;
  constructor(
    /** A checkpoint, or `{ randomSeed }` for seeded random weights of the right shapes. */
    readonly source: WeightSource | { randomSeed: number },
    readonly prefix: string,
  ) {
    this.seed = 'randomSeed' in source ? source.randomSeed : 0;
  }

  async get(name: string, shape: number[]): Promise<tf.Tensor> {
    const full = this.prefix + name;
    if ('randomSeed' in this.source) return this.own(this.random(name, shape));
    if (!this.source.has(full)) throw new Error(`Mimi checkpoint has no tensor ${full}`);
    const { shape: got, data } = await this.source.getF32(full);
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new Error(`Mimi checkpoint tensor ${full} has shape [${got}], expected [${shape}]`);
    }
    this.used.add(full);
    return this.own(tf.tensor(data, shape));
  }

  /**
   * Random weights that keep activations in range: convs and linears N(0, 1/fan_in),
   * LayerNorm at identity, layer scales 0.01 (the reference init), codebooks N(0, 1).
   */
  private random(name: string, shape: number[]): tf.Tensor {
    if (/layernorm\.weight$|cluster_usage$/.test(name)) return tf.ones(shape);
    if (/layernorm\.bias$|conv\.bias$/.test(name)) return tf.zeros(shape);
    if (/layer_scale\.scale$/.test(name)) return tf.fill(shape, 0.01);
    const fanIn = /embed_sum$/.test(name) ? 1 : shape.slice(1).reduce((a, b) => a * b, 1);
    // Pre-increment: tfjs treats a seed of 0 as no seed at all (rand_util: seed ? seed : Math.random()).
    return tf.randomNormal(shape, 0, 1 / Math.sqrt(fanIn), 'float32', ++this.seed);
  }

  own<T extends { dispose(): void }>(x: T): T {
    this.owned.push(x);
    return x;
  }

  /** Frees everything read or registered so far (disposing twice is harmless in tfjs). */
  disposeAll(): void {
    for (const x of this.owned.reverse()) x.dispose();
    this.owned.length = 0;
  }

  /** Throws listing every checkpoint tensor under the prefix that no module read. */
  assertAllUsed(): void {
    if ('randomSeed' in this.source) return;
    const unused = this.source
      .keys()
      .filter((k) => k.startsWith(this.prefix) && !this.used.has(k) && !MIMI_IGNORED_KEYS.some((re) => re.test(k)));
    if (unused.length) {
      const shown = unused.slice(0, 20).join(', ');
      throw new Error(`Mimi checkpoint has ${unused.length} tensor(s) no module uses: ${shown}${unused.length > 20 ? ', ...' : ''}`);
    }
  }
}

async function loadConv(
  w: WeightReader, name: string, cin: number, cout: number, k: number,
  opts: { stride?: number; dilation?: number; bias?: boolean; padMode?: 'constant' | 'replicate' } = {},
): Promise<CausalConv1d> {
  const weight = (await w.get(`${name}.conv.weight`, [cout, cin, k])) as tf.Tensor3D;
  const bias = opts.bias === false ? null : ((await w.get(`${name}.conv.bias`, [cout])) as tf.Tensor1D);
  return w.own(new CausalConv1d(weight, bias, opts.stride ?? 1, opts.dilation ?? 1, opts.padMode ?? 'constant'));
}

async function loadConvTranspose(
  w: WeightReader, name: string, cin: number, cout: number, k: number, stride: number, groups: number, bias: boolean,
): Promise<CausalConvTranspose1d> {
  const weight = (await w.get(`${name}.conv.weight`, [cin, cout / groups, k])) as tf.Tensor3D;
  const b = bias ? ((await w.get(`${name}.conv.bias`, [cout])) as tf.Tensor1D) : null;
  return w.own(new CausalConvTranspose1d(weight, b, stride, groups));
}

/**
 * A bias-free torch Linear that keeps its weight transposed, `[in, out]`: tfjs-backend-wasm
 * 4.22 runs `matMul(x, W, false, true)` about 9x slower than `matMul(x, W^T)` (measured:
 * [50, 512] x [512, 2048] 52 ms vs 5.8 ms; the cpu backend is indifferent). Local to Mimi
 * because common/linear.ts keeps the checkpoint layout for LoRA; owns its weight.
 */
export class MimiLinear implements LinearLike {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** `[in, out]` */
  readonly weightT: tf.Tensor2D;

  constructor(
    /** torch layout `[out, in]` (consumed: the constructor disposes it) */
    weight: tf.Tensor2D,
  ) {
    [this.outFeatures, this.inFeatures] = weight.shape;
    this.weightT = tf.keep(weight.transpose() as tf.Tensor2D);
    weight.dispose();
  }

  /** `[..., in]` -> `[..., out]` */
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const y = tf.matMul(x.reshape([-1, this.inFeatures]), this.weightT); // [rows, out]
      return y.reshape([...lead, this.outFeatures]);
    });
  }

  dispose(): void {
    this.weightT.dispose();
  }
}

// ---------------------------------------------------------------------------------------
// SEANet

/** MimiResnetBlock: x + conv_k1(elu(conv_k(elu(x)))), the branch at channels / compress. */
export class MimiResnetBlock {
  constructor(
    /** `block.1`: dim -> dim / compress, kernel residual_kernel_size, dilated */
    readonly conv1: CausalConv1d,
    /** `block.3`: dim / compress -> dim, kernel 1 */
    readonly conv2: CausalConv1d,
    /** `shortcut` conv when use_conv_shortcut, else identity */
    readonly shortcut: CausalConv1d | null,
  ) {}

  static async load(w: WeightReader, name: string, c: MimiConfig, dim: number, dilation: number): Promise<MimiResnetBlock> {
    const hidden = Math.floor(dim / c.compress);
    const conv1 = await loadConv(w, `${name}.block.1`, dim, hidden, c.residualKernelSize, { dilation, padMode: c.padMode });
    const conv2 = await loadConv(w, `${name}.block.3`, hidden, dim, 1, { padMode: c.padMode });
    const shortcut = c.useConvShortcut ? await loadConv(w, `${name}.shortcut`, dim, dim, 1, { padMode: c.padMode }) : null;
    return new MimiResnetBlock(conv1, conv2, shortcut);
  }

  newState(): ConvStreamState[] {
    return [this.conv1.newState(), this.conv2.newState(), ...(this.shortcut ? [this.shortcut.newState()] : [])];
  }

  /** `[steps, dim]` -> `[steps, dim]` */
  apply(x: tf.Tensor2D, state?: ConvStreamState[], final = true): tf.Tensor2D {
    return tf.tidy(() => {
      const h = this.conv1.apply(tf.elu(x), state?.[0], final);
      const y = this.conv2.apply(tf.elu(h), state?.[1], final);
      const skip = this.shortcut ? this.shortcut.apply(x, state?.[2], final) : x;
      return skip.add(y);
    });
  }

  dispose(): void {
    this.conv1.dispose();
    this.conv2.dispose();
    this.shortcut?.dispose();
  }
}

/** One entry of a SEANet `layers` list; ELUs hold no weights but keep the reference indices. */
type SeanetLayer =
  | { kind: 'conv'; conv: CausalConv1d }
  | { kind: 'convtr'; conv: CausalConvTranspose1d }
  | { kind: 'res'; block: MimiResnetBlock }
  | { kind: 'elu' };

export type SeanetState = (ConvStreamState | ConvStreamState[] | ConvTransposeStreamState | null)[];

/** A SEANet stack (MimiEncoder or MimiDecoder): `layers.N` as in the reference. */
export class SeanetStack {
  constructor(readonly layers: SeanetLayer[]) {}

  /**
   * MimiEncoder: conv k7 (1 -> F); per ratio of reversed(upsampling_ratios): residual
   * blocks, ELU, conv k=2r stride r (C -> 2C); ELU, conv (-> hidden).
   */
  static async loadEncoder(w: WeightReader, c: MimiConfig): Promise<SeanetStack> {
    const layers: SeanetLayer[] = [];
    const at = () => `encoder.layers.${layers.length}`;
    layers.push({ kind: 'conv', conv: await loadConv(w, at(), c.audioChannels, c.numFilters, c.kernelSize, { padMode: c.padMode }) });
    let scale = 1;
    for (const ratio of [...c.upsamplingRatios].reverse()) {
      const ch = scale * c.numFilters;
      for (let j = 0; j < c.numResidualLayers; j++) {
        layers.push({ kind: 'res', block: await MimiResnetBlock.load(w, at(), c, ch, c.dilationGrowthRate ** j) });
      }
      layers.push({ kind: 'elu' });
      layers.push({ kind: 'conv', conv: await loadConv(w, at(), ch, ch * 2, ratio * 2, { stride: ratio, padMode: c.padMode }) });
      scale *= 2;
    }
    layers.push({ kind: 'elu' });
    layers.push({ kind: 'conv', conv: await loadConv(w, at(), scale * c.numFilters, c.hiddenSize, c.lastKernelSize, { padMode: c.padMode }) });
    return new SeanetStack(layers);
  }

  /**
   * MimiDecoder: conv k7 (hidden -> 2^n F); per ratio: ELU, transposed conv k=2r stride r
   * (C -> C/2), residual blocks; ELU, conv (F -> 1).
   */
  static async loadDecoder(w: WeightReader, c: MimiConfig): Promise<SeanetStack> {
    const layers: SeanetLayer[] = [];
    const at = () => `decoder.layers.${layers.length}`;
    let scale = 2 ** c.upsamplingRatios.length;
    layers.push({ kind: 'conv', conv: await loadConv(w, at(), c.hiddenSize, scale * c.numFilters, c.kernelSize, { padMode: c.padMode }) });
    for (const ratio of c.upsamplingRatios) {
      const ch = scale * c.numFilters;
      layers.push({ kind: 'elu' });
      layers.push({ kind: 'convtr', conv: await loadConvTranspose(w, at(), ch, ch / 2, ratio * 2, ratio, 1, true) });
      for (let j = 0; j < c.numResidualLayers; j++) {
        layers.push({ kind: 'res', block: await MimiResnetBlock.load(w, at(), c, ch / 2, c.dilationGrowthRate ** j) });
      }
      scale /= 2;
    }
    layers.push({ kind: 'elu' });
    layers.push({ kind: 'conv', conv: await loadConv(w, at(), c.numFilters, c.audioChannels, c.lastKernelSize, { padMode: c.padMode }) });
    return new SeanetStack(layers);
  }

  newState(): SeanetState {
    return this.layers.map((l) => (l.kind === 'conv' || l.kind === 'convtr' ? l.conv.newState() : l.kind === 'res' ? l.block.newState() : null));
  }

  /** `[steps, in]` -> `[steps', out]`; one chunk of a stream when `state` is given. */
  apply(x: tf.Tensor2D, state?: SeanetState, final = true): tf.Tensor2D {
    return tf.tidy(() => {
      let h = x;
      this.layers.forEach((l, i) => {
        if (l.kind === 'elu') h = tf.elu(h);
        else if (l.kind === 'conv') h = l.conv.apply(h, state?.[i] as ConvStreamState | undefined, final);
        else if (l.kind === 'convtr') h = l.conv.apply(h, state?.[i] as ConvTransposeStreamState | undefined);
        else h = l.block.apply(h, state?.[i] as ConvStreamState[] | undefined, final);
      });
      return h;
    });
  }

  dispose(): void {
    for (const l of this.layers) {
      if (l.kind === 'conv' || l.kind === 'convtr') l.conv.dispose();
      else if (l.kind === 'res') l.block.dispose();
    }
  }
}

/** Frees every tensor of a (nested) streaming state. */
function disposeState(s: unknown): void {
  if (!s) return;
  if (Array.isArray(s)) {
    for (const x of s) disposeState(x);
  } else if (s instanceof KVCache) {
    s.dispose();
  } else if (typeof s === 'object' && 'tail' in s) {
    (s as { tail: tf.Tensor | null }).tail?.dispose();
    (s as { tail: tf.Tensor | null }).tail = null;
  }
}

// ---------------------------------------------------------------------------------------
// Transformer

/**
 * The KV cache of a sliding-window transformer: `trim()` keeps the last `window - 1`
 * positions, all a later query can still see. Owns its tensors.
 */
export class WindowedKVCache extends KVCache {
  private ks: (tf.Tensor4D | null)[];
  private vs: (tf.Tensor4D | null)[];
  /** Absolute position of the next token (positions seen so far). */
  position = 0;

  constructor(
    numLayers: number,
    readonly window: number,
  ) {
    super(numLayers);
    this.ks = new Array(numLayers).fill(null);
    this.vs = new Array(numLayers).fill(null);
  }

  /** Positions held now (at most window - 1 between forwards). */
  override get seqLength(): number {
    return this.ks[0]?.shape[2] ?? 0;
  }

  override update(layer: number, k: tf.Tensor4D, v: tf.Tensor4D): { k: tf.Tensor4D; v: tf.Tensor4D } {
    const oldK = this.ks[layer];
    const oldV = this.vs[layer];
    const nk = tf.keep(oldK ? (tf.concat([oldK, k], 2) as tf.Tensor4D) : k.clone());
    const nv = tf.keep(oldV ? (tf.concat([oldV, v], 2) as tf.Tensor4D) : v.clone());
    oldK?.dispose();
    oldV?.dispose();
    this.ks[layer] = nk;
    this.vs[layer] = nv;
    return { k: nk, v: nv };
  }

  /** Drops positions no later query can see (called after each forward). */
  trim(): void {
    const keep = this.window - 1;
    for (let i = 0; i < this.numLayers; i++) {
      for (const arr of [this.ks, this.vs]) {
        const t = arr[i];
        if (t && t.shape[2] > keep) {
          arr[i] = tf.keep(t.slice([0, 0, t.shape[2] - keep, 0], [-1, -1, keep, -1]));
          t.dispose();
        }
      }
    }
  }

  override dispose(): void {
    for (let i = 0; i < this.numLayers; i++) {
      this.ks[i]?.dispose();
      this.vs[i]?.dispose();
      this.ks[i] = null;
      this.vs[i] = null;
    }
    this.position = 0;
  }
}

/**
 * Additive mask `[1, 1, seq, past + seq]` of causal sliding-window attention: query at
 * absolute position q sees key position k when `q - window < k <= q` (transformers'
 * sliding_window_causal_mask_function: `kv_idx > q_idx - sliding_window`).
 * `past` keys sit at positions `start - past .. start - 1`.
 */
export function slidingWindowMask(seq: number, past: number, start: number, window: number): tf.Tensor4D {
  const total = past + seq;
  const data = new Float32Array(seq * total);
  for (let i = 0; i < seq; i++) {
    const q = start + i;
    for (let j = 0; j < total; j++) {
      const k = start - past + j;
      data[i * total + j] = k <= q && k > q - window ? 0 : MASK_VALUE;
    }
  }
  return tf.tensor4d(data, [1, 1, seq, total]);
}

/** MimiTransformerLayer: pre-LN attention and GELU MLP, each scaled by a learned per-channel layer scale. */
export class MimiTransformerLayer {
  constructor(
    readonly input_layernorm: LayerNorm,
    readonly self_attn: Attention,
    readonly self_attn_layer_scale: tf.Tensor1D,
    readonly post_attention_layernorm: LayerNorm,
    readonly fc1: MimiLinear,
    readonly fc2: MimiLinear,
    readonly mlp_layer_scale: tf.Tensor1D,
  ) {}

  static async load(w: WeightReader, name: string, c: MimiConfig): Promise<MimiTransformerLayer> {
    const h = c.hiddenSize;
    const lin = async (n: string, out: number, inp: number) => w.own(new MimiLinear((await w.get(`${name}.${n}.weight`, [out, inp])) as tf.Tensor2D));
    const ln = async (n: string) =>
      new LayerNorm((await w.get(`${name}.${n}.weight`, [h])) as tf.Tensor1D, (await w.get(`${name}.${n}.bias`, [h])) as tf.Tensor1D, c.normEps);
    const qDim = c.numAttentionHeads * c.headDim;
    const kvDim = c.numKeyValueHeads * c.headDim;
    const attn = new Attention(
      await lin('self_attn.q_proj', qDim, h), await lin('self_attn.k_proj', kvDim, h),
      await lin('self_attn.v_proj', kvDim, h), await lin('self_attn.o_proj', h, qDim),
      { numHeads: c.numAttentionHeads, numKvHeads: c.numKeyValueHeads, headDim: c.headDim },
    );
    return new MimiTransformerLayer(
      await ln('input_layernorm'), attn, (await w.get(`${name}.self_attn_layer_scale.scale`, [h])) as tf.Tensor1D,
      await ln('post_attention_layernorm'), await lin('mlp.fc1', c.intermediateSize, h), await lin('mlp.fc2', h, c.intermediateSize),
      (await w.get(`${name}.mlp_layer_scale.scale`, [h])) as tf.Tensor1D,
    );
  }

  apply(x: tf.Tensor3D, ctx: { cos: tf.Tensor3D; sin: tf.Tensor3D; mask: tf.Tensor4D; cache: KVCache }, layer: number): tf.Tensor3D {
    return tf.tidy(() => {
      const a = this.self_attn.apply(this.input_layernorm.apply(x) as tf.Tensor3D, ctx, layer);
      const h = x.add(a.mul(this.self_attn_layer_scale)) as tf.Tensor3D;
      const m = this.fc2.apply(gelu(this.fc1.apply(this.post_attention_layernorm.apply(h))));
      return h.add(m.mul(this.mlp_layer_scale)) as tf.Tensor3D;
    });
  }

  dispose(): void {
    this.input_layernorm.dispose();
    this.self_attn.dispose();
    this.self_attn_layer_scale.dispose();
    this.post_attention_layernorm.dispose();
    this.fc1.dispose();
    this.fc2.dispose();
    this.mlp_layer_scale.dispose();
  }
}

/** MimiTransformerModel: layers only (no embedding, no final norm), RoPE positions from the cache. */
export class MimiTransformer {
  readonly invFreq: Float32Array;

  constructor(
    readonly layers: MimiTransformerLayer[],
    readonly config: MimiConfig,
  ) {
    this.invFreq = ropeInvFreq(config.headDim, config.ropeTheta);
  }

  static async load(w: WeightReader, name: string, c: MimiConfig): Promise<MimiTransformer> {
    const layers: MimiTransformerLayer[] = [];
    for (let i = 0; i < c.numHiddenLayers; i++) layers.push(await MimiTransformerLayer.load(w, `${name}.layers.${i}`, c));
    return new MimiTransformer(layers, c);
  }

  newState(): WindowedKVCache {
    return new WindowedKVCache(this.layers.length, this.config.slidingWindow);
  }

  /** `[steps, hidden]` -> `[steps, hidden]`, continuing the positions and keys of `cache`. */
  apply(x: tf.Tensor2D, cache: WindowedKVCache = this.newState()): tf.Tensor2D {
    const seq = x.shape[0];
    const past = cache.seqLength;
    const start = cache.position;
    const out = tf.tidy(() => {
      const positions = Array.from({ length: seq }, (_, i) => start + i);
      const { cos, sin } = rotaryCosSin(this.invFreq, [positions]); // [1, seq, headDim]
      const mask = slidingWindowMask(seq, past, start, this.config.slidingWindow);
      let h = x.expandDims(0) as tf.Tensor3D; // [1, seq, hidden]
      this.layers.forEach((layer, i) => {
        h = layer.apply(h, { cos, sin, mask, cache }, i);
      });
      return h.squeeze([0]) as tf.Tensor2D;
    });
    cache.position = start + seq;
    cache.trim();
    return out;
  }

  dispose(): void {
    for (const l of this.layers) l.dispose();
  }
}

// ---------------------------------------------------------------------------------------
// Quantizer

/** One Euclidean codebook: `embed = embed_sum / clamp(cluster_usage, eps)` `[K, D]`. */
export class MimiCodebook {
  /** `[K]` squared norms of the entries (for distances). */
  readonly sqNorm: tf.Tensor1D;
  /** `[D, K]`, for x.e without a transposed matMul (slow on wasm, see MimiLinear). */
  private readonly embedT: tf.Tensor2D;
  constructor(readonly embed: tf.Tensor2D) {
    this.sqNorm = tf.keep(tf.tidy(() => embed.square().sum(1) as tf.Tensor1D));
    this.embedT = tf.keep(embed.transpose() as tf.Tensor2D);
  }

  /** MimiEuclideanCodebook's epsilon. */
  static readonly EPSILON = 1e-5;

  static async load(w: WeightReader, name: string, c: MimiConfig): Promise<MimiCodebook> {
    const sum = await w.get(`${name}.embed_sum`, [c.codebookSize, c.codebookDim]);
    const usage = await w.get(`${name}.cluster_usage`, [c.codebookSize]);
    const embed = tf.tidy(() => sum.div(usage.maximum(MimiCodebook.EPSILON).expandDims(1)) as tf.Tensor2D);
    sum.dispose();
    usage.dispose();
    return w.own(new MimiCodebook(w.own(embed)));
  }

  /**
   * Nearest entry of each row of `x` `[T, D]` -> int32 `[T]`. `argmin |x - e|^2` drops
   * `|x|^2` (the same for every entry of a row): `argmin(|e|^2 - 2 x.e)`.
   */
  encode(x: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => this.sqNorm.expandDims(0).sub(tf.matMul(x, this.embedT).mul(2)).argMin(1) as tf.Tensor1D);
  }

  /** int32 `[T]` -> `[T, D]` */
  decode(codes: tf.Tensor1D): tf.Tensor2D {
    return tf.gather(this.embed, codes) as tf.Tensor2D;
  }

  dispose(): void {
    this.embed.dispose();
    this.embedT.dispose();
    this.sqNorm.dispose();
  }
}

/** MimiResidualVectorQuantizer: input_proj, residual codebooks, output_proj (k1 convs, no bias). */
export class MimiResidualVectorQuantizer {
  constructor(
    readonly codebooks: MimiCodebook[],
    /** `[vq, hidden]` k=1 conv as a linear, or null when the widths agree */
    readonly input_proj: MimiLinear | null,
    readonly output_proj: MimiLinear | null,
  ) {}

  static async load(w: WeightReader, name: string, c: MimiConfig, n: number): Promise<MimiResidualVectorQuantizer> {
    const books: MimiCodebook[] = [];
    for (let i = 0; i < n; i++) books.push(await MimiCodebook.load(w, `${name}.layers.${i}.codebook`, c));
    const vq = c.vectorQuantizationHiddenDimension;
    if (vq === c.hiddenSize) return new MimiResidualVectorQuantizer(books, null, null);
    const proj = async (p: string, out: number, inp: number) => {
      const k1 = await w.get(`${name}.${p}.weight`, [out, inp, 1]); // Conv1d k=1 == Linear
      const weight = k1.reshape([out, inp]) as tf.Tensor2D;
      k1.dispose();
      return w.own(new MimiLinear(weight));
    };
    return new MimiResidualVectorQuantizer(books, await proj('input_proj', vq, c.hiddenSize), await proj('output_proj', c.hiddenSize, vq));
  }

  /** `[T, hidden]` -> int32 `[n, T]`, each level quantizing what the previous ones left. */
  encode(x: tf.Tensor2D, n: number): tf.Tensor2D {
    return tf.tidy(() => {
      let residual = (this.input_proj ? this.input_proj.apply(x) : x) as tf.Tensor2D; // [T, vq]
      const codes: tf.Tensor1D[] = [];
      for (const book of this.codebooks.slice(0, n)) {
        const idx = book.encode(residual);
        residual = residual.sub(book.decode(idx));
        codes.push(idx);
      }
      return tf.stack(codes) as tf.Tensor2D;
    });
  }

  /** int32 `[n, T]` -> `[T, hidden]`: the sum of the entries, through output_proj. */
  decode(codes: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const rows = tf.unstack(codes) as tf.Tensor1D[];
      let sum = this.codebooks[0].decode(rows[0]);
      for (let i = 1; i < rows.length; i++) sum = sum.add(this.codebooks[i].decode(rows[i]));
      return (this.output_proj ? this.output_proj.apply(sum) : sum) as tf.Tensor2D;
    });
  }

  dispose(): void {
    for (const b of this.codebooks) b.dispose();
    this.input_proj?.dispose();
    this.output_proj?.dispose();
  }
}

/** MimiSplitResidualVectorQuantizer: codebook 0 semantic, 1.. acoustic; both read the same input. */
export class MimiSplitResidualVectorQuantizer {
  constructor(
    readonly semantic_residual_vector_quantizer: MimiResidualVectorQuantizer,
    readonly acoustic_residual_vector_quantizer: MimiResidualVectorQuantizer,
    readonly numSemantic: number,
  ) {}

  static async load(w: WeightReader, c: MimiConfig): Promise<MimiSplitResidualVectorQuantizer> {
    return new MimiSplitResidualVectorQuantizer(
      await MimiResidualVectorQuantizer.load(w, 'quantizer.semantic_residual_vector_quantizer', c, c.numSemanticQuantizers),
      await MimiResidualVectorQuantizer.load(w, 'quantizer.acoustic_residual_vector_quantizer', c, c.numQuantizers - c.numSemanticQuantizers),
      c.numSemanticQuantizers,
    );
  }

  /** `[T, hidden]` -> int32 `[n, T]` */
  encode(x: tf.Tensor2D, n: number): tf.Tensor2D {
    return tf.tidy(() => {
      const sem = this.semantic_residual_vector_quantizer.encode(x, this.numSemantic);
      if (n <= this.numSemantic) return sem;
      return tf.concat([sem, this.acoustic_residual_vector_quantizer.encode(x, n - this.numSemantic)], 0) as tf.Tensor2D;
    });
  }

  /** int32 `[n, T]` -> `[T, hidden]` */
  decode(codes: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const n = codes.shape[0];
      const s = this.numSemantic;
      const sem = this.semantic_residual_vector_quantizer.decode(codes.slice([0, 0], [Math.min(n, s), -1]));
      if (n <= s) return sem;
      return sem.add(this.acoustic_residual_vector_quantizer.decode(codes.slice([s, 0], [n - s, -1])));
    });
  }

  dispose(): void {
    this.semantic_residual_vector_quantizer.dispose();
    this.acoustic_residual_vector_quantizer.dispose();
  }
}

// ---------------------------------------------------------------------------------------
// The model

/** Codes of one clip: row-major `[codebooks, frames]`. */
export interface MimiCodes {
  data: Int32Array;
  shape: [number, number];
}

/** Audio with its rate, e.g. what src/audio decodes (first channel used) or a plain pair. */
export type MimiAudioInput = Float32Array | { samples: Float32Array; sampleRate: number } | { channels: Float32Array[]; sampleRate: number };

export interface MimiEncodeOptions {
  /** Codebooks to return, 1..numQuantizers (default all, 32 for kyutai/mimi). CSM uses 32. */
  numCodebooks?: number;
  /**
   * Rate of a bare Float32Array (Hz). Default: the codec's rate (24000). Audio at another
   * rate is resampled (Kaiser-windowed sinc, src/audio) with a notice, or rejected when
   * `resample` is false.
   */
  sampleRate?: number;
  /** Resample audio that is not at the codec's rate (default true, with a notice). */
  resample?: boolean;
  /** Frames per chunk of the streamed encode (default 125 = 10 s): bounds memory, not the result. */
  chunkFrames?: number;
  /** Progress bar: default on when there is more than one chunk. */
  progress?: boolean;
  /** Where notices go (default console.warn). */
  onNotice?: (message: string) => void;
}

/** The shape of CSM's AudioCodec (src/models/csm/types.ts): frame-major codes. */
export interface MimiAudioCodec {
  readonly sampleRate: number;
  readonly frameSamples: number;
  readonly numCodebooks: number;
  /** 24 kHz samples -> codes `[frames][codebooks]` */
  encode(samples: Float32Array): Promise<number[][]>;
  /** codes `[frames][codebooks]` -> `frames * frameSamples` samples */
  decode(codes: number[][]): Promise<Float32Array>;
}

export interface MimiDecodeOptions {
  /** Frames per chunk of the streamed decode (default 125 = 10 s). */
  chunkFrames?: number;
  /** Progress bar: default on when there is more than one chunk. */
  progress?: boolean;
}

export interface MimiLoadOptions {
  /** Key prefix of the codec inside a larger checkpoint, e.g. "codec_model." in CSM repositories. */
  prefix?: string;
}

const DEFAULT_CHUNK_FRAMES = 125;

/** Carried between chunks of a streamed encode: conv left contexts, the transformer's window. */
export interface MimiEncodeState {
  encoder: SeanetState;
  transformer: WindowedKVCache;
  downsample: ConvStreamState;
}

/** Frees the tensors a MimiEncodeState holds. */
export function disposeEncodeState(state: MimiEncodeState): void {
  disposeState(state.encoder);
  disposeState(state.downsample);
  state.transformer.dispose();
}

/**
 * transformers' MimiModel: encoder, encoder_transformer, downsample, quantizer, upsample,
 * decoder_transformer, decoder. Owns its weights: `dispose()` frees them.
 */
export class MimiModel {
  constructor(
    readonly config: MimiConfig,
    readonly encoder: SeanetStack,
    readonly encoder_transformer: MimiTransformer,
    /** k = 2 * (25 Hz / 12.5 Hz) = 4, stride 2, no bias, replicate padding */
    readonly downsample: CausalConv1d,
    readonly quantizer: MimiSplitResidualVectorQuantizer,
    /** depthwise (groups = hidden) transposed conv, k 4, stride 2, no bias */
    readonly upsample: CausalConvTranspose1d,
    readonly decoder_transformer: MimiTransformer,
    readonly decoder: SeanetStack,
  ) {}

  /** Samples per frame (1920 at 24 kHz). */
  get frameSamples(): number {
    return frameSamples(this.config);
  }

  /** Frames per second (12.5). */
  get frameRate(): number {
    return frameRate(this.config);
  }

  /**
   * Loads a transformers MimiModel checkpoint. Every tensor is read by its reference name
   * with its shape checked; every checkpoint tensor under `prefix` must be used, except
   * MIMI_IGNORED_KEYS (listed in the error otherwise).
   */
  static async fromWeights(source: WeightSource, config: MimiConfig, options: MimiLoadOptions = {}): Promise<MimiModel> {
    return MimiModel.build(new WeightReader(source, options.prefix ?? ''), config);
  }

  /** Seeded random weights of `config`'s shapes (tests and benchmarks; codes are meaningless). */
  static async random(config: MimiConfig, seed = 0): Promise<MimiModel> {
    return MimiModel.build(new WeightReader({ randomSeed: seed }, ''), config);
  }

  private static async build(w: WeightReader, config: MimiConfig): Promise<MimiModel> {
    validateMimiConfig(config);
    const c = config;
    try {
      const encoder = await SeanetStack.loadEncoder(w, c);
      const encoderTransformer = await MimiTransformer.load(w, 'encoder_transformer', c);
      const ratio = Math.floor(encodecFrameRate(c) / frameRate(c));
      const downsample = await loadConv(w, 'downsample', c.hiddenSize, c.hiddenSize, 2 * ratio, { stride: DOWNSAMPLE_STRIDE, bias: false, padMode: 'replicate' });
      const quantizer = await MimiSplitResidualVectorQuantizer.load(w, c);
      const upsample = await loadConvTranspose(w, 'upsample', c.hiddenSize, c.hiddenSize, 2 * ratio, DOWNSAMPLE_STRIDE, c.upsampleGroups, false);
      const decoderTransformer = await MimiTransformer.load(w, 'decoder_transformer', c);
      const decoder = await SeanetStack.loadDecoder(w, c);
      w.assertAllUsed();
      return new MimiModel(c, encoder, encoderTransformer, downsample, quantizer, upsample, decoderTransformer, decoder);
    } catch (e) {
      w.disposeAll();
      throw e;
    }
  }

  /**
   * From a local directory or Hub repository with `config.json` and safetensors weights
   * (e.g. "kyutai/mimi"). For a CSM repository pass `prefix: "codec_model."`; its
   * config.json holds the codec's config under `codec_config`.
   */
  static async fromPretrained(repoOrDir: string, options: MimiLoadOptions & { snapshot?: SnapshotOptions } = {}): Promise<MimiModel> {
    // A local directory comes back as is; a repo id is fetched into (or served from) the cache.
    const dir = await snapshot(repoOrDir, {
      allowPatterns: ['config.json', '*.safetensors', '*.safetensors.index.json'], ...options.snapshot,
    });
    const { readFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const hf = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const codec = (hf.model_type !== 'mimi' && hf.codec_config ? hf.codec_config : hf) as Record<string, unknown>;
    return MimiModel.fromWeights(await Checkpoint.open(dir), mimiConfigFromHf(codec), options);
  }

  // -- encode ------------------------------------------------------------------------------

  /** Streaming state of the encoder path (owns tensors: free it with `disposeEncodeState`). */
  newEncodeState(): MimiEncodeState {
    return { encoder: this.encoder.newState(), transformer: this.encoder_transformer.newState(), downsample: this.downsample.newState() };
  }

  /**
   * Quantizer input `[frames, hidden]` of one chunk `[samples, 1]` (encoder, transformer,
   * downsample), continuing `state`. Exposed for parity tests of the stages.
   */
  embedChunk(audio: tf.Tensor2D, state: MimiEncodeState, final = true): { encoderOut: tf.Tensor2D; transformerOut: tf.Tensor2D; embeddings: tf.Tensor2D } {
    return tf.tidy(() => {
      const encoderOut = this.encoder.apply(audio, state.encoder, final); // [steps, hidden]
      const transformerOut = this.encoder_transformer.apply(encoderOut, state.transformer); // [steps, hidden]
      const embeddings = this.downsample.apply(transformerOut, state.downsample, final); // [frames, hidden]
      return { encoderOut, transformerOut, embeddings };
    });
  }

  /**
   * Audio -> codes `[numCodebooks, ceil(samples / 1920)]`, as MimiModel.encode. Long audio
   * is streamed in chunks of `chunkFrames` whole frames: each causal conv carries its left
   * context, the transformers their last window - 1 keys and positions, so the codes equal
   * a single-pass encode (tested) while memory stays bounded by the chunk.
   */
  async encode(audio: MimiAudioInput, options: MimiEncodeOptions = {}): Promise<MimiCodes> {
    const c = this.config;
    const numCodebooks = options.numCodebooks ?? c.numQuantizers;
    this.checkNumCodebooks(numCodebooks);
    const samples = this.prepareAudio(audio, options);
    const hop = this.frameSamples;
    const frames = framesForSamples(c, samples.length);
    const chunkFrames = options.chunkFrames ?? DEFAULT_CHUNK_FRAMES;
    if (!Number.isInteger(chunkFrames) || chunkFrames < 1) throw new Error(`chunkFrames must be a positive integer, got ${chunkFrames}`);
    const chunks = Math.ceil(frames / chunkFrames);
    const bar = (options.progress ?? chunks > 1) ? new ProgressBar({ label: 'Mimi encode', total: frames, unit: 'frames' }) : null;
    const out = new Int32Array(numCodebooks * frames);
    const state = this.newEncodeState();
    try {
      for (let ci = 0; ci < chunks; ci++) {
        const first = ci * chunkFrames * hop;
        const last = Math.min(samples.length, (ci + 1) * chunkFrames * hop);
        const final = ci === chunks - 1;
        const codes = tf.tidy(() => {
          const x = tf.tensor2d(samples.subarray(first, last), [last - first, 1]);
          const { embeddings } = this.embedChunk(x, state, final);
          return this.quantizer.encode(embeddings, numCodebooks); // [n, chunk frames]
        });
        const data = (await codes.data()) as Int32Array;
        const [, n] = codes.shape;
        codes.dispose();
        const f0 = ci * chunkFrames;
        for (let k = 0; k < numCodebooks; k++) out.set(data.subarray(k * n, (k + 1) * n), k * frames + f0);
        bar?.update(f0 + n);
      }
      bar?.finish();
    } catch (e) {
      bar?.finish('failed');
      throw e;
    } finally {
      disposeEncodeState(state);
    }
    return { data: out, shape: [numCodebooks, frames] };
  }

  // -- decode ------------------------------------------------------------------------------

  /**
   * Codes `[codebooks, frames]` -> audio `frames * 1920` samples at 24 kHz, as
   * MimiModel.decode. Any number of codebooks from 1 to numQuantizers (fewer codebooks, a
   * coarser sound). Streamed in chunks of whole frames like `encode`, with the same result
   * as one pass.
   */
  async decode(codes: MimiCodes | ArrayLike<number>[], options: MimiDecodeOptions = {}): Promise<Float32Array> {
    const { data, shape } = this.checkCodes(codes);
    const [n, frames] = shape;
    const chunkFrames = options.chunkFrames ?? DEFAULT_CHUNK_FRAMES;
    if (!Number.isInteger(chunkFrames) || chunkFrames < 1) throw new Error(`chunkFrames must be a positive integer, got ${chunkFrames}`);
    const chunks = Math.ceil(frames / chunkFrames);
    const bar = (options.progress ?? chunks > 1) ? new ProgressBar({ label: 'Mimi decode', total: frames, unit: 'frames' }) : null;
    const hop = this.frameSamples;
    const out = new Float32Array(frames * hop);
    const state = { upsample: this.upsample.newState(), transformer: this.decoder_transformer.newState(), decoder: this.decoder.newState() };
    try {
      for (let ci = 0; ci < chunks; ci++) {
        const f0 = ci * chunkFrames;
        const f1 = Math.min(frames, f0 + chunkFrames);
        const rows = new Int32Array(n * (f1 - f0));
        for (let k = 0; k < n; k++) rows.set(data.subarray(k * frames + f0, k * frames + f1), k * (f1 - f0));
        const audio = tf.tidy(() => {
          const codesT = tf.tensor2d(rows, [n, f1 - f0], 'int32');
          const q = this.quantizer.decode(codesT); // [frames, hidden]
          const up = this.upsample.apply(q, state.upsample); // [2 frames, hidden]
          const h = this.decoder_transformer.apply(up, state.transformer);
          return this.decoder.apply(h, state.decoder, ci === chunks - 1); // [frames * 1920, 1]
        });
        out.set((await audio.data()) as Float32Array, f0 * hop);
        audio.dispose();
        bar?.update(f1);
      }
      bar?.finish();
    } catch (e) {
      bar?.finish('failed');
      throw e;
    } finally {
      disposeState(state.upsample);
      disposeState(state.decoder);
      state.transformer.dispose();
    }
    return out;
  }

  // -- CSM's codec interface ------------------------------------------------------------

  /**
   * This codec as CSM's `AudioCodec` (src/models/csm/types.ts): codes frame-major
   * `[frames][codebooks]`, `numCodebooks` per frame (default all: 32 for CSM-1B).
   */
  asAudioCodec(numCodebooks = this.config.numQuantizers): MimiAudioCodec {
    this.checkNumCodebooks(numCodebooks);
    return {
      sampleRate: this.config.samplingRate,
      frameSamples: this.frameSamples,
      numCodebooks,
      encode: async (samples: Float32Array) => {
        const { data, shape } = await this.encode(samples, { numCodebooks });
        const [n, frames] = shape;
        return Array.from({ length: frames }, (_, t) => Array.from({ length: n }, (_, k) => data[k * frames + t]));
      },
      decode: async (codes: number[][]) => {
        const frames = codes.length;
        const n = frames ? codes[0].length : 0;
        const rows = Array.from({ length: n }, (_, k) => codes.map((frame, t) => {
          if (frame.length !== n) throw new Error(`codes: frame ${t} has ${frame.length} codebooks, frame 0 has ${n}`);
          return frame[k];
        }));
        return this.decode(rows);
      },
    };
  }

  // -- validation --------------------------------------------------------------------------

  private checkNumCodebooks(n: number): void {
    const max = this.config.numQuantizers;
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`numCodebooks must be an integer from 1 to ${max}, got ${n}`);
  }

  /** Mono Float32Array at the codec rate; resamples (with a notice) or rejects other rates. */
  private prepareAudio(audio: MimiAudioInput, options: MimiEncodeOptions): Float32Array {
    const rate = this.config.samplingRate;
    let samples: Float32Array;
    let sr: number;
    if (audio instanceof Float32Array) {
      samples = audio;
      sr = options.sampleRate ?? rate;
    } else if ('samples' in audio) {
      samples = audio.samples;
      sr = audio.sampleRate;
    } else {
      if (audio.channels.length !== 1) throw new Error(`Mimi encodes mono audio; got ${audio.channels.length} channels (mix down with toMono first)`);
      samples = audio.channels[0];
      sr = audio.sampleRate;
    }
    if (!(samples instanceof Float32Array)) throw new Error('Mimi.encode: samples must be a Float32Array');
    if (samples.length === 0) throw new Error('Mimi.encode: the audio is empty');
    for (let i = 0; i < samples.length; i++) {
      if (!Number.isFinite(samples[i])) throw new Error(`Mimi.encode: sample ${i} is ${samples[i]}`);
    }
    if (!Number.isFinite(sr) || sr <= 0) throw new Error(`Mimi.encode: sample rate must be positive, got ${sr}`);
    if (sr !== rate) {
      if (options.resample === false) throw new Error(`Mimi.encode: audio is at ${sr} Hz, the codec needs ${rate} Hz (resampling is off)`);
      (options.onNotice ?? console.warn)(`Mimi: resampling ${samples.length} samples from ${sr} Hz to ${rate} Hz`);
      samples = resample(samples, sr, rate);
    }
    return samples;
  }

  /** Normalises and validates codes, naming the offending value. */
  private checkCodes(codes: MimiCodes | ArrayLike<number>[]): MimiCodes {
    const { numQuantizers: max, codebookSize: size } = this.config;
    let data: Int32Array;
    let shape: [number, number];
    if (Array.isArray(codes)) {
      const rows = codes as ArrayLike<number>[];
      const frames = rows[0]?.length ?? 0;
      data = new Int32Array(rows.length * frames);
      rows.forEach((r, k) => {
        if (r.length !== frames) throw new Error(`codes: codebook ${k} has ${r.length} frames, codebook 0 has ${frames}`);
        for (let t = 0; t < frames; t++) {
          if (!Number.isInteger(r[t])) throw new Error(`codes: value ${r[t]} at codebook ${k}, frame ${t} is not an integer`);
          data[k * frames + t] = r[t];
        }
      });
      shape = [rows.length, frames];
    } else {
      ({ data, shape } = codes as MimiCodes);
      if (!(data instanceof Int32Array)) throw new Error('codes.data must be an Int32Array');
      if (data.length !== shape[0] * shape[1]) throw new Error(`codes: data has ${data.length} values, shape [${shape}] needs ${shape[0] * shape[1]}`);
    }
    const [n, frames] = shape;
    if (n < 1 || n > max) throw new Error(`codes have ${n} codebooks; this Mimi takes 1 to ${max}`);
    if (frames < 1) throw new Error('codes have no frames');
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v < 0 || v >= size) {
        throw new Error(`codes: value ${v} at codebook ${Math.floor(i / frames)}, frame ${i % frames} is outside [0, ${size})`);
      }
    }
    return { data, shape: [n, frames] };
  }

  dispose(): void {
    this.encoder.dispose();
    this.encoder_transformer.dispose();
    this.downsample.dispose();
    this.quantizer.dispose();
    this.upsample.dispose();
    this.decoder_transformer.dispose();
    this.decoder.dispose();
  }
}

