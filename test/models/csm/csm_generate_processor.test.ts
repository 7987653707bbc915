/**
 * CSM processor and generation against transformers' CsmProcessor and generate
 * (test/fixtures/csm): token layout, left padding, labels, frame counts; greedy frames for
 * 20 frames without and with a context turn, and batched.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { TextTokenizer } from '../../../src/tokenizer';
import {
  CsmForConditionalGeneration, CsmProcessor, defaultMaxNewFrames, encodeTurnAudio, framesForSamples, generateFrames,
} from '../../../src/models/csm';
import type { AudioCodec, CsmCodedTurn } from '../../../src/models/csm';
import { CSM_DIR, loadExpected, rowCodes } from './csm_fixtures';
import { tensorsLeaked } from '../llama_fixtures';

const exp = loadExpected();
let model: CsmForConditionalGeneration;
let processor: CsmProcessor;

before(async () => {
  await tf.setBackend('cpu');
  model = await CsmForConditionalGeneration.fromPretrained(CSM_DIR);
  processor = new CsmProcessor(await TextTokenizer.fromDir(join(CSM_DIR, 'tokenizer')), model.config);
});
after(() => model.dispose());

/** The fixture's conversations with each clip's codes in place of its samples. */
function coded(turns: { speaker: number; text: string; samples: number | null }[][], segments: number[][][]): CsmCodedTurn[][] {
  let s = 0;
  return turns.map((row) => row.map((t) => ({ speaker: t.speaker, text: t.text, ...(t.samples ? { codes: segments[s++] } : {}) })));
}

describe('csm processor', () => {
  test('frames = ceil(samples / 1920), as the codes transformers\' Mimi length gives', () => {
    assert.deepEqual([1, 1919, 1920, 1921, 3841, 6000, 9600].map(framesForSamples), [1, 1, 1, 2, 3, 4, 5]);
    const lengths = exp.train.turns.flat().filter((t) => t.samples).map((t) => t.samples!);
    assert.deepEqual(exp.train.codes.map((c) => c.length), lengths.map(framesForSamples));
    assert.throws(() => framesForSamples(0), /at least 1 sample, got 0/);
  });

  test('batch equals CsmProcessor: ids, left padding with eos, mask, labels (ratio 1)', () => {
    const b = processor.batch(coded(exp.train.turns, exp.train.codes), { depthDecoderLabelsRatio: 1 });
    assert.deepEqual(b.inputIds, exp.train.input_ids);
    assert.deepEqual(b.attentionMask, exp.train.attention_mask);
    assert.deepEqual(b.labels, exp.train.labels_processor);
    assert.deepEqual(b.audioCodes, rowCodes(exp.train.turns, exp.train.codes));
    assert.equal(b.inputIds[0][0], 557); // pad = <|end_of_text|>
  });

  test('prompts equal CsmProcessor for the generation cases', () => {
    for (const g of Object.values(exp.generation)) {
      const p = processor.prompt(coded(g.turns, g.codes));
      assert.deepEqual(p.inputIds, g.input_ids);
      assert.deepEqual(p.attentionMask, g.attention_mask);
    }
  });

  test('speaker defaults to 0', () => {
    const a = processor.batch([[{ text: 'Hello world.' }]]);
    const b = processor.batch([[{ text: 'Hello world.', speaker: 0 }]]);
    assert.deepEqual(a.inputIds, b.inputIds);
    assert.deepEqual(a.inputIds[0].slice(0, 4), [556, 58, 15, 60]); // bos [ 0 ]
  });

  test('-101 amortisation: floor(n * (1 - ratio)) audio frames, seeded, eos positions kept', () => {
    const convs = coded(exp.train.turns, exp.train.codes);
    const b = processor.batch(convs, { depthDecoderLabelsRatio: 1 / 4, seed: 3 });
    const flat = b.labels!.flat();
    assert.equal(flat.filter((x) => x === -101).length, Math.floor(8 * (3 / 4)));
    assert.equal(flat.filter((x) => x === 564).length, 3);
    assert.deepEqual(processor.batch(convs, { depthDecoderLabelsRatio: 1 / 4, seed: 3 }).labels, b.labels);
    assert.equal(processor.batch(convs).labels, undefined);
    const def = processor.labels(b.inputIds);
    assert.equal(def.flat().filter((x) => x === -101).length, Math.floor(8 * (15 / 16)));
  });

  test('codes with the wrong number of codebooks or out of range are rejected with the value', () => {
    assert.throws(() => processor.batch([[{ text: 'a', codes: [[1, 2, 3]] }]]), /turn 0 audio codes: frame 0 has 3 codebooks, the model needs 8/);
    assert.throws(() => processor.batch([[{ text: 'a', codes: [[1, 2, 3, 4, 5, 6, 7, -1]] }]]), /code -1 at frame 0, codebook 7/);
  });

  test('defaultMaxNewFrames grows with the text', () => {
    assert.equal(defaultMaxNewFrames('x'.repeat(125)), Math.ceil((250 / 14 + 2) * 12.5));
    assert.ok(defaultMaxNewFrames('x'.repeat(300)) > 125);
  });

  test('encodeTurnAudio resamples other rates with a notice and checks the frame count', async () => {
    const seen: number[] = [];
    const codec: AudioCodec = {
      sampleRate: 24000, frameSamples: 1920, numCodebooks: 8,
      encode: async (s) => { seen.push(s.length); return Array.from({ length: Math.ceil(s.length / 1920) }, () => new Array(8).fill(1)); },
      decode: async () => new Float32Array(0),
    };
    const notes: string[] = [];
    const turns = await encodeTurnAudio([{ text: 'a', audio: { samples: new Float32Array(16000), sampleRate: 16000 } }, { text: 'b' }], codec, (m) => notes.push(m));
    assert.deepEqual(seen, [24000]);
    assert.equal(turns[0].codes!.length, 13);
    assert.match(notes[0], /16000 Hz resampled to 24000 Hz/);
    assert.equal(turns[1].codes, undefined);
    assert.equal(turns[1].speaker, undefined);
  });
});

