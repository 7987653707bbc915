// Notebooks 01-03 run offline on the sample talk through the real kernel, as
// `npm run workshop -- 01 02 03` does, with the work folder in a temporary directory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readParquet } from '../../src/data';
import { readTranscript } from '../../src/transcript';
import { isolatedJupyterEnv } from '../helpers/jupyter';

const root = resolve(__dirname, '..', '..');
let data = '';
let env: NodeJS.ProcessEnv = {};

before(() => {
  data = mkdtempSync(join(tmpdir(), 'ttslab-nbdata-'));
  env = isolatedJupyterEnv(data, { TTSLAB_RUNS_DIR: join(data, 'runs'), TTSLAB_WORKDIR: join(data, 'work') });
  const r = spawnSync(process.execPath, [join(root, 'kernel-setup', 'kernel.mjs')], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
});
after(() => rmSync(data, { recursive: true, force: true }));

const joined = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join('') : (v ?? ''));

test('01-03 download, correct and chunk the sample talk into a dataset of clips <= 30 s', async () => {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'workshop.mjs'), '01_', '02_', '03_'], { encoding: 'utf8', env, timeout: 600_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  for (const n of ['01_download', '02_transcribe_correct', '03_chunk_dataset']) assert.match(r.stdout, new RegExp(`${n}\\.ipynb\\s+ok`));
  const runs = readdirSync(join(data, 'runs')).sort();
  const run = join(data, 'runs', runs[runs.length - 1]!);
  const outputs = (n: string) => (JSON.parse(readFileSync(join(run, `${n}.ipynb`), 'utf8')) as { cells: { outputs?: { output_type: string; text?: string[]; data?: Record<string, string[]> }[] }[] }).cells.flatMap((c) => c.outputs ?? []);
  const html = (n: string) => outputs(n).map((o) => joined(o.data?.['text/html'])).join('\n');
  assert.match(html('02_transcribe_correct'), /<caption>Corrections by rule: 6 segments changed<\/caption>/);
  assert.match(html('02_transcribe_correct'), /<caption>Glossary proposals<\/caption>/);
  assert.match(html('03_chunk_dataset'), /<caption>\d+ clips<\/caption>/);
  assert.match(html('03_chunk_dataset'), /class="ttslab-plot"/, 'the duration histogram');
  assert.match(html('03_chunk_dataset'), /<audio controls/);

  // The corrected transcript says what talk.txt says (the misspellings are all fixed);
  // the original copy is untouched.
  const work = join(data, 'work');
  const truth = readFileSync(join(root, 'datasets', 'sample-talk', 'talk.txt'), 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  const corrected = await readTranscript(join(work, 'transcripts', 'transcript.corrected.json'));
  assert.deepEqual(corrected.segments.map((s) => s.text.trim()), truth);
  assert.equal(readFileSync(join(work, 'transcripts', 'transcript.json'), 'utf8'), readFileSync(join(root, 'datasets', 'sample-talk', 'transcript.json'), 'utf8'));

  const rows = [...(await readParquet(join(work, 'dataset', 'data', 'train-00000-of-00001.parquet'))), ...(await readParquet(join(work, 'dataset', 'data', 'validation-00000-of-00001.parquet')))];
  assert.ok(rows.length >= 7, `${rows.length} clips`);
  for (const row of rows) assert.ok(row.duration <= 30 && row.duration >= 1, `${row.audio.path}: ${row.duration} s`);
  // Every sentence of the talk is in exactly one clip.
  assert.deepEqual(rows.flatMap((x) => x.text.split(/(?<=[.!?])\s+(?=[A-Z])/)).sort(), [...truth].sort());
});
