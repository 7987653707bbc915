/**
 * Small pictures of a clip for the listening grid: an STFT magnitude spectrogram in dB
 * (Hann window, 10 ms hop) drawn as a PNG, and a min/max waveform drawn as an SVG. Both
 * are a few kilobytes, so a grid of many clips stays light in the saved notebook.
 */
import { encodePng } from '../notebook/png';
import { viridis } from '../notebook/staticPlot';

export interface SpectrogramOptions {
  /** Analysis window in seconds (default 0.025: 25 ms, the usual speech frame). */
  windowSeconds?: number;
  /** Hop between frames in seconds (default 0.010). */
  hopSeconds?: number;
  /** dB below full scale where the scale stops (default 80). */
  dynamicRangeDb?: number;
}

export interface Spectrogram {
  /**
   * Magnitude in dB relative to full scale, `[frames, bins]` row-major: 0 dB is a sine of
   * amplitude 1 at a bin centre, values are floored at -dynamicRangeDb. A fixed reference
   * (not the clip's loudest bin) keeps silence dark and makes cells comparable by level.
   */
  db: Float32Array;
  numFrames: number;
  /** fftSize / 2 + 1 bins from 0 Hz to sampleRate / 2. */
  numBins: number;
  sampleRate: number;
  /** Window length in samples (periodic Hann, zero-padded to fftSize). */
  windowSamples: number;
  hopSamples: number;
  /** FFT length: the power of two >= windowSamples. */
  fftSize: number;
  /** Hz per bin: sampleRate / fftSize. */
  binHz: number;
  /** The floor of `db` (dB below full scale). */
  dynamicRangeDb: number;
}

/** In-place iterative radix-2 FFT of (re, im); n a power of two. */
function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k;
        const b = a + len / 2;
        const tr = re[b]! * cr - im[b]! * ci;
        const ti = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a] = re[a]! + tr;
        im[a] = im[a]! + ti;
        const nr = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = nr;
      }
    }
  }
}

/**
 * STFT magnitude in dB. Frames start at 0, hop, 2 hop, ... while a whole window fits (a clip
 * shorter than one window is zero-padded to one frame); no centring, so frame t covers
 * samples [t hop, t hop + window).
 */
export function spectrogramDb(samples: Float32Array, sampleRate: number, options: SpectrogramOptions = {}): Spectrogram {
  if (!Number.isInteger(sampleRate) || sampleRate <= 0) throw new RangeError(`spectrogramDb: sampleRate must be a positive integer (Hz), got ${sampleRate}`);
  const windowSamples = Math.max(2, Math.round((options.windowSeconds ?? 0.025) * sampleRate));
  const hopSamples = Math.max(1, Math.round((options.hopSeconds ?? 0.01) * sampleRate));
  const range = options.dynamicRangeDb ?? 80;
  if (!(range > 0)) throw new RangeError(`spectrogramDb: dynamicRangeDb must be > 0, got ${range}`);
  let fftSize = 1;
  while (fftSize < windowSamples) fftSize <<= 1;
  const numBins = fftSize / 2 + 1;
  const numFrames = samples.length <= windowSamples ? 1 : Math.floor((samples.length - windowSamples) / hopSamples) + 1;
  // Periodic Hann (as torch.hann_window / scipy's sym=False), the STFT convention.
  const hann = Float64Array.from({ length: windowSamples }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / windowSamples));
  const db = new Float32Array(numFrames * numBins);
  const re = new Float64Array(fftSize);
  const im = new Float64Array(fftSize);
  // A full-scale sine at a bin centre has |X| = sum(window) / 2: that is 0 dB.
  const fullScale = hann.reduce((a, b) => a + b, 0) / 2;
  for (let t = 0; t < numFrames; t++) {
    re.fill(0);
    im.fill(0);
    const start = t * hopSamples;
    for (let i = 0; i < windowSamples && start + i < samples.length; i++) re[i] = samples[start + i]! * hann[i]!;
    fft(re, im);
    for (let k = 0; k < numBins; k++) {
      db[t * numBins + k] = Math.max(20 * Math.log10(Math.hypot(re[k]!, im[k]!) / fullScale), -range);
    }
  }
  return { db, numFrames, numBins, sampleRate, windowSamples, hopSamples, fftSize, binHz: sampleRate / fftSize, dynamicRangeDb: range };
}

/**
 * The spectrogram as a PNG of `width x height` pixels (default 200 x 64): time left to right,
 * frequency 0 Hz at the bottom to Nyquist at the top, viridis from -dynamicRange dBFS (dark)
 * to 0 dBFS (yellow). Each pixel shows the loudest bin it covers, so thin harmonics stay visible.
 */
export function spectrogramPng(spec: Spectrogram, options: { width?: number; height?: number } = {}): Buffer {
  // A fixed size whatever the clip's length (short clips are stretched), so grid cells line up.
  const width = Math.max(1, Math.round(options.width ?? 200));
  const height = Math.max(1, Math.round(options.height ?? 64));
  // A fixed scale, -dynamicRange..0 dBFS, so two clips' images compare by level.
  const floor = -spec.dynamicRangeDb;
  const span = spec.dynamicRangeDb;
  const rgba = new Uint8Array(width * height * 4);
  for (let x = 0; x < width; x++) {
    const f0 = Math.floor((x * spec.numFrames) / width);
    const f1 = Math.max(f0 + 1, Math.floor(((x + 1) * spec.numFrames) / width));
    for (let y = 0; y < height; y++) {
      const row = height - 1 - y; // row 0 of the image is the top: the highest frequencies
      const b0 = Math.floor((row * spec.numBins) / height);
      const b1 = Math.max(b0 + 1, Math.floor(((row + 1) * spec.numBins) / height));
      let v = -Infinity;
      for (let f = f0; f < f1; f++) for (let b = b0; b < b1; b++) v = Math.max(v, spec.db[f * spec.numBins + b]!);
      const [r, g, bl] = viridis((v - floor) / span);
      const o = (y * width + x) * 4;
      rgba[o] = r;
      rgba[o + 1] = g;
      rgba[o + 2] = bl;
      rgba[o + 3] = 255;
    }
  }
  return encodePng(width, height, rgba);
}

/**
 * A waveform as an SVG of `width x height` (default 200 x 40): for each pixel column, a
 * vertical line from the lowest to the highest sample it covers; the axis is [-1, 1] (not
 * rescaled, so a quiet clip looks quiet and a clipping one touches the edges).
 */
export function waveformSvg(samples: Float32Array, options: { width?: number; height?: number; color?: string } = {}): string {
  const width = options.width ?? 200;
  const height = options.height ?? 40;
  const mid = height / 2;
  const parts: string[] = [];
  const n = samples.length;
  for (let x = 0; x < width && n > 0; x++) {
    const s0 = Math.floor((x * n) / width);
    const s1 = Math.max(s0 + 1, Math.floor(((x + 1) * n) / width));
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = s0; i < s1 && i < n; i++) {
      const v = samples[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const clamp = (v: number) => Math.max(-1, Math.min(1, v));
    const yTop = (mid - clamp(hi) * mid).toFixed(1);
    const yBottom = Math.max(mid - clamp(lo) * mid, Number(yTop) + 0.5).toFixed(1); // at least half a pixel, so silence shows as a line
    parts.push(`M${x + 0.5} ${yTop}V${yBottom}`);
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<rect width="${width}" height="${height}" fill="#fafafa"/>` +
    `<path d="${parts.join('')}" stroke="${options.color ?? '#1f77b4'}" stroke-width="1" fill="none"/></svg>`
  );
}
