// The grid's pictures: STFT in dBFS (checked against a direct DFT), the PNG it draws, the waveform SVG.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { spectrogramDb, spectrogramPng, waveformSvg } from '../../src/eval/spectrogram';

const SR = 24_000;

function sine(hz: number, seconds: number, amplitude: number, sampleRate = SR): Float32Array {
  return Float32Array.from({ length: Math.round(seconds * sampleRate) }, (_, i) => amplitude * Math.sin((2 * Math.PI * hz * i) / sampleRate));
}

/** Reads back an 8-bit RGBA PNG with filter 0 on every line (what encodePng writes). */
function readPng(png: Buffer): { width: number; height: number; rgba: Uint8Array } {
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  let off = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (off < png.length) {
    const len = png.readUInt32BE(off);
    const type = png.subarray(off + 4, off + 8).toString('ascii');
    const data = png.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
    }
    if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    assert.equal(raw[y * (width * 4 + 1)], 0, 'filter type 0');
    rgba.set(raw.subarray(y * (width * 4 + 1) + 1, (y + 1) * (width * 4 + 1)), y * width * 4);
  }
  return { width, height, rgba };
}

test('spectrogramDb: 25 ms Hann window, 10 ms hop; a 1 kHz sine peaks at its bin with the right level', () => {
  const s = spectrogramDb(sine(1000, 1, 0.5), SR);
  assert.equal(s.windowSamples, 600);
  assert.equal(s.hopSamples, 240);
  assert.equal(s.fftSize, 1024);
  assert.equal(s.numBins, 513);
  assert.equal(s.numFrames, Math.floor((24_000 - 600) / 240) + 1);
  // 1000 Hz / (24000/1024 Hz per bin) = 42.67: the peak is bin 43 (or 42), -6 dBFS for
  // amplitude 0.5 less the scalloping loss of a Hann window 0.33 bin off centre (~0.6 dB).
  for (let t = 0; t < s.numFrames; t += 17) {
    const row = s.db.subarray(t * s.numBins, (t + 1) * s.numBins);
    const peak = row.indexOf(Math.max(...row));
    assert.equal(peak, 43, `frame ${t}`);
    assert.ok(row[peak]! < -6 && row[peak]! > -7.5, `frame ${t}: peak ${row[peak]} dBFS`);
    assert.ok(row[200]! < -60, `frame ${t}: 4.7 kHz is ${row[200]} dB, expected far below the tone`);
  }
});

test('spectrogramDb equals a direct DFT of the Hann-windowed frame (radix-2 FFT checked)', () => {
  // Noise-like content so every bin matters.
  let seed = 7;
  const x = Float32Array.from({ length: 3000 }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1);
  const s = spectrogramDb(x, 16_000, { dynamicRangeDb: 200 });
  const w = s.windowSamples; // 400
  const n = s.fftSize; // 512
  const hann = Array.from({ length: w }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / w));
  const full = hann.reduce((a, b) => a + b, 0) / 2;
  const t = 5;
  for (const k of [0, 1, 17, 100, 255, 256]) {
    let re = 0;
    let im = 0;
    for (let i = 0; i < w; i++) {
      const v = x[t * s.hopSamples + i]! * hann[i]!;
      re += v * Math.cos((2 * Math.PI * k * i) / n);
      im -= v * Math.sin((2 * Math.PI * k * i) / n);
    }
    const expected = 20 * Math.log10(Math.hypot(re, im) / full);
    assert.ok(Math.abs(s.db[t * s.numBins + k]! - expected) < 1e-3, `bin ${k}: ${s.db[t * s.numBins + k]} vs ${expected}`);
  }
});

test('silence is the floor, a clip shorter than a window is one frame; bad rates are named', () => {
  const s = spectrogramDb(new Float32Array(100), SR);
  assert.equal(s.numFrames, 1);
  assert.ok(s.db.every((v) => v === -80));
  assert.throws(() => spectrogramDb(new Float32Array(10), 22_050.5), /sampleRate must be a positive integer \(Hz\), got 22050.5/);
});

test('spectrogramPng: small image, 0 Hz at the bottom, the tone\'s row the brightest, silence dark', () => {
  const spec = spectrogramDb(sine(3000, 1, 0.9), SR);
  const png = spectrogramPng(spec, { width: 100, height: 64 });
  assert.ok(png.length < 8000, `${png.length} bytes`);
  const { width, height, rgba } = readPng(png);
  assert.deepEqual([width, height], [100, 64]);
  // 3000 Hz is bin 128 of 513 (23.4375 Hz per bin). Image row r from the bottom covers bins
  // [floor(r * 513 / 64), floor((r + 1) * 513 / 64)): row 16 is [128, 136).
  const green = (y: number) => rgba[(y * width + 50) * 4 + 1]!;
  const ys = Array.from({ length: height }, (_, y) => y);
  const brightest = ys.reduce((a, y) => (green(y) > green(a) ? y : a), 0);
  assert.equal(height - 1 - brightest, 16);
  assert.deepEqual([...rgba.subarray(0, 4)], [68, 1, 84, 255], 'top-left (high frequency, no energy) is viridis\' darkest');
  const silent = readPng(spectrogramPng(spectrogramDb(new Float32Array(SR), SR)));
  assert.ok(silent.rgba.every((v, i) => v === [68, 1, 84, 255][i % 4]), 'silence is dark everywhere');
});

test('waveformSvg: one stroke per pixel column on a fixed [-1, 1] scale', () => {
  const svg = waveformSvg(new Float32Array(1000).fill(0.5), { width: 50, height: 40 });
  assert.equal((svg.match(/M/g) ?? []).length, 50);
  // 0.5 on a 40 px axis centred at 20: y = 20 - 0.5 * 20 = 10.
  assert.match(svg, /^<svg[^>]*width="50" height="40"/);
  assert.match(svg, /M0\.5 10\.0V10\.5/);
  const loud = waveformSvg(Float32Array.from([-2, 2, 2, -2]), { width: 2, height: 40 });
  assert.match(loud, /M0\.5 0\.0V40\.0/, 'values beyond ±1 are drawn at the edge');
});
