/**
 * Whisper encoder-decoder (transformers' WhisperForConditionalGeneration) in tfjs, built
 * bottom-up: attention, encoder layer, decoder layer, encoder, decoder, model.
 *
 * Module and weight names follow the checkpoint keys (`model.encoder.layers.N.self_attn.q_proj`,
 * `model.decoder.layers.N.encoder_attn`, ...), so weights load by name; the output
 * projection is tied to `model.decoder.embed_tokens`.
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/whisper/modeling_whisper.py
 * https://github.com/openai/whisper/blob/main/whisper/model.py
 *
 * Tensor lifetimes: the model owns its weights (`dispose()` frees them). `encode` and
 * `decode` run inside `tf.tidy` and return tensors the caller owns; a `WhisperCache`
 * owns the self-attention keys/values and the cross-attention keys/values of one window.
 */
import * as tf from '@tensorflow/tfjs';
import type { WeightSource } from '../../weights/types';
import { Checkpoint } from '../../weights/checkpoint';
import { snapshot } from '../../hub';
import type { SnapshotOptions } from '../../hub';
import { KVCache, causalMask } from '../common/attention';
import { Linear } from '../common/linear';
import { LayerNorm } from '../common/layernorm';
import { gelu } from '../common/activations';
import { loadWhisperConfigs, validateWhisperConfig } from './config';
import type { WhisperConfig, WhisperGenerationConfig } from './config';

/**
 * Per-window decoder state: self-attention keys/values grow by one position per step
 * (`self`), cross-attention keys/values of the encoder output are computed once (`cross`,
 * `[batch, heads, 1500, headDim]` per layer). `dispose()` frees both.
 */
export class WhisperCache {
  readonly self: KVCache;
  cross: { k: tf.Tensor4D; v: tf.Tensor4D }[] | null = null;

  constructor(readonly numLayers: number) {
    this.self = new KVCache(numLayers);
  }

  get seqLength(): number {
    return this.self.seqLength;
  }

  dispose(): void {
    this.self.dispose();
    for (const c of this.cross ?? []) {
      c.k.dispose();
      c.v.dispose();
    }
    this.cross = null;
  }
}

/** WhisperAttention: q/v/out projections with bias, k without, scaled dot product, softmax in float32. */
export class WhisperAttention {
  readonly headDim: number;
  readonly scaling: number;

  constructor(
    public q_proj: Linear,
    public k_proj: Linear,
    public v_proj: Linear,
    public out_proj: Linear,
    readonly numHeads: number,
  ) {
    this.headDim = q_proj.outFeatures / numHeads;
    // HF scales the queries by head_dim^-0.5 before the product (modeling_whisper.py).
    this.scaling = this.headDim ** -0.5;
  }

  /** `[batch, seq, d]` -> `[batch, heads, seq, headDim]` */
  heads(t: tf.Tensor): tf.Tensor4D {
    const [batch, seq] = t.shape;
    return t.reshape([batch!, seq!, this.numHeads, this.headDim]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
  }

  /** Keys and values of `kv` `[batch, src, d]` (the encoder output, for cross-attention). */
  keysValues(kv: tf.Tensor3D): { k: tf.Tensor4D; v: tf.Tensor4D } {
    return tf.tidy(() => ({ k: this.heads(this.k_proj.apply(kv)), v: this.heads(this.v_proj.apply(kv)) }));
  }

  /**
   * `x` `[batch, seq, d]` attends to `k`, `v` `[batch, heads, src, headDim]` with an optional
   * additive `mask` `[batch, 1, seq, src]`. Returns the output `[batch, seq, d]` and, when
   * asked, the attention probabilities `[batch, heads, seq, src]`.
   */
  attend(x: tf.Tensor3D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor4D | null, wantProbs = false): { out: tf.Tensor3D; probs?: tf.Tensor4D } {
    return tf.tidy(() => {
      const [batch, seq, d] = x.shape;
      const q = this.heads(this.q_proj.apply(x).mul(this.scaling)); // [batch, h, seq, hd]
      let scores = tf.matMul(q, k, false, true); // [batch, h, seq, src]
      if (mask) scores = scores.add(mask);
      const probs = tf.softmax(scores, -1) as tf.Tensor4D;
      const o = tf.matMul(probs, v) // [batch, h, seq, hd]
        .transpose([0, 2, 1, 3])
        .reshape([batch, seq, d]); // [batch, seq, d]
      const out = this.out_proj.apply(o) as tf.Tensor3D;
      return wantProbs ? { out, probs } : { out };
    });
  }

  dispose(): void {
    for (const m of [this.q_proj, this.k_proj, this.v_proj, this.out_proj]) m.dispose();
  }
}

/** Pre-LN encoder block: self-attention and a GELU MLP, each with a residual. */
export class WhisperEncoderLayer {
  constructor(
    public self_attn: WhisperAttention,
    public self_attn_layer_norm: LayerNorm,
    public fc1: Linear,
    public fc2: Linear,
    public final_layer_norm: LayerNorm,
  ) {}

