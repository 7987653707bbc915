/**
 * Search with verifiers (src/eval/search.ts) on real components: the tiny random CSM + Mimi
 * of tiny-random-csm (beam search on tiny-random-orpheus and the tiny Llasa too), the ASR verifier on the tiny random Whisper fixture and the speaker
 * verifier on the tiny random WavLM fixture (values mean nothing with random weights; the
 * choices made from them must still be exactly right). Choices are checked against
 * candidates regenerated and scored independently; the compute accounting against counts
 * derived from the budgets; the edge cases (a model that ends on its own, or at once) with
 * a small counting model written here that implements the model contract.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { decodeWav } from '../../src/audio/wav';
import type { EvalAudio } from '../../src/eval/listening';
import {
  beamSearch, bestOfN, describeSearch, embeddingSpeakerVerifier, longTermSpectrum, meanEmbedding, plainSample, searchScore,
  searchSpeech, spectralSpeakerVerifier, validateSearchConfig, type SearchCompute, type SearchModel, type SearchVerifiers,
} from '../../src/eval/search';
import { asrVerifier, speakerVerifier, type AsrRecord, type ModelVerifier, type SpeakerRecord } from '../../src/eval/verifiers';
import { CsmTts, WORKSHOP_TTS_SAMPLING } from '../../src/models/csm/tts';
import { LLASA_PRESET, LlasaProcessor, LlasaTts, TINY_LLASA_SPEECH_TOKENS, tinyLlasaTokenizer, tinyRandomLlasaLm, tinyRandomXcodec2 } from '../../src/models/llasa';
import { ORPHEUS_TTS_SAMPLING, type OrpheusTts } from '../../src/models/orpheus';
import { loadTtsModel } from '../../src/models/registry';
import type { AudioCodec, Codes, TtsContinuation, TtsGenerateRequest } from '../../src/models/types';
import { cosineSimilarity } from '../../src/models/wavlm';

const FIXTURES = join(__dirname, '..', 'fixtures');
const TEXT = 'Please call Stella.';

function wav(path: string): EvalAudio {
  const a = decodeWav(readFileSync(path));
  return { samples: a.channels[0]!, sampleRate: a.sampleRate };
}
const slt = wav(join(FIXTURES, 'wavlm', 'speech_a.wav'));
const rms = wav(join(FIXTURES, 'wavlm', 'speech_b.wav'));

let tts: CsmTts;
let asr: ModelVerifier<AsrRecord>;
let speaker: ModelVerifier<SpeakerRecord>;

before(async () => {
  // wasm: the tiny Whisper's 30 s encoder window costs ~7 s per call on wasm, ~1 min on cpu (2 busy cores).
  await tf.setBackend('wasm');
  await tf.ready();
  tts = (await loadTtsModel('tiny-random-csm')) as CsmTts;
  // Greedy and short: random weights emit garbage until maxNewTokens.
  asr = await asrVerifier({
    modelId: join(FIXTURES, 'whisper'), onNotice: () => undefined,
    transcribe: { temperature: [0], compressionRatioThreshold: null, logprobThreshold: null, noSpeechThreshold: null, conditionOnPreviousText: false, maxNewTokens: 8 },
  });
  speaker = await speakerVerifier({ modelId: join(FIXTURES, 'wavlm', 'base'), onNotice: () => undefined });
});
after(() => {
  tts.dispose();
  asr.dispose();
  speaker.dispose();
});

const request = (over: Partial<TtsGenerateRequest> = {}): TtsGenerateRequest => ({
  text: TEXT, speaker: 0, sampling: WORKSHOP_TTS_SAMPLING, seed: 10, maxNewFrames: 6, ...over,
});

/** The tiny CSM with every step-wise call recorded (prefix frames, budget, seed). */
function recorded(): { model: SearchModel; calls: { prefix: number; budget: number | undefined; seed: number }[] } {
  const calls: { prefix: number; budget: number | undefined; seed: number }[] = [];
  return {
    calls,
    model: {
      codec: tts.codec,
      generate: (r) => tts.generate(r),
      continueGeneration: (r, prefix) => {
        calls.push({ prefix: prefix.length, budget: r.maxNewFrames, seed: r.seed });
        return tts.continueGeneration(r, prefix);
      },
    },
  };
}

