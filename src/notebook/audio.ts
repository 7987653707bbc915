/**
 * Audio players in notebooks: `showAudio` embeds the WAV in an HTML `<audio>` element,
 * so the notebook plays it with no server and a saved notebook still plays it.
 */
import { encodeWav, type AudioData } from '../audio/wav';
import { display, escapeHtml, type MimeBundle } from './display';

export interface AudioOptions {
  /** Caption above the player. */
  title?: string;
  /**
   * Scale so the peak is at -1 dBFS before encoding. Off by default: a listening
   * comparison must play what the model produced, not a louder version of it.
   */
  normalize?: boolean;
}

/** Samples (mono) and a rate, or decoded audio. */
export type AudioInput = AudioData | { samples: Float32Array; sampleRate: number };

function toAudioData(input: AudioInput | Float32Array, sampleRate?: number): AudioData {
  if (input instanceof Float32Array) {
    if (sampleRate === undefined) throw new TypeError('showAudio(samples, sampleRate): sampleRate (Hz) is required with raw samples');
    return { sampleRate, channels: [input] };
  }
  if ('samples' in input) return { sampleRate: input.sampleRate, channels: [input.samples] };
  return input;
}

/** The HTML of a player (used by `showAudio` and by listening grids). */
export function audioHtml(input: AudioInput | Float32Array, sampleRate?: number, options: AudioOptions = {}): string {
  let audio = toAudioData(input, sampleRate);
  if (options.normalize) {
    let peak = 0;
    for (const ch of audio.channels) for (const v of ch) peak = Math.max(peak, Math.abs(v));
    const gain = peak > 0 ? 0.891 / peak : 1; // 0.891 = -1 dBFS
    audio = { sampleRate: audio.sampleRate, channels: audio.channels.map((ch) => ch.map((v) => v * gain)) };
  }
  const { bytes, report } = encodeWav(audio);
  const seconds = audio.channels[0]!.length / audio.sampleRate;
  const notes = [`${seconds.toFixed(2)} s`, `${audio.sampleRate} Hz`];
  if (options.normalize) notes.push('peak-normalised');
  if (report.clippedSamples > 0) notes.push(`${report.clippedSamples} samples clipped to ±1`);
  const title = options.title ? `<b>${escapeHtml(options.title)}</b> ` : '';
  return (
    `<div class="ttslab-audio">${title}<span style="color:#666;font-size:12px">${escapeHtml(notes.join(' · '))}</span><br>` +
    `<audio controls preload="auto" src="data:audio/wav;base64,${bytes.toString('base64')}"></audio></div>`
  );
}

export function audioBundle(input: AudioInput | Float32Array, sampleRate?: number, options: AudioOptions = {}): MimeBundle {
  const audio = toAudioData(input, sampleRate);
  const seconds = audio.channels[0]!.length / audio.sampleRate;
  return {
    'text/html': audioHtml(audio, undefined, options),
    'text/plain': `<audio${options.title ? ` "${options.title}"` : ''}: ${seconds.toFixed(2)} s at ${audio.sampleRate} Hz>`,
  };
}

/**
 * Shows an audio player. `showAudio(samples, 24000)` or `showAudio({samples, sampleRate})`.
 * Throws on NaN/Inf samples (naming the index) rather than playing noise.
 */
export function showAudio(input: AudioInput | Float32Array, sampleRate?: number, options: AudioOptions = {}): void {
  display(audioBundle(input, sampleRate, options));
}
