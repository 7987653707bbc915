/**
 * SNAC in tfjs, ported from the reference package (read side by side):
 *   https://github.com/hubertsiuzdak/snac/blob/main/snac/snac.py       SNAC (preprocess, encode, decode)
 *   https://github.com/hubertsiuzdak/snac/blob/main/snac/layers.py     Encoder, Decoder, blocks, Snake, NoiseBlock
 *   https://github.com/hubertsiuzdak/snac/blob/main/snac/vq.py         VectorQuantize, ResidualVectorQuantize
 *   https://github.com/hubertsiuzdak/snac/blob/main/snac/attention.py  LocalMHA, SinusoidalEmbeddings
 * Module and weight names follow the reference state_dict (`encoder.block.3.block.4`,
 * `decoder.model.2`, `quantizer.quantizers.0.in_proj`).
 *
 * Layout: activations are `[batch, time, channels]` (tfjs's NWC); weights keep the torch
 * layout they are stored in and are rearranged once at load. Weight-norm parametrised
 * convs (`weight_norm`, dim 0) are folded at load: w = g * v / ||v||, the norm over every
 * axis but 0 (output channels of a Conv1d, input channels of a ConvTranspose1d).
 */
import * as tf from '@tensorflow/tfjs';
import type { WeightSource } from '../../weights/types';
import { Checkpoint } from '../../weights/checkpoint';
import { snapshot } from '../../hub';
import type { SnapshotOptions } from '../../hub';
import { hopLength, paddedLength, snacConfigFromJson } from './config';
import type { SnacConfig } from './config';

/** Reference buffers that are derived from the config, not learnt: recomputed here. */
export const SNAC_IGNORED_KEYS = [/\.rel_pos\.inv_freq$/];

// -- noise ---------------------------------------------------------------------------------

/**
 * What the decoder's NoiseBlocks add: `x + noise * linear(x)` with noise `[batch, 1, time]`.
 * The reference draws `torch.randn` on every call, even in eval, so its decode is not
 * deterministic; parity needs the same noise or none.
 * - `'off'`: zero noise (what decoding with the noise blocks removed would give).
 * - `{ seed }`: standard normal noise from a counter-based generator keyed by (seed, block,
 *   absolute sample position at that block's rate): deterministic, and a window decoded
 *   with its offset gets the same noise as the same samples of a one-shot decode.
 * - a function: the caller's noise (e.g. what the reference drew, for parity tests).
 */
export type SnacNoise = 'off' | { seed: number } | SnacNoiseFn;

/**
 * Noise of decoder block `block` (0-based) for `length` samples of batch row `row`,
 * starting at absolute position `offset` at that block's output rate.
 */
export type SnacNoiseFn = (info: { block: number; row: number; offset: number; length: number }) => Float32Array;

