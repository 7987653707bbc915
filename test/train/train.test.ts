/**
 * The training loop on a tiny random Llama + LoRA (CPU): dynamic padding, accumulation
 * equivalence, the loss falls, resume equals an uninterrupted run, NaN stops with the step
 * and a loadable last checkpoint, no tensor leaks, metrics log.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { IGNORE_INDEX } from '../../src/models/llama';
import { NonFiniteError, evaluate, train } from '../../src/train/trainer';
import { readMetrics } from '../../src/train/metrics';
import { listCheckpoints, readTrainerState } from '../../src/train/checkpoint';
import { epochBatches } from '../../src/train/data';
import { FAST, countingExamples, disposeTrainable, flatValues, quiet, tinyTrainable } from './helpers';
import type { TokenBatch } from '../../src/train/llama';

let tmp: string;
before(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'ttslab-train-'));
});
after(() => rm(tmp, { recursive: true, force: true }));

test('collation pads each batch to its own longest example; a long example does not crash it', () => {
  const t = tinyTrainable();
  const b = t.collate([{ inputIds: [2, 3, 4], labels: [2, 3, 4] }, { inputIds: [5, 6], labels: [IGNORE_INDEX, 6] }]);
  assert.equal(b.paddedLength, 3);
  assert.deepEqual(b.inputIds, [[2, 3, 4], [5, 6, 0]]);
  assert.deepEqual(b.attentionMask, [[1, 1, 1], [1, 1, 0]]);
  assert.deepEqual(b.labels, [[2, 3, 4], [IGNORE_INDEX, 6, IGNORE_INDEX]]);
  assert.equal(b.numTokens, 5);
  assert.equal(b.numTargets, 3);
  const long = Array.from({ length: 200 }, (_, i) => 2 + (i % 20));
  const b2 = t.collate([{ inputIds: long, labels: long }, { inputIds: [2, 3], labels: [2, 3] }]);
  assert.equal(b2.paddedLength, 200);
  const loss = t.loss(b2, { training: false });
  assert.ok(Number.isFinite(loss.dataSync()[0]));
  loss.dispose();
  assert.throws(() => t.collate([{ inputIds: [2, 3], labels: [2] }]), /example 0: labels must have the length of inputIds \(2\), got 1/);
  assert.throws(() => t.collate([{ inputIds: [2, 99], labels: [2, 3] }]), /example 0: token id 99 is outside \[0, 24\)/);
  disposeTrainable(t);
});

test('padding does not change an example\'s loss (right padding under a causal mask)', () => {
  const t = tinyTrainable();
  const ex = { inputIds: [2, 3, 4, 5], labels: [2, 3, 4, 5] };
  const alone = t.loss(t.collate([ex]), { training: false });
  // Padded next to a longer example with no targets of its own.
  const other = { inputIds: [6, 7, 8, 9, 10, 11, 12], labels: new Array(7).fill(IGNORE_INDEX) };
  const padded = t.loss(t.collate([ex, other]), { training: false });
  assert.ok(Math.abs(alone.dataSync()[0] - padded.dataSync()[0]) < 1e-5);
  tf.dispose([alone, padded]);
  disposeTrainable(t);
});

/** Summed gradients of micro-batches, as the trainer forms them (loss scaled by `scale(batch)`). */
function accumulatedGrads(t: ReturnType<typeof tinyTrainable>, batches: TokenBatch[], scale: (b: TokenBatch) => number): Float32Array[] {
  const vars = t.trainableVariables().map((p) => p.variable);
  let acc: Float32Array[] | null = null;
  for (const b of batches) {
    const { value, grads } = tf.variableGrads(() => tf.tidy(() => t.loss(b, { training: true }).mul(scale(b)) as tf.Scalar), vars);
    const arrays = vars.map((v) => grads[v.name].dataSync() as Float32Array);
    acc = acc ? acc.map((a, i) => a.map((x, j) => x + arrays[i][j])) : arrays.map((a) => Float32Array.from(a));
    tf.dispose([value, ...Object.values(grads)]);
  }
  return acc!;
}

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let d = 0;
  a.forEach((x, i) => x.forEach((v, j) => { d = Math.max(d, Math.abs(v - b[i][j])); }));
  return d;
}

