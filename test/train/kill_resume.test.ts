/**
 * Acceptance 2: a run SIGKILLed at several points (mid-step, mid-checkpoint) and resumed
 * gives the loss curve of an uninterrupted run (within 1e-6 on CPU), and every checkpoint
 * folder that exists after a kill is complete and loads. Children run the real CLI
 * (src/train/cli.ts) and a copy of its run that kills itself inside a checkpoint write.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile, access } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Checkpoint } from '../../src/weights/checkpoint';
import { listCheckpoints, readTrainerState } from '../../src/train/checkpoint';
import { readMetrics } from '../../src/train/metrics';
import type { StepMetrics } from '../../src/train/metrics';
import { countingExamples } from './helpers';

const MAX_STEPS = 10;
let tmp: string;
let reference: StepMetrics[];

const modelSpec = {
  random: {
    model_type: 'llama', vocab_size: 24, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4,
    num_key_value_heads: 2, head_dim: 8, max_position_embeddings: 256, rms_norm_eps: 1e-5, rope_theta: 10000,
    tie_word_embeddings: false, eos_token_id: 1, pad_token_id: 0,
  },
  seed: 7,
  std: 0.1,
};

async function writeRun(name: string): Promise<string> {
  const dir = join(tmp, name);
  const file = join(tmp, `${name}.json`);
  await writeFile(file, JSON.stringify({
    model: modelSpec,
    data: join(tmp, 'data.jsonl'),
    train: {
      loraR: 4, loraAlpha: 8, useRslora: true, learningRate: 1e-2, warmupSteps: 2, schedule: 'linear', batchSize: 2,
      gradientAccumulationSteps: 2, maxSteps: MAX_STEPS, optimizer: 'adamw_8bit', saveSteps: 1, saveTotalLimit: 2,
      seed: 5, outputDir: dir, resume: true, livePlot: false,
    },
  }));
  return file;
}

interface Child {
  done: Promise<{ code: number | null; signal: string | null; stderr: string }>;
  kill: () => void;
}

function spawnNode(args: string[], env: Record<string, string> = {}): Child {
  const p = spawn(process.execPath, ['--import', 'tsx', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d) => { stderr += d; });
  return {
    done: new Promise((res) => p.on('exit', (code, signal) => res({ code, signal, stderr }))),
    kill: () => p.kill('SIGKILL'),
  };
}

const cli = (file: string) => spawnNode(['src/train/cli.ts', 'train', '--config', file, '--backend', 'cpu']);

async function linesIn(file: string): Promise<number> {
  try {
    return (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim()).length;
  } catch {
    return 0;
  }
}

/** Every checkpoint folder is whole: its files exist and parse; no temp folder is mistaken for one. */
async function assertCheckpointsComplete(outputDir: string): Promise<number[]> {
  const cps = await listCheckpoints(outputDir);
  for (const c of cps) {
    const state = await readTrainerState(c.dir);
    assert.equal(state.step, c.step);
    for (const f of ['adapter/adapter_config.json', 'adapter/adapter_model.safetensors', 'optimizer.safetensors']) await access(join(c.dir, f));
    JSON.parse(await readFile(join(c.dir, 'adapter/adapter_config.json'), 'utf8'));
    const opt = await Checkpoint.open(join(c.dir, 'optimizer.safetensors'));
    const adapter = await Checkpoint.open(join(c.dir, 'adapter/adapter_model.safetensors'));
    for (const k of adapter.keys()) await adapter.getF32(k);
    for (const k of opt.keys()) await opt.getF32(k);
  }
  return cps.map((c) => c.step);
}

function assertSameCurve(got: StepMetrics[], label: string): void {
  assert.deepEqual(got.map((m) => m.step), reference.map((m) => m.step), `${label}: steps`);
  for (let i = 0; i < reference.length; i++) {
    assert.ok(Math.abs(got[i].loss - reference[i].loss) <= 1e-6, `${label}: step ${i + 1} loss ${got[i].loss} vs ${reference[i].loss}`);
    assert.ok(Math.abs(got[i].grad_norm - reference[i].grad_norm) <= 1e-5 * Math.max(1, reference[i].grad_norm), `${label}: step ${i + 1} grad norm`);
    assert.equal(got[i].lr, reference[i].lr);
  }
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'ttslab-kill-'));
  await writeFile(join(tmp, 'data.jsonl'), countingExamples(14).map((e) => JSON.stringify({ input_ids: e.inputIds, labels: e.labels })).join('\n') + '\n');
  const file = await writeRun('reference');
  const r = await cli(file).done;
  assert.equal(r.code, 0, r.stderr);
  reference = await readMetrics(join(tmp, 'reference', 'metrics.jsonl'));
  assert.equal(reference.length, MAX_STEPS);
});
after(() => rm(tmp, { recursive: true, force: true }));

test('SIGKILL mid-run at several points, resume each time: same loss curve, never a half-written checkpoint', async () => {
  const file = await writeRun('killed');
  const outputDir = join(tmp, 'killed');
  const metrics = join(outputDir, 'metrics.jsonl');
  let kills = 0;
  // Kill once the log shows step k, after a delay that lands in the step or its checkpoint write.
  for (const [k, delayMs] of [[2, 0], [4, 25], [6, 60], [8, 10]]) {
    const child = cli(file);
    const t0 = Date.now();
    while ((await linesIn(metrics)) < k && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, delayMs));
    child.kill();
    const r = await child.done;
    if (r.signal === 'SIGKILL') kills++;
    else assert.equal(r.code, 0, r.stderr); // it may have finished first on a fast machine
    const steps = await assertCheckpointsComplete(outputDir);
    assert.ok(steps.length > 0 && steps.length <= 2, `checkpoints ${steps}`);
  }
  assert.ok(kills >= 3, `only ${kills} of 4 runs were killed mid-run`);
  const r = await cli(file).done;
  assert.equal(r.code, 0, r.stderr);
  assertSameCurve(await readMetrics(metrics), 'killed and resumed');
  assert.ok(!(await readdir(outputDir)).some((n) => n.startsWith('.tmp-')), 'no temp folder left after a clean finish');
});

test('SIGKILL inside a checkpoint write leaves the previous checkpoint whole; resume equals uninterrupted', async () => {
  const file = await writeRun('in-save');
  const outputDir = join(tmp, 'in-save');
  for (const killAt of [3, 7]) {
    const r = await spawnNode(['test/train/kill_child.ts', file], { KILL_IN_SAVE: String(killAt) }).done;
    assert.equal(r.signal, 'SIGKILL', r.stderr);
    const names = await readdir(outputDir);
    assert.ok(names.some((n) => n.startsWith('.tmp-')), 'the kill left a partial temp folder');
    const steps = await assertCheckpointsComplete(outputDir);
    assert.equal(steps[steps.length - 1], killAt - 1, `newest complete checkpoint ${steps}`);
  }
  const r = await cli(file).done;
  assert.equal(r.code, 0, r.stderr);
  assertSameCurve(await readMetrics(join(outputDir, 'metrics.jsonl')), 'killed in save');
});