/** A 32-bit integer hash (murmur3's finaliser) for the counter-based noise. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Standard normal values keyed by (seed, block, row, position): Box-Muller on two hashes. */
export function positionalNoise(seed: number): SnacNoiseFn {
  return ({ block, row, offset, length }) => {
    const out = new Float32Array(length);
    const key = fmix32(fmix32(seed >>> 0) ^ Math.imul(block + 1, 0x9e3779b1) ^ Math.imul(row + 1, 0x7feb352d));
    for (let i = 0; i < length; i++) {
      const p = offset + i;
      const a = fmix32(key ^ fmix32(p * 2 + 1));
      const b = fmix32(key ^ fmix32(p * 2 + 2) ^ 0x68e31da4);
      const u1 = (a + 1) / 4294967297; // (0, 1)
      const u2 = b / 4294967296;
      out[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }
    return out;
  };
}

function noiseFn(noise: SnacNoise): SnacNoiseFn | null {
  if (noise === 'off') return null;
  if (typeof noise === 'function') return noise;
  if (typeof noise === 'object' && Number.isInteger(noise.seed)) return positionalNoise(noise.seed);
  throw new Error(`SNAC noise must be 'off', { seed: <integer> } or a function, got ${JSON.stringify(noise)}`);
}

/** Decoder-wide context of one call: the noise and the latent frame the input starts at. */
interface DecodeContext {
  noise: SnacNoiseFn | null;
  /** Latent frame index of the input's first frame (0 for a one-shot decode). */
  latentOffset: number;
}

// -- weights -------------------------------------------------------------------------------

/**
 * Reads tensors by reference name, checks shapes, tracks what was used. Every tensor and
 * layer made during a load is registered with `own`, so a failed load frees them all
 * (disposing a consumed tensor again is harmless in tfjs).
 */
class WeightReader {
  readonly used = new Set<string>();
  readonly owned: { dispose(): void }[] = [];
  constructor(private readonly source: WeightSource) {}

  async get(name: string, shape: number[]): Promise<tf.Tensor> {
    if (!this.source.has(name)) throw new Error(`SNAC checkpoint has no tensor ${name}`);
    const { shape: got, data } = await this.source.getF32(name);
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new Error(`SNAC checkpoint tensor ${name} has shape [${got}], expected [${shape}]`);
    }
    this.used.add(name);
    return this.own(tf.tensor(data, shape));
  }

  /**
   * The weight of a weight-normed conv `name` with torch shape `shape`: from
   * `parametrizations.weight.original0/1` (torch >= 2.1 parametrizations), legacy
   * `weight_g/weight_v`, or an already folded `weight`. g has shape `[shape[0], 1, 1]`.
   */
  async weightNormed(name: string, shape: number[]): Promise<tf.Tensor3D> {
    const pairs: [string, string][] = [
      [`${name}.parametrizations.weight.original0`, `${name}.parametrizations.weight.original1`],
      [`${name}.weight_g`, `${name}.weight_v`],
    ];
    for (const [gName, vName] of pairs) {
      if (!this.source.has(vName)) continue;
      const g = await this.get(gName, [shape[0], 1, 1]);
      const v = await this.get(vName, shape);
      const w = tf.tidy(() => v.mul(g.div(v.square().sum([1, 2], true).sqrt()))) as tf.Tensor3D;
      g.dispose();
      v.dispose();
      return this.own(w);
    }
    return (await this.get(`${name}.weight`, shape)) as tf.Tensor3D;
  }

  own<T extends { dispose(): void }>(x: T): T {
    this.owned.push(x);
    return x;
  }

  assertAllUsed(): void {
    const unused = this.source.keys().filter((k) => !this.used.has(k) && !SNAC_IGNORED_KEYS.some((re) => re.test(k)));
    if (unused.length) {
      throw new Error(`SNAC checkpoint has ${unused.length} tensor(s) no module uses: ${unused.slice(0, 20).join(', ')}${unused.length > 20 ? ', ...' : ''}`);
    }
  }
}

// -- layers --------------------------------------------------------------------------------

interface Layer {
  /** `[batch, time, channels]` -> `[batch, time', channels']` */
  apply(x: tf.Tensor3D, ctx?: DecodeContext): tf.Tensor3D;
  dispose(): void;
}

/**
 * torch.nn.Conv1d (WNConv1d) with symmetric zero `padding`: dense (groups 1) through
 * conv1d, depthwise (groups = in = out) through depthwiseConv2d, kernel 1 as a matmul.
 */
class Conv1d implements Layer {
  private readonly kind: 'dense' | 'depthwise' | 'pointwise';
  /** dense `[k, in, out]`; depthwise `[1, k, ch, 1]`; pointwise `[in, out]` */
  private readonly filter: tf.Tensor;
  readonly outChannels: number;

  constructor(
    weight: tf.Tensor3D, // torch [out, in / groups, k]; consumed
    private readonly bias: tf.Tensor1D | null,
    private readonly stride = 1,
    private readonly padding = 0,
    private readonly dilation = 1,
    groups = 1,
  ) {
    const [cout, cinPerGroup, k] = weight.shape;
    this.outChannels = cout;
    if (groups === 1 && k === 1 && stride === 1) {
      this.kind = 'pointwise';
      this.filter = tf.tidy(() => weight.squeeze([2]).transpose()); // [in, out]
    } else if (groups === 1) {
      this.kind = 'dense';
      this.filter = weight.transpose([2, 1, 0]); // [k, in, out]
    } else if (groups === cout && cinPerGroup === 1 && stride === 1) {
      this.kind = 'depthwise';
      this.filter = tf.tidy(() => weight.squeeze([1]).transpose().reshape([1, k, cout, 1])); // [1, k, ch, 1]
    } else {
      throw new Error(`SNAC Conv1d: groups ${groups} with weight [${weight.shape}] and stride ${stride} (only dense or depthwise stride 1)`);
    }
    weight.dispose();
  }

  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t, cin] = x.shape;
      let y: tf.Tensor3D;
      if (this.kind === 'pointwise') {
        // A 2-D matmul (tfjs 4.22 broadcasts a batched operand poorly).
        y = tf.matMul(x.reshape([b * t, cin]), this.filter as tf.Tensor2D).reshape([b, t, this.outChannels]);
      } else {
        const p = this.padding;
        const xp = p > 0 ? (x.pad([[0, 0], [p, p], [0, 0]]) as tf.Tensor3D) : x; // [b, t + 2p, in]
        if (this.kind === 'dense') {
          y = tf.conv1d(xp, this.filter as tf.Tensor3D, this.stride, 'valid', 'NWC', this.dilation);
        } else {
          const x4 = xp.reshape([b, 1, t + 2 * p, cin]) as tf.Tensor4D;
          const y4 = tf.depthwiseConv2d(x4, this.filter as tf.Tensor4D, 1, 'valid', 'NHWC', [1, this.dilation]);
          y = y4.reshape([b, y4.shape[2], cin]);
        }
      }
      return this.bias ? y.add(this.bias) : y;
    });
  }

  dispose(): void {
    this.filter.dispose();
    this.bias?.dispose();
  }
}