  apply(h: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const x = this.self_attn_layer_norm.apply(h) as tf.Tensor3D;
      const { k, v } = this.self_attn.keysValues(x);
      const a = h.add(this.self_attn.attend(x, k, v, null).out);
      return a.add(this.fc2.apply(gelu(this.fc1.apply(this.final_layer_norm.apply(a))))) as tf.Tensor3D;
    });
  }

  dispose(): void {
    for (const m of [this.self_attn, this.self_attn_layer_norm, this.fc1, this.fc2, this.final_layer_norm]) m.dispose();
  }
}

/** Pre-LN decoder block: causal self-attention, cross-attention to the audio, GELU MLP. */
export class WhisperDecoderLayer {
  constructor(
    public self_attn: WhisperAttention,
    public self_attn_layer_norm: LayerNorm,
    public encoder_attn: WhisperAttention,
    public encoder_attn_layer_norm: LayerNorm,
    public fc1: Linear,
    public fc2: Linear,
    public final_layer_norm: LayerNorm,
  ) {}

  /** Returns the new hidden states and, when asked, this layer's cross-attention probabilities `[batch, heads, seq, src]`. */
  apply(h: tf.Tensor3D, cache: WhisperCache, layer: number, mask: tf.Tensor4D | null, wantCross: boolean): { h: tf.Tensor3D; cross?: tf.Tensor4D } {
    return tf.tidy(() => {
      const x = this.self_attn_layer_norm.apply(h) as tf.Tensor3D;
      const kv = this.self_attn.keysValues(x);
      const { k, v } = cache.self.update(layer, kv.k, kv.v); // [batch, h, past + seq, hd]
      let a = h.add(this.self_attn.attend(x, k, v, mask).out);
      const c = cache.cross![layer]!;
      const cross = this.encoder_attn.attend(this.encoder_attn_layer_norm.apply(a) as tf.Tensor3D, c.k, c.v, null, wantCross);
      a = a.add(cross.out);
      const out = a.add(this.fc2.apply(gelu(this.fc1.apply(this.final_layer_norm.apply(a))))) as tf.Tensor3D;
      return wantCross ? { h: out, cross: cross.probs } : { h: out };
    });
  }

  dispose(): void {
    for (const m of [this.self_attn, this.self_attn_layer_norm, this.encoder_attn, this.encoder_attn_layer_norm, this.fc1, this.fc2,
      this.final_layer_norm]) m.dispose();
  }
}

/** torch.nn.Conv1d with `[out, in, k]` weights, symmetric zero padding. */
export class Conv1d {
  /** `[k, in, out]`: tfjs' filter layout, transposed once at load. */
  private readonly filter: tf.Tensor3D;

  constructor(
    /** `[out, in, k]` (checkpoint layout) */
    public weight: tf.Tensor3D,
    public bias: tf.Tensor1D,
    readonly stride: number,
    readonly padding: number,
  ) {
    this.filter = tf.tidy(() => weight.transpose([2, 1, 0]) as tf.Tensor3D);
  }

  /** `[batch, width, in]` -> `[batch, width', out]` */
  apply(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const padded = tf.pad(x, [[0, 0], [this.padding, this.padding], [0, 0]]);
      return tf.conv1d(padded, this.filter, this.stride, 'valid').add(this.bias) as tf.Tensor3D;
    });
  }

  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
    this.filter.dispose();
  }
}

export class WhisperEncoder {
  constructor(
    readonly config: WhisperConfig,
    public conv1: Conv1d,
    public conv2: Conv1d,
    /** `[maxSourcePositions, d]` sinusoids (stored in the checkpoint) */
    public embed_positions: tf.Tensor2D,
    public layers: WhisperEncoderLayer[],
    public layer_norm: LayerNorm,
  ) {}

