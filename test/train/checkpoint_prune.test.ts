/**
 * Checkpoint rotation without a window for half-deleted folders (src/train/checkpoint.ts):
 * old checkpoints are renamed to hidden names before anything in them is deleted, listing
 * and resume see only folders with trainer_state.json, removeStaleTemp puts a folder set
 * aside back only when its replacement never arrived, and saving never leaves more than
 * saveTotalLimit checkpoints, even for an instant (watched by polling the folder while a
 * run saves every step).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { listCheckpoints, pruneCheckpoints, removeStaleTemp, TRAINER_STATE_NAME } from '../../src/train/checkpoint';
import { train } from '../../src/train/trainer';
import { countingExamples, disposeTrainable, FAST, quiet, tinyTrainable } from './helpers';

async function fakeCheckpoint(dir: string, complete: boolean): Promise<void> {
  await mkdir(join(dir, 'adapter'), { recursive: true });
  await writeFile(join(dir, 'optimizer.safetensors'), 'x');
  if (complete) await writeFile(join(dir, TRAINER_STATE_NAME), '{}');
}

test('listing ignores trash and incomplete folders; removeStaleTemp clears them and restores only what was never replaced', async () => {
  const out = await mkdtemp(join(tmpdir(), 'ttslab-prune-'));
  try {
    await fakeCheckpoint(join(out, 'checkpoint-1'), true);
    await fakeCheckpoint(join(out, 'checkpoint-2'), false); // what a kill inside the old rm() left
    await fakeCheckpoint(join(out, 'checkpoint-4'), true);
    await fakeCheckpoint(join(out, '.tmp-trash-11-aa-checkpoint-0'), false);
    // Killed after setting checkpoint-3 aside, before its replacement (.tmp-22-bb) was renamed in: restore.
    await fakeCheckpoint(join(out, '.tmp-old-22-bb-checkpoint-3'), true);
    await fakeCheckpoint(join(out, '.tmp-22-bb'), true);
    // Killed after the replacement (.tmp-33-cc, now gone) arrived: the one set aside goes.
    await fakeCheckpoint(join(out, '.tmp-old-33-cc-checkpoint-5'), true);
    assert.deepEqual((await listCheckpoints(out)).map((c) => c.step), [1, 4]);
    const removed = await removeStaleTemp(out);
    assert.deepEqual(removed.sort(), ['.tmp-22-bb', '.tmp-old-22-bb-checkpoint-3', '.tmp-old-33-cc-checkpoint-5', '.tmp-trash-11-aa-checkpoint-0', 'checkpoint-2'].sort());
    assert.deepEqual((await readdir(out)).sort(), ['checkpoint-1', 'checkpoint-3', 'checkpoint-4']);
    assert.deepEqual((await listCheckpoints(out)).map((c) => c.step), [1, 3, 4]);
    await pruneCheckpoints(out, 2);
    assert.deepEqual(await readdir(out).then((n) => n.sort()), ['checkpoint-3', 'checkpoint-4']);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('saving every step with saveTotalLimit 2: never more than 2 checkpoints in the folder, at any moment', async () => {
  await tf.setBackend('cpu');
  const out = await mkdtemp(join(tmpdir(), 'ttslab-prune-run-'));
  const seen: number[] = [];
  let watching = true;
  // Polls the folder as fast as the event loop lets it while the run saves.
  const watcher = (async () => {
    while (watching) {
      let names: string[] = [];
      try {
        names = readdirSync(out);
      } catch {
        /* not created yet */
      }
      seen.push(names.filter((n) => /^checkpoint-\d+$/.test(n)).length);
      await new Promise((r) => setImmediate(r));
    }
  })();
  const model = tinyTrainable(FAST, 7);
  try {
    await train(model, countingExamples(10), { ...FAST, maxSteps: 6, saveSteps: 1, saveTotalLimit: 2, outputDir: out }, quiet);
  } finally {
    watching = false;
    await watcher;
    disposeTrainable(model);
  }
  assert.ok(seen.length > 20, `only ${seen.length} looks at the folder`);
  assert.equal(Math.max(...seen), 2, `checkpoint counts seen: ${[...new Set(seen)]}`);
  assert.deepEqual((await listCheckpoints(out)).map((c) => c.step), [5, 6]);
  assert.ok(!(await readdir(out)).some((n) => n.startsWith('.tmp-')), 'no hidden folder left');
  await rm(out, { recursive: true, force: true });
});
