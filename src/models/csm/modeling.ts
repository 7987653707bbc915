/**
 * CSM (Sesame's Conversational Speech Model, transformers' CsmForConditionalGeneration)
 * in tfjs: a Llama backbone over text tokens and summed audio-frame embeddings that
 * predicts codebook 0 of the next frame, and a small Llama depth decoder that predicts
 * codebooks 1.. of that frame from the backbone's state.
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/csm/modeling_csm.py
 *
 * Module and weight names follow the checkpoint (`backbone_model.layers.N.self_attn.q_proj`,
 * `depth_decoder.model.inputs_embeds_projector`, `depth_decoder.codebooks_head`), so
 * weights load by name and LoRA keys are PEFT's.
 *
 * Tensor lifetimes: the model owns its weights (`dispose()`); every method that returns
 * tensors runs in `tf.tidy` and the caller owns what it returns.
 */
import * as tf from '@tensorflow/tfjs';
import type { WeightSource } from '../../weights/types';
import { Checkpoint } from '../../weights/checkpoint';
import { snapshot } from '../../hub';
import type { SnapshotOptions } from '../../hub';
import { Attention, KVCache, causalMask } from '../common/attention';
import { Linear } from '../common/linear';
import type { ApplyOptions, LinearLike } from '../common/linear';
import { SwiGLU } from '../common/mlp';
import { RMSNorm } from '../common/rmsnorm';
import { ropeInvFreq, rotaryCosSin } from '../common/rotary';
import { IGNORE_INDEX, LlamaDecoderLayer, baseLinear, causalLmLoss, llamaWeightShapes } from '../llama/modeling';
import type { NamedLinear } from '../llama/modeling';
import type { LlamaConfig } from '../llama/config';
import { loadCsmConfig, validateCsmConfig } from './config';
import type { CsmConfig } from './config';

/** Label of an audio frame trained through the backbone only (codebook 0), as the processor writes it. */
export const BACKBONE_ONLY_INDEX = -101;

/** A batch as `CsmProcessor` makes it. */
export interface CsmInput {
  /** `[batch][seq]` text ids; each audio frame is one `<|AUDIO|>`, each audio turn ends with `<|audio_eos|>`. */
  inputIds: number[][];
  /** `[batch][seq]`, 1 real, 0 padding. Omitted: all real. */
  attentionMask?: number[][];
  /** `[batch][frames][codebooks]`: per row, the codes of its `<|AUDIO|>` positions in order. */
  audioCodes: number[][][];
  /**
   * `[batch][seq]`. Omitted: 0..seq-1 as transformers' forward does (for left padding this
   * differs from generate's mask-derived positions by a per-row constant, which RoPE ignores).
   */
  positionIds?: number[][];
  training?: boolean;
}

export interface CsmLossOutput {
  /** backboneLoss + depthDecoderLoss */
  loss: tf.Scalar;
  /** Mean CE of codebook 0 (shifted, -100 ignored). */
  backboneLoss: tf.Scalar;
  /** Mean CE of codebooks 1.. over the frames the depth decoder trains on. */
  depthDecoderLoss: tf.Scalar;
  /** `[batch, seq, audioVocab]` */
  logits: tf.Tensor3D;
  /** `[trainedFrames, numCodebooks - 1, audioVocab]`, frames in row-major (batch, position) order. */
  depthDecoderLogits: tf.Tensor3D;
}

/**
 * A Llama decoder stack without its embedding table: CSM feeds both decoders embeddings it
 * builds itself (summed codebooks, projected backbone states).
 */
export class CsmDecoder {
  readonly invFreq: Float32Array;

  constructor(
    readonly config: LlamaConfig,
    public layers: LlamaDecoderLayer[],
    public norm: RMSNorm,
  ) {
    this.invFreq = ropeInvFreq(config.headDim, config.ropeTheta, config.ropeScaling);
  }

