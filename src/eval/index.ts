/** Evaluation (06, 07): the listening comparison, its grid, spectrograms and waveforms of clips, verifiers, search with verifiers, the evaluation report. */
export {
  DEFAULT_METRICS, DEFAULT_SYSTEMS, buildListeningComparison, generateComparison, metricMeans, runFolder,
  type ComparisonPrompt, type ComparisonSystem, type GenerateComparisonOptions,
  type EvalAudio, type ListeningCell, type ListeningComparison, type ListeningManifest, type ListeningOptions, type ListeningPrompt,
  type ListeningRow, type ManifestEntry, type Metric, type SystemColumn, type Verifier,
} from './listening';
export { listeningGridBundle, listeningGridHtml, listeningGridText, showListeningGrid, type GridOptions } from './grid';
export { spectrogramDb, spectrogramPng, waveformSvg, type Spectrogram, type SpectrogramOptions } from './spectrogram';
export { normalizeEnglish, cardinalWords } from './normalize';
export { alignTokens, wordErrorRate, corpusWordErrorRate, charErrorRate, corpusCharErrorRate, formatAlignment,
  type AlignmentOp, type ErrorCounts, type UtteranceWer, type CorpusWer, type WerOptions } from './wer';
export { asrVerifier, speakerVerifier, type AsrVerifierOptions, type SpeakerVerifierOptions, type AsrRecord,
  type SpeakerRecord, type ModelVerifier } from './verifiers';
export {
  bestOfN, beamSearch, plainSample, searchSpeech, searchScore, describeSearch, validateSearchConfig, EmptyGenerationError,
  embeddingSpeakerVerifier, meanEmbedding, longTermSpectrum, spectralSpeakerVerifier,
  type SearchModel, type SearchVerifiers, type ScoreWeights, type ClipMeasures, type SearchCompute, type SearchCandidate,
  type BeamRound, type SearchResult, type SearchStrategy, type BestOfNOptions, type BeamSearchOptions, type SearchConfig,
  type EmbeddingSpeakerVerifierOptions,
} from './search';
export {
  evaluateSystems, baseAndFinetunedSystems, reportMarkdown, reportTableRows, showEvaluationReport, showSearchResult, computeRow,
  type EvalItem, type ReportSystem, type RoleVerifiers, type EvaluationOptions, type ReportRow, type ComputeTotals,
  type SystemSummary, type EvaluationReport, type WrittenReport, type AdapterSwitchableModel,
} from './report';
export {
  yinPitch, medianF0, pooledF0, medianOfFinite, resolvePitchOptions, PitchError, DEFAULT_PITCH_OPTIONS,
  type PitchOptions, type PitchTrack, type F0Summary,
} from './pitch';
