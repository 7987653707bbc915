/**
 * The training loop (nanoGPT's train.py in shape, HF Trainer in semantics): micro-batches
 * with gradient accumulation, global-norm clipping, AdamW (32- or 8-bit), a warmup
 * schedule, periodic eval, NaN/Inf stop, atomic checkpoints and exact resume, a JSONL
 * metrics log, a progress bar and a live plot. Usable from a notebook or a terminal.
 *
 * Tensor ownership: every tensor made in a step is disposed in that step (gradients,
 * losses, clipped copies); the optimizer owns its state; the model owns its variables.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ProgressBar } from '../notebook/progress';
import { inNotebook } from '../notebook/display';
import { runtimeInfo } from '../runtime';
import { validateTrainConfig } from './config';
import type { TrainConfig } from './config';
import { BatchStream, epochBatches, splitTrainEval } from './data';
import type { DataPosition } from './data';
import { clipCoefficient, createOptimizer, globalGradNorm } from './optim';
import type { Optimizer } from './optim';
import { learningRateAt } from './schedule';
import {
  ADAPTER_DIR_NAME, listCheckpoints, loadTrainerCheckpoint, pruneCheckpoints, removeStaleTemp, saveTrainerCheckpoint, writeDirAtomic,
} from './checkpoint';
import type { TrainerState } from './checkpoint';
import { METRICS_FILE_NAME, MetricsLog, TrainingPlot } from './metrics';
import type { StepMetrics } from './metrics';
import type { BatchInfo, TrainableModel } from './types';

/** Training stopped because a loss or gradient was NaN or infinite. */
export class NonFiniteError extends Error {
  constructor(
    /** The optimizer step (1-based) that produced it; its update was not applied. */
    readonly step: number,
    /** 'loss' or 'grad_norm' */
    readonly quantity: string,
    readonly value: number,
    /** The newest complete checkpoint, or null when none was written yet. */
    readonly lastCheckpoint: string | null,
  ) {
    super(`training stopped at step ${step}: ${quantity} is ${value}; the update was not applied. `
      + (lastCheckpoint ? `Last good checkpoint: ${lastCheckpoint}` : 'No checkpoint was written before it.'));
    this.name = 'NonFiniteError';
  }
}

export interface MemoryReport {
  /** tfjs tensors and bytes before training (and GPU bytes on WebGPU), from runtimeInfo(). */
  start: ReturnType<typeof runtimeInfo>['memory'];
  /** Largest tfjs byte count seen after a step. */
  peakTensorBytes: number;
  trainableParams: number;
  /** Bytes of the optimizer state (moments). */
  optimizerStateBytes: number;
  /** What float32 AdamW moments would take (8 bytes per parameter), for comparison. */
  optimizerStateBytes32: number;
  /** One line for logs. */
  text: string;
}

export interface TrainOptions<E> {
  /** A separate eval set (otherwise `evalSplit` of the examples is held out). */
  evalExamples?: E[];
  /** Called after every step with its metrics (after logging): notebooks hook their own plots here. */
  onStep?: (m: StepMetrics) => void | Promise<void>;
  /** Progress bar sink (default: notebook, else terminal when stderr is a TTY, else none). */
  progress?: 'notebook' | 'terminal' | 'none';
  /** Messages (resume, checkpoints, memory); default console.log. */
  log?: (message: string) => void;
}

export interface TrainResult {
  config: TrainConfig;
  /** Steps done in all (resumed ones included). */
  steps: number;
  /** Metrics of every step of the run (the log's history when resumed). */
  history: StepMetrics[];
  /** Checkpoint this session started from, if any. */
  resumedFrom: string | null;
  lastCheckpoint: string | null;
  /** The final adapter (`<outputDir>/adapter`). */
  adapterDir: string;
  memory: MemoryReport;
}

/** Keys of TrainConfig a resumed run may change (they do not alter the math of the steps done). */
const RESUME_MUTABLE: (keyof TrainConfig)[] = ['maxSteps', 'outputDir', 'resume', 'livePlot', 'loggingSteps', 'saveSteps', 'saveTotalLimit', 'evalSteps'];

function checkResumeConfig(saved: TrainConfig, now: TrainConfig, dir: string): void {
  for (const k of Object.keys(now) as (keyof TrainConfig)[]) {
    if (RESUME_MUTABLE.includes(k)) continue;
    // The schedule's shape depends on maxSteps only for linear / cosine.
    if (JSON.stringify(saved[k]) !== JSON.stringify(now[k])) {
      throw new Error(`cannot resume from ${dir}: ${k} was ${JSON.stringify(saved[k])}, now ${JSON.stringify(now[k])}`);
    }
  }
  if (saved.maxSteps !== now.maxSteps && (now.schedule === 'linear' || now.schedule === 'cosine')) {
    throw new Error(`cannot resume from ${dir}: maxSteps was ${saved.maxSteps}, now ${now.maxSteps}, and the ${now.schedule} schedule depends on it`);
  }
}

