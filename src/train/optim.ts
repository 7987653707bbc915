/**
 * AdamW (Loshchilov & Hutter 2019) as torch.optim.AdamW computes it, an 8-bit variant as
 * bitsandbytes' AdamW8bit, global-norm gradient clipping as torch.nn.utils.clip_grad_norm_,
 * and HF Trainer's choice of which parameters get weight decay.
 *
 * Ownership: optimizers own their state; `step` reads the gradients and never disposes
 * them (the trainer does); parameters are updated in place with `assign`.
 */
import * as tf from '@tensorflow/tfjs';
import { gpuContext } from '../runtime/kernels/gpu';
import type { GpuContext } from '../runtime/kernels/gpu';
import { adamw8bitFused, adamwFused, gpuBlockSizeOk, packCodes, unpackCodes } from '../runtime/kernels/adamw';
import type { AdamWStepConstants, Gpu8bitState } from '../runtime/kernels/adamw';
import type { TensorToWrite } from '../weights/safetensors';
import type { WeightSource } from '../weights/types';
import type { OptimizerName } from './config';
import {
  BLOCK_SIZE_8BIT, SIGNED_DYNAMIC_MAP, UNSIGNED_DYNAMIC_MAP, numBlocks, quantizeBlock,
} from './quant8';
import type { Quantized8 } from './quant8';
import type { NamedVariable } from './types';

/**
 * HF Trainer.get_decay_parameter_names: every parameter is decayed except biases and
 * norm weights (LayerNorm / RMSNorm). LoRA's A and B are therefore decayed, as in HF.
 */
const NO_DECAY_PATTERNS = [/bias/i, /layernorm/i, /rmsnorm/i, /(?:^|\.)norm(?:$|\.)/i, /_norm(?:$|\.)/i];
export function decaysWeight(name: string): boolean {
  return !NO_DECAY_PATTERNS.some((re) => re.test(name));
}

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** What the trainer needs from an optimizer. */
export interface Optimizer {
  readonly kind: OptimizerName;
  /** Updates applied so far (torch's state['step']; drives bias correction). */
  readonly stepCount: number;
  /**
   * One update with learning rate `lr`; `grads` keyed by parameter name (not disposed here).
   * `gradScale` (default 1) multiplies every gradient first: pass `clipCoefficient(...)`
   * instead of `clipGradsByNorm` and clipping costs no pass of its own (same result).
   */
  step(grads: Map<string, tf.Tensor>, lr: number, gradScale?: number): Promise<void>;
  /** Where the update runs: 'webgpu-fused' (one WGSL dispatch per tensor), 'tfjs-ops' or 'host'. */
  readonly path: 'webgpu-fused' | 'tfjs-ops' | 'host';
  /** Bytes held by the optimizer state (the moments), wherever they live. */
  stateBytes(): number;
  /** The state as safetensors entries (for checkpoints). */
  stateTensors(): Map<string, TensorToWrite>;
  /** Restores what stateTensors wrote, with the step count. */
  loadState(source: WeightSource, stepCount: number): Promise<void>;
  dispose(): void;
}

/** The WebGPU kernel context when the fused kernels can run (backend 'webgpu'), else null. */
function fusedContext(): GpuContext | null {
  return tf.getBackend() === 'webgpu' ? gpuContext() : null;
}

/** The fused path was chosen at construction: the backend must still be webgpu. */
function checkBackend(gpu: GpuContext | null, kind: string): void {
  if (gpu && tf.getBackend() !== 'webgpu') {
    throw new Error(`${kind}: created on the webgpu backend (state in GPU buffers), but '${tf.getBackend()}' is active now; create the optimizer after choosing the backend`);
  }
}

function checkScale(gradScale: number): void {
  if (!Number.isFinite(gradScale) || gradScale <= 0) throw new Error(`optimizer step: gradScale must be a positive finite number, got ${gradScale}`);
}

function checkGrads(params: NamedVariable[], grads: Map<string, tf.Tensor>): void {
  for (const p of params) {
    const g = grads.get(p.name);
    if (!g) throw new Error(`no gradient for ${p.name}`);
    if (g.shape.join() !== p.variable.shape.join()) throw new Error(`gradient of ${p.name} has shape [${g.shape}], parameter [${p.variable.shape}]`);
  }
}

