/**
 * A full disk: every writer fails with a message naming the file it could not write and
 * "no space left", and leaves the previous version whole. Two ways: a real size-limited
 * tmpfs mounted by the test when it may mount (root with CAP_SYS_ADMIN), and always an
 * injected ENOSPC (helpers/enospc.ts) that lets each writer run out at every stage.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { encodeWav } from '../../src/audio/wav';
import { loadDataset, saveDataset, type DatasetRow } from '../../src/data/dataset';
import { writeSafetensors, SafetensorsFile } from '../../src/weights/safetensors';
import { writeTranscript } from '../../src/transcript/write';
import { readTranscript } from '../../src/transcript/read';
import { listCheckpoints, readTrainerState } from '../../src/train/checkpoint';
import { train } from '../../src/train/trainer';
import { FAST, countingExamples, disposeTrainable, quiet, tinyTrainable } from '../train/helpers';
import { datasetVersion, versionOf } from './helpers/dataset_versions';
import { withDiskLimit } from './helpers/enospc';
import { recordFigures } from './helpers/common';

let dir: string;
const results: string[] = [];
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ttslab-rel-full-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
  recordFigures('disk-full', [{ name: 'disk-full cases', value: results.length, detail: results.join('; ') }]);
});

const NO_SPACE = /no space left on the disk/;

/** Every stage of a write: with 0, a little, half and almost all of the bytes it needs free. */
function budgets(needed: number): number[] {
  return [0, 100, Math.floor(needed / 2), needed - 1];
}

describe('injected ENOSPC (any user)', () => {
  test('saveDataset: the error names the split file; the previous dataset stays whole', async () => {
    const d = join(dir, 'ds');
    mkdirSync(d);
    await saveDataset(d, datasetVersion(1));
    // Bytes the new version writes (train and validation; the test split is kept by a link).
    const needed = ['train', 'validation'].reduce((n, s) => n + readFileSync(join(d, 'data', `${s}-00000-of-00001.parquet`)).length, 0);
    for (const free of [0, 100, Math.floor(needed / 2), needed - 2000]) {
      await assert.rejects(withDiskLimit(d, free, () => saveDataset(d, datasetVersion(2))), (e: Error) => {
        assert.match(e.message, NO_SPACE);
        assert.match(e.message, /ds\/data\/(train|validation)-00000-of-00001\.parquet: /, e.message);
        return true;
      });
      assert.equal(versionOf(await loadDataset(d, { split: 'train' }), 'train'), 1);
      assert.equal(versionOf(await loadDataset(d, { split: 'validation' }), 'validation'), 1);
      assert.deepEqual(readdirSync(d), ['data'], 'no staging folder left');
    }
    results.push('saveDataset: 4 budgets, previous version whole');
  });

  test('writeSafetensors: names the file; the old file is unchanged; no temp file left', async () => {
    const d = join(dir, 'st');
    mkdirSync(d);
    const f = join(d, 'model.safetensors');
    await writeSafetensors(f, { w: { dtype: 'F32', shape: [64], data: new Float32Array(64).fill(1) } });
    const before = readFileSync(f);
    for (const free of budgets(before.length)) {
      await assert.rejects(withDiskLimit(d, free, () => writeSafetensors(f, { w: { dtype: 'F32', shape: [64], data: new Float32Array(64).fill(2) } })), (e: Error) => {
        assert.match(e.message, NO_SPACE);
        assert.ok(e.message.startsWith(`${f}: `), e.message);
        return true;
      });
      assert.ok(readFileSync(f).equals(before));
      assert.deepEqual(readdirSync(d), ['model.safetensors']);
    }
    assert.deepEqual([...(await (await SafetensorsFile.open(f)).read('w')).data as Float32Array].slice(0, 2), [1, 1]);
    results.push('writeSafetensors: old file unchanged');
  });

  test('writeTranscript: names the file; the old transcript is unchanged', async () => {
    const d = join(dir, 'tr');
    mkdirSync(d);
    const f = join(d, 'talk.json');
    await writeTranscript(f, { segments: [{ id: 0, start: 0, end: 1, text: ' Old text.' }] });
    const before = readFileSync(f);
    await assert.rejects(withDiskLimit(d, 10, () => writeTranscript(f, { segments: [{ id: 0, start: 0, end: 1, text: ' New text, longer than ten bytes.' }] })), (e: Error) => {
      assert.match(e.message, NO_SPACE);
      assert.ok(e.message.startsWith(`${f}: `), e.message);
      return true;
    });
    assert.ok(readFileSync(f).equals(before));
    assert.equal((await readTranscript(f)).segments[0]!.text, ' Old text.');
    results.push('writeTranscript: old file unchanged');
  });

  test('checkpoint saving: names the checkpoint folder; earlier checkpoints load; resume works once space is back', async () => {
    await tf.setBackend('cpu');
    const out = join(dir, 'run');
    const cfg = { ...FAST, outputDir: out, saveSteps: 1, maxSteps: 2, resume: true, saveTotalLimit: 0 };
    let m = tinyTrainable(cfg);
    await train(m, countingExamples(8), cfg, quiet);
    disposeTrainable(m);
    const cp2 = readdirSync(join(out, 'checkpoint-2', 'adapter')).map((n) => readFileSync(join(out, 'checkpoint-2', 'adapter', n)));
    // Room for the metrics line of step 3, not for its checkpoint.
    m = tinyTrainable({ ...cfg, maxSteps: 4 });
    await assert.rejects(withDiskLimit(out, 2000, () => train(m, countingExamples(8), { ...cfg, maxSteps: 4 }, quiet)), (e: Error) => {
      assert.match(e.message, NO_SPACE);
      assert.ok(e.message.startsWith(`${join(out, 'checkpoint-3')}: `), e.message);
      return true;
    });
    disposeTrainable(m);
    assert.deepEqual((await listCheckpoints(out)).map((c) => c.step), [1, 2]);
    assert.equal((await readTrainerState(join(out, 'checkpoint-2'))).step, 2);
    assert.deepEqual(readdirSync(join(out, 'checkpoint-2', 'adapter')).map((n) => readFileSync(join(out, 'checkpoint-2', 'adapter', n))), cp2);
    assert.ok(!readdirSync(out).some((n) => n.startsWith('.tmp-')), 'the failed save left a temp folder');
    m = tinyTrainable({ ...cfg, maxSteps: 4 });
    const r = await train(m, countingExamples(8), { ...cfg, maxSteps: 4 }, quiet);
    disposeTrainable(m);
    assert.equal(r.steps, 4);
    assert.match(r.resumedFrom ?? '', /checkpoint-2$/);
    results.push('checkpoint: checkpoints 1-2 whole, resume from 2 after space is back');
  });
});

