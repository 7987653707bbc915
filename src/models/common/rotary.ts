/**
 * Rotary position embeddings (RoPE) with the `default` and `llama3` frequency schemes of
 * transformers' modeling_rope_utils.py (`_compute_default_rope_parameters`,
 * `_compute_llama3_parameters`), applied with the rotate-half layout of LlamaAttention.
 */
import * as tf from '@tensorflow/tfjs';

/** Frequency scheme. `llama3` stretches low frequencies for long contexts (Llama 3.1+). */
export type RopeScaling =
  | { ropeType: 'default' }
  | {
      ropeType: 'llama3';
      /** Divisor of the lowest frequencies (32 for Llama 3.2). */
      factor: number;
      /** Wavelengths above originalMaxPositionEmbeddings / lowFreqFactor are divided by factor. */
      lowFreqFactor: number;
      /** Wavelengths below originalMaxPositionEmbeddings / highFreqFactor are kept. */
      highFreqFactor: number;
      /** Context length the model was pre-trained with before scaling. */
      originalMaxPositionEmbeddings: number;
    };

/**
 * Inverse frequencies `[headDim / 2]`: theta^(-2i/d), then llama3 scaling: keep high
 * frequencies, divide low ones by `factor`, interpolate in between (REFERENCE.md).
 * Rounded to float32 as HF holds `inv_freq` in float32.
 */
export function ropeInvFreq(headDim: number, theta: number, scaling: RopeScaling = { ropeType: 'default' }): Float32Array {
  const half = headDim / 2;
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    // HF: 1 / theta ** (arange(0, dim, 2) / dim), in float32
    const inv = Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / headDim)));
    if (scaling.ropeType === 'default') {
      out[i] = inv;
      continue;
    }
    const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositionEmbeddings: orig } = scaling;
    const wavelen = (2 * Math.PI) / inv;
    if (wavelen < orig / high) out[i] = inv;
    else if (wavelen > orig / low) out[i] = inv / factor;
    else {
      const smooth = (orig / wavelen - low) / (high - low);
      out[i] = (1 - smooth) * (inv / factor) + smooth * inv;
    }
  }
  return out;
}

/**
 * cos and sin tables `[batch, seq, headDim]` for integer positions `[batch][seq]`,
 * laid out as HF's `cat(freqs, freqs)` so they pair with `rotateHalf`.
 */
export function rotaryCosSin(invFreq: Float32Array, positions: ArrayLike<number>[]): { cos: tf.Tensor3D; sin: tf.Tensor3D } {
  const batch = positions.length;
  const seq = batch ? positions[0].length : 0;
  const half = invFreq.length;
  const dim = 2 * half;
  const cos = new Float32Array(batch * seq * dim);
  const sin = new Float32Array(batch * seq * dim);
  for (let b = 0; b < batch; b++) {
    if (positions[b].length !== seq) throw new Error(`position ids rows differ in length (${positions[b].length} vs ${seq})`);
    for (let s = 0; s < seq; s++) {
      const p = positions[b][s];
      const base = (b * seq + s) * dim;
      for (let i = 0; i < half; i++) {
        // HF multiplies in float32 (inv_freq @ position_ids.float()), then takes cos/sin.
        const angle = Math.fround(invFreq[i] * p);
        const c = Math.cos(angle);
        const sn = Math.sin(angle);
        cos[base + i] = c;
        cos[base + half + i] = c;
        sin[base + i] = sn;
        sin[base + half + i] = sn;
      }
    }
  }
  return { cos: tf.tensor3d(cos, [batch, seq, dim]), sin: tf.tensor3d(sin, [batch, seq, dim]) };
}

/** `[..., d]` -> `[..., d]`: (x1, x2) -> (-x2, x1) over the two halves (HF `rotate_half`). */
export function rotateHalf(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const d = x.shape[x.rank - 1];
    const [x1, x2] = tf.split(x, [d / 2, d / 2], -1);
    return tf.concat([x2.neg(), x1], -1);
  });
}

/**
 * Applies RoPE to `x` `[batch, heads, seq, headDim]` with cos/sin `[batch, seq, headDim]`
 * (HF `apply_rotary_pos_emb`, unsqueeze_dim=1).
 */
export function applyRotary(x: tf.Tensor4D, cos: tf.Tensor3D, sin: tf.Tensor3D): tf.Tensor4D {
  return tf.tidy(() => {
    const c = cos.expandDims(1); // [batch, 1, seq, headDim]
    const s = sin.expandDims(1);
    return x.mul(c).add(rotateHalf(x).mul(s)) as tf.Tensor4D;
  });
}
