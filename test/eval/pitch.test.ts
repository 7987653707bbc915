/**
 * YIN F0 (src/eval/pitch.ts) on signals with a known F0: pure tones, harmonic tones (one with
 * a weak fundamental, where a naive picker jumps an octave), a glide, silence and noise; then
 * real speech: flite's `slt` (female, the sample talk's voice) against `kal16` (male) speaking
 * the same sentence (skipped with the reason when /usr/bin/flite is absent).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWav } from '../../src/audio/wav';
import { DEFAULT_PITCH_OPTIONS, PitchError, medianF0, pooledF0, resolvePitchOptions, yinPitch } from '../../src/eval/pitch';

/** `seconds` of sum_k amps[k] * sin(2 pi (k + 1) f0 t + phase_k). */
function harmonic(f0: number, amps: number[], seconds: number, sampleRate: number, phases: number[] = []): Float32Array {
  const n = Math.round(seconds * sampleRate);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = i / sampleRate;
    let v = 0;
    amps.forEach((a, k) => { v += a * Math.sin(2 * Math.PI * (k + 1) * f0 * t + (phases[k] ?? 0)); });
    out[i] = v;
  }
  return out;
}

/** mulberry32 uniform noise in [-amp, amp). */
function noise(n: number, amp: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = amp * (2 * (((t ^ (t >>> 14)) >>> 0) / 4294967296) - 1);
  }
  return out;
}

const relErr = (got: number, want: number) => Math.abs(got - want) / want;

