/**
 * The contract between the trainer and a model family. CSM, Orpheus, Llasa and the mini
 * model each implement `TrainableModel` for their own example type; the trainer only
 * sees trainable variables, batches, a scalar loss and adapter save/load.
 */
import type * as tf from '@tensorflow/tfjs';

/** A trainable parameter under a name that is stable across processes (used as the key of optimizer state). */
export interface NamedVariable {
  /** e.g. the PEFT key `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight` */
  name: string;
  variable: tf.Variable;
  /** Whether weight decay applies (HF: everything but biases and norm weights). */
  decay: boolean;
}

/** What every collated batch reports, for token throughput and loss averaging. */
export interface BatchInfo {
  /** Examples in the batch. */
  size: number;
  /** Sequence length after padding (the longest example of this batch). */
  paddedLength: number;
  /** Real (non-padding) input tokens: what tokens/s counts. */
  numTokens: number;
  /** Tokens the loss predicts (labels not ignored, after the shift): the loss's denominator. */
  numTargets: number;
}

/**
 * A model the trainer can fine-tune. `E` is one training example (already tokenised),
 * `B` a collated batch.
 */
export interface TrainableModel<E, B extends BatchInfo = BatchInfo> {
  /** The variables the optimizer updates (the LoRA A and B matrices), in a fixed order. */
  trainableVariables(): NamedVariable[];
  /** Length of an example in tokens, for length bucketing; known before collation. */
  exampleLength(example: E): number;
  /**
   * Pads the examples to the longest of *this* batch (no fixed maximum, so a clip longer
   * than the others never crashes collation), with masks and ignored labels on padding.
   * Throws, naming the example, when one is malformed.
   */
  collate(examples: E[]): B;
  /**
   * Mean loss over the batch's `numTargets` predicted tokens, a scalar the caller owns.
   * Must only read trainable variables through tf ops so tf.variableGrads can differentiate it.
   */
  loss(batch: B, options: { training: boolean }): tf.Scalar;
  /** Writes the adapter (PEFT layout for LoRA) into `dir` (which exists). */
  save(dir: string): Promise<void>;
  /** Loads an adapter that `save` wrote into the existing trainable variables. */
  load(dir: string): Promise<void>;
}

/** A tokenised causal-LM example (Orpheus, Llasa): labels are the input ids with -100 where nothing is predicted. */
export interface TokenExample {
  inputIds: number[];
  labels: number[];
}
