/**
 * The mini speaker encoder (models/mini/speaker, transformers' WavLMForXVector trained by
 * scripts/mini/train_speaker.py) through ttslab's own loader (WavLMForXVector.fromPretrained)
 * and the speaker verifier of src/eval/verifiers.ts, on CPU (wasm).
 *
 * Clips are made here by flite: `slt` (the sample talk's voice, never heard in training)
 * speaking two different sentences, and the training voices `awb`, `rms` and `kal16`
 * speaking one of them. Same-speaker cosine similarity must be high and every
 * different-speaker one clearly lower, with the bounds measured on this checkpoint (see the
 * constants); scripts/mini/eval_speaker.py measures the equal error rate on 16 unseen voices.
 * The verifier test also checks the ASR-free path of src/eval/verifiers.ts with this model.
 *
 * Skipped with the reason when the weights (models/mini/speaker/model.safetensors, untracked
 * until the lead decides how they ship) or /usr/bin/flite (`apt-get install flite`) are absent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { WavLMForXVector, cosineSimilarity } from '../../../src/models/wavlm';
import { speakerVerifier } from '../../../src/eval/verifiers';

const MINI_SPEAKER = join(__dirname, '..', '..', '..', 'models', 'mini', 'speaker');
const FLITE = '/usr/bin/flite';
const SKIP: string | false = !existsSync(join(MINI_SPEAKER, 'model.safetensors'))
  ? `${join('models', 'mini', 'speaker', 'model.safetensors')} is absent (issue 9: rebuild with scripts/mini/gpu_train_asr_spk.sh)`
  : !existsSync(FLITE) ? `${FLITE} is absent (apt-get install flite): the test clips are synthesised with it` : false;

const TEXT_A = 'The kettle whistled while we waited for the rain to stop.';
const TEXT_B = 'Our neighbour plays the trumpet every evening at seven.';
/** Same speaker (slt, two sentences): measured 0.950 (the EER threshold on 16 unseen voices was 0.61). */
const MIN_SAME = 0.85;
/**
 * Different speakers (slt vs awb, rms, kal16 on the same sentence): measured 0.624, 0.551, 0.233.
 * flite's clustergen voices (slt, awb, rms) share a vocoder and score well above the unseen
 * espeak-ng voices (slt's nearest there: 0.22), so the bound is loose; same minus the highest
 * different must stay above MIN_MARGIN (measured 0.326).
 */
const MAX_DIFFERENT = 0.75;
const MIN_MARGIN = 0.2;

/** 16-bit mono PCM wav -> samples in [-1, 1] and rate (flite's output). */
function readPcm16(path: string): { samples: Float32Array; sampleRate: number } {
  const b = readFileSync(path);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${path}: not a RIFF/WAVE file`);
  let off = 12;
  let rate = 0;
  let bits = 0;
  let channels = 0;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      channels = b.readUInt16LE(off + 10);
      rate = b.readUInt32LE(off + 12);
      bits = b.readUInt16LE(off + 22);
    } else if (id === 'data') {
      if (bits !== 16 || channels !== 1) throw new Error(`${path}: expected 16-bit mono, got ${bits}-bit x ${channels}`);
      const n = Math.floor(Math.min(size, b.length - off - 8) / 2);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = b.readInt16LE(off + 8 + 2 * i) / 32768;
      return { samples: out, sampleRate: rate };
    }
    off += 8 + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}

describe('mini speaker encoder (models/mini/speaker)', { skip: SKIP }, () => {
  let model: WavLMForXVector;
  let tmp: string;
  const clip = (voice: string, text: string, name: string) => {
    const wav = join(tmp, `${name}.wav`);
    execFileSync(FLITE, ['-voice', voice, '-t', text, '-o', wav]);
    const c = readPcm16(wav);
    assert.equal(c.sampleRate, 16000, `flite ${voice} speaks at 16 kHz`);
    return c;
  };
  before(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    model = await WavLMForXVector.fromPretrained(MINI_SPEAKER);
    tmp = mkdtempSync(join(tmpdir(), 'ttslab-mini-speaker-'));
  });
  after(() => {
    model?.dispose();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('loads the tiny x-vector layout (128-d embeddings, 16 kHz, normalised input)', () => {
    assert.equal(model.config.xvectorOutputDim, 128);
    assert.equal(model.config.hiddenSize, 128);
    assert.equal(model.featureExtractorConfig.samplingRate, 16000);
    assert.equal(model.featureExtractorConfig.doNormalize, true);
  });

  test('same speaker (unseen slt, two sentences) scores high, other speakers on the same sentence low', () => {
    const a = model.speakerEmbedding(clip('slt', TEXT_A, 'slt_a').samples);
    const b = model.speakerEmbedding(clip('slt', TEXT_B, 'slt_b').samples);
    assert.equal(a.length, 128);
    const same = cosineSimilarity(a, b);
    const others = Object.fromEntries(['awb', 'rms', 'kal16'].map((v) => [v, cosineSimilarity(a, model.speakerEmbedding(clip(v, TEXT_A, v).samples))]));
    const detail = `same ${same.toFixed(3)}, different ${JSON.stringify(Object.fromEntries(Object.entries(others).map(([k, v]) => [k, Number(v.toFixed(3))])))}`;
    assert.ok(same >= MIN_SAME, `same-speaker cosine below ${MIN_SAME}: ${detail}`);
    for (const [v, c] of Object.entries(others)) assert.ok(c <= MAX_DIFFERENT, `slt vs ${v} cosine above ${MAX_DIFFERENT}: ${detail}`);
    assert.ok(same - Math.max(...Object.values(others)) >= MIN_MARGIN, `same minus the highest different below ${MIN_MARGIN}: ${detail}`);
  });

  test('works as the speaker verifier of the listening grid (24 kHz clips resampled to 16 kHz)', async () => {
    const notices: string[] = [];
    const verify = await speakerVerifier({ model, onNotice: (m) => notices.push(m) });
    const up = (s: Float32Array) => {
      // 16 -> 24 kHz by linear interpolation: a clip at another rate, as TTS models produce.
      const n = Math.floor((s.length * 3) / 2);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const x = (i * 2) / 3;
        const j = Math.floor(x);
        out[i] = j + 1 < s.length ? s[j]! + (s[j + 1]! - s[j]!) * (x - j) : s[s.length - 1]!;
      }
      return out;
    };
    const ref = { samples: up(clip('slt', TEXT_B, 'ref').samples), sampleRate: 24000 };
    const same = await verify({ samples: up(clip('slt', TEXT_A, 'v_same').samples), sampleRate: 24000 }, TEXT_A, ref);
    const other = await verify({ samples: up(clip('rms', TEXT_A, 'v_other').samples), sampleRate: 24000 }, TEXT_A, ref);
    assert.equal(same.name, 'speaker similarity');
    assert.ok(same.value > other.value + 0.3, `verifier: same ${same.value.toFixed(3)} vs other ${other.value.toFixed(3)}`);
    assert.equal(notices.length, 1, 'one resampling notice per rate');
    verify.dispose(); // the caller's model stays loaded
    assert.ok(model.speakerEmbedding(clip('slt', TEXT_A, 'after').samples).length === 128);
  });
});
