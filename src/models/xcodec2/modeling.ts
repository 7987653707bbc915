/**
 * XCodec2's decoder side in tfjs: FSQ codes -> latents -> Vocos-style backbone -> ISTFT ->
 * 16 kHz audio, and the FSQ quantizer (latents -> codes). Ported from transformers'
 * `models/xcodec2/modeling_xcodec2.py` (Hugging Face's port of HKUSTAudio's xcodec2 package,
 * whose `vq/codec_decoder_vocos.py` it follows), read side by side:
 *
 *   Xcodec2Quantizer.from_codes / forward   FSQ codebook rows -> project_out; project_in -> bound -> round
 *   Xcodec2Decoder                          fc, embed (conv k7), prior_net (2 ResNet blocks),
 *                                           transformer layers, post_net (2 ResNet blocks), LayerNorm
 *   Xcodec2ISTFTHead                        linear -> exp(magnitude) (clamp 1e2), phase -> irfft,
 *                                           Hann window, overlap-add, "same" trim, window envelope
 *
 * Weight names are transformers' (`quantizer.project_out.weight`,
 * `acoustic_decoder.layers.0.self_attn.q_proj.weight`, ...), the HKUSTAudio/xcodec2-hf layout.
 * The encoder side (acoustic encoder, w2v-BERT 2.0 semantic model, adapter, fc_encoder) is in
 * encoder.ts; `Xcodec2Codec` (codec.ts) holds both halves.
 *
 * Layout: activations `[batch, time, channels]` (tfjs NWC); conv weights are stored
 * `[out, in, k]` and rearranged once at load to tfjs's `[k, in, out]`.
 */
import * as tf from '@tensorflow/tfjs';
import type { WeightSource } from '../../weights/types';
import { Checkpoint, MemoryWeights } from '../../weights/checkpoint';
import { snapshot } from '../../hub';
import type { SnapshotOptions } from '../../hub';
import { Rng } from '../../generate/rng';
import { Attention } from '../common/attention';
import { LayerNorm } from '../common/layernorm';
import { Linear } from '../common/linear';
import { RMSNorm } from '../common/rmsnorm';
import { validateXcodec2Config, xcodec2CodebookSize, xcodec2ConfigFromHf, xcodec2HopLength, xcodec2NFft } from './config';
import type { Xcodec2Config } from './config';

// -- FSQ -----------------------------------------------------------------------------------

/**
 * FSQ (Mentzer et al. 2023, "Finite Scalar Quantization"): code index i has digit
 * `(i // basis_d) % L_d` in dimension d (basis = cumulative product of the levels before d),
 * and codebook value `(digit - L_d // 2) / (L_d // 2)` in [-1, 1].
 * Returns `[codes.length, levels.length]` row-major.
 */
export function fsqCodebookRows(codes: ArrayLike<number>, levels: readonly number[]): Float32Array {
  const size = levels.reduce((a, b) => a * b, 1);
  const out = new Float32Array(codes.length * levels.length);
  for (let t = 0; t < codes.length; t++) {
    const code = codes[t]!;
    if (!(Number.isInteger(code) && code >= 0 && code < size)) throw new Error(`XCodec2 code ${t} is ${code}, expected an integer in [0, ${size})`);
    let basis = 1;
    levels.forEach((L, d) => {
      const half = Math.floor(L / 2);
      out[t * levels.length + d] = (Math.floor(code / basis) % L - half) / half;
      basis *= L;
    });
  }
  return out;
}

/** torch.round: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * FSQ's `bound`: a scaled tanh into [-(L-1)/2, (L-1)/2] (shifted by 1/2 for even L) with a
 * 1e-3 margin, as vector_quantize_pytorch / transformers' `Xcodec2FiniteScalarQuantization.bound`.
 */
function fsqBound(x: number, L: number): number {
  const halfRange = (L - 1) * (1 + 1e-3) / 2;
  const offset = L % 2 === 0 ? 0.5 : 0;
  const shift = Math.atanh(offset / halfRange);
  return Math.tanh(x + shift) * halfRange - offset;
}

/**
 * Projected latents `[frames, levels.length]` -> code indices. transformers' quantizer
 * bounds twice (`Xcodec2Quantizer.forward` calls `bound` "for consistency with the original
 * checkpoint", then the FSQ module bounds again), then rounds; so does this.
 */