async function findResumeCheckpoint(c: TrainConfig): Promise<string | null> {
  if (c.resume === false) return null;
  if (typeof c.resume === 'string') return c.resume;
  const all = await listCheckpoints(c.outputDir);
  return all.length ? all[all.length - 1].dir : null;
}

/** Mean eval loss over batches of `batchSize`, weighted by batch size (HF's evaluation_loop repeats each batch loss per example). */
export async function evaluate<E, B extends BatchInfo>(model: TrainableModel<E, B>, examples: E[], batchSize: number): Promise<number> {
  let sum = 0;
  let n = 0;
  const order = epochBatches(examples.map((e) => model.exampleLength(e)), 0, { seed: 0, shuffle: false, groupByLength: false, batchSize });
  for (const idx of order) {
    const batch = model.collate(idx.map((i) => examples[i]));
    const loss = tf.tidy(() => model.loss(batch, { training: false }));
    const v = (await loss.data())[0];
    loss.dispose();
    sum += v * batch.size;
    n += batch.size;
  }
  return sum / n;
}

/**
 * Fine-tunes `model` on `examples` with `config` (a partial TrainConfig, validated and
 * filled with the workshop defaults). Resolves with the history when maxSteps are done;
 * rejects with a NonFiniteError (step and last good checkpoint) if a loss or gradient
 * goes NaN/Inf.
 */
