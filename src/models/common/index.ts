/** Building blocks shared by every Llama-family decoder (Llama, CSM backbone and depth decoder, Orpheus, Llasa). */
export { Linear } from './linear';
export type { ApplyOptions, LinearLike } from './linear';
export { RMSNorm } from './rmsnorm';
export { ropeInvFreq, rotaryCosSin, rotateHalf, applyRotary } from './rotary';
export type { RopeScaling } from './rotary';
export { Attention, KVCache, MASK_VALUE, causalMask, positionIdsFromMask } from './attention';
export type { AttentionContext, AttentionShape } from './attention';
export { SwiGLU } from './mlp';
export { LayerNorm } from './layernorm';
export { gelu } from './activations';
export { CausalConv1d, CausalConvTranspose1d } from './conv';
export type { CausalPadMode, ConvStreamState, ConvTransposeStreamState } from './conv';
