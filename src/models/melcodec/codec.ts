/**
 * The ttslab-mini codec ("ttslab_mel_rvq"): a DSP + learned tokenizer with CSM's interface
 * (codes `[frames][codebooks]` at a fixed frame rate). Port of scripts/mini/melcodec.py, the
 * reference that trained it; both compute in Float64 so the codes are the same.
 *
 * encode: samples [n] at 24 kHz -> zero-padded to frames * frameSamples (frames = ceil(n /
 *   frameSamples)) -> centred STFT (reflect padding, periodic Hann, nFft, hop) -> |X| -> mel
 *   filters -> ln(max(mel, 1e-5)) clamped at logFloor -> patches of framesPerCode mel frames
 *   `[frames][framesPerCode * nMels]` (frame-major) -> minus `mean`, times `components`^T
 *   (PCA, `[dim]`) -> residual VQ: stage s picks argmin ||r - codebooks[s][k]||^2 and subtracts it.
 * decode: codes -> sum of the chosen code vectors -> times `components` plus `mean` -> log-mel
 *   `[frames * framesPerCode][nMels]` (the last frame repeated for the STFT's final frame) ->
 *   exp -> `mel_pinv` (linear magnitudes, clipped at 0) -> fast Griffin-Lim (glIters, momentum)
 *   from deterministic initial phases -> `frames * frameSamples` samples.
 *
 * Weights (a WeightSource, usually the mini CSM checkpoint with prefix `codec_model.`):
 *   mel_filters [nMels, nFft/2+1] F32, mel_pinv [nFft/2+1, nMels] F32, mean [P] F16,
 *   components [dim, P] F16, codebooks [numCodebooks, codebookSize, dim] F16; P = framesPerCode * nMels.
 */

import { Fft } from '../../audio/fft';
import type { WeightSource } from '../../weights/types';
import type { AudioCodec, Codes } from '../types';
import { type MelCodecConfig, melCodecFrameSamples } from './config';

export class MelRvqCodec {
  readonly frameSamples: number;
  private readonly bins: number;
  private readonly patch: number;
  private readonly window: Float64Array;
  private readonly fft: Fft;
  /** ||codebooks[s][k]||^2, `[numCodebooks * codebookSize]`. */
  private readonly norms: Float64Array;

  constructor(
    readonly config: MelCodecConfig,
    /** `[nMels][bins]` row-major. */
    private readonly melFilters: Float64Array,
    /** `[bins][nMels]` row-major. */
    private readonly melPinv: Float64Array,
    /** `[P]`. */
    private readonly mean: Float64Array,
    /** `[dim][P]` row-major. */
    private readonly components: Float64Array,
    /** `[numCodebooks][codebookSize][dim]` row-major. */
    private readonly codebooks: Float64Array,
  ) {
    const c = config;
    this.frameSamples = melCodecFrameSamples(c);
    this.bins = c.nFft / 2 + 1;
    this.patch = c.framesPerCode * c.nMels;
    const expect: Array<[string, Float64Array, number]> = [
      ['mel_filters', melFilters, c.nMels * this.bins], ['mel_pinv', melPinv, this.bins * c.nMels], ['mean', mean, this.patch],
      ['components', components, c.dim * this.patch], ['codebooks', codebooks, c.numCodebooks * c.codebookSize * c.dim],
    ];
    for (const [name, a, n] of expect) {
      if (a.length !== n) throw new Error(`mel codec: ${name} has ${a.length} values, the config needs ${n}`);
    }
    if (c.nFft % 2 !== 0) throw new Error(`mel codec: n_fft must be even, got ${c.nFft}`);
    this.window = new Float64Array(c.nFft);
    for (let i = 0; i < c.nFft; i++) this.window[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / c.nFft);
    this.fft = new Fft(c.nFft);
    this.norms = new Float64Array(c.numCodebooks * c.codebookSize);
    for (let e = 0; e < this.norms.length; e++) {
      let s = 0;
      for (let d = 0; d < c.dim; d++) s += codebooks[e * c.dim + d]! ** 2;
      this.norms[e] = s;
    }
  }

