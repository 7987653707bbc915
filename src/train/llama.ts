/**
 * `TrainableModel` for a Llama causal LM with a LoRA adapter on token sequences: what
 * Orpheus (Llama-3B + SNAC tokens) and Llasa (Llama + XCodec2 tokens) training is.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { LlamaForCausalLM, IGNORE_INDEX } from '../models/llama/modeling';
import { DEFAULT_LOSS_CHUNK_ROWS } from '../models/llama/loss';
import { applyLora, savePeftAdapter, ADAPTER_WEIGHTS_NAME } from '../lora';
import type { LoraAdapter, LoraConfig } from '../lora';
import { Checkpoint } from '../weights/checkpoint';
import { decaysWeight } from './optim';
import type { BatchInfo, NamedVariable, TokenExample, TrainableModel } from './types';
import type { TrainConfig } from './config';

/** A right-padded batch of token examples. */
export interface TokenBatch extends BatchInfo {
  /** `[batch][paddedLength]` */
  inputIds: number[][];
  /** `[batch][paddedLength]`: 1 real, 0 padding. */
  attentionMask: number[][];
  /** `[batch][paddedLength]`: -100 on padding and wherever the example says so. */
  labels: number[][];
}

/** The LoRA part of a TrainConfig. */
export function loraConfigOf(c: TrainConfig): LoraConfig {
  return { r: c.loraR, alpha: c.loraAlpha, dropout: c.loraDropout, targetModules: c.targetModules, useRslora: c.useRslora, seed: c.seed };
}

/** Right-pads token examples (a causal mask means real tokens never attend to the padding after them). */
export function collateTokens(examples: TokenExample[], padTokenId: number, vocabSize: number): TokenBatch {
  if (examples.length === 0) throw new Error('cannot collate an empty batch');
  let paddedLength = 0;
  examples.forEach((e, i) => {
    if (!Array.isArray(e.inputIds) || e.inputIds.length === 0) throw new Error(`example ${i}: inputIds must be a non-empty array`);
    if (!Array.isArray(e.labels) || e.labels.length !== e.inputIds.length) {
      throw new Error(`example ${i}: labels must have the length of inputIds (${e.inputIds.length}), got ${e.labels?.length}`);
    }
    for (const id of e.inputIds) if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) throw new Error(`example ${i}: token id ${id} is outside [0, ${vocabSize})`);
    for (const y of e.labels) if (!(y === IGNORE_INDEX || (Number.isInteger(y) && y >= 0 && y < vocabSize))) throw new Error(`example ${i}: label ${y} is neither ${IGNORE_INDEX} nor in [0, ${vocabSize})`);
    paddedLength = Math.max(paddedLength, e.inputIds.length);
  });
  let numTokens = 0;
  let numTargets = 0;
  const inputIds: number[][] = [];
  const attentionMask: number[][] = [];
  const labels: number[][] = [];
  for (const e of examples) {
    const pad = paddedLength - e.inputIds.length;
    inputIds.push([...e.inputIds, ...new Array<number>(pad).fill(padTokenId)]);
    attentionMask.push([...new Array<number>(e.inputIds.length).fill(1), ...new Array<number>(pad).fill(0)]);
    labels.push([...e.labels, ...new Array<number>(pad).fill(IGNORE_INDEX)]);
    numTokens += e.inputIds.length;
    for (let t = 1; t < e.labels.length; t++) if (e.labels[t] !== IGNORE_INDEX) numTargets++;
  }
  if (numTargets === 0) throw new Error('batch has no token to predict (every label after the first position is -100)');
  return { size: examples.length, paddedLength, numTokens, numTargets, inputIds, attentionMask, labels };
}

export interface LlamaLoraTrainableOptions {
  /**
   * Rows of logits the loss computes at once through the frozen head (`LlamaForCausalLM.loss`'s
   * `lossChunkRows`, src/models/llama/loss.ts), so the `[tokens, vocab]` f32 logits are never
   * stored whole. Default `DEFAULT_LOSS_CHUNK_ROWS` when the head is frozen, 0 (full logits) when
   * LoRA wraps lm_head; 0 asks for full logits.
   */
  lossChunkRows?: number;
}

/** LlamaForCausalLM + LoRA as a TrainableModel of token examples. */
export class LlamaLoraTrainable implements TrainableModel<TokenExample, TokenBatch> {
  private readonly keyOf: Map<string, string>;
  /** The `lossChunkRows` every loss call passes (0: full logits). */
  readonly lossChunkRows: number;

  constructor(
    readonly model: LlamaForCausalLM,
    readonly adapter: LoraAdapter,
    /** Written into adapter_config.json as base_model_name_or_path. */
    readonly baseModelNameOrPath: string | null = null,
    options: LlamaLoraTrainableOptions = {},
  ) {
    this.keyOf = adapter.peftKeyOf();
    const rows = options.lossChunkRows ?? (model.frozenLmHead() ? DEFAULT_LOSS_CHUNK_ROWS : 0);
    if (!(Number.isInteger(rows) && rows >= 0)) throw new Error(`LlamaLoraTrainable (src/train/llama.ts): lossChunkRows must be an integer >= 0, got ${JSON.stringify(options.lossChunkRows)}`);
    if (rows > 0 && !model.frozenLmHead()) {
      throw new Error(`LlamaLoraTrainable (src/train/llama.ts): lossChunkRows ${rows} needs a frozen lm_head, but LoRA wraps lm_head: pass lossChunkRows 0`);
    }
    this.lossChunkRows = rows;
  }

  /** Wraps `model` with a fresh LoRA adapter built from the config's LoRA fields. */
  static create(model: LlamaForCausalLM, config: TrainConfig, baseModelNameOrPath: string | null = null, options: LlamaLoraTrainableOptions = {}): LlamaLoraTrainable {
    return new LlamaLoraTrainable(model, applyLora(model, loraConfigOf(config)), baseModelNameOrPath, options);
  }

  trainableVariables(): NamedVariable[] {
    return this.adapter.variables().map((v) => {
      const name = this.keyOf.get(v.name)!;
      return { name, variable: v, decay: decaysWeight(name) };
    });
  }

  exampleLength(e: TokenExample): number {
    return e.inputIds.length;
  }

  collate(examples: TokenExample[]): TokenBatch {
    const c = this.model.config;
    // Padding is masked and ignored by the loss; any valid id will do when the config has none.
    const pad = c.padTokenId ?? c.eosTokenIds[0] ?? 0;
    return collateTokens(examples, pad, c.vocabSize);
  }

  loss(batch: TokenBatch, options: { training: boolean }): tf.Scalar {
    return this.model.loss({
      inputIds: batch.inputIds, attentionMask: batch.attentionMask, labels: batch.labels, training: options.training, lossChunkRows: this.lossChunkRows,
    });
  }

  async save(dir: string): Promise<void> {
    await savePeftAdapter(dir, this.adapter, { baseModelNameOrPath: this.baseModelNameOrPath });
  }

  async load(dir: string): Promise<void> {
    const file = join(dir, ADAPTER_WEIGHTS_NAME);
    const weights = await Checkpoint.open(file);
    for (const p of this.trainableVariables()) {
      if (!weights.has(p.name)) throw new Error(`${file}: no tensor ${p.name}`);
      const { shape, data } = await weights.getF32(p.name);
      if (shape.join() !== p.variable.shape.join()) throw new Error(`${file}: ${p.name} has shape [${shape}], the adapter needs [${p.variable.shape}]`);
      const t = tf.tensor(data, shape, 'float32');
      p.variable.assign(t);
      t.dispose();
    }
  }
}