function checkTimes(c: SearchCompute): void {
  assert.ok(c.wallSeconds > 0 && c.wallSeconds + 1e-9 >= c.generateSeconds + c.decodeSeconds + c.verifySeconds, JSON.stringify(c));
  assert.ok(Math.abs(c.realTimeFactor - c.wallSeconds / c.audioSeconds) < 1e-12);
}

describe('best-of-N', () => {
  test('picks the argmin of the score among the candidates it generated (checked against candidates scored independently)', async () => {
    const n = 3;
    const r = await bestOfN(tts, request(), { n, verifiers: { asr, speaker, reference: slt } });
    assert.equal(r.strategy, 'best-of-n');
    assert.equal(r.candidates.length, n);
    const scores: number[] = [];
    for (let i = 0; i < n; i++) {
      // Candidate i is plain sampling with seed + i.
      const codes = await tts.generate(request({ seed: 10 + i }));
      assert.deepEqual(r.candidates[i]!.codes, codes, `candidate ${i}`);
      assert.equal(r.candidates[i]!.seed, 10 + i);
      const audio: EvalAudio = { samples: await tts.codec.decode(codes), sampleRate: tts.codec.sampleRate };
      const wer = (await asr(audio, TEXT)).value;
      const similarity = (await speaker(audio, TEXT, slt)).value;
      assert.equal(r.candidates[i]!.measures.wer, wer);
      assert.ok(Math.abs(r.candidates[i]!.measures.similarity! - similarity) < 1e-9);
      scores.push(wer - similarity);
    }
    assert.ok(new Set(scores.map((s) => s.toFixed(9))).size > 1, `the candidates' scores differ: ${scores}`);
    const want = scores.indexOf(Math.min(...scores));
    assert.equal(r.best, want, `scores ${scores.join(', ')}`);
    assert.deepEqual(r.codes, r.candidates[want]!.codes);
    assert.ok(Math.abs(r.score - scores[want]!) < 1e-9);

    // Exact accounting: 3 candidates x 6 frames, each decoded once and verified once by each verifier.
    const c = r.compute;
    assert.deepEqual([c.candidates, c.generationCalls, c.framesGenerated, c.framesDecoded, c.verifierCalls], [3, 3, 18, 18, { asr: 3, speaker: 3 }]);
    assert.equal(c.audioSeconds, (6 * 1920) / 24000);
    checkTimes(c);
  });

  test('the weights decide the combination: similarity alone picks the most similar; the same seed gives the same choice', async () => {
    const a = await bestOfN(tts, request({ seed: 20 }), { n: 3, verifiers: { asr, speaker, reference: slt }, weights: { wer: 0 } });
    assert.equal(a.compute.verifierCalls.asr, 3, 'a verifier of weight 0 still measures (the numbers are reported)');
    const sims = a.candidates.map((c) => c.measures.similarity!);
    assert.equal(a.best, sims.indexOf(Math.max(...sims)));
    const b = await bestOfN(tts, request({ seed: 20 }), { n: 3, verifiers: { speaker, reference: slt } });
    assert.equal(b.best, a.best);
    assert.deepEqual(b.codes, a.codes);
    assert.equal(b.compute.verifierCalls.asr, 0);
    assert.equal(searchScore({ wer: 0.5, similarity: 0.25 }), 0.25);
    assert.equal(searchScore({ wer: 0.5, similarity: 0.25 }, { wer: 2, similarity: 4 }), 0);
    assert.equal(searchScore({ similarity: 0.25 }), -0.25);
    assert.throws(() => searchScore({}, { wer: -1 }), /search weights.wer must be a finite number >= 0, got -1/);
  });

  test('plain sampling has the same accounting, with or without verifiers', async () => {
    const p = await plainSample(tts, request({ seed: 10 }));
    assert.deepEqual(p.codes, await tts.generate(request({ seed: 10 })));
    assert.deepEqual([p.compute.candidates, p.compute.generationCalls, p.compute.framesGenerated, p.compute.verifierCalls], [1, 1, 6, { asr: 0, speaker: 0 }]);
    assert.deepEqual(p.measures, {});
    assert.equal(p.candidates[0]!.stopped, false);
    checkTimes(p.compute);
  });
});