  /** Loads the five tensors (names after `prefix`) from a checkpoint; `where` names it in errors. */
  static async fromWeights(config: MelCodecConfig, weights: WeightSource, options: { prefix?: string; where?: string } = {}): Promise<MelRvqCodec> {
    const prefix = options.prefix ?? '';
    const get = async (name: string, shape: number[]): Promise<Float64Array> => {
      const key = prefix + name;
      if (!weights.has(key)) throw new Error(`${options.where ?? 'mel codec weights'}: no tensor ${key}`);
      const t = await weights.getF32(key);
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new Error(`${options.where ?? 'mel codec weights'}: ${key} has shape [${t.shape}], the config needs [${shape}]`);
      }
      return Float64Array.from(t.data);
    };
    const c = config;
    const bins = c.nFft / 2 + 1;
    const p = c.framesPerCode * c.nMels;
    return new MelRvqCodec(c,
      await get('mel_filters', [c.nMels, bins]), await get('mel_pinv', [bins, c.nMels]), await get('mean', [p]),
      await get('components', [c.dim, p]), await get('codebooks', [c.numCodebooks, c.codebookSize, c.dim]));
  }

  /** The model interface's codec; `id` should name the weights (the tokenization cache key). */
  asAudioCodec(id: string, numCodebooks = this.config.numCodebooks): AudioCodec {
    if (!Number.isInteger(numCodebooks) || numCodebooks < 1 || numCodebooks > this.config.numCodebooks) {
      throw new Error(`mel codec: numCodebooks must be 1..${this.config.numCodebooks}, got ${numCodebooks}`);
    }
    return {
      id: `${id}:${numCodebooks}`,
      sampleRate: this.config.samplingRate,
      frameSamples: this.frameSamples,
      numCodebooks,
      encode: async (samples) => this.encode(samples, numCodebooks),
      decode: async (codes) => this.decode(codes),
    };
  }

  // ---- analysis ----

  /** Centred STFT magnitudes of x: `[frames][bins]` for frames = 1 + floor(n / hop). */
  private magnitudes(x: Float64Array): Float64Array[] {
    const { nFft, hopLength } = this.config;
    const h = nFft / 2;
    const n = x.length;
    if (n <= h) throw new Error(`mel codec: ${n} samples is too short for reflect padding of ${h}`);
    const frames = 1 + Math.floor(n / hopLength);
    const re = new Float64Array(nFft);
    const im = new Float64Array(nFft);
    const oRe = new Float64Array(nFft);
    const oIm = new Float64Array(nFft);
    const out: Float64Array[] = [];
    for (let t = 0; t < frames; t++) {
      for (let i = 0; i < nFft; i++) {
        let j = t * hopLength + i - h; // index into x with reflect padding
        if (j < 0) j = -j;
        else if (j >= n) j = 2 * (n - 1) - j;
        re[i] = x[j]! * this.window[i]!;
        im[i] = 0;
      }
      this.fft.transform(re, im, oRe, oIm);
      const m = new Float64Array(this.bins);
      for (let k = 0; k < this.bins; k++) m[k] = Math.hypot(oRe[k]!, oIm[k]!);
      out.push(m);
    }
    return out;
  }

  /** samples -> PCA coordinates `[frames][dim]` (frames = max(1, ceil(n / frameSamples))). */
  private project(samples: Float32Array): Float64Array[] {
    const c = this.config;
    const frames = Math.max(1, Math.ceil(samples.length / this.frameSamples));
    const x = new Float64Array(frames * this.frameSamples);
    for (let i = 0; i < samples.length; i++) {
      const v = samples[i]!;
      if (!Number.isFinite(v)) throw new Error(`mel codec: sample ${i} is ${v}`);
      x[i] = v;
    }
    const mags = this.magnitudes(x);
    const out: Float64Array[] = [];
    const p = new Float64Array(this.patch);
    for (let f = 0; f < frames; f++) {
      for (let s = 0; s < c.framesPerCode; s++) {
        const mag = mags[f * c.framesPerCode + s]!;
        for (let m = 0; m < c.nMels; m++) {
          let v = 0;
          const row = m * this.bins;
          for (let k = 0; k < this.bins; k++) v += mag[k]! * this.melFilters[row + k]!;
          p[s * c.nMels + m] = Math.max(Math.log(Math.max(v, 1e-5)), c.logFloor) - this.mean[s * c.nMels + m]!;
        }
      }
      const z = new Float64Array(c.dim);
      for (let d = 0; d < c.dim; d++) {
        let v = 0;
        const row = d * this.patch;
        for (let i = 0; i < this.patch; i++) v += p[i]! * this.components[row + i]!;
        z[d] = v;
      }
      out.push(z);
    }
    return out;
  }

  /** samples [n] at samplingRate -> codes `[frames][numCodebooks]`, frames = ceil(n / frameSamples) (1 for n = 0). */
  encode(samples: Float32Array, numCodebooks = this.config.numCodebooks): Codes {
    const { dim, codebookSize } = this.config;
    return this.project(samples).map((r) => {
      const codes: number[] = [];
      for (let s = 0; s < numCodebooks; s++) {
        let best = 0;
        let bestD = Infinity;
        const base = s * codebookSize;
        for (let k = 0; k < codebookSize; k++) {
          const off = (base + k) * dim;
          let dot = 0;
          for (let d = 0; d < dim; d++) dot += r[d]! * this.codebooks[off + d]!;
          const dist = this.norms[base + k]! - 2 * dot; // ||r - c||^2 - ||r||^2
          if (dist < bestD) {
            bestD = dist;
            best = k;
          }
        }
        codes.push(best);
        const off = (base + best) * dim;
        for (let d = 0; d < dim; d++) r[d] -= this.codebooks[off + d]!;
      }
      return codes;
    });
  }

  // ---- synthesis ----

  /** codes `[frames][q]` (q <= numCodebooks) -> log-mel `[frames * framesPerCode][nMels]` (flat). */
  logMel(codes: Codes): Float64Array {
    const c = this.config;
    const out = new Float64Array(codes.length * this.patch);
    const z = new Float64Array(c.dim);
    codes.forEach((frame, t) => {
      if (!Array.isArray(frame) || frame.length < 1 || frame.length > c.numCodebooks) {
        throw new Error(`mel codec: frame ${t} must have 1..${c.numCodebooks} codes, got ${Array.isArray(frame) ? frame.length : typeof frame}`);
      }
      z.fill(0);
      frame.forEach((code, s) => {
        if (!Number.isInteger(code) || code < 0 || code >= c.codebookSize) {
          throw new Error(`mel codec: frame ${t} codebook ${s}: code ${code} is outside 0..${c.codebookSize - 1}`);
        }
        const off = (s * c.codebookSize + code) * c.dim;
        for (let d = 0; d < c.dim; d++) z[d] += this.codebooks[off + d]!;
      });
      for (let i = 0; i < this.patch; i++) {
        let v = this.mean[i]!;
        for (let d = 0; d < c.dim; d++) v += z[d]! * this.components[d * this.patch + i]!;
        out[t * this.patch + i] = v;
      }
    });
    return out;
  }

  /** codes `[frames][q]` -> `frames * frameSamples` samples at samplingRate (Griffin-Lim). */
  decode(codes: Codes): Float32Array {
    const c = this.config;
    if (codes.length === 0) return new Float32Array(0);
    const length = codes.length * this.frameSamples;
    const lm = this.logMel(codes);
    const have = lm.length / c.nMels;
    const n = 1 + Math.floor(length / c.hopLength);
    const B = this.bins;
    // Linear magnitudes [n][B] through the filter bank's pseudo-inverse.
    const mag = new Float64Array(n * B);
    const mel = new Float64Array(c.nMels);
    for (let t = 0; t < n; t++) {
      const src = Math.min(t, have - 1);
      for (let m = 0; m < c.nMels; m++) mel[m] = Math.exp(lm[src * c.nMels + m]!);
      for (let k = 0; k < B; k++) {
        let v = 0;
        for (let m = 0; m < c.nMels; m++) v += this.melPinv[k * c.nMels + m]! * mel[m]!;
        mag[t * B + k] = Math.max(v, 0);
      }
    }
    // Deterministic initial phases (same integer hash as melcodec.py).
    const aRe = new Float64Array(n * B);
    const aIm = new Float64Array(n * B);
    for (let t = 0; t < n; t++) {
      for (let k = 0; k < B; k++) {
        const u = ((t * 7919 + k * 104729) % 65536) / 65536;
        aRe[t * B + k] = Math.cos(2 * Math.PI * u);
        aIm[t * B + k] = Math.sin(2 * Math.PI * u);
      }
    }
    const pRe = new Float64Array(n * B);
    const pIm = new Float64Array(n * B);
    const sRe = new Float64Array(n * B);
    const sIm = new Float64Array(n * B);
    const y = new Float64Array(length);
    for (let it = 0; it < c.glIters; it++) {
      this.istft(mag, aRe, aIm, n, length, y);
      this.stft(y, sRe, sIm, n);
      for (let i = 0; i < n * B; i++) {
        const tr = sRe[i]! - c.glMomentum * pRe[i]!;
        const ti = sIm[i]! - c.glMomentum * pIm[i]!;
        pRe[i] = sRe[i]!;
        pIm[i] = sIm[i]!;
        const a = Math.max(Math.hypot(tr, ti), 1e-8);
        aRe[i] = tr / a;
        aIm[i] = ti / a;
      }
    }
    this.istft(mag, aRe, aIm, n, length, y);
    return Float32Array.from(y);
  }

  /** Complex centred STFT of y (length L, n = 1 + floor(L / hop) frames) into (re, im) `[n][bins]`. */
  private stft(y: Float64Array, re: Float64Array, im: Float64Array, n: number): void {
    const { nFft, hopLength } = this.config;
    const h = nFft / 2;
    const L = y.length;
    const xr = new Float64Array(nFft);
    const xi = new Float64Array(nFft);
    const or = new Float64Array(nFft);
    const oi = new Float64Array(nFft);
    for (let t = 0; t < n; t++) {
      for (let i = 0; i < nFft; i++) {
        let j = t * hopLength + i - h;
        if (j < 0) j = -j;
        else if (j >= L) j = 2 * (L - 1) - j;
        xr[i] = y[j]! * this.window[i]!;
        xi[i] = 0;
      }
      this.fft.transform(xr, xi, or, oi);
      re.set(or.subarray(0, this.bins), t * this.bins);
      im.set(oi.subarray(0, this.bins), t * this.bins);
    }
  }

  /**
   * Weighted overlap-add inverse of `stft` for the spectrum mag * (aRe + i aIm) `[n][bins]`,
   * normalised by the summed squared window and cropped to `out.length` samples after nFft/2.
   */
  private istft(mag: Float64Array, aRe: Float64Array, aIm: Float64Array, n: number, length: number, out: Float64Array): void {
    const { nFft, hopLength } = this.config;
    const B = this.bins;
    const h = nFft / 2;
    const total = nFft + hopLength * (n - 1);
    const acc = new Float64Array(total);
    const wsum = new Float64Array(total);
    const xr = new Float64Array(nFft);
    const xi = new Float64Array(nFft);
    const or = new Float64Array(nFft);
    const oi = new Float64Array(nFft);
    for (let t = 0; t < n; t++) {
      // Full conjugate-symmetric spectrum, conjugated: the forward FFT of conj(X) / N is conj(x).
      for (let k = 0; k < B; k++) {
        const m = mag[t * B + k]!;
        xr[k] = m * aRe[t * B + k]!;
        xi[k] = -m * aIm[t * B + k]!;
      }
      xi[0] = 0; // numpy's irfft ignores the imaginary parts at DC and Nyquist
      xi[B - 1] = 0;
      for (let k = B; k < nFft; k++) {
        xr[k] = xr[nFft - k]!;
        xi[k] = -xi[nFft - k]!;
      }
      this.fft.transform(xr, xi, or, oi);
      const s = t * hopLength;
      for (let i = 0; i < nFft; i++) {
        const w = this.window[i]!;
        acc[s + i] += (or[i]! / nFft) * w;
        wsum[s + i] += w * w;
      }
    }
    for (let i = 0; i < length; i++) {
      const j = i + h;
      out[i] = j < total ? acc[j]! / Math.max(wsum[j]!, 1e-8) : 0;
    }
  }
}
