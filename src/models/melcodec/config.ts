/**
 * Configuration of the ttslab-mini codec ("ttslab_mel_rvq"): a DSP + learned tokenizer (log-mel
 * analysis, PCA + residual VQ learned on the mini corpus, Griffin-Lim synthesis). The reference
 * implementation and its training are scripts/mini/melcodec.py; the keys here are its
 * `MelCodecConfig` fields, camelCased, read from a checkpoint's `codec_config` (snake_case).
 */

export const MEL_CODEC_MODEL_TYPE = 'ttslab_mel_rvq';

export interface MelCodecConfig {
  /** Audio rate in Hz the codec reads and writes (24000). */
  samplingRate: number;
  /** STFT size in samples (1024 = 42.7 ms at 24 kHz). */
  nFft: number;
  /** Samples between STFT frames (240 = 10 ms). */
  hopLength: number;
  /** Mel bands (80), HTK mel scale, triangles of peak 1. */
  nMels: number;
  /** Lowest and highest band edge in Hz (0, 12000). */
  fMin: number;
  fMax: number;
  /** Natural-log mel values are clamped below at this (-8). */
  logFloor: number;
  /** 10 ms mel frames per code frame (8 -> 80 ms frames, 12.5 Hz). */
  framesPerCode: number;
  /** PCA dimensions a patch is projected to before quantisation (128). */
  dim: number;
  /** Residual VQ stages = codebooks per frame (32). */
  numCodebooks: number;
  /** Codes per codebook (1024). */
  codebookSize: number;
  /** Griffin-Lim iterations of `decode` (32). */
  glIters: number;
  /** Fast Griffin-Lim momentum (0.99). */
  glMomentum: number;
}

const KEYS: Array<[keyof MelCodecConfig, string, 'int' | 'num']> = [
  ['samplingRate', 'sampling_rate', 'int'], ['nFft', 'n_fft', 'int'], ['hopLength', 'hop_length', 'int'],
  ['nMels', 'n_mels', 'int'], ['fMin', 'f_min', 'num'], ['fMax', 'f_max', 'num'], ['logFloor', 'log_floor', 'num'],
  ['framesPerCode', 'frames_per_code', 'int'], ['dim', 'dim', 'int'], ['numCodebooks', 'num_codebooks', 'int'],
  ['codebookSize', 'codebook_size', 'int'], ['glIters', 'gl_iters', 'int'], ['glMomentum', 'gl_momentum', 'num'],
];

/** Reads and validates a `codec_config` / config.json object; `where` names the file in errors. */
export function melCodecConfigFromHf(hf: Record<string, unknown>, where: string): MelCodecConfig {
  if (hf.model_type !== MEL_CODEC_MODEL_TYPE) {
    throw new Error(`${where}: codec model_type ${JSON.stringify(hf.model_type)} is not "${MEL_CODEC_MODEL_TYPE}"`);
  }
  const out: Partial<Record<keyof MelCodecConfig, number>> = {};
  for (const [key, hfKey, kind] of KEYS) {
    const v = hf[hfKey];
    if (typeof v !== 'number' || !Number.isFinite(v) || (kind === 'int' && !Number.isInteger(v))) {
      throw new Error(`${where}: ${hfKey} must be ${kind === 'int' ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`);
    }
    out[key] = v;
  }
  const c = out as MelCodecConfig;
  const positive: Array<keyof MelCodecConfig> = ['samplingRate', 'nFft', 'hopLength', 'nMels', 'framesPerCode', 'dim', 'numCodebooks', 'codebookSize'];
  for (const k of positive) if (c[k] <= 0) throw new Error(`${where}: ${k} must be > 0, got ${c[k]}`);
  if (c.glIters < 0) throw new Error(`${where}: gl_iters must be >= 0, got ${c.glIters}`);
  if (c.hopLength > c.nFft) throw new Error(`${where}: hop_length ${c.hopLength} exceeds n_fft ${c.nFft}`);
  if (!(c.fMin >= 0 && c.fMin < c.fMax && c.fMax <= c.samplingRate / 2)) {
    throw new Error(`${where}: need 0 <= f_min < f_max <= sampling_rate / 2, got ${c.fMin}, ${c.fMax}`);
  }
  if (c.dim > c.framesPerCode * c.nMels) throw new Error(`${where}: dim ${c.dim} exceeds the patch size ${c.framesPerCode * c.nMels}`);
  return c;
}

/** Samples per code frame (1920 = 80 ms at 24 kHz for 8 mel frames). */
export function melCodecFrameSamples(c: MelCodecConfig): number {
  return c.hopLength * c.framesPerCode;
}