  /** Log-mel `[batch, nMels, 2 * maxSourcePositions]` -> `[batch, maxSourcePositions, d]`. */
  apply(features: tf.Tensor3D): tf.Tensor3D {
    const [, mels, frames] = features.shape;
    const c = this.config;
    if (mels !== c.numMelBins || frames !== 2 * c.maxSourcePositions) {
      throw new Error(`Whisper encoder expects features [batch, ${c.numMelBins}, ${2 * c.maxSourcePositions}], got [${features.shape}]`);
    }
    return tf.tidy(() => {
      let h = features.transpose([0, 2, 1]) as tf.Tensor3D; // [batch, frames, mels]
      h = gelu(this.conv1.apply(h)) as tf.Tensor3D; // [batch, frames, d]
      h = gelu(this.conv2.apply(h)) as tf.Tensor3D; // [batch, frames / 2, d]
      h = h.add(this.embed_positions);
      for (const layer of this.layers) h = layer.apply(h);
      return this.layer_norm.apply(h) as tf.Tensor3D;
    });
  }

  dispose(): void {
    for (const m of [this.conv1, this.conv2, this.embed_positions, ...this.layers, this.layer_norm]) m.dispose();
  }
}

export interface DecodeOutput {
  /** `[batch, rows, vocab]`: the rows asked for (`logitRows`), or the last position. */
  logits: tf.Tensor3D;
  /** Cross-attention probabilities of the alignment heads, `[batch, numHeads, seq, src]`, when asked. */
  alignment?: tf.Tensor4D;
}

export class WhisperDecoder {
  constructor(
    readonly config: WhisperConfig,
    /** `[vocab, d]`, also the output projection (tied) */
    public embed_tokens: tf.Tensor2D,
    /** `[maxTargetPositions, d]` */
    public embed_positions: tf.Tensor2D,
    public layers: WhisperDecoderLayer[],
    public layer_norm: LayerNorm,
  ) {}

  /**
   * Runs `ids` `[batch][seq]` after the `cache.seqLength` positions already cached (the
   * encoder output's keys/values must be in `cache.cross`). `logitRows` picks which of the
   * `seq` positions get logits (default: the last); `alignmentHeads` ([layer, head] pairs)
   * asks for those heads' cross-attention.
   */
  apply(ids: number[][], cache: WhisperCache, options: { logitRows?: number[]; alignmentHeads?: [number, number][] } = {}): DecodeOutput {
    const batch = ids.length;
    const seq = ids[0]?.length ?? 0;
    const past = cache.seqLength;
    const c = this.config;
    if (batch === 0 || seq === 0) throw new Error(`decoder input must be a non-empty [batch][seq], got [${batch}][${seq}]`);
    if (past + seq > c.maxTargetPositions) {
      throw new Error(`decoder sequence of ${past + seq} tokens exceeds max_target_positions ${c.maxTargetPositions}`);
    }
    for (const row of ids) {
      if (row.length !== seq) throw new Error('decoder input rows differ in length');
      for (const id of row) if (!(Number.isInteger(id) && id >= 0 && id < c.vocabSize)) throw new Error(`token id ${id} is outside the vocabulary [0, ${c.vocabSize})`);
    }
    if (!cache.cross) throw new Error('the cache holds no encoder output: call setEncoderOutput first');
    const rows = options.logitRows ?? [seq - 1];
    const heads = options.alignmentHeads ?? [];
    return tf.tidy(() => {
      const tok = tf.gather(this.embed_tokens, tf.tensor1d(ids.flat(), 'int32')).reshape([batch, seq, c.dModel]);
      const pos = this.embed_positions.slice([past, 0], [seq, c.dModel]);
      let h = (c.scaleEmbedding ? tok.mul(Math.sqrt(c.dModel)) : tok).add(pos) as tf.Tensor3D; // [batch, seq, d]
      const mask = seq > 1 ? causalMask(batch, seq, past) : null; // [batch, 1, seq, past + seq]
      const picked: tf.Tensor4D[] = [];
      this.layers.forEach((layer, i) => {
        const want = heads.some(([l]) => l === i);
        const r = layer.apply(h, cache, i, mask, want);
        h = r.h;
        if (want) {
          for (const [l, hd] of heads) if (l === i) picked.push(r.cross!.slice([0, hd, 0, 0], [batch, 1, seq, r.cross!.shape[3]]));
        }
      });
      h = this.layer_norm.apply(h) as tf.Tensor3D;
      const sel = rows.length === seq ? h : tf.gather(h, tf.tensor1d(rows, 'int32'), 1); // [batch, rows, d]
      const logits = tf.matMul(sel.reshape([batch * rows.length, c.dModel]), this.embed_tokens, false, true)
        .reshape([batch, rows.length, c.vocabSize]) as tf.Tensor3D;
      return picked.length ? { logits, alignment: tf.concat(picked, 1) as tf.Tensor4D } : { logits };
    });
  }

