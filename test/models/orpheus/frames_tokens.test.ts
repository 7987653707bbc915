/**
 * `framesToTokens` is the inverse of `parseSpeechTokens` on whole frames: what Orpheus'
 * step-wise hook (`OrpheusTts.continueGeneration`) relies on to put a prefix of frames
 * back into the token stream. Checked both ways on Orpheus-3B's layout and the tiny one,
 * on random frames with the extreme codes, and for a stream cut at any frame boundary
 * (prefix tokens + new tokens parse to prefix frames + new frames).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ORPHEUS_LAYOUT, TINY_ORPHEUS_LAYOUT, TOKENS_PER_FRAME, framesToTokens, parseSpeechTokens, positionRange, type OrpheusLayout,
} from '../../../src/models/orpheus';
import { Rng } from '../../../src/generate/rng';

function randomFrames(n: number, layout: OrpheusLayout, rng: Rng): number[][] {
  const frames = Array.from({ length: n }, () => Array.from({ length: TOKENS_PER_FRAME }, () => Math.floor(rng.next() * layout.codebookSize)));
  frames[0]![0] = 0;
  frames[n - 1]![TOKENS_PER_FRAME - 1] = layout.codebookSize - 1;
  return frames;
}

for (const [name, layout] of [['Orpheus-3B', ORPHEUS_LAYOUT], ['tiny', TINY_ORPHEUS_LAYOUT]] as const) {
  describe(`framesToTokens <-> parseSpeechTokens (${name} layout)`, () => {
    test('frames -> tokens -> frames, with and without the stream markers around them', () => {
      const rng = new Rng(11);
      for (const n of [1, 2, 9]) {
        const frames = randomFrames(n, layout, rng);
        const tokens = framesToTokens(frames, layout);
        assert.equal(tokens.length, TOKENS_PER_FRAME * n);
        tokens.forEach((t, i) => {
          const [lo, hi] = positionRange(i % TOKENS_PER_FRAME, layout);
          assert.ok(t >= lo && t < hi, `token ${i} = ${t} in [${lo}, ${hi})`);
        });
        const bare = parseSpeechTokens(tokens, { layout });
        assert.deepEqual(bare.frames, frames);
        assert.deepEqual([bare.partial, bare.ended, bare.invalid], [null, false, []]);
        const framed = parseSpeechTokens([layout.startOfAi, layout.startOfSpeech, ...tokens, layout.endOfSpeech, layout.endOfAi], { layout });
        assert.deepEqual(framed.frames, frames);
        assert.equal(framed.ended, true);
      }
    });

    test('tokens -> frames -> tokens: a parsed stream writes back the same tokens', () => {
      const rng = new Rng(12);
      const tokens = Array.from({ length: 5 * TOKENS_PER_FRAME }, (_, i) => {
        const [lo] = positionRange(i % TOKENS_PER_FRAME, layout);
        return lo + Math.floor(rng.next() * layout.codebookSize);
      });
      assert.deepEqual(framesToTokens(parseSpeechTokens(tokens, { layout }).frames, layout), tokens);
    });

    test('a stream cut at any frame boundary: prefix tokens + the rest parse to prefix frames + the rest', () => {
      const frames = randomFrames(6, layout, new Rng(13));
      for (let m = 0; m <= 6; m++) {
        const prefix = framesToTokens(frames.slice(0, m), layout);
        const rest = parseSpeechTokens([...framesToTokens(frames.slice(m), layout), layout.endOfSpeech], { layout });
        assert.deepEqual([...parseSpeechTokens(prefix, { layout }).frames, ...rest.frames], frames, `cut at ${m}`);
      }
    });

    test('a frame of the wrong length or a code out of range is named', () => {
      const top = layout.codebookSize;
      assert.throws(() => framesToTokens([[0, 0, 0, 0, 0, 0, 0], [1, 2, 3]], layout), /frame 1 has 3 codes, expected 7/);
      assert.throws(() => framesToTokens([[0, 0, 0, 0, 0, top, 0]], layout), new RegExp(`frame 0 position 5: code ${top} outside \\[0, ${top}\\)`));
      assert.throws(() => framesToTokens([[0, 0, -1, 0, 0, 0, 0]], layout), /frame 0 position 2: code -1 outside/);
      assert.throws(() => framesToTokens([[0, 0, 0.5, 0, 0, 0, 0]], layout), /frame 0 position 2: code 0.5 outside/);
    });
  });
}
