/** Llasa (Llama + XCodec2 16 kHz): token layout, prompts and training sequences, generation, the TtsModel. */
export {
  LLAMA3_VOCAB_SIZE, LLASA_LAYOUT, LLASA_MARKERS, LLASA_SPEECH_TOKEN_START, LLASA_VOCAB_SIZE, XCODEC2_CODEBOOK_SIZE,
  codesToSpeechTokens, llasaLayoutFromTokenizer, markerToken, parseSpeechTokens, speechTokenText,
} from './tokens';
export type { LlasaMarker, LlasaTokenLayout, ParseOptions, ParsedLlasaSpeech, TokenIssue, TokenLookup } from './tokens';
export { LLASA_DEFAULT_DATE, LLASA_INSTRUCTION, LlasaProcessor, checkLlasaText, continueFinalMessage } from './processor';
export type { LlasaProcessorOptions, LlasaPromptClip } from './processor';
export { LLASA_FRAME_SAMPLES, LLASA_LORA_TRAIN, LLASA_MAX_LENGTH, LLASA_PRESET, LLASA_SAMPLE_RATE, generateLlasaSpeech } from './generation';
export type { LlasaGenerateOptions, LlasaSpeech } from './generation';
export { LlasaTts, contextToClip, flattenSingleCodebook } from './tts';
export type { LlasaTtsOptions, LlasaGeneration } from './tts';
export {
  TINY_LLASA_CHAT_TEMPLATE, TINY_LLASA_SPEECH_TOKENS, TINY_LLASA_VOCAB_SIZE, TINY_RANDOM_LLASA, TINY_RANDOM_LLASA_WARNING,
  TINY_XCODEC2_CONFIG, tinyLlasaConfig, tinyLlasaTokenizer, tinyRandomLlasa, tinyRandomLlasaLm, tinyRandomLlasaTts, tinyRandomXcodec2,
} from './tiny';
export { speakLlasa } from './speech';
export type { LlasaAudio } from './speech';
export { isLlasaTokenizerDir, loadLlasa, loadLlasaCheckpoint } from './load';
export type { LoadLlasaCheckpointOptions, LoadLlasaOptions, LoadedLlasa } from './load';
