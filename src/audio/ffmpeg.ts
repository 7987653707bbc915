/**
 * Decoding any audio or video file through ffmpeg, at the file's own sample rate.
 *
 * ffmpeg only decodes here: channels are averaged and the rate is changed (when asked)
 * by ttslab's own code (`toMono`, `resample`), whose quality is tested, so that nothing
 * is silently resampled on the way in. Which ffmpeg runs: `$TTSLAB_FFMPEG`, else `ffmpeg`
 * on PATH, else the binary of the npm package `@ffmpeg-installer/ffmpeg` when installed
 * (and likewise ffprobe: `$TTSLAB_FFPROBE`, PATH, `@ffprobe-installer/ffprobe`).
 */
import { execFile, spawn } from 'node:child_process';
import { stat, open } from 'node:fs/promises';
import { INSTALL_HINTS } from '../env/tools';
import type { AudioData } from './wav';
import { toMono } from './slice';
import { resample, resampleHalfWidth, type ResampleOptions } from './resample';

/** What ffprobe says about a file's first audio stream. */
export interface AudioInfo {
  file: string;
  /** Codec name as ffmpeg spells it (`flac`, `aac`, `pcm_s16le`, ...). */
  codec: string;
  /** The stream's own sample rate (Hz). */
  sampleRate: number;
  channels: number;
  /** Duration the container declares (seconds), when it declares one. */
  durationSeconds?: number;
}

export class AudioFileError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'AudioFileError';
  }
}

type Tool = 'ffmpeg' | 'ffprobe';
const NPM_BINARIES: Record<Tool, string> = { ffmpeg: '@ffmpeg-installer/ffmpeg', ffprobe: '@ffprobe-installer/ffprobe' };
const resolved = new Map<Tool, string>();

function run(command: string, args: string[], maxBuffer = 2 ** 31 - 1): Promise<{ stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { encoding: 'buffer', maxBuffer }, (error, stdout, stderr) => {
      const err = stderr.toString('utf8');
      if (error) reject(Object.assign(error, { stderrText: err }));
      else resolve({ stdout, stderr: err });
    });
  });
}

/** The path of ffmpeg or ffprobe to run; throws with install instructions when there is none. */
export async function findFfmpegTool(tool: Tool): Promise<string> {
  const cached = resolved.get(tool);
  if (cached) return cached;
  const candidates: string[] = [];
  const env = process.env[tool === 'ffmpeg' ? 'TTSLAB_FFMPEG' : 'TTSLAB_FFPROBE'];
  if (env) candidates.push(env);
  candidates.push(tool);
  try {
    candidates.push((require(NPM_BINARIES[tool]) as { path: string }).path);
  } catch {
    // the npm package is optional; PATH is the usual source
  }
  for (const c of candidates) {
    try {
      await run(c, ['-version']);
      resolved.set(tool, c);
      return c;
    } catch {
      // try the next candidate
    }
  }
  throw new Error(`${tool} not found (tried ${candidates.join(', ')}). Install it: ${INSTALL_HINTS.ffmpeg}`);
}

