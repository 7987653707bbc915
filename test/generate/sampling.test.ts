/**
 * Logits processors on hand-made logits; every expected value is worked out in the
 * comment above it from the Hugging Face definitions (transformers/generation/logits_process.py).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Rng, applyMinP, applyRepetitionPenalty, applyTemperature, applyTopK, applyTopP, argmax, processLogits, sampleFromLogits,
  softmax, validateSamplingOptions,
} from '../../src/generate';

const kept = (logits: Float32Array) => [...logits].map((x, i) => (x === -Infinity ? -1 : i)).filter((i) => i >= 0);
/** Logits whose softmax is exactly these probabilities. */
const fromProbs = (p: number[]) => Float32Array.from(p.map(Math.log));
const P = [0.5, 0.3, 0.15, 0.05];

describe('top-k', () => {
  test('keeps the k largest; ties with the k-th survive', () => {
    // [1, 3, 2, 3, 0] sorted: 3, 3, 2, 1, 0. k=2: 2nd largest is 3, drop < 3 -> keep 1 and 3.
    const a = Float32Array.from([1, 3, 2, 3, 0]);
    applyTopK(a, 2);
    assert.deepEqual(kept(a), [1, 3]);
    // k=3: 3rd largest is 2 -> keep 1, 2, 3; the kept values are unchanged.
    const b = Float32Array.from([1, 3, 2, 3, 0]);
    applyTopK(b, 3);
    assert.deepEqual(kept(b), [1, 2, 3]);
    assert.equal(b[2], 2);
    // [5, 4, 4, 4, 1], k=2: 2nd largest is 4, and every 4 ties with it -> 4 tokens kept.
    const c = Float32Array.from([5, 4, 4, 4, 1]);
    applyTopK(c, 2);
    assert.deepEqual(kept(c), [0, 1, 2, 3]);
    // k larger than the vocabulary keeps everything.
    const d = Float32Array.from([1, 2]);
    applyTopK(d, 10);
    assert.deepEqual(kept(d), [0, 1]);
  });
});

describe('top-p', () => {
  // Ascending probabilities 0.05, 0.15, 0.3, 0.5 have cumulative sums 0.05, 0.2, 0.5, 1.0;
  // HF drops those with cumulative sum <= 1 - top_p.
  test('p = 0.75 drops cumulative <= 0.25: the two least likely', () => {
    const a = fromProbs(P);
    applyTopP(a, 0.75);
    assert.deepEqual(kept(a), [0, 1]);
  });
  test('p = 0.9 drops cumulative <= 0.1: only the least likely', () => {
    const a = fromProbs(P);
    applyTopP(a, 0.9);
    assert.deepEqual(kept(a), [0, 1, 2]);
  });
  test('p = 0.4 drops cumulative <= 0.6: all but the top; minTokensToKeep 2 keeps two', () => {
    const a = fromProbs(P);
    applyTopP(a, 0.4);
    assert.deepEqual(kept(a), [0]);
    const b = fromProbs(P);
    applyTopP(b, 0.4, 2);
    assert.deepEqual(kept(b), [0, 1]);
  });
  test('p = 1 keeps everything', () => {
    const a = fromProbs(P);
    applyTopP(a, 1);
    assert.deepEqual(kept(a), [0, 1, 2, 3]);
  });
});

describe('min-p', () => {
  test('drops tokens below min_p x the top probability', () => {
    // top 0.5: min_p 0.2 -> threshold 0.1 drops 0.05; 0.5 -> 0.25 keeps 0.5, 0.3; 0.7 -> 0.35 keeps 0.5.
    for (const [minP, want] of [[0.2, [0, 1, 2]], [0.5, [0, 1]], [0.7, [0]]] as const) {
      const a = fromProbs(P);
      applyMinP(a, minP);
      assert.deepEqual(kept(a), want, `min_p ${minP}`);
    }
    // minTokensToKeep 3 at min_p 0.7 keeps the three most likely.
    const b = fromProbs(P);
    applyMinP(b, 0.7, 3);
    assert.deepEqual(kept(b), [0, 1, 2]);
  });
});

