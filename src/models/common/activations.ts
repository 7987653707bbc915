/** Activations that tfjs lacks in the exact form the reference models use. */
import * as tf from '@tensorflow/tfjs';

/**
 * Exact GELU, `0.5 x (1 + erf(x / sqrt 2))`: transformers' ACT2FN["gelu"] (torch's
 * default, not the tanh approximation).
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => x.mul(0.5).mul(tf.erf(x.mul(Math.SQRT1_2)).add(1)));
}
