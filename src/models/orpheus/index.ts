/** Orpheus-3B (Llama-3B + SNAC 24 kHz): token layout, sequences, generation, streaming decode, the notebooks' model. */
export {
  CODEBOOK_SIZE, ORPHEUS_IDS, ORPHEUS_LAYOUT, POSITION_LEVEL, TOKENISER_LENGTH, TOKENS_PER_FRAME, audioPosition, framesToSnac,
  framesToTokens, layoutVocabSize, orpheusLayout, parseSpeechTokens, positionRange, removeDuplicateFrames, snacToFrames, snacToTokens,
} from './tokens';
export type { OrpheusLayout, ParseOptions, ParsedSpeech, TokenIssue } from './tokens';
export { ORPHEUS_EMOTION_TAGS, buildOrpheusCloningPrompt, buildOrpheusPrompt, buildOrpheusSequence, orpheusPromptText } from './processor';
export type { OrpheusContextTurn, OrpheusExampleInput, OrpheusSequence, TextEncoder } from './processor';
export {
  FrameConstrainedLM, MIN_REPETITION_PENALTY, ORPHEUS_FRAME_SAMPLES, ORPHEUS_LORA_TRAIN, ORPHEUS_PRESET, ORPHEUS_SAMPLE_RATE,
  ORPHEUS_TTS_SAMPLING, OrpheusStreamDecoder, allowedAfter, checkOrpheusSampling, generateOrpheusSpeech,
} from './generation';
export type { OrpheusGenerateOptions, StreamDecodeOptions } from './generation';
export { snacAsAudioCodec } from './codec';
export { OrpheusTts, ORPHEUS_DEFAULT_MAX_FRAMES } from './tts';
export type { OrpheusGeneration, OrpheusTtsOptions } from './tts';
export {
  TINY_ORPHEUS_CODEBOOK_SIZE, TINY_ORPHEUS_LAYOUT, TINY_ORPHEUS_VOCAB_SIZE, TINY_RANDOM_ORPHEUS, TINY_RANDOM_ORPHEUS_WARNING, TINY_SNAC_CONFIG,
  randomSnacWeights, snacWeightShapes, tinyOrpheusConfig, tinyOrpheusTokenizer, tinyRandomOrpheus, tinyRandomOrpheusLm, tinyRandomSnac,
} from './tiny';
