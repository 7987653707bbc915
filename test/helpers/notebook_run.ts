// What the notebook tests that run the workshop's notebooks in order (01-06, 01-05 + 07) share:
// a temporary work folder with its own Jupyter environment and the ttslab kernel registered in
// it, `scripts/workshop.mjs` run over a list of notebooks, the executed copies' outputs, and the
// checks every model family's 04/05/06 must pass. What a family does differently (codec
// figures, adapter keys, clip lengths) stays in its own test file.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeWav, type AudioData } from '../../src/audio/wav';
import { readMetrics, type StepMetrics } from '../../src/train/metrics';
import { Checkpoint } from '../../src/weights/checkpoint';
import { isolatedJupyterEnv } from './jupyter';

export const ROOT = resolve(__dirname, '..', '..');

/** 01-03: the sample talk downloaded, corrected and chunked into the dataset 04 tokenizes. */
export const DATA_NOTEBOOKS = ['01_download', '02_transcribe_correct', '03_chunk_dataset'] as const;
/** 01-06: dataset, tokenize, train, listen, as `npm run workshop` runs them for a model family. */
export const MODEL_NOTEBOOKS = [...DATA_NOTEBOOKS, '04_tokenize', '05_train_lora', '06_listen_compare'] as const;

/** One output of an executed cell, as nbformat writes it (multi-line strings as arrays or one string). */
export interface NotebookOutput { output_type: string; text?: string[] | string; data?: Record<string, string[] | string> }
export interface NotebookCell { source: string[] | string; outputs?: NotebookOutput[] }

export const joined = (v: string | string[] | undefined): string => (Array.isArray(v) ? v.join('') : (v ?? ''));

export interface NotebookSandbox {
  /** The temporary folder (valid once `before` has run). */
  readonly dir: string;
  /** TTSLAB_WORKDIR: dataset, codes, model.json, adapters. */
  readonly work: string;
  /** The environment every child runs in. */
  readonly env: NodeJS.ProcessEnv;
}

/**
 * Registers `before`/`after` hooks that make a temporary folder `ttslab-<prefix>-XXXXXX`, an
 * isolated Jupyter environment in it with the ttslab kernel registered, the run and work
 * folders under it, TTSLAB_QUICK=1 (short training, short generations), offline with an empty
 * Hugging Face cache (nothing is downloaded, no verifier model is found), and remove it all
 * afterwards. `model` sets TTSLAB_MODEL (the variable 04 reads); without it TTSLAB_MODEL is
 * removed, so the notebooks take their default (tiny-random-csm).
 */