async function checkReadable(file: string): Promise<number> {
  try {
    const s = await stat(file);
    if (!s.isFile()) throw new AudioFileError(file, 'not a regular file');
    return s.size;
  } catch (e) {
    if (e instanceof AudioFileError) throw e;
    throw new AudioFileError(file, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Reads the first audio stream's codec, rate, channels and declared duration. */
export async function probeAudio(file: string): Promise<AudioInfo> {
  const size = await checkReadable(file);
  if (size === 0) throw new AudioFileError(file, 'zero-length file (0 bytes)');
  const ffprobe = await findFfmpegTool('ffprobe');
  let out: string;
  try {
    const args = ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=codec_name,codec_tag_string,sample_rate,channels,duration:format=duration', '-of', 'json', file];
    out = (await run(ffprobe, args)).stdout.toString('utf8');
  } catch (e) {
    const msg = ((e as { stderrText?: string }).stderrText ?? (e as Error).message).trim().split('\n').pop();
    throw new AudioFileError(file, `not a readable audio file (ffprobe: ${msg})`);
  }
  const j = JSON.parse(out) as { streams?: { codec_name?: string; codec_tag_string?: string; sample_rate?: string; channels?: number; duration?: string }[]; format?: { duration?: string } };
  const s = j.streams?.[0];
  if (!s) throw new AudioFileError(file, 'has no audio stream');
  if (!s.codec_name) throw new AudioFileError(file, `unsupported codec: ffmpeg has no decoder for its audio stream (codec tag ${s.codec_tag_string ?? '?'})`);
  const sampleRate = Number(s.sample_rate);
  if (!Number.isInteger(sampleRate) || sampleRate <= 0) throw new AudioFileError(file, `audio stream has no valid sample_rate (${s.sample_rate})`);
  const d = Number(s.duration ?? j.format?.duration);
  return { file, codec: s.codec_name ?? '?', sampleRate, channels: s.channels ?? 1, durationSeconds: Number.isFinite(d) ? d : undefined };
}

/**
 * A RIFF/WAVE file whose data chunk declares more bytes than the file holds was cut
 * short. ffmpeg decodes such a file without complaint, so it is checked here.
 */
async function checkWavNotTruncated(file: string, size: number): Promise<void> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(Math.min(size, 4096));
    await fh.read(head, 0, head.length, 0);
    if (head.toString('ascii', 0, 4) !== 'RIFF' || head.toString('ascii', 8, 12) !== 'WAVE') return;
    let at = 12;
    while (at + 8 <= head.length) {
      const id = head.toString('ascii', at, at + 4);
      const len = head.readUInt32LE(at + 4);
      if (id === 'data') {
        // 0 and 0xffffffff mean "unknown" (written by a streaming encoder)
        if (len !== 0 && len !== 0xffffffff && at + 8 + len > size) {
          throw new AudioFileError(file, `truncated: the WAV data chunk declares ${len} bytes but only ${size - at - 8} are present`);
        }
        return;
      }
      at += 8 + len + (len % 2);
    }
  } finally {
    await fh.close();
  }
}

/**
 * An Ogg file (Vorbis, Opus, FLAC in Ogg) cut short: its last page is incomplete or does
 * not carry the end-of-stream flag. Ogg declares no total length, so ffprobe reports the
 * duration of what is there and ffmpeg decodes it without complaint; this checks the end.
 */
async function checkOggNotTruncated(file: string, size: number): Promise<void> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    await fh.read(head, 0, 4, 0);
    if (head.toString('latin1') !== 'OggS') return;
    // A page is at most 27 + 255 + 255 * 255 bytes: the last one starts in the final 66 KiB.
    const tailLen = Math.min(size, 27 + 255 + 255 * 255 + 4);
    const tail = Buffer.alloc(tailLen);
    await fh.read(tail, 0, tailLen, size - tailLen);
    const at = tail.lastIndexOf('OggS', tail.length - 4, 'latin1');
    if (at < 0) throw new AudioFileError(file, 'truncated: no Ogg page in the last 66 KiB of the file');
    const pageStart = size - tailLen + at;
    const complete = at + 27 <= tail.length && at + 27 + tail[at + 26]! <= tail.length;
    const segments = complete ? tail.subarray(at + 27, at + 27 + tail[at + 26]!) : Buffer.alloc(0);
    const pageEnd = at + 27 + segments.length + segments.reduce((a, b) => a + b, 0);
    if (!complete || pageEnd > tail.length) {
      throw new AudioFileError(file, `truncated: the last Ogg page (at byte ${pageStart}) is cut off`);
    }
    if ((tail[at + 5]! & 0x04) === 0) {
      throw new AudioFileError(file, `truncated: the last Ogg page (at byte ${pageStart}) does not end the stream (no end-of-stream flag)`);
    }
  } finally {
    await fh.close();
  }
}

export interface DecodeOptions {
  /**
   * Output rate (Hz). Default: the file's own rate, so nothing is resampled until the
   * codec's rate is known (cutting at 16 kHz and upsampling later loses everything above 8 kHz).
   */
  sampleRate?: number;
  /** Resampler settings when `sampleRate` differs from the file's. */
  resample?: ResampleOptions;
  /**
   * Allowed shortfall of decoded against declared duration before the file counts as
   * truncated (default 0.05 s for PCM and lossless codecs; lossy codecs get 4096 samples
   * more, their encoder delay and padding, which the declared duration counts and the
   * decoder drops: a whole 16 kHz MP3 from LAME declares 0.17 s more than it decodes).
   */
  truncationToleranceSeconds?: number;
}

/** A decoded file: mono audio plus what the file was. */
export interface DecodedAudio extends AudioData {
  info: AudioInfo;
}

/**
 * Decodes a file's first audio stream to mono float32. Throws `AudioFileError` naming
 * the file for: a missing, empty, truncated or undecodable file, an unsupported codec,
 * or a stream with no samples.
 */