  /** `[batch, seq, hidden]` embeddings -> final hidden states `[batch, seq, hidden]` (after the norm). */
  forward(h: tf.Tensor3D, o: { attentionMask?: number[][]; positionIds?: number[][]; cache?: KVCache; training?: boolean } = {}): tf.Tensor3D {
    const [batch, seq] = h.shape;
    const past = o.cache?.seqLength ?? 0;
    const positions = o.positionIds
      ?? Array.from({ length: batch }, () => Array.from({ length: seq }, (_, i) => past + i));
    const options: ApplyOptions = { training: o.training ?? false };
    return tf.tidy(() => {
      const { cos, sin } = rotaryCosSin(this.invFreq, positions); // [batch, seq, headDim]
      const mask = causalMask(batch, seq, past, o.attentionMask); // [batch, 1, seq, past + seq]
      const ctx = { cos, sin, mask, cache: o.cache };
      let x = h;
      this.layers.forEach((layer, i) => {
        x = layer.apply(x, ctx, i, options);
      });
      return this.norm.apply(x) as tf.Tensor3D;
    });
  }

  createCache(): KVCache {
    return new KVCache(this.layers.length);
  }

  dispose(): void {
    for (const l of this.layers) l.dispose();
    this.norm.dispose();
  }
}

/** transformers' CsmDepthDecoderModel + CsmCodebooksHead. */
export class CsmDepthDecoder {
  constructor(
    readonly config: CsmConfig,
    /** `[numCodebooks * audioVocab, backboneHidden]`; codebook k's code c is row `c + k * audioVocab`. */
    public embed_tokens: tf.Tensor2D,
    /** backboneHidden -> depth hidden, no bias. */
    public inputs_embeds_projector: LinearLike,
    public model: CsmDecoder,
    /** `[numCodebooks - 1, depthHidden, audioVocab]`: codebook i's logits are `h @ W[i - 1]` (no transpose). */
    public codebooks_head: tf.Tensor3D,
  ) {}

  /**
   * Backbone-width embeddings of codes at depth positions `start, start + 1, ...`: position p
   * (p >= 1) holds codebook p - 1, offset by `clamp(p - 1, 0) * audioVocab`.
   * `codes` `[rows][n]` -> `[rows, n, backboneHidden]`.
   */
  embedCodes(codes: number[][], start: number): tf.Tensor3D {
    const V = this.config.audioVocabSize;
    const rows = codes.length;
    const n = rows ? codes[0].length : 0;
    const idx = codes.flatMap((r) => r.map((c, j) => c + Math.max(start + j - 1, 0) * V));
    return tf.tidy(() => tf.gather(this.embed_tokens, tf.tensor1d(idx, 'int32')).reshape([rows, n, -1]) as tf.Tensor3D);
  }

  /**
   * Logits of the codebooks predicted at depth positions `first, first + 1, ...` (each >= 1):
   * `h` `[rows, n, depthHidden]` -> `[rows, n, audioVocab]`, position p through `W[p - 1]`.
   */
  headLogits(h: tf.Tensor3D, first: number): tf.Tensor3D {
    const [rows, n, d] = h.shape;
    if (first < 1 || first + n - 1 > this.config.numCodebooks - 1) {
      throw new Error(`depth positions ${first}..${first + n - 1} have no codebook head (1..${this.config.numCodebooks - 1})`);
    }
    return tf.tidy(() => {
      const w = this.codebooks_head.slice([first - 1, 0, 0], [n, d, this.config.audioVocabSize]); // [n, d, V]
      // One matMul per position, batched: [n, rows, d] @ [n, d, V] -> [n, rows, V] (no broadcast operand).
      const out = tf.matMul(h.transpose([1, 0, 2]), w); // [n, rows, V]
      return out.transpose([1, 0, 2]) as tf.Tensor3D; // [rows, n, V]
    });
  }

  /** Backbone-width inputs `[rows, n, backboneHidden]` at depth positions past.. -> hidden `[rows, n, depthHidden]`. */
  forward(inputs: tf.Tensor3D, cache?: KVCache, training = false): tf.Tensor3D {
    return tf.tidy(() => this.model.forward(this.inputs_embeds_projector.apply(inputs, { training }) as tf.Tensor3D, { cache, training }));
  }