  dispose(): void {
    for (const m of [this.embed_tokens, this.embed_positions, ...this.layers, this.layer_norm]) m.dispose();
  }
}

/** Reference weight names and shapes of a WhisperForConditionalGeneration with this config (proj_out tied, not listed). */
export function whisperWeightShapes(c: WhisperConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const d = c.dModel;
  const lin = (p: string, out: number, inp: number, bias = true) => {
    m.set(`${p}.weight`, [out, inp]);
    if (bias) m.set(`${p}.bias`, [out]);
  };
  const ln = (p: string) => {
    m.set(`${p}.weight`, [d]);
    m.set(`${p}.bias`, [d]);
  };
  const attn = (p: string) => {
    lin(`${p}.q_proj`, d, d);
    lin(`${p}.k_proj`, d, d, false);
    lin(`${p}.v_proj`, d, d);
    lin(`${p}.out_proj`, d, d);
  };
  m.set('model.encoder.conv1.weight', [d, c.numMelBins, 3]);
  m.set('model.encoder.conv1.bias', [d]);
  m.set('model.encoder.conv2.weight', [d, d, 3]);
  m.set('model.encoder.conv2.bias', [d]);
  m.set('model.encoder.embed_positions.weight', [c.maxSourcePositions, d]);
  for (let i = 0; i < c.encoderLayers; i++) {
    const p = `model.encoder.layers.${i}`;
    attn(`${p}.self_attn`);
    ln(`${p}.self_attn_layer_norm`);
    lin(`${p}.fc1`, c.encoderFfnDim, d);
    lin(`${p}.fc2`, d, c.encoderFfnDim);
    ln(`${p}.final_layer_norm`);
  }
  ln('model.encoder.layer_norm');
  m.set('model.decoder.embed_tokens.weight', [c.vocabSize, d]);
  m.set('model.decoder.embed_positions.weight', [c.maxTargetPositions, d]);
  for (let i = 0; i < c.decoderLayers; i++) {
    const p = `model.decoder.layers.${i}`;
    attn(`${p}.self_attn`);
    ln(`${p}.self_attn_layer_norm`);
    attn(`${p}.encoder_attn`);
    ln(`${p}.encoder_attn_layer_norm`);
    lin(`${p}.fc1`, c.decoderFfnDim, d);
    lin(`${p}.fc2`, d, c.decoderFfnDim);
    ln(`${p}.final_layer_norm`);
  }
  ln('model.decoder.layer_norm');
  return m;
}

/** Checkpoint keys the model may meet and not use: a saved copy of the tied output projection. */
export const KNOWN_EXTRA_KEYS = ['proj_out.weight'];

/** Whisper's sinusoidal encoder positions `[length, channels]` (openai/whisper model.py `sinusoids`). */
export function sinusoids(length: number, channels: number, maxTimescale = 10000): Float32Array {
  const half = channels / 2;
  const inc = Math.log(maxTimescale) / (half - 1);
  const out = new Float32Array(length * channels);
  for (let t = 0; t < length; t++) {
    for (let i = 0; i < half; i++) {
      // torch computes inv_timescales in float32, then t * inv in float32.
      const inv = Math.fround(Math.exp(-inc * i));
      const a = Math.fround(t * inv);
      out[t * channels + i] = Math.sin(a);
      out[t * channels + half + i] = Math.cos(a);
    }
  }
  return out;
}

/** The files of a Whisper checkpoint that ttslab reads (model, configs, tokenizer). */
export const WHISPER_FILES = ['config.json', 'generation_config.json', '*.safetensors', '*.safetensors.index.json', 'tokenizer.json',
  'tokenizer_config.json', 'special_tokens_map.json'];

export class WhisperForConditionalGeneration {
  constructor(
    readonly config: WhisperConfig,
    /** Special tokens, languages, suppress lists, alignment heads; null for a bare model (benchmarks). */
    readonly generationConfig: WhisperGenerationConfig | null,
    public encoder: WhisperEncoder,
    public decoder: WhisperDecoder,
  ) {}

