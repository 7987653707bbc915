/**
 * WER / CER against torchmetrics on the 200 pairs of test/fixtures/wer/expected.json
 * (make_wer_fixtures.py), and the English normaliser against both its Python port (the
 * fixture's normalised strings) and hand-written cases.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { normalizeEnglish, cardinalWords } from '../../src/eval/normalize';
import {
  alignTokens, charErrorRate, corpusCharErrorRate, corpusWordErrorRate, formatAlignment, wordErrorRate,
} from '../../src/eval/wer';

interface FixturePair {
  reference: string; hypothesis: string; ref_norm: string; hyp_norm: string;
  wer: number; cer: number; word_errors: number; ref_words: number; char_errors: number; ref_chars: number;
}
interface Fixture {
  count: number;
  pairs: FixturePair[];
  corpus: { wer: number; cer: number; word_errors: number; ref_words: number; char_errors: number; ref_chars: number };
}

const fixture = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'wer', 'expected.json'), 'utf8')) as Fixture;

describe('WER parity with torchmetrics (200 pairs)', () => {
  test('the normaliser equals its Python port on every fixture text', () => {
    assert.equal(fixture.pairs.length, 200);
    for (const [i, p] of fixture.pairs.entries()) {
      assert.equal(normalizeEnglish(p.reference), p.ref_norm, `pair ${i} reference ${JSON.stringify(p.reference)}`);
      assert.equal(normalizeEnglish(p.hypothesis), p.hyp_norm, `pair ${i} hypothesis ${JSON.stringify(p.hypothesis)}`);
    }
  });

  test('per-pair word and character errors, WER and CER equal torchmetrics', () => {
    for (const [i, p] of fixture.pairs.entries()) {
      const w = wordErrorRate(p.reference, p.hypothesis);
      assert.equal(w.errors, p.word_errors, `pair ${i}: word errors`);
      assert.equal(w.referenceLength, p.ref_words, `pair ${i}: reference words`);
      // torchmetrics returns float32.
      assert.ok(Math.abs(w.wer - p.wer) <= 1e-6, `pair ${i}: WER ${w.wer} vs ${p.wer}`);
      assert.equal(w.hits + w.substitutions + w.deletions, w.referenceLength, `pair ${i}: H + S + D = N`);
      assert.equal(w.alignment.filter((a) => a.op !== 'insertion').map((a) => a.ref).join(' '), p.ref_norm, `pair ${i}: alignment covers the reference`);
      assert.equal(w.alignment.filter((a) => a.op !== 'deletion').map((a) => a.hyp).join(' '), p.hyp_norm, `pair ${i}: alignment covers the hypothesis`);
      const c = charErrorRate(p.reference, p.hypothesis);
      assert.equal(c.errors, p.char_errors, `pair ${i}: char errors`);
      assert.equal(c.referenceLength, p.ref_chars, `pair ${i}: reference chars`);
      assert.ok(Math.abs(c.wer - p.cer) <= 1e-6, `pair ${i}: CER ${c.wer} vs ${p.cer}`);
    }
  });

  test('corpus WER and CER sum the counts before dividing', () => {
    const w = corpusWordErrorRate(fixture.pairs);
    assert.equal(w.errors, fixture.corpus.word_errors);
    assert.equal(w.referenceLength, fixture.corpus.ref_words);
    assert.ok(Math.abs(w.wer - fixture.corpus.wer) <= 1e-6, `corpus WER ${w.wer} vs ${fixture.corpus.wer}`);
    const meanOfRates = w.utterances.reduce((a, u) => a + u.wer, 0) / w.utterances.length;
    assert.notEqual(Number(meanOfRates.toFixed(6)), Number(w.wer.toFixed(6)), 'the fixture tells a summed WER from a mean of rates');
    const c = corpusCharErrorRate(fixture.pairs);
    assert.equal(c.errors, fixture.corpus.char_errors);
    assert.ok(Math.abs(c.wer - fixture.corpus.cer) <= 1e-6, `corpus CER ${c.wer} vs ${fixture.corpus.cer}`);
    // Every kind of edit occurs in the fixture.
    assert.ok(w.substitutions > 0 && w.deletions > 0 && w.insertions > 0);
  });
});

describe('normalizeEnglish', () => {
  const cases: [string, string][] = [
    ['Hello, World!', 'hello world'],
    ['The café—naïve résumé.', 'the cafe naive resume'],
    ['“Don’t,” she said.', "don't she said"],
    ["'quoted' words", 'quoted words'],
    ['<laugh> Oh [music] no', 'oh no'],
    ['Rock & roll', 'rock and roll'],
    ['It costs $3.50.', 'it costs three dollars and fifty cents'],
    ['$1 and £2.01 and €0.99', 'one dollar and two pounds and one penny and zero euros and ninety nine cents'],
    ['$2.5', 'two point five dollars'],
    ['1,200,000 people', 'one million two hundred thousand people'],
    ['7% of 21st', 'seven percent of twenty first'],
    ['1st 2nd 3rd 4th 11th 12th 20th 101st', 'first second third fourth eleventh twelfth twentieth one hundred first'],
    ['3.14 and .5', 'three point one four and point five'],
    ['In 1998, 1905, 1900, 2000, 2003, 2024, 1066', 'in nineteen ninety eight nineteen oh five nineteen hundred two thousand two thousand three twenty twenty four one thousand sixty six'],
    ['Agent 007', 'agent zero zero seven'],
    ['twenty-one', 'twenty one'],
    ['  lots   of\tspace\n', 'lots of space'],
    ['', ''],
    ['?!', ''],
  ];
  for (const [input, want] of cases) {
    test(JSON.stringify(input), () => assert.equal(normalizeEnglish(input), want));
  }

  test('cardinals', () => {
    assert.equal(cardinalWords('0'), 'zero');
    assert.equal(cardinalWords('15'), 'fifteen');
    assert.equal(cardinalWords('40'), 'forty');
    assert.equal(cardinalWords('999'), 'nine hundred ninety nine');
    assert.equal(cardinalWords('1000001'), 'one million one');
    assert.equal(cardinalWords('123456789012'), 'one hundred twenty three billion four hundred fifty six million seven hundred eighty nine thousand twelve');
    assert.equal(cardinalWords('1234567890123456'), 'one two three four five six seven eight nine zero one two three four five six');
    assert.throws(() => cardinalWords('1.5'), /expects digits/);
  });
});

describe('word alignment', () => {
  test('substitution, deletion and insertion counted and placed', () => {
    const u = wordErrorRate('the cat sat on the mat', 'the bat sat the mat down');
    assert.deepEqual({ h: u.hits, s: u.substitutions, d: u.deletions, i: u.insertions, n: u.referenceLength },
      { h: 4, s: 1, d: 1, i: 1, n: 6 });
    assert.equal(u.wer, 3 / 6);
    assert.deepEqual(u.alignment.map((a) => a.op), ['hit', 'substitution', 'hit', 'deletion', 'hit', 'hit', 'insertion']);
    assert.equal(formatAlignment(u), [
      'REF: the cat sat on the mat ****',
      'HYP: the bat sat ** the mat down',
      '         S       D          I',
    ].join('\n'));
  });

  test('normalisation erases case, punctuation and number writing', () => {
    const u = wordErrorRate('At 4 PM, she paid $5.', 'at four pm she paid five dollars');
    assert.equal(u.errors, 0);
    assert.equal(wordErrorRate('At 4 PM', 'at four pm', { normalize: false }).errors, 3);
    assert.equal(wordErrorRate('A B', 'a b', { normalize: (t) => t.toUpperCase() }).errors, 0);
  });

  test('empty sides', () => {
    assert.equal(wordErrorRate('', '').wer, 0);
    assert.equal(wordErrorRate('', 'uh').wer, Infinity);
    const allDeleted = wordErrorRate('one two three', '');
    assert.equal(allDeleted.deletions, 3);
    assert.equal(allDeleted.wer, 1);
    assert.equal(corpusWordErrorRate([]).wer, 0);
  });

  test('WER can exceed 1 with insertions', () => {
    assert.equal(wordErrorRate('yes', 'no no no').wer, 3);
  });

  test('ties prefer substitution over a deletion + insertion', () => {
    const { counts } = alignTokens(['a', 'b'], ['a', 'c']);
    assert.deepEqual(counts, { hits: 1, substitutions: 1, deletions: 0, insertions: 0, referenceLength: 2 });
  });

  test('bad input is named', () => {
    assert.throws(() => wordErrorRate(undefined as unknown as string, 'x'), /reference must be a string/);
    assert.throws(() => corpusWordErrorRate([{ reference: 'a', hypothesis: 3 as unknown as string }]), /pair 0: hypothesis must be a string/);
  });
});