export async function train<E, B extends BatchInfo>(
  model: TrainableModel<E, B>, examples: E[], config: Partial<TrainConfig>, options: TrainOptions<E> = {},
): Promise<TrainResult> {
  const c = validateTrainConfig(config);
  const log = options.log ?? ((s: string) => console.log(s));
  await mkdir(c.outputDir, { recursive: true });
  await removeStaleTemp(c.outputDir);

  // Train / eval split (seeded, so a resumed run sees the same split).
  let trainSet = examples;
  let evalSet = options.evalExamples ?? [];
  if (!options.evalExamples && c.evalSplit > 0) {
    const s = splitTrainEval(examples.length, c.evalSplit, c.seed);
    trainSet = s.train.map((i) => examples[i]);
    evalSet = s.eval.map((i) => examples[i]);
  }
  if (trainSet.length === 0) throw new Error('no training examples');

  const params = model.trainableVariables();
  const trainableParams = params.reduce((n, p) => n + p.variable.size, 0);
  const optimizer: Optimizer = createOptimizer(c.optimizer, params, {
    beta1: c.adamBeta1, beta2: c.adamBeta2, eps: c.adamEpsilon, weightDecay: c.weightDecay,
  });
  const byVarName = new Map(params.map((p) => [p.variable.name, p.name]));
  const memStart = runtimeInfo().memory;

  let step = 0;
  let position: DataPosition = { epoch: 0, batchIndex: 0 };
  let elapsedBefore = 0;
  let tokensSeen = 0;
  const resumeDir = await findResumeCheckpoint(c);
  if (resumeDir) {
    const state = await loadTrainerCheckpoint(resumeDir, model, optimizer);
    checkResumeConfig(state.config, c, resumeDir);
    step = state.step;
    position = state.data;
    elapsedBefore = state.elapsedS;
    tokensSeen = state.tokensSeen;
    log(`resumed from ${resumeDir} at step ${step}`);
  }
  let lastCheckpoint = resumeDir;

  const { log: metricsLog, history } = await MetricsLog.open(join(c.outputDir, METRICS_FILE_NAME), step);
  const stream = new BatchStream(trainSet.map((e) => model.exampleLength(e)), {
    seed: c.seed, shuffle: c.shuffle, groupByLength: c.groupByLength, batchSize: c.batchSize,
  }, position);
  const plot = c.livePlot && inNotebook() ? new TrainingPlot(`LoRA r ${c.loraR}, lr ${c.learningRate}`) : null;
  for (const m of history) plot?.add(m);
  const bar = new ProgressBar({
    label: step > 0 ? `training (resumed at step ${step})` : 'training', total: c.maxSteps - step, mode: options.progress,
  });
  const startStep = step;
  const sessionStart = performance.now();
  let peakTensorBytes = tf.memory().numBytes;

  const checkpoint = async () => {
    const state: TrainerState = {
      format: 'ttslab-trainer-state', version: 1, step, data: stream.position,
      rng: { seed: c.seed, epoch: stream.position.epoch },
      optimizer: { kind: optimizer.kind, stepCount: optimizer.stepCount, stateBytes: optimizer.stateBytes() },
      elapsedS: elapsedBefore + (performance.now() - sessionStart) / 1000, tokensSeen, config: c,
    };
    lastCheckpoint = await saveTrainerCheckpoint(c.outputDir, model, optimizer, state);
    await pruneCheckpoints(c.outputDir, c.saveTotalLimit);
  };

  try {
    while (step < c.maxSteps) {
      const t0 = performance.now();
      const update = step + 1;
      const lr = learningRateAt(c, update);
      const batches = Array.from({ length: c.gradientAccumulationSteps }, () => model.collate(stream.next().map((i) => trainSet[i])));
      const stepTargets = batches.reduce((n, b) => n + b.numTargets, 0);
      const stepTokens = batches.reduce((n, b) => n + b.numTokens, 0);
      let grads: Map<string, tf.Tensor> | null = null;
      let loss = 0;
      try {
        for (const batch of batches) {
          // HF: loss / gradient_accumulation_steps per micro-batch, or (token_mean) the
          // micro-batch's share of the step's predicted tokens; gradients are summed.
          const scale = c.lossAveraging === 'micro_batch_mean' ? 1 / c.gradientAccumulationSteps : batch.numTargets / stepTargets;
          const { value, grads: g } = tf.variableGrads(() => tf.tidy(() => model.loss(batch, { training: true }).mul(scale) as tf.Scalar),
            params.map((p) => p.variable));
          const v = (await value.data())[0];
          value.dispose();
          const named = new Map<string, tf.Tensor>();
          for (const [k, t] of Object.entries(g)) named.set(byVarName.get(k)!, t);
          if (grads === null) grads = named;
          else {
            for (const [k, t] of named) {
              const sum = tf.add(grads.get(k)!, t);
              grads.get(k)!.dispose();
              t.dispose();
              grads.set(k, sum);
            }
          }
          if (!Number.isFinite(v)) throw new NonFiniteError(update, 'loss', v / scale, lastCheckpoint);
          loss += v;
        }
        const gradNorm = await globalGradNorm(grads!.values());
        if (!Number.isFinite(gradNorm)) throw new NonFiniteError(update, 'grad_norm', gradNorm, lastCheckpoint);
        // Clipping folds into the update as a gradient scale (no extra pass over the gradients).
        const coef = c.maxGradNorm > 0 ? clipCoefficient(c.maxGradNorm, gradNorm) : 1;
        await optimizer.step(grads!, lr, coef);
        step = update;
        tokensSeen += stepTokens;
        const seconds = (performance.now() - t0) / 1000;
        const mem = tf.memory();
        peakTensorBytes = Math.max(peakTensorBytes, mem.numBytes);
        const m: StepMetrics = {
          step, epoch: stream.position.epoch, loss, lr, grad_norm: gradNorm, tokens: stepTokens,
          tokens_per_s: stepTokens / seconds, elapsed_s: elapsedBefore + (performance.now() - sessionStart) / 1000,
          num_tensors: mem.numTensors, tensor_bytes: mem.numBytes,
        };
        if (evalSet.length && ((c.evalSteps > 0 && step % c.evalSteps === 0) || step === c.maxSteps)) {
          m.eval_loss = await evaluate(model, evalSet, c.batchSize);
        }
        history.push(m);
        if (step % c.loggingSteps === 0 || step === c.maxSteps || m.eval_loss !== undefined) {
          await metricsLog.append(m);
          plot?.add(m);
          plot?.update();
        }
        bar.update(step - startStep,
          `step ${step}/${c.maxSteps}  loss ${loss.toFixed(4)}  lr ${lr.toExponential(2)}  ${Math.round(m.tokens_per_s)} tok/s`);
        if ((c.saveSteps > 0 && step % c.saveSteps === 0) || step === c.maxSteps) await checkpoint();
        if (options.onStep) await options.onStep(m);
      } finally {
        if (grads) for (const t of grads.values()) t.dispose();
      }
    }
  } catch (e) {
    bar.finish(e instanceof NonFiniteError ? `stopped at step ${e.step}: ${e.quantity} ${e.value}` : `failed: ${(e as Error).message}`);
    plot?.flush();
    if (e instanceof NonFiniteError) log(e.message);
    optimizer.dispose();
    throw e;
  }
  bar.finish();
  plot?.flush();

  const adapterDir = join(c.outputDir, ADAPTER_DIR_NAME);
  await writeDirAtomic(adapterDir, c.outputDir, (tmp) => model.save(tmp));
  const optimizerStateBytes = optimizer.stateBytes();
  const memory: MemoryReport = {
    start: memStart, peakTensorBytes, trainableParams, optimizerStateBytes, optimizerStateBytes32: 8 * trainableParams,
    text: `trainable ${trainableParams.toLocaleString('en-US')} params; optimizer state ${(optimizerStateBytes / 2 ** 20).toFixed(2)} MiB `
      + `(${c.optimizer}; float32 AdamW: ${((8 * trainableParams) / 2 ** 20).toFixed(2)} MiB); peak tfjs ${(peakTensorBytes / 2 ** 20).toFixed(1)} MiB`,
  };
  log(memory.text);
  optimizer.dispose();
  return { config: c, steps: step, history, resumedFrom: resumeDir, lastCheckpoint, adapterDir, memory };
}