describe('beam search', () => {
  test('keeps B beams, extends by K frames, never past maxFrames; accounting exact', async () => {
    // The model-free spectral verifier: WavLM's x-vector needs more than the 0.24 s of K = 3 frames.
    const spectral = spectralSpeakerVerifier();
    const { model, calls } = recorded();
    const rounds: number[] = [];
    const r = await beamSearch(model, request({ seed: 100, maxNewFrames: undefined }), {
      beams: 2, expand: 2, chunkFrames: 3, maxFrames: 7, verifiers: { speaker: spectral, reference: slt }, onRound: (x) => rounds.push(x.round),
    });
    // Round 1: the empty beam -> 2 continuations of 3 frames. Round 2: 2 beams x 2 -> 6 frames.
    // Round 3: 4 continuations of min(3, 7 - 6) = 1 frame, all finished at 7.
    assert.deepEqual(calls.map((c) => c.prefix), [0, 0, 3, 3, 3, 3, 6, 6, 6, 6]);
    assert.deepEqual(calls.map((c) => c.budget), [3, 3, 3, 3, 3, 3, 1, 1, 1, 1]);
    assert.deepEqual(calls.map((c) => c.seed), [100, 101, 102, 103, 104, 105, 106, 107, 108, 109], 'a distinct seed per continuation');
    assert.deepEqual(rounds, [1, 2, 3]);
    assert.deepEqual(r.rounds!.map((x) => x.pool.length), [2, 4, 4]);
    assert.deepEqual(r.rounds!.map((x) => x.frames), [3, 6, 7]);
    for (const round of r.rounds!) {
      const kept = round.pool.filter((p) => p.kept);
      assert.equal(kept.length, 2, `round ${round.round} keeps B = 2`);
      // The kept ones are the most similar of the pool.
      const worstKept = Math.min(...kept.map((p) => p.similarity));
      assert.ok(round.pool.filter((p) => !p.kept).every((p) => p.similarity <= worstKept), `round ${round.round}`);
    }
    // Round 2's continuations descend from round 1's kept beams, round 3's from round 2's.
    for (const [i, round] of r.rounds!.entries()) {
      if (i === 0) continue;
      const parents = new Set(r.rounds![i - 1]!.pool.filter((p) => p.kept).map((p) => p.id));
      assert.ok(round.pool.every((p) => parents.has(p.parent!)));
    }
    const c = r.compute;
    // Frames sampled 2*3 + 4*3 + 4*1; decoded: each continuation whole, 2*3 + 4*6 + 4*7.
    assert.deepEqual([c.candidates, c.generationCalls, c.framesGenerated, c.framesDecoded, c.verifierCalls], [10, 10, 22, 58, { asr: 0, speaker: 10 }]);
    assert.equal(r.codes.length, 7);
    assert.equal(r.candidates.length, 2);
    assert.equal(r.best, 0);
    assert.ok(r.candidates[0]!.measures.similarity! >= r.candidates[1]!.measures.similarity!);
    checkTimes(c);

    // The chosen beam, rebuilt independently from its seeds, and its similarity re-measured.
    let codes: Codes = [];
    for (const seed of r.candidates[0]!.seeds) {
      codes = [...codes, ...(await tts.continueGeneration(request({ seed, maxNewFrames: Math.min(3, 7 - codes.length) }), codes)).codes];
    }
    assert.deepEqual(codes, r.codes);
    const sim = (await spectral({ samples: await tts.codec.decode(codes), sampleRate: 24000 }, TEXT, slt)).value;
    assert.ok(Math.abs(sim - r.measures.similarity!) < 1e-9);

    // Deterministic: the same seed, the same search.
    const again = await beamSearch(model, request({ seed: 100 }), { beams: 2, expand: 2, chunkFrames: 3, maxFrames: 7, verifiers: { speaker: spectral, reference: slt } });
    assert.deepEqual(again.codes, r.codes);
    assert.deepEqual(again.rounds!.map((x) => x.pool.map((p) => p.similarity)), r.rounds!.map((x) => x.pool.map((p) => p.similarity)));
  });

  test('with the ASR verifier too, the final beams are transcribed and picked by the score', async () => {
    // K = 6 frames (0.48 s): enough audio for the WavLM x-vector from the first round on.
    const r = await beamSearch(tts, request({ seed: 7 }), { beams: 2, expand: 2, chunkFrames: 6, maxFrames: 12, verifiers: { asr, speaker, reference: slt } });
    // 2 continuations, then 2 beams x 2 = 4; the 2 final beams transcribed.
    assert.deepEqual([r.compute.candidates, r.compute.framesGenerated, r.compute.verifierCalls], [6, 36, { asr: 2, speaker: 6 }]);
    const scores = r.candidates.map((c) => c.measures.wer! - c.measures.similarity!);
    assert.equal(r.best, scores.indexOf(Math.min(...scores)));
    assert.deepEqual(r.codes, r.candidates[r.best]!.codes);
    // Too little audio for the speaker model is its error, not a silent score.
    await assert.rejects(beamSearch(tts, request(), { beams: 2, chunkFrames: 3, maxFrames: 6, verifiers: { speaker, reference: slt } }), /WavLM x-vector: .* at least 2 are needed/);
  });

  test('refuses a model without the step-wise hook, a missing speaker verifier, and bad budgets, naming them', async () => {
    const plainOnly: SearchModel = { codec: tts.codec, generate: (r) => tts.generate(r) };
    const v = { speaker, reference: slt };
    await assert.rejects(beamSearch(plainOnly, request(), { beams: 2, chunkFrames: 2, maxFrames: 4, verifiers: v }), /step-wise hook continueGeneration\(request, prefix\)/);
    await assert.rejects(beamSearch(tts, request(), { beams: 2, chunkFrames: 2, maxFrames: 4, verifiers: { asr } }), /verifiers.speaker is required/);
    await assert.rejects(beamSearch(tts, request(), { beams: 0, chunkFrames: 2, maxFrames: 4, verifiers: v }), /beam search beams must be an integer >= 1, got 0/);
    await assert.rejects(beamSearch(tts, request(), { beams: 2, chunkFrames: 2.5, maxFrames: 4, verifiers: v }), /chunkFrames must be an integer >= 1, got 2.5/);
    await assert.rejects(bestOfN(tts, request(), { n: 2, verifiers: {} }), /best-of-N needs a verifier/);
    await assert.rejects(bestOfN(tts, request({ seed: 1.5 }), { n: 2, verifiers: v }), /request.seed must be an integer/);
  });
});

