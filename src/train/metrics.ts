/**
 * The JSONL metrics log (one JSON object per logged step, appended as one write) and the
 * live training plot (loss and eval loss, grad norm, lr in one output refreshed in place).
 */
import { appendFile, readFile, writeFile, rename } from 'node:fs/promises';
import { LivePlot } from '../notebook/plot';
import type { Figure } from '../notebook/figure';

/** One optimizer step, as logged. Snake case: these are the JSONL keys (HF's log names). */
export interface StepMetrics {
  step: number;
  /** Epoch of the step's last micro-batch (0-based). */
  epoch: number;
  /** The step's loss: the sum of its scaled micro-batch losses (see TrainConfig.lossAveraging). */
  loss: number;
  /** Learning rate used for this update. */
  lr: number;
  /** Global L2 norm of the gradients before clipping (what HF logs as grad_norm). */
  grad_norm: number;
  /** Real input tokens in the step. */
  tokens: number;
  /** tokens / wall seconds of this step (forward, backward, optimizer). */
  tokens_per_s: number;
  /** Training seconds since the run began, resumed sessions included. */
  elapsed_s: number;
  /** Live tfjs tensors after the step: stable from step to step unless something leaks. */
  num_tensors: number;
  /** Bytes held by live tfjs tensors after the step. */
  tensor_bytes: number;
  /** Loss on the eval examples, on steps that evaluate. */
  eval_loss?: number;
}

export const METRICS_FILE_NAME = 'metrics.jsonl';

/** Reads a metrics log; a torn last line (a kill during the append) is skipped. */
export async function readMetrics(file: string): Promise<StepMetrics[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: StepMetrics[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(JSON.parse(line) as StepMetrics);
    } catch (e) {
      if (i < lines.length - 1 && lines.slice(i + 1).some((l) => l.trim())) throw new Error(`${file}:${i + 1}: ${(e as Error).message}`);
    }
  });
  return out;
}

export class MetricsLog {
  private constructor(readonly file: string) {}

  /**
   * Opens the log for a run starting at `fromStep`: lines of later steps (written after
   * the checkpoint being resumed, before a kill) are dropped, so the log reads as one run.
   * Returns the kept history.
   */
  static async open(file: string, fromStep: number): Promise<{ log: MetricsLog; history: StepMetrics[] }> {
    const history = fromStep > 0 ? (await readMetrics(file)).filter((m) => m.step <= fromStep) : [];
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, history.map((m) => JSON.stringify(m) + '\n').join(''));
    await rename(tmp, file);
    return { log: new MetricsLog(file), history };
  }

  async append(m: StepMetrics): Promise<void> {
    await appendFile(this.file, JSON.stringify(m) + '\n');
  }
}

/** Loss, eval loss, grad norm and lr in a 2x2 grid, redrawn in place. */
export class TrainingPlot {
  private readonly plot: LivePlot;
  readonly steps: number[] = [];
  readonly loss: number[] = [];
  readonly gradNorm: number[] = [];
  readonly lr: number[] = [];
  readonly evalSteps: number[] = [];
  readonly evalLoss: number[] = [];

  constructor(readonly title = 'training', minIntervalMs = 1000) {
    this.plot = new LivePlot({ minIntervalMs });
  }

  add(m: StepMetrics): void {
    this.steps.push(m.step);
    this.loss.push(m.loss);
    this.gradNorm.push(m.grad_norm);
    this.lr.push(m.lr);
    if (m.eval_loss !== undefined) {
      this.evalSteps.push(m.step);
      this.evalLoss.push(m.eval_loss);
    }
  }

  figure(): Figure {
    return {
      data: [
        { type: 'scatter', mode: 'lines', name: 'loss', x: this.steps, y: this.loss, xaxis: 'x', yaxis: 'y' },
        { type: 'scatter', mode: 'lines+markers', name: 'eval loss', x: this.evalSteps, y: this.evalLoss, xaxis: 'x', yaxis: 'y' },
        { type: 'scatter', mode: 'lines', name: 'grad norm', x: this.steps, y: this.gradNorm, xaxis: 'x2', yaxis: 'y2' },
        { type: 'scatter', mode: 'lines', name: 'lr', x: this.steps, y: this.lr, xaxis: 'x3', yaxis: 'y3' },
      ],
      layout: {
        title: this.title,
        height: 420,
        grid: { rows: 1, columns: 3, pattern: 'independent' },
        xaxis: { title: 'step' },
        yaxis: { title: 'loss' },
        xaxis2: { title: 'step' },
        yaxis2: { title: 'grad norm' },
        xaxis3: { title: 'step' },
        yaxis3: { title: 'lr', exponentformat: 'e' },
      },
    };
  }

  /** Redraws (throttled unless `force`). */
  update(force = false): void {
    this.plot.update(this.figure(), force);
  }

  flush(): void {
    this.plot.flush();
    this.update(true);
  }
}