  dispose(): void {
    this.embed_tokens.dispose();
    this.inputs_embeds_projector.dispose();
    this.model.dispose();
    this.codebooks_head.dispose();
  }
}

/** transformers' CsmBackboneModel: embeddings of audio frames + the Llama decoder. */
export class CsmBackbone {
  constructor(
    /** `[numCodebooks * audioVocab, hidden]` (`embed_tokens.embed_audio_tokens`); tied with the depth decoder's table by default. */
    public embed_audio_tokens: tf.Tensor2D,
    public model: CsmDecoder,
  ) {}
}

/** Reference names and shapes of one Llama decoder stack under `prefix` (layers and final norm). */
function decoderShapes(c: LlamaConfig, prefix: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [k, shape] of llamaWeightShapes(c)) {
    if (k.startsWith('model.layers.') || k === 'model.norm.weight') out.set(prefix + k.slice('model.'.length), shape);
  }
  return out;
}

/** Reference weight names and shapes of a CsmForConditionalGeneration (the codec excluded). */
export function csmWeightShapes(c: CsmConfig): Map<string, number[]> {
  const nV = c.numCodebooks * c.audioVocabSize;
  const H = c.backbone.hiddenSize;
  const Hd = c.depthDecoder.llama.hiddenSize;
  const m = new Map<string, number[]>();
  m.set('embed_text_tokens.weight', [c.textVocabSize, H]);
  m.set('lm_head.weight', [c.audioVocabSize, H]);
  m.set('backbone_model.embed_tokens.embed_audio_tokens.weight', [nV, H]);
  for (const [k, s] of decoderShapes(c.backbone, 'backbone_model.')) m.set(k, s);
  m.set('depth_decoder.model.embed_tokens.weight', [nV, c.depthDecoder.backboneHiddenSize]);
  m.set('depth_decoder.model.inputs_embeds_projector.weight', [Hd, c.depthDecoder.backboneHiddenSize]);
  for (const [k, s] of decoderShapes(c.depthDecoder.llama, 'depth_decoder.model.')) m.set(k, s);
  m.set('depth_decoder.codebooks_head.weight', [c.numCodebooks - 1, Hd, c.audioVocabSize]);
  return m;
}

const AUDIO_EMBED = 'backbone_model.embed_tokens.embed_audio_tokens.weight';
const DEPTH_EMBED = 'depth_decoder.model.embed_tokens.weight';

/**
 * Checkpoint keys the model does not use: the codec (the Mimi engineer's model loads it)
 * and rotary buffers.
 */
function isKnownExtra(name: string): boolean {
  return name.startsWith('codec_model.') || /\.rotary_emb\.inv_freq$/.test(name);
}

function buildDecoder(c: LlamaConfig, prefix: string, w: (k: string) => tf.Tensor, has: (k: string) => boolean): CsmDecoder {
  const lin = (p: string) => new Linear(w(`${p}.weight`) as tf.Tensor2D, has(`${p}.bias`) ? (w(`${p}.bias`) as tf.Tensor1D) : null);
  const layers: LlamaDecoderLayer[] = [];
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const p = `${prefix}layers.${i}`;
    const attn = new Attention(
      lin(`${p}.self_attn.q_proj`), lin(`${p}.self_attn.k_proj`), lin(`${p}.self_attn.v_proj`), lin(`${p}.self_attn.o_proj`),
      { numHeads: c.numAttentionHeads, numKvHeads: c.numKeyValueHeads, headDim: c.headDim },
    );
    const mlp = new SwiGLU(lin(`${p}.mlp.gate_proj`), lin(`${p}.mlp.up_proj`), lin(`${p}.mlp.down_proj`));
    layers.push(new LlamaDecoderLayer(attn, mlp,
      new RMSNorm(w(`${p}.input_layernorm.weight`) as tf.Tensor1D, c.rmsNormEps),
      new RMSNorm(w(`${p}.post_attention_layernorm.weight`) as tf.Tensor1D, c.rmsNormEps)));
  }
  return new CsmDecoder(c, layers, new RMSNorm(w(`${prefix}norm.weight`) as tf.Tensor1D, c.rmsNormEps));
}

