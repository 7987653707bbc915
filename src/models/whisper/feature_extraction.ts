/**
 * Whisper's log-mel front end, as transformers' WhisperFeatureExtractor computes it:
 * periodic Hann window, centred STFT with reflect padding, power spectrum without the
 * last frame, Slaney mel filters, log10 clamped at 1e-10, floor at max - 8, (x + 4) / 4.
 * Plain TypeScript in Float64 (a mixed-radix FFT for n_fft = 400 = 2^4 * 5^2).
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/whisper/feature_extraction_whisper.py
 * https://github.com/huggingface/transformers/blob/main/src/transformers/audio_utils.py (mel_filter_bank)
 * https://github.com/openai/whisper/blob/main/whisper/audio.py
 */

import { Fft } from '../../audio/fft';

/** Whisper hears 16 kHz audio. */
export const SAMPLE_RATE = 16000;
/** 25 ms analysis window. */
export const N_FFT = 400;
/** 10 ms between frames. */
export const HOP_LENGTH = 160;
/** Seconds in one window of the encoder. */
export const CHUNK_LENGTH = 30;
/** 480000 samples in a 30 s window. */
export const N_SAMPLES = CHUNK_LENGTH * SAMPLE_RATE;
/** 3000 mel frames in a 30 s window. */
export const N_FRAMES = N_SAMPLES / HOP_LENGTH;
/** Frequency bins of the one-sided spectrum (201). */
export const N_FREQ = N_FFT / 2 + 1;
/** Audio shorter than this is refused: it holds less than ten frames of speech. */
export const MIN_SAMPLES = SAMPLE_RATE / 10;

/** Log-mel features `[nMels, nFrames]`, row-major (mel-major), as HF's `input_features[0]`. */
export interface LogMel {
  data: Float32Array;
  nMels: number;
  nFrames: number;
}

// ---- Slaney mel scale and filters (audio_utils.mel_filter_bank, norm="slaney", mel_scale="slaney") ----

const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = 15;
const LOG_STEP = 27 / Math.log(6.4);

export function hertzToMel(hz: number): number {
  return hz >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(hz / MIN_LOG_HZ) * LOG_STEP : (3 * hz) / 200;
}

export function melToHertz(mel: number): number {
  return mel >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp((mel - MIN_LOG_MEL) / LOG_STEP) : (200 * mel) / 3;
}

/**
 * Triangular Slaney-normalised filters `[nMels][N_FREQ]` from 0 to 8 kHz (Float64), as
 * `mel_filter_bank(201, nMels, 0, 8000, 16000, norm="slaney", mel_scale="slaney")` transposed.
 */
export function melFilters(nMels: number, sampleRate = SAMPLE_RATE, nFft = N_FFT): Float64Array[] {
  const nFreq = Math.floor(nFft / 2) + 1;
  const melMin = hertzToMel(0);
  const melMax = hertzToMel(sampleRate / 2);
  const filterFreqs = new Float64Array(nMels + 2);
  for (let i = 0; i < nMels + 2; i++) filterFreqs[i] = melToHertz(melMin + ((melMax - melMin) * i) / (nMels + 1));
  const fftFreqs = new Float64Array(nFreq);
  for (let k = 0; k < nFreq; k++) fftFreqs[k] = (Math.floor(sampleRate / 2) * k) / (nFreq - 1);
  const out: Float64Array[] = [];
  for (let m = 0; m < nMels; m++) {
    const row = new Float64Array(nFreq);
    const lower = filterFreqs[m]!;
    const centre = filterFreqs[m + 1]!;
    const upper = filterFreqs[m + 2]!;
    // Slaney normalisation: each filter has unit area in Hz.
    const enorm = 2 / (upper - lower);
    for (let k = 0; k < nFreq; k++) {
      const down = (fftFreqs[k]! - lower) / (centre - lower);
      const up = (upper - fftFreqs[k]!) / (upper - centre);
      row[k] = Math.max(0, Math.min(down, up)) * enorm;
    }
    out.push(row);
  }
  return out;
}

/** Periodic Hann window (torch.hann_window(n), periodic=True). */
export function hannWindow(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
  return w;
}

/** Mel filters of one size with the range of bins where each is not 0 (a triangle: 391 of 80 x 201 weights). */
interface MelBank {
  rows: Float64Array[];
  /** First bin of row m with a weight other than 0. */
  lo: Int32Array;
  /** One past the last such bin (lo = hi for an empty row). */
  hi: Int32Array;
}

