/** A tiny random Llama and a learnable toy task for trainer tests (CPU, seconds). */
import * as tf from '@tensorflow/tfjs';
import { LlamaForCausalLM } from '../../src/models/llama';
import type { LlamaConfig } from '../../src/models/llama/config';
import { LlamaLoraTrainable } from '../../src/train/llama';
import { validateTrainConfig } from '../../src/train/config';
import type { TrainConfig } from '../../src/train/config';
import type { TokenExample } from '../../src/train/types';
import { Rng } from '../../src/generate/rng';

export const TINY: LlamaConfig = {
  vocabSize: 24, hiddenSize: 32, intermediateSize: 48, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2, headDim: 8,
  maxPositionEmbeddings: 256, rmsNormEps: 1e-5, ropeTheta: 10000, ropeScaling: { ropeType: 'default' }, tieWordEmbeddings: false,
  attentionBias: false, mlpBias: false, bosTokenId: null, eosTokenIds: [1], padTokenId: 0,
};

/** Small LoRA and fast settings; tests override what they exercise. */
export const FAST: Partial<TrainConfig> = {
  loraR: 4, loraAlpha: 8, useRslora: false, learningRate: 1e-2, warmupSteps: 0, batchSize: 2, gradientAccumulationSteps: 2,
  maxSteps: 6, optimizer: 'adamw', saveSteps: 0, livePlot: false, seed: 1,
};

/** A fresh model with a fresh LoRA adapter (same seed, same weights). */
export function tinyTrainable(config: Partial<TrainConfig> = FAST, seed = 7): LlamaLoraTrainable {
  const model = LlamaForCausalLM.random(TINY, { seed, std: 0.1 });
  return LlamaLoraTrainable.create(model, validateTrainConfig({ ...FAST, ...config }));
}

/**
 * Counting sequences mod (vocab - 2), offset by 2 (0 pad, 1 eos): each next token is the
 * previous + 1, a rule LoRA on the projections can learn. Lengths vary from minLen to maxLen.
 */
export function countingExamples(n: number, seed = 3, minLen = 5, maxLen = 12): TokenExample[] {
  const rng = new Rng(seed);
  const m = TINY.vocabSize - 2;
  return Array.from({ length: n }, () => {
    const len = minLen + Math.floor(rng.next() * (maxLen - minLen + 1));
    const start = Math.floor(rng.next() * m);
    const ids = Array.from({ length: len }, (_, i) => 2 + ((start + i) % m));
    return { inputIds: ids, labels: [...ids] };
  });
}

export async function flatValues(vars: { variable: tf.Variable }[]): Promise<Float32Array[]> {
  return Promise.all(vars.map(async (v) => Float32Array.from((await v.variable.data()) as Float32Array)));
}

export function disposeTrainable(t: LlamaLoraTrainable): void {
  t.adapter.unload();
  t.model.dispose();
}

export const quiet = { progress: 'none' as const, log: () => undefined };
