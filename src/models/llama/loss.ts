/**
 * Causal-LM cross-entropy fused with a frozen LM head, chunked over rows, so the float32 logits
 * of the whole batch `[tokens, vocab]` are never stored at once (issue 10). For Llasa
 * (vocabulary 193800) 512 tokens of logits are 397 MB of f32, for Orpheus (156940) 2 x 2048
 * tokens 2.6 GB; `causalLmLoss` on full logits then keeps the log-softmax and its gradient too.
 *
 * `chunkedLmHeadLoss(hidden [N, H], head, labels [N])`: mean over the rows whose label is not
 * `ignoreIndex` of `logsumexp(h W^T) - (h W^T)[label]`, the value of HF's CrossEntropyLoss on
 * `h W^T`. Only the rows with a label are computed (prompt and padding rows cost nothing and get
 * a zero gradient), `rowChunk` of them at a time, inside one `tf.customGrad`: per chunk,
 * logits_c = h_c W^T (+ b) `[rows, vocab]`, per row its logsumexp and the picked logit, and,
 * when a gradient is being recorded (tfjs' tape is on: `tf.grad`, `tf.variableGrads`, ...), the
 * gradient of the mean loss right away while the chunk's logits are there:
 *   dL/dh_c = (softmax(logits_c) W - W[label]) / count
 * (the one-hot term is a row gather of W, so no `[rows, vocab]` one-hot is built). The chunk's
 * logits are freed before the next chunk; only dL/dh `[N, hidden]` is kept, and the backward
 * pass scales it by the incoming dy. So the head costs one forward and one backward product, as
 * with full logits (no recomputation), and nothing of size vocab outlives its chunk. Without a
 * tape (evaluation) only the loss is computed. The head is frozen: no gradient for W or b.
 * Peak extra memory: a few `[rowChunk, vocab]` f32 tensors (logits, softmax, its f16 copy with
 * an f16 head) instead of several `[tokens, vocab]` ones.
 *
 * The head is the model's own product: tf.matMul in float32 (a `Linear` lm_head or the tied
 * float32 embedding), or the f16 matmul (`linearHalf`'s forward; the backward `p W` on
 * `matmulHalf` with p rounded to f16, as `linearHalf`'s backward rounds dy) for a `HalfLinear`
 * lm_head or a tied f16 embedding. A trainable head (LoRA on lm_head) is not a `LmHead`: the
 * caller falls back to full logits (see `LlamaForCausalLM.loss`).
 *
 * Tensor lifetimes: returns one new scalar the caller owns; borrows `hidden` and the head.
 */
import * as tf from '@tensorflow/tfjs';
import { HalfTensor, toHalf } from '../../runtime/kernels/half';
import { gatherHalf } from '../../runtime/kernels/half_gather';
import { linearHalf } from '../../runtime/kernels/half_linear';
import { DEFAULT_TILING, matmulHalf, matmulHalfPlan } from '../../runtime/kernels/matmul';

/** HF's CrossEntropyLoss ignore_index (the same value as modeling.ts' IGNORE_INDEX). */
const IGNORE = -100;

/**
 * Default rows per chunk: 1024 rows of Llasa's vocabulary are 794 MB of f32 logits (one WebGPU
 * storage binding holds 2 GiB on an H100), large enough that the head's matmuls stay efficient.
 */
export const DEFAULT_LOSS_CHUNK_ROWS = 1024;

/**
 * A frozen LM head: logits = h W^T (+ bias), `weight` `[vocab, hidden]` in float32 or f16.
 * Borrowed: the loss never disposes it.
 */
export interface LmHead {
  weight: tf.Tensor2D | HalfTensor;
  /** `[vocab]` float32, or null. */
  bias: tf.Tensor1D | null;
}

export interface ChunkedLossOptions {
  /** Rows of logits computed at once (default `DEFAULT_LOSS_CHUNK_ROWS`). */
  rowChunk?: number;
  /** Label value that is skipped (default -100). */
  ignoreIndex?: number;
}

/**
 * Per-row targets of HF's causal-LM loss for `[batch][seq]` labels, flattened to `[batch * seq]`
 * in the row order of hidden states `[batch, seq, hidden]` reshaped to `[batch * seq, hidden]`:
 * row (b, t) predicts `labels[b][t + 1]`, the last position of each sequence predicts nothing
 * (`ignoreIndex`).
 */
export function shiftLabels(labels: number[][], ignoreIndex = IGNORE): number[] {
  const out: number[] = [];
  for (const row of labels) {
    for (let t = 0; t < row.length; t++) out.push(t + 1 < row.length ? row[t + 1] : ignoreIndex);
  }
  return out;
}