  /** Builds the model from reference-named tensors, taking ownership of them (names exactly `whisperWeightShapes`). */
  static fromTensors(config: WhisperConfig, generation: WhisperGenerationConfig | null, weights: Map<string, tf.Tensor>): WhisperForConditionalGeneration {
    validateWhisperConfig(config);
    const shapes = whisperWeightShapes(config);
    const missing = [...shapes.keys()].filter((k) => !weights.has(k));
    const unexpected = [...weights.keys()].filter((k) => !shapes.has(k));
    if (missing.length || unexpected.length) throw new Error(`Whisper weights do not match the config: ${describeKeys(missing, unexpected)}`);
    for (const [k, shape] of shapes) {
      const got = weights.get(k)!.shape;
      if (got.join() !== shape.join()) throw new Error(`weight ${k} has shape [${got}], config needs [${shape}]`);
    }
    const w = <R extends tf.Rank>(k: string) => weights.get(k) as tf.Tensor<R>;
    const lin = (p: string) => new Linear(w<tf.Rank.R2>(`${p}.weight`), weights.has(`${p}.bias`) ? w<tf.Rank.R1>(`${p}.bias`) : null);
    const ln = (p: string) => new LayerNorm(w(`${p}.weight`), w(`${p}.bias`), config.layerNormEps);
    const attn = (p: string, heads: number) => new WhisperAttention(lin(`${p}.q_proj`), lin(`${p}.k_proj`), lin(`${p}.v_proj`), lin(`${p}.out_proj`), heads);
    const encLayers: WhisperEncoderLayer[] = [];
    for (let i = 0; i < config.encoderLayers; i++) {
      const p = `model.encoder.layers.${i}`;
      encLayers.push(new WhisperEncoderLayer(attn(`${p}.self_attn`, config.encoderAttentionHeads), ln(`${p}.self_attn_layer_norm`),
        lin(`${p}.fc1`), lin(`${p}.fc2`), ln(`${p}.final_layer_norm`)));
    }
    const encoder = new WhisperEncoder(config,
      new Conv1d(w('model.encoder.conv1.weight'), w('model.encoder.conv1.bias'), 1, 1),
      new Conv1d(w('model.encoder.conv2.weight'), w('model.encoder.conv2.bias'), 2, 1),
      w('model.encoder.embed_positions.weight'), encLayers, ln('model.encoder.layer_norm'));
    const decLayers: WhisperDecoderLayer[] = [];
    for (let i = 0; i < config.decoderLayers; i++) {
      const p = `model.decoder.layers.${i}`;
      decLayers.push(new WhisperDecoderLayer(attn(`${p}.self_attn`, config.decoderAttentionHeads), ln(`${p}.self_attn_layer_norm`),
        attn(`${p}.encoder_attn`, config.decoderAttentionHeads), ln(`${p}.encoder_attn_layer_norm`),
        lin(`${p}.fc1`), lin(`${p}.fc2`), ln(`${p}.final_layer_norm`)));
    }
    const decoder = new WhisperDecoder(config, w('model.decoder.embed_tokens.weight'), w('model.decoder.embed_positions.weight'),
      decLayers, ln('model.decoder.layer_norm'));
    return new WhisperForConditionalGeneration(config, generation, encoder, decoder);
  }

  /**
   * Loads weights from a `WeightSource` (float32). The key set must match the reference
   * names exactly, except `proj_out.weight` (the tied head, sometimes saved); otherwise the
   * error lists what is missing and what is unexpected.
   */
  static async fromWeights(config: WhisperConfig, generation: WhisperGenerationConfig | null, source: WeightSource): Promise<WhisperForConditionalGeneration> {
    validateWhisperConfig(config);
    const shapes = whisperWeightShapes(config);
    const missing = [...shapes.keys()].filter((k) => !source.has(k));
    const unexpected = source.keys().filter((k) => !shapes.has(k) && !KNOWN_EXTRA_KEYS.includes(k));
    if (missing.length || unexpected.length) throw new Error(`checkpoint does not match the Whisper config: ${describeKeys(missing, unexpected)}`);
    const tensors = new Map<string, tf.Tensor>();
    try {
      for (const [key, shape] of shapes) {
        const got = source.info(key).shape;
        if (got.join() !== shape.join()) throw new Error(`checkpoint tensor ${key} has shape [${got}], config needs [${shape}]`);
        const { data } = await source.getF32(key);
        tensors.set(key, tf.tensor(data, shape, 'float32'));
      }
    } catch (e) {
      for (const t of tensors.values()) t.dispose();
      throw e;
    }
    return WhisperForConditionalGeneration.fromTensors(config, generation, tensors);
  }