describe('yinPitch on signals with a known F0', () => {
  for (const sampleRate of [16000, 24000]) {
    for (const hz of [65, 110, 220, 440]) {
      test(`pure tone ${hz} Hz at ${sampleRate} Hz: median within 1%, every frame voiced`, () => {
        const x = harmonic(hz, [0.5], 1, sampleRate);
        const track = yinPitch(x, sampleRate);
        assert.ok(track.f0.length >= 90, `${track.f0.length} frames for 1 s at a 10 ms hop`);
        assert.equal(track.voicedFrames, track.f0.length, `${track.voicedFrames}/${track.f0.length} voiced`);
        const m = medianF0(x, sampleRate);
        assert.ok(relErr(m, hz) < 0.01, `median ${m.toFixed(3)} Hz vs ${hz} Hz`);
        // Parabolic interpolation: every frame, not only the median, is close.
        for (const v of track.f0) assert.ok(relErr(v, hz) < 0.01, `frame F0 ${v} vs ${hz}`);
      });
    }
  }

  test('harmonic tone (8 harmonics, 1/k amplitudes, random phases) at 150 Hz: within 1%', () => {
    const amps = Array.from({ length: 8 }, (_, k) => 0.4 / (k + 1));
    const phases = [0.3, 2.1, 4.0, 1.2, 5.5, 0.7, 3.3, 2.8];
    const m = medianF0(harmonic(150, amps, 1, 24000, phases), 24000);
    assert.ok(relErr(m, 150) < 0.01, `median ${m.toFixed(3)} Hz vs 150 Hz`);
  });

  test('weak fundamental (second harmonic 5x stronger) at 120 Hz: no octave jump to 240 Hz', () => {
    const m = medianF0(harmonic(120, [0.06, 0.3, 0.15, 0.1], 1, 16000, [0, 1, 2, 3]), 16000);
    assert.ok(relErr(m, 120) < 0.01, `median ${m.toFixed(3)} Hz vs 120 Hz`);
  });

  test('missing fundamental (harmonics 2-5 only) at 200 Hz: the period is still 1/200 s', () => {
    const m = medianF0(harmonic(200, [0, 0.3, 0.2, 0.15, 0.1], 1, 24000, [0, 0.5, 1.5, 2.5, 0.2]), 24000);
    assert.ok(relErr(m, 200) < 0.01, `median ${m.toFixed(3)} Hz vs 200 Hz`);
  });

  test('glide 100 -> 300 Hz over 2 s: each voiced frame follows the instantaneous F0', () => {
    const sr = 24000;
    const seconds = 2;
    const n = sr * seconds;
    const inst = (t: number) => 100 + (200 * t) / seconds;
    const x = new Float32Array(n);
    let phase = 0;
    for (let i = 0; i < n; i++) {
      x[i] = 0.5 * Math.sin(phase) + 0.2 * Math.sin(2 * phase + 1);
      phase += (2 * Math.PI * inst(i / sr)) / sr;
    }
    const track = yinPitch(x, sr);
    assert.ok(track.voicedFrames >= 0.95 * track.f0.length, `${track.voicedFrames}/${track.f0.length} voiced`);
    let worst = 0;
    track.f0.forEach((v, i) => {
      if (Number.isFinite(v)) worst = Math.max(worst, relErr(v, inst(track.times[i]!)));
    });
    // The 17 ms window spans a 1.7 Hz change: 2% is ample, an octave error is 50-100%.
    assert.ok(worst < 0.02, `worst relative error ${worst.toFixed(4)}`);
    // The track rises: first voiced frames near 100 Hz, last near 300 Hz.
    const voiced = [...track.f0].filter(Number.isFinite);
    assert.ok(voiced[0]! < 110 && voiced[voiced.length - 1]! > 290, `glide ${voiced[0]} -> ${voiced[voiced.length - 1]}`);
  });

  test('tones just outside [minHz, maxHz] are unvoiced, not reported at the range\'s edge', () => {
    // 520 Hz: the dip at 46.2 samples lies below tauMin = 48 (500 Hz) at 24 kHz; 55 Hz: past tauMax = 400 (60 Hz).
    for (const hz of [520, 55]) {
      const track = yinPitch(harmonic(hz, [0.5], 1, 24000), 24000);
      assert.equal(track.voicedFrames, 0, `${hz} Hz: ${track.voicedFrames} frames voiced, median ${medianF0(harmonic(hz, [0.5], 1, 24000), 24000)}`);
    }
  });

  test('silence and white noise are unvoiced', () => {
    const sr = 16000;
    const silent = yinPitch(new Float32Array(sr), sr);
    assert.ok(silent.f0.length > 90);
    assert.equal(silent.voicedFrames, 0);
    assert.ok(Number.isNaN(medianF0(new Float32Array(sr), sr)));
    const noisy = yinPitch(noise(2 * sr, 0.3, 7), sr);
    assert.ok(noisy.voicedFrames <= 0.02 * noisy.f0.length, `white noise: ${noisy.voicedFrames}/${noisy.f0.length} frames voiced`);
    const meanAp = noisy.aperiodicity.reduce((a, b) => a + b, 0) / noisy.aperiodicity.length;
    assert.ok(meanAp > 0.5, `white noise mean aperiodicity ${meanAp.toFixed(3)}`);
  });

  test('tone, then a pause, then a tone: the pause is unvoiced and the tones are not', () => {
    const sr = 16000;
    const tone = harmonic(180, [0.4, 0.2], 0.5, sr);
    const x = new Float32Array(tone.length * 3);
    x.set(tone, 0);
    x.set(noise(tone.length, 0.0005, 3), tone.length); // -66 dBFS hiss: under the relative gate
    x.set(tone, 2 * tone.length);
    const track = yinPitch(x, sr);
    track.f0.forEach((v, i) => {
      const t = track.times[i]!;
      if (t > 0.55 && t < 0.95) assert.ok(Number.isNaN(v), `frame at ${t.toFixed(3)} s in the pause has F0 ${v}`);
      if ((t > 0.05 && t < 0.45) || (t > 1.05 && t < 1.45)) assert.ok(relErr(v, 180) < 0.01, `frame at ${t.toFixed(3)} s: ${v}`);
    });
  });

  test('a clip shorter than one frame has no frames and a NaN median', () => {
    const sr = 24000;
    const track = yinPitch(harmonic(200, [0.5], 0.02, sr), sr); // 480 samples < W + tauMax + 1 = 801
    assert.equal(track.f0.length, 0);
    assert.ok(Number.isNaN(medianF0(harmonic(200, [0.5], 0.02, sr), sr)));
  });

  test('pooledF0 pools voiced frames of several clips, per-clip medians null where unvoiced', () => {
    const sr = 16000;
    const s = pooledF0([
      { samples: harmonic(100, [0.5], 1, sr), sampleRate: sr },
      { samples: harmonic(200, [0.5], 0.5, 24000), sampleRate: 24000 },
      { samples: new Float32Array(sr), sampleRate: sr },
    ]);
    assert.equal(s.perClipHz.length, 3);
    assert.ok(relErr(s.perClipHz[0]!, 100) < 0.01 && relErr(s.perClipHz[1]!, 200) < 0.01);
    assert.equal(s.perClipHz[2], null);
    // Twice as many 100 Hz frames as 200 Hz ones: the pooled median is 100 Hz.
    assert.ok(relErr(s.medianHz!, 100) < 0.01, `pooled median ${s.medianHz}`);
    assert.ok(s.voicedFrames > 0 && s.voicedFrames < s.frames);
    assert.equal(pooledF0([{ samples: new Float32Array(sr), sampleRate: sr }]).medianHz, null);
  });
});

