/**
 * Silence detection and trimming by short-frame RMS level.
 */
import type { AudioData } from './wav';

export interface SilenceOptions {
  /** A frame counts as silent below this RMS level (dBFS, default -50). */
  thresholdDb?: number;
  /** Frame length for the RMS (seconds, default 0.02). */
  frameSeconds?: number;
  /** Silence kept before the first and after the last loud frame (seconds, default 0.1). */
  padSeconds?: number;
  /** Names the audio in errors. */
  source?: string;
}

export interface TrimResult {
  audio: AudioData;
  /** First kept sample of the input. */
  startSample: number;
  /** One past the last kept sample of the input. */
  endSample: number;
}

/** RMS level in dBFS of each frame of the channel mean. */
export function frameLevelsDb(audio: AudioData, frameSeconds = 0.02): Float32Array {
  const frame = Math.max(1, Math.round(frameSeconds * audio.sampleRate));
  const n = audio.channels[0]?.length ?? 0;
  const out = new Float32Array(Math.ceil(n / frame));
  for (let f = 0; f < out.length; f++) {
    let sum = 0;
    const end = Math.min(n, (f + 1) * frame);
    for (let i = f * frame; i < end; i++) {
      let v = 0;
      for (const ch of audio.channels) v += ch[i]!;
      v /= audio.channels.length;
      sum += v * v;
    }
    out[f] = 10 * Math.log10(sum / (end - f * frame));
  }
  return out;
}

export class SilenceError extends RangeError {
  constructor(readonly source: string, readonly loudestFrameDb: number, readonly thresholdDb: number) {
    super(`${source}: silence only: the loudest frame is at ${loudestFrameDb === -Infinity ? '-inf' : loudestFrameDb.toFixed(1)} dBFS, below the ${thresholdDb} dBFS threshold`);
    this.name = 'SilenceError';
  }
}

/**
 * Cuts leading and trailing silence, keeping `padSeconds` on each side. Throws
 * `SilenceError` naming the source when no frame is above the threshold.
 */
export function trimSilence(audio: AudioData, options: SilenceOptions = {}): TrimResult {
  const thresholdDb = options.thresholdDb ?? -50;
  const frameSeconds = options.frameSeconds ?? 0.02;
  const frame = Math.max(1, Math.round(frameSeconds * audio.sampleRate));
  const levels = frameLevelsDb(audio, frameSeconds);
  let first = -1;
  let last = -1;
  let loudest = -Infinity;
  levels.forEach((db, f) => {
    loudest = Math.max(loudest, db);
    if (db > thresholdDb) {
      if (first < 0) first = f;
      last = f;
    }
  });
  if (first < 0) throw new SilenceError(options.source ?? '<audio>', loudest, thresholdDb);
  const n = audio.channels[0]!.length;
  const pad = Math.round((options.padSeconds ?? 0.1) * audio.sampleRate);
  const startSample = Math.max(0, first * frame - pad);
  const endSample = Math.min(n, (last + 1) * frame + pad);
  return {
    audio: { sampleRate: audio.sampleRate, channels: audio.channels.map((ch) => ch.subarray(startSample, endSample)) },
    startSample,
    endSample,
  };
}

/** Throws `SilenceError` when the audio holds no frame above the threshold. */
export function assertNotSilent(audio: AudioData, options: SilenceOptions = {}): void {
  trimSilence(audio, options);
}
