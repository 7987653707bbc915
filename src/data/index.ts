/** Data preparation: downloads, sentence splitting, chunking into clips, Parquet datasets, the work folder. */
export { downloadFile, ytDlpDownload, DownloadError, YTDLP_MISSING, type DownloadOptions, type DownloadResult, type YtDlpOptions } from './download';
export { splitSentences, endsSentence, ABBREVIATIONS } from './sentences';
export { chunkSegments, type Clip, type ChunkOptions, type ChunkResult, type Dropped, type DropReason } from './chunk';
export {
  buildRows, writeParquet, readParquet, saveDataset, recoverDataset, loadDataset, trainEvalSplit, datasetStats, durationHistogram, rowAudio, splitFile, HF_FEATURES, DatasetError,
  type DatasetRow, type AudioCell, type BuildOptions, type SplitOptions, type LoadOptions,
} from './dataset';
export { workspace, SAMPLE_TALK_DIR, type WorkArea } from './workspace';
export { aq, clipFrame, clipSummary, FAST_CHARS_PER_SECOND, type ColumnTable } from './frame';
