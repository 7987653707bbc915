/**
 * CSM generation as transformers' CsmGenerationMixin._sample: per frame, the backbone picks
 * codebook 0 from `lm_head` at its last state; the depth decoder, started fresh from
 * `[h, c0]`, picks codebooks 1..n-1 one at a time (its own sampling options); the frame's
 * summed embedding is fed back to the backbone. A row stops at a frame whose codebooks
 * 0..n-2 are all `codebookEosTokenId` (that frame is not returned) or at its maxNewFrames.
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/csm/generation_csm.py
 */
import * as tf from '@tensorflow/tfjs';
import { positionIdsFromMask } from '../common/attention';
import { Rng } from '../../generate/rng';
import { selectToken, validateSamplingOptions } from '../../generate/sampling';
import type { SamplingOptions } from '../../generate/sampling';
import type { CsmForConditionalGeneration, CsmInput } from './modeling';

export interface CsmGenerateOptions {
  /**
   * Frames to generate at most, per row or for all. Default: the prompt's own
   * `maxNewFrames` (the processor derives it from the text, see `defaultMaxNewFrames`).
   */
  maxNewFrames?: number | number[];
  /** Codebook 0 (backbone). Default: the workshop's temperature 0.8, top-k 50. */
  backbone?: SamplingOptions;
  /** Codebooks 1.. (depth decoder), HF `depth_decoder_*`. Default: temperature 0.6, top-p 0.9. */
  depthDecoder?: SamplingOptions;
  /** Seeds the sampler (ttslab's generator: reproducible in ttslab, not equal to torch's draws). */
  seed?: number;
  /**
   * Per row, frames `[frames][codebooks]` of the turn being generated that the prompt already
   * ends with as `<|AUDIO|>` positions (a continued generation, `CsmTts.continueGeneration`).
   * Their codebook-0 codes start the history a repetition penalty sees, so a continuation
   * samples as if it had made them itself. Default: none.
   */
  prefixFrames?: number[][][];
}

/** The workshop's evaluation settings (REFERENCE.md). */
export const WORKSHOP_BACKBONE_SAMPLING: SamplingOptions = { doSample: true, temperature: 0.8, topK: 50 };
export const WORKSHOP_DEPTH_SAMPLING: SamplingOptions = { doSample: true, temperature: 0.6, topP: 0.9 };

export interface CsmGenerateOutput {
  /** `[batch][frames][codebooks]`: the generated frames of each row, the end frame excluded. */
  frames: number[][][];
  /** Per row: true when it ended on the all-zero frame, false when it hit maxNewFrames. */
  stopped: boolean[];
}

/**
 * Generates audio codes for a left-padded batch (`CsmProcessor.prompt`). Finished rows keep
 * being computed with their own frames (as transformers) until every row is done; their
 * extra frames are dropped.
 */
