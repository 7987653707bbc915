/** Llama (transformers' LlamaForCausalLM): config, model, loss. */
export { LLAMA_3_2_1B, fromHfConfig, loadLlamaConfig, toHfConfig, validateLlamaConfig } from './config';
export type { FromHfConfigOptions, LlamaConfig } from './config';
export {
  IGNORE_INDEX, LlamaDecoderLayer, LlamaForCausalLM, LlamaModel, baseLinear, causalLmLoss, llamaWeightShapes,
} from './modeling';
export type { CausalLM, CausalLMInput, EmbeddingDtype, FrozenDtype, LoadWeightsOptions, NamedLinear, RandomInitOptions } from './modeling';
export { HalfLinear } from './half_linear';
export { AllowedTokensLM, continuationFrameBudget, continueTokenStream } from './stepwise';
export { DEFAULT_LOSS_CHUNK_ROWS, chunkedLmHeadLoss, shiftLabels } from './loss';
export type { ChunkedLossOptions, LmHead } from './loss';
export type { TokenStreamContinuation, TokenStreamOutput } from './stepwise';
