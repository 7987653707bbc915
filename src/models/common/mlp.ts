/** The SwiGLU feed-forward block of Llama (transformers' LlamaMLP with hidden_act "silu"). */
import * as tf from '@tensorflow/tfjs';
import type { ApplyOptions, LinearLike } from './linear';

/** down_proj(silu(gate_proj(x)) * up_proj(x)) */
export class SwiGLU {
  constructor(
    public gate_proj: LinearLike,
    public up_proj: LinearLike,
    public down_proj: LinearLike,
  ) {}

  /** `[..., hidden]` -> `[..., hidden]` through `[..., intermediate]` */
  apply(x: tf.Tensor, options: ApplyOptions = {}): tf.Tensor {
    return tf.tidy(() => {
      const gate = this.gate_proj.apply(x, options); // [..., intermediate]
      const up = this.up_proj.apply(x, options);
      const act = gate.mul(tf.sigmoid(gate)); // silu(x) = x * sigmoid(x)
      return this.down_proj.apply(act.mul(up), options); // [..., hidden]
    });
  }

  dispose(): void {
    for (const m of [this.gate_proj, this.up_proj, this.down_proj]) m.dispose();
  }
}