export function fsqIndices(projected: Float32Array, levels: readonly number[]): Int32Array {
  const D = levels.length;
  if (projected.length % D !== 0) throw new Error(`FSQ input has ${projected.length} values, not a multiple of ${D} dimensions`);
  const out = new Int32Array(projected.length / D);
  for (let t = 0; t < out.length; t++) {
    let index = 0;
    let basis = 1;
    levels.forEach((L, d) => {
      const half = Math.floor(L / 2);
      const rounded = roundHalfEven(fsqBound(fsqBound(projected[t * D + d]!, L), L));
      index += (rounded + half) * basis;
      basis *= L;
    });
    out[t] = index;
  }
  return out;
}

// -- building blocks -----------------------------------------------------------------------

/** torch.nn.Conv1d, stride 1, symmetric padding (k - 1) / 2 ('same' for odd k), with bias. */
class Conv1d {
  constructor(
    /** `[k, in, out]` (tfjs layout) */
    readonly filter: tf.Tensor3D,
    readonly bias: tf.Tensor1D,
  ) {}

  /** `[batch, time, in]` -> `[batch, time, out]` */
  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => tf.conv1d(x, this.filter, 1, 'same').add(this.bias) as tf.Tensor3D);
  }

  dispose(): void {
    this.filter.dispose();
    this.bias.dispose();
  }
}

/** torch.nn.GroupNorm over channels of `[batch, time, channels]`, affine. */
class GroupNorm {
  constructor(readonly groups: number, readonly weight: tf.Tensor1D, readonly bias: tf.Tensor1D, readonly eps: number) {}

  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t, c] = x.shape;
      const g = x.reshape([b, t, this.groups, c / this.groups]); // [batch, time, groups, channels/group]
      const { mean, variance } = tf.moments(g, [1, 3], true); // [batch, 1, groups, 1]
      const y = g.sub(mean).mul(tf.rsqrt(variance.add(this.eps))).reshape([b, t, c]);
      return y.mul(this.weight).add(this.bias) as tf.Tensor3D;
    });
  }

  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
  }
}

/** Xcodec2ResNetBlock: x + conv2(silu(norm2(conv1(silu(norm1(x)))))) (dropout off in eval). */
class ResNetBlock {
  constructor(readonly norm1: GroupNorm, readonly conv1: Conv1d, readonly norm2: GroupNorm, readonly conv2: Conv1d) {}

  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const silu = (t: tf.Tensor3D) => t.mul(tf.sigmoid(t)) as tf.Tensor3D;
      const h = this.conv1.apply(silu(this.norm1.apply(x)));
      return x.add(this.conv2.apply(silu(this.norm2.apply(h)))) as tf.Tensor3D;
    });
  }

  dispose(): void {
    for (const m of [this.norm1, this.conv1, this.norm2, this.conv2]) m.dispose();
  }
}

/** Xcodec2DecoderLayer: pre-RMSNorm bidirectional attention and an fc1 -> SiLU -> fc2 MLP, both residual. */
class DecoderLayer {
  constructor(
    readonly input_layernorm: RMSNorm,
    readonly self_attn: Attention,
    readonly post_attention_layernorm: RMSNorm,
    readonly fc1: Linear,
    readonly fc2: Linear,
  ) {}

  apply(x: tf.Tensor3D, ctx: { cos: tf.Tensor3D; sin: tf.Tensor3D; mask: tf.Tensor4D }): tf.Tensor3D {
    return tf.tidy(() => {
      const h = x.add(this.self_attn.apply(this.input_layernorm.apply(x) as tf.Tensor3D, ctx, 0)) as tf.Tensor3D;
      const m = this.fc1.apply(this.post_attention_layernorm.apply(h));
      return h.add(this.fc2.apply(m.mul(tf.sigmoid(m)))) as tf.Tensor3D;
    });
  }

  dispose(): void {
    this.input_layernorm.dispose();
    this.self_attn.dispose();
    this.post_attention_layernorm.dispose();
    this.fc1.dispose();
    this.fc2.dispose();
  }
}

/** Reads reference-named tensors with shape checks, tracking what was used and what to free on failure. */
export class WeightReader {
  readonly used = new Set<string>();
  readonly owned: tf.Tensor[] = [];
  constructor(private readonly source: WeightSource, private readonly prefix: string) {}

