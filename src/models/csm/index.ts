/** CSM (transformers' CsmForConditionalGeneration): config, model, processor, generation. */
export { fromHfConfig, loadCsmConfig, validateCsmConfig } from './config';
export type { CsmConfig, CsmDepthDecoderConfig } from './config';
export {
  BACKBONE_ONLY_INDEX, CsmBackbone, CsmDecoder, CsmDepthDecoder, CsmForConditionalGeneration, csmWeightShapes, validateCodes,
} from './modeling';
export type { CsmInput, CsmLossOutput } from './modeling';
export type { AudioCodec, CsmCodedTurn, CsmTurn, TurnAudio } from './types';
export {
  CHARS_PER_SECOND, CSM_FRAME_RATE_HZ, CSM_FRAME_SAMPLES, CSM_SAMPLE_RATE, CsmProcessor, defaultMaxNewFrames, encodeTurnAudio,
  framesForSamples,
} from './processor';
export type { CsmBatch, CsmLabelOptions, CsmProcessorOptions } from './processor';
export { WORKSHOP_BACKBONE_SAMPLING, WORKSHOP_DEPTH_SAMPLING, generateFrames } from './generation';
export type { CsmGenerateOptions, CsmGenerateOutput } from './generation';
