/**
 * The training configuration: one typed object, a comment per field, the workshop's
 * defaults (REFERENCE.md: CSM-1B voice fine-tune on a T4), and a validator that names
 * the field and the bad value. Field names follow HF `TrainingArguments` in camelCase
 * where one exists (learningRate, warmupSteps, gradientAccumulationSteps, ...).
 */
import { DEFAULT_TARGET_MODULES } from '../lora/lora';

export type ScheduleName = 'constant' | 'constant_with_warmup' | 'linear' | 'cosine';
export type OptimizerName = 'adamw' | 'adamw_8bit';
/** How micro-batch losses combine into the step's loss (see `TrainConfig.lossAveraging`). */
export type LossAveraging = 'micro_batch_mean' | 'token_mean';

export interface TrainConfig {
  // --- LoRA ---
  /** LoRA rank: 32 as the workshop (enough capacity to move a voice, 1.75% of CSM-1B). */
  loraR: number;
  /** LoRA alpha: 16; with rsLoRA the scale is alpha / sqrt(r) = 2.83. */
  loraAlpha: number;
  /** Rank-stabilised scaling alpha / sqrt(r) (Kalajdzievski 2023), on in the workshop. */
  useRslora: boolean;
  /** Dropout on the LoRA input. 0 as the workshop; > 0 makes `resume` inexact (tfjs' dropout RNG is not saved). */
  loraDropout: number;
  /** Modules wrapped with LoRA: every attention and MLP projection. */
  targetModules: string[];

  // --- optimisation ---
  /** Peak learning rate: 2e-4 is the usual LoRA rate (full fine-tunes use ~10x less). */
  learningRate: number;
  /** Linear warmup steps from 0 to `learningRate` (HF: ignored by the plain 'constant' schedule). */
  warmupSteps: number;
  /**
   * 'constant' keeps `learningRate` and ignores warmup, exactly as transformers'
   * get_scheduler does for "constant" (so the workshop's warmup 3 is inert there);
   * 'constant_with_warmup', 'linear' and 'cosine' warm up, then hold / decay to 0 at maxSteps.
   */
  schedule: ScheduleName;
  /** Optimizer steps to run (the workshop: 60; the loss is still falling there). */
  maxSteps: number;
  /** Examples per micro-batch (per forward/backward): 2 fits 30 s clips in a T4's memory. */
  batchSize: number;
  /** Micro-batches whose gradients are summed before one optimizer step: effective batch = 2 x 4 = 8. */
  gradientAccumulationSteps: number;
  /**
   * 'micro_batch_mean' (HF Trainer without num_items_in_batch, the workshop's): each
   * micro-batch's mean token loss divided by gradientAccumulationSteps, so micro-batches
   * weigh the same whatever their token counts. 'token_mean' (transformers >= 4.46 when the
   * model accepts num_items_in_batch): summed token losses over the whole step divided by
   * the step's predicted tokens, so every token weighs the same.
   */
  lossAveraging: LossAveraging;
  /** 'adamw' keeps both moments in float32; 'adamw_8bit' quantises them block-wise to 8 bits (bitsandbytes' AdamW8bit, as the workshop). */
  optimizer: OptimizerName;
  /** AdamW beta1 (first-moment decay), torch's default. */
  adamBeta1: number;
  /** AdamW beta2 (second-moment decay), torch's default. */
  adamBeta2: number;
  /** AdamW epsilon added to sqrt(v), torch's default. */
  adamEpsilon: number;
  /** Decoupled weight decay (multiplies weights by 1 - lr * wd each step); 0.01 as the workshop. Not applied to biases and norms. */
  weightDecay: number;
  /** Clip the global gradient L2 norm to this (HF's max_grad_norm 1.0); 0 disables clipping (the norm is still logged). */
  maxGradNorm: number;

  // --- data ---
  /** Seeds LoRA initialisation, data order and the eval split, so a run is reproducible. */
  seed: number;
  /** Shuffle example order every epoch (seeded by seed and epoch). */
  shuffle: boolean;
  /** Group examples of similar length into micro-batches (HF group_by_length), so less compute goes into padding. */
  groupByLength: boolean;
  /** Fraction of the examples held out for evaluation when no eval set is given (0 = none). */
  evalSplit: number;
  /** Evaluate every this many optimizer steps (0 = only at the end, when there is an eval set). */
  evalSteps: number;

  // --- output ---
  /** Folder for checkpoints, metrics.jsonl and the final adapter. */
  outputDir: string;
  /** Save a checkpoint every this many steps (0 = only at the end): what `resume` restarts from. */
  saveSteps: number;
  /** Keep at most this many checkpoints (oldest deleted first); 0 keeps all. */
  saveTotalLimit: number;
  /** Write a metrics line (and redraw the bar and plot) every this many steps. */
  loggingSteps: number;
  /** Continue from the newest complete checkpoint in outputDir (or from this checkpoint folder). */
  resume: boolean | string;
  /** Live loss / eval loss / grad-norm / lr plot in the notebook (ignored outside one). */
  livePlot: boolean;
}

