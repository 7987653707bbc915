/**
 * XCodec2's encoder side in tfjs: 16 kHz audio -> FSQ codes, 50 per second. Ported from
 * transformers' `models/xcodec2/modeling_xcodec2.py` (5.17; Hugging Face's port of HKUSTAudio's
 * xcodec2 package, whose `XCodec2Model.encode_code` it follows), read side by side:
 *
 *   audio        right-padded with zeros to (N // 320 + 1) * 320 samples (at least one zero,
 *                as the original's `pad_for_wav = 320 - N % 320`)
 *   semantic     w2v-BERT 2.0 front end (SeamlessM4TFeatureExtractor on the padded audio with
 *                160 more zeros each side) -> Wav2Vec2BertModel (16 layers: the original's
 *                hidden_states[16]) -> Xcodec2SemanticAdapter (the original's SemanticEncoder:
 *                conv k3 -> ReLU -> [conv -> ReLU -> conv] + residual -> conv)
 *   acoustic     Xcodec2Encoder (the original's CodecEnc, DAC-style): conv k7, 5 blocks of
 *                3 residual units (anti-aliased SnakeBeta, dilated conv k7, SnakeBeta, conv k1)
 *                + SnakeBeta + strided conv (k 2s, stride s), SnakeBeta, conv k3
 *   fc_encoder   Linear on [semantic; acoustic] (the original's fc_prior)
 *   quantizer    project_in -> FSQ bound twice -> round -> index (the decoder's `fsqIndices`)
 *
 * Weight names are transformers' (`semantic_encoder.*`, `semantic_adapter.*`,
 * `acoustic_encoder.*`, `fc_encoder.*`, `quantizer.project_in.*`).
 * Layout: activations `[1, time, channels]`; conv weights `[out, in, k]` rearranged at load.
 * The front end differs from transformers' own Xcodec2FeatureExtractor (torchaudio's kaldi
 * fbank; up to ~1e-3 apart on the fixture clip): this port follows the original package,
 * which runs facebook/w2v-bert-2.0's SeamlessM4TFeatureExtractor.
 */
import * as tf from '@tensorflow/tfjs';
import type { WeightSource } from '../../weights/types';
import { MemoryWeights } from '../../weights/checkpoint';
import { Rng } from '../../generate/rng';
import { Linear } from '../common/linear';
import { W2vBertModel, w2vBertWeightShapes } from '../w2vbert/modeling';
import { w2vBertFeatures } from '../w2vbert/feature_extraction';
import { validateXcodec2Config, xcodec2HopLength } from './config';
import type { Xcodec2Config } from './config';
import { WeightReader, fsqIndices } from './modeling';

// -- building blocks -----------------------------------------------------------------------

/** torch.nn.Conv1d with stride, dilation and symmetric zero padding; `[1, T, in]` -> `[1, T', out]`. */
class Conv {
  constructor(
    /** `[k, in, out]` */
    readonly filter: tf.Tensor3D,
    readonly bias: tf.Tensor1D | null,
    readonly stride = 1,
    readonly dilation = 1,
    readonly padding = 0,
  ) {}

  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const p = this.padding ? x.pad([[0, 0], [this.padding, this.padding], [0, 0]]) as tf.Tensor3D : x;
      const y = tf.conv1d(p, this.filter, this.stride, 'valid', 'NWC', this.dilation);
      return (this.bias ? y.add(this.bias) : y) as tf.Tensor3D;
    });
  }

  dispose(): void {
    this.filter.dispose();
    this.bias?.dispose();
  }
}

/** Modified Bessel function of the first kind, order 0 (power series). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 200; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

/**
 * `kaiser_sinc_filter1d(cutoff, half_width, kernel_size)` of transformers / BigVGAN's
 * alias-free filters: a Kaiser-windowed sinc low-pass, normalised to sum 1.
 */