const bankCache = new Map<number, MelBank>();

function melBank(nMels: number): MelBank {
  let bank = bankCache.get(nMels);
  if (bank) return bank;
  const rows = melFilters(nMels);
  const lo = new Int32Array(nMels);
  const hi = new Int32Array(nMels);
  rows.forEach((row, m) => {
    let a = 0;
    while (a < row.length && row[a] === 0) a++;
    let b = row.length;
    while (b > a && row[b - 1] === 0) b--;
    lo[m] = a;
    hi[m] = b;
  });
  bank = { rows, lo, hi };
  bankCache.set(nMels, bank);
  return bank;
}

/**
 * The per-frame arithmetic of Whisper's log-mel, shared by the whole-signal path
 * (`logMelSpectrogram`) and the streamed one (`log10MelFrames`) so both give the same bits:
 * frame f is the Hann-windowed samples `[f * 160 - 200, f * 160 + 200)` of the signal,
 * reflect-padded at both ends (numpy/torch "reflect": the edge sample is not repeated), its
 * power spectrum, the mel filters (summed over their non-zero bins only, in bin order: the
 * skipped terms are exact zeros) and log10 clamped at 1e-10. The clamp at max - 8 and the
 * scaling are applied by the caller once the maximum is known.
 */
class FrameComputer {
  private readonly bank: MelBank;
  private readonly window = hannWindow(N_FFT);
  private readonly fft = new Fft(N_FFT);
  private readonly re = new Float64Array(N_FFT);
  private readonly im = new Float64Array(N_FFT);
  private readonly oRe = new Float64Array(N_FFT);
  private readonly oIm = new Float64Array(N_FFT);
  private readonly power = new Float64Array(N_FREQ);

  constructor(readonly nMels: number) {
    if (!Number.isInteger(nMels) || nMels <= 0) throw new RangeError(`log-mel: nMels must be a positive integer, got ${nMels}`);
    this.bank = melBank(nMels);
  }

  /**
   * log10 mel energies of frame `f` of a signal of `total` samples whose samples
   * `[base, base + buf.length)` are in `buf` (the frame's samples, after reflection, must be
   * among them), written to `out[outIndex + m * stride]` for each mel m. Returns the frame's maximum.
   */
  frame(f: number, buf: Float32Array, base: number, total: number, out: Float64Array, outIndex: number, stride: number): number {
    const { re, im, oRe, oIm, power, window } = this;
    const start = f * HOP_LENGTH - N_FFT / 2;
    const last = 2 * (total - 1);
    for (let i = 0; i < N_FFT; i++) {
      let g = start + i;
      if (g < 0) g = -g;
      else if (g >= total) g = last - g;
      re[i] = buf[g - base]! * window[i]!;
      im[i] = 0;
    }
    this.fft.transform(re, im, oRe, oIm);
    for (let k = 0; k < N_FREQ; k++) power[k] = oRe[k]! * oRe[k]! + oIm[k]! * oIm[k]!;
    const { rows, lo, hi } = this.bank;
    let max = -Infinity;
    for (let m = 0; m < this.nMels; m++) {
      const row = rows[m]!;
      let acc = 0;
      for (let k = lo[m]!, end = hi[m]!; k < end; k++) acc += row[k]! * power[k]!;
      const v = Math.log10(Math.max(acc, 1e-10));
      out[outIndex + m * stride] = v;
      if (v > max) max = v;
    }
    return max;
  }
}

/** Whisper's normalisation of a log10 mel value once the maximum over the whole input is known. */
function scaleLogMel(v: number, floor: number): number {
  return (Math.max(v, floor) + 4) / 4;
}

/**
 * Log-mel spectrogram of 16 kHz mono samples: `floor(n / 160)` frames (the STFT's last
 * frame is dropped, as Whisper does), normalised over the whole input. Samples are used as
 * given: pad or cut them first (`padOrTrim`) for a 30 s window.
 */
