/**
 * y = x W^T with a frozen f16 weight W [N, K] (torch.nn.Linear layout [out, in]) on the f16
 * matmul (`matmulHalf`): x (float32) is rounded to f16 per call, products accumulate in f32 and
 * y comes back float32. The backward pass (tf.customGrad) returns only dx = dy W (dy rounded to
 * f16, the plain [M, N] x [N, K] form); W is frozen, so there is no dW and nothing of W is saved
 * besides the f16 weight itself. WebGPU only (gpuContext() says how to fix it elsewhere).
 *
 * Rows: the subgroup-matrix kernel needs M to be a multiple of its block rows (128). When N and K
 * fit the tile but M does not, x (and dy) are padded with zero rows up to the next multiple and
 * the extra output rows dropped, so ragged batch x sequence sizes still run on tensor cores.
 */
import * as tf from '@tensorflow/tfjs';
import { RuntimeError } from '../errors';
import { gpuContext } from './gpu';
import { HalfTensor, toHalf } from './half';
import { DEFAULT_TILING, matmulHalf, matmulHalfPlan } from './matmul';
import type { MatmulHalfOptions } from './matmul';

/** Rows to run `M` x `N` x `K` at: M itself, or M padded to the tile when that turns the kernel into the subgroup-matrix one. */
function paddedRows(M: number, N: number, K: number, options: MatmulHalfOptions): number {
  const plan = matmulHalfPlan(M, N, K, options);
  if (plan.variant === 'subgroup-matrix' || options.variant === 'tiled') return M;
  const BM = (options.tiling ?? DEFAULT_TILING).BM;
  const Mp = Math.ceil(M / BM) * BM;
  if (Mp === M) return M;
  return matmulHalfPlan(Mp, N, K, options).variant === 'subgroup-matrix' ? Mp : M;
}

/** f32 [M, K] -> (f16 [M, K]) x (f16 W, transposed or not) -> f32 [M, N], padding rows where that helps. */
function product(x: tf.Tensor2D, w: HalfTensor, transB: boolean, options: MatmulHalfOptions): tf.Tensor2D {
  const [M, K] = x.shape;
  const N = transB ? w.shape[0] : w.shape[1];
  const o = { ...options, transB };
  const Mp = paddedRows(M, N, K, o);
  const xp = Mp === M ? x : tf.pad(x, [[0, Mp - M], [0, 0]]);
  const xh = toHalf(xp);
  if (xp !== x) xp.dispose();
  const y = matmulHalf(xh, w, o); // [Mp, N]
  xh.dispose();
  if (Mp === M) return y;
  const out = tf.slice(y, [0, 0], [M, N]) as tf.Tensor2D;
  y.dispose();
  return out;
}

/**
 * `x` [..., K] float32 times the frozen f16 weight `w` [N, K], transposed: [..., N] float32.
 * Differentiable in x (gradient dx = dy w through the f16 matmul); w gets no gradient. The
 * result is a new tensor the caller owns. `options` pick the matmul variant / tiling (tests).
 */
export function linearHalf(x: tf.Tensor, w: HalfTensor, options: MatmulHalfOptions = {}): tf.Tensor {
  gpuContext(); // fails off webgpu with the call that fixes it
  if (w.isDisposed) throw new RuntimeError('init-failed', `linearHalf: the f16 weight [${w.shape}] was disposed`);
  if (w.shape.length !== 2) throw new RuntimeError('init-failed', `linearHalf needs a weight [out, in], got [${w.shape}]`);
  const [N, K] = w.shape;
  if (x.dtype !== 'float32') throw new RuntimeError('init-failed', `linearHalf takes float32 input, got ${x.dtype}`);
  if (x.shape[x.shape.length - 1] !== K) {
    throw new RuntimeError('init-failed', `linearHalf: input [${x.shape}] does not end in the weight's ${K} input features (weight [${w.shape}])`);
  }
  const lead = x.shape.slice(0, -1);
  const f = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xIn = inputs[0] as tf.Tensor;
    const x2 = xIn.reshape([-1, K]) as tf.Tensor2D; // [M, K]
    const y2 = product(x2, w, true, options); // [M, N]
    x2.dispose();
    const value = y2.reshape([...lead, N]);
    y2.dispose();
    return {
      value,
      gradFunc: (dy: tf.Tensor) => {
        if (w.isDisposed) throw new RuntimeError('init-failed', `linearHalf backward: the f16 weight [${w.shape}] was disposed before the gradient ran`);
        const dy2 = dy.reshape([-1, N]) as tf.Tensor2D; // [M, N]
        const dx2 = product(dy2, w, false, options); // [M, N] x [N, K] = [M, K]
        dy2.dispose();
        const dx = dx2.reshape(xIn.shape);
        dx2.dispose();
        return dx;
      },
    };
  });
  return f(x);
}