/** The workshop's setup (REFERENCE.md), on every field. */
export const DEFAULT_TRAIN_CONFIG: Readonly<TrainConfig> = Object.freeze({
  loraR: 32,
  loraAlpha: 16,
  useRslora: true,
  loraDropout: 0,
  targetModules: [...DEFAULT_TARGET_MODULES],
  learningRate: 2e-4,
  warmupSteps: 3,
  schedule: 'constant',
  maxSteps: 60,
  batchSize: 2,
  gradientAccumulationSteps: 4,
  lossAveraging: 'micro_batch_mean',
  optimizer: 'adamw_8bit',
  adamBeta1: 0.9,
  adamBeta2: 0.999,
  adamEpsilon: 1e-8,
  weightDecay: 0.01,
  maxGradNorm: 1.0,
  seed: 3407,
  shuffle: true,
  groupByLength: false,
  evalSplit: 0,
  evalSteps: 0,
  outputDir: 'runs/train',
  saveSteps: 20,
  saveTotalLimit: 2,
  loggingSteps: 1,
  resume: false,
  livePlot: true,
} as TrainConfig);

export class TrainConfigError extends Error {
  constructor(readonly field: string, readonly value: unknown, why: string, source: string) {
    super(`${source}: ${field} ${why}, got ${show(value)}`);
    this.name = 'TrainConfigError';
  }
}

function show(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s;
}

type Check = (v: unknown) => string | null;
const num = (pred: (x: number) => boolean, why: string): Check => (v) =>
  typeof v === 'number' && Number.isFinite(v) && pred(v) ? null : why;
const int = (min: number): Check => num((x) => Number.isInteger(x) && x >= min, `must be an integer >= ${min}`);
const bool: Check = (v) => (typeof v === 'boolean' ? null : 'must be true or false');
const oneOf = (xs: readonly string[]): Check => (v) => (typeof v === 'string' && xs.includes(v) ? null : `must be one of ${xs.map((x) => `"${x}"`).join(', ')}`);

const CHECKS: Record<keyof TrainConfig, Check> = {
  loraR: int(1),
  loraAlpha: num((x) => x > 0, 'must be a number > 0'),
  useRslora: bool,
  loraDropout: num((x) => x >= 0 && x < 1, 'must be in [0, 1)'),
  targetModules: (v) => (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x.length > 0)
    ? null : 'must be a non-empty list of module names'),
  learningRate: num((x) => x > 0, 'must be a number > 0'),
  warmupSteps: int(0),
  schedule: oneOf(['constant', 'constant_with_warmup', 'linear', 'cosine']),
  maxSteps: int(1),
  batchSize: int(1),
  gradientAccumulationSteps: int(1),
  lossAveraging: oneOf(['micro_batch_mean', 'token_mean']),
  optimizer: oneOf(['adamw', 'adamw_8bit']),
  adamBeta1: num((x) => x >= 0 && x < 1, 'must be in [0, 1)'),
  adamBeta2: num((x) => x >= 0 && x < 1, 'must be in [0, 1)'),
  adamEpsilon: num((x) => x > 0, 'must be a number > 0'),
  weightDecay: num((x) => x >= 0, 'must be a number >= 0'),
  maxGradNorm: num((x) => x >= 0, 'must be a number >= 0 (0 disables clipping)'),
  seed: num((x) => Number.isInteger(x) && x >= 0, 'must be an integer >= 0'),
  shuffle: bool,
  groupByLength: bool,
  evalSplit: num((x) => x >= 0 && x < 1, 'must be in [0, 1)'),
  evalSteps: int(0),
  outputDir: (v) => (typeof v === 'string' && v.length > 0 ? null : 'must be a non-empty path'),
  saveSteps: int(0),
  saveTotalLimit: int(0),
  loggingSteps: int(1),
  resume: (v) => (typeof v === 'boolean' || (typeof v === 'string' && v.length > 0) ? null : 'must be true, false or a checkpoint folder'),
  livePlot: bool,
};

/** The known field names, in declaration order. */
export const TRAIN_CONFIG_FIELDS = Object.keys(CHECKS) as (keyof TrainConfig)[];

/**
 * Checks a partial config (what a notebook cell or a JSON file holds) and fills the
 * defaults. Unknown fields (typos such as `learning_rate` or `lr`) are errors, not
 * ignored, so a setting never silently does nothing. Throws a TrainConfigError naming
 * the field and value.
 */
export function validateTrainConfig(input: unknown, source = 'TrainConfig'): TrainConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new TrainConfigError('(config)', input, 'must be an object', source);
  }
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(k in CHECKS)) {
      const near = TRAIN_CONFIG_FIELDS.find((f) => f.toLowerCase() === k.toLowerCase().replace(/_/g, ''));
      throw new TrainConfigError(k, o[k], `is not a TrainConfig field${near ? ` (did you mean ${near}?)` : ''}`, source);
    }
  }
  const out = { ...DEFAULT_TRAIN_CONFIG, targetModules: [...DEFAULT_TRAIN_CONFIG.targetModules] } as TrainConfig;
  for (const field of TRAIN_CONFIG_FIELDS) {
    if (o[field] === undefined) continue;
    const why = CHECKS[field](o[field]);
    if (why) throw new TrainConfigError(field, o[field], why, source);
    (out as unknown as Record<string, unknown>)[field] = field === 'targetModules' ? [...(o[field] as string[])] : o[field];
  }
  if (out.warmupSteps > out.maxSteps) {
    throw new TrainConfigError('warmupSteps', out.warmupSteps, `must not exceed maxSteps (${out.maxSteps})`, source);
  }
  return out;
}
