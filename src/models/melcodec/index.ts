/** The ttslab-mini codec (log-mel + PCA + residual VQ, Griffin-Lim): see codec.ts. */
export { MelRvqCodec } from './codec';
export { MEL_CODEC_MODEL_TYPE, melCodecConfigFromHf, melCodecFrameSamples } from './config';
export type { MelCodecConfig } from './config';