/**
 * torch.nn.ConvTranspose1d (WNConvTranspose1d, groups 1) with `padding` and
 * `output_padding`: products of each input frame with the whole kernel `[T, out, k]`
 * (one matmul), overlap-added with hop `stride` into the full output of `(T - 1) * s + k`
 * samples, of which `[padding, padding + L)` is kept, L = (T - 1) s - 2 p + k + output_padding.
 */
class ConvTranspose1d implements Layer {
  private readonly kernel: tf.Tensor2D; // [in, out * m * s]
  private readonly blocks: number;
  private readonly kernelSize: number;
  readonly outChannels: number;

  constructor(
    weight: tf.Tensor3D, // torch [in, out, k]; consumed
    private readonly bias: tf.Tensor1D | null,
    private readonly stride: number,
    private readonly padding: number,
    private readonly outputPadding: number,
  ) {
    const [cin, cout, k] = weight.shape;
    this.outChannels = cout;
    this.blocks = Math.ceil(k / stride);
    const kPad = this.blocks * stride - k;
    this.kernelSize = k;
    this.kernel = tf.tidy(() => (kPad > 0 ? weight.pad([[0, 0], [0, 0], [0, kPad]]) : weight).reshape([cin, -1])) as tf.Tensor2D;
    weight.dispose();
  }

  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t, cin] = x.shape;
      const s = this.stride;
      const m = this.blocks;
      const cout = this.outChannels;
      const prod = tf.matMul(x.reshape([b * t, cin]), this.kernel).reshape([b, t, cout, m * s]); // [b, t, out, m*s]
      // Full output frame f (s samples) = sum_i block i of input frame f - i: [b, t + m - 1, out, s]
      let acc: tf.Tensor4D | null = null;
      for (let i = 0; i < m; i++) {
        const part = prod.slice([0, 0, 0, i * s], [b, t, cout, s]).pad([[0, 0], [i, m - 1 - i], [0, 0], [0, 0]]) as tf.Tensor4D;
        acc = acc ? (acc.add(part) as tf.Tensor4D) : part;
      }
      const full = acc!.transpose([0, 1, 3, 2]).reshape([b, (t + m - 1) * s, cout]); // [b, samples, out]
      const fullLen = (t - 1) * s + this.kernelSize;
      const outLen = fullLen - 2 * this.padding + this.outputPadding;
      // output_padding may reach past the computed samples: those are zeros (plus bias).
      const avail = Math.min(outLen, (t + m - 1) * s - this.padding);
      let y = full.slice([0, this.padding, 0], [b, avail, cout]) as tf.Tensor3D;
      if (avail < outLen) y = y.pad([[0, 0], [0, outLen - avail], [0, 0]]);
      return this.bias ? y.add(this.bias) : y;
    });
  }

  dispose(): void {
    this.kernel.dispose();
    this.bias?.dispose();
  }
}

/** Snake activation x + 1 / (alpha + 1e-9) * sin(alpha x)^2 (layers.py `snake`). */
class Snake1d implements Layer {
  private readonly inv: tf.Tensor1D;
  constructor(private readonly alpha: tf.Tensor1D) {
    this.inv = tf.tidy(() => tf.scalar(1).div(alpha.add(1e-9))) as tf.Tensor1D;
  }