// -- beam search on Orpheus and Llasa (their step-wise hooks) -------------------------------

/** `model` with every step-wise call recorded (prefix frames, budget, seed). */
function recording(model: SearchModel): { model: SearchModel; calls: { prefix: number; budget: number | undefined; seed: number }[] } {
  const calls: { prefix: number; budget: number | undefined; seed: number }[] = [];
  return {
    calls,
    model: {
      codec: model.codec,
      generate: (r) => model.generate(r),
      continueGeneration: (r, prefix) => {
        calls.push({ prefix: prefix.length, budget: r.maxNewFrames, seed: r.seed });
        return model.continueGeneration!(r, prefix);
      },
    },
  };
}

/**
 * Beam search B 2 x 2, K frames, max 2 K on a step-wise model that does not end the turn
 * that soon: the calls, the accounting, valid codes the codec decodes, and the chosen beam
 * rebuilt from its seeds through `continueGeneration`.
 */
async function checkBeamSearch(family: SearchModel & { codebookSize?: number }, r0: TtsGenerateRequest, K: number, verifiers: SearchVerifiers): Promise<void> {
  const { model, calls } = recording(family);
  const r = await beamSearch(model, r0, { beams: 2, expand: 2, chunkFrames: K, maxFrames: 2 * K, verifiers });
  // Round 1: the empty beam -> 2 continuations of K frames; round 2: 2 beams x 2 -> 2 K frames, all finished.
  assert.deepEqual(calls.map((c) => c.prefix), [0, 0, K, K, K, K]);
  assert.deepEqual(calls.map((c) => c.budget), [K, K, K, K, K, K]);
  assert.deepEqual(calls.map((c) => c.seed), [0, 1, 2, 3, 4, 5].map((i) => r0.seed + i));
  assert.deepEqual(r.rounds!.map((x) => x.pool.map((p) => p.frames)), [[K, K], [2 * K, 2 * K, 2 * K, 2 * K]]);
  assert.ok(r.candidates.every((c) => c.stopped === false), 'no beam ended the turn early (the counts below assume it)');
  const c = r.compute;
  // Sampled 2 K + 4 K frames; decoded each continuation whole: 2 K + 4 (2 K).
  assert.deepEqual([c.candidates, c.generationCalls, c.framesGenerated, c.framesDecoded, c.verifierCalls.speaker], [6, 6, 6 * K, 10 * K, 6]);
  checkTimes(c);
  // Valid codes: frames of the codec's codebook count, codes in range, decoded to K frames of audio each.
  const codec = family.codec;
  assert.equal(r.codes.length, 2 * K);
  assert.ok(r.codes.every((f) => f.length === codec.numCodebooks && f.every((x) => Number.isInteger(x) && x >= 0 && x < family.codebookSize!)), JSON.stringify(r.codes));
  assert.equal(r.audio.samples.length, 2 * K * codec.frameSamples);
  assert.equal(r.audio.sampleRate, codec.sampleRate);
  assert.equal(c.audioSeconds, (2 * K * codec.frameSamples) / codec.sampleRate);
  assert.ok(r.audio.samples.every(Number.isFinite));
  // The chosen beam, rebuilt from its seeds, and the audio decoded again.
  let codes: Codes = [];
  for (const seed of r.candidates[r.best]!.seeds) codes = [...codes, ...(await family.continueGeneration!({ ...r0, seed, maxNewFrames: K }, codes)).codes];
  assert.deepEqual(codes, r.codes);
  assert.deepEqual(await codec.decode(codes), r.audio.samples);
}