export async function decodeAudioFile(file: string, options: DecodeOptions = {}): Promise<DecodedAudio> {
  const info = await probeAudio(file);
  const size = await checkReadable(file);
  await checkWavNotTruncated(file, size);
  await checkOggNotTruncated(file, size);
  const ffmpeg = await findFfmpegTool('ffmpeg');
  let stdout: Buffer;
  let stderr: string;
  try {
    // -map 0:a:0: the first audio stream (a video file works too); f32le keeps every
    // channel at the stream's rate, with no resampling or downmix inside ffmpeg.
    ({ stdout, stderr } = await run(ffmpeg, ['-nostdin', '-v', 'error', '-i', file, '-map', '0:a:0', '-c:a', 'pcm_f32le', '-f', 'f32le', 'pipe:1']));
  } catch (e) {
    const msg = ((e as { stderrText?: string }).stderrText ?? (e as Error).message).trim().split('\n').pop();
    throw new AudioFileError(file, `ffmpeg cannot decode ${info.codec} audio (${msg})`);
  }
  // ffmpeg exits 0 after decode errors in the middle of a stream; its error lines say the
  // file is damaged or cut short.
  const errors = stderr.split('\n').filter((l) => /error|invalid|corrupt|failed/i.test(l));
  const frames = Math.floor(stdout.length / 4 / info.channels);
  if (errors.length > 0) {
    throw new AudioFileError(file, `damaged or truncated: ffmpeg decoded ${(frames / info.sampleRate).toFixed(3)} s and reported "${errors[0]!.trim()}"`);
  }
  if (frames === 0) throw new AudioFileError(file, 'zero-length audio: the stream decodes to 0 samples');
  const decodedSeconds = frames / info.sampleRate;
  const lossless = /^(pcm_|flac$|alac$|wavpack$|tta$|ape$)/.test(info.codec);
  const tolerance = options.truncationToleranceSeconds ?? (lossless ? 0.05 : 0.05 + 4096 / info.sampleRate);
  if (info.durationSeconds !== undefined && decodedSeconds + tolerance < info.durationSeconds) {
    throw new AudioFileError(file, `truncated: the container declares ${info.durationSeconds.toFixed(3)} s but only ${decodedSeconds.toFixed(3)} s decode`);
  }
  const interleaved = new Float32Array(stdout.buffer, stdout.byteOffset, frames * info.channels);
  const channels: Float32Array[] = [];
  for (let c = 0; c < info.channels; c++) {
    const ch = new Float32Array(frames);
    for (let i = 0; i < frames; i++) ch[i] = interleaved[i * info.channels + c]!;
    channels.push(ch);
  }
  let audio: AudioData = toMono({ sampleRate: info.sampleRate, channels });
  if (options.sampleRate !== undefined && options.sampleRate !== info.sampleRate) {
    audio = { sampleRate: options.sampleRate, channels: [resample(audio.channels[0]!, info.sampleRate, options.sampleRate, options.resample)] };
  }
  return { ...audio, info };
}


export interface WindowOptions extends DecodeOptions {
  /** Window length in seconds at the output rate (default 30, Whisper's). */
  windowSeconds?: number;
}