/** f32 `[M, K]` rounded to f16, times the f16 `w` (`[N, K]` with transB, else `[K, N]`): f32 `[M, N]`. Rows padded to the tile when that turns the kernel into the subgroup-matrix one (as `linearHalf`). */
function halfProduct(x: tf.Tensor2D, w: HalfTensor, transB: boolean): tf.Tensor2D {
  const [M, K] = x.shape;
  const N = transB ? w.shape[0] : w.shape[1];
  const BM = DEFAULT_TILING.BM;
  const Mp = Math.ceil(M / BM) * BM;
  const pad = Mp !== M && matmulHalfPlan(M, N, K, { transB }).variant !== 'subgroup-matrix'
    && matmulHalfPlan(Mp, N, K, { transB }).variant === 'subgroup-matrix';
  const xp = pad ? tf.pad(x, [[0, Mp - M], [0, 0]]) : x;
  const xh = toHalf(xp);
  if (xp !== x) xp.dispose();
  const y = matmulHalf(xh, w, { transB }); // [Mp or M, N]
  xh.dispose();
  if (!pad) return y;
  const out = tf.slice(y, [0, 0], [M, N]) as tf.Tensor2D;
  y.dispose();
  return out;
}

/** Logits `[rows, vocab]` of `h` `[rows, hidden]` through the head (no gradient recorded here). */
function headLogits(h: tf.Tensor2D, head: LmHead): tf.Tensor2D {
  const w = head.weight;
  const y = (w instanceof HalfTensor ? linearHalf(h, w) : tf.matMul(h, w, false, true)) as tf.Tensor2D;
  if (!head.bias) return y;
  const out = tf.add(y, head.bias) as tf.Tensor2D;
  y.dispose();
  return out;
}

/** `d` `[rows, vocab]` times W `[vocab, hidden]`: `[rows, hidden]`. */
function headBackward(d: tf.Tensor2D, head: LmHead): tf.Tensor2D {
  const w = head.weight;
  return w instanceof HalfTensor ? halfProduct(d, w, false) : tf.matMul(d, w);
}

/** Rows of W `[vocab, hidden]` at int32 `ids` `[rows]`: float32 `[rows, hidden]`. */
function headRows(ids: tf.Tensor1D, head: LmHead): tf.Tensor2D {
  const w = head.weight;
  return (w instanceof HalfTensor ? gatherHalf(w, ids) : tf.gather(w, ids)) as tf.Tensor2D;
}

/**
 * Mean cross-entropy of the rows of `hidden` `[N, hidden]` against `labels` (`N` entries, each a
 * vocabulary id or `ignoreIndex`) through the frozen `head`, chunked over rows; differentiable in
 * `hidden` only. Equal to `causalLmLoss` on the full logits when `labels` come from
 * `shiftLabels`. Throws when no row has a label, or for a label outside the vocabulary.
 */
