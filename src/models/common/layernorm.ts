/** LayerNorm (Ba et al. 2016) as torch.nn.LayerNorm over the last axis, with weight and bias. */
import * as tf from '@tensorflow/tfjs';

/**
 * y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance over the last
 * axis (torch.nn.LayerNorm, elementwise_affine=True). Owns its weight and bias.
 */
export class LayerNorm {
  constructor(
    /** `[hidden]` */
    public weight: tf.Tensor1D,
    /** `[hidden]`, or null (torch's `bias=False`) */
    public bias: tf.Tensor1D | null,
    readonly eps: number,
  ) {
    if (bias && bias.shape[0] !== weight.shape[0]) {
      throw new Error(`LayerNorm bias has shape [${bias.shape}] but weight has [${weight.shape}]`);
    }
  }

  /** `[..., hidden]` -> `[..., hidden]` */
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1, true); // [..., 1] each
      const y = x.sub(mean).mul(tf.rsqrt(variance.add(this.eps))).mul(this.weight);
      return this.bias ? y.add(this.bias) : y;
    });
  }

  dispose(): void {
    this.weight.dispose();
    this.bias?.dispose();
  }
}