describe('repetition penalty and temperature', () => {
  test('positive logits are divided, negative multiplied, once per distinct token', () => {
    // previous [0, 1, 1], penalty 2: 2 -> 1, -2 -> -4 (token 1 appears twice, penalised once), rest unchanged.
    const a = Float32Array.from([2, -2, 1, 0.5]);
    applyRepetitionPenalty(a, [0, 1, 1], 2);
    assert.deepEqual([...a], [1, -4, 1, 0.5]);
    assert.throws(() => applyRepetitionPenalty(a, [9], 2), /token id 9 outside the vocabulary/);
  });

  test('temperature divides', () => {
    const a = Float32Array.from([2, 4, -1]);
    applyTemperature(a, 2);
    assert.deepEqual([...a], [1, 2, -0.5]);
  });
});

describe('processor order and greedy', () => {
  test('temperature comes before top-p (HF order)', () => {
    // T = 0.5 squares the probabilities: 0.25, 0.09, 0.0225, 0.0025 (sum 0.365) ->
    // 0.685, 0.247, 0.062, 0.007; ascending cumulative 0.007, 0.068, 0.315, 1.
    // top_p 0.6 drops cumulative <= 0.4: three tokens, only the top stays. (Top-p before
    // the temperature would drop <= 0.4 of 0.05, 0.2, 0.5, 1: keeping two.)
    const a = fromProbs(P);
    processLogits(a, [], { doSample: true, temperature: 0.5, topP: 0.6 });
    assert.deepEqual(kept(a), [0]);
    const b = fromProbs(P);
    applyTopP(b, 0.6);
    assert.deepEqual(kept(b), [0, 1]);
  });

  test('greedy applies the repetition penalty but not the sampling warpers', () => {
    // Without sampling, temperature and top-k are ignored (HF adds warpers only when do_sample).
    const a = Float32Array.from([3, 2, 1]);
    processLogits(a, [0], { doSample: false, temperature: 0.1, topK: 1, repetitionPenalty: 2 });
    // token 0: 3 / 2 = 1.5; top-k was not applied, so token 2 is still finite.
    assert.deepEqual([...a], [1.5, 2, 1]);
    assert.equal(argmax(a), 1);
  });

  test('argmax takes the first of equal maxima, as torch.argmax', () => {
    assert.equal(argmax([1, 5, 5, 2]), 1);
  });
});

describe('sampling', () => {
  test('draws follow the softmax probabilities', () => {
    const rng = new Rng(42);
    const logits = fromProbs([0.5, 0.3, 0.2]);
    const counts = [0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) counts[sampleFromLogits(logits, rng)]++;
    // Standard error of a frequency near 0.5 at n = 20000 is 0.0035; 0.015 is > 4 sigma.
    [0.5, 0.3, 0.2].forEach((p, i) => assert.ok(Math.abs(counts[i] / n - p) < 0.015, `token ${i}: ${counts[i] / n}`));
  });

  test('filtered tokens are never drawn', () => {
    const rng = new Rng(1);
    const logits = Float32Array.from([0, -Infinity, 0]);
    for (let i = 0; i < 1000; i++) assert.notEqual(sampleFromLogits(logits, rng), 1);
    assert.throws(() => softmax([-Infinity, -Infinity]), /every token was filtered out/);
  });

  test('the RNG is reproducible per seed and uniform in [0, 1)', () => {
    const a = new Rng(5);
    const b = new Rng(5);
    const xs = Array.from({ length: 10000 }, () => a.next());
    assert.deepEqual(Array.from({ length: 10000 }, () => b.next()), xs);
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`); // sd of the mean 0.0029
    assert.notDeepEqual(new Rng(6).next(), xs[0]);
  });

  test('invalid options name the field and value', () => {
    assert.throws(() => validateSamplingOptions({ topP: 0 }), /topP must be in \(0, 1\], got 0/);
    assert.throws(() => validateSamplingOptions({ topK: 2.5 }), /topK must be an integer >= 0, got 2\.5/);
    assert.throws(() => validateSamplingOptions({ minP: 1.5 }), /minP must be in \[0, 1\], got 1\.5/);
    assert.throws(() => validateSamplingOptions({ repetitionPenalty: 0 }), /repetitionPenalty must be a finite number > 0, got 0/);
  });
});
