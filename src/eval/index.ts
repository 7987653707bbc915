/** Evaluation (06): the listening comparison, its grid, spectrograms and waveforms of clips. */
export {
  DEFAULT_METRICS, DEFAULT_SYSTEMS, buildListeningComparison, generateComparison, metricMeans, runFolder,
  type ComparisonPrompt, type ComparisonSystem, type GenerateComparisonOptions,
  type EvalAudio, type ListeningCell, type ListeningComparison, type ListeningManifest, type ListeningOptions, type ListeningPrompt,
  type ListeningRow, type ManifestEntry, type Metric, type SystemColumn, type Verifier,
} from './listening';
export { listeningGridBundle, listeningGridHtml, listeningGridText, showListeningGrid, type GridOptions } from './grid';
export { spectrogramDb, spectrogramPng, waveformSvg, type Spectrogram, type SpectrogramOptions } from './spectrogram';
