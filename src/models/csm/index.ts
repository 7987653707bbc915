/** CSM (transformers' CsmForConditionalGeneration): config, model, processor, generation. */
export { fromHfConfig, loadCsmConfig, validateCsmConfig } from './config';
export type { CsmConfig, CsmDepthDecoderConfig } from './config';
export {
  BACKBONE_ONLY_INDEX, CsmBackbone, CsmDecoder, CsmDepthDecoder, CsmForConditionalGeneration, csmWeightShapes, validateCodes,
} from './modeling';
export type { CsmInput, CsmLossOutput } from './modeling';
export type { AudioCodec, CsmCodedTurn, CsmTurn, TurnAudio } from './types';