export function kaiserSincFilter(cutoff: number, halfWidth: number, kernelSize: number): Float64Array {
  const even = kernelSize % 2 === 0;
  const half = Math.floor(kernelSize / 2);
  const attenuation = 2.285 * (half - 1) * Math.PI * (4 * halfWidth) + 7.95;
  const beta = attenuation > 50 ? 0.1102 * (attenuation - 8.7)
    : attenuation >= 21 ? 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21) : 0;
  const out = new Float64Array(kernelSize);
  let sum = 0;
  for (let n = 0; n < kernelSize; n++) {
    // torch.kaiser_window(periodic=False)
    const r = (2 * n) / (kernelSize - 1) - 1;
    const window = besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / besselI0(beta);
    const t = even ? n - half + 0.5 : n - half;
    const x = 2 * cutoff * t;
    const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    out[n] = 2 * cutoff * window * sinc;
    sum += out[n]!;
  }
  for (let n = 0; n < kernelSize; n++) out[n] = out[n]! / sum;
  return out;
}

/** `n` copies of the first and `m` of the last time step around `x` `[1, T, C]` (F.pad mode "replicate"). */
function replicatePad(x: tf.Tensor3D, n: number, m: number): tf.Tensor3D {
  const [, T, C] = x.shape;
  return tf.concat([x.slice([0, 0, 0], [1, 1, C]).tile([1, n, 1]), x, x.slice([0, T - 1, 0], [1, 1, C]).tile([1, m, 1])], 1) as tf.Tensor3D;
}

const UP_DOWN_TAPS = 12;

/**
 * Xcodec2AntiAliasedActivation1d(SnakeBeta): 2x upsample (replicate pad 5, transposed conv with
 * the Kaiser-sinc filter, x2, crop 15 each side), SnakeBeta x + sin^2(x e^alpha) / (e^beta + 1e-9),
 * 2x downsample (replicate pad 5 / 6, conv stride 2). Length in = length out.
 */
class AntiAliasedSnake {
  private readonly upFilter: tf.Tensor4D;
  private readonly downFilter: tf.Tensor4D;

  constructor(
    /** exp(alpha) `[C]` */
    readonly alpha: tf.Tensor1D,
    /** 1 / (exp(beta) + 1e-9) `[C]` */
    readonly invBeta: tf.Tensor1D,
  ) {
    const C = alpha.shape[0];
    const taps = kaiserSincFilter(0.25, 0.3, UP_DOWN_TAPS); // ratio 2: cutoff 0.5 / 2, half width 0.6 / 2
    const flipped = Float32Array.from(taps).reverse();
    // depthwiseConv2d filter [1, K, C, 1]: the same taps for every channel.
    const tileTaps = (t: ArrayLike<number>) => {
      const d = new Float32Array(UP_DOWN_TAPS * C);
      for (let k = 0; k < UP_DOWN_TAPS; k++) d.fill(t[k]!, k * C, (k + 1) * C);
      return tf.tensor4d(d, [1, UP_DOWN_TAPS, C, 1]);
    };
    // A transposed conv is a correlation of the zero-stuffed input with the flipped filter.
    this.upFilter = tileTaps(flipped);
    this.downFilter = tileTaps(taps);
  }

  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [, T, C] = x.shape;
      // UpSample1d(2, 12): pad 5 (replicate) -> conv_transpose stride 2 -> x2 -> [15 : -15].
      const xp = replicatePad(x, 5, 5); // [1, T + 10, C]
      const stuffed = tf.stack([xp, tf.zerosLike(xp)], 2).reshape([1, 2 * (T + 10), C]); // z[2t] = xp[t], z[2t + 1] = 0
      // Output sample 15 + i of the transposed conv = sum_j z[4 + i + j] * flipped[j], j < 12.
      const window = stuffed.slice([0, 4, 0], [1, 2 * T + UP_DOWN_TAPS - 1, C]).reshape([1, 1, 2 * T + UP_DOWN_TAPS - 1, C]) as tf.Tensor4D;
      const up = tf.depthwiseConv2d(window, this.upFilter, 1, 'valid').reshape([1, 2 * T, C]).mul(2) as tf.Tensor3D;
      // SnakeBeta
      const act = up.add(tf.sin(up.mul(this.alpha)).square().mul(this.invBeta)) as tf.Tensor3D;
      // DownSample1d(2, 12): pad 5 / 6 (replicate) -> conv stride 2.
      const dp = replicatePad(act, 5, 6).reshape([1, 1, 2 * T + 11, C]) as tf.Tensor4D;
      return tf.depthwiseConv2d(dp, this.downFilter, [1, 2], 'valid').reshape([1, T, C]) as tf.Tensor3D;
    });
  }

  dispose(): void {
    for (const t of [this.alpha, this.invBeta, this.upFilter, this.downFilter]) t.dispose();
  }
}