/** One window of a streamed decode: mono samples at the output rate. */
export interface AudioWindow {
  /** Index of the first sample of the window in the whole recording (at the output rate). */
  offset: number;
  /** Seconds from the start of the recording. */
  startSeconds: number;
  /** `[windowSamples]` mono float32, fewer in the last window. */
  samples: Float32Array;
  info: AudioInfo;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * Decodes a file as a stream of mono windows (default 30 s) at `sampleRate` (default the
 * file's own), so memory stays that of a few windows however long the recording is
 * (`decodeAudioFile` holds the whole of it). Samples are the same as `decodeAudioFile`
 * gives: channels are averaged, and the rate is changed by `resample` block by block with
 * enough context on each side that every output sample equals the whole-signal one. The
 * same checks apply (missing, empty, truncated, undecodable files throw AudioFileError);
 * damage ffmpeg reports mid-stream throws after the windows before it.
 */
export async function* decodeAudioWindows(file: string, options: WindowOptions = {}): AsyncGenerator<AudioWindow> {
  const info = await probeAudio(file);
  const size = await checkReadable(file);
  await checkWavNotTruncated(file, size);
  await checkOggNotTruncated(file, size);
  const inRate = info.sampleRate;
  const outRate = options.sampleRate ?? inRate;
  const seconds = options.windowSeconds ?? 30;
  if (!(seconds > 0)) throw new RangeError(`decodeAudioWindows: windowSeconds must be > 0, got ${seconds}`);
  const g = gcd(inRate, outRate);
  const up = outRate / g;
  const down = inRate / g;
  // Output windows are a whole number of resampler phases, so each starts at an input sample.
  const outWindow = Math.max(1, Math.round((seconds * outRate) / up)) * up;
  const inWindow = (outWindow / up) * down;
  // Context on each side: a whole number of input steps, at least the filter's half length.
  const pad = inRate === outRate ? 0 : Math.ceil(resampleHalfWidth(inRate, outRate, options.resample) / down) * down;
  const padOut = (pad / down) * up;

  const ffmpeg = await findFfmpegTool('ffmpeg');
  const child = spawn(ffmpeg, ['-nostdin', '-v', 'error', '-i', file, '-map', '0:a:0', '-c:a', 'pcm_f32le', '-f', 'f32le', 'pipe:1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 65536) stderr += d.toString('utf8');
  });
  const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
  const ch = info.channels;
  const frameBytes = 4 * ch;
  // Mono input samples not yet emitted, from input index `bufStart` (the context before the window included).
  let buf = new Float32Array(inWindow + 2 * pad + 65536);
  let bufLen = 0;
  let bufStart = -pad; // the first `pad` samples are the zeros before the signal
  bufLen = pad;
  let carry = Buffer.alloc(0);
  let emitted = 0; // output samples emitted
  let total = 0; // input samples decoded
  const push = (chunk: Buffer) => {
    const bytes = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    const frames = Math.floor(bytes.length / frameBytes);
    if (bufLen + frames > buf.length) {
      const bigger = new Float32Array(Math.max(buf.length * 2, bufLen + frames));
      bigger.set(buf.subarray(0, bufLen));
      buf = bigger;
    }
    for (let i = 0; i < frames; i++) {
      let acc = 0;
      for (let c = 0; c < ch; c++) acc += bytes.readFloatLE(i * frameBytes + 4 * c);
      buf[bufLen + i] = ch === 1 ? acc : acc / ch;
    }
    bufLen += frames;
    total += frames;
    carry = Buffer.from(bytes.subarray(frames * frameBytes));
  };
  /** The output window starting at input sample `bufStart + pad`, from `n` input samples (fewer at the end). */
  const take = (n: number, last: boolean): Float32Array => {
    if (inRate === outRate) return buf.slice(pad, pad + n);
    const block = buf.subarray(0, Math.min(bufLen, pad + n + pad));
    const out = resample(block, inRate, outRate, options.resample);
    const want = last ? Math.ceil(((bufStart + pad + n) * up) / down) - emitted : outWindow;
    return out.slice(padOut, padOut + want);
  };
  const shift = (n: number) => {
    buf.copyWithin(0, n, bufLen);
    bufLen -= n;
    bufStart += n;
  };
  const window = (samples: Float32Array): AudioWindow => {
    const w = { offset: emitted, startSeconds: emitted / outRate, samples, info };
    emitted += samples.length;
    return w;
  };
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      push(chunk);
      while (bufLen >= pad + inWindow + pad) {
        yield window(take(inWindow, false));
        shift(inWindow);
      }
    }
    const code = await exited;
    const errors = stderr.split('\n').filter((l) => /error|invalid|corrupt|failed/i.test(l));
    if (code !== 0 || errors.length > 0) {
      throw new AudioFileError(file, `damaged or truncated: ffmpeg decoded ${(total / inRate).toFixed(3)} s and reported "${(errors[0] ?? stderr.trim().split('\n').pop() ?? `exit ${code}`).trim()}"`);
    }
    if (total === 0) throw new AudioFileError(file, 'zero-length audio: the stream decodes to 0 samples');
    const tolerance = options.truncationToleranceSeconds ?? (/^(pcm_|flac$|alac$|wavpack$|tta$|ape$)/.test(info.codec) ? 0.05 : 0.05 + 4096 / inRate);
    if (info.durationSeconds !== undefined && total / inRate + tolerance < info.durationSeconds) {
      throw new AudioFileError(file, `truncated: the container declares ${info.durationSeconds.toFixed(3)} s but only ${(total / inRate).toFixed(3)} s decode`);
    }
    // The rest: zeros after the signal stand in for the context the resampler needs.
    let rest = bufLen - pad;
    while (rest > 0) {
      const n = Math.min(rest, inWindow);
      const last = n === rest;
      if (bufLen + pad > buf.length) {
        const bigger = new Float32Array(bufLen + pad);
        bigger.set(buf.subarray(0, bufLen));
        buf = bigger;
      }
      buf.fill(0, bufLen, bufLen + pad);
      const saved = bufLen;
      bufLen = Math.max(bufLen, pad + n + pad);
      const samples = take(n, last);
      bufLen = saved;
      if (samples.length > 0) yield window(samples);
      shift(n);
      rest -= n;
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}
