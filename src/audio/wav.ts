/**
 * WAV encoding and decoding (node-wav), with the checks node-wav leaves out.
 */
import * as wav from 'node-wav';

/** Mono or multi-channel audio: `channels[c][i]` is sample i of channel c, in [-1, 1]. */
export interface AudioData {
  /** Samples per second (Hz). */
  sampleRate: number;
  channels: Float32Array[];
}

export interface EncodeWavOptions {
  /** 16-bit PCM (default, half the size) or 32-bit float (lossless for our float32). */
  format?: 'pcm16' | 'float32';
}

/** What `encodeWav` had to do to the samples, so callers can say so. */
export interface EncodeReport {
  /** Samples outside [-1, 1] that were clipped (pcm16 only). */
  clippedSamples: number;
}

function checkAudio(audio: AudioData, where: string): void {
  const { sampleRate, channels } = audio;
  if (!Number.isInteger(sampleRate) || sampleRate <= 0) {
    throw new RangeError(`${where}: sampleRate must be a positive integer (Hz), got ${sampleRate}`);
  }
  if (channels.length === 0) throw new RangeError(`${where}: no channels`);
  const n = channels[0]!.length;
  channels.forEach((ch, c) => {
    if (ch.length !== n) throw new RangeError(`${where}: channel ${c} has ${ch.length} samples, channel 0 has ${n}`);
    for (let i = 0; i < ch.length; i++) {
      if (!Number.isFinite(ch[i]!)) {
        throw new RangeError(`${where}: sample ${i} of channel ${c} is ${ch[i]} (not finite)`);
      }
    }
  });
}

/** Encodes audio as a WAV file in memory. Throws on NaN/Inf samples or a bad rate. */
export function encodeWav(audio: AudioData, options: EncodeWavOptions = {}): { bytes: Buffer; report: EncodeReport } {
  checkAudio(audio, 'encodeWav');
  const format = options.format ?? 'pcm16';
  let clippedSamples = 0;
  let channels = audio.channels;
  if (format === 'pcm16') {
    channels = channels.map((ch) => {
      const out = new Float32Array(ch.length);
      for (let i = 0; i < ch.length; i++) {
        const v = ch[i]!;
        if (v > 1 || v < -1) clippedSamples++;
        out[i] = v > 1 ? 1 : v < -1 ? -1 : v;
      }
      return out;
    });
  }
  const bytes = wav.encode(channels, format === 'float32' ? { sampleRate: audio.sampleRate, float: true } : { sampleRate: audio.sampleRate, bitDepth: 16 });
  return { bytes, report: { clippedSamples } };
}

/** Decodes a WAV file held in memory. `source` names the file in error messages. */
export function decodeWav(bytes: Uint8Array, source = '<buffer>'): AudioData {
  let decoded: wav.DecodedWav;
  try {
    // node-wav reads through typed arrays on `buffer.buffer` from offset 0: a view into a
    // larger buffer (bytes sliced out of a Parquet page, say) must be copied first.
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    // (Buffer.from(bytes) would copy into Node's shared pool, again at an offset.)
    decoded = wav.decode(Buffer.from(whole ? bytes.buffer : new Uint8Array(bytes).buffer, 0, bytes.byteLength));
  } catch (e) {
    throw new Error(`${source}: not a readable WAV file (${(e as Error).message})`);
  }
  if (!decoded || !decoded.channelData || decoded.channelData.length === 0) {
    throw new Error(`${source}: WAV file has no audio channels`);
  }
  return { sampleRate: decoded.sampleRate, channels: decoded.channelData };
}

/** Duration in seconds. */
export function durationSeconds(audio: AudioData): number {
  return (audio.channels[0]?.length ?? 0) / audio.sampleRate;
}
