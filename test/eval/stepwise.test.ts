/**
 * The step-wise generation hook (`continueGeneration`, src/models/types.ts) that beam
 * search needs, on CSM (the tiny random CSM + Mimi of tiny-random-csm): the contract's
 * checks (`checkStepwiseContract`, which another family implementing the hook runs too),
 * then CSM's own details.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { loadTtsModel, type NotebookTtsModel } from '../../src/models/registry';
import { isStepwise, type TtsGenerateRequest, type TtsSampling } from '../../src/models/types';
import { CsmTts } from '../../src/models/csm/tts';
import { WORKSHOP_TTS_SAMPLING } from '../../src/models/csm/tts';
import { checkStepwiseContract } from './stepwise_contract';

let tts: CsmTts;

before(async () => {
  await tf.setBackend('cpu');
  const model: NotebookTtsModel = await loadTtsModel('tiny-random-csm');
  assert.ok(model instanceof CsmTts);
  tts = model;
});
after(() => tts.dispose());

const request = (over: Partial<TtsGenerateRequest> = {}): TtsGenerateRequest => ({
  text: 'Step by step.', speaker: 0, sampling: WORKSHOP_TTS_SAMPLING, seed: 3, maxNewFrames: 8, ...over,
});
const GREEDY: TtsSampling = { doSample: false, depthDecoder: { doSample: false } };

test('CsmTts is step-wise; continuing from no prefix is generate (same seed, same codes)', async () => {
  assert.ok(isStepwise(tts));
  const before = tf.memory().numTensors;
  const a = await tts.generate(request());
  const b = await tts.continueGeneration(request(), []);
  assert.deepEqual(b.codes, a);
  assert.equal(b.stopped, false, 'the random model never emits the end frame in 8 frames');
  assert.equal(b.codes.length, 8);
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
  // Same request, prefix and seed: same codes; another seed: other codes.
  const c = await tts.continueGeneration(request(), a.slice(0, 3));
  assert.deepEqual((await tts.continueGeneration(request(), a.slice(0, 3))).codes, c.codes);
  assert.notDeepEqual((await tts.continueGeneration(request({ seed: 4 }), a.slice(0, 3))).codes, c.codes);
});

test('the step-wise contract (the checks every family runs)', async () => {
  await checkStepwiseContract(tts, { request: request(), greedy: GREEDY });
});

test('greedy: continuing from the first m frames gives the rest of the greedy generation (repetition penalty included)', async () => {
  // A repetition penalty below 1 favours codes already used: greedy codebook 0 then depends
  // on the prefix's codebook-0 history (34,26,26,34,26,26,50,17,... here), which the
  // continuation must see as if it had sampled it.
  for (const sampling of [GREEDY, { ...GREEDY, repetitionPenalty: 0.5 }]) {
    const full = await tts.generate(request({ sampling, maxNewFrames: 12 }));
    assert.equal(full.length, 12);
    for (const m of [1, 5, 11]) {
      const rest = await tts.continueGeneration(request({ sampling, maxNewFrames: 12 - m }), full.slice(0, m));
      assert.deepEqual(rest.codes, full.slice(m), `penalty ${sampling.repetitionPenalty ?? 1}, prefix ${m}`);
    }
  }
});

test('maxNewFrames counts new frames; the default budget is the text\'s estimate minus the prefix', async () => {
  const prefix = await tts.generate(request({ maxNewFrames: 4 }));
  assert.equal((await tts.continueGeneration(request({ maxNewFrames: 3 }), prefix)).codes.length, 3);
  // "Hi." : ceil((2 * 3 / 14 + 2) * 12.5) = 31 frames by default; 4 are there, so 27 are left.
  const short = request({ text: 'Hi.', maxNewFrames: undefined });
  assert.equal((await tts.continueGeneration(short, prefix)).codes.length, 27);
  const long = Array.from({ length: 31 }, () => prefix[0]!);
  await assert.rejects(tts.continueGeneration(short, long), /the prefix has 31 frames, the default budget for this text is 31: nothing left to generate; pass maxNewFrames/);
});

test('a bad prefix is refused naming the frame', async () => {
  const good = await tts.generate(request({ maxNewFrames: 2 }));
  await assert.rejects(tts.continueGeneration(request(), [good[0]!, good[1]!.slice(0, 3)]), /prefix: frame 1 has 3 codebooks, the model needs 8/);
  await assert.rejects(tts.continueGeneration(request(), [good[0]!.map(() => 67)]), /prefix: code 67 at frame 0, codebook 0 is outside \[0, 67\)/);
  await assert.rejects(tts.continueGeneration(request(), undefined as never), /prefix must be frames/);
});