/** Throws unless every code of `frames` (`[frames][codebooks]`) is an integer in [0, vocab). */
export function validateCodes(frames: number[][], numCodebooks: number, vocab: number, what = 'audio codes'): void {
  frames.forEach((f, i) => {
    if (!Array.isArray(f) || f.length !== numCodebooks) {
      throw new Error(`${what}: frame ${i} has ${Array.isArray(f) ? f.length : typeof f} codebooks, the model needs ${numCodebooks}`);
    }
    f.forEach((c, k) => {
      if (!(Number.isInteger(c) && c >= 0 && c < vocab)) {
        throw new Error(`${what}: code ${c} at frame ${i}, codebook ${k} is outside [0, ${vocab})`);
      }
    });
  });
}

export class CsmForConditionalGeneration {
  constructor(
    readonly config: CsmConfig,
    /** `[textVocab, hidden]` */
    public embed_text_tokens: tf.Tensor2D,
    public backbone_model: CsmBackbone,
    /** Codebook-0 head, `[audioVocab, hidden]`. */
    public lm_head: LinearLike,
    public depth_decoder: CsmDepthDecoder,
  ) {}

  /**
   * Builds the model from reference-named tensors, taking ownership. The names must be
   * `csmWeightShapes(config)`'s; the backbone's audio table may be absent, and is then the
   * depth decoder's (tied, as `tie_codebooks_embeddings`).
   */
  static fromTensors(config: CsmConfig, weights: Map<string, tf.Tensor>): CsmForConditionalGeneration {
    validateCsmConfig(config);
    const shapes = csmWeightShapes(config);
    const missing = [...shapes.keys()].filter((k) => !weights.has(k) && k !== AUDIO_EMBED);
    const unexpected = [...weights.keys()].filter((k) => !shapes.has(k));
    if (missing.length || unexpected.length) throw new Error(`CSM weights do not match the config: ${describeKeys(missing, unexpected)}`);
    for (const [k, shape] of weights) {
      if (shape.shape.join() !== shapes.get(k)!.join()) throw new Error(`weight ${k} has shape [${shape.shape}], config needs [${shapes.get(k)}]`);
    }
    const w = (k: string) => weights.get(k)!;
    const has = (k: string) => weights.has(k);
    const depthEmbed = w(DEPTH_EMBED) as tf.Tensor2D;
    const audioEmbed = (weights.get(AUDIO_EMBED) ?? depthEmbed) as tf.Tensor2D;
    const backbone = new CsmBackbone(audioEmbed, buildDecoder(config.backbone, 'backbone_model.', w, has));
    const depth = new CsmDepthDecoder(config, depthEmbed,
      new Linear(w('depth_decoder.model.inputs_embeds_projector.weight') as tf.Tensor2D),
      buildDecoder(config.depthDecoder.llama, 'depth_decoder.model.', w, has),
      w('depth_decoder.codebooks_head.weight') as tf.Tensor3D);
    return new CsmForConditionalGeneration(config, w('embed_text_tokens.weight') as tf.Tensor2D, backbone,
      new Linear(w('lm_head.weight') as tf.Tensor2D), depth);
  }