export function logMelSpectrogram(samples: Float32Array, nMels: number): LogMel {
  const n = samples.length;
  if (n <= N_FFT / 2) throw new RangeError(`log-mel needs more than ${N_FFT / 2} samples for reflect padding, got ${n}`);
  const frames = new FrameComputer(nMels);
  const nFrames = Math.floor(n / HOP_LENGTH); // 1 + n // hop frames, minus the last
  const logSpec = new Float64Array(nMels * nFrames);
  let maxLog = -Infinity;
  for (let f = 0; f < nFrames; f++) {
    const m = frames.frame(f, samples, 0, n, logSpec, f, nFrames);
    if (m > maxLog) maxLog = m;
  }
  const data = new Float32Array(nMels * nFrames);
  const floor = maxLog - 8;
  for (let i = 0; i < data.length; i++) data[i] = scaleLogMel(logSpec[i]!, floor);
  return { data, nMels, nFrames };
}

/** Zero-pads (or cuts) samples to `length` (N_SAMPLES: one 30 s window). */
export function padOrTrim(samples: Float32Array, length = N_SAMPLES): Float32Array {
  if (samples.length === length) return samples;
  const out = new Float32Array(length);
  out.set(samples.length > length ? samples.subarray(0, length) : samples);
  return out;
}

/**
 * Mel frames of real audio in `extractFeatures(samples)`: transformers' `attention_mask.sum(-1)`
 * of the same call (what Whisper's generate uses as `num_frames` for token timestamps).
 * Up to 30 s the mask covers every 160th sample of the real ones, ceil(n / 160); longer
 * audio is not padded and the mask loses its last entry with the last STFT frame when
 * 160 does not divide n, floor(n / 160).
 */
export function attentionMaskFrames(numSamples: number): number {
  if (!Number.isInteger(numSamples) || numSamples <= 0) throw new RangeError(`attentionMaskFrames: the sample count must be a positive integer, got ${numSamples}`);
  return numSamples <= N_SAMPLES ? Math.ceil(numSamples / HOP_LENGTH) : Math.floor(numSamples / HOP_LENGTH);
}

/**
 * Features as WhisperFeatureExtractor gives them to `generate()`: audio of at most 30 s is
 * zero-padded to 30 s (3000 frames, `padding="max_length"`); longer audio is taken whole
 * (`truncation=False, padding="longest"`: `floor(n / 160)` frames), normalised over all of it.
 */
export function extractFeatures(samples: Float32Array, nMels: number): LogMel {
  return logMelSpectrogram(samples.length <= N_SAMPLES ? padOrTrim(samples) : samples, nMels);
}

/**
 * Frames `[start, start + count)` of `mel` as one `[nMels, N_FRAMES]` window, zero-filled past
 * the end (generate() pads the last window's features with 0.0, not with silence).
 */
export function melWindow(mel: LogMel, start: number, count: number, width = N_FRAMES): Float32Array {
  const out = new Float32Array(mel.nMels * width);
  const take = Math.max(0, Math.min(count, width, mel.nFrames - start));
  for (let m = 0; m < mel.nMels; m++) {
    out.set(mel.data.subarray(m * mel.nFrames + start, m * mel.nFrames + start + take), m * width);
  }
  return out;
}

// ---- streamed features: long recordings in bounded memory ----

/** A block of log10 mel frames of a streamed signal (before the clamp at max - 8 and the scaling). */
export interface Log10MelBlock {
  /** Index of the block's first frame in the whole signal. */
  start: number;
  nFrames: number;
  /** `[nMels, nFrames]` log10 mel energies, mel-major (Float64, as `logMelSpectrogram` keeps them). */
  log10: Float64Array;
  /** Largest value of the block (-Infinity for an empty one). */
  max: number;
}

/** Sample blocks of one signal, in order (any sizes; a block may be empty). */
export type SampleBlocks = AsyncIterable<Float32Array> | Iterable<Float32Array>;

/**
 * log10 mel frames of a signal given as consecutive sample blocks, each frame equal (same
 * bits) to the one `logMelSpectrogram` computes over the whole signal: a frame is computed as
 * soon as the 200 samples after its centre have arrived, and the last few frames, which
 * reflect at the signal's end, once the end is known. Memory is one block plus 400 samples
 * of context, whatever the signal's length. `padTo`: a shorter signal is zero-padded to
 * this many samples first (`N_SAMPLES` gives `extractFeatures`' frames: a signal of at most
 * 30 s padded to 30 s, a longer one taken as it is). Yields one block of frames per input
 * block that completes any; returns the signal's sample count (before padding).
 */
