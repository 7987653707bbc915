/**
 * Crash safety of checkpoint saving (src/train/checkpoint.ts, through the trainer): a child
 * training a tiny Llama + LoRA with a checkpoint every step is SIGKILLed at seeded
 * filesystem operations (helpers/killpoint.ts); each next child resumes from the newest
 * checkpoint. After each kill every checkpoint folder is whole and loads, no committed step
 * is lost, and the metrics log reads; at the end the chain's loss curve equals an
 * uninterrupted run's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Checkpoint } from '../../src/weights/checkpoint';
import { listCheckpoints, readTrainerState, removeStaleTemp } from '../../src/train/checkpoint';
import { adapterFiles } from './helpers/adapter_versions';
import { readMetrics } from '../../src/train/metrics';
import { killPoints, recordFigures, runWithKillPoint } from './helpers/common';

const SEED = 15_003;
const POINTS = 50;
const CHILD = 'test/reliability/children/checkpoint_child.ts';
const FOREVER = 100_000; // maxSteps of the killed children: they never finish

/** Every checkpoint folder is whole: its files exist and parse, its tensors read. Returns the steps. */
async function checkpointsComplete(outputDir: string): Promise<number[]> {
  const cps = await listCheckpoints(outputDir);
  for (const c of cps) {
    const state = await readTrainerState(c.dir);
    assert.equal(state.step, c.step);
    for (const f of ['adapter/adapter_config.json', 'adapter/adapter_model.safetensors', 'optimizer.safetensors']) await access(join(c.dir, f));
    JSON.parse(await readFile(join(c.dir, 'adapter/adapter_config.json'), 'utf8'));
    for (const f of ['adapter/adapter_model.safetensors', 'optimizer.safetensors']) {
      const ck = await Checkpoint.open(join(c.dir, f));
      for (const k of ck.keys()) await ck.getF32(k);
    }
  }
  return cps.map((c) => c.step);
}