  static async load(w: WeightReader, name: string, ch: number): Promise<Snake1d> {
    const a = await w.get(`${name}.alpha`, [1, ch, 1]);
    const alpha = a.reshape([ch]) as tf.Tensor1D;
    a.dispose();
    return w.own(new Snake1d(alpha));
  }

  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => x.add(tf.sin(x.mul(this.alpha)).square().mul(this.inv)));
  }

  dispose(): void {
    this.alpha.dispose();
    this.inv.dispose();
  }
}

class Sequential implements Layer {
  constructor(readonly layers: Layer[]) {}
  apply(x: tf.Tensor3D, ctx?: DecodeContext): tf.Tensor3D {
    return tf.tidy(() => this.layers.reduce((h, l) => l.apply(h, ctx), x));
  }
  dispose(): void {
    for (const l of this.layers) l.dispose();
  }
}

async function wnConv(
  w: WeightReader, name: string, cin: number, cout: number, k: number,
  o: { stride?: number; padding?: number; dilation?: number; groups?: number; bias?: boolean } = {},
): Promise<Conv1d> {
  const groups = o.groups ?? 1;
  const weight = await w.weightNormed(name, [cout, cin / groups, k]);
  const bias = o.bias === false ? null : ((await w.get(`${name}.bias`, [cout])) as tf.Tensor1D);
  return w.own(new Conv1d(weight, bias, o.stride ?? 1, o.padding ?? 0, o.dilation ?? 1, groups));
}

/** ResidualUnit: Snake, conv k7 dilated (same padding), Snake, conv k1; x + y. */
class ResidualUnit implements Layer {
  constructor(private readonly block: Sequential) {}

  static async load(w: WeightReader, name: string, dim: number, dilation: number, groups: number): Promise<ResidualUnit> {
    const kernel = 7;
    const pad = ((kernel - 1) * dilation) / 2;
    return new ResidualUnit(new Sequential([
      await Snake1d.load(w, `${name}.block.0`, dim),
      await wnConv(w, `${name}.block.1`, dim, dim, kernel, { dilation, padding: pad, groups }),
      await Snake1d.load(w, `${name}.block.2`, dim),
      await wnConv(w, `${name}.block.3`, dim, dim, 1),
    ]));
  }

  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const y = this.block.apply(x);
      // The reference crops x when y is shorter; with "same" padding it never is.
      const crop = (x.shape[1] - y.shape[1]) / 2;
      const xc = crop > 0 ? x.slice([0, crop, 0], [-1, y.shape[1], -1]) : x;
      return xc.add(y);
    });
  }

  dispose(): void {
    this.block.dispose();
  }
}

/** NoiseBlock: x + noise[b, t] * linear(x), linear a bias-free WN conv k1. */
class NoiseBlock implements Layer {
  constructor(private readonly linear: Conv1d, private readonly index: number, private readonly upsampling: number) {}

  apply(x: tf.Tensor3D, ctx?: DecodeContext): tf.Tensor3D {
    const noise = ctx?.noise;
    if (!noise) return tf.tidy(() => x.add(tf.zerosLike(x))); // 'off': x + 0 * h
    const [b, t] = x.shape;
    const data = new Float32Array(b * t);
    for (let r = 0; r < b; r++) {
      const row = noise({ block: this.index, row: r, offset: (ctx?.latentOffset ?? 0) * this.upsampling, length: t });
      if (row.length !== t) throw new Error(`SNAC noise for block ${this.index} has ${row.length} values, expected ${t}`);
      data.set(row, r * t);
    }
    return tf.tidy(() => x.add(tf.tensor3d(data, [b, t, 1]).mul(this.linear.apply(x))));
  }

  dispose(): void {
    this.linear.dispose();
  }
}

/** LayerNorm over channels (torch.nn.LayerNorm, eps 1e-5). */
class ChannelLayerNorm {
  constructor(private readonly weight: tf.Tensor1D, private readonly bias: tf.Tensor1D) {}
  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const mean = x.mean(-1, true);
      const c = x.sub(mean);
      return c.mul(tf.rsqrt(c.square().mean(-1, true).add(1e-5))).mul(this.weight).add(this.bias);
    });
  }
  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
  }
}

/**
 * LocalMHA (attention.py): pre-LayerNorm, attention inside non-overlapping windows of
 * `window` frames (no mask inside a window), rotary embeddings with positions 0..window-1
 * (SinusoidalEmbeddings without xpos: scale 1), heads of 64, residual.
 */
