/** Orpheus-3B (Llama-3B + SNAC 24 kHz): token layout, sequences, generation, streaming decode. */
export {
  CODEBOOK_SIZE, ORPHEUS_IDS, POSITION_LEVEL, TOKENISER_LENGTH, TOKENS_PER_FRAME, framesToSnac, framesToTokens,
  parseSpeechTokens, positionRange, removeDuplicateFrames, snacToFrames, snacToTokens,
} from './tokens';
export type { ParseOptions, ParsedSpeech, TokenIssue } from './tokens';
export { ORPHEUS_EMOTION_TAGS, buildOrpheusPrompt, buildOrpheusSequence, orpheusPromptText } from './processor';
export type { OrpheusExampleInput, OrpheusSequence, TextEncoder } from './processor';
export {
  MIN_REPETITION_PENALTY, ORPHEUS_FRAME_SAMPLES, ORPHEUS_PRESET, ORPHEUS_SAMPLE_RATE, OrpheusStreamDecoder,
  checkOrpheusSampling, generateOrpheusSpeech,
} from './generation';
export type { OrpheusGenerateOptions, StreamDecodeOptions } from './generation';
export { snacAsAudioCodec } from './codec';