  async get(name: string, shape: number[]): Promise<tf.Tensor> {
    const key = this.prefix + name;
    if (!this.source.has(key)) throw new Error(`XCodec2 checkpoint has no tensor ${key}`);
    const { shape: got, data } = await this.source.getF32(key);
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new Error(`XCodec2 checkpoint tensor ${key} has shape [${got}], expected [${shape}]`);
    }
    this.used.add(key);
    const t = tf.tensor(data, shape);
    this.owned.push(t);
    return t;
  }

  async linear(name: string, out: number, inp: number, bias: boolean): Promise<Linear> {
    const w = (await this.get(`${name}.weight`, [out, inp])) as tf.Tensor2D;
    return new Linear(w, bias ? ((await this.get(`${name}.bias`, [out])) as tf.Tensor1D) : null);
  }

  async conv(name: string, out: number, inp: number, k: number): Promise<Conv1d> {
    const w = await this.get(`${name}.weight`, [out, inp, k]);
    const filter = w.transpose([2, 1, 0]) as tf.Tensor3D; // [out, in, k] -> [k, in, out]
    w.dispose(); // the torch-layout copy is not kept (disposing it again on failure is harmless)
    this.owned.push(filter);
    return new Conv1d(filter, (await this.get(`${name}.bias`, [out])) as tf.Tensor1D);
  }

  async groupNorm(name: string, ch: number): Promise<GroupNorm> {
    return new GroupNorm(32, (await this.get(`${name}.weight`, [ch])) as tf.Tensor1D, (await this.get(`${name}.bias`, [ch])) as tf.Tensor1D, 1e-6);
  }

  async resnet(name: string, ch: number): Promise<ResNetBlock> {
    return new ResNetBlock(
      await this.groupNorm(`${name}.norm1`, ch), await this.conv(`${name}.conv1`, ch, ch, 3),
      await this.groupNorm(`${name}.norm2`, ch), await this.conv(`${name}.conv2`, ch, ch, 3),
    );
  }
}

// -- ISTFT head ----------------------------------------------------------------------------

/**
 * Vocos' ISTFT with "same" padding as transformers' `Xcodec2ISTFTHead`: each frame's
 * one-sided spectrum (magnitude exp(.) clamped at 1e2, phase) -> irfft of n_fft points ->
 * periodic Hann window -> overlap-add at the hop -> drop (n_fft - hop) / 2 samples at each
 * end -> divide by the summed squared window (clamped at 1e-11). Output: frames * hop samples.
 *
 * The irfft is a matmul with cos/sin bases (window folded in): n_fft 1280 is no power of
 * two, and torch's C2R transform ignores the imaginary parts of the DC and Nyquist bins,
 * which the bases do by construction.
 */
class IstftHead {
  /** `[bins, nFft]`: window[n] * w_k * cos(2 pi k n / N) / N, w_k = 1 at DC and Nyquist, else 2. */
  private readonly cosBasis: tf.Tensor2D;
  /** `[bins, nFft]`: -window[n] * w_k * sin(2 pi k n / N) / N. */
  private readonly sinBasis: tf.Tensor2D;
  private readonly window: Float64Array;

  constructor(readonly linear: Linear, readonly nFft: number, readonly hop: number) {
    const bins = nFft / 2 + 1;
    this.window = new Float64Array(nFft);
    for (let n = 0; n < nFft; n++) this.window[n] = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / nFft); // torch.hann_window (periodic)
    const c = new Float32Array(bins * nFft);
    const s = new Float32Array(bins * nFft);
    for (let k = 0; k < bins; k++) {
      const wk = k === 0 || k === nFft / 2 ? 1 : 2;
      for (let n = 0; n < nFft; n++) {
        // (k * n) mod N keeps the angle small, so the float64 cos/sin stay exact.
        const angle = (2 * Math.PI * ((k * n) % nFft)) / nFft;
        c[k * nFft + n] = (this.window[n]! * wk * Math.cos(angle)) / nFft;
        s[k * nFft + n] = (-this.window[n]! * wk * Math.sin(angle)) / nFft;
      }
    }
    this.cosBasis = tf.tensor2d(c, [bins, nFft]);
    this.sinBasis = tf.tensor2d(s, [bins, nFft]);
  }

  /** `[1, frames, hidden]` -> `frames * hop` samples. */
  async apply(x: tf.Tensor3D): Promise<Float32Array> {
    const frames = x.shape[1];
    const bins = this.nFft / 2 + 1;
    const windowed = tf.tidy(() => {
      const pred = this.linear.apply(x).reshape([frames, 2 * bins]); // [frames, n_fft + 2]
      const magnitude = tf.minimum(tf.exp(pred.slice([0, 0], [frames, bins])), 1e2);
      const phase = pred.slice([0, bins], [frames, bins]);
      const re = magnitude.mul(tf.cos(phase));
      const im = magnitude.mul(tf.sin(phase));
      return tf.matMul(re, this.cosBasis).add(tf.matMul(im, this.sinBasis)); // [frames, n_fft], windowed
    });
    const data = (await windowed.data()) as Float32Array;
    windowed.dispose();
    const total = (frames - 1) * this.hop + this.nFft;
    const audio = new Float64Array(total);
    const envelope = new Float64Array(total);
    for (let f = 0; f < frames; f++) {
      const at = f * this.hop;
      for (let n = 0; n < this.nFft; n++) {
        audio[at + n] += data[f * this.nFft + n]!;
        envelope[at + n] += this.window[n]! * this.window[n]!;
      }
    }
    const pad = (this.nFft - this.hop) / 2;
    const out = new Float32Array(total - 2 * pad);
    for (let i = 0; i < out.length; i++) out[i] = audio[pad + i]! / Math.max(envelope[pad + i]!, 1e-11);
    return out;
  }

  dispose(): void {
    this.linear.dispose();
    this.cosBasis.dispose();
    this.sinBasis.dispose();
  }
}