/** Xcodec2ResidualUnit: x + conv2(snake2(conv1(snake1(x)))), conv1 k7 dilated, conv2 k1. */
class ResidualUnit {
  constructor(readonly snake1: AntiAliasedSnake, readonly conv1: Conv, readonly snake2: AntiAliasedSnake, readonly conv2: Conv) {}
  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => x.add(this.conv2.apply(this.snake2.apply(this.conv1.apply(this.snake1.apply(x))))) as tf.Tensor3D);
  }
  dispose(): void {
    for (const m of [this.snake1, this.conv1, this.snake2, this.conv2]) m.dispose();
  }
}

/** Xcodec2EncoderBlock: 3 residual units (dilations 1, 3, 9), SnakeBeta, strided conv doubling the channels. */
class EncoderBlock {
  constructor(readonly units: ResidualUnit[], readonly snake: AntiAliasedSnake, readonly conv: Conv) {}
  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      let h = x;
      for (const u of this.units) h = u.apply(h);
      return this.conv.apply(this.snake.apply(h));
    });
  }
  dispose(): void {
    for (const m of [...this.units, this.snake, this.conv]) m.dispose();
  }
}

/** Xcodec2SemanticAdapter: conv1 -> ReLU -> (conv2 -> ReLU -> conv3) + residual -> conv4, all k3. */
class SemanticAdapter {
  constructor(readonly conv1: Conv, readonly conv2: Conv, readonly conv3: Conv, readonly conv4: Conv) {}
  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const h = tf.relu(this.conv1.apply(x)) as tf.Tensor3D; // the residual is taken after the ReLU
      return this.conv4.apply(this.conv3.apply(tf.relu(this.conv2.apply(h)) as tf.Tensor3D).add(h) as tf.Tensor3D);
    });
  }
  dispose(): void {
    for (const m of [this.conv1, this.conv2, this.conv3, this.conv4]) m.dispose();
  }
}

// -- weights -------------------------------------------------------------------------------

/** Channels of the acoustic encoder after stage i (0: the first conv): encoderHiddenSize * 2^i. */
function acousticWidth(c: Xcodec2Config, i: number): number {
  return c.encoderHiddenSize * 2 ** i;
}

/**
 * Every tensor the encoder side reads, with its torch shape (transformers' names):
 * `semantic_encoder.*` (w2v-BERT), `semantic_adapter.*`, `acoustic_encoder.*`, `fc_encoder.*`,
 * `quantizer.project_in.*`.
 */
