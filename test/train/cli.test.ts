/**
 * `ttslab train --model tiny-random-csm --data <work folder>`: the CLI spawned as a user
 * runs it, on a work folder laid out as notebooks 01-03 leave it (dataset/data/*.parquet).
 * Checks the adapter (PEFT files with the flags' rank), the JSONL metrics, the per-step
 * lines, checkpoints, the codes cache in the work folder, the merged checkpoint, `--resume`
 * continuing the same run, and bad flags rejected naming the flag and the value.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeWav, encodeWav } from '../../src/audio';
import { writeParquet, type DatasetRow } from '../../src/data/dataset';
import { flagName, parseArgs, UsageError } from '../../src/train/cli';
import { DEFAULT_TRAIN_CONFIG, TRAIN_CONFIG_FIELDS } from '../../src/train/config';
import { ttsTrainConfig } from '../../src/train/tts';

const root = resolve(__dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'ttslab-cli-'));
const work = join(tmp, 'work');
const out = join(tmp, 'run');

before(async () => {
  const a = decodeWav(readFileSync(join(root, 'test', 'fixtures', 'mimi', 'speech_slt_24k.wav')));
  const speech = a.channels[0]!;
  const row = (from: number, seconds: number, text: string): DatasetRow => {
    const samples = speech.slice(from, from + Math.round(seconds * a.sampleRate));
    return { audio: { bytes: encodeWav({ sampleRate: a.sampleRate, channels: [samples] }).bytes, path: `${from}.wav` }, text, source: 0, duration: samples.length / a.sampleRate };
  };
  const data = join(work, 'dataset', 'data');
  mkdirSync(data, { recursive: true });
  await writeParquet(join(data, 'train-00000-of-00001.parquet'), [
    row(0, 0.8, 'The first clip.'), row(19_200, 0.6, 'A second one.'), row(38_400, 1.0, 'The third, longest clip.'), row(62_400, 0.5, 'Four.'),
  ]);
  await writeParquet(join(data, 'validation-00000-of-00001.parquet'), [row(9_600, 0.7, 'Held out.')]);
});
after(() => rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'train', 'cli.ts'), 'train', ...args], {
      cwd: root, env: { ...process.env, TTSLAB_WORKDIR: work, HF_HUB_OFFLINE: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('exit', (code) => res({ code, stdout, stderr }));
  });
}

const readMetrics = () => readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss: number; eval_loss?: number });

const FLAGS = ['--model', 'tiny-random-csm', '--data', work, '--backend', 'cpu', '--progress', 'lines', '--lora-r', '4', '--lora-alpha', '8',
  '--no-use-rslora', '--target-modules', 'q_proj,v_proj', '--learning-rate', '2e-3', '--warmup-steps', '0', '--batch-size', '2',
  '--gradient-accumulation-steps=1', '--eval-steps', '2', '--save-steps', '1', '--save-total-limit', '2', '--optimizer', 'adamw', '--output-dir', out];

test('ttslab train --model tiny-random-csm --data <work>: adapter, metrics, checkpoints, merged checkpoint; --resume continues', async () => {
  const r = await cli([...FLAGS, '--max-steps', '3', '--merged', join(tmp, 'merged'), '--merged-dtype', 'f16']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /4 training and 1 validation examples/);
  assert.match(r.stdout, /^step 1 {2}loss \d+\.\d{4} {2}lr 2\.00e-3 {2}grad_norm/m);
  assert.match(r.stdout, /^step 2 {2}loss \S+ {2}eval_loss \d/m);
  assert.match(r.stdout, /done: 3 steps, adapter in/);
  assert.match(r.stdout, /merged F16 checkpoint: .*built in code/);
  assert.match(r.stdout, /WARNING: tiny-random-csm has RANDOM weights/);

  const cfg = JSON.parse(readFileSync(join(out, 'adapter', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(cfg.r, 4);
  assert.equal(cfg.lora_alpha, 8);
  assert.equal(cfg.use_rslora, false);
  assert.deepEqual([...(cfg.target_modules as string[])].sort(), ['q_proj', 'v_proj']);
  assert.ok(existsSync(join(out, 'adapter', 'adapter_model.safetensors')));
  const m = readMetrics();
  assert.deepEqual(m.map((x) => x.step), [1, 2, 3]);
  assert.ok(m.every((x) => Number.isFinite(x.loss)));
  assert.ok(m[1]!.eval_loss !== undefined && m[2]!.eval_loss !== undefined && m[0]!.eval_loss === undefined, 'eval every 2 steps and at the end');
  assert.deepEqual(readdirSync(out).filter((f) => f.startsWith('checkpoint-')).sort(), ['checkpoint-2', 'checkpoint-3'], 'saveTotalLimit 2');
  assert.ok(existsSync(join(work, 'codes')), 'codes cached in the work folder');
  assert.ok(existsSync(join(tmp, 'merged', 'model.safetensors')) && existsSync(join(tmp, 'merged', 'config.json')));

  // Resume: 2 more steps from checkpoint-3; the log reads as one run.
  const r2 = await cli([...FLAGS, '--max-steps', '5', '--resume']);
  assert.equal(r2.code, 0, r2.stdout + r2.stderr);
  assert.match(r2.stdout, /resumed from .*checkpoint-3 at step 3/);
  assert.doesNotMatch(r2.stdout, /^step [123] /m);
  assert.deepEqual(readMetrics().map((x) => x.step), [1, 2, 3, 4, 5]);
  assert.deepEqual(readMetrics().slice(0, 3), m, 'the first three steps are kept as they were');
});

test('bad flags: exit code 2 and a message naming the flag and the value', async () => {
  const r = await cli(['--model', 'tiny-random-csm', '--data', work, '--lora-r', '0']);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /ttslab train: --lora-r must be an integer >= 1, got 0/);
  assert.match(r.stderr, /usage:/);
  const bad = (args: string[]) => {
    try {
      parseArgs(args);
    } catch (e) {
      assert.ok(e instanceof UsageError, String(e));
      return e.message;
    }
    return assert.fail(`${args.join(' ')} was accepted`);
  };
  const base = ['--model', 'csm', '--data', 'work'];
  assert.equal(bad([...base, '--learning-rate', 'fast']), '--learning-rate must be a number, got "fast"');
  assert.equal(bad([...base, '--learning-rate', '-1']), '--learning-rate must be a number > 0, got -1');
  assert.equal(bad([...base, '--schedule', 'cosin']), '--schedule must be one of "constant", "constant_with_warmup", "linear", "cosine", got "cosin"');
  assert.match(bad([...base, '--learning_rate', '1e-4']), /^unknown flag --learning_rate \(did you mean --learning-rate\?\)/);
  assert.equal(bad([...base, '--use-rslora', 'maybe']), 'unexpected argument "maybe" (flags start with --)');
  assert.equal(bad([...base, '--use-rslora=maybe']), '--use-rslora must be true or false, got "maybe"');
  assert.equal(bad([...base, '--backend', 'tpu']), '--backend must be one of cpu, wasm, webgpu, tensorflow, auto, got "tpu"');
  assert.equal(bad([...base, '--max-steps']), '--max-steps needs a value');
  assert.equal(bad([...base, '--lora-r', '8', '--lora-r', '16']), '--lora-r given twice');
  assert.match(bad(['--model', 'csm']), /--data is missing/);
  assert.match(bad(['--config', 'run.json', '--model', 'csm']), /either --config run.json or --model and --data/);

  // Every TrainConfig field has a flag; values reach the config typed.
  const a = parseArgs([...base, '--lora-r', '16', '--use-rslora', 'false', '--target-modules', 'q_proj, k_proj', '--resume', 'runs/x/checkpoint-4', '--group-by-length']);
  assert.deepEqual(a.train, { loraR: 16, useRslora: false, targetModules: ['q_proj', 'k_proj'], resume: 'runs/x/checkpoint-4', groupByLength: true });
  assert.equal(parseArgs([...base, '--resume']).train.resume, true);
  // Every TrainConfig field has a flag: all of them at their defaults give the defaults back.
  const all = TRAIN_CONFIG_FIELDS.flatMap((f) => {
    const v = DEFAULT_TRAIN_CONFIG[f];
    return [`--${flagName(f)}`, Array.isArray(v) ? v.join(',') : String(v)];
  });
  assert.deepEqual(parseArgs([...base, ...all]).train, { ...DEFAULT_TRAIN_CONFIG });
});

test('ttsTrainConfig: the family preset applies under the fields the config or the flags set', () => {
  const preset = { trainDefaults: { loraR: 64, loraAlpha: 64, useRslora: false } };
  const c = ttsTrainConfig(preset, { loraAlpha: 8, maxSteps: 5 });
  assert.deepEqual([c.loraR, c.loraAlpha, c.useRslora, c.maxSteps, c.learningRate], [64, 8, false, 5, DEFAULT_TRAIN_CONFIG.learningRate]);
  assert.equal(ttsTrainConfig({}, {}).loraR, DEFAULT_TRAIN_CONFIG.loraR);
  assert.throws(() => ttsTrainConfig(preset, { loraR: 0 }, 'flags'), /flags: loraR must be an integer >= 1, got 0/);
});
