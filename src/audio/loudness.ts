/**
 * Loudness measurement (ITU-R BS.1770-4 integrated loudness, LUFS) and normalisation.
 *
 * K-weighting is the standard's two biquads (a high shelf of +4 dB above ~1.7 kHz and a
 * high-pass at 38 Hz); gating follows
 * BS.1770-4 section 2: 400 ms blocks every 100 ms, an absolute gate at -70 LUFS, then a
 * relative gate 10 LU below the mean of the blocks that passed.
 */
import type { AudioData } from './wav';

interface Biquad {
  b: [number, number, number];
  a: [number, number];
}

function kWeighting(sampleRate: number): Biquad[] {
  // The analog prototypes behind BS.1770's 48 kHz coefficients, mapped to any rate by
  // the bilinear transform (libebur128, ebur128.c). At 48 kHz this reproduces the
  // standard's table to 1e-15.
  const shelfHz = 1681.974450955533;
  const shelfGainDb = 3.999843853973347;
  const shelfQ = 0.7071752369554196;
  let K = Math.tan((Math.PI * shelfHz) / sampleRate);
  const Vh = 10 ** (shelfGainDb / 20);
  const Vb = Vh ** 0.4996667741545416;
  let a0 = 1 + K / shelfQ + K * K;
  const shelf: Biquad = {
    b: [(Vh + (Vb * K) / shelfQ + K * K) / a0, (2 * (K * K - Vh)) / a0, (Vh - (Vb * K) / shelfQ + K * K) / a0],
    a: [(2 * (K * K - 1)) / a0, (1 - K / shelfQ + K * K) / a0],
  };
  const highpassHz = 38.13547087602444;
  const highpassQ = 0.5003270373238773;
  K = Math.tan((Math.PI * highpassHz) / sampleRate);
  a0 = 1 + K / highpassQ + K * K;
  const highpass: Biquad = { b: [1, -2, 1], a: [(2 * (K * K - 1)) / a0, (1 - K / highpassQ + K * K) / a0] };
  return [shelf, highpass];
}

function filter(x: Float32Array, { b, a }: Biquad): Float64Array {
  const y = new Float64Array(x.length);
  let x1 = 0, x2 = 0, y1 = 0, y2 = 0;
  for (let i = 0; i < x.length; i++) {
    const xi = x[i]!;
    const yi = b[0] * xi + b[1] * x1 + b[2] * x2 - a[0] * y1 - a[1] * y2;
    y[i] = yi;
    x2 = x1; x1 = xi; y2 = y1; y1 = yi;
  }
  return y;
}

const ABSOLUTE_GATE_LUFS = -70;
const RELATIVE_GATE_LU = -10;
const BLOCK_SECONDS = 0.4;
const STEP_SECONDS = 0.1; // 75 % overlap

/**
 * Integrated loudness in LUFS of all channels (each with weight 1, as for L, R and C).
 * `-Infinity` when every block is below the absolute gate (silence) or the audio is
 * shorter than one 400 ms block.
 */
export function integratedLoudness(audio: AudioData): number {
  const sr = audio.sampleRate;
  const blockSamples = Math.round(BLOCK_SECONDS * sr);
  const stepSamples = Math.round(STEP_SECONDS * sr);
  const n = audio.channels[0]?.length ?? 0;
  if (n < blockSamples) return -Infinity;
  const filters = kWeighting(sr);
  // Per channel, the prefix sum of the K-weighted squares, so each block's mean square is
  // one subtraction.
  const prefixes = audio.channels.map((ch) => {
    const y = filter(Float32Array.from(filter(ch, filters[0]!)), filters[1]!);
    const prefix = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i]! + y[i]! * y[i]!;
    return prefix;
  });
  const blocks: number[] = [];
  for (let start = 0; start + blockSamples <= n; start += stepSamples) {
    let z = 0;
    for (const p of prefixes) z += (p[start + blockSamples]! - p[start]!) / blockSamples;
    blocks.push(z);
  }
  const lufs = (z: number) => -0.691 + 10 * Math.log10(z);
  const mean = (zs: number[]) => zs.reduce((s, z) => s + z, 0) / zs.length;
  const absGated = blocks.filter((z) => lufs(z) > ABSOLUTE_GATE_LUFS);
  if (absGated.length === 0) return -Infinity;
  const relativeGate = lufs(mean(absGated)) + RELATIVE_GATE_LU;
  const gated = absGated.filter((z) => lufs(z) > relativeGate);
  return lufs(mean(gated));
}

/** Largest absolute sample value, in dBFS (`-Infinity` for digital silence). */
export function peakDb(audio: AudioData): number {
  let peak = 0;
  for (const ch of audio.channels) for (let i = 0; i < ch.length; i++) peak = Math.max(peak, Math.abs(ch[i]!));
  return 20 * Math.log10(peak);
}

export interface NormalizeOptions {
  /**
   * Target integrated loudness (default -23 LUFS, EBU R128's broadcast level: leaves
   * headroom for speech peaks, and is the level most TTS corpora sit near).
   */
  targetLufs?: number;
  /** Highest peak allowed after the gain (default -1 dBFS); the gain is lowered to respect it. */
  peakLimitDb?: number;
  /** Names the audio in errors. */
  source?: string;
}

export interface NormalizeResult {
  audio: AudioData;
  /** Loudness before (LUFS). */
  loudnessLufs: number;
  /** Gain applied (dB). */
  gainDb: number;
  /** True when the peak limit, not the loudness target, set the gain. */
  peakLimited: boolean;
}

/**
 * Scales audio to a target loudness with one gain (no compression). Throws for audio
 * whose loudness cannot be measured (silence, or shorter than 400 ms).
 */
export function normalizeLoudness(audio: AudioData, options: NormalizeOptions = {}): NormalizeResult {
  const target = options.targetLufs ?? -23;
  const peakLimit = options.peakLimitDb ?? -1;
  const loudnessLufs = integratedLoudness(audio);
  if (!Number.isFinite(loudnessLufs)) {
    throw new RangeError(`${options.source ?? '<audio>'}: cannot normalise loudness: the audio is silent or shorter than ${BLOCK_SECONDS} s`);
  }
  let gainDb = target - loudnessLufs;
  const peak = peakDb(audio);
  const peakLimited = peak + gainDb > peakLimit;
  if (peakLimited) gainDb = peakLimit - peak;
  const k = 10 ** (gainDb / 20);
  const channels = audio.channels.map((ch) => ch.map((v) => v * k));
  return { audio: { sampleRate: audio.sampleRate, channels }, loudnessLufs, gainDb, peakLimited };
}
