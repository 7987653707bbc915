/** Transcripts: one segment type, readers (openai-whisper JSON, HF pipeline chunks, SRT, VTT), writer, validation, correction. */
export { TranscriptError, transcriptText, type Segment, type Transcript, type Word } from './types';
export { parseWhisperJson, parseHfChunks, parseSrt, parseVtt, parseTimestamp, readTranscript, decodeUtf8, type HfChunkOptions } from './read';
export { writeTranscript, toWhisperJson } from './write';
export { validateSegments, validateTranscript, assertValid, type TranscriptWarning, type WarningKind, type ValidateOptions } from './validate';
export {
  applyRules, applyRulesToText, ruleRegExp, matchCase, parseRules, loadRules, loadGlossary, editDistance, soundex, phoneticKey, proposeCorrections, proposalsToRules,
  type CorrectionRule, type Change, type Proposal, type ProposeOptions,
} from './correct';
