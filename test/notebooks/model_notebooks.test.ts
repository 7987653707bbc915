// Notebooks 01-06 in order through the real kernel, as `npm run workshop` runs them, with
// the tiny random CSM (the default MODEL) and TTSLAB_QUICK=1 (short training, short
// generations), the work folder and run folders in a temporary directory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeWav } from '../../src/audio/wav';
import { readMetrics } from '../../src/train/metrics';
import { Checkpoint } from '../../src/weights/checkpoint';
import { isolatedJupyterEnv } from '../helpers/jupyter';

const root = resolve(__dirname, '..', '..');
let data = '';
let env: NodeJS.ProcessEnv = {};

before(() => {
  data = mkdtempSync(join(tmpdir(), 'ttslab-nbmodel-'));
  // Offline with an empty Hugging Face cache: nothing is downloaded, no verifier model is found.
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

test('01-06 on the tiny random CSM: tokenize, train until the loss falls, save a PEFT adapter, listening grid with WAVs + manifest', async () => {
  const notebooks = ['01_download', '02_transcribe_correct', '03_chunk_dataset', '04_tokenize', '05_train_lora', '06_listen_compare'];
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'workshop.mjs'), ...notebooks.map((n) => n.slice(0, 3))], { encoding: 'utf8', env, timeout: 900_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  for (const n of notebooks) assert.match(r.stdout, new RegExp(`${n}\\.ipynb\\s+ok`));
  const runs = readdirSync(join(data, 'runs')).sort();
  const run = join(data, 'runs', runs[runs.length - 1]!);
  const cells = (n: string) => (JSON.parse(readFileSync(join(run, `${n}.ipynb`), 'utf8')) as { cells: { source: string[] | string; outputs?: Output[] }[] }).cells;
  const outputs = (n: string) => cells(n).flatMap((c) => c.outputs ?? []);
  const text = (n: string) => outputs(n).map((o) => joined(o.text) + joined(o.data?.['text/plain'])).join('\n');
  const html = (n: string) => outputs(n).map((o) => joined(o.data?.['text/html'])).join('\n');

  // Every notebook that uses the random model says so.
  for (const n of ['04_tokenize', '05_train_lora', '06_listen_compare']) assert.match(text(n), /RANDOM weights: a pipeline check only/, n);

  // 04: the choice is saved, histograms are drawn, the clip is heard before and after the codec.
  const work = join(data, 'work');
  assert.equal(JSON.parse(readFileSync(join(work, 'model.json'), 'utf8')).model, 'tiny-random-csm');
  assert.match(html('04_tokenize'), /class="ttslab-plot"/);
  assert.match(text('04_tokenize'), /Codebook 0: \d+ of 67 codes used/, 'histograms span the whole codebook');
  assert.equal((html('04_tokenize').match(/<audio controls/g) ?? []).length, 2, 'original + decoded');

  // 05: the loss fell (metrics.jsonl), the adapter is PEFT's, the live plot shows every step.
  const adapters = join(work, 'adapters', 'tiny-random-csm');
  const metrics = await readMetrics(join(adapters, 'metrics.jsonl'));
  assert.equal(metrics.length, 8);
  assert.ok(metrics[metrics.length - 1]!.loss < metrics[0]!.loss - 0.3, `loss ${metrics[0]!.loss} -> ${metrics[metrics.length - 1]!.loss}`);
  assert.ok(metrics.some((m) => m.eval_loss !== undefined), 'eval loss logged');
  const cfg = JSON.parse(readFileSync(join(adapters, 'adapter', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(cfg.peft_type, 'LORA');
  assert.equal(cfg.r, 32);
  assert.equal(cfg.lora_alpha, 16);
  assert.equal(cfg.use_rslora, true);
  const keys = (await Checkpoint.open(join(adapters, 'adapter', 'adapter_model.safetensors'))).keys();
  assert.ok(keys.includes('base_model.model.backbone_model.layers.1.mlp.gate_proj.lora_B.weight'), keys.slice(0, 3).join());
  assert.ok(keys.includes('base_model.model.depth_decoder.model.layers.0.self_attn.v_proj.lora_A.weight'));
  assert.equal(keys.length, 2 * 7 * 4, 'A and B of 7 projections in 2 backbone + 2 depth-decoder layers');
  // nbclient applies update_display_data in place, so the train cell holds ONE plot output,
  // whose final figure must hold all 8 steps (the plot was updated while training ran).
  const trainCell = cells('05_train_lora').find((c) => joined(c.source).includes('await trainTts('))!;
  const plots = (trainCell.outputs ?? []).map((o) => joined(o.data?.['text/html'])).filter((h) => h.includes('class="ttslab-plot"'));
  assert.equal(plots.length, 1, 'one plot output, updated in place');
  const lossTrace = /"name":"loss","x":\[([^\]]*)\]/.exec(plots[0]!);
  assert.ok(lossTrace, 'the plot has a loss trace');
  assert.equal(lossTrace[1], '1,2,3,4,5,6,7,8');
  assert.match(plots[0]!, /"name":"eval loss","x":\[4,8\]/);
  assert.match(text('05_train_lora'), /loss [\d.]+ at step 1 -> [\d.]+ at step 8: it fell/);
  assert.match(html('05_train_lora'), /<caption>Memory<\/caption>/);

  // 06: manifest lists the grid's 3 prompts x (reference + 4 systems), and every WAV decodes.
  const manifestPath = join(run, 'listening', 'manifest.json');
  assert.ok(existsSync(manifestPath), `${manifestPath} missing`);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { entries: { prompt: number; system: string; path: string; sampleRate: number; durationSeconds: number }[] };
  assert.equal(manifest.entries.length, 15);
  const systems = ['reference', 'base', 'base+context', 'finetuned', 'finetuned+context'];
  for (let p = 0; p < 3; p++) assert.deepEqual(manifest.entries.filter((e) => e.prompt === p).map((e) => e.system), systems);
  for (const e of manifest.entries) {
    const wav = decodeWav(readFileSync(join(run, 'listening', e.path)), e.path);
    assert.equal(wav.sampleRate, e.sampleRate);
    assert.ok(Math.abs(wav.channels[0]!.length / wav.sampleRate - e.durationSeconds) < 1e-6, e.path);
    // Generated clips: 20 frames (TTSLAB_QUICK) of 1920 samples at 24 kHz at most.
    if (e.system !== 'reference') assert.ok(e.durationSeconds > 0 && e.durationSeconds <= 1.6 + 1e-9, `${e.path}: ${e.durationSeconds} s`);
  }
  assert.match(text('06_listen_compare'), /No verifier checkpoint in the Hugging Face cache/);
  const grid = html('06_listen_compare');
  for (const s of systems) assert.ok(grid.includes(`data-system="${s}"`), `grid column ${s}`);
  assert.match(grid, /class="ttslab-spectrogram"/);
});