export async function* log10MelFrames(blocks: SampleBlocks, nMels: number, options: { padTo?: number } = {}): AsyncGenerator<Log10MelBlock, number, undefined> {
  const padTo = options.padTo ?? 0;
  if (!Number.isInteger(padTo) || padTo < 0) throw new RangeError(`log10MelFrames: padTo must be an integer >= 0, got ${padTo}`);
  const computer = new FrameComputer(nMels);
  const pad = N_FFT / 2;
  // Samples [base, base + bufLen) of the signal; `next` is the first frame not computed yet.
  let buf = new Float32Array(0);
  let bufLen = 0;
  let base = 0;
  let total = 0;
  let next = 0;
  const append = (x: Float32Array) => {
    if (bufLen + x.length > buf.length) {
      const bigger = new Float32Array(Math.max(2 * buf.length, bufLen + x.length));
      bigger.set(buf.subarray(0, bufLen));
      buf = bigger;
    }
    buf.set(x, bufLen);
    bufLen += x.length;
    total += x.length;
  };
  /** Frames [next, end) of a signal of `known` samples (all of it, or every sample those frames read). */
  const compute = (end: number, known: number): Log10MelBlock | null => {
    const count = end - next;
    if (count <= 0) return null;
    const log10 = new Float64Array(nMels * count);
    let max = -Infinity;
    const view = buf.subarray(0, bufLen);
    for (let f = next; f < end; f++) {
      const m = computer.frame(f, view, base, known, log10, f - next, count);
      if (m > max) max = m;
    }
    const block = { start: next, nFrames: count, log10, max };
    next = end;
    // Keep what later frames read: from frame `next`'s first sample (frames 0 and 1 reflect into [0, 200]).
    const drop = Math.max(0, next * HOP_LENGTH - pad) - base;
    if (drop > 0) {
      buf.copyWithin(0, drop, bufLen);
      bufLen -= drop;
      base += drop;
    }
    return block;
  };
  for await (const x of blocks) {
    if (!(x instanceof Float32Array)) throw new TypeError(`log10MelFrames: sample blocks must be Float32Arrays, got ${Object.prototype.toString.call(x)}`);
    append(x);
    // Frame f reads samples up to f * 160 + 199, all before the end: no reflection there yet.
    const end = total > pad ? Math.floor((total - pad) / HOP_LENGTH) + 1 : 0;
    const block = end > next ? compute(end, total) : null;
    if (block) yield block;
  }
  const samples = total;
  if (total < padTo) append(new Float32Array(padTo - total));
  if (total <= pad) throw new RangeError(`log-mel needs more than ${pad} samples for reflect padding, got ${total}`);
  const last = compute(Math.floor(total / HOP_LENGTH), total);
  if (last) yield last;
  return samples;
}

/**
 * Whisper features read window by window, as `generate()` reads them: frames
 * `[seek, seek + 3000)` with `seek` never going back.
 */
export interface MelSource {
  readonly nMels: number;
  /** Frames of the whole input (those `extractFeatures` gives). */
  readonly nFrames: number;
  /** Frames `[start, start + count)` as one `[nMels, width]` window, zero-filled past `count` or the end (as `melWindow`). */
  window(start: number, count: number, width?: number): Promise<Float32Array>;
}

/** A `MelSource` over features held in memory. */
export function melSource(mel: LogMel | MelSource): MelSource {
  if ('window' in mel) return mel;
  return { nMels: mel.nMels, nFrames: mel.nFrames, window: async (start, count, width) => melWindow(mel, start, count, width) };
}

/** What the first pass of `StreamedFeatures.scan` saw. */
export interface ScanResult {
  /** Samples of the signal (16 kHz), before any padding. */
  samples: number;
  /** Largest log10 mel value of the whole input: the clamp is at this - 8. */
  maxLog10: number;
}

/**
 * `extractFeatures` of a long recording in bounded memory, in two passes over its samples:
 * `scan` computes every frame once to find the maximum over the whole input (Whisper clamps
 * at max - 8 over all of it), then `window` computes the frames again block by block as
 * generate() moves through the recording, keeping only the frames from the current window on.
 * Each window equals `melWindow(extractFeatures(all samples), start, count)` bit for bit.
 * `open(pass)` gives the signal's 16 kHz sample blocks afresh (pass 0, then 1): a file is
 * decoded twice (`decodeAudioWindows`), never held whole. Call `close()` when done (it stops
 * the second pass's decoder).
 */