describe('beam search on Orpheus and Llasa', () => {
  test('Orpheus (tiny-random-orpheus + tiny SNAC, WavLM speaker verifier): B 2 x 2, K 5 frames (0.43 s)', async () => {
    const orpheus = (await loadTtsModel('tiny-random-orpheus')) as OrpheusTts;
    try {
      await checkBeamSearch(orpheus, { text: TEXT, speaker: 0, sampling: ORPHEUS_TTS_SAMPLING, seed: 40 }, 5, { speaker, reference: slt });
    } finally {
      orpheus.dispose();
    }
  });

  test('Llasa (tiny Llasa, speech tokens only, + tiny XCodec2; spectral verifier): B 2 x 2, K 4 frames (80 ms)', async () => {
    const xcodec2 = await tinyRandomXcodec2(0);
    const llasa = new LlasaTts(tinyRandomLlasaLm(0), new LlasaProcessor(tinyLlasaTokenizer()), xcodec2.asAudioCodec('search-test'), {
      name: 'tiny-random-llasa (speech only)', constrainSpeech: true, codecModel: xcodec2, codebookSize: TINY_LLASA_SPEECH_TOKENS,
    });
    try {
      await checkBeamSearch(llasa, { text: TEXT, speaker: 0, sampling: LLASA_PRESET.sampling, seed: 50 }, 4, { speaker: spectralSpeakerVerifier(), reference: slt });
    } finally {
      llasa.dispose();
    }
  });

  test('the notebooks\' tiny-random-llasa (text tokens skipped): beam search still returns valid, decodable codes within the budget', async () => {
    const llasa = await loadTtsModel('tiny-random-llasa');
    try {
      const r = await beamSearch(llasa, { text: TEXT, speaker: 0, sampling: LLASA_PRESET.sampling, seed: 60 }, {
        beams: 2, expand: 2, chunkFrames: 4, maxFrames: 8, verifiers: { speaker: spectralSpeakerVerifier(), reference: slt },
      });
      assert.ok(r.codes.length >= 1 && r.codes.length <= 8);
      assert.ok(r.codes.every((f) => f.length === 1 && f[0]! >= 0 && f[0]! < TINY_LLASA_SPEECH_TOKENS));
      assert.equal(r.audio.samples.length, r.codes.length * llasa.codec.frameSamples);
      assert.ok(r.compute.framesGenerated <= 4 * (2 + 4 * 2), `at most K frames per call: ${r.compute.framesGenerated}`);
      assert.equal(r.compute.generationCalls, r.compute.candidates);
    } finally {
      llasa.dispose();
    }
  });
});

