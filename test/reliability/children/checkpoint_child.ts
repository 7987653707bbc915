/**
 * Crash-safety child: trains the tiny Llama + LoRA of test/train/helpers.ts on the counting
 * task, saving a checkpoint every step into argv[2] and resuming from the newest one, up to
 * argv[3] steps, under the seeded kill point of helpers/killpoint.ts. Prints the steps done.
 */
import { installKillHook } from '../helpers/killpoint';
import * as tf from '@tensorflow/tfjs';
import { train } from '../../../src/train/trainer';
import { countingExamples, quiet, tinyTrainable } from '../../train/helpers';
import type { TrainConfig } from '../../../src/train/config';

/** The run's settings; the constant schedule makes a step's math independent of maxSteps, so the chain may stop anywhere. */
export function runConfig(outputDir: string, maxSteps: number): Partial<TrainConfig> {
  return {
    loraR: 4, loraAlpha: 8, learningRate: 1e-2, warmupSteps: 0, schedule: 'constant', batchSize: 2, gradientAccumulationSteps: 2,
    maxSteps, optimizer: 'adamw_8bit', saveSteps: 1, saveTotalLimit: 2, seed: 5, outputDir, resume: true, livePlot: false,
  };
}

async function main(outputDir: string, maxSteps: number): Promise<void> {
  installKillHook();
  await tf.setBackend('cpu');
  const config = runConfig(outputDir, maxSteps);
  const model = tinyTrainable(config, 7);
  const r = await train(model, countingExamples(14), config, quiet);
  console.log(JSON.stringify({ steps: r.steps, resumedFrom: r.resumedFrom }));
}

main(process.argv[2]!, Number(process.argv[3])).catch((e) => {
  console.error(e);
  process.exit(1);
});
