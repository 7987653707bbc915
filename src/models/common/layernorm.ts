/** LayerNorm (Ba et al. 2016) as torch.nn.LayerNorm with an elementwise affine (Whisper, Mimi). */
import * as tf from '@tensorflow/tfjs';

/**
 * y = (x - mean) / sqrt(var + eps) * weight + bias over the last axis, with the biased
 * variance as torch computes it. Owns weight and bias: `dispose()` frees them.
 */
export class LayerNorm {
  constructor(
    /** `[hidden]` */
    public weight: tf.Tensor1D,
    /** `[hidden]` */
    public bias: tf.Tensor1D,
    readonly eps = 1e-5,
  ) {
    if (weight.shape[0] !== bias.shape[0]) throw new Error(`LayerNorm weight [${weight.shape}] and bias [${bias.shape}] differ`);
  }

  /** `[..., hidden]` -> `[..., hidden]` */
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const mean = x.mean(-1, true); // [..., 1]
      const centred = x.sub(mean);
      const variance = centred.square().mean(-1, true);
      return centred.mul(tf.rsqrt(variance.add(this.eps))).mul(this.weight).add(this.bias);
    });
  }

  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
  }
}
