// Resampling quality: aliasing and imaging of sine sweeps, measured against the
// analytic signal (the expected output is the sweep evaluated at the new rate, not
// anything the resampler computes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resample, resampledLength } from '../../src/audio';
import { db, rms, sweep } from './helpers';

const SECONDS = 1.5;
// Both ends of a sweep start and stop abruptly; skip 50 ms there (filter settling).
const EDGE_SECONDS = 0.05;

/** Worst RMS over 20 ms windows, relative to a sine of the sweep's amplitude, in dB. */
function worstWindowDb(x: Float32Array, sampleRate: number, amplitude: number): number {
  const w = Math.round(0.02 * sampleRate);
  const edge = Math.round(EDGE_SECONDS * sampleRate);
  let worst = 0;
  for (let s = edge; s + w <= x.length - edge; s += w) worst = Math.max(worst, rms(x, s, s + w));
  return db(worst / (amplitude / Math.SQRT2));
}

for (const [inRate, outRate] of [
  [48_000, 16_000],
  [44_100, 24_000],
  [48_000, 24_000],
  [22_050, 16_000],
] as const) {
  test(`${inRate} -> ${outRate} Hz: a sweep over the stopband (would alias) comes out below -60 dB`, () => {
    // Every component between the new Nyquist frequency and the old one must vanish.
    const x = sweep(outRate / 2, inRate / 2, inRate, SECONDS);
    const y = resample(x, inRate, outRate);
    assert.equal(y.length, resampledLength(x.length, inRate, outRate));
    const aliasDb = worstWindowDb(y, outRate, 0.5);
    assert.ok(aliasDb < -60, `aliasing at ${aliasDb.toFixed(1)} dB`);
  });

  test(`${inRate} -> ${outRate} Hz: a sweep over the passband matches the analytic sweep at the new rate within -60 dB`, () => {
    const top = 0.9 * (Math.min(inRate, outRate) / 2);
    const x = sweep(50, top, inRate, SECONDS);
    const expected = sweep(50, top, outRate, SECONDS);
    const y = resample(x, inRate, outRate);
    const err = y.map((v, i) => v - (expected[i] ?? 0));
    const errDb = worstWindowDb(err, outRate, 0.5);
    assert.ok(errDb < -60, `passband error at ${errDb.toFixed(1)} dB`);
  });
}

test('16 -> 24 kHz upsampling: images of a passband sweep stay below -60 dB and nothing is invented above 8 kHz', () => {
  const x = sweep(50, 7_200, 16_000, SECONDS);
  const y = resample(x, 16_000, 24_000);
  const expected = sweep(50, 7_200, 24_000, SECONDS);
  const errDb = worstWindowDb(y.map((v, i) => v - expected[i]!), 24_000, 0.5);
  assert.ok(errDb < -60, `upsampling error at ${errDb.toFixed(1)} dB`);
});

test('rates with a huge phase count (44100 -> 16001 Hz) use the direct path and still reject aliases', () => {
  const x = sweep(8_100, 22_000, 44_100, 0.3);
  const y = resample(x, 44_100, 16_001);
  const w = Math.round(0.05 * 16_001);
  assert.ok(db(rms(y, w, y.length - w) / (0.5 / Math.SQRT2)) < -60);
});

test('equal rates copy; bad rates throw with the value', () => {
  const x = new Float32Array([0.1, 0.2]);
  const y = resample(x, 16_000, 16_000);
  assert.deepEqual(y, x);
  assert.notEqual(y, x);
  assert.throws(() => resample(x, 16_000.5, 24_000), /inRate must be a positive integer \(Hz\), got 16000\.5/);
  assert.throws(() => resample(x, 16_000, 0), /outRate .* got 0/);
});