class LocalMHA implements Layer {
  static readonly DIM_HEAD = 64;
  private readonly cos: tf.Tensor2D; // [window, dimHead]
  private readonly sin: tf.Tensor2D;
  private readonly heads: number;

  constructor(
    private readonly norm: ChannelLayerNorm,
    private readonly toQkv: tf.Tensor2D, // [dim, 3 dim] (torch Linear weight transposed)
    private readonly toOut: tf.Tensor2D, // [dim, dim]
    private readonly dim: number,
    private readonly window: number,
  ) {
    const d = LocalMHA.DIM_HEAD;
    this.heads = dim / d;
    const freqs = new Float32Array(window * d);
    for (let t = 0; t < window; t++) {
      for (let j = 0; j < d / 2; j++) {
        // inv_freq = 1 / 10000^(2j / d), computed in f32 as torch does
        const invFreq = Math.fround(1 / Math.fround(10000 ** Math.fround((2 * j) / d)));
        const f = Math.fround(t * invFreq);
        freqs[t * d + j] = f;
        freqs[t * d + j + d / 2] = f;
      }
    }
    [this.cos, this.sin] = tf.tidy(() => {
      const f = tf.tensor2d(freqs, [window, d]);
      return [f.cos(), f.sin()] as tf.Tensor2D[];
    });
  }

  static async load(w: WeightReader, name: string, dim: number, window: number): Promise<LocalMHA> {
    const norm = new ChannelLayerNorm(
      (await w.get(`${name}.norm.weight`, [dim])) as tf.Tensor1D, (await w.get(`${name}.norm.bias`, [dim])) as tf.Tensor1D);
    const qkv = await w.get(`${name}.to_qkv.weight`, [3 * dim, dim]);
    const out = await w.get(`${name}.to_out.weight`, [dim, dim]);
    const mha = new LocalMHA(norm, qkv.transpose() as tf.Tensor2D, out.transpose() as tf.Tensor2D, dim, window);
    qkv.dispose();
    out.dispose();
    return w.own(mha);
  }

  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t, c] = x.shape;
      const n = this.window;
      const d = LocalMHA.DIM_HEAD;
      const h = this.heads;
      if (t % n !== 0) throw new Error(`SNAC LocalMHA: ${t} frames are not a multiple of the window ${n}`);
      const w = t / n;
      const normed = this.norm.apply(x);
      const qkv = tf.matMul(normed.reshape([b * t, c]), this.toQkv); // [b t, 3c]
      // "b (w n) (h d) -> b h w n d", flattened to [b h w, n, d]
      const split = (i: number): tf.Tensor3D =>
        qkv.slice([0, i * c], [b * t, c]).reshape([b, w, n, h, d]).transpose([0, 3, 1, 2, 4]).reshape([b * h * w, n, d]);
      const rot = (u: tf.Tensor3D): tf.Tensor3D => {
        const u1 = u.slice([0, 0, 0], [-1, -1, d / 2]);
        const u2 = u.slice([0, 0, d / 2], [-1, -1, d / 2]);
        const half = tf.concat([u2.neg(), u1], -1); // rotate_half
        return u.mul(this.cos).add(half.mul(this.sin));
      };
      const q = rot(split(0));
      const k = rot(split(1));
      const v = split(2);
      const att = tf.softmax(tf.matMul(q, k, false, true).mul(1 / Math.sqrt(d)), -1); // [b h w, n, n]
      const o = tf.matMul(att, v).reshape([b, h, w, n, d]).transpose([0, 2, 3, 1, 4]).reshape([b * t, c]); // "b h w n d -> b (w n) (h d)"
      return tf.matMul(o, this.toOut).reshape([b, t, c]).add(x);
    });
  }

  dispose(): void {
    this.norm.dispose();
    this.toQkv.dispose();
    this.toOut.dispose();
    this.cos.dispose();
    this.sin.dispose();
  }
}

class Tanh implements Layer {
  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tanh(x);
  }
  dispose(): void {}
}

// -- encoder / decoder ---------------------------------------------------------------------

