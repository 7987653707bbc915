/**
 * The w2v-BERT 2.0 front end: transformers' `SeamlessM4TFeatureExtractor` (the processor of
 * `facebook/w2v-bert-2.0`), which reproduces Kaldi's fbank in numpy. Plain TypeScript in
 * Float64, read side by side with
 * https://github.com/huggingface/transformers/blob/main/src/transformers/models/seamless_m4t/feature_extraction_seamless_m4t.py
 * https://github.com/huggingface/transformers/blob/main/src/transformers/audio_utils.py (spectrogram, mel_filter_bank, window_function)
 *
 * Per frame (25 ms = 400 samples every 10 ms = 160, no centring, "snip edges"):
 *   samples * 2^15 -> remove the frame's mean -> pre-emphasis 0.97 (first sample * 0.03)
 *   -> Povey window (Hann^0.85, symmetric) -> 512-point FFT -> power
 *   -> 80 Kaldi mel filters (20 Hz .. 8 kHz, triangles in mel space) -> max(., 2^-23) -> ln
 * Then every mel bin is normalised over the clip (mean, variance with ddof 1, + 1e-7), the
 * frame count is padded to even with `paddingValue` rows, and pairs of frames are stacked:
 * `[frames / 2, 160]`, 20 ms per row.
 *
 * Float rounding: the reference keeps the complex spectrum in complex64 and normalises in
 * float32; this port stays in float64 until the output, so the two differ by float32
 * rounding only (about 1e-5 on normalised features, tested at 1e-4).
 */

/** 16 kHz input. */
export const W2VBERT_SAMPLE_RATE = 16000;
/** 25 ms frames. */
export const FBANK_FRAME_LENGTH = 400;
/** 10 ms between frames. */
export const FBANK_HOP_LENGTH = 160;
/** FFT size: the frame zero-padded to the next power of two. */
export const FBANK_FFT_LENGTH = 512;
export const FBANK_MEL_BINS = 80;
/** Frames stacked per output row (`stride` of the extractor). */
export const FBANK_STRIDE = 2;
/** Width of one output row: 80 mel bins x 2 frames. */
export const W2VBERT_FEATURE_DIM = FBANK_MEL_BINS * FBANK_STRIDE;
/** numpy's float32 epsilon, the log floor (`mel_floor=1.192092955078125e-07`). */
const MEL_FLOOR = 1.192092955078125e-7;

export interface W2vBertFeatures {
  /** `[rows, 160]` row-major. */
  data: Float32Array;
  rows: number;
  /** 160. */
  dim: number;
}

export interface W2vBertFeatureOptions {
  /**
   * The value of the padding row added when the frame count is odd. `facebook/w2v-bert-2.0`'s
   * preprocessor_config.json says 1 (the class default is 0); default 1.
   */
  paddingValue?: number;
}

/** Kaldi's mel scale: 1127 ln(1 + f / 700). */
function hertzToMelKaldi(f: number): number {
  return 1127 * Math.log(1 + f / 700);
}

/**
 * `mel_filter_bank(257, 80, 20, 8000, 16000, norm=None, mel_scale="kaldi",
 * triangularize_in_mel_space=True)` transposed: `[80][257]`, triangles between equally
 * spaced mel points, evaluated at each FFT bin's mel value.
 */
export function kaldiMelFilters(nMels = FBANK_MEL_BINS, nFft = FBANK_FFT_LENGTH, sampleRate = W2VBERT_SAMPLE_RATE, fMin = 20, fMax = sampleRate / 2): Float64Array[] {
  const bins = nFft / 2 + 1;
  const melMin = hertzToMelKaldi(fMin);
  const melMax = hertzToMelKaldi(fMax);
  // np.linspace(mel_min, mel_max, n + 2)
  const points = new Float64Array(nMels + 2);
  const step = (melMax - melMin) / (nMels + 1);
  for (let i = 0; i < nMels + 2; i++) points[i] = i === nMels + 1 ? melMax : melMin + i * step;
  const binWidth = sampleRate / ((bins - 1) * 2);
  const binMel = new Float64Array(bins);
  for (let k = 0; k < bins; k++) binMel[k] = hertzToMelKaldi(binWidth * k);
  const out: Float64Array[] = [];
  for (let m = 0; m < nMels; m++) {
    const row = new Float64Array(bins);
    const lower = points[m]!;
    const centre = points[m + 1]!;
    const upper = points[m + 2]!;
    for (let k = 0; k < bins; k++) {
      // _create_triangular_filter_bank: down = (mel - lower) / (centre - lower), up = (upper - mel) / (upper - centre)
      const down = (binMel[k]! - lower) / (centre - lower);
      const up = (upper - binMel[k]!) / (upper - centre);
      row[k] = Math.max(0, Math.min(down, up));
    }
    out.push(row);
  }
  return out;
}

/** `window_function(400, "povey", periodic=False)`: np.hanning(400) ** 0.85. */
export function poveyWindow(length = FBANK_FRAME_LENGTH): Float64Array {
  const w = new Float64Array(length);
  for (let n = 0; n < length; n++) w[n] = Math.pow(0.5 - 0.5 * Math.cos((2 * Math.PI * n) / (length - 1)), 0.85);
  return w;
}