// -- the decoder ---------------------------------------------------------------------------

/**
 * Every tensor the decoder side reads, with its torch shape: `quantizer.project_in/out`
 * and `acoustic_decoder.*` of transformers' Xcodec2Model (the HKUSTAudio/xcodec2-hf keys).
 */
export function xcodec2DecoderWeightShapes(config: Xcodec2Config): Map<string, number[]> {
  const c = validateXcodec2Config(config);
  const H = c.hiddenSize;
  const D = c.quantizationLevels.length;
  const m = new Map<string, number[]>([
    ['quantizer.project_in.weight', [D, c.quantizationDim]], ['quantizer.project_in.bias', [D]],
    ['quantizer.project_out.weight', [c.quantizationDim, D]], ['quantizer.project_out.bias', [c.quantizationDim]],
    ['acoustic_decoder.fc.weight', [H, c.quantizationDim]], ['acoustic_decoder.fc.bias', [H]],
    ['acoustic_decoder.embed.weight', [H, H, 7]], ['acoustic_decoder.embed.bias', [H]],
  ]);
  const resnet = (p: string) => {
    for (const n of ['norm1', 'norm2']) { m.set(`${p}.${n}.weight`, [H]); m.set(`${p}.${n}.bias`, [H]); }
    for (const n of ['conv1', 'conv2']) { m.set(`${p}.${n}.weight`, [H, H, 3]); m.set(`${p}.${n}.bias`, [H]); }
  };
  resnet('acoustic_decoder.prior_net.0');
  resnet('acoustic_decoder.prior_net.1');
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const p = `acoustic_decoder.layers.${i}`;
    m.set(`${p}.input_layernorm.weight`, [H]);
    m.set(`${p}.self_attn.q_proj.weight`, [q, H]);
    m.set(`${p}.self_attn.k_proj.weight`, [kv, H]);
    m.set(`${p}.self_attn.v_proj.weight`, [kv, H]);
    m.set(`${p}.self_attn.o_proj.weight`, [H, q]);
    m.set(`${p}.post_attention_layernorm.weight`, [H]);
    m.set(`${p}.mlp.fc1.weight`, [c.intermediateSize, H]);
    m.set(`${p}.mlp.fc2.weight`, [H, c.intermediateSize]);
  }
  resnet('acoustic_decoder.post_net.0');
  resnet('acoustic_decoder.post_net.1');
  m.set('acoustic_decoder.norm.weight', [H]);
  m.set('acoustic_decoder.norm.bias', [H]);
  m.set('acoustic_decoder.head.linear.weight', [xcodec2NFft(c) + 2, H]);
  m.set('acoustic_decoder.head.linear.bias', [xcodec2NFft(c) + 2]);
  return m;
}

export interface Xcodec2PretrainedOptions extends Xcodec2LoadOptions {
  snapshot?: SnapshotOptions;
}

export interface Xcodec2LoadOptions {
  /** Prefix of every key (e.g. "model." for a nested checkpoint). Default none. */
  prefix?: string;
}

/**
 * XCodec2's quantizer and acoustic decoder. Owns its tensors (`dispose()`).
 * One clip at a time (batch 1), as the reference's `decode_code` is used.
 */
