/**
 * The voice-change measurement of issue 9 acceptance 3 (scripts/mini/eval_voice_change.ts)
 * end to end on the tiny random CSM and the tiny random WavLM x-vector fixture
 * (test/fixtures/wavlm/base), with tiny settings: 4 clips of the sample talk, 2 LoRA steps,
 * 2 held-out sentences of 10 frames. Random weights cannot pass the acceptance, so this
 * checks the plumbing: the dataset, adapter and WAVs are written, every figure is finite
 * (or null where the JSON says why), the acceptance verdict follows from the figures, the
 * adapter changes what is generated, and bad options fail early naming the value.
 * The references are flite `slt` renderings: skipped with the reason when /usr/bin/flite is absent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { decodeWav } from '../../src/audio/wav';
import { loadDataset } from '../../src/data/dataset';
import {
  MAX_F0_RELATIVE_ERROR, MIN_SIMILARITY_GAIN, corpusEvalSentences, evalVoiceChange, readSentences,
} from '../../scripts/mini/eval_voice_change';
import type { GeneratedClip, VoiceChangeResult } from '../../scripts/mini/eval_voice_change';

const WAVLM_TINY = join(__dirname, '..', 'fixtures', 'wavlm', 'base');
const FLITE = '/usr/bin/flite';
const SKIP = existsSync(FLITE) ? false : `${FLITE} is absent (apt-get install flite): the slt references are rendered with it`;

let dir: string;
before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  dir = mkdtempSync(join(tmpdir(), 'ttslab-voice-change-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const finiteOrNull = (x: number | null, what: string) => assert.ok(x === null || Number.isFinite(x), `${what} is ${x}`);

describe('evalVoiceChange on tiny-random-csm', { skip: SKIP }, () => {
  let r: VoiceChangeResult;
  const sentences = corpusEvalSentences(2);
  const lines: string[] = [];

  before(async () => {
    const t0 = Date.now();
    r = await evalVoiceChange({
      model: 'tiny-random-csm', speakerModel: WAVLM_TINY, outDir: join(dir, 'out'), sentences,
      maxClips: 4, maxNewFrames: 10, seed: 5,
      // A high learning rate so 2 steps move the adapter far enough to change sampled codes.
      train: { maxSteps: 2, batchSize: 1, gradientAccumulationSteps: 1, warmupSteps: 0, learningRate: 5e-3, loraR: 4, saveSteps: 0 },
      log: (m) => lines.push(m),
    });
    console.log(`evalVoiceChange on tiny-random-csm: ${((Date.now() - t0) / 1000).toFixed(1)} s\n${r.table}`);
  });

  test('training data: the sample talk through the notebooks\' path, capped', async () => {
    assert.equal(r.data.clips, 4);
    assert.equal(r.data.trainClips + r.data.validationClips, 4);
    assert.ok(r.data.validationClips >= 1);
    assert.ok(r.data.droppedByCap > 0, 'the talk has more than 4 clips of <= 10 s');
    const rows = await loadDataset(join(dir, 'out', 'work', 'dataset'), { split: 'train' });
    assert.equal(rows.length, r.data.trainClips);
    for (const row of rows) {
      assert.equal(row.source, r.speaker);
      assert.ok(row.duration > 0 && row.duration <= 10, `clip of ${row.duration} s`);
      assert.ok(row.text.length > 0);
    }
    // The corrections of notebook 02 were applied: no misspelling the talk's transcript ships with.
    assert.ok(!rows.some((row) => /Kempelin|Wheat Stone|Dudly|Umeta|deck talk|\bKlat\b/.test(row.text)), rows.map((row) => row.text).join(' | '));
  });

  test('training ran the steps asked and saved an adapter', () => {
    assert.equal(r.training.steps, 2);
    assert.equal(r.training.config.maxSteps, 2);
    assert.equal(r.training.config.loraR, 4);
    assert.ok(Number.isFinite(r.training.firstLoss) && Number.isFinite(r.training.lastLoss));
    assert.ok(r.training.trainableParams > 0);
    assert.ok(existsSync(join(dir, 'out', r.training.adapterDir, 'adapter_config.json')), `no adapter_config.json in ${r.training.adapterDir}`);
    assert.ok(lines.some((l) => l.startsWith('[4/5] LoRA training')), 'progress lines are printed');
  });

  test('every clip is written, measured and finite; same seeds for both systems', () => {
    assert.equal(r.clips.length, 2);
    assert.equal(r.sentences, 2);
    r.clips.forEach((c, i) => {
      assert.equal(c.text, sentences[i]);
      assert.equal(c.seed, 5 + i);
      const ref = decodeWav(readFileSync(join(dir, 'out', c.reference.path)));
      assert.equal(ref.sampleRate, 24000);
      assert.ok(Math.abs(ref.channels[0]!.length / 24000 - c.reference.seconds) < 1e-3);
      // flite slt is real speech: its F0 is measurable and in a female range.
      assert.ok(c.reference.medianF0Hz !== null && c.reference.medianF0Hz > 120 && c.reference.medianF0Hz < 260, `slt F0 ${c.reference.medianF0Hz}`);
      for (const g of [c.base, c.finetuned] as GeneratedClip[]) {
        if (g.path === null) {
          assert.equal(g.frames, 0);
          assert.equal(g.similarity, null);
          continue;
        }
        assert.ok(g.frames >= 1 && g.frames <= 10, `${g.frames} frames with a budget of 10`);
        const a = decodeWav(readFileSync(join(dir, 'out', g.path)));
        assert.ok(Math.abs(a.channels[0]!.length / a.sampleRate - g.seconds) < 1e-3);
        assert.ok(a.channels[0]!.every(Number.isFinite));
        assert.ok(g.similarity! >= -1 - 1e-6 && g.similarity! <= 1 + 1e-6, `similarity ${g.similarity}`);
        assert.ok(g.pairwiseSimilarity! >= -1 - 1e-6 && g.pairwiseSimilarity! <= 1 + 1e-6);
        finiteOrNull(g.medianF0Hz, 'clip F0');
      }
    });
    // The adapter is loaded for the fine-tuned pass: what it generates differs from the base.
    const changed = r.clips.some((c) => c.base.frames !== c.finetuned.frames || c.base.similarity !== c.finetuned.similarity);
    assert.ok(changed, JSON.stringify(r.clips.map((c) => [c.base, c.finetuned])));
  });

  test('summaries are finite and the verdict follows from them', () => {
    assert.ok(r.reference.f0.medianHz !== null && r.reference.f0.voicedFrames > 0);
    assert.ok(r.reference.selfSimilarity > 0 && r.reference.selfSimilarity <= 1 + 1e-6);
    for (const s of [r.base, r.finetuned]) {
      finiteOrNull(s.meanSimilarity, 'mean SIM');
      finiteOrNull(s.meanPairwiseSimilarity, 'mean pairwise SIM');
      finiteOrNull(s.f0.medianHz, 'median F0');
      assert.equal(s.f0.medianHz === null, s.f0.voicedFrames === 0);
      assert.ok(s.emptyClips >= 0 && s.emptyClips <= 2);
      assert.ok(s.generateSeconds > 0);
    }
    const a = r.acceptance;
    assert.equal(a.similarityGain.required, MIN_SIMILARITY_GAIN);
    assert.equal(a.f0RelativeError.required, MAX_F0_RELATIVE_ERROR);
    if (r.base.meanSimilarity !== null && r.finetuned.meanSimilarity !== null) {
      assert.ok(Math.abs(a.similarityGain.value! - (r.finetuned.meanSimilarity - r.base.meanSimilarity)) < 1e-12);
    }
    assert.equal(a.similarityGain.pass, a.similarityGain.value !== null && a.similarityGain.value >= 0.15);
    assert.equal(a.f0RelativeError.pass, a.f0RelativeError.value !== null && a.f0RelativeError.value <= 0.1);
    assert.equal(a.pass, a.similarityGain.pass && a.f0RelativeError.pass);
    assert.ok(Object.values(r.timings).every((t) => Number.isFinite(t) && t >= 0));
    assert.match(r.table, /SIM gain \(fine-tuned - base\)/);
    assert.ok(r.warning !== null, 'the random model says so');
  });

  test('voice_change.json holds the same result', () => {
    const json = JSON.parse(readFileSync(join(dir, 'out', 'voice_change.json'), 'utf8')) as VoiceChangeResult;
    assert.deepEqual(json.acceptance, JSON.parse(JSON.stringify(r.acceptance)));
    assert.equal(json.clips.length, 2);
    assert.equal(json.model, 'tiny-random-csm');
  });
});

describe('voice change inputs', () => {
  test('corpus_text.py held-out sentences are read from the file', () => {
    const s = corpusEvalSentences(3);
    assert.deepEqual(s.slice(0, 2), ['The kettle whistled while we waited for the rain to stop.', 'Please close the window before the cold air gets in.']);
    assert.equal(s.length, 3);
    assert.equal(corpusEvalSentences(50).length, 50);
    assert.throws(() => corpusEvalSentences(51), /holds 50 hand-written held-out sentences; .*corpus_text.py eval 51/);
    assert.throws(() => corpusEvalSentences(0), /integer >= 1, got 0/);
  });

  test('sentence files: jsonl and text', () => {
    const jsonl = join(dir, 's.jsonl');
    writeFileSync(jsonl, '{"text": "One."}\n\n{"text": " Two. "}\n');
    assert.deepEqual(readSentences(jsonl), ['One.', 'Two.']);
    writeFileSync(jsonl, '{"text": "One."}\n{"txt": "Two."}\n');
    assert.throws(() => readSentences(jsonl), /s\.jsonl:2: no "text" string, got undefined/);
    const txt = join(dir, 's.txt');
    writeFileSync(txt, 'A line.\nAnother.\n');
    assert.deepEqual(readSentences(txt), ['A line.', 'Another.']);
  });

  test('bad options fail before any work, naming the value', async () => {
    const base = { model: 'tiny-random-csm', outDir: join(dir, 'bad'), sentences: ['Hello.'] };
    await assert.rejects(evalVoiceChange({ ...base, maxClips: 60 }), /maxClips must be an integer in \[2, 50\].*got 60/);
    await assert.rejects(evalVoiceChange({ ...base, sentences: [] }), /sentences must be a non-empty array/);
    await assert.rejects(evalVoiceChange({ ...base, train: { loraR: 0 } }), /loraR/);
    await assert.rejects(evalVoiceChange({ ...base, pitch: { minHz: 400, maxHz: 100 } }), /pitch: .*maxHz must be above minHz \(400\), got 100/);
    await assert.rejects(evalVoiceChange({ ...base, maxNewFrames: 0 }), /maxNewFrames must be an integer >= 1, got 0/);
    assert.ok(!existsSync(join(dir, 'bad')), 'nothing was written');
  });
});
