/** XCodec2 (16 kHz, one FSQ codebook of 65536 codes at 50 Hz): config, FSQ, the encoder (w2v-BERT 2.0 + acoustic), the decoder, both as one codec. */
export {
  XCODEC2_DEFAULT_CONFIG, validateXcodec2Config, xcodec2CodebookSize, xcodec2ConfigFromHf, xcodec2HopLength, xcodec2NFft,
} from './config';
export type { Xcodec2Config } from './config';
export { Xcodec2Decoder, fsqCodebookRows, fsqIndices, xcodec2DecoderWeightShapes } from './modeling';
export type { Xcodec2LoadOptions, Xcodec2PretrainedOptions } from './modeling';
export { Xcodec2Encoder, kaiserSincFilter, xcodec2EncoderWeightShapes } from './encoder';
export type { Xcodec2EncodeTrace, Xcodec2EncoderLoadOptions } from './encoder';
export { Xcodec2Codec, xcodec2LayoutAliases } from './codec';
export type { Xcodec2CodecLoadOptions, Xcodec2CodecPretrainedOptions } from './codec';
export { XCODEC2_ORIGINAL_ROOTS, isOriginalXcodec2Layout, xcodec2FromOriginal } from './original';
