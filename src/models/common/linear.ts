/**
 * Linear layers as in torch.nn.Linear: weight `[out, in]` (the checkpoint layout, so a
 * weight loads without transposing), y = x W^T + b.
 */
import * as tf from '@tensorflow/tfjs';

/** Per-call options shared by every module's `apply`. */
export interface ApplyOptions {
  /** Training mode: dropout is active (LoRA dropout). Default false (eval), as `model.eval()`. */
  training?: boolean;
}

/**
 * Anything that maps `[..., inFeatures]` to `[..., outFeatures]`: a plain `Linear`, or a
 * LoRA-wrapped one (src/lora). Model code calls only this, so LoRA can replace a module
 * by name without the model knowing.
 */
export interface LinearLike {
  readonly inFeatures: number;
  readonly outFeatures: number;
  apply(x: tf.Tensor, options?: ApplyOptions): tf.Tensor;
  dispose(): void;
}

/** torch.nn.Linear. Owns its weight and bias: `dispose()` frees them. */
export class Linear implements LinearLike {
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(
    /** `[out, in]` */
    public weight: tf.Tensor2D,
    /** `[out]`, or null (Llama projections have none) */
    public bias: tf.Tensor1D | null = null,
  ) {
    [this.outFeatures, this.inFeatures] = weight.shape;
    if (bias && bias.shape[0] !== this.outFeatures) {
      throw new Error(`Linear bias has shape [${bias.shape}] but weight has ${this.outFeatures} outputs`);
    }
  }

  apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const x2 = x.reshape([-1, this.inFeatures]); // [rows, in]
      let y = tf.matMul(x2, this.weight, false, true); // [rows, out]
      if (this.bias) y = y.add(this.bias);
      return y.reshape([...lead, this.outFeatures]); // [..., out]
    });
  }

  dispose(): void {
    this.weight.dispose();
    this.bias?.dispose();
  }
}