  /**
   * Loads weights from a `WeightSource` (float32). Keys must be the reference names, plus
   * the listed extras (`codec_model.*`, rotary buffers). transformers 5 saves both audio
   * tables; a checkpoint with only the depth decoder's gets one shared table.
   */
  static async fromWeights(config: CsmConfig, source: WeightSource): Promise<CsmForConditionalGeneration> {
    validateCsmConfig(config);
    const shapes = csmWeightShapes(config);
    const missing = [...shapes.keys()].filter((k) => !source.has(k) && k !== AUDIO_EMBED);
    const unexpected = source.keys().filter((k) => !shapes.has(k) && !isKnownExtra(k));
    if (missing.length || unexpected.length) throw new Error(`checkpoint does not match the CSM config: ${describeKeys(missing, unexpected)}`);
    const tensors = new Map<string, tf.Tensor>();
    try {
      for (const [key, shape] of shapes) {
        if (!source.has(key)) continue;
        const got = source.info(key).shape;
        if (got.join() !== shape.join()) throw new Error(`checkpoint tensor ${key} has shape [${got}], config needs [${shape}]`);
        const { data } = await source.getF32(key);
        tensors.set(key, tf.tensor(data, shape, 'float32'));
      }
    } catch (e) {
      for (const t of tensors.values()) t.dispose();
      throw e;
    }
    return CsmForConditionalGeneration.fromTensors(config, tensors);
  }

  /** `config.json` + safetensors of a local directory or a Hub repo id (shared cache). */
  static async fromPretrained(repoIdOrDir: string, options: { snapshot?: SnapshotOptions } = {}): Promise<CsmForConditionalGeneration> {
    const dir = await snapshot(repoIdOrDir, {
      allowPatterns: ['config.json', '*.safetensors', '*.safetensors.index.json'], ...options.snapshot,
    });
    return CsmForConditionalGeneration.fromWeights(await loadCsmConfig(dir), await Checkpoint.open(dir));
  }

  /** Random weights N(0, std), norms 1, seeded; one shared audio table when `tieCodebooksEmbeddings`. */
  static random(config: CsmConfig, options: { seed?: number; std?: number } = {}): CsmForConditionalGeneration {
    const std = options.std ?? 0.02;
    let seed = options.seed ?? 0;
    const tensors = new Map<string, tf.Tensor>();
    for (const [k, shape] of csmWeightShapes(config)) {
      if (k === AUDIO_EMBED && config.tieCodebooksEmbeddings) continue;
      // Pre-increment: tfjs treats a seed of 0 as no seed at all (rand_util: seed ? seed : Math.random()).
      tensors.set(k, /norm\.weight$/.test(k) ? tf.ones(shape) : tf.randomNormal(shape, 0, std, 'float32', ++seed));
    }
    return CsmForConditionalGeneration.fromTensors(config, tensors);
  }

  /**
   * Input embeddings `[batch, seq, hidden]`: text ids from `embed_text_tokens`; each
   * `<|AUDIO|>` the sum over k of `embed_audio[code_k + k * audioVocab]` of its frame;
   * each `<|audio_eos|>` the same sum for the all-`codebookEosTokenId` frame
   * (`_merge_input_ids_with_input_values`).
   */
  embedInputs(inputIds: number[][], audioCodes: number[][][]): tf.Tensor3D {
    const c = this.config;
    const nc = c.numCodebooks;
    const V = c.audioVocabSize;
    const batch = inputIds.length;
    const seq = batch ? inputIds[0].length : 0;
    if (batch === 0 || seq === 0) throw new Error(`inputIds must be a non-empty [batch][seq], got [${batch}][${seq}]`);
    if (audioCodes.length !== batch) throw new Error(`audioCodes has ${audioCodes.length} rows, inputIds ${batch}`);
    const textIds = new Int32Array(batch * seq);
    const audioIdx = new Int32Array(batch * seq * nc);
    const isAudio = new Float32Array(batch * seq);
    const eosFrame = new Array(nc).fill(c.codebookEosTokenId);
    for (let b = 0; b < batch; b++) {
      const row = inputIds[b];
      if (row.length !== seq) throw new Error(`inputIds rows differ in length (${row.length} vs ${seq}); pad them`);
      const frames = audioCodes[b];
      const nAudio = row.filter((id) => id === c.audioTokenId).length;
      if (frames.length !== nAudio) {
        throw new Error(`row ${b} has ${nAudio} <|AUDIO|> positions but ${frames.length} frames of codes`);
      }
      validateCodes(frames, nc, V, `row ${b} audio codes`);
      let f = 0;
      for (let t = 0; t < seq; t++) {
        const id = row[t];
        if (!(Number.isInteger(id) && id >= 0 && id < c.textVocabSize)) throw new Error(`token id ${id} at [${b}][${t}] is outside the text vocabulary [0, ${c.textVocabSize})`);
        const i = b * seq + t;
        textIds[i] = id;
        const frame = id === c.audioTokenId ? frames[f++] : id === c.audioEosTokenId ? eosFrame : null;
        for (let k = 0; k < nc; k++) audioIdx[i * nc + k] = (frame ? frame[k] : c.codebookEosTokenId) + k * V;
        if (frame) isAudio[i] = 1;
      }
    }
    return tf.tidy(() => {
      const H = c.backbone.hiddenSize;
      const text = tf.gather(this.embed_text_tokens, tf.tensor1d(textIds, 'int32')); // [batch*seq, H]
      const audio = tf.gather(this.backbone_model.embed_audio_tokens, tf.tensor1d(audioIdx, 'int32'))
        .reshape([batch * seq, nc, H]).sum(1); // [batch*seq, H]
      const a = tf.tensor2d(isAudio, [batch * seq, 1]);
      return text.mul(tf.scalar(1).sub(a)).add(audio.mul(a)).reshape([batch, seq, H]) as tf.Tensor3D;
    });
  }

