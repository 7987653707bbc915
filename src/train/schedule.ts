/**
 * Learning-rate schedules as transformers' optimization.py builds them
 * (get_constant_schedule, get_constant_schedule_with_warmup,
 * get_linear_schedule_with_warmup, get_cosine_schedule_with_warmup with num_cycles 0.5).
 *
 * Step convention (torch's LambdaLR, as HF Trainer drives it): the k-th optimizer update
 * (k = 1, 2, ...) uses multiplier lambda(k - 1), because scheduler.step() runs after
 * optimizer.step(). So with warmup the first update has lr 0, as in HF.
 */
import type { ScheduleName } from './config';

/** lambda(step): the multiplier of the peak lr after `step` scheduler steps. */
export function lrLambda(schedule: ScheduleName, step: number, warmupSteps: number, totalSteps: number): number {
  switch (schedule) {
    case 'constant':
      // get_scheduler returns get_constant_schedule(optimizer) for "constant": warmup is ignored.
      return 1;
    case 'constant_with_warmup':
      return step < warmupSteps ? step / Math.max(1, warmupSteps) : 1;
    case 'linear':
      if (step < warmupSteps) return step / Math.max(1, warmupSteps);
      return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
    case 'cosine': {
      if (step < warmupSteps) return step / Math.max(1, warmupSteps);
      const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
      const numCycles = 0.5;
      return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * numCycles * 2 * progress)));
    }
    default:
      throw new Error(`unknown schedule ${JSON.stringify(schedule)}`);
  }
}

/** The learning rate of optimizer update number `update` (1-based). */
export function learningRateAt(
  c: { schedule: ScheduleName; learningRate: number; warmupSteps: number; maxSteps: number },
  update: number,
): number {
  return c.learningRate * lrLambda(c.schedule, update - 1, c.warmupSteps, c.maxSteps);
}