test(`checkpoint saving: SIGKILL at ${POINTS} seeded filesystem operations, resume continues with the same loss curve`, { timeout: 600_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ttslab-rel-ck-'));
  const out = join(tmp, 'run');
  const note = join(tmp, 'note.json');
  try {
    // Dry run: operations in 4 steps (each with a checkpoint), to place kill points.
    const dry = await runWithKillPoint(CHILD, [join(tmp, 'dry'), '4'], join(tmp, 'dry'), 0, note);
    assert.equal(dry.code, 0, dry.stderr);
    const opsPerStep = dry.note.operations! / 4;
    assert.ok(opsPerStep >= 20, `a step with its checkpoint made only ${opsPerStep} filesystem operations`);

    let newest = 0;
    let survived = 0;
    const killedIn = new Map<string, number>();
    // Kill within the first ~2.5 steps' operations of each child (its start-up, steps and saves).
    for (const k of killPoints(SEED, POINTS, Math.round(2.5 * opsPerStep))) {
      const r = await runWithKillPoint(CHILD, [out, String(FOREVER)], out, k, note);
      assert.equal(r.signal, 'SIGKILL', `kill point ${k}: the child was not killed (exit ${r.code}): ${r.stderr}`);
      const op = r.note.op!.split(' ')[0]!;
      const where = /checkpoint-|\.tmp-/.test(r.note.op!) ? 'checkpoint' : /metrics/.test(r.note.op!) ? 'metrics' : 'other';
      killedIn.set(`${op} (${where})`, (killedIn.get(`${op} (${where})`) ?? 0) + 1);
      const steps = await checkpointsComplete(out);
      const now = steps.length ? steps[steps.length - 1]! : 0;
      assert.ok(now >= newest, `kill point ${k} (${r.note.op}): newest checkpoint went back from ${newest} to ${now}`);
      // saveTotalLimit 2, plus one when the kill came between a save and the pruning after it.
      assert.ok(steps.length <= 3, `saveTotalLimit 2, found checkpoints ${steps}`);
      const metrics = await readMetrics(join(out, 'metrics.jsonl'));
      assert.ok(metrics.length >= now, `metrics log has ${metrics.length} steps, checkpoint ${now}`);
      newest = now;
      survived++;
    }
    assert.ok(newest >= 10, `the chain got only to step ${newest}: kills did not let it progress`);
    // Resume to the end, and the same run uninterrupted: identical losses.
    const final = newest + 2;
    const last = await runWithKillPoint(CHILD, [out, String(final)], out, 0, note);
    assert.equal(last.code, 0, last.stderr);
    assert.match(last.stdout, new RegExp(`"steps":${final},"resumedFrom":".*checkpoint-${newest}"`));
    const ref = await runWithKillPoint(CHILD, [join(tmp, 'ref'), String(final)], join(tmp, 'ref'), 0, note);
    assert.equal(ref.code, 0, ref.stderr);
    const got = await readMetrics(join(out, 'metrics.jsonl'));
    const want = await readMetrics(join(tmp, 'ref', 'metrics.jsonl'));
    assert.deepEqual(got.map((m) => m.step), want.map((m) => m.step));
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]!.loss - want[i]!.loss) <= 1e-6, `step ${i + 1}: loss ${got[i]!.loss} vs ${want[i]!.loss}`);
    assert.ok(!readdirSync(out).some((n) => n.startsWith('.tmp-')), 'a clean finish leaves no temp folder');
    recordFigures('crash-checkpoint', [
      { name: 'kill points survived: checkpoint saving (trainer + saveTrainerCheckpoint)', value: survived, detail: `of ${POINTS}; resumed chain reached step ${newest}; killed at: ${[...killedIn].map(([k, n]) => `${k} ${n}`).join(', ')}; final losses equal an uninterrupted run's for ${final} steps` },
    ]);
    assert.equal(survived, POINTS);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('replacing a folder (the final adapter/): a kill at every operation leaves the old or the new one after removeStaleTemp', { timeout: 300_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ttslab-rel-ad-'));
  const out = join(tmp, 'run');
  const note = join(tmp, 'note.json');
  const CHILD_AD = 'test/reliability/children/adapter_child.ts';
  const reset = () => {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(join(out, 'adapter'), { recursive: true });
    for (const [n, t] of Object.entries(adapterFiles('old'))) writeFileSync(join(out, 'adapter', n), t);
  };
  /** Which whole version adapter/ holds; throws when it is missing or mixed. */
  const version = () => {
    const got = Object.keys(adapterFiles('x')).map((n) => readFileSync(join(out, 'adapter', n), 'utf8'));
    for (const v of ['old', 'new']) if (got.every((t, i) => t === Object.values(adapterFiles(v))[i])) return v;
    throw new Error(`adapter/ is neither the old nor the new version: ${got.map((t) => t.slice(0, 40)).join(' | ')}`);
  };
  try {
    reset();
    const dry = await runWithKillPoint(CHILD_AD, [out, 'new'], out, 0, note);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(version(), 'new');
    const ops = dry.note.operations!;
    const seen: string[] = [];
    for (let k = 1; k <= ops; k++) {
      reset();
      const r = await runWithKillPoint(CHILD_AD, [out, 'new'], out, k, note);
      assert.equal(r.signal, 'SIGKILL', r.stderr);
      await removeStaleTemp(out);
      seen.push(`${k}:${r.note.op!.split(' ')[0]}=${version()}`);
      assert.deepEqual(readdirSync(out), ['adapter'], `kill at ${k} (${r.note.op}): ${readdirSync(out)}`);
    }
    // The kill between setting the old folder aside and renaming the new one in is among them.
    assert.ok(seen.some((s) => /rename=old/.test(s)), seen.join(' '));
    const olds = seen.filter((x) => x.endsWith('=old')).length;
    recordFigures('crash-adapter', [{ name: 'kill points survived: replacing the final adapter/ (writeDirAtomic), every operation', value: ops, detail: `kills at operations 1-${olds} left the old folder, ${olds + 1}-${ops} the new one (${seen[olds - 1]} is the kill between the two renames that used to lose it)` }]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