  /** Embeddings `[batch, 1, hidden]` of one new frame per row (`[batch][codebooks]`), as the backbone's `embed_tokens`. */
  embedFrames(frames: number[][]): tf.Tensor3D {
    const c = this.config;
    validateCodes(frames, c.numCodebooks, c.audioVocabSize, 'frames');
    const idx = frames.flatMap((f) => f.map((code, k) => code + k * c.audioVocabSize));
    return tf.tidy(() => tf.gather(this.backbone_model.embed_audio_tokens, tf.tensor1d(idx, 'int32'))
      .reshape([frames.length, c.numCodebooks, -1]).sum(1).expandDims(1) as tf.Tensor3D);
  }

  /** Backbone hidden states `[batch, seq, hidden]` (after the final norm) and codebook-0 logits `[batch, seq, audioVocab]`. */
  backbone(input: CsmInput): { hidden: tf.Tensor3D; logits: tf.Tensor3D } {
    return tf.tidy(() => {
      const embeds = this.embedInputs(input.inputIds, input.audioCodes);
      const hidden = this.backbone_model.model.forward(embeds, {
        attentionMask: input.attentionMask, positionIds: input.positionIds, training: input.training,
      });
      const logits = this.lm_head.apply(hidden, { training: input.training }) as tf.Tensor3D;
      return { hidden, logits };
    });
  }

  /** Codebook-0 logits `[batch, seq, audioVocab]`. */
  forward(input: CsmInput): tf.Tensor3D {
    return tf.tidy(() => this.backbone(input).logits);
  }