export async function generateFrames(
  model: CsmForConditionalGeneration,
  prompt: CsmInput & { maxNewFrames?: number[] },
  options: CsmGenerateOptions = {},
): Promise<CsmGenerateOutput> {
  const c = model.config;
  const nc = c.numCodebooks;
  const batch = prompt.inputIds.length;
  const backboneOpts = options.backbone ?? WORKSHOP_BACKBONE_SAMPLING;
  const depthOpts = options.depthDecoder ?? WORKSHOP_DEPTH_SAMPLING;
  validateSamplingOptions(backboneOpts);
  validateSamplingOptions(depthOpts);
  const m = options.maxNewFrames ?? prompt.maxNewFrames;
  if (m === undefined) throw new Error('maxNewFrames is required when the prompt carries none');
  const maxFrames = typeof m === 'number' ? new Array(batch).fill(m) : m;
  if (maxFrames.length !== batch || maxFrames.some((x) => !(Number.isInteger(x) && x >= 1))) {
    throw new Error(`maxNewFrames must be an integer >= 1 per row, got ${JSON.stringify(m)}`);
  }
  const longest = Math.max(...maxFrames);
  const seq = prompt.inputIds[0].length;
  const limit = c.backbone.maxPositionEmbeddings;
  if (seq + longest > limit) {
    throw new Error(`prompt (${seq}) + maxNewFrames (${longest}) exceeds the backbone's max_position_embeddings ${limit}`);
  }
  const rng = new Rng(options.seed ?? 0);
  const mask = (prompt.attentionMask ?? prompt.inputIds.map((r) => r.map(() => 1))).map((r) => [...r]);
  const frames: number[][][] = Array.from({ length: batch }, () => []);
  const done = new Array<boolean>(batch).fill(false);
  const stopped = new Array<boolean>(batch).fill(false);
  const cache = model.createCache();
  if (options.prefixFrames !== undefined && options.prefixFrames.length !== batch) {
    throw new Error(`prefixFrames has ${options.prefixFrames.length} rows, the prompt ${batch}`);
  }
  const c0History: number[][] = Array.from({ length: batch }, (_, b) => (options.prefixFrames?.[b] ?? []).map((f) => f[0]!));
  try {
    // Prefill: the whole prompt; positions from the mask, as generate computes them for left padding.
    let last = tf.tidy(() => {
      const embeds = model.embedInputs(prompt.inputIds, prompt.audioCodes);
      const h = model.backbone_model.model.forward(embeds, { attentionMask: mask, positionIds: positionIdsFromMask(mask, seq), cache });
      return h.slice([0, seq - 1, 0], [batch, 1, -1]).reshape([batch, -1]) as tf.Tensor2D; // [batch, hidden]
    });
    for (let step = 0; step < longest; step++) {
      const frame = await sampleFrame(model, last, c0History, backboneOpts, depthOpts, rng); // [batch][nc]
      for (let b = 0; b < batch; b++) {
        if (done[b]) continue;
        if (frame[b].slice(0, nc - 1).every((x) => x === c.codebookEosTokenId)) {
          done[b] = true;
          stopped[b] = true;
          continue;
        }
        frames[b].push(frame[b]);
        if (frames[b].length >= maxFrames[b]) done[b] = true;
      }
      if (done.every(Boolean)) break;
      for (const r of mask) r.push(1);
      const next = tf.tidy(() => {
        const e = model.embedFrames(frame); // [batch, 1, hidden]
        const pos = positionIdsFromMask(mask, 1);
        const h = model.backbone_model.model.forward(e, { attentionMask: mask, positionIds: pos, cache });
        return h.reshape([batch, -1]) as tf.Tensor2D;
      });
      last.dispose();
      last = next;
    }
    last.dispose();
  } finally {
    cache.dispose();
  }
  return { frames, stopped };
}

/** One frame per row from the backbone's last state `h` `[batch, hidden]` (not disposed). */
async function sampleFrame(
  model: CsmForConditionalGeneration, h: tf.Tensor2D, c0History: number[][],
  backboneOpts: SamplingOptions, depthOpts: SamplingOptions, rng: Rng,
): Promise<number[][]> {
  const c = model.config;
  const nc = c.numCodebooks;
  const V = c.audioVocabSize;
  const batch = h.shape[0];
  const logits0 = tf.tidy(() => model.lm_head.apply(h) as tf.Tensor2D); // [batch, V]
  const d0 = (await logits0.data()) as Float32Array;
  logits0.dispose();
  const codes: number[][] = [];
  for (let b = 0; b < batch; b++) {
    // Repetition penalty (if asked for) sees this row's earlier codebook-0 codes.
    const c0 = selectToken(d0.slice(b * V, (b + 1) * V), c0History[b], backboneOpts, rng);
    c0History[b].push(c0);
    codes.push([c0]);
  }
  const dd = model.depth_decoder;
  const cache = dd.model.createCache();
  try {
    // Position 0: the backbone state; position 1: c0 (offset 0). Then c_k at position k + 1.
    let inputs = tf.tidy(() => tf.concat([h.expandDims(1), dd.embedCodes(codes, 1)], 1) as tf.Tensor3D); // [batch, 2, Hb]
    for (let k = 1; k < nc; k++) {
      const logits = tf.tidy(() => {
        const hs = dd.forward(inputs, cache); // [batch, n, Hd]
        const n = hs.shape[1];
        return dd.headLogits(hs.slice([0, n - 1, 0], [batch, 1, -1]), k).reshape([batch, V]); // codebook k
      });
      inputs.dispose();
      const d = (await logits.data()) as Float32Array;
      logits.dispose();
      for (let b = 0; b < batch; b++) {
        // HF's depth decoder input_ids so far: [0, c0, .., c_{k-1}].
        codes[b].push(selectToken(d.slice(b * V, (b + 1) * V), [0, ...codes[b]], depthOpts, rng));
      }
      if (k === nc - 1) break;
      inputs = dd.embedCodes(codes.map((r) => [r[k]]), k + 1); // [batch, 1, Hb]
    }
  } finally {
    cache.dispose();
  }
  return codes;
}
