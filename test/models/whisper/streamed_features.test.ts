/**
 * Streamed Whisper features (bounded memory for long recordings): log10MelFrames over sample
 * blocks of any size gives the frames of the whole-signal log-mel, StreamedFeatures' windows
 * (two passes: global maximum, then window by window) equal the in-memory features' windows,
 * generate() over them read from a file decodes transformers' long-form runs token for
 * token, and transcribe() of a file (streamed) equals transcribe() of its samples (in memory).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { decodeAudioWindows } from '../../../src/audio/ffmpeg';
import { encodeWav } from '../../../src/audio/wav';
import { TextTokenizer } from '../../../src/tokenizer/tokenizer';
import {
  N_FRAMES, N_SAMPLES, StreamedFeatures, WhisperForConditionalGeneration, extractFeatures, generate, log10MelFrames, melWindow, transcribe,
} from '../../../src/models/whisper';
import type { LogMel, TranscribeOptions } from '../../../src/models/whisper';
import { FIXTURE_DIR, loadExpected, longInput, readWavF32 } from './helpers';

/** `x` cut into blocks of the given sizes, cycling through them. */
function* blocksOf(x: Float32Array, sizes: number[]): Generator<Float32Array> {
  let at = 0;
  for (let i = 0; at < x.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield x.slice(at, at + n);
    at += n;
  }
}

/** Features from streamed log10 frames: the global maximum first, then Whisper's clamp and scaling. */
async function featuresFromFrames(x: Float32Array, sizes: number[], nMels: number): Promise<LogMel & { samples: number }> {
  const blocks: { start: number; nFrames: number; log10: Float64Array }[] = [];
  let max = -Infinity;
  const gen = log10MelFrames(blocksOf(x, sizes), nMels, { padTo: N_SAMPLES });
  let r = await gen.next();
  for (; !r.done; r = await gen.next()) {
    blocks.push(r.value);
    if (r.value.max > max) max = r.value.max;
  }
  const nFrames = blocks.reduce((a, b) => a + b.nFrames, 0);
  const data = new Float32Array(nMels * nFrames);
  let expectStart = 0;
  for (const b of blocks) {
    assert.equal(b.start, expectStart, 'blocks are not contiguous');
    expectStart += b.nFrames;
    for (let m = 0; m < nMels; m++) {
      for (let f = 0; f < b.nFrames; f++) data[m * nFrames + b.start + f] = (Math.max(b.log10[m * b.nFrames + f]!, max - 8) + 4) / 4;
    }
  }
  return { data, nMels, nFrames, samples: r.value };
}

/** A file's 16 kHz samples in 30 s blocks, as transcribe() reads it. */
async function* fileBlocks(file: string): AsyncGenerator<Float32Array> {
  for await (const w of decodeAudioWindows(file, { sampleRate: 16000 })) yield w.samples;
}

function worstDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length, `length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

describe('whisper streamed features', () => {
  test('log10MelFrames over blocks of any size gives the whole-signal features (short clip padded to 30 s, 68 s long input)', async () => {
    const e = loadExpected();
    const inputs: [string, Float32Array][] = [['short', readWavF32('short.wav')], ['long', longInput(e)]];
    // 30 s blocks (decodeAudioWindows'), blocks that cut frames anywhere, and blocks smaller than a frame's reach.
    const splits = [[N_SAMPLES], [12345, 777, 160, 1], [99, 250, 401]];
    for (const [name, x] of inputs) {
      const whole = extractFeatures(x, 80);
      for (const sizes of name === 'long' ? splits.slice(0, 2) : splits) {
        const got = await featuresFromFrames(x, sizes, 80);
        assert.equal(got.samples, x.length);
        assert.equal(got.nFrames, whole.nFrames, `${name} ${sizes}: frames`);
        const worst = worstDifference(got.data, whole.data);
        assert.ok(worst <= 1e-6, `${name}, blocks ${sizes}: worst difference ${worst}`);
        console.log(`${name} (${whole.nFrames} frames), blocks ${sizes.join('/')}: worst difference ${worst}`);
      }
    }
    // 128 mel bins (large-v3) too.
    const x = longInput(e);
    assert.ok(worstDifference((await featuresFromFrames(x, [N_SAMPLES], 128)).data, extractFeatures(x, 128).data) <= 1e-6);
  });

  test('StreamedFeatures windows equal melWindow of the in-memory features at generate()\'s seeks; reading back is refused', async () => {
    const e = loadExpected();
    for (const [name, x] of [['short', readWavF32('short.wav')], ['long', longInput(e)]] as const) {
      const whole = extractFeatures(x, 80);
      let opened = 0;
      const feats = await StreamedFeatures.scan(() => {
        opened++;
        return blocksOf(x, [N_SAMPLES]);
      }, 80);
      assert.equal(feats.nFrames, whole.nFrames);
      assert.equal(feats.scanned.samples, x.length);
      // Language detection reads frame 0 first, then the long-form windows (the fixture's seeks), a repeat, and a jump.
      const seeks = name === 'long' ? [0, ...e.long_window_seeks, e.long_window_seeks.at(-1)!, whole.nFrames - 100, whole.nFrames] : [0, 0, 2948, 3000];
      for (const seek of seeks) {
        const count = Math.min(whole.nFrames - seek, N_FRAMES);
        const got = await feats.window(seek, count);
        const want = melWindow(whole, seek, count);
        assert.equal(worstDifference(got, want), 0, `${name}: window at ${seek}`);
      }
      await assert.rejects(feats.window(seeks.at(-2)! - 1, 10), /already released.*read in order/);
      await feats.close();
      assert.equal(opened, 2, 'two passes over the samples');
    }
  });

  test('StreamedFeatures refuses audio that changed between its passes', async () => {
    const x = longInput(loadExpected());
    const y = x.slice(0, x.length - 16000);
    const feats = await StreamedFeatures.scan((pass) => blocksOf(pass === 0 ? x : y, [N_SAMPLES]), 80);
    await assert.rejects(async () => {
      for (let seek = 0; seek < feats.nFrames; seek += N_FRAMES) await feats.window(seek, N_FRAMES);
    }, /audio changed between the two passes/);
    await feats.close();
  });
});

describe('whisper transcribe, streamed from a file', () => {
  let model: WhisperForConditionalGeneration;
  let tokenizer: TextTokenizer;
  let opts: TranscribeOptions;
  let dir: string;

  before(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    model = await WhisperForConditionalGeneration.fromPretrained(FIXTURE_DIR);
    tokenizer = await TextTokenizer.fromDir(FIXTURE_DIR);
    opts = {
      model, tokenizer, language: 'en', temperature: [0], compressionRatioThreshold: null, logprobThreshold: null,
      noSpeechThreshold: null, conditionOnPreviousText: false, maxNewTokens: loadExpected().max_new_tokens, progress: 'none',
    };
    dir = mkdtempSync(join(tmpdir(), 'ttslab-whisper-stream-'));
  });
  after(() => {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  test('generate() on the 68 s input read from a file in two streamed passes: token-identical to transformers\' long-form runs', async () => {
    const e = loadExpected();
    const x = longInput(e);
    const file = join(dir, 'long.wav');
    writeFileSync(file, encodeWav({ sampleRate: 16000, channels: [x] }, { format: 'float32' }).bytes);
    for (const [run, extra] of [['long', {}], ['long_prev', { conditionOnPrevTokens: true }]] as const) {
      const want = e.runs[run]!;
      const feats = await StreamedFeatures.scan(() => fileBlocks(file), 80);
      let got;
      try {
        got = await generate(model, feats, { language: 'en', task: 'transcribe', maxNewTokens: e.max_new_tokens, ...extra });
      } finally {
        await feats.close();
      }
      assert.equal(got.windows.length, want.calls.length, `${run}: windows`);
      got.windows.forEach((w, i) => {
        assert.deepEqual(w.decoderInputIds, want.calls[i]!.decoder_input_ids[0], `${run}: window ${i} prompt`);
        assert.deepEqual(w.generated, want.calls[i]!.sequences[0]!.slice(w.decoderInputIds.length), `${run}: window ${i} tokens`);
      });
      if (run === 'long') assert.deepEqual(got.windows.map((w) => w.seek), e.long_window_seeks);
      assert.deepEqual(got.sequence, want.sequences[0], `${run}: sequence`);
    }
  });

  test('transcribe() of a 95 s file (streamed) equals transcribe() of its samples (in memory), words and conditioning included', async () => {
    // The short clip (the fixture model writes text for it) three times with gaps: 4 mel windows or more.
    const clip = readWavF32('short.wav');
    const gap = 16000 * 2;
    const x = new Float32Array(3 * (clip.length + gap) + clip.length);
    for (let i = 0; i < 4; i++) x.set(clip, i * (clip.length + gap));
    const file = join(dir, 'clips.wav');
    writeFileSync(file, encodeWav({ sampleRate: 16000, channels: [x] }, { format: 'float32' }).bytes);
    for (const extra of [{}, { wordTimestamps: true, conditionOnPreviousText: true }]) {
      const before = tf.memory().numTensors;
      const fromFile = await transcribe(file, { ...opts, ...extra });
      assert.equal(tf.memory().numTensors, before, 'transcribe leaked tensors');
      const fromSamples = await transcribe(x, { ...opts, ...extra });
      assert.deepEqual(fromFile, fromSamples);
      assert.ok(fromFile.segments.length >= 2 && fromFile.text.length > 0, `${fromFile.segments.length} segments, text ${JSON.stringify(fromFile.text)}`);
    }
  });

  test('file errors and silence: the file is named, nothing is left running', async () => {
    const silent = join(dir, 'silent.wav');
    writeFileSync(silent, encodeWav({ sampleRate: 16000, channels: [new Float32Array(16000 * 40)] }).bytes);
    const warn = console.warn;
    console.warn = () => {};
    try {
      const out = await transcribe(silent, opts);
      assert.deepEqual(out.segments, []);
      assert.match(out.warnings![0]!, /silent\.wav: the audio is silent/);
    } finally {
      console.warn = warn;
    }
    const tiny = join(dir, 'tiny.wav');
    writeFileSync(tiny, encodeWav({ sampleRate: 16000, channels: [new Float32Array(800).fill(0.1)] }).bytes);
    await assert.rejects(transcribe(tiny, opts), /tiny\.wav: 800 samples \(0\.050 s\) is too short/);
    await assert.rejects(transcribe(join(dir, 'missing.wav'), opts), /missing\.wav/);
  });
});
