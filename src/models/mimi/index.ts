/** Mimi, the neural audio codec of CSM and Moshi: 24 kHz audio <-> 12.5 Hz frames of up to 32 codes. */
export {
  MIMI_DEFAULT_CONFIG, DOWNSAMPLE_STRIDE, encoderHopSamples, encodecFrameRate, frameRate, frameSamples, framesForSamples,
  mimiConfigFromHf, validateMimiConfig,
} from './config';
export type { MimiConfig } from './config';
export {
  MimiModel, MimiLinear, MimiResnetBlock, SeanetStack, MimiTransformer, MimiTransformerLayer, WindowedKVCache, MimiCodebook,
  MimiResidualVectorQuantizer, MimiSplitResidualVectorQuantizer, MIMI_IGNORED_KEYS, slidingWindowMask, disposeEncodeState,
} from './modeling';
export type {
  MimiCodes, MimiAudioCodec, MimiAudioInput, MimiEncodeOptions, MimiDecodeOptions, MimiLoadOptions, MimiEncodeState, SeanetState,
} from './modeling';
