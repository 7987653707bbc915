/**
 * Word timestamps as transformers' ASR pipeline makes them (`return_timestamps="word"`):
 * test/fixtures/whisper/words.json holds hand-made generate() outputs (segments with
 * absolute token times) and the words transformers' `_decode_asr` made of them
 * (make_whisper_fixtures.py --words-only). ttslab's `words()` runs segment by segment on
 * the same tokens and times. English with punctuation merging, Japanese (split at code
 * points), invalid UTF-8 bytes as the random fixture model emits, and no timestamps.
 * Then the layout of `extractTokenTimestamps` on a synthetic attention path (prompt rows,
 * crop, transformers' double crop of a negative num_frames), which the fixture runs do not reach.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TextTokenizer } from '../../../src/tokenizer/tokenizer';
import { extractTokenTimestamps, words } from '../../../src/models/whisper';
import { FIXTURE_DIR, loadExpected } from './helpers';

interface WordCase {
  name: string;
  language: string;
  segments: { tokens: number[]; token_timestamps: number[] }[];
  text: string;
  words: { text: string; start: number; end: number }[];
}

const cases = (JSON.parse(readFileSync(join(FIXTURE_DIR, 'words.json'), 'utf8')) as { cases: WordCase[] }).cases;
let tokenizer: TextTokenizer;

before(async () => {
  tokenizer = await TextTokenizer.fromDir(FIXTURE_DIR);
});

describe('whisper word timestamps (transformers pipeline parity)', () => {
  test('the fixture has the four cases', () => {
    assert.deepEqual(cases.map((c) => c.name), ['english', 'japanese', 'invalid_bytes', 'no_timestamps']);
  });

  for (const c of cases) {
    test(`${c.name}: words and times within 0.02 s of transformers'`, () => {
      const eot = loadExpected().ids.eot;
      const got: { word: string; start: number; end: number }[] = [];
      let prevTime = 0;
      for (const s of c.segments) {
        got.push(...words(s.tokens, s.token_timestamps, prevTime, eot, tokenizer, c.language));
        prevTime = s.token_timestamps[s.token_timestamps.length - 1]!;
      }
      assert.ok(c.words.length > 0, `${c.name}: transformers made no words`);
      assert.deepEqual(got.map((w) => w.word), c.words.map((w) => w.text), `${c.name}: word texts`);
      let worst = 0;
      got.forEach((w, i) => {
        worst = Math.max(worst, Math.abs(w.start - c.words[i]!.start), Math.abs(w.end - c.words[i]!.end));
      });
      assert.ok(worst <= 0.02 + 1e-6, `${c.name}: worst word time difference ${worst} s`);
      // Words decoded one by one join to the text, except where invalid UTF-8 decodes to a
      // different number of U+FFFD in pieces than whole (transformers' words do the same).
      if (!c.text.includes('\ufffd')) assert.equal(got.map((w) => w.word).join(''), c.text, `${c.name}: words joined vs transformers' text`);
      console.log(`${c.name}: ${got.length} words, worst time difference ${worst.toExponential(2)} s`);
    });
  }

  test('token and time counts must agree', () => {
    const s = cases[0]!.segments[0]!;
    assert.throws(() => words(s.tokens, s.token_timestamps.slice(1), 0, loadExpected().ids.eot, tokenizer, 'en'), /tokens but .* token times/);
  });
});

describe('whisper token timestamps layout (transformers 5 _extract_token_timestamps)', () => {
  // [heads][rows][frames]: 2 heads, 3 prompt rows + 4 generated rows, 40 encoder frames; the
  // generated rows attend to frames 5, 12, 20, 31 (a monotonic path).
  const rows = 7;
  const peaks = [0, 0, 0, 5, 12, 20, 31];
  const heads = [0, 1].map(() => Array.from({ length: rows }, (_, r) => {
    // A small row-dependent floor: a frame equal in every row would normalise to 0 / 0.
    const a = Float32Array.from({ length: 40 }, (_, j) => 0.01 + 0.001 * ((r * 7 + j * 3) % 5));
    for (let j = -1; j <= 1; j++) a[Math.min(39, Math.max(0, peaks[r]! + j))] = 1;
    return a;
  }));

  test('prompt positions get 0, generated ones their row\'s time, the last repeats; rows + 1 values', () => {
    const t = extractTokenTimestamps(heads, 3, undefined, 3);
    assert.equal(t.length, rows + 1);
    assert.deepEqual(t.slice(0, 3), [0, 0, 0]);
    // The DTW path starts at (row 0, frame 0): the first generated position is always 0.
    assert.equal(t[3], 0);
    for (let k = 4; k < rows; k++) assert.ok(t[k]! > t[k - 1]!, `times rise: ${t.join(' ')}`);
    assert.equal(t[rows], t[rows - 1]);
  });

  test('numFrames crops the frames to numFrames // 2: a cut-off peak cannot be reached', () => {
    const full = extractTokenTimestamps(heads, 3, undefined, 3);
    const cropped = extractTokenTimestamps(heads, 3, 2 * 10, 3);
    assert.ok(full[6]! >= 0.02 * 10, `uncropped last row at ${full[6]} s`);
    assert.ok(cropped.every((x) => x < 0.02 * 10), `cropped times ${cropped.join(' ')}`);
  });

  test('a negative numFrames (seek past the real audio) is cropped twice from the end, as transformers does', () => {
    // -50 // 2 = -25: 40 -> 15 columns, then 15 -> 0: no frame left, every DTW time is -0.02 s.
    const t = extractTokenTimestamps(heads, 3, -50, 3);
    assert.deepEqual(t.slice(0, 3), [0, 0, 0]);
    for (const x of t.slice(3)) assert.ok(Math.abs(x + 0.02) < 1e-7, `times ${t.join(' ')}`);
  });

  test('only the prompt fed (one token generated): all zeros', () => {
    assert.deepEqual(extractTokenTimestamps(heads.map((h) => h.slice(0, 3)), 3, undefined, 3), [0, 0, 0, 0]);
  });
});
