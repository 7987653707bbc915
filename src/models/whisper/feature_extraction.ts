/**
 * Whisper's log-mel front end, as transformers' WhisperFeatureExtractor computes it:
 * periodic Hann window, centred STFT with reflect padding, power spectrum without the
 * last frame, Slaney mel filters, log10 clamped at 1e-10, floor at max - 8, (x + 4) / 4.
 * Plain TypeScript in Float64 (a mixed-radix FFT for n_fft = 400 = 2^4 * 5^2).
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/whisper/feature_extraction_whisper.py
 * https://github.com/huggingface/transformers/blob/main/src/transformers/audio_utils.py (mel_filter_bank)
 * https://github.com/openai/whisper/blob/main/whisper/audio.py
 */

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

// ---- FFT ----

/** A mixed-radix complex FFT plan (kissfft's generic butterflies) for any n. */
class Fft {
  private readonly factors: number[] = [];
  private readonly twRe: Float64Array;
  private readonly twIm: Float64Array;
  private readonly scratchRe: Float64Array;
  private readonly scratchIm: Float64Array;

  constructor(readonly n: number) {
    let m = n;
    for (const p of [4, 2, 3, 5]) {
      while (m % p === 0) {
        this.factors.push(p);
        m /= p;
      }
    }
    for (let p = 7; m > 1; p += 2) {
      while (m % p === 0) {
        this.factors.push(p);
        m /= p;
      }
    }
    this.twRe = new Float64Array(n);
    this.twIm = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      this.twRe[i] = Math.cos((-2 * Math.PI * i) / n);
      this.twIm[i] = Math.sin((-2 * Math.PI * i) / n);
    }
    const maxP = Math.max(1, ...this.factors);
    this.scratchRe = new Float64Array(maxP);
    this.scratchIm = new Float64Array(maxP);
  }

  /** Forward transform of (inRe, inIm) into (outRe, outIm), each length n. */
  transform(inRe: Float64Array, inIm: Float64Array, outRe: Float64Array, outIm: Float64Array): void {
    this.work(outRe, outIm, 0, inRe, inIm, 0, 1, 0);
  }

  private work(oRe: Float64Array, oIm: Float64Array, oOff: number, iRe: Float64Array, iIm: Float64Array, iOff: number, fstride: number, fi: number): void {
    const p = this.factors[fi] ?? 1;
    const m = this.n / (fstride * p);
    if (m === 1) {
      for (let k = 0; k < p; k++) {
        oRe[oOff + k] = iRe[iOff + k * fstride]!;
        oIm[oOff + k] = iIm[iOff + k * fstride]!;
      }
    } else {
      for (let q = 0; q < p; q++) this.work(oRe, oIm, oOff + q * m, iRe, iIm, iOff + q * fstride, fstride * p, fi + 1);
    }
    // Generic radix-p butterfly over the p sub-transforms of length m.
    const n = this.n;
    const sRe = this.scratchRe;
    const sIm = this.scratchIm;
    for (let u = 0; u < m; u++) {
      for (let q = 0, k = u; q < p; q++, k += m) {
        sRe[q] = oRe[oOff + k]!;
        sIm[q] = oIm[oOff + k]!;
      }
      // Twiddle each input by w^(q*u*fstride) first (DIT), then a length-p DFT.
      for (let q = 1; q < p; q++) {
        const t = (q * u * fstride) % n;
        const re = sRe[q]! * this.twRe[t]! - sIm[q]! * this.twIm[t]!;
        const im = sRe[q]! * this.twIm[t]! + sIm[q]! * this.twRe[t]!;
        sRe[q] = re;
        sIm[q] = im;
      }
      const pStride = n / p; // w_p = w_n^(n/p)
      for (let k2 = 0; k2 < p; k2++) {
        let accRe = sRe[0]!;
        let accIm = sIm[0]!;
        for (let q = 1; q < p; q++) {
          const t = ((q * k2) % p) * pStride;
          accRe += sRe[q]! * this.twRe[t]! - sIm[q]! * this.twIm[t]!;
          accIm += sRe[q]! * this.twIm[t]! + sIm[q]! * this.twRe[t]!;
        }
        oRe[oOff + u + k2 * m] = accRe;
        oIm[oOff + u + k2 * m] = accIm;
      }
    }
  }
}

/** Periodic Hann window (torch.hann_window(n), periodic=True). */
export function hannWindow(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
  return w;
}

const filterCache = new Map<number, Float64Array[]>();

/**
 * Log-mel spectrogram of 16 kHz mono samples: `floor(n / 160)` frames (the STFT's last
 * frame is dropped, as Whisper does), normalised over the whole input. Samples are used as
 * given: pad or cut them first (`padOrTrim`) for a 30 s window.
 */
export function logMelSpectrogram(samples: Float32Array, nMels: number): LogMel {
  const n = samples.length;
  if (n <= N_FFT / 2) throw new RangeError(`log-mel needs more than ${N_FFT / 2} samples for reflect padding, got ${n}`);
  let filters = filterCache.get(nMels);
  if (!filters) {
    filters = melFilters(nMels);
    filterCache.set(nMels, filters);
  }
  const pad = N_FFT / 2;
  // Centred frames with reflect padding (numpy/torch "reflect": the edge sample is not repeated).
  const at = (i: number): number => {
    if (i < 0) return samples[-i]!;
    if (i >= n) return samples[2 * (n - 1) - i]!;
    return samples[i]!;
  };
  const nFrames = Math.floor(n / HOP_LENGTH); // 1 + n // hop frames, minus the last
  const window = hannWindow(N_FFT);
  const fft = new Fft(N_FFT);
  const re = new Float64Array(N_FFT);
  const im = new Float64Array(N_FFT);
  const oRe = new Float64Array(N_FFT);
  const oIm = new Float64Array(N_FFT);
  const power = new Float64Array(N_FREQ);
  const logSpec = new Float64Array(nMels * nFrames);
  let maxLog = -Infinity;
  for (let f = 0; f < nFrames; f++) {
    const start = f * HOP_LENGTH - pad;
    for (let i = 0; i < N_FFT; i++) {
      re[i] = at(start + i) * window[i]!;
      im[i] = 0;
    }
    fft.transform(re, im, oRe, oIm);
    for (let k = 0; k < N_FREQ; k++) power[k] = oRe[k]! * oRe[k]! + oIm[k]! * oIm[k]!;
    for (let m = 0; m < nMels; m++) {
      const row = filters[m]!;
      let acc = 0;
      for (let k = 0; k < N_FREQ; k++) acc += row[k]! * power[k]!;
      const v = Math.log10(Math.max(acc, 1e-10));
      logSpec[m * nFrames + f] = v;
      if (v > maxLog) maxLog = v;
    }
  }
  const data = new Float32Array(nMels * nFrames);
  const floor = maxLog - 8;
  for (let i = 0; i < data.length; i++) data[i] = (Math.max(logSpec[i]!, floor) + 4) / 4;
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
