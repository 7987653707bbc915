/**
 * Band-limited resampling with a Kaiser-windowed sinc filter.
 *
 * Quality as designed: stopband attenuation `attenuationDb` (default 80 dB) starting at
 * the lower of the two Nyquist frequencies, passband up to `(1 - transitionFraction)`
 * of it (default 0.9: flat to 10.8 kHz when going to 24 kHz). So when downsampling,
 * every input component that would alias is attenuated by at least ~`attenuationDb`;
 * test/audio/resample.test.ts checks aliasing of a sine sweep stays below -60 dB.
 * The filter length follows Kaiser's formula (Oppenheim & Schafer, eq. 7.63):
 * `taps = (A - 7.95) / (2.285 * deltaOmega)`.
 */

export interface ResampleOptions {
  /** Stopband attenuation in dB (default 80). */
  attenuationDb?: number;
  /** Width of the transition band as a fraction of the lower Nyquist frequency (default 0.1). */
  transitionFraction?: number;
}

/** Modified Bessel function of the first kind, order 0 (power series; converges fast for x < 30). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

/** Kaiser's beta for a stopband attenuation in dB (Oppenheim & Schafer, eq. 7.62). */
export function kaiserBeta(attenuationDb: number): number {
  if (attenuationDb > 50) return 0.1102 * (attenuationDb - 8.7);
  if (attenuationDb >= 21) return 0.5842 * (attenuationDb - 21) ** 0.4 + 0.07886 * (attenuationDb - 21);
  return 0;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Output length for `inputSamples` at the new rate: `ceil(n * outRate / inRate)`. */
export function resampledLength(inputSamples: number, inRate: number, outRate: number): number {
  return Math.ceil((inputSamples * outRate) / inRate);
}

/**
 * Half the length of the filter `resample` uses, in input samples: output samples further
 * than this from the ends of a block depend only on the block (used to resample a stream
 * block by block with exactly the whole-signal result).
 */
export function resampleHalfWidth(inRate: number, outRate: number, options: ResampleOptions = {}): number {
  const attenuationDb = options.attenuationDb ?? 80;
  const transition = options.transitionFraction ?? 0.1;
  const nyquistHz = Math.min(inRate, outRate) / 2;
  const deltaOmega = (2 * Math.PI * nyquistHz * transition) / inRate;
  return Math.ceil(Math.ceil((attenuationDb - 7.95) / (2.285 * deltaOmega)) / 2) + 1;
}

/**
 * Resamples mono samples from `inRate` to `outRate` (both in Hz, integers). Sample n of
 * the output is at time `n / outRate`, the same instant as input sample `n * inRate / outRate`
 * (no delay). Beyond the ends the input counts as zero.
 */
export function resample(samples: Float32Array, inRate: number, outRate: number, options: ResampleOptions = {}): Float32Array {
  for (const [name, r] of [['inRate', inRate], ['outRate', outRate]] as const) {
    if (!Number.isInteger(r) || r <= 0) throw new RangeError(`resample: ${name} must be a positive integer (Hz), got ${r}`);
  }
  if (inRate === outRate) return samples.slice();
  const attenuationDb = options.attenuationDb ?? 80;
  const transition = options.transitionFraction ?? 0.1;
  if (!(transition > 0 && transition < 1)) throw new RangeError(`resample: transitionFraction must be in (0, 1), got ${transition}`);

  const nyquistHz = Math.min(inRate, outRate) / 2;
  // Cutoff halfway through the transition band, which ends at the lower Nyquist frequency.
  const cutoffHz = nyquistHz * (1 - transition / 2);
  const deltaOmega = (2 * Math.PI * nyquistHz * transition) / inRate; // in radians per input sample
  const taps = Math.ceil((attenuationDb - 7.95) / (2.285 * deltaOmega));
  const halfWidth = taps / 2; // in input samples
  const beta = kaiserBeta(attenuationDb);
  const i0beta = besselI0(beta);
  const fc = cutoffHz / inRate; // cycles per input sample

  // h(d): the filter at a distance d (in input samples) from the output instant.
  const h = (d: number): number => {
    const r = d / halfWidth;
    if (r <= -1 || r >= 1) return 0;
    const x = 2 * fc * d;
    const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    return 2 * fc * sinc * (besselI0(beta * Math.sqrt(1 - r * r)) / i0beta);
  };

  const g = gcd(inRate, outRate);
  const up = outRate / g; // L: phases
  const down = inRate / g; // M: input step per L outputs
  const span = Math.ceil(halfWidth) * 2 + 2;
  const n = resampledLength(samples.length, inRate, outRate);
  const out = new Float32Array(n);

  // Polyphase table: output n sits at input position (n*M)/L = k0 + p/L; its taps depend
  // only on the phase p. Rates with a huge L (e.g. 44100 -> 16001) compute taps per sample.
  const usePhaseTable = up * span <= 4_000_000;
  const table = usePhaseTable ? new Float64Array(up * span) : undefined;
  const firstOffset = -Math.ceil(halfWidth);
  if (table) {
    for (let p = 0; p < up; p++) {
      const frac = p / up;
      for (let j = 0; j < span; j++) table[p * span + j] = h(frac - (firstOffset + j));
    }
  }
  const len = samples.length;
  for (let i = 0; i < n; i++) {
    const num = i * down;
    const k0 = Math.floor(num / up);
    const p = num - k0 * up;
    let acc = 0;
    const base = k0 + firstOffset;
    if (table) {
      const row = p * span;
      const jStart = Math.max(0, -base);
      const jEnd = Math.min(span, len - base);
      for (let j = jStart; j < jEnd; j++) acc += samples[base + j]! * table[row + j]!;
    } else {
      const frac = p / up;
      for (let j = 0; j < span; j++) {
        const k = base + j;
        if (k >= 0 && k < len) acc += samples[k]! * h(frac - (firstOffset + j));
      }
    }
    out[i] = acc;
  }
  return out;
}
