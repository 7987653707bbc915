/**
 * The step-wise generation hook (`continueGeneration`, src/models/types.ts) that beam
 * search needs, on the three families' tiny random models: CSM (tiny-random-csm), Orpheus
 * (tiny-random-orpheus) and Llasa (the tiny Llasa with its random XCodec2). Each runs the
 * contract's checks (`checkStepwiseContract`), then its own details: where the prefix goes
 * in the family's prompt, the token budget, the default frame budget, bad prefixes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { loadTtsModel, type NotebookTtsModel } from '../../src/models/registry';
import { isStepwise, type TtsGenerateRequest, type TtsSampling } from '../../src/models/types';
import { CsmTts } from '../../src/models/csm/tts';
import { WORKSHOP_TTS_SAMPLING } from '../../src/models/csm/tts';
import { ORPHEUS_TTS_SAMPLING, audioPosition, tinyRandomOrpheus } from '../../src/models/orpheus';
import { ORPHEUS_DEFAULT_MAX_FRAMES, type OrpheusTts } from '../../src/models/orpheus/tts';
import {
  LLASA_MAX_LENGTH, LLASA_PRESET, LlasaProcessor, LlasaTts, TINY_LLASA_SPEECH_TOKENS, tinyLlasaTokenizer, tinyRandomLlasaLm, tinyRandomLlasaTts, tinyRandomXcodec2,
} from '../../src/models/llasa';
import { AllowedTokensLM, continuationFrameBudget, continueTokenStream } from '../../src/models/llama/stepwise';
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

// -- Orpheus ---------------------------------------------------------------------------

describe('Orpheus (tiny-random-orpheus: frame-constrained, SNAC tokens 7 per frame)', () => {
  let orpheus: OrpheusTts;
  before(async () => {
    orpheus = await tinyRandomOrpheus(0);
  });
  after(() => orpheus.dispose());

  // Greedy still needs Orpheus' repetition penalty (>= 1.1).
  const GREEDY_ORPHEUS: TtsSampling = { doSample: false, repetitionPenalty: 1.1 };
  const orpheusRequest = (over: Partial<TtsGenerateRequest> = {}): TtsGenerateRequest => ({
    text: 'Step by step.', speaker: 0, sampling: ORPHEUS_TTS_SAMPLING, seed: 3, maxNewFrames: 8, ...over,
  });

  test('the step-wise contract', async () => {
    assert.ok(isStepwise(orpheus));
    await checkStepwiseContract(orpheus, { request: orpheusRequest(), greedy: GREEDY_ORPHEUS });
  });

  test('the prefix goes back into the stream: start_of_ai, start_of_speech, 7 tokens per frame; budget 7 n + 1 tokens; no leaks', async () => {
    const L = orpheus.layout;
    const full = await orpheus.generateWithStatus(orpheusRequest());
    assert.deepEqual(full.tokens.slice(0, 2), [L.startOfAi, L.startOfSpeech]);
    const before = tf.memory().numTensors;
    const cont = await orpheus.continueWithStatus(orpheusRequest({ maxNewFrames: 3 }), full.codes.slice(0, 5));
    assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
    // The prompt grows by the 2 lead tokens and 5 x 7 prefix tokens.
    assert.equal(cont.promptLength, full.promptLength + 2 + 5 * 7);
    // 3 frames, then the first token of a 4th (the stop's slot): whole frames only.
    assert.equal(cont.tokens.length, 3 * 7 + 1);
    assert.equal(cont.codes.length, 3);
    assert.deepEqual(cont.partial, { position: 21, values: [cont.tokens[21]!] });
    assert.equal(audioPosition(cont.tokens[0]!, L), 0, 'the first new token is position 0 of a frame');
  });

  test('greedy continuation equals the rest of the greedy generation: with a strong repetition penalty and with a cloning context', async () => {
    const context = [{ codes: (await orpheus.generate(orpheusRequest({ maxNewFrames: 3, seed: 9 }))), text: 'Earlier words.', speaker: 0 }];
    // The penalty changes what greedy picks here, so a continuation blind to the prefix's tokens would differ.
    assert.notDeepEqual(await orpheus.generate(orpheusRequest({ sampling: { doSample: false, repetitionPenalty: 1.8 }, maxNewFrames: 10 })),
      await orpheus.generate(orpheusRequest({ sampling: GREEDY_ORPHEUS, maxNewFrames: 10 })));
    for (const over of [{ sampling: { doSample: false, repetitionPenalty: 1.8 } }, { sampling: GREEDY_ORPHEUS, context }]) {
      const full = await orpheus.generate(orpheusRequest({ ...over, maxNewFrames: 10 }));
      assert.equal(full.length, 10);
      for (const m of [1, 6, 9]) {
        const rest = await orpheus.continueGeneration(orpheusRequest({ ...over, maxNewFrames: 10 - m }), full.slice(0, m));
        assert.deepEqual(rest.codes, full.slice(m), `${over.context ? 'context' : 'penalty 1.8'}, prefix ${m}`);
      }
    }
  });

  test(`maxNewFrames counts new frames; the default is ${ORPHEUS_DEFAULT_MAX_FRAMES} frames (1200 tokens) minus the prefix; bad prefixes named`, async () => {
    assert.equal(ORPHEUS_DEFAULT_MAX_FRAMES, 171);
    const prefix = await orpheus.generate(orpheusRequest({ maxNewFrames: 2 }));
    const long = Array.from({ length: 170 }, (_, t) => prefix[t % 2]!);
    const last = await orpheus.continueWithStatus(orpheusRequest({ maxNewFrames: undefined }), long);
    assert.equal(last.codes.length, 1, '171 - 170 frames left');
    assert.equal(last.tokens.length, 8);
    await assert.rejects(orpheus.continueGeneration(orpheusRequest({ maxNewFrames: undefined }), [...long, prefix[0]!]),
      /Orpheus: the prefix has 171 frames, the default budget is 171: nothing left to generate; pass maxNewFrames/);
    await assert.rejects(orpheus.continueGeneration(orpheusRequest(), [prefix[0]!, prefix[1]!.slice(0, 6)]), /prefix: frame 1 has 6 codes, expected 7/);
    await assert.rejects(orpheus.continueGeneration(orpheusRequest(), [prefix[0]!.map((c, k) => (k === 4 ? 256 : c))]), /prefix: frame 0 position 4: code 256 outside \[0, 256\)/);
    await assert.rejects(orpheus.continueGeneration(orpheusRequest(), null as never), /prefix must be frames/);
    await assert.rejects(orpheus.continueGeneration(orpheusRequest({ sampling: { doSample: false } }), prefix), /repetitionPenalty >= 1.1/);
  });
});

// -- Llasa -----------------------------------------------------------------------------

describe('Llasa (tiny random Llasa, one <|s_N|> token per XCodec2 frame)', () => {
  let llasa: LlasaTts;
  let skipping: LlasaTts;
  before(async () => {
    // The tiny model with generation masked to speech tokens and the stop (`constrainSpeech`):
    // random logits otherwise interleave text tokens, which are skipped and break the frame counts.
    const codec = await tinyRandomXcodec2(0);
    llasa = new LlasaTts(tinyRandomLlasaLm(0), new LlasaProcessor(tinyLlasaTokenizer()), codec.asAudioCodec('stepwise-test'), {
      name: 'tiny-random-llasa (speech only)', constrainSpeech: true, codecModel: codec,
    });
    // The notebooks' tiny-random-llasa: unconstrained, non-speech tokens skipped.
    skipping = await tinyRandomLlasaTts(0);
  });
  after(() => {
    llasa.dispose();
    skipping.dispose();
  });

  const GREEDY_LLASA: TtsSampling = { doSample: false };
  const llasaRequest = (over: Partial<TtsGenerateRequest> = {}): TtsGenerateRequest => ({
    text: 'Step by step.', speaker: 0, sampling: LLASA_PRESET.sampling, seed: 3, maxNewFrames: 8, ...over,
  });

  test('the step-wise contract', async () => {
    assert.ok(isStepwise(llasa));
    await checkStepwiseContract(llasa, { request: llasaRequest(), greedy: GREEDY_LLASA });
  });

  test('the prefix follows <|SPEECH_GENERATION_START|> (after a cloning clip\'s codes); budget n + 1 tokens, at most n frames; no leaks', async () => {
    const full = await llasa.generateWithStatus(llasaRequest());
    const before = tf.memory().numTensors;
    const cont = await llasa.continueWithStatus(llasaRequest({ maxNewFrames: 3 }), full.codes.slice(0, 5));
    assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
    assert.equal(cont.promptLength, full.promptLength + 5);
    // 4 tokens: 3 frames and the stop's slot, which held a 4th speech token: dropped, not stopped.
    assert.equal(cont.tokens.length, 4);
    assert.equal(cont.codes.length, 3);
    assert.equal(cont.stopped, false);
    const context = [{ codes: [[5], [6], [7]], text: 'Earlier.', speaker: 0 }];
    assert.notDeepEqual(await llasa.generate(llasaRequest({ sampling: { doSample: false, repetitionPenalty: 3 }, maxNewFrames: 10 })),
      await llasa.generate(llasaRequest({ sampling: GREEDY_LLASA, maxNewFrames: 10 })), 'the penalty changes the greedy codes (without it the random model repeats one code)');
    for (const over of [{ sampling: { doSample: false, repetitionPenalty: 3 } }, { sampling: GREEDY_LLASA, context }]) {
      const whole = await llasa.generate(llasaRequest({ ...over, maxNewFrames: 10 }));
      for (const m of [1, 6, 9]) {
        const rest = await llasa.continueGeneration(llasaRequest({ ...over, maxNewFrames: 10 - m }), whole.slice(0, m));
        assert.deepEqual(rest.codes, whole.slice(m), `${over.context ? 'context' : 'penalty 3'}, prefix ${m}`);
      }
    }
  });

  test('LLASA_MAX_LENGTH: the default budget is the context left after prompt and prefix (less the stop); an ask past 2048 tokens is refused', async () => {
    const prefix = await llasa.generate(llasaRequest({ maxNewFrames: 2 }));
    const { promptLength } = await llasa.continueWithStatus(llasaRequest({ maxNewFrames: 1 }), []);
    const room = LLASA_MAX_LENGTH - promptLength - 1; // frames the whole turn may have by default
    const long = Array.from({ length: room - 2 }, (_, t) => prefix[t % 2]!);
    const last = await llasa.continueWithStatus(llasaRequest({ maxNewFrames: undefined }), long);
    assert.equal(last.promptLength, promptLength + room - 2);
    assert.ok(last.codes.length <= 2 && last.tokens.length <= 3, `${last.codes.length} frames, ${last.tokens.length} tokens`);
    await assert.rejects(llasa.continueGeneration(llasaRequest({ maxNewFrames: undefined }), [...long, ...prefix]),
      new RegExp(`Llasa: the prefix has ${room} frames, the default budget is ${room}: nothing left to generate; pass maxNewFrames`));
    await assert.rejects(llasa.continueGeneration(llasaRequest({ maxNewFrames: 3 }), long),
      new RegExp(`Llasa: prompt \\(${promptLength} tokens\\) \\+ prefix \\(${room - 2} frames\\) \\+ 3 new frames \\+ the stop token = ${LLASA_MAX_LENGTH + 1} tokens, over the ${LLASA_MAX_LENGTH}-token context`));
  });

  test('a cloning context is fitted with the prefix counted: a turn that no longer fits is dropped, with the warning', async () => {
    const turn = { codes: Array.from({ length: 1500 }, (_, i) => [i % TINY_LLASA_SPEECH_TOKENS]), text: 'A long earlier clip.', speaker: 0 };
    const prefix = await llasa.generate(llasaRequest({ maxNewFrames: 2 }));
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (m: unknown) => { warnings.push(String(m)); };
    try {
      const withContext = await llasa.continueWithStatus(llasaRequest({ maxNewFrames: 4, context: [turn] }), prefix);
      assert.equal(warnings.length, 0, 'prompt + 1500 + 2 + 5 tokens fit');
      const longPrefix = Array.from({ length: 400 }, (_, t) => prefix[t % 2]!);
      const dropped = await llasa.continueWithStatus(llasaRequest({ maxNewFrames: 4, context: [turn] }), longPrefix);
      const zeroShot = await llasa.continueWithStatus(llasaRequest({ maxNewFrames: 4 }), longPrefix);
      assert.deepEqual(dropped, zeroShot);
      assert.match(warnings[0]!, /dropped the 1 oldest cloning-context turn\(s\) of 1: prompt \+ 400 prefix \+ 5 new tokens must fit in 2048 tokens/);
      assert.ok(withContext.promptLength > 1500);
    } finally {
      console.warn = warn;
    }
  });

  test('bad prefixes are named: two codebooks, a code outside the speech tokens', async () => {
    await assert.rejects(llasa.continueGeneration(llasaRequest(), [[1], [2, 3]]), /prefix: frame 1 has 2 codebooks, Llasa reads XCodec2's single codebook/);
    await assert.rejects(llasa.continueGeneration(llasaRequest(), [[1], [2], [TINY_LLASA_SPEECH_TOKENS]]), /prefix: code 1024 at frame 2 is outside \[0, 1024\)/);
    await assert.rejects(llasa.continueGeneration(llasaRequest(), 'abc' as never), /prefix must be frames/);
  });

  test('the notebooks\' tiny-random-llasa (non-speech tokens skipped): continuing from nothing is generate; never more frames than asked', async () => {
    assert.ok(isStepwise(skipping));
    const r = llasaRequest({ maxNewFrames: 12 });
    const whole = await skipping.generateWithStatus(r);
    assert.deepEqual((await skipping.continueGeneration(r, [])).codes, whole.codes);
    assert.ok(whole.invalid.length > 0, 'the random model wrote text tokens that were skipped');
    const cont = await skipping.continueWithStatus(llasaRequest({ maxNewFrames: 5 }), whole.codes.slice(0, 4));
    assert.ok(cont.codes.length <= 5 && cont.codes.length + cont.invalid.length <= 6, JSON.stringify(cont));
    assert.ok(cont.codes.every(([c]) => Number.isInteger(c) && c! >= 0 && c! < TINY_LLASA_SPEECH_TOKENS));
  });
});

// -- the shared Llama part (src/models/llama/stepwise.ts) -------------------------------

describe('continueTokenStream and the frame budget (src/models/llama/stepwise.ts)', () => {
  test('budget: maxNewFrames as given, else the default minus the prefix; none left or a bad value is named', () => {
    assert.equal(continuationFrameBudget(5, 100, 98, 'X'), 5, 'an explicit budget is not cut by the default');
    assert.equal(continuationFrameBudget(undefined, 100, 98, 'X'), 2);
    assert.throws(() => continuationFrameBudget(undefined, 100, 100, 'X'), /X: the prefix has 100 frames, the default budget is 100: nothing left to generate; pass maxNewFrames/);
    assert.throws(() => continuationFrameBudget(0, 100, 0, 'X'), /maxNewFrames must be an integer >= 1, got 0/);
  });

  test('tokens: frames x tokens per frame + the lead (written by the model when there is no prefix) + 1 for the stop; the mask holds', async () => {
    const lm = tinyRandomLlasaLm(2);
    try {
      // Only ids 0..9 allowed: never the stop token (100), so the budget is used up exactly.
      const masked = new AllowedTokensLM(lm, () => [[0, 10]]);
      const common = { prompt: [1, 2, 3], lead: [20, 21], tokensPerFrame: 3, maxNewFrames: 2, stopTokenId: 100, padTokenId: 101, seed: 1, doSample: true };
      const fresh = await continueTokenStream(masked, { ...common, prefixTokens: [] });
      assert.deepEqual([fresh.tokens.length, fresh.promptLength, fresh.stopped], [2 * 3 + 2 + 1, 3, false]);
      assert.ok(fresh.tokens.every((t) => t >= 0 && t < 10), fresh.tokens.join());
      const cont = await continueTokenStream(masked, { ...common, prefixTokens: [4, 5, 6, 7, 8, 9] });
      assert.deepEqual([cont.tokens.length, cont.promptLength], [2 * 3 + 1, 3 + 2 + 6]);
      await assert.rejects(continueTokenStream(masked, { ...common, prefixTokens: [4, 5] }), /prefix: 2 tokens is not a whole number of 3-token frames/);
      assert.throws(() => masked.forward({ inputIds: [[1, 2]] }), /AllowedTokensLM masks next-token logits only/);
    } finally {
      lm.dispose();
    }
  });
});
