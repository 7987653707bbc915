/**
 * Grouped-query self-attention with rotary positions, additive masks and a KV cache,
 * as transformers' LlamaAttention (eager path).
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/llama/modeling_llama.py
 */
import * as tf from '@tensorflow/tfjs';
import type { ApplyOptions, LinearLike } from './linear';
import { applyRotary } from './rotary';

/**
 * Added to the scores of keys a query may not see. Finite (HF uses float32's minimum) so
 * a row with every key masked, e.g. a left-padding position, gives a uniform softmax
 * instead of NaN; such rows are padding and never read.
 */
export const MASK_VALUE = -1e9;

/**
 * Keys and values of past positions, per layer: `[batch, kvHeads, past, headDim]`.
 * The cache owns these tensors (they survive `tf.tidy`); `update` frees the previous
 * ones, and `dispose()` frees the rest.
 */
export class KVCache {
  private keys: (tf.Tensor4D | null)[];
  private values: (tf.Tensor4D | null)[];

  constructor(readonly numLayers: number) {
    this.keys = new Array(numLayers).fill(null);
    this.values = new Array(numLayers).fill(null);
  }

  /** Positions held (the length of layer 0's keys). */
  get seqLength(): number {
    return this.keys[0]?.shape[2] ?? 0;
  }

  /**
   * Appends this step's `[batch, kvHeads, new, headDim]` keys and values to `layer` and
   * returns the whole `[batch, kvHeads, past + new, headDim]`, owned by the cache.
   */
  update(layer: number, k: tf.Tensor4D, v: tf.Tensor4D): { k: tf.Tensor4D; v: tf.Tensor4D } {
    const oldK = this.keys[layer];
    const oldV = this.values[layer];
    if (oldK && (oldK.shape[0] !== k.shape[0] || oldK.shape[1] !== k.shape[1] || oldK.shape[3] !== k.shape[3])) {
      throw new Error(`KV cache layer ${layer} holds [${oldK.shape}], cannot append [${k.shape}]`);
    }
    const nk = tf.keep(oldK ? tf.concat([oldK, k], 2) : k.clone());
    const nv = tf.keep(oldV ? tf.concat([oldV, v], 2) : v.clone());
    oldK?.dispose();
    oldV?.dispose();
    this.keys[layer] = nk;
    this.values[layer] = nv;
    return { k: nk, v: nv };
  }

  /** Frees every cached tensor; the cache is empty afterwards. */
  dispose(): void {
    for (let i = 0; i < this.numLayers; i++) {
      this.keys[i]?.dispose();
      this.values[i]?.dispose();
      this.keys[i] = null;
      this.values[i] = null;
    }
  }
}

export interface AttentionShape {
  numHeads: number;
  /** Key/value heads; numHeads / numKvHeads query heads share each (GQA). */
  numKvHeads: number;
  headDim: number;
}

/** Everything one attention call needs besides its input, shared by all layers of a forward. */
export interface AttentionContext {
  /** `[batch, seq, headDim]` */
  cos: tf.Tensor3D;
  sin: tf.Tensor3D;
  /** Additive mask `[batch, 1, seq, past + seq]`: 0 where visible, MASK_VALUE elsewhere. */
  mask: tf.Tensor4D;
  cache?: KVCache;
}

/** LlamaAttention: q/k/v/o projections (reference names), RoPE, GQA, softmax in float32. */
export class Attention {
  constructor(
    public q_proj: LinearLike,
    public k_proj: LinearLike,
    public v_proj: LinearLike,
    public o_proj: LinearLike,
    readonly shape: AttentionShape,
  ) {
    if (shape.numHeads % shape.numKvHeads !== 0) {
      throw new Error(`num_attention_heads (${shape.numHeads}) must be a multiple of num_key_value_heads (${shape.numKvHeads})`);
    }
  }

