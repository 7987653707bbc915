/**
 * Causal 1-D convolutions with the padding rules of Encodec / Mimi (transformers'
 * MimiConv1d and MimiConvTranspose1d, use_causal_conv=True), time-major, with an optional
 * streaming state so audio can be processed in chunks with the same result as one pass.
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/mimi/modeling_mimi.py
 *
 * Layout: activations are `[time, channels]` (one clip); weights keep the torch layout
 * they are loaded with (`[out, in, k]` for Conv1d, `[in, out / groups, k]` for
 * ConvTranspose1d) and are rearranged once in the constructor.
 */
import * as tf from '@tensorflow/tfjs';

/** How the left (and end-of-input) padding is filled: zeros, or copies of the edge sample. */
export type CausalPadMode = 'constant' | 'replicate';

/**
 * State of one causal convolution across chunks: the last `paddingTotal` input samples
 * (the left context of the next chunk) and how many samples went in so far. Owns `tail`.
 */
export interface ConvStreamState {
  tail: tf.Tensor2D | null;
  samplesIn: number;
}

/** Replaces `state.tail` (kept beyond any tidy) and frees the old one. */
function setTail<T extends tf.Tensor>(state: { tail: T | null }, t: T): void {
  const old = state.tail;
  state.tail = tf.keep(t);
  old?.dispose();
}

/** `n` copies of row `row` of `x` `[time, ch]` -> `[n, ch]`. */
function repeatRow(x: tf.Tensor2D, row: number, n: number): tf.Tensor2D {
  return x.slice([row, 0], [1, -1]).tile([n, 1]) as tf.Tensor2D;
}

/**
 * torch.nn.Conv1d (groups 1) behind MimiConv1d's causal padding: `paddingTotal = kEff -
 * stride` on the left, and on the right the "extra padding" that completes the last
 * window: with L input samples, `ceil((L - kEff + paddingTotal) / stride) * stride + kEff
 * - paddingTotal - L`. So L samples give `ceil(L / stride)` outputs. Owns its tensors.
 */
export class CausalConv1d {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  /** Effective kernel size with dilation, `(k - 1) * dilation + 1`. */
  readonly kEff: number;
  readonly paddingTotal: number;
  /** `[k, in, out]`, tfjs conv1d's filter layout. */
  private readonly filter: tf.Tensor3D;

  constructor(
    /** torch layout `[out, in, k]` (consumed: the constructor disposes it) */
    weight: tf.Tensor3D,
    /** `[out]`, or null */
    public bias: tf.Tensor1D | null,
    readonly stride = 1,
    readonly dilation = 1,
    readonly padMode: CausalPadMode = 'constant',
  ) {
    [this.outChannels, this.inChannels, this.kernelSize] = weight.shape;
    if (stride > 1 && dilation > 1) throw new Error(`CausalConv1d: stride ${stride} with dilation ${dilation} is not supported`);
    if (bias && bias.shape[0] !== this.outChannels) throw new Error(`CausalConv1d bias [${bias.shape}] for ${this.outChannels} outputs`);
    this.kEff = (this.kernelSize - 1) * dilation + 1;
    this.paddingTotal = this.kEff - stride;
    this.filter = tf.keep(weight.transpose([2, 1, 0]) as tf.Tensor3D);
    weight.dispose();
  }

  /** Right padding that makes the last window whole, for `length` input samples in all. */
  extraPadding(length: number): number {
    const nFrames = Math.ceil((length - this.kEff + this.paddingTotal) / this.stride);
    return nFrames * this.stride + this.kEff - this.paddingTotal - length;
  }

  /** Output samples for `length` input samples (one pass). */
  outputLength(length: number): number {
    return (length + this.paddingTotal + this.extraPadding(length) - this.kEff) / this.stride + 1;
  }

  newState(): ConvStreamState {
    return { tail: null, samplesIn: 0 };
  }

  /**
   * `x` `[time, in]` -> `[ceil(time / stride), out]` in one pass; with `state`, one chunk
   * of a stream: left context from the previous chunk, and end padding only when `final`.
   * Every chunk but the final one must hold a multiple of `stride` samples.
   */
  apply(x: tf.Tensor2D, state?: ConvStreamState, final = true): tf.Tensor2D {
    return tf.tidy(() => {
      const len = x.shape[0];
      if (state && !final && len % this.stride !== 0) {
        throw new Error(`CausalConv1d: a non-final chunk of ${len} samples is not a multiple of the stride ${this.stride}`);
      }
      const parts: tf.Tensor2D[] = [];
      const p = this.paddingTotal;
      if (p > 0) {
        if (state?.tail) parts.push(state.tail);
        else if (this.padMode === 'replicate') parts.push(repeatRow(x, 0, p));
        else parts.push(tf.zeros([p, this.inChannels]));
      }
      parts.push(x);
      const total = (state?.samplesIn ?? 0) + len;
      if (final) {
        const extra = this.extraPadding(total);
        if (extra > 0) {
          parts.push(this.padMode === 'replicate' ? repeatRow(x, len - 1, extra) : tf.zeros([extra, this.inChannels]));
        }
      }
      const padded = parts.length === 1 ? x : (tf.concat(parts, 0) as tf.Tensor2D); // [p + time + extra, in]
      if (state) {
        // The next chunk's left context: the last p samples of context + chunk (rows
        // len .. len + p of `padded`), never the end padding.
        if (p > 0) setTail(state, padded.slice([len, 0], [p, -1]));
        state.samplesIn = total;
      }
      let y = tf.conv1d(padded.expandDims(0) as tf.Tensor3D, this.filter, this.stride, 'valid', 'NWC', this.dilation); // [1, out_t, out]
      if (this.bias) y = y.add(this.bias);
      return y.squeeze([0]) as tf.Tensor2D;
    });
  }

