/** XCodec2 (16 kHz, one FSQ codebook of 65536 codes at 50 Hz): config, FSQ, the decoder. The encoder is not ported yet. */
export {
  XCODEC2_DEFAULT_CONFIG, validateXcodec2Config, xcodec2CodebookSize, xcodec2ConfigFromHf, xcodec2HopLength, xcodec2NFft,
} from './config';
export type { Xcodec2Config } from './config';
export { Xcodec2Decoder, fsqCodebookRows, fsqIndices, xcodec2DecoderWeightShapes } from './modeling';
export type { Xcodec2LoadOptions, Xcodec2PretrainedOptions } from './modeling';
