// Notebook 07 (inference-time scaling) through the real kernel, as `npm run workshop` runs
// it: 01-05 first make the work folder (dataset, codes, the model choice and 05's adapter),
// as test/notebooks/model_notebooks.test.ts does, then 07 on the notebooks' default model
// (tiny-random-csm) with TTSLAB_QUICK=1 budgets, offline with an empty Hugging Face cache
// (no Whisper, no WavLM: the searches use the model-free spectral similarity).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeWav } from '../../src/audio/wav';
import type { EvaluationReport } from '../../src/eval/report';
import { isolatedJupyterEnv } from '../helpers/jupyter';

const root = resolve(__dirname, '..', '..');
let data = '';
let env: NodeJS.ProcessEnv = {};

before(() => {
  data = mkdtempSync(join(tmpdir(), 'ttslab-nb07-'));
  env = isolatedJupyterEnv(data, {
    TTSLAB_RUNS_DIR: join(data, 'runs'), TTSLAB_WORKDIR: join(data, 'work'), TTSLAB_QUICK: '1',
    HF_HUB_OFFLINE: '1', HF_HUB_CACHE: join(data, 'hf-cache'),
  });
  delete env.TTSLAB_MODEL; // the notebooks' default: tiny-random-csm
  const r = spawnSync(process.execPath, [join(root, 'kernel-setup', 'kernel.mjs')], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
});
after(() => rmSync(data, { recursive: true, force: true }));

interface Output { output_type: string; text?: string[] | string; data?: Record<string, string[] | string> }
const joined = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join('') : (v ?? ''));

test('07 on the tiny random CSM: best-of-N and beam search with their compute, the six-system report as JSON + Markdown + WAVs', async () => {
  const notebooks = ['01_download', '02_transcribe_correct', '03_chunk_dataset', '04_tokenize', '05_train_lora', '07_inference_scaling'];
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'workshop.mjs'), ...notebooks.map((n) => n.slice(0, 3))], { encoding: 'utf8', env, timeout: 900_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  for (const n of notebooks) assert.match(r.stdout, new RegExp(`${n}\\.ipynb\\s+ok`));
  const runs = readdirSync(join(data, 'runs')).sort();
  const run = join(data, 'runs', runs[runs.length - 1]!);
  const nb = JSON.parse(readFileSync(join(run, '07_inference_scaling.ipynb'), 'utf8')) as { cells: { source: string[] | string; outputs?: Output[] }[] };
  const outputs = nb.cells.flatMap((c) => c.outputs ?? []);
  const text = outputs.map((o) => joined(o.text) + joined(o.data?.['text/plain'])).join('\n');
  const html = outputs.map((o) => joined(o.data?.['text/html'])).join('\n');

  assert.match(text, /RANDOM weights: a pipeline check only/);
  assert.match(text, /speaker verifier: spectral similarity \(no WavLM in the cache\)/);
  // Best-of-2: two candidates, one chosen, its compute; beam search: its rounds.
  assert.match(html, /<caption>best-of-2: candidates \(score: weighted WER minus similarity, lower is better\)<\/caption>/);
  assert.match(html, /<caption>best-of-2: compute spent<\/caption>/);
  assert.match(html, /<caption>beam search B 2, K 5: rounds \(spectral similarity of each partial sequence; kept = the best B\)<\/caption>/);
  assert.match(html, /<caption>beam search B 2, K 5: final beams/);
  assert.ok((html.match(/<audio controls/g) ?? []).length >= 2, 'the chosen outputs can be heard');

  // The report: six systems, every held-out text through each, files next to the executed notebooks.
  const dir = join(run, 'evaluation');
  const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as EvaluationReport;
  assert.deepEqual(report.systems.map((s) => s.id), ['base', 'base+search', 'finetuned', 'finetuned+search', 'finetuned+context', 'finetuned+context+search']);
  assert.ok(report.items >= 1 && report.items <= 2, `items ${report.items}`);
  assert.equal(report.rows.length, report.items * 6);
  assert.deepEqual(report.metrics, { wer: null, similarity: 'spectral similarity' });
  assert.match(report.warning ?? '', /RANDOM weights/);
  for (const s of report.systems) {
    const searched = s.id.endsWith('+search');
    assert.equal(s.search, searched ? 'best-of-2' : 'plain sampling');
    assert.equal(s.outputs, report.items);
    assert.equal(s.compute.candidates, report.items * (searched ? 2 : 1));
    assert.equal(s.compute.verifierCalls.speaker, searched ? report.items * 2 : 0);
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
