/**
 * A mixed-radix complex FFT plan (kissfft's generic butterflies, Float64) for any length:
 * Whisper's n_fft 400 = 2^4 * 5^2, the mini codec's 1024. `transform` is the forward DFT
 * X[k] = sum_n x[n] e^(-2 pi i k n / N); an inverse is the forward transform of the conjugate / N.
 */
export class Fft {
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