export function xcodec2EncoderWeightShapes(config: Xcodec2Config): Map<string, number[]> {
  const c = validateXcodec2Config(config);
  const m = new Map<string, number[]>();
  for (const [k, s] of w2vBertWeightShapes(c.semanticModel)) m.set(`semantic_encoder.${k}`, s);
  const S = c.semanticHiddenSize;
  m.set('semantic_adapter.conv1.weight', [S, S, 3]);
  m.set('semantic_adapter.conv2.weight', [S, S, 3]); m.set('semantic_adapter.conv2.bias', [S]);
  m.set('semantic_adapter.conv3.weight', [S, S, 3]); m.set('semantic_adapter.conv3.bias', [S]);
  m.set('semantic_adapter.conv4.weight', [S, S, 3]);
  const conv = (p: string, o: number, i: number, k: number) => { m.set(`${p}.weight`, [o, i, k]); m.set(`${p}.bias`, [o]); };
  const snake = (p: string, ch: number) => { m.set(`${p}.act.alpha`, [ch]); m.set(`${p}.act.beta`, [ch]); };
  conv('acoustic_encoder.conv1', acousticWidth(c, 0), 1, 7);
  c.downsamplingRatios.forEach((s, b) => {
    const p = `acoustic_encoder.block.${b}`;
    const ch = acousticWidth(c, b);
    for (const u of [1, 2, 3]) {
      snake(`${p}.res_unit${u}.snake1`, ch);
      conv(`${p}.res_unit${u}.conv1`, ch, ch, 7);
      snake(`${p}.res_unit${u}.snake2`, ch);
      conv(`${p}.res_unit${u}.conv2`, ch, ch, 1);
    }
    snake(`${p}.snake1`, ch);
    conv(`${p}.conv1`, 2 * ch, ch, 2 * s);
  });
  const top = acousticWidth(c, c.downsamplingRatios.length);
  snake('acoustic_encoder.snake1', top);
  conv('acoustic_encoder.conv2', c.hiddenSize, top, 3);
  m.set('fc_encoder.weight', [c.quantizationDim, c.quantizationDim]);
  m.set('fc_encoder.bias', [c.quantizationDim]);
  m.set('quantizer.project_in.weight', [c.quantizationLevels.length, c.quantizationDim]);
  m.set('quantizer.project_in.bias', [c.quantizationLevels.length]);
  return m;
}

export interface Xcodec2EncoderLoadOptions {
  /** Prefix of every key (e.g. "model."). Default none. */
  prefix?: string;
}

/** Every intermediate of one encode, for parity tests and inspection. Tensors are owned by the caller. */
export interface Xcodec2EncodeTrace {
  /** Samples after the right padding (a multiple of 320). */
  paddedLength: number;
  /** w2v-BERT input `[rows, 160]`. */
  features: tf.Tensor2D;
  /** w2v-BERT output `[frames, S]`. */
  semantic: tf.Tensor2D;
  /** Semantic adapter output `[frames, S]`. */
  adapter: tf.Tensor2D;
  /** Acoustic encoder output `[frames, H]`. */
  acoustic: tf.Tensor2D;
  /** fc_encoder output `[frames, S + H]`. */
  fc: tf.Tensor2D;
  /** quantizer.project_in output `[frames, levels]` (before FSQ's bound). */
  projected: Float32Array;
  codes: Int32Array;
}

/** XCodec2's encoder side. Owns its tensors (`dispose()`). One clip at a time. */
export class Xcodec2Encoder {
  readonly hopLength: number;

  private constructor(
    readonly config: Xcodec2Config,
    private readonly semantic: W2vBertModel,
    private readonly adapter: SemanticAdapter,
    private readonly conv1: Conv,
    private readonly blocks: EncoderBlock[],
    private readonly snake: AntiAliasedSnake,
    private readonly conv2: Conv,
    private readonly fcEncoder: Linear,
    private readonly projectIn: Linear,
  ) {
    this.hopLength = xcodec2HopLength(config);
  }