describe('searchSpeech and its config', () => {
  test('dispatches on the strategy; validation names unknown fields and bad values', async () => {
    const v = { speaker, reference: slt };
    const b = await searchSpeech(tts, request({ seed: 30 }), { strategy: 'best-of-n', n: 2 }, v);
    assert.equal(b.strategy, 'best-of-n');
    assert.deepEqual(b.candidates[1]!.codes, await tts.generate(request({ seed: 31 })));
    const p = await searchSpeech(tts, request({ seed: 30 }), { strategy: 'plain' }, v);
    assert.deepEqual(p.codes, b.candidates[0]!.codes);
    assert.equal(p.compute.verifierCalls.speaker, 1, 'plain sampling is measured by the verifiers given');
    assert.equal(describeSearch({ strategy: 'beam', beams: 4, chunkFrames: 10, maxFrames: 125 }), 'beam B4 x2, K 10, max 125 frames');
    assert.equal(describeSearch({ strategy: 'best-of-n', n: 8 }), 'best-of-8');
    assert.throws(() => validateSearchConfig({ strategy: 'best-of-n', n: 8, beams: 2 } as never), /unknown field "beams"; known: strategy, n, weights/);
    assert.throws(() => validateSearchConfig({ strategy: 'greedy' } as never), /search strategy must be one of plain, best-of-n, beam, got "greedy"/);
    assert.throws(() => validateSearchConfig({ strategy: 'beam', beams: 2, chunkFrames: 0, maxFrames: 4 }), /search chunkFrames must be an integer >= 1, got 0/);
  });
});

// -- a model that ends on its own ----------------------------------------------------------

/**
 * A counting model implementing the step-wise contract: each call emits frames [t] with
 * t counting on from the prefix, `seed % 4` of them (0 = it ends at once); it ends the turn
 * when that is below the budget. Its codec turns code t into 10 ms of a (100 + 50 t) Hz sine
 * at 8 kHz, so different sequences sound, and score, differently.
 */
function countingModel(): SearchModel & { calls: number } {
  const codec: AudioCodec = {
    id: 'sine', sampleRate: 8000, frameSamples: 80, numCodebooks: 1,
    encode: () => Promise.reject(new Error('not used')),
    decode: async (codes) => Float32Array.from({ length: codes.length * 80 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * (100 + 50 * codes[Math.floor(i / 80)]![0]!) * i) / 8000)),
  };
  const m = {
    calls: 0,
    codec,
    async continueGeneration(r: TtsGenerateRequest, prefix: Codes): Promise<TtsContinuation> {
      m.calls++;
      const budget = r.maxNewFrames ?? 50;
      const n = Math.min(r.seed % 4, budget);
      return { codes: Array.from({ length: n }, (_, i) => [prefix.length + i]), stopped: r.seed % 4 < budget };
    },
    async generate(r: TtsGenerateRequest): Promise<Codes> {
      return (await m.continueGeneration(r, [])).codes;
    },
  };
  return m;
}