/**
 * torch.optim.AdamW (foreach=False path), moments in float32 tensors on the backend's device:
 *   p <- p * (1 - lr * wd)            (decoupled decay, skipped for biases and norms)
 *   m <- b1 m + (1 - b1) g ;  v <- b2 v + (1 - b2) g^2
 *   p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * On 'webgpu' each tensor's update is one fused WGSL dispatch (src/runtime/kernels/adamw.ts;
 * moments updated in place); elsewhere a chain of tfjs ops (the reference).
 */
export class AdamW implements Optimizer {
  readonly kind = 'adamw' as const;
  readonly path: 'webgpu-fused' | 'tfjs-ops';
  private t = 0;
  private readonly m = new Map<string, tf.Tensor>();
  private readonly v = new Map<string, tf.Tensor>();
  private readonly gpu: GpuContext | null;

  /** `fused: false` keeps the tfjs-op path on webgpu too (tests compare the two). */
  constructor(readonly params: NamedVariable[], readonly options: AdamWOptions & { fused?: boolean }) {
    this.gpu = options.fused === false ? null : fusedContext();
    this.path = this.gpu ? 'webgpu-fused' : 'tfjs-ops';
    for (const p of params) {
      this.m.set(p.name, tf.zerosLike(p.variable));
      this.v.set(p.name, tf.zerosLike(p.variable));
    }
  }

  get stepCount(): number {
    return this.t;
  }

  async step(grads: Map<string, tf.Tensor>, lr: number, gradScale = 1): Promise<void> {
    checkGrads(this.params, grads);
    checkScale(gradScale);
    checkBackend(this.gpu, this.kind);
    this.t++;
    const { beta1: b1, beta2: b2, eps, weightDecay } = this.options;
    const bc1 = 1 - b1 ** this.t;
    const sqrtBc2 = Math.sqrt(1 - b2 ** this.t);
    for (const p of this.params) {
      const gIn = grads.get(p.name)!;
      const m0 = this.m.get(p.name)!;
      const v0 = this.v.get(p.name)!;
      const decay = p.decay && weightDecay > 0 ? 1 - lr * weightDecay : 1;
      if (this.gpu) {
        const c: AdamWStepConstants = { beta1: b1, beta2: b2, eps, decay, stepSize: lr / bc1, sqrtBc2, gradScale };
        const p1 = adamwFused(this.gpu, p.variable, gIn, m0, v0, c);
        p.variable.assign(p1);
        p1.dispose();
        continue;
      }
      const [m1, v1, p1] = tf.tidy(() => {
        // As clipGradsByNorm would have scaled it (one float32 multiply).
        const g = gradScale === 1 ? gIn : gIn.mul(gradScale);
        const m1 = m0.mul(b1).add(g.mul(1 - b1));
        const v1 = v0.mul(b2).add(g.square().mul(1 - b2));
        const denom = v1.sqrt().div(sqrtBc2).add(eps);
        const p1 = p.variable.mul(decay).sub(m1.div(denom).mul(lr / bc1));
        return [m1, v1, p1];
      });
      m0.dispose();
      v0.dispose();
      this.m.set(p.name, m1);
      this.v.set(p.name, v1);
      p.variable.assign(p1);
      p1.dispose();
    }
  }

  stateBytes(): number {
    let n = 0;
    for (const t of [...this.m.values(), ...this.v.values()]) n += t.size * 4;
    return n;
  }

  stateTensors(): Map<string, TensorToWrite> {
    const out = new Map<string, TensorToWrite>();
    for (const p of this.params) {
      const m = this.m.get(p.name)!;
      const v = this.v.get(p.name)!;
      out.set(`${p.name}.exp_avg`, { dtype: 'F32', shape: [...m.shape], data: async () => (await m.data()) as Float32Array });
      out.set(`${p.name}.exp_avg_sq`, { dtype: 'F32', shape: [...v.shape], data: async () => (await v.data()) as Float32Array });
    }
    return out;
  }