export function notebookSandbox(prefix: string, model?: string): NotebookSandbox {
  if (!/^[a-z0-9]+$/.test(prefix)) throw new Error(`notebookSandbox: prefix ${JSON.stringify(prefix)} must be lower-case letters and digits`);
  let dir = '';
  let env: NodeJS.ProcessEnv = {};
  before(() => {
    dir = mkdtempSync(join(tmpdir(), `ttslab-${prefix}-`));
    env = isolatedJupyterEnv(dir, {
      TTSLAB_RUNS_DIR: join(dir, 'runs'), TTSLAB_WORKDIR: join(dir, 'work'), TTSLAB_QUICK: '1',
      HF_HUB_OFFLINE: '1', HF_HUB_CACHE: join(dir, 'hf-cache'),
    });
    if (model === undefined) delete env.TTSLAB_MODEL;
    else env.TTSLAB_MODEL = model;
    const r = spawnSync(process.execPath, [join(ROOT, 'kernel-setup', 'kernel.mjs')], { encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const ready = (what: string) => {
    if (!dir) throw new Error(`notebookSandbox(${prefix}): ${what} read before the before() hook ran`);
    return dir;
  };
  return {
    get dir() { return ready('dir'); },
    get work() { return join(ready('work'), 'work'); },
    get env() { ready('env'); return env; },
  };
}

/** The executed copies of one workshop run (runs/<timestamp>/), read by notebook name (no .ipynb). */
export interface NotebookRun {
  /** The run folder: the executed notebooks and what they wrote (listening/, evaluation/). */
  readonly dir: string;
  cells(notebook: string): NotebookCell[];
  outputs(notebook: string): NotebookOutput[];
  /** Stream text and text/plain of every output, one output a line. */
  text(notebook: string): string;
  /** text/html of every output, one output a line. */
  html(notebook: string): string;
}

/**
 * Runs `scripts/workshop.mjs` over `notebooks` (filtered by their 3-character number prefix)
 * in the sandbox, asserts it exits 0 and reports every notebook ok, and returns the newest
 * run folder's executed notebooks. `timeoutMs` bounds the whole run.
 */
export function runWorkshop(sandbox: NotebookSandbox, notebooks: readonly string[], timeoutMs: number): NotebookRun {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'workshop.mjs'), ...notebooks.map((n) => n.slice(0, 3))], { encoding: 'utf8', env: sandbox.env, timeout: timeoutMs });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  for (const n of notebooks) assert.match(r.stdout, new RegExp(`${n}\\.ipynb\\s+ok`));
  const runsDir = join(sandbox.dir, 'runs');
  const runs = readdirSync(runsDir).sort();
  const dir = join(runsDir, runs[runs.length - 1]!);
  const cells = (n: string) => {
    const path = join(dir, `${n}.ipynb`);
    if (!existsSync(path)) throw new Error(`runWorkshop: no executed notebook ${path} (ran ${notebooks.join(', ')})`);
    return (JSON.parse(readFileSync(path, 'utf8')) as { cells: NotebookCell[] }).cells;
  };
  const outputs = (n: string) => cells(n).flatMap((c) => c.outputs ?? []);
  return {
    dir,
    cells,
    outputs,
    text: (n) => outputs(n).map((o) => joined(o.text) + joined(o.data?.['text/plain'])).join('\n'),
    html: (n) => outputs(n).map((o) => joined(o.data?.['text/html'])).join('\n'),
  };
}

/** 04, 05 and 06 each say that the model has random weights, in text matching `notice`. */
export function assertRandomWeightsNotice(run: NotebookRun, notice: RegExp): void {
  for (const n of ['04_tokenize', '05_train_lora', '06_listen_compare']) assert.match(run.text(n), notice, n);
}

/** 04: the model choice is saved in the work folder's model.json, and the clip is heard before and after the codec. */
export function assertTokenizeChoice(run: NotebookRun, work: string, model: string): void {
  assert.equal(JSON.parse(readFileSync(join(work, 'model.json'), 'utf8')).model, model);
  assert.equal((run.html('04_tokenize').match(/<audio controls/g) ?? []).length, 2, 'original + decoded');
}

/**
 * 05 under TTSLAB_QUICK: 8 steps in `<adapters>/metrics.jsonl` whose loss fell by more than
 * `minDrop` (nats) from the first to the last step, an eval loss logged, a PEFT LoRA adapter in
 * `<adapters>/adapter/`, and the notebook saying the loss fell. Returns the adapter's config
 * and tensor names for the family's own checks.
 */
export async function assertAdapterTrained(run: NotebookRun, adapters: string, minDrop: number): Promise<{ metrics: StepMetrics[]; cfg: Record<string, unknown>; keys: string[] }> {
  const metrics = await readMetrics(join(adapters, 'metrics.jsonl'));
  assert.equal(metrics.length, 8);
  assert.ok(metrics[metrics.length - 1]!.loss < metrics[0]!.loss - minDrop, `loss ${metrics[0]!.loss} -> ${metrics[metrics.length - 1]!.loss}`);
  assert.ok(metrics.some((m) => m.eval_loss !== undefined), 'eval loss logged');
  const cfg = JSON.parse(readFileSync(join(adapters, 'adapter', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(cfg.peft_type, 'LORA');
  const keys = (await Checkpoint.open(join(adapters, 'adapter', 'adapter_model.safetensors'))).keys();
  assert.match(run.text('05_train_lora'), /loss [\d.]+ at step 1 -> [\d.]+ at step 8: it fell/);
  return { metrics, cfg, keys };
}

export interface ListeningEntry { prompt: number; system: string; path: string; sampleRate: number; durationSeconds: number }
/** The listening grid's columns, in the order 06 writes them for every prompt. */
export const LISTENING_SYSTEMS = ['reference', 'base', 'base+context', 'finetuned', 'finetuned+context'] as const;

/**
 * 06: `listening/manifest.json` lists the grid's 3 prompts x (reference + 4 systems) in order,
 * every WAV decodes at the sample rate the manifest gives, `eachClip` checks each one (the
 * family's frame sizes), and the grid in 06's HTML has a column for every system. Returns 06's HTML.
 */
export function assertListeningGrid(run: NotebookRun, eachClip: (entry: ListeningEntry, wav: AudioData) => void): string {
  const manifestPath = join(run.dir, 'listening', 'manifest.json');
  assert.ok(existsSync(manifestPath), `${manifestPath} missing`);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { entries: ListeningEntry[] };
  assert.equal(manifest.entries.length, 15);
  for (let p = 0; p < 3; p++) assert.deepEqual(manifest.entries.filter((e) => e.prompt === p).map((e) => e.system), LISTENING_SYSTEMS);
  for (const e of manifest.entries) {
    const wav = decodeWav(readFileSync(join(run.dir, 'listening', e.path)), e.path);
    assert.equal(wav.sampleRate, e.sampleRate);
    eachClip(e, wav);
  }
  const grid = run.html('06_listen_compare');
  for (const s of LISTENING_SYSTEMS) assert.ok(grid.includes(`data-system="${s}"`), `grid column ${s}`);
  return grid;
}