  /**
   * transformers' training forward with labels: labels `[batch][seq]` as the processor
   * makes them (`<|AUDIO|>` / `<|audio_eos|>` ids where audio is, -100 elsewhere, -101 on
   * audio frames the depth decoder skips). Expanded per codebook as
   * `_merge_input_ids_with_input_values`: an audio position's targets are its frame's codes,
   * an `<|audio_eos|>` position's the all-zero frame; -101 keeps codebook 0 and drops 1...
   * Backbone loss: CE of codebook 0, shifted. Depth decoder: for each trained frame at t,
   * inputs `[h_{t-1}, c0 .. c_{n-2}]`, targets `c1 .. c_{n-1}`, CE averaged over all of them.
   *
   * Unlike transformers, which trains every audio position whatever its label says, a -100
   * on an audio or `<|audio_eos|>` position is rejected: it would not mean what it says.
   */
  lossWithOutputs(input: CsmInput & { labels: number[][] }): CsmLossOutput {
    const c = this.config;
    const nc = c.numCodebooks;
    const { inputIds, labels } = input;
    const batch = inputIds.length;
    const seq = inputIds[0]?.length ?? 0;
    if (labels.length !== batch || labels.some((r) => r.length !== seq)) throw new Error(`labels must be [${batch}][${seq}] like inputIds`);
    const c0Labels: number[][] = [];
    const depthRows: number[] = []; // flat index (b * seq + t - 1) of the backbone state that predicted the frame
    const depthCodes: number[][] = [];
    const eosFrame = new Array(nc).fill(c.codebookEosTokenId);
    for (let b = 0; b < batch; b++) {
      let f = 0;
      const row: number[] = [];
      for (let t = 0; t < seq; t++) {
        const id = inputIds[b][t];
        const lab = labels[b][t];
        const frame = id === c.audioTokenId ? input.audioCodes[b][f++] : id === c.audioEosTokenId ? eosFrame : null;
        if (!frame) {
          if (lab !== IGNORE_INDEX) throw new Error(`label ${lab} at text position [${b}][${t}]: text positions must be ${IGNORE_INDEX} (CSM predicts audio only)`);
          row.push(IGNORE_INDEX);
          continue;
        }
        if (lab !== id && lab !== BACKBONE_ONLY_INDEX) {
          throw new Error(`label ${lab} at audio position [${b}][${t}] must be the token id ${id} or ${BACKBONE_ONLY_INDEX} (backbone only)`);
        }
        if (t === 0) throw new Error(`audio at position [${b}][0] has no earlier state to predict it from`);
        row.push(frame?.[0] ?? IGNORE_INDEX);
        if (lab !== BACKBONE_ONLY_INDEX) {
          depthRows.push(b * seq + t - 1);
          depthCodes.push(frame);
        }
      }
      c0Labels.push(row);
    }
    return tf.tidy(() => {
      const { hidden, logits } = this.backbone(input);
      const backboneLoss = causalLmLoss(logits, c0Labels);
      const H = c.backbone.hiddenSize;
      const N = depthRows.length;
      let depthLogits: tf.Tensor3D;
      let depthLoss: tf.Scalar;
      if (N === 0) {
        // transformers gives NaN (a mean over nothing); no trained frame adds nothing here.
        depthLogits = tf.zeros([0, nc - 1, c.audioVocabSize]);
        depthLoss = tf.scalar(0);
      } else {
        const h = tf.gather(hidden.reshape([batch * seq, H]), tf.tensor1d(depthRows, 'int32')).expandDims(1); // [N, 1, H]
        const codes = this.depth_decoder.embedCodes(depthCodes.map((f) => f.slice(0, nc - 1)), 1); // [N, nc-1, H]
        const dh = this.depth_decoder.forward(tf.concat([h, codes], 1) as tf.Tensor3D, undefined, input.training); // [N, nc, Hd]
        depthLogits = this.depth_decoder.headLogits(dh.slice([0, 1, 0], [N, nc - 1, -1]), 1); // [N, nc-1, V]
        const picks = depthCodes.flatMap((f, i) => f.slice(1).map((y, j) => (i * (nc - 1) + j) * c.audioVocabSize + y));
        const logp = tf.logSoftmax(depthLogits.reshape([N * (nc - 1), c.audioVocabSize])).reshape([-1]);
        depthLoss = tf.gather(logp, tf.tensor1d(picks, 'int32')).sum().neg().div(picks.length) as tf.Scalar;
      }
      return { loss: backboneLoss.add(depthLoss) as tf.Scalar, backboneLoss, depthDecoderLoss: depthLoss, logits, depthDecoderLogits: depthLogits };
    });
  }

  /** The training loss alone (backbone + depth decoder), for `loraValueAndGrads`. */
  loss(input: CsmInput & { labels: number[][] }): tf.Scalar {
    return tf.tidy(() => this.lossWithOutputs(input).loss);
  }

