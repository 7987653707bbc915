/**
 * Crash safety of the tokenization cache (tokenizeDataset): a child encoding 8 clips with
 * the tiny Mimi codec is SIGKILLed at seeded filesystem operations (helpers/killpoint.ts).
 * After each kill every cache entry on disk is byte-identical to the one an uninterrupted
 * run writes (never a partial entry under an entry's name); the next child reuses them,
 * removes the dead writer's temporary files and encodes only what is missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killPoints, recordFigures, runWithKillPoint } from './helpers/common';

const SEED = 15_002;
const POINTS = 50;
const CLIPS = 8;
const CHILD = 'test/reliability/children/tokenize_child.ts';

/** Every file under dir (relative path -> bytes). */
function files(dir: string, base = dir): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    const p = join(dir, n);
    try {
      for (const [k, v] of files(p, base)) out.set(k, v);
    } catch {
      // not a folder
    }
    try {
      out.set(p.slice(base.length + 1), readFileSync(p));
    } catch {
      // a folder
    }
  }
  return out;
}

interface Summary { summary: { cacheHits: number; cacheMisses: number; damagedEntries: number }; notices: string[] }

test(`tokenization cache: SIGKILL at ${POINTS} seeded filesystem operations, entries are whole or absent`, { timeout: 600_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ttslab-rel-tok-'));
  const cache = join(tmp, 'codes');
  const note = join(tmp, 'note.json');
  try {
    // Reference: an uninterrupted run's entries, and how many operations it makes.
    const dry = await runWithKillPoint(CHILD, [cache], cache, 0, note);
    assert.equal(dry.code, 0, dry.stderr);
    const ref = new Map([...files(cache)].filter(([k]) => k.endsWith('.codes')));
    assert.equal(ref.size, CLIPS);
    const opsPerEntry = dry.note.operations! / CLIPS;
    rmSync(cache, { recursive: true, force: true });

    let survived = 0;
    let rounds = 1;
    let tempsSeen = 0;
    const r = killPoints(SEED, POINTS, 1_000_000);
    for (let i = 0; i < POINTS; i++) {
      let present = [...files(cache).keys()].filter((k) => k.endsWith('.codes')).length;
      if (present === CLIPS) {
        // Everything is cached: start a new round from an empty cache so the next kill lands in writes.
        rmSync(cache, { recursive: true, force: true });
        present = 0;
        rounds++;
      }
      // A kill point among the operations this run will make: those of the missing entries, plus removing stale temp files.
      const temps = [...files(cache).keys()].filter((k) => k.endsWith('.tmp')).length;
      const k = 1 + (r[i]! % Math.round(opsPerEntry * (CLIPS - present) + temps));
      const run = await runWithKillPoint(CHILD, [cache], cache, k, note);
      assert.equal(run.signal, 'SIGKILL', `kill point ${k}: the child was not killed (exit ${run.code}): ${run.stderr}`);
      const now = files(cache);
      for (const [name, bytes] of now) {
        if (name.endsWith('.tmp')) {
          tempsSeen++;
          continue;
        }
        assert.ok(ref.has(name), `kill point ${k} (${run.note.op}): unexpected file ${name}`);
        assert.ok(bytes.equals(ref.get(name)!), `kill point ${k} (${run.note.op}): ${name} differs from the uninterrupted run's entry (${bytes.length} vs ${ref.get(name)!.length} bytes)`);
      }
      survived++;
    }
    // Resume: a run without a kill reuses every entry there, removes the temp files and encodes the rest.
    const before = [...files(cache).keys()].filter((k) => k.endsWith('.codes')).length;
    const staleBefore = [...files(cache).keys()].filter((k) => k.endsWith('.tmp')).length;
    const last = await runWithKillPoint(CHILD, [cache], cache, 0, note);
    assert.equal(last.code, 0, last.stderr);
    const s = JSON.parse(last.stdout.trim().split('\n').pop()!) as Summary;
    assert.equal(s.summary.damagedEntries, 0);
    assert.equal(s.summary.cacheHits, before);
    assert.equal(s.summary.cacheMisses, CLIPS - before);
    if (staleBefore > 0) assert.ok(s.notices.some((m) => m.includes(`removed ${staleBefore} temporary file`)), s.notices.join('\n'));
    const after = files(cache);
    assert.deepEqual([...after.keys()].filter((k) => k.endsWith('.tmp')), []);
    for (const [name, bytes] of ref) assert.ok(after.get(name)?.equals(bytes), `${name} after resume`);
    recordFigures('crash-tokenize', [
      { name: 'kill points survived: tokenization caching (tokenizeDataset)', value: survived, detail: `of ${POINTS}; ${rounds} round(s) from an empty cache; a temp file was on disk at ${tempsSeen} of the checks after a kill, and none after the resumed run; all ${CLIPS} entries byte-identical to an uninterrupted run's` },
    ]);
    assert.equal(survived, POINTS);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
