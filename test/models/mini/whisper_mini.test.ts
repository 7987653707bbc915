/**
 * The mini Whisper (models/mini/whisper, trained by scripts/mini/train_whisper.py) through
 * ttslab's own loaders (WhisperForConditionalGeneration.fromPretrained, TextTokenizer) and
 * `transcribe`, on CPU (wasm), with quality bounds measured on it.
 *
 * The clips are made here by flite's `slt` voice, which the model never heard in training
 * (the sample talk's voice), speaking held-out sentences of the corpus (corpus_text.py's
 * first handwritten lines, never in training). The model must hear the audio: its
 * transcripts are much closer to their own sentences than to the other sentences, and the
 * pooled word error rate stays under a bound. The bounds are loose around what this
 * checkpoint measured (see the constants): the mini Whisper is far from acceptance 4 of
 * issue 9 (WER < 15%; models/mini/whisper/README.md has the figures).
 *
 * Skipped with the reason when the weights (models/mini/whisper/model.safetensors, untracked
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
import { WhisperForConditionalGeneration, transcribe } from '../../../src/models/whisper';
import { TextTokenizer } from '../../../src/tokenizer/tokenizer';
import { corpusCharErrorRate, corpusWordErrorRate } from '../../../src/eval/wer';

const MINI_WHISPER = join(__dirname, '..', '..', '..', 'models', 'mini', 'whisper');
const FLITE = '/usr/bin/flite';
const SKIP: string | false = !existsSync(join(MINI_WHISPER, 'model.safetensors'))
  ? `${join('models', 'mini', 'whisper', 'model.safetensors')} is absent (issue 9: rebuild with scripts/mini/gpu_train_asr_spk.sh)`
  : !existsSync(FLITE) ? `${FLITE} is absent (apt-get install flite): the test clips are synthesised with it` : false;

/** Held-out sentences (scripts/mini/corpus_text.py HANDWRITTEN[:50]: never spoken in training). */
const SENTENCES = [
  'The kettle whistled while we waited for the rain to stop.',
  'Please close the window before the cold air gets in.',
  'Turn left at the bakery, then follow the river for a mile.',
];
/**
 * Pooled WER bound. Measured with this checkpoint on these three slt clips: 0.758 (25 of 33
 * words; the first of its three training runs: 0.667); on the corpus's 50 held-out slt clips
 * eval_whisper.py measured 0.882 (models/mini/whisper/README.md).
 */
const MAX_WER = 0.8;
/**
 * Pooled character error rate against each clip's own sentence (measured 0.497) must be this
 * much below that against the next clip's sentence (measured 0.755): the model hears the audio.
 * (WER separates less, since short words like "the" match anywhere.)
 */
const MIN_CER_MARGIN = 0.15;

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

describe('mini Whisper (models/mini/whisper)', { skip: SKIP }, () => {
  let model: WhisperForConditionalGeneration;
  let tokenizer: TextTokenizer;
  let tmp: string;
  before(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    model = await WhisperForConditionalGeneration.fromPretrained(MINI_WHISPER);
    tokenizer = await TextTokenizer.fromPretrained(MINI_WHISPER);
    tmp = mkdtempSync(join(tmpdir(), 'ttslab-mini-whisper-'));
  });
  after(() => {
    model?.dispose();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('loads with the mini layout: byte-level vocabulary, English only, timestamps, alignment heads', () => {
    assert.equal(model.config.vocabSize, 1766);
    assert.equal(tokenizer.vocabSize, 1766);
    const g = model.generationConfig!;
    assert.deepEqual(g.langToId, { '<|en|>': 258 });
    assert.equal(tokenizer.idToToken(g.noTimestampsTokenId), '<|notimestamps|>');
    assert.equal(tokenizer.idToToken(g.noTimestampsTokenId + 1), '<|0.00|>');
    assert.ok(g.alignmentHeads.length > 0, 'word timestamps need alignment heads');
    assert.equal(tokenizer.decode([...Buffer.from(' Hello, world.')]), ' Hello, world.');
  });

  test('transcribes held-out sentences in an unseen voice (flite slt): hears the audio, WER under the bound', async (t) => {
    const hyps: string[] = [];
    for (const [i, text] of SENTENCES.entries()) {
      const wav = join(tmp, `${i}.wav`);
      execFileSync(FLITE, ['-voice', 'slt', '-t', text, '-o', wav]);
      const { samples, sampleRate } = readPcm16(wav);
      assert.equal(sampleRate, 16000, 'flite slt speaks at 16 kHz');
      const result = await transcribe(samples, { model, tokenizer, language: 'en', progress: 'none' });
      assert.ok(result.segments.length >= 1, `no segment for ${JSON.stringify(text)}`);
      const duration = samples.length / sampleRate;
      for (const s of result.segments) assert.ok(s.start >= 0 && s.start < s.end && s.end <= duration + 1e-6, `segment ${s.start}-${s.end} outside 0-${duration}`);
      hyps.push(result.text);
    }
    const pairs = (refs: string[]) => hyps.map((h, i) => ({ reference: refs[i]!, hypothesis: h }));
    const shiftedRefs = SENTENCES.map((_, i) => SENTENCES[(i + 1) % SENTENCES.length]!);
    const wer = corpusWordErrorRate(pairs(SENTENCES)).wer;
    const cer = corpusCharErrorRate(pairs(SENTENCES)).wer;
    const cerShifted = corpusCharErrorRate(pairs(shiftedRefs)).wer;
    const detail = `WER ${wer.toFixed(3)}, CER ${cer.toFixed(3)} (against the wrong sentences ${cerShifted.toFixed(3)}):\n` +
      hyps.map((h, i) => `  ${SENTENCES[i]} -> ${h.trim()}`).join('\n');
    t.diagnostic(detail);
    assert.ok(wer <= MAX_WER, `pooled WER above ${MAX_WER}: ${detail}`);
    assert.ok(cerShifted - cer >= MIN_CER_MARGIN, `CER against the right sentences is not ${MIN_CER_MARGIN} below the wrong ones': ${detail}`);
  });
});