export class Xcodec2Decoder {
  readonly hopLength: number;
  readonly nFft: number;
  readonly codebookSize: number;

  private constructor(
    readonly config: Xcodec2Config,
    private readonly projectIn: Linear,
    private readonly projectOut: Linear,
    private readonly fc: Linear,
    private readonly embed: Conv1d,
    private readonly priorNet: ResNetBlock[],
    private readonly layers: DecoderLayer[],
    private readonly postNet: ResNetBlock[],
    private readonly norm: LayerNorm,
    private readonly head: IstftHead,
  ) {
    this.hopLength = xcodec2HopLength(config);
    this.nFft = xcodec2NFft(config);
    this.codebookSize = xcodec2CodebookSize(config);
  }

  /**
   * Loads `quantizer.project_in/out.*` and `acoustic_decoder.*` by their transformers names;
   * every key under those prefixes must be used (an unknown one is an error naming it), and
   * the rest of the checkpoint (encoder, semantic model) is left alone.
   */
  static async fromWeights(source: WeightSource, config: Xcodec2Config, options: Xcodec2LoadOptions = {}): Promise<Xcodec2Decoder> {
    const c = validateXcodec2Config(config);
    const prefix = options.prefix ?? '';
    const w = new WeightReader(source, prefix);
    try {
      const H = c.hiddenSize;
      const D = c.quantizationLevels.length;
      const projectIn = await w.linear('quantizer.project_in', D, c.quantizationDim, true);
      const projectOut = await w.linear('quantizer.project_out', c.quantizationDim, D, true);
      const fc = await w.linear('acoustic_decoder.fc', H, c.quantizationDim, true);
      const embed = await w.conv('acoustic_decoder.embed', H, H, 7);
      const priorNet = [await w.resnet('acoustic_decoder.prior_net.0', H), await w.resnet('acoustic_decoder.prior_net.1', H)];
      const layers: DecoderLayer[] = [];
      for (let i = 0; i < c.numHiddenLayers; i++) {
        const p = `acoustic_decoder.layers.${i}`;
        const q = c.numAttentionHeads * c.headDim;
        const kv = c.numKeyValueHeads * c.headDim;
        const attn = new Attention(
          await w.linear(`${p}.self_attn.q_proj`, q, H, false), await w.linear(`${p}.self_attn.k_proj`, kv, H, false),
          await w.linear(`${p}.self_attn.v_proj`, kv, H, false), await w.linear(`${p}.self_attn.o_proj`, H, q, false),
          { numHeads: c.numAttentionHeads, numKvHeads: c.numKeyValueHeads, headDim: c.headDim },
        );
        layers.push(new DecoderLayer(
          new RMSNorm((await w.get(`${p}.input_layernorm.weight`, [H])) as tf.Tensor1D, c.rmsNormEps), attn,
          new RMSNorm((await w.get(`${p}.post_attention_layernorm.weight`, [H])) as tf.Tensor1D, c.rmsNormEps),
          await w.linear(`${p}.mlp.fc1`, c.intermediateSize, H, false), await w.linear(`${p}.mlp.fc2`, H, c.intermediateSize, false),
        ));
      }
      const postNet = [await w.resnet('acoustic_decoder.post_net.0', H), await w.resnet('acoustic_decoder.post_net.1', H)];
      const norm = new LayerNorm((await w.get('acoustic_decoder.norm.weight', [H])) as tf.Tensor1D, (await w.get('acoustic_decoder.norm.bias', [H])) as tf.Tensor1D, 1e-6);
      const nFft = xcodec2NFft(c);
      const headLinear = await w.linear('acoustic_decoder.head.linear', nFft + 2, H, true);
      const unused = source.keys().filter((k) => k.startsWith(prefix) && /^(quantizer|acoustic_decoder)\./.test(k.slice(prefix.length)) && !w.used.has(k));
      if (unused.length) throw new Error(`XCodec2 checkpoint has tensors this port does not read: ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ` (+${unused.length - 5})` : ''}`);
      const head = new IstftHead(headLinear, nFft, xcodec2HopLength(c));
      return new Xcodec2Decoder(c, projectIn, projectOut, fc, embed, priorNet, layers, postNet, norm, head);
    } catch (e) {
      for (const t of w.owned) t.dispose();
      throw e;
    }
  }