async function loadEncoder(w: WeightReader, c: SnacConfig): Promise<Sequential> {
  const layers: Layer[] = [await wnConv(w, 'encoder.block.0', 1, c.encoderDim, 7, { padding: 3 })];
  let d = c.encoderDim;
  let i = 1;
  for (const stride of c.encoderRates) {
    // EncoderBlock(output_dim = 2d, stride): 3 residual units at d, Snake, strided conv d -> 2d
    const inDim = d;
    d *= 2;
    const groups = c.depthwise ? inDim : 1;
    const name = `encoder.block.${i++}.block`;
    layers.push(new Sequential([
      await ResidualUnit.load(w, `${name}.0`, inDim, 1, groups),
      await ResidualUnit.load(w, `${name}.1`, inDim, 3, groups),
      await ResidualUnit.load(w, `${name}.2`, inDim, 9, groups),
      await Snake1d.load(w, `${name}.3`, inDim),
      await wnConv(w, `${name}.4`, inDim, d, 2 * stride, { stride, padding: Math.ceil(stride / 2) }),
    ]));
  }
  if (c.attnWindowSize !== null) layers.push(await LocalMHA.load(w, `encoder.block.${i++}`, d, c.attnWindowSize));
  layers.push(await wnConv(w, `encoder.block.${i++}`, d, d, 7, { padding: 3, groups: c.depthwise ? d : 1 }));
  if (d !== c.latentDim) throw new Error(`SNAC encoder ends with ${d} channels, latent_dim is ${c.latentDim}`);
  return new Sequential(layers);
}

async function loadDecoder(w: WeightReader, c: SnacConfig): Promise<Sequential> {
  const layers: Layer[] = [];
  let i = 0;
  const name = (): string => `decoder.model.${i++}`;
  if (c.depthwise) {
    layers.push(await wnConv(w, name(), c.latentDim, c.latentDim, 7, { padding: 3, groups: c.latentDim }));
    layers.push(await wnConv(w, name(), c.latentDim, c.decoderDim, 1));
  } else {
    layers.push(await wnConv(w, name(), c.latentDim, c.decoderDim, 7, { padding: 3 }));
  }
  if (c.attnWindowSize !== null) layers.push(await LocalMHA.load(w, name(), c.decoderDim, c.attnWindowSize));
  let outDim = c.decoderDim;
  let upsampling = 1;
  for (const [b, stride] of c.decoderRates.entries()) {
    const inDim = c.decoderDim / 2 ** b;
    outDim = c.decoderDim / 2 ** (b + 1);
    upsampling *= stride;
    const groups = c.depthwise ? outDim : 1;
    const base = `${name()}.block`;
    const block: Layer[] = [
      await Snake1d.load(w, `${base}.0`, inDim),
      w.own(new ConvTranspose1d(
        await w.weightNormed(`${base}.1`, [inDim, outDim, 2 * stride]),
        (await w.get(`${base}.1.bias`, [outDim])) as tf.Tensor1D,
        stride, Math.ceil(stride / 2), stride % 2)),
    ];
    let j = 2;
    if (c.noise) block.push(new NoiseBlock(await wnConv(w, `${base}.${j++}.linear`, outDim, outDim, 1, { bias: false }), b, upsampling));
    for (const dilation of [1, 3, 9]) block.push(await ResidualUnit.load(w, `${base}.${j++}`, outDim, dilation, groups));
    layers.push(new Sequential(block));
  }
  layers.push(await Snake1d.load(w, name(), outDim));
  layers.push(await wnConv(w, name(), outDim, 1, 7, { padding: 3 }));
  layers.push(new Tanh());
  return new Sequential(layers);
}

// -- quantizer -----------------------------------------------------------------------------

/** VectorQuantize (vq.py): factorised (in_proj to codebook_dim), L2-normalised lookup, out_proj. */
class VectorQuantize {
  private readonly codebookNormed: tf.Tensor2D; // [K, D]
  private readonly codebookSq: tf.Tensor2D; // [1, K]

  constructor(
    readonly inProj: Conv1d,
    readonly outProj: Conv1d,
    readonly codebook: tf.Tensor2D, // [K, D]
    readonly stride: number,
  ) {
    [this.codebookNormed, this.codebookSq] = tf.tidy(() => {
      const n = l2normalize(codebook);
      return [n, n.square().sum(1).reshape([1, -1])] as tf.Tensor2D[];
    });
  }

  static async load(w: WeightReader, i: number, c: SnacConfig): Promise<VectorQuantize> {
    const name = `quantizer.quantizers.${i}`;
    return new VectorQuantize(
      await wnConv(w, `${name}.in_proj`, c.latentDim, c.codebookDim, 1),
      await wnConv(w, `${name}.out_proj`, c.codebookDim, c.latentDim, 1),
      (await w.get(`${name}.codebook.weight`, [c.codebookSize, c.codebookDim])) as tf.Tensor2D,
      c.vqStrides[i],
    );
  }

