/**
 * The shipped mini model family (models/mini/, trained by scripts/mini/): loaded through the
 * same code as the real checkpoints, with measured quality bounds.
 *
 * - mini codec (the mel codec, models/mini/codec; `codec_model.*` inside models/mini/csm): a held-out voice (flite
 *   `slt`, the sample talk's voice, never in the training corpus) synthesised here by flite,
 *   encoded and decoded; the log-mel distance of the decode to the original (Whisper's 80-band
 *   log-mel at 16 kHz, src/models/whisper) must stay under a bound and far under that of a
 *   decode of the same codes reversed in time (what a codec that kept nothing would score).
 *   Intelligibility itself is judged by pocketsphinx in scripts/mini/train_melcodec.py.
 * - mini CSM through `loadTtsModel('mini')`: it generates frames whose codes decode.
 *
 * Needs Debian's `flite` for the held-out clip (`apt-get install flite`); without it the
 * codec test is skipped with that message. The mini CSM's tests skip, saying so, in a checkout
 * without models/mini/csm/model.safetensors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resample } from '../../../src/audio/resample';
import { Checkpoint } from '../../../src/weights/checkpoint';
import { MelRvqCodec, melCodecConfigFromHf } from '../../../src/models/melcodec';
import { loadTtsModel } from '../../../src/models/registry';
import type { NotebookTtsModel } from '../../../src/models/registry';
import { logMelSpectrogram } from '../../../src/models/whisper/feature_extraction';

const MINI_CSM = join(__dirname, '..', '..', '..', 'models', 'mini', 'csm');
const MINI_CODEC = join(__dirname, '..', '..', '..', 'models', 'mini', 'codec');
const CODEC_MISSING: string | false = existsSync(join(MINI_CODEC, 'model.safetensors')) ? false : 'models/mini/codec/model.safetensors is missing';
const WEIGHTS_MISSING: string | false = existsSync(join(MINI_CSM, 'model.safetensors'))
  ? false
  : `${join('models', 'mini', 'csm', 'model.safetensors')} is missing: rebuild it with scripts/mini/ (models/mini/README.md)`;
const FLITE = '/usr/bin/flite';
const HELD_OUT_TEXT = 'Please close the window before the cold air gets in, and bring a warm coat.';

/** 16-bit mono PCM wav -> samples in [-1, 1] and rate (flite's output format). */
function readPcm16(path: string): { samples: Float32Array; sampleRate: number } {
  const b = readFileSync(path);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${path}: not a RIFF/WAVE file`);
  let off = 12;
  let rate = 0;
  let bits = 0;
  let channels = 0;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      channels = b.readUInt16LE(off + 10);
      rate = b.readUInt32LE(off + 12);
      bits = b.readUInt16LE(off + 22);
    } else if (id === 'data') {
      if (bits !== 16 || channels !== 1) throw new Error(`${path}: expected 16-bit mono, got ${bits}-bit x ${channels}`);
      const n = Math.floor(Math.min(size, b.length - off - 8) / 2);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = b.readInt16LE(off + 8 + 2 * i) / 32768;
      return { samples: out, sampleRate: rate };
    }
    off += 8 + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}

/** Mean |a - b| of Whisper's normalised 80-band log-mel (16 kHz) of two 24 kHz signals, over the shorter. */
function logMelDistance(a: Float32Array, b: Float32Array): number {
  const n = Math.min(a.length, b.length);
  const ma = logMelSpectrogram(resample(a.subarray(0, n), 24000, 16000), 80);
  const mb = logMelSpectrogram(resample(b.subarray(0, n), 24000, 16000), 80);
  let sum = 0;
  for (let i = 0; i < ma.data.length; i++) sum += Math.abs(ma.data[i]! - mb.data[i]!);
  return sum / ma.data.length;
}

describe('mini codec (models/mini/codec; inside models/mini/csm as codec_model.*)', { skip: CODEC_MISSING }, () => {
  let codec: MelRvqCodec;
  before(async () => {
    const hf = JSON.parse(readFileSync(join(MINI_CODEC, 'config.json'), 'utf8'));
    codec = await MelRvqCodec.fromWeights(melCodecConfigFromHf(hf, 'models/mini/codec/config.json'), await Checkpoint.open(MINI_CODEC));
  });

  test('layout: 25 Hz frames of 960 samples, 32 codebooks of 256 codes', () => {
    assert.equal(codec.frameSamples, 960);
    assert.equal(codec.config.numCodebooks, 32);
    assert.equal(codec.config.codebookSize, 256);
  });

  test('held-out voice (flite slt): encode -> decode keeps the spectrum', { skip: existsSync(FLITE) ? false : `${FLITE} is missing (apt-get install flite)` }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mini-'));
    try {
      const wav = join(dir, 'slt.wav');
      execFileSync(FLITE, ['-voice', 'slt', '-t', HELD_OUT_TEXT, '-o', wav]);
      const { samples, sampleRate } = readPcm16(wav);
      const x = resample(samples, sampleRate, 24000);
      const codes = codec.encode(x);
      assert.equal(codes.length, Math.ceil(x.length / 960));
      const y = codec.decode(codes);
      const d = logMelDistance(x, y);
      // The same codes with frames reversed in time: right codebook statistics, wrong content.
      const dRev = logMelDistance(x, codec.decode([...codes].reverse()));
      console.log(`mini codec on held-out slt: log-mel L1 ${d.toFixed(3)} (time-reversed codes: ${dRev.toFixed(3)})`);
      assert.ok(d < MEL_BOUND, `log-mel L1 ${d} is over ${MEL_BOUND}`);
      assert.ok(d < 0.7 * dRev, `log-mel L1 ${d} is not well under the time-reversed codes' ${dRev}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("mini CSM through loadTtsModel('mini')", { skip: WEIGHTS_MISSING }, () => {
  let tts: NotebookTtsModel;
  before(async () => {
    tts = await loadTtsModel('mini');
  });
  after(() => tts?.dispose());

  test('generates frames of valid codes that decode to audio', async () => {
    assert.equal(tts.warning, null);
    assert.equal(tts.codebookSize, 256);
    const codes = await tts.generate({ text: 'The cat slept on the warm roof.', speaker: 0, sampling: { doSample: true, temperature: 0.8, topK: 50 }, maxNewFrames: 12, seed: 1 });
    assert.ok(codes.length >= 1 && codes.length <= 12, `got ${codes.length} frames`);
    for (const f of codes) {
      assert.equal(f.length, 32);
      for (const c of f) assert.ok(Number.isInteger(c) && c >= 0 && c < 256, `code ${c}`);
    }
    const audio = await tts.codec.decode(codes);
    assert.equal(audio.length, codes.length * 960);
    assert.equal(tts.codec.frameSamples, 960);
    assert.ok(audio.every((v) => Number.isFinite(v)));
  });
});

/** Measured 0.080 here (time-reversed codes: 0.352; models/mini/README.md); the bound leaves room for flite/platform differences. */
const MEL_BOUND = 0.11;