describe('csm greedy generation', () => {
  const greedy = { doSample: false };
  for (const name of ['gen_plain', 'gen_context', 'gen_batch']) {
    test(`${name}: 20 frames identical to transformers' generate`, async () => {
      const g = exp.generation[name];
      assert.ok(g.matches_manual);
      const prompt = processor.prompt(coded(g.turns, g.codes));
      const out = await generateFrames(model, prompt, { maxNewFrames: 20, backbone: greedy, depthDecoder: greedy });
      assert.deepEqual(out.frames, g.frames);
      assert.deepEqual(out.stopped, g.frames.map(() => false));
    });
  }

  test('stops on the all-zero frame and leaks no tensors', async () => {
    const g = exp.generation.gen_plain;
    const prompt = processor.prompt(coded(g.turns, g.codes));
    // Zeroed heads give all-equal logits, so greedy (first index on ties) picks code 0 for
    // every codebook: the first frame is the end frame.
    const lm = model.lm_head as unknown as { weight: tf.Tensor2D };
    const head = model.depth_decoder.codebooks_head;
    const savedLm = lm.weight;
    lm.weight = tf.zerosLike(savedLm);
    model.depth_decoder.codebooks_head = tf.zerosLike(head);
    try {
      const leaked = await tensorsLeaked(async () => {
        const out = await generateFrames(model, prompt, { maxNewFrames: 5, backbone: greedy, depthDecoder: greedy });
        assert.deepEqual(out.frames, [[]]);
        assert.deepEqual(out.stopped, [true]);
      });
      assert.equal(leaked, 0);
    } finally {
      lm.weight.dispose();
      lm.weight = savedLm;
      model.depth_decoder.codebooks_head.dispose();
      model.depth_decoder.codebooks_head = head;
    }
  });

  test('sampling is seeded and respects maxNewFrames per row', async () => {
    const g = exp.generation.gen_batch;
    const prompt = processor.prompt(coded(g.turns, g.codes));
    const a = await generateFrames(model, prompt, { maxNewFrames: [3, 5], seed: 9 });
    const b = await generateFrames(model, prompt, { maxNewFrames: [3, 5], seed: 9 });
    assert.deepEqual(a, b);
    assert.deepEqual(a.frames.map((f) => f.length), [3, 5]);
    assert.equal(prompt.maxNewFrames!.length, 2);
  });
});
