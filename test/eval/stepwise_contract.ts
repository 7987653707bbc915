/**
 * The step-wise generation contract (`continueGeneration`, src/models/types.ts) as checks
 * any family can run on its model: test/eval/stepwise.test.ts runs them on CSM, Orpheus and
 * Llasa (their tiny random models).
 */
import assert from 'node:assert/strict';
import { isStepwise, type TtsGenerateRequest, type TtsModel, type TtsSampling } from '../../src/models/types';

export interface StepwiseContractOptions {
  /** A request with sampling on (its seed and `maxNewFrames` >= 4 are used as given). */
  request: TtsGenerateRequest;
  /** The family's greedy sampling (e.g. `{ doSample: false, depthDecoder: { doSample: false } }` for CSM). */
  greedy: TtsSampling;
  /** Frames of the greedy generation the prefixes are cut from (default 8). */
  greedyFrames?: number;
}

/**
 * Checks the contract's points 1-4 on `model` (which must not end the turn within the
 * frames asked for, so the counts are exact):
 *  1. continueGeneration(r, []) returns generate(r)'s codes;
 *  2. greedy: continuing from the first m frames gives the rest of the greedy generation;
 *  3. the same request, prefix and seed give the same codes, another seed other codes;
 *  4. maxNewFrames counts new frames; a prefix frame with a codebook too many is refused naming the frame.
 */
export async function checkStepwiseContract(model: Pick<TtsModel, 'codec' | 'generate' | 'continueGeneration'>, o: StepwiseContractOptions): Promise<void> {
  assert.ok(isStepwise(model), 'the model has continueGeneration');
  const r = o.request;
  assert.ok(r.maxNewFrames !== undefined && r.maxNewFrames >= 4, 'request.maxNewFrames >= 4');
  // 1.
  const whole = await model.generate(r);
  const fromNothing = await model.continueGeneration(r, []);
  assert.deepEqual(fromNothing.codes, whole, 'continueGeneration(r, []) is generate(r)');
  assert.equal(fromNothing.codes.length, r.maxNewFrames, 'the model ran to maxNewFrames (pick a request it does not end early)');
  assert.equal(fromNothing.stopped, false);
  // 2.
  const n = o.greedyFrames ?? 8;
  const greedy = await model.generate({ ...r, sampling: o.greedy, maxNewFrames: n });
  assert.equal(greedy.length, n);
  for (const m of [1, Math.floor(n / 2), n - 1]) {
    const rest = await model.continueGeneration({ ...r, sampling: o.greedy, maxNewFrames: n - m }, greedy.slice(0, m));
    assert.deepEqual(rest.codes, greedy.slice(m), `greedy continuation from ${m} frames`);
  }
  // 3.
  const prefix = whole.slice(0, 2);
  const a = await model.continueGeneration({ ...r, maxNewFrames: 3 }, prefix);
  assert.deepEqual((await model.continueGeneration({ ...r, maxNewFrames: 3 }, prefix)).codes, a.codes, 'same seed, same codes');
  assert.notDeepEqual((await model.continueGeneration({ ...r, seed: r.seed + 1, maxNewFrames: 3 }, prefix)).codes, a.codes, 'another seed, other codes');
  // 4.
  assert.equal(a.codes.length, 3, 'maxNewFrames counts the new frames only');
  assert.ok(a.codes.every((f) => f.length === model.codec.numCodebooks));
  const bad = [whole[0]!, [...whole[1]!, 0]];
  await assert.rejects(model.continueGeneration(r, bad), /frame 1/, 'a prefix frame with a codebook too many is refused naming the frame');
}
