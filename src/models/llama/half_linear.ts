/**
 * A frozen torch.nn.Linear whose weight lives on the GPU in f16 (`HalfTensor`, half the bytes
 * of float32): y = x W^T (+ b) through `linearHalf` (f16 matmul, f32 accumulation and output,
 * gradient for x only). Used for the frozen base weights of a LoRA fine-tune
 * (`LlamaForCausalLM.random / fromWeights` with `frozenDtype: 'float16'`); LoRA's A and B stay
 * float32 variables in the `LoraLinear` that wraps it.
 *
 * It is a `Linear` so LoRA can wrap it like any other, but it has no float32 `weight`: reading
 * `.weight` throws (say `weightF32()` for a float32 copy), so code that would silently need the
 * f32 weight (merging an adapter into the base, saving the base) fails with a clear message.
 */
import * as tf from '@tensorflow/tfjs';
import { Linear } from '../common/linear';
import { HalfTensor, toHalf, fromHalf, halfFromValues } from '../../runtime/kernels/half';
import { linearHalf } from '../../runtime/kernels/half_linear';

export class HalfLinear extends Linear {
  /** `[out, in]` in f16. */
  readonly half: HalfTensor;

  /** Takes ownership of `half` and `bias`. */
  constructor(half: HalfTensor, bias: tf.Tensor1D | null = null, readonly name = 'HalfLinear') {
    if (half.shape.length !== 2) throw new Error(`${name}: f16 weight must be [out, in], got [${half.shape}]`);
    // The f16 matmul reads f16 pairs along both of W's dimensions (forward transB and dx).
    if (half.shape[0] % 2 !== 0 || half.shape[1] % 2 !== 0) {
      throw new Error(`${name}: an f16 weight needs even out and in features (the f16 matmul reads pairs), got [${half.shape}]; keep this layer float32`);
    }
    // Linear's constructor reads only the weight's shape; the stand-in carries nothing else and
    // is replaced below by an accessor that refuses float32 reads.
    super({ shape: half.shape } as unknown as tf.Tensor2D, bias);
    this.half = half;
    Object.defineProperty(this, 'weight', {
      configurable: true,
      enumerable: true,
      get: (): never => {
        throw new Error(`${name} holds its frozen weight [${half.shape}] in f16 on the GPU (frozenDtype 'float16'); `
          + 'it has no float32 weight tensor: use weightF32() for a copy, or load the model with the default float32 weights');
      },
      set: () => {
        throw new Error(`${name}: the f16 weight cannot be replaced by a float32 tensor (merging a LoRA adapter needs float32 base weights)`);
      },
    });
  }

  /**
   * From a float32 `[out, in]` weight already on the GPU (rounded to nearest f16 there, in
   * chunks when it is larger than one storage binding; no read-back, so no range check: values
   * beyond +-65504 become infinity; `fromValues` checks). Does not take ownership of `weight`.
   */
  static fromF32(weight: tf.Tensor2D, bias: tf.Tensor1D | null = null, name = 'HalfLinear'): HalfLinear {
    return HalfLinear.owning(toHalf(weight, { name }), bias, name);
  }

  /**
   * From float32 values on the CPU (a checkpoint's F32, F16 or BF16 tensor widened by
   * `getF32`): checked for the f16 range, uploaded and rounded chunk by chunk
   * (`halfFromValues`: no float32 copy of the whole weight on the GPU, so an lm_head larger than
   * one storage binding loads).
   */
  static fromValues(data: Float32Array, shape: [number, number], bias: tf.Tensor1D | null = null, name = 'HalfLinear'): HalfLinear {
    if (data.length !== shape[0] * shape[1]) throw new Error(`${name}: ${data.length} values do not fill [${shape}]`);
    return HalfLinear.owning(halfFromValues(data, shape, { name: `${name} weight` }), bias, name);
  }

  /** The constructor, freeing `half` when it refuses it (odd sizes) so a failed load leaks nothing. */
  private static owning(half: HalfTensor, bias: tf.Tensor1D | null, name: string): HalfLinear {
    try {
      return new HalfLinear(half, bias, name);
    } catch (e) {
      half.dispose();
      throw e;
    }
  }

  /** A float32 copy of the f16 weight `[out, in]`, owned by the caller. */
  weightF32(): tf.Tensor2D {
    return fromHalf(this.half, { name: this.name }) as tf.Tensor2D;
  }

  override apply(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const y = linearHalf(x, this.half); // [..., out]
      return this.bias ? y.add(this.bias) : y;
    });
  }

  override dispose(): void {
    this.half.dispose();
    this.bias?.dispose();
  }
}
