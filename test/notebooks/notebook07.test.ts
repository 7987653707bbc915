// Notebook 07 (inference-time scaling) through the real kernel, as `npm run workshop` runs
// it: 01-05 first make the work folder (dataset, codes, the model choice and 05's adapter),
// as test/notebooks/model_notebooks.test.ts does, then 07 on the notebooks' default model
// (tiny-random-csm) with TTSLAB_QUICK=1 budgets, offline with an empty Hugging Face cache
// (no Whisper large-v3-turbo, no WavLM: the searches use the shipped mini Whisper and mini
// speaker encoder, models/mini/); the sandbox is test/helpers/notebook_run.ts's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeWav } from '../../src/audio/wav';
import type { EvaluationReport } from '../../src/eval/report';
import { DATA_NOTEBOOKS, notebookSandbox, runWorkshop } from '../helpers/notebook_run';

// No TTSLAB_MODEL: the notebooks' default, tiny-random-csm.
const sandbox = notebookSandbox('nb07');

test('07 on the tiny random CSM: best-of-N and beam search with their compute, the six-system report as JSON + Markdown + WAVs', async () => {
  const notebooks = [...DATA_NOTEBOOKS, '04_tokenize', '05_train_lora', '07_inference_scaling'];
  const run = runWorkshop(sandbox, notebooks, 900_000);
  const text = run.text('07_inference_scaling');
  const html = run.html('07_inference_scaling');

  assert.match(text, /RANDOM weights: a pipeline check only/);
  assert.match(text, /ASR verifier: mini Whisper \(offline\); speaker verifier: mini speaker encoder \(offline\)/);
  // Best-of-2: two candidates, one chosen, its compute; beam search: its rounds.
  assert.match(html, /<caption>best-of-2: candidates \(score: weighted WER minus similarity, lower is better\)<\/caption>/);
  assert.match(html, /<caption>best-of-2: compute spent<\/caption>/);
  assert.match(html, /<caption>beam search B 2, K 5: rounds \(speaker similarity \(mini speaker encoder\) of each partial sequence; kept = the best B\)<\/caption>/);
  assert.match(html, /<caption>beam search B 2, K 5: final beams/);
  assert.ok((html.match(/<audio controls/g) ?? []).length >= 2, 'the chosen outputs can be heard');

  // The report: six systems, every held-out text through each, files next to the executed notebooks.
  const dir = join(run.dir, 'evaluation');
  const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as EvaluationReport;
  assert.deepEqual(report.systems.map((s) => s.id), ['base', 'base+search', 'finetuned', 'finetuned+search', 'finetuned+context', 'finetuned+context+search']);
  assert.ok(report.items >= 1 && report.items <= 2, `items ${report.items}`);
  assert.equal(report.rows.length, report.items * 6);
  assert.deepEqual(report.metrics, { wer: 'WER (mini Whisper)', similarity: 'speaker similarity (mini speaker encoder)' });
  assert.match(report.warning ?? '', /RANDOM weights/);
  for (const s of report.systems) {
    const searched = s.id.endsWith('+search');
    assert.equal(s.search, searched ? 'best-of-2' : 'plain sampling');
    assert.equal(s.outputs, report.items);
    assert.equal(s.compute.candidates, report.items * (searched ? 2 : 1));
    assert.equal(s.compute.verifierCalls.speaker, searched ? report.items * 2 : 0);
    assert.equal(s.compute.verifierCalls.asr, searched ? report.items * 2 : 0);
    assert.ok(s.wer !== undefined && s.wer >= 0, JSON.stringify(s));
    assert.ok(s.similarity !== undefined && s.durationRatio !== undefined && s.realTimeFactor! > 0, JSON.stringify(s));
  }
  for (const row of report.rows) {
    const wav = decodeWav(readFileSync(join(dir, row.wav!)), row.wav!);
    // The random model never ends a turn: MAX_FRAMES = 10 frames of 1920 samples at 24 kHz.
    assert.equal(wav.channels[0]!.length, 10 * 1920, row.wav);
  }
  assert.ok(existsSync(join(dir, 'report.md')));
  assert.match(readFileSync(join(dir, 'report.md'), 'utf8'), /\| fine-tuned \+ context \+ search \| best-of-2 \|/);
  assert.match(html, /<caption>Evaluation: \d held-out texts?, 6 systems<\/caption>/);
});
