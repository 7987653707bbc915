/** Whisper speech recognition (transformers' WhisperForConditionalGeneration) on ttslab's runtime. */
export * from './config';
export * from './feature_extraction';
export * from './modeling';
export * from './decoding';
export * from './transcribe';