  /** `x` `[batch, seq, hidden]` -> `[batch, seq, hidden]`; appends to `ctx.cache` at `layer`. */
  apply(x: tf.Tensor3D, ctx: AttentionContext, layer: number, options: ApplyOptions = {}): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, seq] = x.shape;
      const { numHeads: h, numKvHeads: kvh, headDim: d } = this.shape;
      const rep = h / kvh;
      const heads = (t: tf.Tensor, n: number) =>
        t.reshape([batch, seq, n, d]).transpose([0, 2, 1, 3]) as tf.Tensor4D; // [batch, n, seq, d]
      let q = heads(this.q_proj.apply(x, options), h); // [batch, h, seq, d]
      let k = heads(this.k_proj.apply(x, options), kvh); // [batch, kvh, seq, d]
      let v = heads(this.v_proj.apply(x, options), kvh);
      q = applyRotary(q, ctx.cos, ctx.sin);
      k = applyRotary(k, ctx.cos, ctx.sin);
      if (ctx.cache) ({ k, v } = ctx.cache.update(layer, k, v)); // [batch, kvh, total, d]
      const total = k.shape[2];
      if (ctx.mask.shape[3] !== total || ctx.mask.shape[2] !== seq) {
        throw new Error(`attention mask is [${ctx.mask.shape}] but scores are [${batch}, ${h}, ${seq}, ${total}]`);
      }
      // GQA without copying keys: query heads kv*rep .. kv*rep+rep-1 share kv head `kv`, and
      // [batch, h, seq, d] is [batch, kvh, rep*seq, d] in memory (HF repeat_kv, transposed).
      const qg = q.reshape([batch, kvh, rep * seq, d]);
      const scale = 1 / Math.sqrt(d);
      let scores = tf.matMul(qg, k, false, true).mul(scale); // [batch, kvh, rep*seq, total]
      const mask = rep === 1 ? ctx.mask : ctx.mask.tile([1, 1, rep, 1]); // [batch, 1, rep*seq, total]
      scores = scores.add(mask);
      const probs = tf.softmax(scores, -1);
      const out = tf.matMul(probs, v); // [batch, kvh, rep*seq, d]
      const merged = out
        .reshape([batch, h, seq, d])
        .transpose([0, 2, 1, 3]) // [batch, seq, h, d]
        .reshape([batch, seq, h * d]);
      return this.o_proj.apply(merged, options) as tf.Tensor3D; // [batch, seq, hidden]
    });
  }

  dispose(): void {
    for (const m of [this.q_proj, this.k_proj, this.v_proj, this.o_proj]) m.dispose();
  }
}

/**
 * The additive mask `[batch, 1, seq, past + seq]` of a causal decoder: query i (absolute
 * position past + i) sees key j when j <= past + i and `attentionMask[b][j]` is 1.
 * `attentionMask` covers past and current tokens (`[batch][past + seq]`), as HF's
 * `attention_mask` during generation; without it every key is real.
 */
export function causalMask(batch: number, seq: number, past: number, attentionMask?: ArrayLike<number>[]): tf.Tensor4D {
  const total = past + seq;
  if (attentionMask) {
    if (attentionMask.length !== batch) throw new Error(`attention mask has ${attentionMask.length} rows, batch is ${batch}`);
    for (const row of attentionMask) {
      if (row.length !== total) {
        throw new Error(`attention mask rows must cover past + new tokens (${past} + ${seq} = ${total}), got ${row.length}`);
      }
    }
  }
  const data = new Float32Array(batch * seq * total);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < seq; i++) {
      const base = (b * seq + i) * total;
      for (let j = 0; j < total; j++) {
        const visible = j <= past + i && (!attentionMask || attentionMask[b][j] === 1);
        data[base + j] = visible ? 0 : MASK_VALUE;
      }
    }
  }
  return tf.tensor4d(data, [batch, 1, seq, total]);
}

/**
 * Position ids of the last `seq` tokens from a `[batch][total]` attention mask, as
 * transformers' generate computes them for left padding: `cumsum(mask) - 1`, padding
 * positions set to 1 (their value is never seen: padded keys are masked).
 */
export function positionIdsFromMask(attentionMask: ArrayLike<number>[], seq: number): number[][] {
  return attentionMask.map((row) => {
    const pos: number[] = new Array(row.length);
    let count = 0;
    for (let j = 0; j < row.length; j++) {
      if (row[j] !== 0 && row[j] !== 1) throw new Error(`attention mask values must be 0 or 1, got ${row[j]}`);
      count += row[j];
      pos[j] = row[j] === 1 ? count - 1 : 1;
    }
    return pos.slice(row.length - seq);
  });
}
