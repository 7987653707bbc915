// Decoding through the system ffmpeg, and the bad inputs of acceptance item 4: each
// error names the file and the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeAudioFile, encodeWav, probeAudio } from '../../src/audio';
import { sine, withTempDir } from './helpers';

const ffmpeg = (...args: string[]) => execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args]);

test('a FLAC file decodes at its own rate, sample for sample equal to the 16-bit PCM it was made from', async () => {
  await withTempDir(async (dir) => {
    const tone = sine(440, 22_050, 1.2, 0.4);
    const wavFile = join(dir, 'tone.wav');
    writeFileSync(wavFile, encodeWav({ sampleRate: 22_050, channels: [tone] }).bytes);
    ffmpeg('-i', wavFile, join(dir, 'tone.flac'));
    const d = await decodeAudioFile(join(dir, 'tone.flac'));
    assert.equal(d.sampleRate, 22_050);
    assert.equal(d.info.codec, 'flac');
    assert.equal(d.channels[0]!.length, tone.length);
    // FLAC is lossless: every sample is the WAV's 16-bit integer over 32768.
    const wav = readFileSync(wavFile);
    for (let i = 0; i < tone.length; i++) {
      if (d.channels[0]![i] !== wav.readInt16LE(44 + 2 * i) / 32_768) assert.fail(`sample ${i}: ${d.channels[0]![i]} vs ${wav.readInt16LE(44 + 2 * i) / 32_768}`);
    }
  });
});

test('stereo is averaged to mono; a requested rate resamples with ttslab\'s resampler', async () => {
  await withTempDir(async (dir) => {
    const left = sine(300, 48_000, 0.5, 0.5);
    const right = new Float32Array(left.length).fill(0.25);
    const file = join(dir, 'stereo.wav');
    writeFileSync(file, encodeWav({ sampleRate: 48_000, channels: [left, right] }, { format: 'float32' }).bytes);
    const d = await decodeAudioFile(file);
    assert.equal(d.info.channels, 2);
    assert.equal(d.channels.length, 1);
    for (const i of [0, 1000, 12_345]) assert.ok(Math.abs(d.channels[0]![i]! - (left[i]! + 0.25) / 2) < 1e-6);
    const r = await decodeAudioFile(file, { sampleRate: 16_000 });
    assert.equal(r.sampleRate, 16_000);
    assert.equal(r.channels[0]!.length, 8_000);
  });
});

test('bad inputs: missing, zero-length, no samples, truncated WAV, truncated FLAC, garbage, unsupported codec', async () => {
  await withTempDir(async (dir) => {
    const tone = sine(440, 16_000, 2, 0.4);
    const wavBytes = encodeWav({ sampleRate: 16_000, channels: [tone] }).bytes;
    const wavFile = join(dir, 'ok.wav');
    writeFileSync(wavFile, wavBytes);
    ffmpeg('-i', wavFile, join(dir, 'ok.flac'));
    const flacBytes = readFileSync(join(dir, 'ok.flac'));

    const cases: [string, Uint8Array, RegExp][] = [
      ['empty.wav', new Uint8Array(0), /empty\.wav: zero-length file \(0 bytes\)/],
      ['nosamples.wav', encodeWav({ sampleRate: 16_000, channels: [new Float32Array(0)] }).bytes, /nosamples\.wav: zero-length audio: the stream decodes to 0 samples/],
      ['cut.wav', wavBytes.subarray(0, wavBytes.length >> 1), /cut\.wav: truncated: the WAV data chunk declares 64000 bytes but only 31978 are present/],
      ['cut.flac', flacBytes.subarray(0, flacBytes.length >> 1), /cut\.flac: (truncated|damaged or truncated)/],
      ['garbage.mp3', Buffer.from('this is not audio at all\n'.repeat(20)), /garbage\.mp3: not a readable audio file/],
    ];
    // A WAV whose format tag (0x1234) no decoder knows.
    const unknown = Buffer.from(wavBytes);
    unknown.writeUInt16LE(0x1234, 20);
    cases.push(['unknown.wav', unknown, /unknown\.wav: unsupported codec: ffmpeg has no decoder for its audio stream/]);
    for (const [name, bytes, re] of cases) {
      writeFileSync(join(dir, name), bytes);
      await assert.rejects(decodeAudioFile(join(dir, name)), re, name);
    }
    await assert.rejects(probeAudio(join(dir, 'missing.ogg')), /missing\.ogg: cannot read \(ENOENT\)/);
  });
});
