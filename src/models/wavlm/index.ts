/** WavLM speaker embeddings (transformers' WavLMForXVector, e.g. microsoft/wavlm-base-plus-sv) on ttslab's runtime. */
export * from './config';
export * from './modeling';