  /**
   * A local folder or Hub repo in transformers' layout (config.json + model.safetensors),
   * e.g. `HKUSTAudio/xcodec2-hf`. Its file also holds the encoder and the w2v-BERT 2.0
   * semantic model, which are downloaded but not read.
   */
  static async fromPretrained(repoOrDir: string, options: Xcodec2PretrainedOptions = {}): Promise<Xcodec2Decoder> {
    const dir = await snapshot(repoOrDir, { allowPatterns: ['config.json', '*.safetensors', '*.safetensors.index.json'], ...options.snapshot });
    const { readFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const file = join(dir, 'config.json');
    const config = xcodec2ConfigFromHf(JSON.parse(await readFile(file, 'utf8')), file);
    return Xcodec2Decoder.fromWeights(await Checkpoint.open(dir), config, options);
  }

  /**
   * Seeded random weights (matrices N(0, 1/fan_in), norm weights 1, biases 0) in the
   * checkpoint's names: for tests, benchmarks and tiny pipeline models. Not a codec:
   * its audio is noise.
   */
  static async random(config: Xcodec2Config, seed = 0): Promise<Xcodec2Decoder> {
    const rng = new Rng(seed);
    const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name, shape] of xcodec2DecoderWeightShapes(config)) {
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      if (shape.length >= 2) {
        const std = 1 / Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1));
        for (let i = 0; i < data.length; i++) data[i] = normal() * std;
      } else if (/(norm\d?|layernorm)\.weight$/.test(name)) data.fill(1);
      tensors.set(name, { shape, data });
    }
    return Xcodec2Decoder.fromWeights(new MemoryWeights(tensors, 'xcodec2-random'), config);
  }

  /** Codes `[frames]` -> latents `[1, frames, quantizationDim]` (FSQ codebook rows through project_out), owned by the caller. */
  codesToLatents(codes: ArrayLike<number>): tf.Tensor3D {
    if (codes.length === 0) throw new Error('XCodec2: no codes to decode');
    const D = this.config.quantizationLevels.length;
    const rows = fsqCodebookRows(codes, this.config.quantizationLevels);
    return tf.tidy(() => this.projectOut.apply(tf.tensor3d(rows, [1, codes.length, D])) as tf.Tensor3D);
  }

  /** Latents `[frames, quantizationDim]` -> codes (project_in, FSQ): the quantizer's half of encoding. */
  async quantize(latents: tf.Tensor2D): Promise<Int32Array> {
    if (latents.shape[1] !== this.config.quantizationDim) throw new Error(`XCodec2 latents must be [frames, ${this.config.quantizationDim}], got [${latents.shape}]`);
    const projected = tf.tidy(() => this.projectIn.apply(latents));
    const data = (await projected.data()) as Float32Array;
    projected.dispose();
    return fsqIndices(data, this.config.quantizationLevels);
  }

  /** Codes `[frames]` -> `frames * 320` samples at 16 kHz (transformers' `Xcodec2Model.decode`). */
  async decode(codes: ArrayLike<number>): Promise<Float32Array> {
    const T = codes.length;
    const latents = this.codesToLatents(codes);
    const hidden = tf.tidy(() => {
      let h = this.fc.apply(latents) as tf.Tensor3D; // [1, T, hidden]
      h = this.embed.apply(h);
      for (const b of this.priorNet) h = b.apply(h);
      // transformers rotates q and k by position ids arange(num_heads) broadcast over heads
      // (HKUSTAudio's torchtune RoPE applied to [b, heads, seq, d] as if it were [b, seq, heads, d]):
      // every position of a head gets the same rotation on q and k, which leaves every q.k, and so
      // the attention, unchanged. The identity (cos 1, sin 0) is the same computation; no mask:
      // the attention is bidirectional.
      const d = this.config.headDim;
      const ctx = { cos: tf.ones([1, T, d]) as tf.Tensor3D, sin: tf.zeros([1, T, d]) as tf.Tensor3D, mask: tf.zeros([1, 1, T, T]) as tf.Tensor4D };
      for (const l of this.layers) h = l.apply(h, ctx);
      for (const b of this.postNet) h = b.apply(h);
      return this.norm.apply(h) as tf.Tensor3D;
    });
    latents.dispose();
    try {
      return await this.head.apply(hidden);
    } finally {
      hidden.dispose();
    }
  }

  dispose(): void {
    for (const m of [this.projectIn, this.projectOut, this.fc, this.embed, ...this.priorNet, ...this.layers, ...this.postNet, this.norm, this.head]) m.dispose();
  }
}