export class StreamedFeatures implements MelSource {
  readonly nFrames: number;
  private pass2: AsyncGenerator<Log10MelBlock, number, undefined> | null = null;
  /** Scaled frames `[firstFrame, firstFrame + held)`, frame-major: frame f's mel m at `(f - firstFrame) * nMels + m`. */
  private frames = new Float32Array(0);
  private firstFrame = 0;
  private held = 0;
  private ended = false;

  private constructor(private readonly open: (pass: number) => SampleBlocks, readonly nMels: number, readonly scanned: ScanResult) {
    const padded = Math.max(scanned.samples, N_SAMPLES);
    this.nFrames = Math.floor(padded / HOP_LENGTH);
  }

  /** The first pass: every frame computed, only the maximum kept. */
  static async scan(open: (pass: number) => SampleBlocks, nMels: number): Promise<StreamedFeatures> {
    let maxLog10 = -Infinity;
    const frames = log10MelFrames(open(0), nMels, { padTo: N_SAMPLES });
    let r = await frames.next();
    for (; !r.done; r = await frames.next()) if (r.value.max > maxLog10) maxLog10 = r.value.max;
    return new StreamedFeatures(open, nMels, { samples: r.value, maxLog10 });
  }

  async window(start: number, count: number, width = N_FRAMES): Promise<Float32Array> {
    if (!Number.isInteger(start) || start < 0 || !Number.isInteger(count) || count < 0) {
      throw new RangeError(`StreamedFeatures.window: start and count must be integers >= 0, got ${start} and ${count}`);
    }
    if (start < this.firstFrame) {
      throw new RangeError(`StreamedFeatures.window: frame ${start} was already released (frames before ${this.firstFrame} are gone): windows must be read in order`);
    }
    const take = Math.max(0, Math.min(count, width, this.nFrames - start));
    // Release the frames before `start`, then compute up to the window's end.
    const drop = Math.min(this.held, start - this.firstFrame);
    if (drop > 0) {
      this.frames.copyWithin(0, drop * this.nMels, this.held * this.nMels);
      this.held -= drop;
    }
    // Frames between the held ones and `start` (a jump ahead) are skipped as they arrive.
    this.firstFrame = start;
    while (this.firstFrame + this.held < start + take) await this.pull();
    const out = new Float32Array(this.nMels * width);
    const from = start - this.firstFrame;
    for (let f = 0; f < take; f++) {
      const src = (from + f) * this.nMels;
      for (let m = 0; m < this.nMels; m++) out[m * width + f] = this.frames[src + m]!;
    }
    return out;
  }

  /** Computes the next block of frames of the second pass and appends the ones at or after `firstFrame`. */
  private async pull(): Promise<void> {
    if (this.ended) throw new Error(`StreamedFeatures: the second pass ended at frame ${this.firstFrame + this.held} of ${this.nFrames}`);
    this.pass2 ??= log10MelFrames(this.open(1), this.nMels, { padTo: N_SAMPLES });
    const r = await this.pass2.next();
    if (r.done) {
      this.ended = true;
      if (r.value !== this.scanned.samples) {
        throw new Error(`StreamedFeatures: the audio changed between the two passes (${this.scanned.samples} samples, then ${r.value})`);
      }
      return;
    }
    const { start, nFrames, log10, max } = r.value;
    if (max > this.scanned.maxLog10) throw new Error(`StreamedFeatures: the audio changed between the two passes (log10 mel maximum ${this.scanned.maxLog10}, then ${max} at frame ${start})`);
    const skip = Math.max(0, this.firstFrame + this.held - start);
    const n = nFrames - skip;
    if (n <= 0) return;
    const need = (this.held + n) * this.nMels;
    if (need > this.frames.length) {
      const bigger = new Float32Array(Math.max(need, 2 * this.frames.length));
      bigger.set(this.frames.subarray(0, this.held * this.nMels));
      this.frames = bigger;
    }
    const floor = this.scanned.maxLog10 - 8;
    for (let f = 0; f < n; f++) {
      const dst = (this.held + f) * this.nMels;
      for (let m = 0; m < this.nMels; m++) this.frames[dst + m] = scaleLogMel(log10[m * nFrames + skip + f]!, floor);
    }
    this.held += n;
  }

  /** Stops the second pass (its decoder) and releases the frames. */
  async close(): Promise<void> {
    const g = this.pass2;
    this.pass2 = null;
    this.ended = true;
    this.frames = new Float32Array(0);
    this.held = 0;
    if (g) await g.return(0);
  }
}