  dispose(): void {
    this.filter.dispose();
    this.bias?.dispose();
  }
}

/** State of a transposed convolution across chunks: the previous chunk's overlapping tail. */
export interface ConvTransposeStreamState {
  /** `[m - 1, out, m * stride]`: the last frames' kernel products, not yet fully summed. */
  tail: tf.Tensor3D | null;
}

/**
 * torch.nn.ConvTranspose1d behind MimiConvTranspose1d (causal, trim_right_ratio 1): the
 * `k - stride` samples past the end are trimmed, so `T` inputs give `T * stride` outputs.
 * Dense (groups 1) or depthwise (groups = in = out, Mimi's upsample). Computed as
 * products `[T, out, k]` (a matmul, or a broadcast multiply for depthwise) overlap-added
 * with hop `stride`. Owns its tensors.
 */
export class CausalConvTranspose1d {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  /** kernel blocks of `stride` samples, `ceil(k / stride)` */
  private readonly blocks: number;
  /** dense: `[in, out * m * stride]`; depthwise: `[channels, m * stride]` */
  private readonly kernel: tf.Tensor2D;

  constructor(
    /** torch layout `[in, out / groups, k]` (consumed: the constructor disposes it) */
    weight: tf.Tensor3D,
    public bias: tf.Tensor1D | null,
    readonly stride: number,
    readonly groups = 1,
  ) {
    const [cin, coutPerGroup, k] = weight.shape;
    this.inChannels = cin;
    this.outChannels = coutPerGroup * groups;
    this.kernelSize = k;
    if (groups !== 1 && !(groups === cin && coutPerGroup === 1)) {
      throw new Error(`CausalConvTranspose1d: groups ${groups} with weight [${weight.shape}] (only dense or depthwise are supported)`);
    }
    if (bias && bias.shape[0] !== this.outChannels) throw new Error(`CausalConvTranspose1d bias [${bias.shape}] for ${this.outChannels} outputs`);
    this.blocks = Math.ceil(k / stride);
    const kPad = this.blocks * stride - k;
    this.kernel = tf.keep(
      tf.tidy(() => {
        const w = kPad > 0 ? weight.pad([[0, 0], [0, 0], [0, kPad]]) : weight; // [in, out/groups, m*s]
        return (groups === 1 ? w.reshape([cin, -1]) : w.reshape([cin, this.blocks * stride])) as tf.Tensor2D;
      }),
    );
    weight.dispose();
  }

  newState(): ConvTransposeStreamState {
    return { tail: null };
  }

  /**
   * `x` `[T, in]` -> `[T * stride, out]`. With `state`, the overlap of the previous chunk
   * is added in and this chunk's overlap is kept, so chunks join exactly as one pass.
   */
  apply(x: tf.Tensor2D, state?: ConvTransposeStreamState): tf.Tensor2D {
    return tf.tidy(() => {
      const T = x.shape[0];
      const m = this.blocks;
      const s = this.stride;
      const cout = this.outChannels;
      // Products of each input frame with the whole kernel: [T, out, m*s]
      const prod = (this.groups === 1
        ? tf.matMul(x, this.kernel).reshape([T, cout, m * s])
        : x.expandDims(2).mul(this.kernel.expandDims(0))) as tf.Tensor3D;
      // Frames before this chunk that still overlap it (zeros at the start of a stream).
      const prev = state?.tail ?? tf.zeros([m - 1, cout, m * s]);
      const ext = m > 1 ? (tf.concat([prev, prod], 0) as tf.Tensor3D) : prod; // [m-1+T, out, m*s]
      // Output frame f (s samples) = sum_i block i of input frame f - i.
      let acc: tf.Tensor3D | null = null;
      for (let i = 0; i < m; i++) {
        const part = ext.slice([m - 1 - i, 0, i * s], [T, cout, s]) as tf.Tensor3D; // [T, out, s]
        acc = acc ? (acc.add(part) as tf.Tensor3D) : part;
      }
      if (state && m > 1) setTail(state, ext.slice([T, 0, 0], [m - 1, cout, m * s]) as tf.Tensor3D);
      let y = acc!.transpose([0, 2, 1]).reshape([T * s, cout]) as tf.Tensor2D; // [T*s, out]
      if (this.bias) y = y.add(this.bias);
      return y;
    });
  }

  dispose(): void {
    this.kernel.dispose();
    this.bias?.dispose();
  }
}
