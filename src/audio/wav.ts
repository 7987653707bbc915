/**
 * WAV encoding and decoding (node-wav), with the checks node-wav leaves out.
 */
import * as wav from 'node-wav';
import { AudioFileError } from './ffmpeg';

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

/** What a WAV header says, checked against the bytes that follow it. */
export interface WavHeader {
  /** 1 = integer PCM, 3 = IEEE float. */
  format: 1 | 3;
  channels: number;
  sampleRate: number;
  bitDepth: number;
  /** Bytes per frame (all channels of one sample instant). */
  blockAlign: number;
  /** Offset and length of the sample bytes (the data chunk). */
  dataOffset: number;
  dataBytes: number;
}

/** Most channels a WAV file may declare here (WAVE allows 65535; more than this is damage, not audio). */
const MAX_WAV_CHANNELS = 256;
const PCM_DEPTHS = [8, 16, 24, 32];

/**
 * Reads and checks a RIFF/WAVE header: RIFF and WAVE tags, a `fmt ` chunk of integer PCM
 * (8/16/24/32-bit) or float (32/64-bit) with a consistent block size, channels and rate,
 * and a `data` chunk whose declared length is present. Throws AudioFileError naming
 * `source` and the bad field; never allocates more than the header bytes.
 */
export function parseWavHeader(bytes: Uint8Array, source = '<buffer>'): WavHeader {
  const bad = (reason: string): never => {
    throw new AudioFileError(source, reason);
  };
  const n = bytes.length;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at: number) => String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
  if (n < 12) bad(`not a WAV file: ${n} bytes, shorter than the 12-byte RIFF header`);
  if (tag(0) !== 'RIFF' || tag(8) !== 'WAVE') bad(`not a WAV file: starts with ${JSON.stringify(tag(0))}...${JSON.stringify(tag(8))}, expected "RIFF"..."WAVE"`);
  let fmt: Omit<WavHeader, 'dataOffset' | 'dataBytes'> | undefined;
  let at = 12;
  while (at + 8 <= n) {
    const id = tag(at);
    const size = v.getUint32(at + 4, true);
    const body = at + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > n) bad(`WAV fmt chunk is ${size} bytes (${n - body} present), needs at least 16`);
      const format = v.getUint16(body, true);
      const channels = v.getUint16(body + 2, true);
      const sampleRate = v.getUint32(body + 4, true);
      const blockAlign = v.getUint16(body + 12, true);
      const bitDepth = v.getUint16(body + 14, true);
      if (format !== 1 && format !== 3) bad(`WAV fmt.format is ${format} (0x${format.toString(16)}); supported: 1 (PCM) and 3 (float) — convert the file with ffmpeg`);
      if (channels < 1 || channels > MAX_WAV_CHANNELS) bad(`WAV fmt.channels is ${channels}, expected 1..${MAX_WAV_CHANNELS}`);
      if (sampleRate < 1 || sampleRate > 1_000_000) bad(`WAV fmt.sampleRate is ${sampleRate} Hz, expected 1..1000000`);
      if (format === 1 && !PCM_DEPTHS.includes(bitDepth)) bad(`WAV fmt.bitsPerSample is ${bitDepth} for PCM, expected ${PCM_DEPTHS.join(', ')}`);
      if (format === 3 && bitDepth !== 32 && bitDepth !== 64) bad(`WAV fmt.bitsPerSample is ${bitDepth} for float, expected 32 or 64`);
      if (blockAlign !== (channels * bitDepth) / 8) bad(`WAV fmt.blockAlign is ${blockAlign}, expected channels x bytes per sample = ${(channels * bitDepth) / 8}`);
      fmt = { format: format as 1 | 3, channels, sampleRate, bitDepth, blockAlign };
    } else if (id === 'data') {
      if (!fmt) bad('WAV data chunk comes before any fmt chunk');
      // 0xffffffff: the length was unknown to a streaming writer; the data runs to the end.
      const dataBytes = size === 0xffffffff ? n - body : size;
      if (body + dataBytes > n) bad(`truncated: the WAV data chunk declares ${dataBytes} bytes but only ${n - body} are present`);
      return { ...fmt!, dataOffset: body, dataBytes };
    }
    at = body + size + (size % 2);
  }
  return bad(fmt ? 'WAV file has no data chunk' : 'WAV file has no fmt chunk');
}

/** Decodes a WAV file held in memory. `source` names the file in errors (AudioFileError). */
export function decodeWav(bytes: Uint8Array, source = '<buffer>'): AudioData {
  const h = parseWavHeader(bytes, source);
  let decoded: wav.DecodedWav;
  try {
    // node-wav reads from the start of an ArrayBuffer with typed-array views, so it gets
    // its own copy of just the header and the whole frames of the data chunk (its views
    // need the data at an aligned offset, which 44 is).
    const frames = Math.floor(h.dataBytes / h.blockAlign);
    const out = new Uint8Array(44 + frames * h.blockAlign);
    const dv = new DataView(out.buffer);
    out.set([0x52, 0x49, 0x46, 0x46], 0); // RIFF
    dv.setUint32(4, out.length - 8, true);
    out.set([0x57, 0x41, 0x56, 0x45, 0x66, 0x6d, 0x74, 0x20], 8); // WAVEfmt
    dv.setUint32(16, 16, true);
    dv.setUint16(20, h.format, true);
    dv.setUint16(22, h.channels, true);
    dv.setUint32(24, h.sampleRate, true);
    dv.setUint32(28, h.sampleRate * h.blockAlign, true);
    dv.setUint16(32, h.blockAlign, true);
    dv.setUint16(34, h.bitDepth, true);
    out.set([0x64, 0x61, 0x74, 0x61], 36); // data
    dv.setUint32(40, frames * h.blockAlign, true);
    out.set(bytes.subarray(h.dataOffset, h.dataOffset + frames * h.blockAlign), 44);
    decoded = wav.decode(Buffer.from(out.buffer));
  } catch (e) {
    throw new AudioFileError(source, `not a readable WAV file (${(e as Error).message})`);
  }
  if (!decoded || !decoded.channelData || decoded.channelData.length === 0) {
    throw new AudioFileError(source, 'WAV file has no audio channels');
  }
  return { sampleRate: decoded.sampleRate, channels: decoded.channelData };
}

/** Duration in seconds. */
export function durationSeconds(audio: AudioData): number {
  return (audio.channels[0]?.length ?? 0) / audio.sampleRate;
}
