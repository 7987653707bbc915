/**
 * Fundamental frequency (F0) of speech with YIN (de Cheveigné & Kawahara 2002, "YIN, a
 * fundamental frequency estimator for speech and music", JASA 111(4)), for the voice-change
 * measure of issue 9 (median F0 of generated speech against the target speaker's).
 *
 * Per frame (hop `hopSeconds`, default 10 ms), with W = the integration window and
 * tauMax = ceil(sampleRate / minHz), tauMin = floor(sampleRate / maxHz):
 *  1. difference function (paper eq. 6):   d(tau) = sum_{j<W} (x[j] - x[j + tau])^2,  tau = 1..tauMax
 *  2. cumulative mean normalised difference (eq. 8):
 *       d'(0) = 1,  d'(tau) = d(tau) / ((1 / tau) * sum_{j=1..tau} d(j))
 *  3. absolute threshold (step 4): the smallest tau in [tauMin, tauMax] with d'(tau) < threshold,
 *     then followed down to the bottom of its dip (the local minimum of d'); no such tau: the
 *     frame is unvoiced (the paper takes the global minimum instead; a voicing decision needs
 *     a "none", and d' near 1 means aperiodic)
 *  4. parabolic interpolation (step 5) through d(tau - 1), d(tau), d(tau + 1) of the RAW
 *     difference function (the paper: d' biases the abscissa), F0 = sampleRate / tau*
 * Step 6 of the paper (best local estimate) is not done. Voiced/unvoiced: a frame is voiced
 * when step 3 finds a dip whose bottom lies inside the lag range (not one still falling at
 * tauMin or tauMax), the interpolated F0 lies in [minHz, maxHz], and its energy passes
 * two gates: RMS above `silenceDb` dBFS, and within `relativeSilenceDb` dB of the loudest frame
 * of the clip (pauses between words, where a vocoder's residual hum can look periodic).
 *
 * Frame i reads samples [i * hop, i * hop + W + tauMax) and is reported at its centre.
 * Costs O(W * tauMax) per frame (direct sums in Float64: exact, no FFT round-off); at 24 kHz
 * and minHz 60 that is 400 x 400 multiply-adds per 10 ms frame.
 */

/** YIN options; every field has a default (see `DEFAULT_PITCH_OPTIONS`). */
export interface PitchOptions {
  /** Lowest F0 searched (Hz, default 60: below a low male voice). */
  minHz?: number;
  /** Highest F0 searched (Hz, default 500: above a high female or child voice). */
  maxHz?: number;
  /** Frame hop (seconds, default 0.01). */
  hopSeconds?: number;
  /**
   * YIN's absolute threshold on d' (default 0.12; the paper uses 0.1, speech tools 0.1-0.15).
   * Lower: fewer frames voiced, fewer octave errors.
   */
  threshold?: number;
  /** Integration window W (seconds, default 1 / minHz: one period of the lowest F0 searched). */
  windowSeconds?: number;
  /** Frames whose RMS is below this (dBFS, full scale = 1.0; default -60) are unvoiced. */
  silenceDb?: number;
  /** Frames more than this many dB below the clip's loudest frame are unvoiced (default 40; Infinity turns the gate off). */
  relativeSilenceDb?: number;
}

export const DEFAULT_PITCH_OPTIONS: Readonly<Required<PitchOptions>> = {
  minHz: 60, maxHz: 500, hopSeconds: 0.01, threshold: 0.12, windowSeconds: 0, silenceDb: -60, relativeSilenceDb: 40,
};

/** A clip's F0 track, one value per frame. */
export interface PitchTrack {
  /** F0 in Hz per frame, NaN where unvoiced. `[frames]` */
  f0: Float64Array;
  /** Frame centres (seconds). `[frames]` */
  times: Float64Array;
  /** d' at the chosen period (voiced) or its minimum over [tauMin, tauMax] (unvoiced): 0 = periodic, ~1 = noise. `[frames]` */
  aperiodicity: Float64Array;
  /** Frame RMS in dBFS over the integration window. `[frames]` */
  levelDb: Float64Array;
  /** Frames with a finite F0. */
  voicedFrames: number;
  sampleRate: number;
  hopSeconds: number;
  /** The options the track was made with, defaults filled in (windowSeconds resolved). */
  options: Readonly<Required<PitchOptions>>;
}

/** A bad argument to the pitch functions: the message names it and its value. */
export class PitchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PitchError';
  }
}

const OPTION_KEYS = Object.keys(DEFAULT_PITCH_OPTIONS) as (keyof PitchOptions)[];