  async loadState(source: WeightSource, stepCount: number): Promise<void> {
    for (const p of this.params) {
      for (const [key, map] of [[`${p.name}.exp_avg`, this.m], [`${p.name}.exp_avg_sq`, this.v]] as const) {
        const { shape, data } = await source.getF32(key);
        if (shape.join() !== p.variable.shape.join()) throw new Error(`optimizer state ${key} has shape [${shape}], parameter [${p.variable.shape}]`);
        map.get(p.name)!.dispose();
        map.set(p.name, tf.tensor(data, shape, 'float32'));
      }
    }
    this.t = stepCount;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

export interface AdamW8bitOptions extends AdamWOptions {
  /** Values per quantisation block (bitsandbytes: 256). */
  blockSize?: number;
  /** Parameters with fewer elements keep float32 moments (bitsandbytes' min_8bit_size 4096). */
  min8bitSize?: number;
  /** `fused: false` keeps the state in host memory on webgpu too (tests compare the two). */
  fused?: boolean;
}

interface State8 {
  m: Quantized8;
  v: Quantized8;
}
interface State32 {
  m: Float32Array;
  v: Float32Array;
}
/** GPU state of one tensor: 8-bit (codes + absmax) or, below min8bitSize, float32 moments. */
type GpuState = { kind: '8bit'; q: Gpu8bitState } | { kind: 'f32'; m: tf.Tensor; v: tf.Tensor };

/**
 * bitsandbytes AdamW8bit (optim_bits=8, block-wise): the moments are stored as uint8
 * codes of the signed (m) / unsigned (v) dynamic map with one float32 absmax per block.
 * Each step dequantises a block, applies the float32 AdamW update to the parameter with
 * the fresh (unquantised) moments, then requantises them with the block's new absmax,
 * as kOptimizerStatic8bit2StateBlockwise does: 2 bytes + 8 / blockSize bytes per parameter
 * instead of 8.
 *
 * Where the state lives: on 'webgpu' (block size a multiple of 4, at most 1024) in GPU
 * buffers, codes packed four to a u32 word, updated by one fused WGSL dispatch per tensor
 * (src/runtime/kernels/adamw.ts); elsewhere in host memory, updated in JavaScript (float64
 * arithmetic, the reference). Checkpoints hold the same entries either way.
 */
export class AdamW8bit implements Optimizer {
  readonly kind = 'adamw_8bit' as const;
  readonly path: 'webgpu-fused' | 'host';
  private t = 0;
  private readonly state = new Map<string, State8 | State32>();
  private readonly gpuState = new Map<string, GpuState>();
  private readonly gpu: GpuContext | null;
  /** [512] float32 on the GPU: signed map, then unsigned map. */
  private maps: tf.Tensor | null = null;
  readonly blockSize: number;
  readonly min8bitSize: number;

  constructor(readonly params: NamedVariable[], readonly options: AdamW8bitOptions) {
    this.blockSize = options.blockSize ?? BLOCK_SIZE_8BIT;
    this.min8bitSize = options.min8bitSize ?? 4096;
    if (!Number.isInteger(this.blockSize) || this.blockSize < 1) throw new Error(`AdamW8bit: blockSize must be a positive integer, got ${this.blockSize}`);
    this.gpu = options.fused === false || !gpuBlockSizeOk(this.blockSize) ? null : fusedContext();
    this.path = this.gpu ? 'webgpu-fused' : 'host';
    // Code of 0.0 in each map: zero moments at the start.
    const zeroM = SIGNED_DYNAMIC_MAP.indexOf(0);
    const zeroV = UNSIGNED_DYNAMIC_MAP.indexOf(0);
    if (this.gpu) {
      const maps = new Float32Array(512);
      maps.set(SIGNED_DYNAMIC_MAP, 0);
      maps.set(UNSIGNED_DYNAMIC_MAP, 256);
      this.maps = tf.tensor1d(maps);
    }
    for (const p of params) {
      const n = p.variable.size;
      const blocks = numBlocks(n, this.blockSize);
      const eightBit = n >= this.min8bitSize;
      if (this.gpu) {
        if (eightBit) {
          this.gpuState.set(p.name, {
            kind: '8bit',
            q: { mCodes: packCodes(new Uint8Array(n).fill(zeroM)), vCodes: packCodes(new Uint8Array(n).fill(zeroV)), absmax: tf.zeros([2 * blocks]), n, blocks },
          });
        } else {
          this.gpuState.set(p.name, { kind: 'f32', m: tf.zeros([n]), v: tf.zeros([n]) });
        }
      } else if (eightBit) {
        this.state.set(p.name, {
          m: { codes: new Uint8Array(n).fill(zeroM), absmax: new Float32Array(blocks) },
          v: { codes: new Uint8Array(n).fill(zeroV), absmax: new Float32Array(blocks) },
        });
      } else {
        this.state.set(p.name, { m: new Float32Array(n), v: new Float32Array(n) });
      }
    }
  }

  get stepCount(): number {
    return this.t;
  }

  async step(grads: Map<string, tf.Tensor>, lr: number, gradScale = 1): Promise<void> {
    checkGrads(this.params, grads);
    checkScale(gradScale);
    checkBackend(this.gpu, this.kind);
    this.t++;
    const { beta1: b1, beta2: b2, eps, weightDecay } = this.options;
    const stepSize = lr / (1 - b1 ** this.t);
    const sqrtBc2 = Math.sqrt(1 - b2 ** this.t);
    if (this.gpu) {
      for (const p of this.params) {
        const decay = p.decay && weightDecay > 0 ? 1 - lr * weightDecay : 1;
        const c: AdamWStepConstants = { beta1: b1, beta2: b2, eps, decay, stepSize, sqrtBc2, gradScale };
        const s = this.gpuState.get(p.name)!;
        const g = grads.get(p.name)!;
        const p1 = s.kind === '8bit'
          ? adamw8bitFused(this.gpu, p.variable, g, s.q, this.maps!, this.blockSize, c)
          : adamwFused(this.gpu, p.variable, g, s.m, s.v, c, 'host8');
        p.variable.assign(p1);
        p1.dispose();
      }
      return;
    }
    // The float32 multiply clipGradsByNorm would have applied.
    const scale = Math.fround(gradScale);
    const B = this.blockSize;
    for (const p of this.params) {
      const g = (await grads.get(p.name)!.data()) as Float32Array;
      const w = Float32Array.from((await p.variable.data()) as Float32Array);
      const decay = p.decay && weightDecay > 0 ? 1 - lr * weightDecay : 1;
      const s = this.state.get(p.name)!;
      const n = w.length;
      const update = (i: number, m0: number, v0: number): [number, number] => {
        const gi = scale === 1 ? g[i] : Math.fround(g[i] * scale);
        const m1 = b1 * m0 + (1 - b1) * gi;
        const v1 = b2 * v0 + (1 - b2) * gi * gi;
        w[i] = w[i] * decay - (stepSize * m1) / (Math.sqrt(v1) / sqrtBc2 + eps);
        return [m1, v1];
      };
      if (s.m instanceof Float32Array) {
        const st = s as State32;
        for (let i = 0; i < n; i++) [st.m[i], st.v[i]] = update(i, st.m[i], st.v[i]);
      } else {
        const st = s as State8;
        const mBlock = new Float64Array(B);
        const vBlock = new Float64Array(B);
        for (let b = 0; b * B < n; b++) {
          const start = b * B;
          const end = Math.min(start + B, n);
          const am = st.m.absmax[b];
          const av = st.v.absmax[b];
          for (let i = start; i < end; i++) {
            [mBlock[i - start], vBlock[i - start]] = update(i, SIGNED_DYNAMIC_MAP[st.m.codes[i]] * am, UNSIGNED_DYNAMIC_MAP[st.v.codes[i]] * av);
          }
          quantizeBlock(mBlock.subarray(0, end - start), st.m, b, SIGNED_DYNAMIC_MAP, B);
          quantizeBlock(vBlock.subarray(0, end - start), st.v, b, UNSIGNED_DYNAMIC_MAP, B);
        }
      }
      const next = tf.tensor(w, p.variable.shape, 'float32');
      p.variable.assign(next);
      next.dispose();
    }
  }

  /** Bytes of the moments: codes (4-byte words on the GPU, padding included) + absmax, or float32 m and v. */
  stateBytes(): number {
    let n = 0;
    for (const s of this.gpuState.values()) {
      if (s.kind === '8bit') n += (s.q.mCodes.size + s.q.vCodes.size + s.q.absmax.size) * 4;
      else n += (s.m.size + s.v.size) * 4;
    }
    for (const s of this.state.values()) {
      if (s.m instanceof Float32Array) n += s.m.byteLength + (s as State32).v.byteLength;
      else {
        const q = s as State8;
        n += q.m.codes.byteLength + q.m.absmax.byteLength + q.v.codes.byteLength + q.v.absmax.byteLength;
      }
    }
    return n;
  }

  stateTensors(): Map<string, TensorToWrite> {
    const out = new Map<string, TensorToWrite>();
    for (const p of this.params) {
      const gs = this.gpuState.get(p.name);
      if (gs) {
        const n = p.variable.size;
        if (gs.kind === 'f32') {
          out.set(`${p.name}.exp_avg`, { dtype: 'F32', shape: [n], data: async () => (await gs.m.data()) as Float32Array });
          out.set(`${p.name}.exp_avg_sq`, { dtype: 'F32', shape: [n], data: async () => (await gs.v.data()) as Float32Array });
        } else {
          const { q } = gs;
          const absmax = async (half: 0 | 1) => ((await q.absmax.data()) as Float32Array).slice(half * q.blocks, (half + 1) * q.blocks);
          out.set(`${p.name}.state1`, { dtype: 'U8', shape: [n], data: () => unpackCodes(q.mCodes, n) });
          out.set(`${p.name}.absmax1`, { dtype: 'F32', shape: [q.blocks], data: () => absmax(0) });
          out.set(`${p.name}.state2`, { dtype: 'U8', shape: [n], data: () => unpackCodes(q.vCodes, n) });
          out.set(`${p.name}.absmax2`, { dtype: 'F32', shape: [q.blocks], data: () => absmax(1) });
        }
        continue;
      }
      const s = this.state.get(p.name)!;
      if (s.m instanceof Float32Array) {
        out.set(`${p.name}.exp_avg`, { dtype: 'F32', shape: [s.m.length], data: s.m });
        out.set(`${p.name}.exp_avg_sq`, { dtype: 'F32', shape: [s.m.length], data: (s as State32).v });
      } else {
        const q = s as State8;
        out.set(`${p.name}.state1`, { dtype: 'U8', shape: [q.m.codes.length], data: q.m.codes });
        out.set(`${p.name}.absmax1`, { dtype: 'F32', shape: [q.m.absmax.length], data: q.m.absmax });
        out.set(`${p.name}.state2`, { dtype: 'U8', shape: [q.v.codes.length], data: q.v.codes });
        out.set(`${p.name}.absmax2`, { dtype: 'F32', shape: [q.v.absmax.length], data: q.v.absmax });
      }
    }
    return out;
  }

  async loadState(source: WeightSource, stepCount: number): Promise<void> {
    const read = async (key: string, length: number) => {
      const { data } = await source.getF32(key);
      if (data.length !== length) throw new Error(`optimizer state ${key} has ${data.length} values, expected ${length}`);
      return data;
    };
    for (const p of this.params) {
      const gs = this.gpuState.get(p.name);
      if (gs) {
        const n = p.variable.size;
        if (gs.kind === 'f32') {
          const m = tf.tensor1d(await read(`${p.name}.exp_avg`, n));
          const v = tf.tensor1d(await read(`${p.name}.exp_avg_sq`, n));
          gs.m.dispose();
          gs.v.dispose();
          this.gpuState.set(p.name, { kind: 'f32', m, v });
        } else {
          const { q } = gs;
          const absmax = new Float32Array(2 * q.blocks);
          absmax.set(await read(`${p.name}.absmax1`, q.blocks), 0);
          absmax.set(await read(`${p.name}.absmax2`, q.blocks), q.blocks);
          const codes = async (key: string) => Uint8Array.from(await read(key, n));
          const next: Gpu8bitState = {
            mCodes: packCodes(await codes(`${p.name}.state1`)), vCodes: packCodes(await codes(`${p.name}.state2`)),
            absmax: tf.tensor1d(absmax), n, blocks: q.blocks,
          };
          q.mCodes.dispose();
          q.vCodes.dispose();
          q.absmax.dispose();
          this.gpuState.set(p.name, { kind: '8bit', q: next });
        }
        continue;
      }
      const s = this.state.get(p.name)!;
      if (s.m instanceof Float32Array) {
        s.m.set(await read(`${p.name}.exp_avg`, s.m.length));
        (s as State32).v.set(await read(`${p.name}.exp_avg_sq`, s.m.length));
      } else {
        const q = s as State8;
        q.m.codes.set(await read(`${p.name}.state1`, q.m.codes.length));
        q.m.absmax.set(await read(`${p.name}.absmax1`, q.m.absmax.length));
        q.v.codes.set(await read(`${p.name}.state2`, q.v.codes.length));
        q.v.absmax.set(await read(`${p.name}.absmax2`, q.v.absmax.length));
      }
    }
    this.t = stepCount;
  }

  dispose(): void {
    for (const s of this.gpuState.values()) {
      if (s.kind === '8bit') for (const t of [s.q.mCodes, s.q.vCodes, s.q.absmax]) t.dispose();
      else for (const t of [s.m, s.v]) t.dispose();
    }
    this.gpuState.clear();
    this.maps?.dispose();
    this.maps = null;
    this.state.clear();
  }
}

export function createOptimizer(kind: OptimizerName, params: NamedVariable[], options: AdamW8bitOptions): Optimizer {
  return kind === 'adamw_8bit' ? new AdamW8bit(params, options) : new AdamW(params, options);
}

/**
 * Inputs per tf.addN call when summing many tensors: tfjs-backend-webgpu's AddN binds every
 * input as a storage buffer of one shader, and WebGPU guarantees only 8 per stage (the H100
 * through Dawn: 16), one of them the output. 281 at once (140 LoRA modules) failed shader
 * validation and returned a stale buffer as the norm.
 */
const ADD_N_CHUNK = 7;

/** Sum of equally shaped tensors through tf.addN in chunks of ADD_N_CHUNK (a tree of sums); call inside tf.tidy. */
function addNChunked(list: tf.Tensor[]): tf.Tensor {
  if (list.length === 0) throw new Error('addNChunked: no tensors to sum');
  let level = list;
  while (level.length > 1) {
    const next: tf.Tensor[] = [];
    for (let i = 0; i < level.length; i += ADD_N_CHUNK) {
      const chunk = level.slice(i, i + ADD_N_CHUNK);
      next.push(chunk.length === 1 ? chunk[0] : tf.addN(chunk));
    }
    level = next;
  }
  return level[0];
}

/** Global L2 norm over all gradients: sqrt(sum of squares), read back as a number (NaN/Inf pass through). */
export async function globalGradNorm(grads: Iterable<tf.Tensor>): Promise<number> {
  const list = [...grads];
  if (list.length === 0) return 0;
  const sq = tf.tidy(() => addNChunked(list.map((g) => g.square().sum())));
  const v = (await sq.data())[0];
  sq.dispose();
  return Math.sqrt(v);
}

/**
 * clip_grad_norm_'s coefficient alone: min(1, maxNorm / (totalNorm + 1e-6)). Pass it as
 * `Optimizer.step`'s `gradScale` to clip inside the update (no pass over the gradients).
 */
export function clipCoefficient(maxNorm: number, totalNorm: number): number {
  return Math.min(1, maxNorm / (totalNorm + 1e-6));
}

/**
 * torch.nn.utils.clip_grad_norm_: coef = maxNorm / (norm + 1e-6), clamped to 1, multiplied
 * into every gradient. Replaces (and disposes) the gradients in `grads` when it scales them.
 * Returns the coefficient applied.
 */
export function clipGradsByNorm(grads: Map<string, tf.Tensor>, maxNorm: number, totalNorm: number): number {
  const coef = clipCoefficient(maxNorm, totalNorm);
  if (coef >= 1) return 1;
  for (const [k, g] of grads) {
    grads.set(k, tf.tidy(() => g.mul(coef)));
    g.dispose();
  }
  return coef;
}
