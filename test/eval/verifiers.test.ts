/**
 * Verifier plumbing with the tiny random fixture models (test/fixtures/whisper,
 * test/fixtures/wavlm/base): the values mean nothing with random weights, so this checks
 * their range, what is recorded, resampling notices, errors, and that both plug into the
 * listening grid as metric columns.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { decodeWav } from '../../src/audio/wav';
import { resample } from '../../src/audio/resample';
import { buildListeningComparison, metricMeans } from '../../src/eval/listening';
import type { EvalAudio } from '../../src/eval/listening';
import { asrVerifier, speakerVerifier } from '../../src/eval/verifiers';
import type { AsrRecord, ModelVerifier, SpeakerRecord } from '../../src/eval/verifiers';
import { normalizeEnglish } from '../../src/eval/normalize';
import { WavLMForXVector, cosineSimilarity } from '../../src/models/wavlm';

const FIXTURES = join(__dirname, '..', 'fixtures');
const WHISPER_DIR = join(FIXTURES, 'whisper');
const WAVLM_DIR = join(FIXTURES, 'wavlm', 'base');

function wav(path: string): EvalAudio {
  const a = decodeWav(readFileSync(path));
  return { samples: a.channels[0]!, sampleRate: a.sampleRate };
}

const clipA = wav(join(FIXTURES, 'wavlm', 'speech_a.wav')); // slt
const clipB = wav(join(FIXTURES, 'wavlm', 'speech_b.wav')); // rms
const TEXT_A = 'Please call Stella and ask her to bring these things.';
const TEXT_B = 'Six spoons of fresh snow peas.';

let asr: ModelVerifier<AsrRecord>;
let speaker: ModelVerifier<SpeakerRecord>;
const notices: string[] = [];
let runDir: string;

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  asr = await asrVerifier({
    modelId: WHISPER_DIR, onNotice: (m) => notices.push(m),
    // Greedy and short: random weights emit garbage until maxNewTokens.
    transcribe: { temperature: [0], compressionRatioThreshold: null, logprobThreshold: null, noSpeechThreshold: null, conditionOnPreviousText: false, maxNewTokens: 12 },
  });
  speaker = await speakerVerifier({ modelId: WAVLM_DIR, onNotice: (m) => notices.push(m) });
  runDir = mkdtempSync(join(tmpdir(), 'ttslab-verifiers-'));
});
after(() => {
  asr.dispose();
  speaker.dispose();
  rmSync(runDir, { recursive: true, force: true });
});

describe('asrVerifier', () => {
  test('WER of a clip against its text, with the transcript and alignment recorded', async () => {
    const before = tf.memory().numTensors;
    const m = await asr(clipA, TEXT_A);
    assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
    assert.equal(m.name, 'WER');
    assert.ok(Number.isFinite(m.value) && m.value >= 0, `WER ${m.value}`);
    const rec = asr.history.at(-1)!;
    assert.equal(rec.text, TEXT_A);
    assert.equal(typeof rec.transcript, 'string');
    assert.equal(rec.wer.wer, m.value);
    assert.equal(rec.wer.reference, normalizeEnglish(TEXT_A));
    assert.equal(rec.wer.referenceLength, 10);
    assert.equal(rec.wer.errors, rec.wer.substitutions + rec.wer.deletions + rec.wer.insertions);
    assert.equal(notices.length, 0, 'no notice for 16 kHz audio');
  });

  test('24 kHz audio is resampled with one notice and gives the 16 kHz result', async () => {
    const at24k: EvalAudio = { samples: resample(clipA.samples, 16000, 24000), sampleRate: 24000 };
    const m = await asr(at24k, TEXT_A);
    await asr(at24k, TEXT_A);
    assert.equal(notices.filter((n) => n.includes('ASR verifier: resampling 24000 Hz')).length, 1);
    assert.ok(Number.isFinite(m.value) && m.value >= 0);
  });

  test('a text with no words is an error naming it', async () => {
    await assert.rejects(asr(clipA, '?!'), /the text "\?!" has no words/);
  });
});

describe('speakerVerifier', () => {
  test('cosine similarity in [-1, 1]; a clip against itself is 1; equals the embeddings\' cosine', async () => {
    const self = await speaker(clipA, TEXT_A, clipA);
    assert.equal(self.name, 'speaker similarity');
    assert.ok(Math.abs(self.value - 1) < 1e-6, `self-similarity ${self.value}`);
    const other = await speaker(clipB, TEXT_B, clipA);
    assert.ok(other.value >= -1 && other.value <= 1 && other.value < 1 - 1e-6, `similarity ${other.value}`);
    const model = await WavLMForXVector.fromPretrained(WAVLM_DIR);
    try {
      const want = cosineSimilarity(model.speakerEmbedding(clipB.samples), model.speakerEmbedding(clipA.samples));
      assert.ok(Math.abs(other.value - want) < 1e-9);
    } finally {
      model.dispose();
    }
    assert.equal(speaker.history.at(-1)!.embedding.length, 12);
  });

  test('needs the reference clip', async () => {
    await assert.rejects(speaker(clipA, TEXT_A), /no reference clip/);
  });
});

describe('verifiers in the listening grid', () => {
  test('both fill their metric columns on every cell and in the per-system means', async () => {
    const comparison = await buildListeningComparison([
      { text: TEXT_A, speaker: 0, audio: { reference: clipA, base: clipB } },
      { text: TEXT_B, speaker: 0, audio: { reference: clipB, base: clipA } },
    ], {
      systems: [{ id: 'reference', label: 'reference clip' }, { id: 'base', label: 'base zero-shot' }],
      verifiers: [speaker, asr], runDir, name: 'verifiers',
    });
    assert.deepEqual(comparison.metricNames, ['speaker similarity', 'WER']);
    for (const row of comparison.rows) {
      for (const cell of Object.values(row.cells)) {
        assert.ok(cell!.metrics['speaker similarity']! >= -1 && cell!.metrics['speaker similarity']! <= 1 + 1e-9);
        assert.ok(cell!.metrics.WER! >= 0);
      }
      assert.ok(Math.abs(row.cells.reference!.metrics['speaker similarity']! - 1) < 1e-6, 'the reference against itself');
    }
    const manifest = JSON.parse(readFileSync(comparison.manifestPath, 'utf8')) as { entries: { metrics: Record<string, number> }[] };
    assert.ok(manifest.entries.every((e) => typeof e.metrics.WER === 'number' && typeof e.metrics['speaker similarity'] === 'number'));
    const means = metricMeans(comparison);
    assert.ok(means.every((m) => m.means.WER !== undefined && m.means['speaker similarity'] !== undefined));
  });
});