  /**
   * Loads the encoder side by transformers' names; every key under `acoustic_encoder.`,
   * `semantic_adapter.`, `fc_encoder.` and `semantic_encoder.` must be read (an unknown one is an
   * error naming it). The decoder's keys are left alone.
   */
  static async fromWeights(source: WeightSource, config: Xcodec2Config, options: Xcodec2EncoderLoadOptions = {}): Promise<Xcodec2Encoder> {
    const c = validateXcodec2Config(config);
    const prefix = options.prefix ?? '';
    const w = new WeightReader(source, prefix);
    const made: { dispose(): void }[] = [];
    const keep = <T extends { dispose(): void }>(m: T): T => { made.push(m); return m; };
    try {
      const conv = async (name: string, o: number, i: number, k: number, opts: { stride?: number; dilation?: number; padding?: number; bias?: boolean } = {}) => {
        const wt = await w.get(`${name}.weight`, [o, i, k]);
        const filter = wt.transpose([2, 1, 0]) as tf.Tensor3D; // [out, in, k] -> [k, in, out]
        wt.dispose();
        w.owned.push(filter);
        const bias = opts.bias === false ? null : (await w.get(`${name}.bias`, [o])) as tf.Tensor1D;
        return new Conv(filter, bias, opts.stride ?? 1, opts.dilation ?? 1, opts.padding ?? 0);
      };
      const snake = async (name: string, ch: number) => {
        const a = await w.get(`${name}.act.alpha`, [ch]);
        const b = await w.get(`${name}.act.beta`, [ch]);
        const alpha = tf.exp(a) as tf.Tensor1D;
        const invBeta = tf.tidy(() => tf.div(1, tf.exp(b).add(1e-9))) as tf.Tensor1D;
        a.dispose();
        b.dispose();
        w.owned.push(alpha, invBeta);
        return keep(new AntiAliasedSnake(alpha, invBeta));
      };
      const semantic = keep(await W2vBertModel.fromWeights(source, c.semanticModel, { prefix: `${prefix}semantic_encoder.` }));
      const S = c.semanticHiddenSize;
      const adapter = new SemanticAdapter(
        await conv('semantic_adapter.conv1', S, S, 3, { padding: 1, bias: false }),
        await conv('semantic_adapter.conv2', S, S, 3, { padding: 1 }),
        await conv('semantic_adapter.conv3', S, S, 3, { padding: 1 }),
        await conv('semantic_adapter.conv4', S, S, 3, { padding: 1, bias: false }),
      );
      const conv1 = await conv('acoustic_encoder.conv1', acousticWidth(c, 0), 1, 7, { padding: 3 });
      const blocks: EncoderBlock[] = [];
      for (let b = 0; b < c.downsamplingRatios.length; b++) {
        const s = c.downsamplingRatios[b]!;
        const p = `acoustic_encoder.block.${b}`;
        const ch = acousticWidth(c, b);
        const units: ResidualUnit[] = [];
        for (const [u, d] of [[1, 1], [2, 3], [3, 9]] as const) {
          units.push(new ResidualUnit(
            await snake(`${p}.res_unit${u}.snake1`, ch), await conv(`${p}.res_unit${u}.conv1`, ch, ch, 7, { dilation: d, padding: 3 * d }),
            await snake(`${p}.res_unit${u}.snake2`, ch), await conv(`${p}.res_unit${u}.conv2`, ch, ch, 1),
          ));
        }
        blocks.push(new EncoderBlock(units, await snake(`${p}.snake1`, ch), await conv(`${p}.conv1`, 2 * ch, ch, 2 * s, { stride: s, padding: Math.ceil(s / 2) })));
      }
      const top = acousticWidth(c, c.downsamplingRatios.length);
      const finalSnake = await snake('acoustic_encoder.snake1', top);
      const conv2 = await conv('acoustic_encoder.conv2', c.hiddenSize, top, 3, { padding: 1 });
      const fcEncoder = await w.linear('fc_encoder', c.quantizationDim, c.quantizationDim, true);
      const projectIn = await w.linear('quantizer.project_in', c.quantizationLevels.length, c.quantizationDim, true);
      const unused = source.keys().filter((k) => k.startsWith(prefix) && /^(acoustic_encoder|semantic_adapter|fc_encoder)\./.test(k.slice(prefix.length)) && !w.used.has(k));
      if (unused.length) throw new Error(`XCodec2 checkpoint has encoder tensors this port does not read: ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ` (+${unused.length - 5})` : ''}`);
      return new Xcodec2Encoder(c, semantic, adapter, conv1, blocks, finalSnake, conv2, fcEncoder, projectIn);
    } catch (e) {
      for (const t of w.owned) t.dispose();
      for (const m of made) m.dispose();
      throw e;
    }
  }

  /**
   * Seeded random weights in the checkpoint's names (matrices and kernels N(0, 1/fan_in), norms 1,
   * biases and SnakeBeta log-parameters 0): for tests and tiny pipeline models. Not a codec.
   */
  static async random(config: Xcodec2Config, seed = 0): Promise<Xcodec2Encoder> {
    return Xcodec2Encoder.fromWeights(new MemoryWeights(randomEncoderTensors(config, seed), 'xcodec2-encoder-random'), config);
  }