  /** Residual `[b, T, latent]` -> codes `[b, T / stride]` (int32). */
  codes(z: tf.Tensor3D): tf.Tensor2D {
    return tf.tidy(() => {
      const pooled = this.stride > 1 ? avgPool(z, this.stride) : z;
      const [b, t] = pooled.shape;
      const ze = this.inProj.apply(pooled).reshape([b * t, -1]) as tf.Tensor2D; // [b t, D]
      const enc = l2normalize(ze);
      // dist = |e|^2 - 2 e.c + |c|^2, argmax(-dist), as decode_latents
      const dist = enc.square().sum(1, true).sub(tf.matMul(enc, this.codebookNormed, false, true).mul(2)).add(this.codebookSq);
      return dist.argMin(1).reshape([b, t]) as tf.Tensor2D;
    });
  }

  /** Codes `[b, T']` -> out_proj(codebook[codes]) repeated `stride` times: `[b, T' * stride, latent]`. */
  fromCodes(codes: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t] = codes.shape;
      const e = tf.gather(this.codebook, codes.reshape([-1])).reshape([b, t, -1]) as tf.Tensor3D;
      const z = this.outProj.apply(e); // [b, t, latent]
      if (this.stride === 1) return z;
      const ch = z.shape[2];
      return z.reshape([b, t, 1, ch]).tile([1, 1, this.stride, 1]).reshape([b, t * this.stride, ch]) as tf.Tensor3D;
    });
  }

  dispose(): void {
    this.inProj.dispose();
    this.outProj.dispose();
    this.codebook.dispose();
    this.codebookNormed.dispose();
    this.codebookSq.dispose();
  }
}

/** F.normalize(x, dim=1): x / max(||x||, 1e-12). */
function l2normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => x.div(x.square().sum(1, true).sqrt().maximum(1e-12)));
}

/** avg_pool1d(kernel = stride = s) over time: `[b, T, c]` -> `[b, T / s, c]` (T a multiple of s). */
function avgPool(z: tf.Tensor3D, s: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, t, c] = z.shape;
    return z.reshape([b, t / s, s, c]).mean(2) as tf.Tensor3D;
  });
}

// -- model ---------------------------------------------------------------------------------

/** Codes of one clip, one Int32Array per level, coarse first: lengths n, 2n, 4n for [4, 2, 1]. */
export type SnacCodes = Int32Array[];

export interface SnacDecodeOptions {
  /** Decoder noise; default `{ seed: 0 }` (deterministic; see `SnacNoise`). */
  noise?: SnacNoise;
  /**
   * Latent frame of the first code (default 0): the noise of `{ seed }` is keyed by absolute
   * position, so a window decoded with its offset matches a one-shot decode.
   */
  latentOffset?: number;
}

export interface SnacLoadOptions {
  snapshot?: SnapshotOptions;
}

/** The SNAC codec: `encode` audio -> multi-scale codes, `decode` codes -> audio. Owns its weights. */
export class SnacModel {
  private constructor(
    readonly config: SnacConfig,
    private readonly encoder: Sequential,
    private readonly decoder: Sequential,
    private readonly quantizers: VectorQuantize[],
  ) {}

  /** Loads from a weight source holding the reference state_dict names; every tensor must be used. */
  static async fromWeights(source: WeightSource, config: SnacConfig): Promise<SnacModel> {
    const w = new WeightReader(source);
    try {
      const encoder = w.own(await loadEncoder(w, config));
      const quantizers: VectorQuantize[] = [];
      for (let i = 0; i < config.vqStrides.length; i++) quantizers.push(w.own(await VectorQuantize.load(w, i, config)));
      const decoder = w.own(await loadDecoder(w, config));
      w.assertAllUsed();
      return new SnacModel(config, encoder, decoder, quantizers);
    } catch (e) {
      for (const x of w.owned) x.dispose();
      throw e;
    }
  }

  /**
   * A local directory or Hub repo with config.json and model.safetensors (the Hub's SNAC
   * repos ship pytorch_model.bin only: convert it with scripts/convert_snac.py).
   */
  static async fromPretrained(repoOrDir: string, options: SnacLoadOptions = {}): Promise<SnacModel> {
    const dir = await snapshot(repoOrDir, { allowPatterns: ['config.json', '*.safetensors'], ...options.snapshot });
    const { readFile, readdir } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const files = await readdir(dir);
    if (!files.some((f) => f.endsWith('.safetensors'))) {
      throw new Error(`SNAC: ${dir} has no .safetensors file (found ${files.join(', ') || 'nothing'}); convert pytorch_model.bin with scripts/convert_snac.py`);
    }
    const config = snacConfigFromJson(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>);
    return SnacModel.fromWeights(await Checkpoint.open(dir), config);
  }

