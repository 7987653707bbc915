/**
 * Crash safety of dataset writing (saveDataset, Parquet): a child saving the next version of
 * a dataset is SIGKILLed at seeded filesystem operations (helpers/killpoint.ts). After each
 * kill every split reads back whole and all splits are the same version, the previous one
 * or the new one; the next child resumes from what is there and saves the next version.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../../src/data/dataset';
import { killPoints, recordFigures, runWithKillPoint } from './helpers/common';
import { versionOf } from './helpers/dataset_versions';

const SEED = 15_001;
const POINTS = 50;
const CHILD = 'test/reliability/children/dataset_child.ts';

/** The dataset's version (0: none yet); throws if any split is damaged or splits disagree. */
async function datasetState(dir: string): Promise<number> {
  let train;
  try {
    train = await loadDataset(dir, { split: 'train' });
  } catch (e) {
    assert.match((e as Error).message, /no Parquet files for split "train"/);
    assert.ok(!readdirSync(dir).includes('data') || readdirSync(join(dir, 'data')).length === 0, 'no train split but a data/ folder with files');
    return 0;
  }
  const v = versionOf(train, 'train');
  assert.equal(versionOf(await loadDataset(dir, { split: 'validation' }), 'validation'), v, 'validation is another version than train');
  assert.equal(versionOf(await loadDataset(dir, { split: 'test' }), 'test'), 1, 'the test split (written by version 1 only) changed');
  return v;
}

test(`dataset writing: SIGKILL at ${POINTS} seeded filesystem operations, never a half-written or mixed dataset`, { timeout: 600_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ttslab-rel-ds-'));
  const dir = join(tmp, 'dataset');
  mkdirSync(dir);
  const note = join(tmp, 'note.json');
  try {
    // Dry runs: version 1 from nothing, then version 2 over it (the steady state), counting operations.
    const first = await runWithKillPoint(CHILD, [dir], dir, 0, note);
    assert.equal(first.code, 0, first.stderr);
    const dry = await runWithKillPoint(CHILD, [dir], dir, 0, note);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(await datasetState(dir), 2);
    const ops = dry.note.operations!;
    assert.ok(ops >= 5, `a save made only ${ops} filesystem operations`);

    let version = 2;
    let survived = 0;
    let advanced = 0;
    const opsHit = new Set<string>();
    for (const k of killPoints(SEED, POINTS, ops)) {
      const r = await runWithKillPoint(CHILD, [dir], dir, k, note);
      assert.equal(r.signal, 'SIGKILL', `kill point ${k}: the child was not killed (exit ${r.code}): ${r.stderr}`);
      opsHit.add(r.note.op!.replace(/\d+[-.][0-9a-f]{8}/g, '#'));
      const now = await datasetState(dir);
      assert.ok(now === version || now === version + 1, `kill point ${k} (${r.note.op}): dataset is version ${now}, expected ${version} or ${version + 1}`);
      if (now > version) advanced++;
      version = now;
      survived++;
    }
    // Resume: the next save after all those kills finishes and gives the next version.
    const last = await runWithKillPoint(CHILD, [dir], dir, 0, note);
    assert.equal(last.code, 0, last.stderr);
    assert.equal(await datasetState(dir), version + 1);
    assert.deepEqual(readdirSync(dir).sort(), ['data'], 'a clean save leaves no hidden folders');
    recordFigures('crash-dataset', [
      { name: 'kill points survived: dataset writing (saveDataset)', value: survived, detail: `of ${POINTS}; ${opsHit.size} distinct operations hit (a whole save makes ${ops}, recovery after a kill a few more); ${advanced} kills came after the commit and left the new version, the rest the previous one` },
    ]);
    assert.equal(survived, POINTS);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
