/** RMSNorm (Zhang & Sennrich 2019) as transformers' LlamaRMSNorm. */
import * as tf from '@tensorflow/tfjs';

/**
 * y = weight * x / sqrt(mean(x^2) + eps), over the last axis. Computed in float32 as HF
 * does (it upcasts); tfjs has no lower precision here anyway.
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/llama/modeling_llama.py (LlamaRMSNorm)
 */
export class RMSNorm {
  constructor(
    /** `[hidden]` */
    public weight: tf.Tensor1D,
    readonly eps: number,
  ) {}

  /** `[..., hidden]` -> `[..., hidden]` */
  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const variance = x.square().mean(-1, true); // [..., 1]
      return x.mul(tf.rsqrt(variance.add(this.eps))).mul(this.weight);
    });
  }

  dispose(): void {
    this.weight.dispose();
  }
}