  get numLevels(): number {
    return this.quantizers.length;
  }

  /** Audio `[samples]` (mono, at config.samplingRate) -> padded `[1, paddedLength, 1]`, as `preprocess`. */
  private preprocess(audio: Float32Array): tf.Tensor3D {
    const padded = new Float32Array(paddedLength(this.config, audio.length));
    padded.set(audio);
    return tf.tensor3d(padded, [1, padded.length, 1]);
  }

  /** Encoder output `[1, latentFrames, latent]` of the padded audio (for parity tests). */
  latents(audio: Float32Array): tf.Tensor3D {
    return tf.tidy(() => this.encoder.apply(this.preprocess(audio)));
  }

  /**
   * Mono audio -> codes per level, as `SNAC.encode`: padded to `padMultiple(config)`
   * (2048 samples at 24 kHz), so level k has `padded / hop / vqStrides[k]` codes.
   */
  async encode(audio: Float32Array): Promise<SnacCodes> {
    if (audio.length === 0) throw new Error('SNAC encode: empty audio');
    const codes = tf.tidy(() => {
      let residual = this.encoder.apply(this.preprocess(audio)); // [1, T, latent]
      const out: tf.Tensor2D[] = [];
      for (const q of this.quantizers) {
        const c = q.codes(residual);
        out.push(c);
        residual = residual.sub(q.fromCodes(c));
      }
      return out;
    });
    try {
      return await Promise.all(codes.map(async (c) => Int32Array.from(await c.data())));
    } finally {
      tf.dispose(codes);
    }
  }

  /** Checks level lengths (n, n*s0/s1, ...) and code ranges; returns latent frames. */
  private checkCodes(codes: SnacCodes): number {
    if (codes.length !== this.numLevels) throw new Error(`SNAC decode: ${codes.length} levels of codes, the model has ${this.numLevels}`);
    const s = this.config.vqStrides;
    const latent = codes[0].length * s[0];
    if (latent === 0) throw new Error('SNAC decode: no codes');
    codes.forEach((c, k) => {
      if (c.length * s[k] !== latent) {
        throw new Error(`SNAC decode: level ${k} has ${c.length} codes, expected ${latent / s[k]} (level 0 has ${codes[0].length})`);
      }
      for (let i = 0; i < c.length; i++) {
        if (!Number.isInteger(c[i]) || c[i] < 0 || c[i] >= this.config.codebookSize) {
          throw new Error(`SNAC decode: level ${k} code ${i} is ${c[i]}, outside [0, ${this.config.codebookSize})`);
        }
      }
    });
    return latent;
  }

  /** Sum over levels of out_proj(codebook[code]) at the latent rate: `[1, latentFrames, latent]` (`from_codes`). */
  quantizedLatents(codes: SnacCodes): tf.Tensor3D {
    this.checkCodes(codes);
    return tf.tidy(() => {
      let z: tf.Tensor3D | null = null;
      codes.forEach((c, k) => {
        const zk = this.quantizers[k].fromCodes(tf.tensor2d(c, [1, c.length], 'int32'));
        z = z ? (z.add(zk) as tf.Tensor3D) : zk;
      });
      return z!;
    });
  }

  /** Codes -> audio `[latentFrames * hop]` samples (the padded length), as `SNAC.decode`. */
  async decode(codes: SnacCodes, options: SnacDecodeOptions = {}): Promise<Float32Array> {
    const ctx: DecodeContext = { noise: noiseFn(options.noise ?? { seed: 0 }), latentOffset: options.latentOffset ?? 0 };
    const z = this.quantizedLatents(codes);
    const y = tf.tidy(() => this.decoder.apply(z, ctx));
    z.dispose();
    try {
      return (await y.data()) as Float32Array;
    } finally {
      y.dispose();
    }
  }

  /** Input samples per latent frame (512 at 24 kHz). */
  get hopLength(): number {
    return hopLength(this.config);
  }

  dispose(): void {
    this.encoder.dispose();
    this.decoder.dispose();
    for (const q of this.quantizers) q.dispose();
  }
}
