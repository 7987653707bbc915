/**
 * Orpheus token layout against the reference recipe (test/fixtures/orpheus/sequences.json,
 * made by make_orpheus_fixtures.py on the fixture tokenizer and the tiny SNAC's speech
 * codes): sequences equal, codes -> tokens -> codes round trip, broken frames rejected
 * with position and value, duplicate-frame removal, the repetition-penalty guard, and
 * streaming decode in windows equal to a one-shot decode.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { TextTokenizer } from '../../../src/tokenizer';
import { SnacModel } from '../../../src/models/snac';
import {
  ORPHEUS_IDS, ORPHEUS_PRESET, OrpheusStreamDecoder, buildOrpheusPrompt, buildOrpheusSequence, checkOrpheusSampling,
  framesToSnac, framesToTokens, parseSpeechTokens, positionRange, removeDuplicateFrames, snacAsAudioCodec, snacToFrames,
  snacToTokens,
} from '../../../src/models/orpheus';
import { Checkpoint } from '../../../src/weights/checkpoint';

const FIXTURES = join(__dirname, '..', '..', 'fixtures');

interface FixtureExample {
  name: string;
  text: string;
  source?: string;
  codes: number[][];
  dedup: boolean;
  codes_list: number[];
  removed_frames: number;
  input_ids: number[];
  labels: number[];
}

let examples: FixtureExample[];
let tokenizer: TextTokenizer;

before(async () => {
  await tf.setBackend('cpu');
  examples = (JSON.parse(await readFile(join(FIXTURES, 'orpheus', 'sequences.json'), 'utf8')) as { examples: FixtureExample[] }).examples;
  tokenizer = await TextTokenizer.fromDir(join(FIXTURES, 'tokenizer'));
});

function mulberry(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('orpheus layout', () => {
  test('special ids and ranges as REFERENCE.md', () => {
    assert.deepEqual(
      [ORPHEUS_IDS.startOfSpeech, ORPHEUS_IDS.endOfSpeech, ORPHEUS_IDS.startOfHuman, ORPHEUS_IDS.endOfHuman, ORPHEUS_IDS.startOfAi, ORPHEUS_IDS.endOfAi, ORPHEUS_IDS.pad],
      [128257, 128258, 128259, 128260, 128261, 128262, 128263]);
    assert.deepEqual(positionRange(0), [128266, 128266 + 4096]);
    assert.deepEqual(positionRange(6), [128266 + 6 * 4096, 128266 + 7 * 4096]);
  });

  test('random codes -> tokens -> codes are identical (incl. 0 and 4095)', () => {
    const rnd = mulberry(7);
    for (const n of [1, 5, 33]) {
      const codes = [n, 2 * n, 4 * n].map((len) => Int32Array.from({ length: len }, () => Math.floor(rnd() * 4096)));
      codes[0][0] = 0;
      codes[2][4 * n - 1] = 4095;
      const tokens = snacToTokens(codes);
      assert.equal(tokens.length, 7 * n);
      const parsed = parseSpeechTokens([ORPHEUS_IDS.startOfAi, ORPHEUS_IDS.startOfSpeech, ...tokens, ORPHEUS_IDS.endOfSpeech, ORPHEUS_IDS.endOfAi]);
      assert.equal(parsed.ended, true);
      assert.equal(parsed.partial, null);
      assert.deepEqual(framesToSnac(parsed.frames).map((c) => Array.from(c)), codes.map((c) => Array.from(c)));
    }
  });

  test('the token order of the fixture equals the recipe tokenise_audio', () => {
    for (const ex of examples) {
      const codes = ex.codes.map((c) => Int32Array.from(c));
      assert.deepEqual(snacToTokens(codes), ex.codes_list, ex.name);
      assert.deepEqual(framesToTokens(snacToFrames(codes)), ex.codes_list);
    }
  });

  test('training sequences equal the reference recipe (text, source, emotion tag, dedup)', () => {
    assert.ok(examples.some((e) => e.removed_frames > 0), 'the fixture exercises duplicate removal');
    for (const ex of examples) {
      const seq = buildOrpheusSequence(tokenizer, { text: ex.text, source: ex.source, audioTokens: ex.codes_list, removeDuplicates: ex.dedup });
      assert.deepEqual(seq.inputIds, ex.input_ids, ex.name);
      assert.deepEqual(seq.labels, ex.labels);
      assert.equal(seq.removedFrames, ex.removed_frames);
    }
    const tagged = examples.find((e) => e.text.includes('<laugh>'))!;
    const laugh = tokenizer.encode('<laugh>', { addSpecialTokens: false });
    assert.equal(laugh.length, 1, 'the emotion tag stays one token');
    assert.ok(tagged.input_ids.includes(laugh[0]));
  });

  test('duplicate-frame removal keeps the first of each run of equal first codes', () => {
    const frame = (c0: number, x: number) => framesToTokens([[c0, x, x, x, x, x, x]])
    const tokens = [...frame(1, 0), ...frame(1, 1), ...frame(1, 2), ...frame(2, 3), ...frame(1, 4), ...frame(1, 5)];
    const { tokens: kept, removedFrames } = removeDuplicateFrames(tokens);
    assert.equal(removedFrames, 3);
    assert.deepEqual(kept, [...frame(1, 0), ...frame(2, 3), ...frame(1, 4)]);
    assert.throws(() => removeDuplicateFrames(tokens.slice(1)), /41 is not a multiple of 7/);
  });

  test('a token in the wrong position range is rejected with its position and value', () => {
    const tokens = snacToTokens([Int32Array.from([1, 2]), Int32Array.from([3, 4, 5, 6]), Int32Array.from([7, 8, 9, 10, 11, 12, 13, 14])]);
    const stream = [ORPHEUS_IDS.startOfSpeech, ...tokens, ORPHEUS_IDS.endOfSpeech];
    // Position 9 of the stream = frame 1, slot 1 (a level-1 token); put a level-0 id there.
    const broken = [...stream];
    broken[9] = 128266 + 5;
    assert.throws(() => parseSpeechTokens(broken), /invalid token 128271 at position 9 \(frame 1, slot 1\): expected an id in \[132362, 136458\)/);
    const skipped = parseSpeechTokens(broken, { onInvalid: 'skip' });
    assert.equal(skipped.frames.length, 1);
    assert.deepEqual(skipped.invalid.map((i) => [i.position, i.value, i.frame, i.slot]), [[9, 128271, 1, 1]]);
    // A text token inside speech, and a partial last frame.
    const partial = parseSpeechTokens([ORPHEUS_IDS.startOfSpeech, ...tokens.slice(0, 10)]);
    assert.equal(partial.frames.length, 1);
    assert.deepEqual(partial.partial, { position: 8, values: tokens.slice(7, 10) });
    assert.equal(partial.ended, false);
    assert.throws(() => parseSpeechTokens([ORPHEUS_IDS.startOfSpeech, 500, ...tokens]), /invalid token 500 at position 1 \(frame 0, slot 0\)/);
  });

  test('training rejects audio tokens out of range or not whole frames', () => {
    const good = examples[0].codes_list;
    const bad = [...good];
    bad[3] = good[4];
    assert.throws(() => buildOrpheusSequence(tokenizer, { text: 'x', audioTokens: bad }), /audio token 3 is \d+, expected \[140554, 144650\)/);
    assert.throws(() => buildOrpheusSequence(tokenizer, { text: 'x', audioTokens: good.slice(0, 8) }), /8 audio tokens/);
  });

  test('inference prompt: start_of_human, text with bos, end_of_text, end_of_human', () => {
    const ids = buildOrpheusPrompt(tokenizer, 'Hello there.', 'tara');
    assert.deepEqual(ids, [128259, ...tokenizer.encode('tara: Hello there.'), 128009, 128260]);
  });

  test('repetition penalty below 1.1 is rejected unless overridden; preset has the Orpheus defaults', () => {
    assert.throws(() => checkOrpheusSampling({ temperature: 0.6 }), /repetitionPenalty >= 1.1 .* got none \(1\)/);
    assert.throws(() => checkOrpheusSampling({ repetitionPenalty: 1.05 }), /got 1.05; pass allowLowRepetitionPenalty/);
    checkOrpheusSampling({ repetitionPenalty: 1.05, allowLowRepetitionPenalty: true });
    checkOrpheusSampling(ORPHEUS_PRESET.sampling);
    assert.deepEqual({ ...ORPHEUS_PRESET.sampling }, { doSample: true, temperature: 0.6, topP: 0.95, repetitionPenalty: 1.1 });
    assert.equal(ORPHEUS_PRESET.train.loraR, 64);
    assert.equal(ORPHEUS_PRESET.train.loraAlpha, 64);
    assert.equal(ORPHEUS_PRESET.train.learningRate, 2e-4);
    assert.equal(ORPHEUS_PRESET.stopTokenId, 128258);
  });
});

describe('orpheus streaming decode', () => {
  let snac: SnacModel;
  before(async () => {
    snac = await SnacModel.fromPretrained(join(FIXTURES, 'snac', 'tiny24'));
  });

  for (const noise of ['off', { seed: 3 }] as const) {
    test(`windows of 4 frames with 3 frames of context equal the one-shot decode (noise ${JSON.stringify(noise)})`, async () => {
      const n0 = tf.memory().numTensors;
      const frames = snacToFrames(examples[0].codes.map((c) => Int32Array.from(c))); // 22 frames
      const whole = await snac.decode(framesToSnac(frames), { noise });
      const dec = new OrpheusStreamDecoder(snac, { noise, windowFrames: 4, contextFrames: 3 });
      const parts: Float32Array[] = [];
      for (let i = 0; i < frames.length; i += 5) parts.push(await dec.push(frames.slice(i, i + 5)));
      parts.push(await dec.finish());
      const streamed = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        streamed.set(p, at);
        at += p.length;
      }
      assert.equal(streamed.length, whole.length);
      let maxErr = 0;
      let peak = 0;
      for (let i = 0; i < whole.length; i++) {
        maxErr = Math.max(maxErr, Math.abs(streamed[i] - whole[i]));
        peak = Math.max(peak, Math.abs(whole[i]));
      }
      assert.ok(maxErr <= 1e-5 * Math.max(1, peak), `max abs diff ${maxErr}`);
      // Without context the window edges differ: the test can see seams.
      const bare = new OrpheusStreamDecoder(snac, { noise, windowFrames: 4, contextFrames: 0 });
      const b = await bare.push(frames);
      let seam = 0;
      for (let i = 0; i < b.length; i++) seam = Math.max(seam, Math.abs(b[i] - whole[i]));
      assert.ok(seam > 1e-3, `no-context seams ${seam}`);
      assert.equal(tf.memory().numTensors, n0);
    });
  }

  test('as an AudioCodec: 2048-sample frames of 7 codes in token order, the codes of the reference', async () => {
    const codec = snacAsAudioCodec(snac, 'snac:fixture-tiny24');
    assert.equal(codec.sampleRate, 24000);
    assert.equal(codec.frameSamples, 2048);
    assert.equal(codec.numCodebooks, 7);
    const ck = await Checkpoint.open(join(FIXTURES, 'snac', 'tiny24', 'fixtures.safetensors'));
    const x = (await ck.getF32('speech.input')).data;
    const frames = await codec.encode(x);
    assert.equal(frames.length, Math.ceil(x.length / 2048));
    assert.deepEqual(framesToTokens(frames), examples[0].codes_list);
    assert.equal((await codec.decode(frames.slice(0, 3))).length, 3 * 2048);
  });
});
