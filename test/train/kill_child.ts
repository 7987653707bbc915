/**
 * Child process for the SIGKILL test: the CLI's run, except that with KILL_IN_SAVE=<step>
 * it SIGKILLs itself in the middle of writing that step's checkpoint (after the adapter,
 * before the optimizer state and trainer_state.json), the worst moment for atomicity.
 */
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { LlamaForCausalLM } from '../../src/models/llama/modeling';
import { fromHfConfig } from '../../src/models/llama/config';
import { validateTrainConfig } from '../../src/train/config';
import { LlamaLoraTrainable } from '../../src/train/llama';
import { readTokenExamples, validateRunFile } from '../../src/train/cli';
import { train } from '../../src/train/trainer';

async function run(file: string): Promise<void> {
  await tf.setBackend('cpu');
  const r = validateRunFile(JSON.parse(await readFile(file, 'utf8')), file);
  const c = validateTrainConfig(r.train);
  const spec = r.model as { random: Record<string, unknown>; seed?: number; std?: number };
  const model = LlamaLoraTrainable.create(LlamaForCausalLM.random(fromHfConfig(spec.random), { seed: spec.seed, std: spec.std }), c);
  const killAt = Number(process.env.KILL_IN_SAVE ?? 0);
  let step = 0;
  const save = model.save.bind(model);
  model.save = async (dir: string) => {
    await save(dir);
    if (killAt > 0 && step + 1 === killAt && dir.includes('.tmp-')) process.kill(process.pid, 'SIGKILL');
  };
  await train(model, await readTokenExamples(r.data), c, { progress: 'none', log: () => undefined, onStep: (m) => { step = m.step; } });
}

run(process.argv[2]).catch((e) => {
  console.error(e);
  process.exit(1);
});