  /**
   * Loads `config.json`, `generation_config.json` and the safetensors weights of a local
   * directory, or of a Hub repo id through the shared cache (e.g. `openai/whisper-large-v3-turbo`).
   */
  static async fromPretrained(repoIdOrDir: string, options: { snapshot?: SnapshotOptions } = {}): Promise<WhisperForConditionalGeneration> {
    const dir = await snapshot(repoIdOrDir, { allowPatterns: WHISPER_FILES, ...options.snapshot });
    const { config, generation } = await loadWhisperConfigs(dir);
    return WhisperForConditionalGeneration.fromWeights(config, generation, await Checkpoint.open(dir));
  }

  /** Random weights N(0, std), LayerNorms at 1 / 0, sinusoidal encoder positions; seeded (benchmarks). */
  static random(config: WhisperConfig, options: { seed?: number; std?: number } = {}): WhisperForConditionalGeneration {
    const std = options.std ?? 0.02;
    let seed = options.seed ?? 0;
    const tensors = new Map<string, tf.Tensor>();
    for (const [k, shape] of whisperWeightShapes(config)) {
      let t: tf.Tensor;
      if (k === 'model.encoder.embed_positions.weight') t = tf.tensor(sinusoids(shape[0]!, shape[1]!), shape);
      else if (/layer_norm\.weight$/.test(k)) t = tf.ones(shape);
      else if (/layer_norm\.bias$/.test(k)) t = tf.zeros(shape);
      // Pre-increment: tfjs treats a seed of 0 as no seed at all (rand_util: seed ? seed : Math.random()).
      else t = tf.randomNormal(shape, 0, std, 'float32', ++seed);
      tensors.set(k, t);
    }
    return WhisperForConditionalGeneration.fromTensors(config, null, tensors);
  }

  /** Log-mel `[batch, nMels, 3000]` -> encoder output `[batch, 1500, d]`, owned by the caller. */
  encode(features: tf.Tensor3D): tf.Tensor3D {
    return this.encoder.apply(features);
  }

  createCache(): WhisperCache {
    return new WhisperCache(this.config.decoderLayers);
  }

  /** Computes every layer's cross-attention keys/values of `encoderOutput` into `cache` (replacing any). */
  setEncoderOutput(cache: WhisperCache, encoderOutput: tf.Tensor3D): void {
    cache.dispose();
    // keep(): a tidy around the caller must not free the cache's tensors.
    const cross = this.decoder.layers.map((l) => l.encoder_attn.keysValues(encoderOutput));
    for (const c of cross) {
      tf.keep(c.k);
      tf.keep(c.v);
    }
    cache.cross = cross;
  }

  /** Decoder step(s); see `WhisperDecoder.apply`. Tensors returned are the caller's. */
  decode(ids: number[][], cache: WhisperCache, options: { logitRows?: number[]; alignmentHeads?: [number, number][] } = {}): DecodeOutput {
    return this.decoder.apply(ids, cache, options);
  }

  /** Full forward (no cache kept): logits `[batch, seq, vocab]` for decoder `ids` over `features`. */
  forward(features: tf.Tensor3D, ids: number[][]): tf.Tensor3D {
    const cache = this.createCache();
    try {
      const enc = this.encode(features);
      this.setEncoderOutput(cache, enc);
      enc.dispose();
      const seq = ids[0]?.length ?? 0;
      return this.decode(ids, cache, { logitRows: Array.from({ length: seq }, (_, i) => i) }).logits;
    } finally {
      cache.dispose();
    }
  }

  numParameters(): number {
    let n = 0;
    for (const s of whisperWeightShapes(this.config).values()) n += s.reduce((a, b) => a * b, 1);
    return n;
  }

  dispose(): void {
    this.encoder.dispose();
    this.decoder.dispose();
  }
}

function describeKeys(missing: string[], unexpected: string[]): string {
  const list = (xs: string[]) => xs.slice(0, 8).join(', ') + (xs.length > 8 ? `, ... (${xs.length} in all)` : '');
  const parts: string[] = [];
  if (missing.length) parts.push(`missing ${list(missing)}`);
  if (unexpected.length) parts.push(`unexpected ${list(unexpected)}`);
  return parts.join('; ');
}