/** Options with defaults, validated against the sample rate. */
export function resolvePitchOptions(sampleRate: number, options: PitchOptions = {}): Required<PitchOptions> {
  if (typeof options !== 'object' || options === null) throw new PitchError(`pitch options must be an object, got ${JSON.stringify(options)}`);
  for (const k of Object.keys(options)) {
    if (!(OPTION_KEYS as string[]).includes(k)) throw new PitchError(`pitch options: unknown field ${JSON.stringify(k)} (known: ${OPTION_KEYS.join(', ')})`);
  }
  if (!(typeof sampleRate === 'number' && Number.isFinite(sampleRate) && sampleRate >= 1000)) throw new PitchError(`sampleRate must be a number of Hz >= 1000, got ${sampleRate}`);
  const o = { ...DEFAULT_PITCH_OPTIONS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Required<PitchOptions>;
  const num = (k: keyof PitchOptions) => {
    const v = o[k];
    if (typeof v !== 'number' || Number.isNaN(v)) throw new PitchError(`pitch options: ${k} must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const minHz = num('minHz');
  const maxHz = num('maxHz');
  if (!(minHz > 0 && Number.isFinite(minHz))) throw new PitchError(`pitch options: minHz must be > 0 Hz, got ${minHz}`);
  if (!(maxHz > minHz && Number.isFinite(maxHz))) throw new PitchError(`pitch options: maxHz must be above minHz (${minHz}), got ${maxHz}`);
  // tauMin >= 2 keeps the parabola's left neighbour (tau - 1) a real lag.
  if (sampleRate / maxHz < 2) throw new PitchError(`pitch options: maxHz ${maxHz} is too high for ${sampleRate} Hz audio (at most ${sampleRate / 2} Hz)`);
  const hop = num('hopSeconds');
  if (!(hop > 0 && hop * sampleRate >= 1 && Number.isFinite(hop))) throw new PitchError(`pitch options: hopSeconds must be at least one sample (${1 / sampleRate} s), got ${hop}`);
  const threshold = num('threshold');
  if (!(threshold > 0 && threshold < 1)) throw new PitchError(`pitch options: threshold must be in (0, 1) (YIN uses 0.1-0.15), got ${threshold}`);
  const win = num('windowSeconds');
  if (!(win >= 0 && Number.isFinite(win))) throw new PitchError(`pitch options: windowSeconds must be >= 0 (0 = one period of minHz), got ${win}`);
  if (win > 0 && win * sampleRate < 2) throw new PitchError(`pitch options: windowSeconds ${win} is under two samples at ${sampleRate} Hz`);
  num('silenceDb');
  const rel = num('relativeSilenceDb');
  if (!(rel > 0)) throw new PitchError(`pitch options: relativeSilenceDb must be > 0 dB (Infinity = off), got ${rel}`);
  return { ...o, windowSeconds: win > 0 ? win : 1 / minHz };
}

function checkSamples(samples: ArrayLike<number>, what: string): void {
  if (!(samples instanceof Float32Array || samples instanceof Float64Array)) {
    throw new PitchError(`${what}: samples must be a Float32Array or Float64Array of mono audio, got ${(samples as object)?.constructor?.name ?? typeof samples}`);
  }
  for (let i = 0; i < samples.length; i++) {
    if (!Number.isFinite(samples[i]!)) throw new PitchError(`${what}: sample ${i} is ${samples[i]} (not finite)`);
  }
}

const toDb = (rms: number) => (rms > 0 ? 20 * Math.log10(rms) : -Infinity);

/**
 * The YIN F0 track of mono `samples` at `sampleRate` Hz (see the file comment). A clip
 * shorter than one frame (W + tauMax samples, 33 ms at the defaults) has no frames.
 */
export function yinPitch(samples: Float32Array | Float64Array, sampleRate: number, options: PitchOptions = {}): PitchTrack {
  const o = resolvePitchOptions(sampleRate, options);
  checkSamples(samples, 'yinPitch');
  const tauMin = Math.max(2, Math.floor(sampleRate / o.maxHz));
  const tauMax = Math.ceil(sampleRate / o.minHz);
  const W = Math.max(2, Math.round(o.windowSeconds * sampleRate));
  const hop = Math.max(1, Math.round(o.hopSeconds * sampleRate));
  const span = W + tauMax + 1; // lags up to tauMax + 1 (the parabola's right neighbour)
  const frames = samples.length >= span ? Math.floor((samples.length - span) / hop) + 1 : 0;
  const f0 = new Float64Array(frames).fill(Number.NaN);
  const times = new Float64Array(frames);
  const aperiodicity = new Float64Array(frames).fill(1);
  const levelDb = new Float64Array(frames);
  const d = new Float64Array(tauMax + 2); // d[tau], tau = 0..tauMax + 1
  const dn = new Float64Array(tauMax + 2); // d'[tau]
  const candidates: { frame: number; tau: number; dPrev: number; dHere: number; dNext: number }[] = [];
  let loudestDb = -Infinity;
  for (let f = 0; f < frames; f++) {
    const s = f * hop;
    times[f] = (s + span / 2) / sampleRate;
    let energy = 0;
    for (let j = 0; j < W; j++) energy += samples[s + j]! * samples[s + j]!;
    levelDb[f] = toDb(Math.sqrt(energy / W));
    if (levelDb[f]! > loudestDb) loudestDb = levelDb[f]!;
    // 1. difference function, direct sums.
    for (let tau = 1; tau <= tauMax + 1; tau++) {
      let acc = 0;
      for (let j = 0; j < W; j++) {
        const diff = samples[s + j]! - samples[s + j + tau]!;
        acc += diff * diff;
      }
      d[tau] = acc;
    }
    // 2. cumulative mean normalised difference; an all-zero stretch (digital silence) is aperiodic (1).
    dn[0] = 1;
    let running = 0;
    for (let tau = 1; tau <= tauMax + 1; tau++) {
      running += d[tau]!;
      dn[tau] = running > 0 ? (d[tau]! * tau) / running : 1;
    }
    // 3. absolute threshold, then down to the bottom of the dip.
    let tau = -1;
    let minDn = Infinity;
    for (let t = tauMin; t <= tauMax; t++) {
      if (dn[t]! < minDn) minDn = dn[t]!;
      if (dn[t]! < o.threshold) {
        tau = t;
        while (tau + 1 <= tauMax && dn[tau + 1]! < dn[tau]!) tau++;
        // A dip cut by the search range (still falling below tauMin or past tauMax) has its
        // bottom at a period outside [1 / maxHz, 1 / minHz]: no F0 in range, not the edge value.
        if ((tau === tauMin && dn[tauMin - 1]! < dn[tauMin]!) || (tau === tauMax && dn[tauMax + 1]! < dn[tauMax]!)) tau = -1;
        break;
      }
    }
    aperiodicity[f] = tau >= 0 ? dn[tau]! : minDn;
    if (tau >= 0) candidates.push({ frame: f, tau, dPrev: d[tau - 1]!, dHere: d[tau]!, dNext: d[tau + 1]! });
  }
  // Energy gates need the loudest frame: decided after the pass.
  const floorDb = Math.max(o.silenceDb, loudestDb - o.relativeSilenceDb);
  let voiced = 0;
  for (const { frame, tau, dPrev, dHere, dNext } of candidates) {
    if (!(levelDb[frame]! >= floorDb)) continue;
    // 4. parabolic interpolation on the raw difference function around tau (kept from the pass).
    const denom = dPrev - 2 * dHere + dNext;
    let shift = denom > 0 ? (0.5 * (dPrev - dNext)) / denom : 0;
    if (!(Math.abs(shift) <= 1)) shift = 0;
    const hz = sampleRate / (tau + shift);
    if (!(hz >= o.minHz && hz <= o.maxHz)) continue;
    f0[frame] = hz;
    voiced++;
  }
  return { f0, times, aperiodicity, levelDb, voicedFrames: voiced, sampleRate, hopSeconds: hop / sampleRate, options: o };
}

/** Median of the finite values (NaN when there is none). */
export function medianOfFinite(values: ArrayLike<number>): number {
  const xs: number[] = [];
  for (let i = 0; i < values.length; i++) if (Number.isFinite(values[i]!)) xs.push(values[i]!);
  if (xs.length === 0) return Number.NaN;
  xs.sort((a, b) => a - b);
  const m = xs.length >> 1;
  return xs.length % 2 ? xs[m]! : (xs[m - 1]! + xs[m]!) / 2;
}

/** Median F0 (Hz) over the voiced frames of a clip; NaN when no frame is voiced. */
export function medianF0(samples: Float32Array | Float64Array, sampleRate: number, options: PitchOptions = {}): number {
  return medianOfFinite(yinPitch(samples, sampleRate, options).f0);
}

/** Pooled F0 summary of several clips of one speaker or system. */
export interface F0Summary {
  /** Median F0 (Hz) over the voiced frames of all clips pooled; null when none is voiced. */
  medianHz: number | null;
  /** Voiced frames pooled. */
  voicedFrames: number;
  /** All frames. */
  frames: number;
  /** Median F0 of each clip (null where the clip has no voiced frame). */
  perClipHz: (number | null)[];
}

/**
 * The pooled median F0 of several clips (each `{ samples, sampleRate }`): every voiced frame
 * of every clip counts once, so long clips weigh more than short ones, as in a recording.
 */
export function pooledF0(clips: readonly { samples: Float32Array | Float64Array; sampleRate: number }[], options: PitchOptions = {}): F0Summary {
  if (!Array.isArray(clips)) throw new PitchError(`pooledF0: clips must be an array of { samples, sampleRate }, got ${typeof clips}`);
  const all: number[] = [];
  let frames = 0;
  const perClipHz = clips.map((c, i) => {
    if (typeof c !== 'object' || c === null) throw new PitchError(`pooledF0: clip ${i} must be { samples, sampleRate }, got ${JSON.stringify(c)}`);
    let track: PitchTrack;
    try {
      track = yinPitch(c.samples, c.sampleRate, options);
    } catch (e) {
      if (e instanceof PitchError) throw new PitchError(`pooledF0: clip ${i}: ${e.message}`);
      throw e;
    }
    frames += track.f0.length;
    for (const v of track.f0) if (Number.isFinite(v)) all.push(v);
    const m = medianOfFinite(track.f0);
    return Number.isFinite(m) ? m : null;
  });
  const m = medianOfFinite(all);
  return { medianHz: Number.isFinite(m) ? m : null, voicedFrames: all.length, frames, perClipHz };
}
