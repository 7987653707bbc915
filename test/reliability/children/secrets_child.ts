/**
 * Secrets child: runs with a fake Hub token in its environment (HF_TOKEN or
 * HUGGING_FACE_HUB_TOKEN) and HF_ENDPOINT at a local server that echoes every request's
 * headers back in its error responses. It logs what a user would see (errors with their
 * stacks, training log lines) to stdout/stderr, writes the notebook display outputs it
 * produced to argv[2]/outputs.json, and trains into argv[2]/run (checkpoints, config,
 * metrics). The parent searches all of it for the token.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { setDisplaySink, type MimeBundle } from '../../../src/notebook/display';
import { checkEnvironment } from '../../../src/env/check';
import { showEnvironment } from '../../../src/env/show';
import { snapshot } from '../../../src/hub/snapshot';
import { pushFolderToHub } from '../../../src/hub/upload';
import { downloadFile } from '../../../src/data/download';
import { train } from '../../../src/train/trainer';
import { countingExamples, FAST, tinyTrainable } from '../../train/helpers';

/** Logs an error the way a notebook shows one: message, stack and every own property. */
function report(what: string, e: unknown): void {
  console.error(`${what} failed: ${(e as Error).message}`);
  console.error(inspect(e, { depth: 6 }));
  console.log(JSON.stringify({ what, message: (e as Error).message, stack: (e as Error).stack, cause: String((e as Error).cause ?? '') }));
}

async function main(out: string, full: boolean): Promise<void> {
  mkdirSync(out, { recursive: true });
  const outputs: { bundle: MimeBundle }[] = [];
  setDisplaySink((bundle) => outputs.push({ bundle }));
  showEnvironment(await checkEnvironment());
  const cache = join(out, 'hf-cache');
  await snapshot('someone/private-voice', { cacheDir: cache } as never).catch((e) => report('snapshot', e));
  await snapshot('someone/private-voice', { cacheDir: cache, repoType: 'dataset' } as never).catch((e) => report('dataset snapshot', e));
  await pushFolderToHub(out, 'someone/my-voice', { exclude: ['hf-cache'] }).catch((e) => report('push', e));
  // An explicit Authorization header to a plain download (a user passing the token by hand).
  await downloadFile(`${process.env.HF_ENDPOINT}/resolve/x.wav`, join(out, 'x.wav'), { progress: false, maxAttempts: 2, backoffSeconds: 0.01, headers: { Authorization: `Bearer ${process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN}` } }).catch((e) => report('download', e));
  if (full) {
    await tf.setBackend('cpu');
    const cfg = { ...FAST, outputDir: join(out, 'run'), saveSteps: 1, maxSteps: 2, livePlot: true };
    await train(tinyTrainable(cfg), countingExamples(8), cfg, { progress: 'terminal' });
  }
  writeFileSync(join(out, 'outputs.json'), JSON.stringify(outputs));
}

// exit at once: the environment check's WebGPU probe keeps the event loop alive for a minute.
main(process.argv[2]!, process.argv[3] === 'full').then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
