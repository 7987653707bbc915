/** Generation: HF logits processors, seeded sampling, batched generation with a KV cache. */
export { Rng } from './rng';
export {
  applyMinP, applyRepetitionPenalty, applyTemperature, applyTopK, applyTopP, argmax, processLogits, sampleFromLogits,
  selectToken, softmax, validateSamplingOptions,
} from './sampling';
export type { SamplingOptions } from './sampling';
export { generate, sequencesTensor } from './generate';
export type { GenerateInput, GenerateOptions, GenerateOutput } from './generate';