describe('a real small filesystem (tmpfs of 1 MiB)', () => {
  let mnt = '';
  let why = '';
  before(() => {
    mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { stdio: 'pipe' });
    } catch (e) {
      why = `cannot mount a tmpfs here (uid ${process.getuid?.()}): ${String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim()}`;
      mnt = '';
    }
  });
  after(() => {
    if (mnt) execFileSync('umount', [mnt]);
  });
  test('saveDataset of 2 MiB of audio into 1 MiB: ENOSPC from the kernel names the file; the old dataset stays', async (t) => {
    if (!mnt) {
      t.skip(why);
      results.push(`tmpfs: skipped (${why})`);
      return;
    }
    const d = join(mnt, 'ds');
    mkdirSync(d);
    await saveDataset(d, datasetVersion(1));
    const big = (i: number): DatasetRow => {
      const x = Float32Array.from({ length: 16000 * 8 }, (_, t) => 0.3 * Math.sin(t * (0.01 + i * 0.001)));
      return { audio: { bytes: new Uint8Array(encodeWav({ sampleRate: 16000, channels: [x] }).bytes), path: `big${i}.wav` }, text: `big clip ${i}`, source: 0, duration: 8 };
    };
    await assert.rejects(saveDataset(d, { train: Array.from({ length: 8 }, (_, i) => big(i)) }), (e: Error) => {
      assert.match(e.message, NO_SPACE);
      assert.match(e.message, /ds\/data\/train-00000-of-00001\.parquet: /, e.message);
      return true;
    });
    assert.equal(versionOf(await loadDataset(d, { split: 'train' }), 'train'), 1);
    assert.deepEqual(readdirSync(d), ['data']);
    assert.ok(existsSync(join(d, 'data', 'test-00000-of-00001.parquet')));
    results.push('tmpfs 1 MiB: real ENOSPC, previous dataset whole');
  });
});
