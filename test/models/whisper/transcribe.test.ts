/**
 * transcribe(): openai-whisper-style JSON from a file or samples (segments as transformers'
 * generate cuts them on the fixture model), word times (those of transformers' tokens and
 * token times on the short clip; those of transformers' ASR pipeline, greedy, on the short
 * clip and the long input), and the boundary cases: audio
 * shorter than 0.1 s, a wrong sample rate, non-finite samples (clear errors) and silence
 * (an empty transcript with a warning).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { TextTokenizer } from '../../../src/tokenizer/tokenizer';
import { WhisperForConditionalGeneration, transcribe, words } from '../../../src/models/whisper';
import type { TranscribeOptions } from '../../../src/models/whisper';
import { FIXTURE_DIR, loadExpected, longInput, readWavF32 } from './helpers';

let model: WhisperForConditionalGeneration;
let tokenizer: TextTokenizer;
let opts: TranscribeOptions;

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  model = await WhisperForConditionalGeneration.fromPretrained(FIXTURE_DIR);
  tokenizer = await TextTokenizer.fromDir(FIXTURE_DIR);
  // transformers' settings of the fixture's `short` run: greedy, no fallback, no conditioning.
  opts = {
    model, tokenizer, language: 'en', temperature: [0], compressionRatioThreshold: null, logprobThreshold: null,
    noSpeechThreshold: null, conditionOnPreviousText: false, maxNewTokens: loadExpected().max_new_tokens, progress: 'none',
  };
});
after(() => model.dispose());

describe('whisper transcribe', () => {
  test('a WAV file gives openai-whisper JSON with transformers\' segments', async () => {
    const want = loadExpected().runs.short!.segments![0]!;
    const before = tf.memory().numTensors;
    const out = await transcribe(join(FIXTURE_DIR, 'short.wav'), opts);
    assert.equal(tf.memory().numTensors, before, 'transcribe leaked tensors');
    assert.equal(out.language, 'en');
    // Segments whose text is empty (timestamps only) are dropped, as openai-whisper does.
    const kept = want.filter((s) => s.tokens.some((t) => t < loadExpected().ids.eot));
    assert.equal(out.segments.length, kept.length);
    out.segments.forEach((s, i) => {
      assert.equal(s.id, i);
      assert.deepEqual(s.tokens, kept[i]!.tokens);
      assert.ok(Math.abs(s.start - kept[i]!.start) < 1e-3, `start ${s.start} vs ${kept[i]!.start}`);
      assert.equal(s.text, tokenizer.decode(kept[i]!.tokens.filter((t) => t < loadExpected().ids.eot)));
      for (const k of ['avg_logprob', 'compression_ratio', 'no_speech_prob', 'temperature'] as const) assert.equal(typeof s[k], 'number', k);
    });
    assert.equal(out.text, out.segments.map((s) => s.text).join(''));
  });

  test('samples give the same transcript as the file; word times come with wordTimestamps', async () => {
    const fromFile = await transcribe(join(FIXTURE_DIR, 'short.wav'), opts);
    const fromSamples = await transcribe(readWavF32('short.wav'), { ...opts, wordTimestamps: true });
    assert.deepEqual(fromSamples.segments.map((s) => s.tokens), fromFile.segments.map((s) => s.tokens));
    for (const s of fromSamples.segments) {
      assert.ok(s.words && s.words.length > 0, 'no words');
      assert.equal(s.words.map((w) => w.word).join(''), s.text);
      for (const w of s.words) assert.ok(w.start <= w.end, `word ${JSON.stringify(w)}`);
    }
  });

  test('word times: the pipeline words of transformers\' tokens and token times (short_token_timestamps run)', async () => {
    // words() itself is checked against transformers' pipeline in words.test.ts; here the
    // words transcribe() makes from its own decoding must equal those of transformers' output.
    // The first window only: the second starts past the clip's real frames, where transcribe
    // (as transformers' pipeline, which passes the attention mask) crops the attention away
    // (-0.02 s, see words.test.ts) and the fixture run, made without a mask, does not.
    // A segment's idxs restart at the prompt length in each window.
    const e = loadExpected();
    const run = e.runs.short_token_timestamps!;
    const promptLength = run.calls[0]!.decoder_input_ids[0]!.length;
    const firstWindow = run.segments![0]!.filter((s, i, all) => all.slice(0, i + 1).filter((x) => x.idxs[0] === promptLength).length === 1);
    const want: { word: string; start: number; end: number }[][] = [];
    let prevTime = 0;
    for (const s of firstWindow) {
      const w = words(s.tokens, s.token_timestamps!, prevTime, e.ids.eot, tokenizer, 'en');
      prevTime = s.token_timestamps![s.token_timestamps!.length - 1]!;
      if (w.length > 0) want.push(w);
    }
    const out = await transcribe(readWavF32('short.wav'), { ...opts, wordTimestamps: true });
    const got = out.segments.slice(0, want.length).map((s) => s.words!);
    assert.deepEqual(got.map((ws) => ws.map((w) => w.word)), want.map((ws) => ws.map((w) => w.word)));
    assert.ok(want.flat().length > 0, 'transformers\' run has no words');
    let worst = 0;
    got.flat().forEach((w, i) => {
      const v = want.flat()[i]!;
      worst = Math.max(worst, Math.abs(w.start - v.start), Math.abs(w.end - v.end));
    });
    assert.ok(worst <= 0.02 + 1e-6, `worst word time difference ${worst} s`);
    console.log(`short: ${got.flat().length} words, worst time difference ${worst.toExponential(2)} s`);
  });

  test('word timestamps as transformers\' pipeline word step on its generate() output (greedy; words.json generate_runs)', async (t) => {
    // The pipeline's generate() call for unchunked audio (attention mask passed, token
    // timestamps, segments) is the fixture's short_token_timestamps_mask / long_token_timestamps
    // run; make_whisper_fixtures.py hands their tokens and times to transformers' _decode_asr
    // as the pipeline does. transcribe must decode the same tokens and make the same words.
    type RunWords = { run: string; tokens: number[]; words: { text: string; start: number; end: number }[] };
    const doc = JSON.parse(readFileSync(join(FIXTURE_DIR, 'words.json'), 'utf8')) as { generate_runs?: Record<'short' | 'long', RunWords> };
    const runs = doc.generate_runs;
    if (!runs) {
      t.skip('words.json has no generate_runs: rerun test/fixtures/make_whisper_fixtures.py --words-only --out whisper');
      return;
    }
    const e = loadExpected();
    const inputs: ['short' | 'long', Float32Array][] = [['short', readWavF32('short.wav')], ['long', longInput(e)]];
    let compared = 0;
    for (const [name, audio] of inputs) {
      const ref: RunWords = runs[name];
      assert.deepEqual(ref.tokens, e.runs[ref.run]?.sequences[0], `words.json generate_runs.${name} was made from another expected.json (run ${ref.run})`);
      const out = await transcribe(audio, { ...opts, wordTimestamps: true });
      const got = out.segments.flatMap((s) => s.words ?? []);
      assert.deepEqual(got.map((w) => w.word), ref.words.map((w) => w.text), `${name}: words`);
      let worst = 0;
      got.forEach((w, i) => { worst = Math.max(worst, Math.abs(w.start - ref.words[i]!.start), Math.abs(w.end - ref.words[i]!.end)); });
      assert.ok(worst <= 0.02 + 1e-6, `${name}: worst word time difference ${worst} s`);
      compared += got.length;
      console.log(`${ref.run} words: ${got.length}, worst time difference ${worst.toExponential(2)} s`);
    }
    assert.ok(compared > 0, 'transformers made no words on either input');
  });

  test('word timestamps as transformers\' ASR pipeline (return_timestamps="word", num_beams=1) on the short clip and the long input', async (t) => {
    // The pipeline's default decoding is beam search (its _default_generation_config sets
    // num_beams 5 where the model's generation_config leaves it unset); transcribe decodes
    // greedily, so the fixture calls the pipeline with num_beams=1 and otherwise its defaults
    // (attention mask passed, language and max_new_tokens as opts).
    const e = loadExpected();
    if (!e.pipeline_words_greedy) {
      t.skip('expected.json has no pipeline_words_greedy (the ASR pipeline with num_beams=1): regenerate it with test/fixtures/make_whisper_fixtures.py');
      return;
    }
    assert.deepEqual(e.pipeline_generate_kwargs, { language: 'en', task: 'transcribe', max_new_tokens: opts.maxNewTokens, num_beams: 1 },
      'the pipeline run\'s generate_kwargs are not the settings of opts');
    const pipelineWords = e.pipeline_words_greedy;
    const inputs: ['short' | 'long', Float32Array][] = [['short', readWavF32('short.wav')], ['long', longInput(e)]];
    let compared = 0;
    for (const [name, audio] of inputs) {
      const want: { text: string; start: number; end: number }[] = pipelineWords[name];
      const out = await transcribe(audio, { ...opts, wordTimestamps: true });
      const got = out.segments.flatMap((s) => s.words ?? []);
      assert.deepEqual(got.map((w) => w.word), want.map((w) => w.text), `${name}: words`);
      let worst = 0;
      got.forEach((w, i) => { worst = Math.max(worst, Math.abs(w.start - want[i]!.start), Math.abs(w.end - want[i]!.end)); });
      assert.ok(worst <= 0.02 + 1e-6, `${name}: worst word time difference ${worst} s`);
      compared += got.length;
      console.log(`pipeline ${name}: ${got.length} words, worst time difference ${worst.toExponential(2)} s`);
    }
    assert.ok(compared > 0, 'the pipeline gave no words on either input');
  });

  test('audio shorter than 0.1 s is a clear error', async () => {
    await assert.rejects(transcribe(new Float32Array(1000).fill(0.1), opts), /1000 samples \(0\.063 s\) is too short.*at least 0\.1 s/);
  });

  test('a sample rate other than 16 kHz is refused with the rate', async () => {
    await assert.rejects(transcribe(readWavF32('short.wav'), { ...opts, sampleRate: 44100 }), /needs 16000 Hz audio, got 44100 Hz/);
  });

  test('non-finite samples are refused', async () => {
    const x = readWavF32('short.wav');
    x[500] = Number.NaN;
    await assert.rejects(transcribe(x, opts), /sample 500 is NaN/);
  });

  test('silence gives an empty transcript with a warning, not a crash', async () => {
    const warn = console.warn;
    const seen: string[] = [];
    console.warn = (m: string) => { seen.push(m); };
    try {
      const out = await transcribe(new Float32Array(16000 * 3), opts);
      assert.deepEqual(out.segments, []);
      assert.equal(out.text, '');
      assert.match(out.warnings![0]!, /silent/);
      assert.equal(seen.length, 1);
    } finally {
      console.warn = warn;
    }
  });
});
