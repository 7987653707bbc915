/**
 * Word timestamps as transformers' ASR pipeline makes them (`return_timestamps="word"`):
 * test/fixtures/whisper/words.json holds hand-made generate() outputs (segments with
 * absolute token times) and the words transformers' `_decode_asr` made of them
 * (make_whisper_fixtures.py --words-only). ttslab's `words()` runs segment by segment on
 * the same tokens and times. English with punctuation merging, Japanese (split at code
 * points), invalid UTF-8 bytes as the random fixture model emits, and no timestamps.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TextTokenizer } from '../../../src/tokenizer/tokenizer';
import { words } from '../../../src/models/whisper';
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
