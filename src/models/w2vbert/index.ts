/** w2v-BERT 2.0 (facebook/w2v-bert-2.0): the SeamlessM4T fbank front end and the conformer encoder stack (XCodec2's semantic model). */
export { W2VBERT_DEFAULT_CONFIG, validateW2vBertConfig, w2vBertConfigFromHf } from './config';
export type { W2vBertConfig } from './config';
export {
  FBANK_FFT_LENGTH, FBANK_FRAME_LENGTH, FBANK_HOP_LENGTH, FBANK_MEL_BINS, FBANK_STRIDE, W2VBERT_FEATURE_DIM, W2VBERT_SAMPLE_RATE,
  kaldiFbank, kaldiMelFilters, poveyWindow, w2vBertFeatures,
} from './feature_extraction';
export type { W2vBertFeatureOptions, W2vBertFeatures } from './feature_extraction';
export { W2vBertModel, randomW2vBertTensors, w2vBertWeightShapes } from './modeling';
export type { W2vBertLoadOptions } from './modeling';