describe('pitch errors name the bad value', () => {
  const x = new Float32Array(16000);
  test('options', () => {
    assert.throws(() => yinPitch(x, 16000, { minHz: 300, maxHz: 200 }), (e: Error) => e instanceof PitchError && /maxHz must be above minHz \(300\), got 200/.test(e.message));
    assert.throws(() => yinPitch(x, 16000, { threshold: 0 }), /threshold must be in \(0, 1\).*got 0/);
    assert.throws(() => yinPitch(x, 16000, { maxHz: 9000 }), /maxHz 9000 is too high for 16000 Hz/);
    assert.throws(() => yinPitch(x, 16000, { hopSeconds: -1 }), /hopSeconds .* got -1/);
    assert.throws(() => yinPitch(x, 16000, { minHZ: 50 } as never), /unknown field "minHZ"/);
    assert.throws(() => yinPitch(x, Number.NaN), /sampleRate must be .* got NaN/);
    assert.throws(() => yinPitch(x, 16000, { minHz: '60' as never }), /minHz must be a number, got "60"/);
  });
  test('samples', () => {
    assert.throws(() => yinPitch(new Int16Array(10) as never, 16000), /Float32Array or Float64Array .* got Int16Array/);
    const bad = new Float32Array(100);
    bad[42] = Number.NaN;
    assert.throws(() => yinPitch(bad, 16000), /sample 42 is NaN/);
    assert.throws(() => pooledF0([{ samples: bad, sampleRate: 16000 }]), /clip 0: yinPitch: sample 42 is NaN/);
  });
  test('defaults resolve the window to one period of minHz', () => {
    const o = resolvePitchOptions(24000);
    assert.equal(o.windowSeconds, 1 / DEFAULT_PITCH_OPTIONS.minHz);
    assert.equal(o.threshold, 0.12);
  });
});

const FLITE = '/usr/bin/flite';
describe('flite voices', { skip: existsSync(FLITE) ? false : `${FLITE} is absent (apt-get install flite)` }, () => {
  test('slt (female) has a much higher median F0 than kal16 (male)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ttslab-pitch-'));
    try {
      const text = 'The kettle whistled while we waited for the rain to stop, and then we walked home.';
      const median = (voice: string) => {
        const file = join(dir, `${voice}.wav`);
        execFileSync(FLITE, ['-voice', voice, '-t', text, '-o', file]);
        const a = decodeWav(readFileSync(file));
        const track = yinPitch(a.channels[0]!, a.sampleRate);
        return { hz: medianF0(a.channels[0]!, a.sampleRate), voiced: track.voicedFrames / track.f0.length, rate: a.sampleRate };
      };
      const slt = median('slt');
      const kal = median('kal16');
      console.log(`median F0: flite slt ${slt.hz.toFixed(1)} Hz (${(100 * slt.voiced).toFixed(0)}% voiced, ${slt.rate} Hz), kal16 ${kal.hz.toFixed(1)} Hz (${(100 * kal.voiced).toFixed(0)}% voiced, ${kal.rate} Hz)`);
      assert.ok(slt.hz > 140 && slt.hz < 260, `slt median ${slt.hz}`);
      assert.ok(kal.hz > 70 && kal.hz < 150, `kal16 median ${kal.hz}`);
      assert.ok(slt.hz > 1.3 * kal.hz, `slt ${slt.hz} vs kal16 ${kal.hz}`);
      // Speech is partly voiced: neither all (the gates work) nor none. kal16 (a diphone voice
      // with LPC residual excitation) is much less periodic to YIN: measured 21% voiced frames
      // at the default threshold vs slt's 65% (median d' 0.33 vs 0.02).
      assert.ok(slt.voiced > 0.4 && slt.voiced < 0.95, `slt voiced share ${slt.voiced}`);
      assert.ok(kal.voiced > 0.1 && kal.voiced < 0.95, `kal16 voiced share ${kal.voiced}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