test('gradient accumulation: batch 4 x 1 equals batch 2 x 2 (within 1e-5)', async () => {
  const t = tinyTrainable();
  // Make B non-zero so every LoRA gradient is non-trivial.
  for (const p of t.trainableVariables()) p.variable.assign(tf.randomNormal(p.variable.shape, 0, 0.05, 'float32', 9));
  // micro_batch_mean: equal target counts per micro-batch make the two averagings agree.
  const same = countingExamples(4, 5, 8, 8);
  const full = accumulatedGrads(t, [t.collate(same)], () => 1);
  const halves = accumulatedGrads(t, [t.collate(same.slice(0, 2)), t.collate(same.slice(2))], () => 1 / 2);
  assert.ok(maxDiff(full, halves) < 1e-5, `micro_batch_mean: ${maxDiff(full, halves)}`);
  // token_mean holds for unequal lengths too: each micro-batch weighs by its share of targets.
  const mixed = countingExamples(4, 6, 3, 12);
  const b1 = t.collate(mixed.slice(0, 2));
  const b2 = t.collate(mixed.slice(2));
  const total = b1.numTargets + b2.numTargets;
  const full2 = accumulatedGrads(t, [t.collate(mixed)], () => 1);
  const halves2 = accumulatedGrads(t, [b1, b2], (b) => b.numTargets / total);
  assert.ok(maxDiff(full2, halves2) < 1e-5, `token_mean: ${maxDiff(full2, halves2)}`);
  // ... and the trainer's first step with batch 4 x 1 equals 2 x 2 (same data order, no shuffle).
  const results: Float32Array[][] = [];
  for (const [batchSize, gradientAccumulationSteps] of [[4, 1], [2, 2]]) {
    const m = tinyTrainable();
    await train(m, same, { ...FAST, shuffle: false, batchSize, gradientAccumulationSteps, maxSteps: 1, outputDir: join(tmp, `acc-${batchSize}`) }, quiet);
    results.push(await flatValues(m.trainableVariables()));
    disposeTrainable(m);
  }
  assert.ok(maxDiff(results[0], results[1]) < 1e-6, `after one step: ${maxDiff(results[0], results[1])}`);
  disposeTrainable(t);
});