  /** Samples after the reference's right padding: (N // hop + 1) * hop. */
  paddedLength(samples: number): number {
    return (Math.floor(samples / this.hopLength) + 1) * this.hopLength;
  }

  /** 16 kHz samples -> one code per 320 samples of the padded clip (N // 320 + 1 codes). */
  async encode(audio: Float32Array): Promise<Int32Array> {
    const trace = await this.trace(audio);
    for (const t of [trace.features, trace.semantic, trace.adapter, trace.acoustic, trace.fc]) t.dispose();
    return trace.codes;
  }

  /** `encode` with every intermediate kept (see Xcodec2EncodeTrace); the caller disposes the tensors. */
  async trace(audio: Float32Array): Promise<Xcodec2EncodeTrace> {
    if (!(audio instanceof Float32Array) || audio.length === 0) throw new Error('XCodec2 encode: audio must be a non-empty Float32Array of 16 kHz samples');
    const hop = this.hopLength;
    const paddedLength = this.paddedLength(audio.length);
    const padded = new Float32Array(paddedLength);
    padded.set(audio);
    // The semantic front end sees hop / 2 more zeros on each side: one feature row per code frame.
    const frontEnd = new Float32Array(paddedLength + hop);
    frontEnd.set(padded, hop / 2);
    const feats = w2vBertFeatures(frontEnd);
    const features = tf.tensor2d(feats.data, [feats.rows, feats.dim]);
    const out: tf.Tensor[] = [features];
    try {
      const semantic3 = this.semantic.forward(features); // [1, rows, S]
      out.push(semantic3);
      const adapter3 = this.adapter.apply(semantic3);
      out.push(adapter3);
      const acoustic3 = tf.tidy(() => {
        let h = this.conv1.apply(tf.tensor3d(padded, [1, paddedLength, 1]));
        for (const b of this.blocks) h = b.apply(h);
        return this.conv2.apply(this.snake.apply(h)); // [1, frames, H]
      });
      out.push(acoustic3);
      // Equal for any audio (both paddedLength / 320); trimmed as transformers' main branch does, should they differ.
      const frames = Math.min(adapter3.shape[1], acoustic3.shape[1]);
      const fc3 = tf.tidy(() => this.fcEncoder.apply(tf.concat([adapter3.slice([0, 0, 0], [1, frames, -1]), acoustic3.slice([0, 0, 0], [1, frames, -1])], 2)) as tf.Tensor3D);
      out.push(fc3);
      const projectedT = tf.tidy(() => this.projectIn.apply(fc3));
      const projected = (await projectedT.data()) as Float32Array;
      projectedT.dispose();
      const codes = fsqIndices(projected, this.config.quantizationLevels);
      const squeeze = (t: tf.Tensor) => tf.tidy(() => t.squeeze([0]) as tf.Tensor2D);
      const result: Xcodec2EncodeTrace = {
        paddedLength, features, semantic: squeeze(semantic3), adapter: squeeze(adapter3), acoustic: squeeze(acoustic3), fc: squeeze(fc3), projected, codes,
      };
      for (const t of [semantic3, adapter3, acoustic3, fc3]) t.dispose();
      return result;
    } catch (e) {
      for (const t of out) t.dispose();
      throw e;
    }
  }

  dispose(): void {
    for (const m of [this.semantic, this.adapter, this.conv1, ...this.blocks, this.snake, this.conv2, this.fcEncoder, this.projectIn]) m.dispose();
  }
}

/** The random tensors `Xcodec2Encoder.random` loads. */
export function randomEncoderTensors(config: Xcodec2Config, seed: number): Map<string, { shape: number[]; data: Float32Array }> {
  const rng = new Rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of xcodec2EncoderWeightShapes(config)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (shape.length >= 2) {
      const std = 1 / Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1));
      for (let i = 0; i < data.length; i++) data[i] = normal() * std;
    } else if (/norm\.weight$/.test(name)) data.fill(1);
    tensors.set(name, { shape, data });
  }
  return tensors;
}
