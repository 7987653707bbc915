/** Activation functions by their transformers names (ACT2FN) that tfjs lacks or names differently. */
import * as tf from '@tensorflow/tfjs';

/**
 * Exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)): transformers' "gelu" (Whisper, BERT).
 * tfjs' own gelu-like ops use the tanh approximation, which differs by up to ~1e-3.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => x.mul(tf.erf(x.mul(Math.SQRT1_2)).add(1)).mul(0.5));
}
