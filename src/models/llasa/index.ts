/** Llasa (Llama + XCodec2 16 kHz): token layout, prompts and training sequences, generation, the TtsModel. */
export {
  LLAMA3_VOCAB_SIZE, LLASA_LAYOUT, LLASA_MARKERS, LLASA_SPEECH_TOKEN_START, LLASA_VOCAB_SIZE, XCODEC2_CODEBOOK_SIZE,
  codesToSpeechTokens, llasaLayoutFromTokenizer, markerToken, parseSpeechTokens, speechTokenText,
} from './tokens';
export type { LlasaMarker, LlasaTokenLayout, ParseOptions, ParsedLlasaSpeech, TokenIssue, TokenLookup } from './tokens';
export { LLASA_DEFAULT_DATE, LLASA_INSTRUCTION, LlasaProcessor, continueFinalMessage } from './processor';
export type { LlasaProcessorOptions, LlasaPromptClip } from './processor';
