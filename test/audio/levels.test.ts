// Loudness (BS.1770), silence trimming and sample-exact slicing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { concatAudio, decodeWav, encodeWav, integratedLoudness, normalizeLoudness, peakDb, secondsToSamples, sliceSeconds, SilenceError, toMono, trimSilence } from '../../src/audio';
import { sine } from './helpers';

const mono = (samples: Float32Array, sampleRate: number) => ({ sampleRate, channels: [samples] });

test('BS.1770: a full-scale 997 Hz sine reads -3.01 LUFS at 48 kHz and 16 kHz; -20 dB reads -23.01', () => {
  // ITU-R BS.1770-4, 2.1: a 0 dBFS 1 kHz sine on one front channel reads -3.01 LKFS.
  // At 48 kHz the filters are the standard's own; at other rates the bilinear transform
  // warps the shelf a little (0.04 dB at 997 Hz for 16 kHz).
  for (const [sr, tolerance] of [[48_000, 0.01], [24_000, 0.05], [16_000, 0.05]] as const) {
    assert.ok(Math.abs(integratedLoudness(mono(sine(997, sr, 3, 1), sr)) - -3.01) < tolerance, `at ${sr} Hz`);
    assert.ok(Math.abs(integratedLoudness(mono(sine(997, sr, 3, 0.1), sr)) - -23.01) < tolerance, `at ${sr} Hz, -20 dB`);
  }
});

test('BS.1770 gating: silence after a tone does not lower the loudness, pure silence is -Infinity', () => {
  const sr = 16_000;
  const tone = mono(sine(997, sr, 3, 0.1), sr);
  const withSilence = concatAudio([tone, mono(new Float32Array(6 * sr), sr)]);
  // Ungated, 6 s of silence after 3 s would lower the mean square by 10*log10(3) = 4.8 dB.
  assert.ok(Math.abs(integratedLoudness(withSilence) - integratedLoudness(tone)) < 0.5);
  assert.equal(integratedLoudness(mono(new Float32Array(sr), sr)), -Infinity);
  assert.equal(integratedLoudness(mono(sine(997, sr, 0.3), sr)), -Infinity, 'shorter than one 400 ms block');
});

test('normalizeLoudness reaches the target, or stops at the peak limit and says so', () => {
  const sr = 16_000;
  const r = normalizeLoudness(mono(sine(997, sr, 2, 0.5), sr), { targetLufs: -23 });
  assert.ok(Math.abs(integratedLoudness(r.audio) - -23) < 0.01);
  assert.equal(r.peakLimited, false);
  const loud = normalizeLoudness(mono(sine(997, sr, 2, 0.1), sr), { targetLufs: -3, peakLimitDb: -1 });
  assert.equal(loud.peakLimited, true);
  assert.ok(Math.abs(peakDb(loud.audio) - -1) < 0.01);
  assert.throws(() => normalizeLoudness(mono(new Float32Array(sr), sr), { source: 'quiet.wav' }), /quiet\.wav: cannot normalise loudness: the audio is silent/);
});

test('trimSilence keeps the padding around the loud part, to the sample', () => {
  const sr = 16_000;
  const audio = concatAudio([mono(new Float32Array(8_000), sr), mono(sine(440, sr, 1), sr), mono(new Float32Array(11_200), sr)]);
  const r = trimSilence(audio, { padSeconds: 0.1, frameSeconds: 0.02 });
  // Loud from 0.5 s to 1.5 s; frames of 320 samples align with both edges.
  assert.equal(r.startSample, 8_000 - 1_600);
  assert.equal(r.endSample, 24_000 + 1_600);
  assert.equal(r.audio.channels[0]!.length, r.endSample - r.startSample);
});

test('silence only (digital zero or quiet noise) is an error naming the source and the level', () => {
  const sr = 16_000;
  assert.throws(() => trimSilence(mono(new Float32Array(sr), sr), { source: 'silence.wav' }), (e: Error) => e instanceof SilenceError && /silence\.wav: silence only: the loudest frame is at -inf dBFS, below the -50 dBFS threshold/.test(e.message));
  const noise = Float32Array.from({ length: sr }, (_, i) => 3e-4 * Math.sin(i * 1.3)); // about -73 dBFS RMS
  assert.throws(() => trimSilence(mono(noise, sr), { source: 'hiss.flac' }), /hiss\.flac: silence only: the loudest frame is at -7\d\.\d dBFS/);
});

test('sliceSeconds is sample-exact, adjacent slices tile the audio, and bad ranges throw', () => {
  const sr = 24_000;
  const ramp = Float32Array.from({ length: 3 * sr }, (_, i) => i / (3 * sr));
  const audio = mono(ramp, sr);
  const a = sliceSeconds(audio, 1.0, 2.5);
  assert.equal(a.channels[0]!.length, 36_000);
  assert.equal(a.channels[0]![0], ramp[24_000]);
  // 0.1234567 s * 24000 = 2962.96 samples -> boundary at 2963 for both neighbours.
  const left = sliceSeconds(audio, 0, 0.1234567);
  const right = sliceSeconds(audio, 0.1234567, 0.5);
  assert.equal(left.channels[0]!.length, 2_963);
  assert.equal(right.channels[0]![0], ramp[2_963]);
  assert.equal(secondsToSamples(0.1234567, sr), 2_963);
  assert.equal(sliceSeconds(audio, 2.9, 3.2).channels[0]!.length, 2_400, 'an end a little past the audio is clamped');
  assert.throws(() => sliceSeconds(audio, 3.5, 4, 'talk.flac'), /talk\.flac: slice start 3\.5 s is past the end of the audio \(3\.000 s\)/);
  assert.throws(() => sliceSeconds(audio, 2, 4, 'talk.flac'), /slice end 4 s is past the end/);
  assert.throws(() => sliceSeconds(audio, 2, 1), /need 0 <= start < end/);
});

test('toMono averages channels', () => {
  const m = toMono({ sampleRate: 8_000, channels: [new Float32Array([1, 0.5]), new Float32Array([0, -0.5])] });
  assert.deepEqual(Array.from(m.channels[0]!), [0.5, 0]);
});

test('decodeWav reads a WAV held in a view into a larger buffer (as Parquet readers return it)', async () => {
  const wav = encodeWav({ sampleRate: 8_000, channels: [sine(440, 8_000, 0.05)] }).bytes;
  const big = new Uint8Array(wav.length + 13);
  big.set(wav, 13);
  const d = decodeWav(big.subarray(13));
  assert.equal(d.channels[0]!.length, 400);
  assert.deepEqual(d.channels[0], decodeWav(new Uint8Array(wav)).channels[0]);
});
