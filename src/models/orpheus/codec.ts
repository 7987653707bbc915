/**
 * SNAC 24 kHz as the `AudioCodec` of src/models/types.ts: one frame = 2048 samples = the 7
 * codes of an Orpheus frame, in token order `[L0[i], L1[2i], L2[4i], L2[4i+1], L1[2i+1],
 * L2[4i+2], L2[4i+3]]` (raw codes 0..codebookSize-1 = 0..4095, no token offsets): `Codes`
 * `[frames][7]`, so "codebook" k of the AudioCodec contract is frame position k (levels
 * 0, 1, 2, 2, 1, 2, 2). `OrpheusTts` turns these codes into tokens with `framesToTokens`.
 */
import type { AudioCodec, Codes } from '../types';
import type { SnacModel, SnacNoise } from '../snac/modeling';
import { TOKENS_PER_FRAME, framesToSnac, snacToFrames } from './tokens';
import { ORPHEUS_FRAME_SAMPLES } from './generation';

/**
 * `id` names the codec and its weights (e.g. `"snac:hubertsiuzdak/snac_24khz@<revision>"`),
 * the tokenization cache key. Decoding uses `noise` (default `{ seed: 0 }`, deterministic).
 */
export function snacAsAudioCodec(snac: SnacModel, id: string, noise: SnacNoise = { seed: 0 }): AudioCodec {
  const c = snac.config;
  if (c.vqStrides.length !== 3 || c.vqStrides[0] * snac.hopLength !== ORPHEUS_FRAME_SAMPLES || c.attnWindowSize !== null) {
    throw new Error(`snacAsAudioCodec needs the SNAC 24 kHz layout (3 levels, 2048 samples per frame), got vq_strides ${JSON.stringify(c.vqStrides)}, hop ${snac.hopLength}`);
  }
  return {
    id,
    sampleRate: c.samplingRate,
    frameSamples: ORPHEUS_FRAME_SAMPLES,
    numCodebooks: TOKENS_PER_FRAME,
    async encode(samples: Float32Array): Promise<Codes> {
      return snacToFrames(await snac.encode(samples));
    },
    async decode(codes: Codes): Promise<Float32Array> {
      return snac.decode(framesToSnac(codes, c.codebookSize), { noise });
    },
  };
}