test('the loss falls on a learnable toy task over 30 steps; metrics are logged; no tensor leaks', async () => {
  const t = tinyTrainable();
  const examples = countingExamples(48);
  const outputDir = join(tmp, 'falls');
  const seen: number[] = [];
  const before = tf.memory().numTensors;
  const r = await train(t, examples, {
    ...FAST, maxSteps: 30, learningRate: 2e-2, evalSplit: 0.1, evalSteps: 10, saveSteps: 10, groupByLength: true, outputDir,
  }, { ...quiet, onStep: (m) => { seen.push(m.step); } });
  const losses = r.history.map((m) => m.loss);
  const first = (losses[0] + losses[1] + losses[2]) / 3;
  const last = (losses[27] + losses[28] + losses[29]) / 3;
  assert.ok(last < 0.6 * first, `loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
  const evals = r.history.filter((m) => m.eval_loss !== undefined);
  assert.deepEqual(evals.map((m) => m.step), [10, 20, 30]);
  assert.ok(evals[2].eval_loss! < evals[0].eval_loss!);
  assert.deepEqual(seen, Array.from({ length: 30 }, (_, i) => i + 1));
  // Tensors: the same count after every step (optimizer state is created up front).
  const counts = r.history.map((m) => m.num_tensors);
  assert.ok(counts.every((n) => n === counts[0]), `tensor counts ${counts}`);
  assert.equal(tf.memory().numTensors, before, 'the run leaves no tensor behind');
  const logged = await readMetrics(join(outputDir, 'metrics.jsonl'));
  assert.deepEqual(logged.map((m) => m.step), r.history.map((m) => m.step));
  for (const m of logged) {
    for (const k of ['loss', 'lr', 'grad_norm', 'tokens_per_s', 'elapsed_s'] as const) assert.ok(Number.isFinite(m[k]), `${k} at ${m.step}`);
  }
  assert.deepEqual((await listCheckpoints(outputDir)).map((c) => c.step), [20, 30]); // saveTotalLimit 2
  assert.deepEqual((await readdir(r.adapterDir)).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
  assert.ok(r.memory.optimizerStateBytes === r.memory.optimizerStateBytes32);
  disposeTrainable(t);
});

test('grouping by length puts similar lengths together and the longest example first', () => {
  const lengths = Array.from({ length: 40 }, (_, i) => (i * 7919) % 97);
  const batches = epochBatches(lengths, 0, { seed: 1, shuffle: true, groupByLength: true, batchSize: 4 });
  assert.equal(lengths[batches[0][0]], Math.max(...lengths));
  assert.deepEqual(batches.flat().sort((a, b) => a - b), lengths.map((_, i) => i));
  // Within one megabatch (all 40 here) lengths fall from batch to batch after the first.
  const flat = batches.flat().slice(1).map((i) => lengths[i]);
  for (let i = 1; i < flat.length; i++) assert.ok(flat[i] <= flat[i - 1]);
});

test('resume from a checkpoint continues exactly (in-process, 8-bit AdamW, across an epoch boundary)', async () => {
  const examples = countingExamples(10);
  const cfg = { ...FAST, optimizer: 'adamw_8bit' as const, maxSteps: 8, saveSteps: 3, saveTotalLimit: 0, warmupSteps: 2, schedule: 'cosine' as const };
  const a = tinyTrainable();
  const full = await train(a, examples, { ...cfg, outputDir: join(tmp, 'full') }, quiet);
  const b = tinyTrainable();
  await train(b, examples, { ...cfg, maxSteps: 8, outputDir: join(tmp, 'part') }, quiet);
  // A new process would start from fresh weights: reset b to a fresh model and resume from step 6.
  disposeTrainable(b);
  const c = tinyTrainable();
  const resumed = await train(c, examples, { ...cfg, outputDir: join(tmp, 'part'), resume: join(tmp, 'part', 'checkpoint-6') }, quiet);
  assert.equal(resumed.resumedFrom, join(tmp, 'part', 'checkpoint-6'));
  const la = full.history.map((m) => m.loss);
  const lc = resumed.history.map((m) => m.loss);
  assert.equal(lc.length, 8);
  for (let i = 0; i < 8; i++) assert.ok(Math.abs(la[i] - lc[i]) <= 1e-6, `step ${i + 1}: ${la[i]} vs ${lc[i]}`);
  assert.ok(maxDiff(await flatValues(a.trainableVariables()), await flatValues(c.trainableVariables())) <= 1e-6);
  const state = await readTrainerState(join(tmp, 'part', 'checkpoint-6'));
  assert.equal(state.step, 6);
  assert.deepEqual(state.data, { epoch: 2, batchIndex: 2 }); // 6 steps x 2 micro-batches = 5 + 5 + 2
  // A changed setting that alters the math is refused, naming it.
  const d = tinyTrainable();
  await assert.rejects(train(d, examples, { ...cfg, learningRate: 1e-3, outputDir: join(tmp, 'part'), resume: true }, quiet),
    /cannot resume from .*checkpoint-8: learningRate was 0\.01, now 0\.001/);
  for (const m of [a, c, d]) disposeTrainable(m);
});

test('a NaN in a batch stops training at its step; the last good checkpoint loads', async () => {
  const t = tinyTrainable();
  const examples = countingExamples(12);
  const outputDir = join(tmp, 'nan');
  // Inject: the loss of any batch holding the poisoned example is NaN (as a corrupt clip would give).
  const poisoned = { inputIds: [2, 3, 4, 5, 6], labels: [2, 3, 4, 5, 6] };
  examples.push(poisoned);
  const model = Object.create(t) as typeof t;
  let calls = 0;
  model.loss = (batch, o) => {
    calls++;
    const l = t.loss(batch, o);
    if (!batch.inputIds.some((row) => row.slice(0, 5).join() === '2,3,4,5,6' && row[5] !== 7)) return l;
    return tf.tidy(() => l.mul(Number.NaN) as tf.Scalar);
  };
  const before = tf.memory().numTensors;
  const err = await train(model, examples, { ...FAST, shuffle: true, maxSteps: 40, saveSteps: 1, outputDir }, quiet).catch((e) => e);
  assert.ok(err instanceof NonFiniteError, String(err));
  assert.equal(err.quantity, 'loss');
  assert.ok(err.step > 1, `the poisoned batch came at step ${err.step}; this seed should place it later`);
  assert.match(err.message, new RegExp(`^training stopped at step ${err.step}: loss is NaN`));
  assert.equal(tf.memory().numTensors, before, 'nothing leaks on the failure path');
  const cps = await listCheckpoints(outputDir);
  assert.equal(cps[cps.length - 1].step, err.step - 1);
  {
    assert.equal(err.lastCheckpoint, cps[cps.length - 1].dir);
    // The weights in memory are the last good ones: they equal the checkpoint's.
    const inMemory = await flatValues(t.trainableVariables());
    await t.load(join(err.lastCheckpoint!, 'adapter'));
    assert.deepEqual(await flatValues(t.trainableVariables()), inMemory);
    const logged = await readMetrics(join(outputDir, 'metrics.jsonl'));
    assert.equal(logged[logged.length - 1].step, err.step - 1);
  }
  assert.ok(calls > 0);
  disposeTrainable(t);
});

test('evaluate weighs batch losses by batch size', async () => {
  const t = tinyTrainable();
  const ex = countingExamples(3);
  const l = ex.map((e) => t.loss(t.collate([e]), { training: false }));
  const each = l.map((x) => x.dataSync()[0]);
  tf.dispose(l);
  const pair = t.loss(t.collate(ex.slice(0, 2)), { training: false });
  const expected = (2 * pair.dataSync()[0] + each[2]) / 3;
  pair.dispose();
  assert.ok(Math.abs((await evaluate(t, ex, 2)) - expected) < 1e-6);
  disposeTrainable(t);
  assert.ok(JSON.parse(await readFile(join(tmp, 'falls', 'checkpoint-30', 'trainer_state.json'), 'utf8')).step === 30);
});
