/**
 * Channel mixing and sample-exact slicing by time.
 */
import type { AudioData } from './wav';

/** Averages all channels into one (a mono file is returned as it is). */
export function toMono(audio: AudioData): AudioData {
  if (audio.channels.length === 1) return audio;
  const n = audio.channels[0]!.length;
  const out = new Float32Array(n);
  for (const ch of audio.channels) for (let i = 0; i < n; i++) out[i]! += ch[i]!;
  const k = 1 / audio.channels.length;
  for (let i = 0; i < n; i++) out[i]! *= k;
  return { sampleRate: audio.sampleRate, channels: [out] };
}

/**
 * The sample index of a time: `round(seconds * sampleRate)`. Rounding (not flooring)
 * makes consecutive slices `[a, b)`, `[b, c)` share their boundary sample index, so
 * clips cut from one recording neither overlap nor leave gaps.
 */
export function secondsToSamples(seconds: number, sampleRate: number): number {
  return Math.round(seconds * sampleRate);
}

/**
 * Samples `[round(startSeconds * rate), round(endSeconds * rate))` of every channel, as
 * views when possible (no copy). Throws when the range is empty or starts past the end;
 * an end past the audio's end is an error too unless it is within one sample (timestamps
 * are rounded to 10 ms or so, a recording's length is not).
 */
export function sliceSeconds(audio: AudioData, startSeconds: number, endSeconds: number, source = '<audio>'): AudioData {
  const n = audio.channels[0]?.length ?? 0;
  const durationSeconds = n / audio.sampleRate;
  if (!Number.isFinite(startSeconds) || !Number.isFinite(endSeconds) || startSeconds < 0 || endSeconds <= startSeconds) {
    throw new RangeError(`${source}: cannot slice [${startSeconds}, ${endSeconds}) s: need 0 <= start < end`);
  }
  const start = secondsToSamples(startSeconds, audio.sampleRate);
  let end = secondsToSamples(endSeconds, audio.sampleRate);
  if (start >= n) throw new RangeError(`${source}: slice start ${startSeconds} s is past the end of the audio (${durationSeconds.toFixed(3)} s)`);
  if (end > n) {
    if (endSeconds - durationSeconds > 0.5) {
      throw new RangeError(`${source}: slice end ${endSeconds} s is past the end of the audio (${durationSeconds.toFixed(3)} s)`);
    }
    // Transcript timestamps may overshoot a recording's length by a little (Whisper
    // rounds to 20 ms and often reports the window end); clamp those.
    end = n;
  }
  return { sampleRate: audio.sampleRate, channels: audio.channels.map((ch) => ch.subarray(start, end)) };
}

/** Concatenates mono or multi-channel audio of one rate. */
export function concatAudio(parts: AudioData[]): AudioData {
  if (parts.length === 0) throw new RangeError('concatAudio: nothing to concatenate');
  const { sampleRate } = parts[0]!;
  const nch = parts[0]!.channels.length;
  for (const p of parts) {
    if (p.sampleRate !== sampleRate) throw new RangeError(`concatAudio: rates differ (${sampleRate} Hz and ${p.sampleRate} Hz)`);
    if (p.channels.length !== nch) throw new RangeError(`concatAudio: channel counts differ (${nch} and ${p.channels.length})`);
  }
  const total = parts.reduce((s, p) => s + p.channels[0]!.length, 0);
  const channels = Array.from({ length: nch }, () => new Float32Array(total));
  let at = 0;
  for (const p of parts) {
    p.channels.forEach((ch, c) => channels[c]!.set(ch, at));
    at += p.channels[0]!.length;
  }
  return { sampleRate, channels };
}