/** In-place iterative radix-2 complex FFT of length re.length (a power of two). */
function fftRadix2(re: Float64Array, im: Float64Array, cos: Float64Array, sin: Float64Array): void {
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
  for (let size = 2; size <= n; size <<= 1) {
    const half = size >> 1;
    const tableStep = n / size;
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < half; k++) {
        const c = cos[k * tableStep]!;
        const s = sin[k * tableStep]!;
        const a = start + k;
        const b = a + half;
        const tr = re[b]! * c - im[b]! * s;
        const ti = re[b]! * s + im[b]! * c;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a] = re[a]! + tr;
        im[a] = im[a]! + ti;
      }
    }
  }
}

/**
 * Log-mel fbank `[frames][80]` (Float64) of 16 kHz samples in [-1, 1], before the per-bin
 * normalisation: `SeamlessM4TFeatureExtractor._extract_fbank_features`.
 * frames = 1 + floor((samples - 400) / 160); fewer than 400 samples is an error.
 */
export function kaldiFbank(samples: ArrayLike<number>): Float64Array[] {
  if (samples.length < FBANK_FRAME_LENGTH) {
    throw new Error(`w2v-BERT fbank needs at least ${FBANK_FRAME_LENGTH} samples (25 ms at 16 kHz), got ${samples.length}`);
  }
  const frames = 1 + Math.floor((samples.length - FBANK_FRAME_LENGTH) / FBANK_HOP_LENGTH);
  const window = poveyWindow();
  const filters = kaldiMelFilters();
  const n = FBANK_FFT_LENGTH;
  const cos = new Float64Array(n / 2);
  const sin = new Float64Array(n / 2);
  for (let k = 0; k < n / 2; k++) {
    cos[k] = Math.cos((-2 * Math.PI * k) / n);
    sin[k] = Math.sin((-2 * Math.PI * k) / n);
  }
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  const power = new Float64Array(n / 2 + 1);
  const out: Float64Array[] = [];
  for (let f = 0; f < frames; f++) {
    const at = f * FBANK_HOP_LENGTH;
    let mean = 0;
    for (let i = 0; i < FBANK_FRAME_LENGTH; i++) {
      re[i] = samples[at + i]! * 32768;
      mean += re[i]!;
    }
    mean /= FBANK_FRAME_LENGTH;
    for (let i = 0; i < FBANK_FRAME_LENGTH; i++) re[i] = re[i]! - mean;
    // buffer[1:] -= 0.97 * buffer[:-1] (numpy evaluates the right side first), buffer[0] *= 0.03
    for (let i = FBANK_FRAME_LENGTH - 1; i >= 1; i--) re[i] = re[i]! - 0.97 * re[i - 1]!;
    re[0] = re[0]! * (1 - 0.97);
    for (let i = 0; i < FBANK_FRAME_LENGTH; i++) re[i] = re[i]! * window[i]!;
    re.fill(0, FBANK_FRAME_LENGTH);
    im.fill(0);
    fftRadix2(re, im, cos, sin);
    for (let k = 0; k <= n / 2; k++) power[k] = re[k]! * re[k]! + im[k]! * im[k]!;
    const row = new Float64Array(FBANK_MEL_BINS);
    for (let m = 0; m < FBANK_MEL_BINS; m++) {
      const filt = filters[m]!;
      let acc = 0;
      for (let k = 0; k <= n / 2; k++) acc += filt[k]! * power[k]!;
      row[m] = Math.log(Math.max(MEL_FLOOR, acc));
    }
    out.push(row);
  }
  return out;
}

/**
 * `SeamlessM4TFeatureExtractor()(samples, sampling_rate=16000)["input_features"][0]` for one
 * clip: fbank, per-bin normalisation, pad to an even frame count, stack frame pairs.
 * At least 2 frames (560 samples) are needed: the variance uses ddof 1.
 */
export function w2vBertFeatures(samples: ArrayLike<number>, options: W2vBertFeatureOptions = {}): W2vBertFeatures {
  const paddingValue = options.paddingValue ?? 1;
  const fbank = kaldiFbank(samples);
  const frames = fbank.length;
  if (frames < 2) throw new Error(`w2v-BERT features need at least 2 fbank frames (${FBANK_FRAME_LENGTH + FBANK_HOP_LENGTH} samples), got ${samples.length} samples`);
  const padded = frames + (frames % FBANK_STRIDE === 0 ? 0 : FBANK_STRIDE - (frames % FBANK_STRIDE));
  const rows = padded / FBANK_STRIDE;
  const data = new Float32Array(padded * FBANK_MEL_BINS).fill(paddingValue);
  for (let m = 0; m < FBANK_MEL_BINS; m++) {
    let mean = 0;
    for (let t = 0; t < frames; t++) mean += fbank[t]![m]!;
    mean /= frames;
    let sq = 0;
    for (let t = 0; t < frames; t++) sq += (fbank[t]![m]! - mean) ** 2;
    const scale = 1 / Math.sqrt(sq / (frames - 1) + 1e-7);
    for (let t = 0; t < frames; t++) data[t * FBANK_MEL_BINS + m] = (fbank[t]![m]! - mean) * scale;
  }
  // [padded, 80] read as [padded / 2, 160]: row r = frames 2r and 2r + 1 side by side.
  return { data, rows, dim: W2VBERT_FEATURE_DIM };
}