export function chunkedLmHeadLoss(hidden: tf.Tensor2D, head: LmHead, labels: ArrayLike<number>, options: ChunkedLossOptions = {}): tf.Scalar {
  const rowChunk = options.rowChunk ?? DEFAULT_LOSS_CHUNK_ROWS;
  const ignoreIndex = options.ignoreIndex ?? IGNORE;
  if (!(Number.isInteger(rowChunk) && rowChunk >= 1)) throw new Error(`chunkedLmHeadLoss (src/models/llama/loss.ts): rowChunk must be an integer >= 1, got ${JSON.stringify(options.rowChunk)}`);
  if (hidden.rank !== 2 || hidden.dtype !== 'float32') throw new Error(`chunkedLmHeadLoss (src/models/llama/loss.ts): hidden must be float32 [rows, hidden], got ${hidden.dtype} [${hidden.shape}]`);
  const [N, H] = hidden.shape;
  const w = head.weight;
  if (w.shape.length !== 2 || w.shape[1] !== H) throw new Error(`chunkedLmHeadLoss (src/models/llama/loss.ts): head weight [${w.shape}] does not fit hidden states [${hidden.shape}] (needs [vocab, ${H}])`);
  const V = w.shape[0];
  if (head.bias && head.bias.shape.join() !== `${V}`) throw new Error(`chunkedLmHeadLoss (src/models/llama/loss.ts): head bias [${head.bias.shape}] does not fit the vocabulary ${V}`);
  if (labels.length !== N) throw new Error(`chunkedLmHeadLoss (src/models/llama/loss.ts): ${labels.length} labels for ${N} rows of hidden states`);
  const rows: number[] = [];
  const targets: number[] = [];
  for (let i = 0; i < N; i++) {
    const y = labels[i];
    if (y === ignoreIndex) continue;
    if (!(Number.isInteger(y) && y >= 0 && y < V)) throw new Error(`chunkedLmHeadLoss (src/models/llama/loss.ts): label ${y} of row ${i} is outside the vocabulary [0, ${V})`);
    rows.push(i);
    targets.push(y);
  }
  const M = rows.length;
  if (M === 0) throw new Error('labels hold no token to predict (all -100 after the shift)');
  const all = M === N; // every row has a label: chunks are plain slices, no scatter back
  const chunks: { start: number; rows: number; targets: number[] }[] = []; // over the labelled rows
  for (let s = 0; s < M; s += rowChunk) {
    const r = Math.min(rowChunk, M - s);
    chunks.push({ start: s, rows: r, targets: targets.slice(s, s + r) });
  }
  // Rows of `h` [N, H] in chunk c: [r, H] (a slice, or a gather of the labelled rows).
  const rowsOf = (h: tf.Tensor2D, c: (typeof chunks)[number]): tf.Tensor2D => (all
    ? tf.slice(h, [c.start, 0], [c.rows, H])
    : tf.gather(h, tf.tensor1d(rows.slice(c.start, c.start + c.rows), 'int32')));

  // The row selection happens inside the custom gradient (gather forward, scatter back), so no
  // gather gradient (unsortedSegmentSum, quadratic on tfjs' cpu backend) is recorded.
  const wantGrad = tapeIsOn();
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const h = args[0] as tf.Tensor2D; // [N, H]
    const save = args[1] as tf.GradSaveFunc;
    const sums: tf.Scalar[] = [];
    const grads: tf.Tensor2D[] = [];
    for (const c of chunks) {
      const logits = tf.tidy(() => headLogits(rowsOf(h, c), head)); // [r, V]
      const lse = tf.tidy(() => tf.logSumExp(logits, 1) as tf.Tensor1D); // [r]
      sums.push(tf.tidy(() => {
        const flat = Int32Array.from(c.targets, (y, i) => i * V + y);
        const picked = tf.gather(logits.reshape([-1]), tf.tensor1d(flat, 'int32')); // [r]
        return tf.sum(tf.sub(lse, picked)) as tf.Scalar;
      }));
      if (wantGrad) {
        // softmax / M, then (softmax W - W[label]) / M: dL/dh_c [r, H].
        const ps = tf.tidy(() => tf.mul(tf.exp(tf.sub(logits, lse.reshape([c.rows, 1]))), 1 / M) as tf.Tensor2D); // [r, V]
        logits.dispose();
        grads.push(tf.tidy(() => {
          const soft = headBackward(ps, head); // [r, H]
          ps.dispose();
          const picked = headRows(tf.tensor1d(c.targets, 'int32'), head); // W[label] [r, H]
          return tf.sub(soft, tf.mul(picked, 1 / M)) as tf.Tensor2D;
        }));
      } else logits.dispose();
      lse.dispose();
    }
    const value = tf.tidy(() => tf.div(sums.length === 1 ? sums[0] : tf.addN(sums), M) as tf.Scalar);
    tf.dispose(sums);
    if (wantGrad) {
      const dh = tf.tidy(() => {
        const dc = grads.length === 1 ? grads[0] : tf.concat(grads); // [M, H]
        // Rows without a label get exactly zero.
        return all ? dc : tf.scatterND(tf.tensor2d(rows, [M, 1], 'int32'), dc, [N, H]);
      });
      save([dh]); // kept by the tape until the backward pass has run
      tf.dispose(grads);
      dh.dispose();
    }
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        if (saved.length !== 1) {
          throw new Error('chunkedLmHeadLoss (src/models/llama/loss.ts): no gradient was computed in the forward pass (tfjs\' tape was off when the loss was called)');
        }
        return tf.mul(saved[0], dy) as tf.Tensor2D; // [N, H]
      },
    };
  });
  return f(hidden) as tf.Scalar;
}

/**
 * Whether tfjs is recording a gradient tape here (inside `tf.grad`, `tf.variableGrads`, ...):
 * the engine's gradient depth is positive and no kernel is running. When tfjs' internals do not
 * say (another version), true: the gradient is then always computed, which is right, only slower
 * for a loss evaluated without one.
 */
function tapeIsOn(): boolean {
  const state = (tf.engine() as unknown as { state?: { gradientDepth?: unknown; kernelDepth?: unknown } }).state;
  if (typeof state?.gradientDepth !== 'number' || typeof state.kernelDepth !== 'number') return true;
  return state.gradientDepth > 0 && state.kernelDepth === 0;
}