  /** A backbone KV cache. */
  createCache(): KVCache {
    return this.backbone_model.model.createCache();
  }

  /** Every linear module by reference path (LoRA targets): both decoders' projections, the projector, lm_head. */
  namedLinears(): NamedLinear[] {
    const out: NamedLinear[] = [];
    const decoder = (d: CsmDecoder, prefix: string) => d.layers.forEach((layer, i) => {
      const p = `${prefix}layers.${i}`;
      for (const name of ['q_proj', 'k_proj', 'v_proj', 'o_proj'] as const) {
        out.push({ path: `${p}.self_attn.${name}`, module: layer.self_attn[name], set: (m) => { layer.self_attn[name] = m; } });
      }
      for (const name of ['gate_proj', 'up_proj', 'down_proj'] as const) {
        out.push({ path: `${p}.mlp.${name}`, module: layer.mlp[name], set: (m) => { layer.mlp[name] = m; } });
      }
    });
    out.push({ path: 'lm_head', module: this.lm_head, set: (m) => { this.lm_head = m; } });
    decoder(this.backbone_model.model, 'backbone_model.');
    const dd = this.depth_decoder;
    out.push({ path: 'depth_decoder.model.inputs_embeds_projector', module: dd.inputs_embeds_projector, set: (m) => { dd.inputs_embeds_projector = m; } });
    decoder(dd.model, 'depth_decoder.model.');
    return out;
  }

  /** Base weights by reference name (a tied audio table once, under the depth decoder's name). */
  namedParameters(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    const linears = new Map(this.namedLinears().map((n) => [n.path, baseLinear(n.module)]));
    const decoder = (d: CsmDecoder, prefix: string) => {
      d.layers.forEach((layer, i) => {
        const p = `${prefix}layers.${i}`;
        for (const name of ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj']) {
          const l = linears.get(`${p}.${name}`)!;
          out.set(`${p}.${name}.weight`, l.weight);
          if (l.bias) out.set(`${p}.${name}.bias`, l.bias);
        }
        out.set(`${p}.input_layernorm.weight`, layer.input_layernorm.weight);
        out.set(`${p}.post_attention_layernorm.weight`, layer.post_attention_layernorm.weight);
      });
      out.set(`${prefix}norm.weight`, d.norm.weight);
    };
    out.set('embed_text_tokens.weight', this.embed_text_tokens);
    out.set('lm_head.weight', linears.get('lm_head')!.weight);
    if (this.backbone_model.embed_audio_tokens !== this.depth_decoder.embed_tokens) out.set(AUDIO_EMBED, this.backbone_model.embed_audio_tokens);
    decoder(this.backbone_model.model, 'backbone_model.');
    out.set(DEPTH_EMBED, this.depth_decoder.embed_tokens);
    out.set('depth_decoder.model.inputs_embeds_projector.weight', linears.get('depth_decoder.model.inputs_embeds_projector')!.weight);
    decoder(this.depth_decoder.model, 'depth_decoder.model.');
    out.set('depth_decoder.codebooks_head.weight', this.depth_decoder.codebooks_head);
    return out;
  }

  /** Base parameters (a tied table once; the codec is not part of this model). */
  numParameters(): number {
    let n = 0;
    for (const t of this.namedParameters().values()) n += t.size;
    return n;
  }

  dispose(): void {
    this.embed_text_tokens.dispose();
    this.backbone_model.embed_audio_tokens.dispose();
    this.backbone_model.model.dispose();
    this.lm_head.dispose();
    this.depth_decoder.dispose(); // a tied table is already disposed; tfjs ignores the second call
  }
}

function describeKeys(missing: string[], unexpected: string[]): string {
  const list = (xs: string[]) => xs.slice(0, 8).join(', ') + (xs.length > 8 ? `, ... (${xs.length} in all)` : '');
  const parts: string[] = [];
  if (missing.length) parts.push(`missing ${list(missing)}`);
  if (unexpected.length) parts.push(`unexpected ${list(unexpected)}`);
  return parts.join('; ');
}