describe('sequences that end on their own', () => {
  const target: EvalAudio = { samples: Float32Array.from({ length: 800 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 150 * i) / 8000)), sampleRate: 8000 };
  const spectral = spectralSpeakerVerifier();

  test('best-of-N: an empty candidate is kept unscored (score +Infinity); all empty is an error', async () => {
    const model = countingModel();
    // Seeds 3, 4, 5: 3 frames, 0 frames (ends at once), 1 frame.
    const r = await bestOfN(model, request({ seed: 3, maxNewFrames: 8 }), { n: 3, verifiers: { speaker: spectral, reference: target } });
    assert.deepEqual(r.candidates.map((c) => c.codes.length), [3, 0, 1]);
    assert.equal(r.candidates[1]!.score, Infinity);
    assert.equal(r.candidates[1]!.audio, null);
    assert.deepEqual(r.candidates.map((c) => c.stopped), [true, true, true]);
    assert.deepEqual([r.compute.candidates, r.compute.framesGenerated, r.compute.verifierCalls.speaker], [3, 4, 2]);
    await assert.rejects(bestOfN(model, request({ seed: 4 }), { n: 1, verifiers: { speaker: spectral, reference: target } }), /every candidate for "Please call Stella." ended at once with 0 frames \(seeds 4\)/);
  });

  test('beam search: finished beams stay in the pool unextended; a continuation that adds nothing keeps its parent\'s score', async () => {
    const model = countingModel();
    // Round 1 from the empty beam: seed 6 -> 2 frames, ended (finished); seed 7 -> 3 frames = K (goes on).
    // Round 2: the finished beam is carried over; the other gets seed 8 -> 0 frames (ends at once: its
    // parent's codes, audio and score, no verifier call) and seed 9 -> 1 frame (4 in all, ended).
    const r = await beamSearch(model, request({ seed: 6 }), { beams: 2, expand: 2, chunkFrames: 3, maxFrames: 9, verifiers: { speaker: spectral, reference: target } });
    assert.equal(r.rounds!.length, 2);
    const [r1, r2] = r.rounds!;
    assert.deepEqual(r1!.pool.map((p) => [p.id, p.frames, p.finished]), [[1, 2, true], [2, 3, false]]);
    assert.deepEqual(r2!.pool.map((p) => [p.id, p.parent, p.frames, p.finished]), [[1, 0, 2, true], [3, 2, 3, true], [4, 2, 4, true]]);
    assert.equal(r2!.pool[0]!.similarity, r1!.pool[0]!.similarity, 'carried over, not re-scored');
    assert.equal(r2!.pool[1]!.similarity, r1!.pool[1]!.similarity, 'no new frames: the parent\'s score');
    assert.equal(r2!.pool.filter((p) => p.kept).length, 2);
    assert.deepEqual([model.calls, r.compute.generationCalls, r.compute.framesGenerated, r.compute.verifierCalls.speaker], [4, 4, 6, 3]);
    assert.deepEqual(r.candidates.map((c) => c.stopped), [true, true]);
    const best = r2!.pool.filter((p) => p.kept).sort((a, b) => b.similarity - a.similarity)[0]!;
    assert.equal(r.candidates[0]!.index, best.id);
  });
});

describe('speaker measures without a speaker model', () => {
  test('long-term spectrum: 40 mean-free bands; a clip is most similar to itself, loudness does not matter', async () => {
    const e = longTermSpectrum(slt);
    assert.equal(e.length, 40);
    assert.ok(Math.abs(e.reduce((a, x) => a + x, 0)) < 1e-3);
    const v = spectralSpeakerVerifier();
    assert.ok(Math.abs((await v(slt, '', slt)).value - 1) < 1e-6);
    const quieter = { samples: slt.samples.map((x) => x * 0.25), sampleRate: slt.sampleRate };
    assert.ok((await v(quieter, '', slt)).value > 0.99, 'a level change (-12 dB) keeps the shape');
    const other = (await v(rms, '', slt)).value;
    assert.ok(other < 0.99 && other > -1, `slt vs rms ${other}`);
    assert.equal((await v(rms, '', slt)).name, 'spectral similarity');
    await assert.rejects(v(slt, ''), /no reference clip/);
  });

  test('embeddingSpeakerVerifier: cosine to a target embedding (e.g. a speaker centroid)', async () => {
    const target = meanEmbedding([longTermSpectrum(slt), longTermSpectrum({ samples: slt.samples.slice(0, 16000), sampleRate: slt.sampleRate })]);
    const v = embeddingSpeakerVerifier({ embed: longTermSpectrum, target });
    const m = await v(rms, '');
    assert.equal(m.name, 'speaker similarity');
    assert.ok(Math.abs(m.value - cosineSimilarity(longTermSpectrum(rms), target)) < 1e-12);
    assert.throws(() => meanEmbedding([new Float32Array(3), new Float32Array(4)]), /embedding 1 has 4 values, embedding 0 has 3/);
    await assert.rejects(embeddingSpeakerVerifier({ embed: () => new Float32Array(3), target })(rms, ''), /the clip's embedding has 3 values, the target 40/);
  });
});
