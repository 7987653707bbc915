/**
 * Seeded fuzzing of the five parsers that read user files: safetensors headers (and the
 * tensor reads after them), transcripts (.json/.srt/.vtt), WAV headers, Parquet datasets
 * and training configs. Each runs FUZZ_CASES (default 10 000) cases in a child process
 * (children/fuzz_child.ts) that prints a line before each case; a watchdog here kills the
 * child when one case runs longer than the per-case limit (a hang) and the child's exit
 * status catches a crash. Every case must end in success or the parser's own error class.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, bundled, recordFigures } from './helpers/common';

const CASES = Number(process.env.FUZZ_CASES ?? 10_000);
/** A hang: one case taking longer than this (the Parquet reader's own decode limit in the fuzz is 2 s). */
const CASE_LIMIT_MS = 15_000;
const PARSERS = [
  { name: 'safetensors', seed: 1501, what: 'safetensors header + tensor reads (readHeader, SafetensorsFile)' },
  { name: 'transcript', seed: 1502, what: 'transcript JSON/SRT/VTT (readTranscript)' },
  { name: 'wav', seed: 1503, what: 'WAV header (decodeWav)' },
  { name: 'parquet', seed: 1504, what: 'Parquet dataset reader (readParquet)' },
  { name: 'trainconfig', seed: 1505, what: 'train config (validateTrainConfig)' },
];

interface FuzzResult { parser: string; cases: number; outcomes: Record<string, number>; kinds: Record<string, number>; unexpected: unknown[]; unexpectedCount: number }

async function fuzz(parser: string, seed: number, dir: string): Promise<{ result?: FuzzResult; failure?: string; maxCaseMs: number; seconds: number }> {
  const script = await bundled('test/reliability/children/fuzz_child.ts');
  return new Promise((resolve) => {
    const t0 = Date.now();
    const p = spawn(process.execPath, [script, parser, String(CASES), String(seed), dir], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let current = -1;
    let last = Date.now();
    let maxCaseMs = 0;
    let result: FuzzResult | undefined;
    let failure: string | undefined;
    let stderr = '';
    let pending = '';
    p.stdout.on('data', (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith('C ')) {
          const now = Date.now();
          if (current >= 0) maxCaseMs = Math.max(maxCaseMs, now - last);
          current = Number(line.slice(2));
          last = now;
        } else if (line.startsWith('RESULT ')) result = JSON.parse(line.slice(7)) as FuzzResult;
      }
    });
    p.stderr.on('data', (d) => { stderr += d; });
    const watchdog = setInterval(() => {
      if (Date.now() - last > CASE_LIMIT_MS) {
        failure = `case ${current} (seed ${seed}) ran over ${CASE_LIMIT_MS / 1000} s: a hang`;
        p.kill('SIGKILL');
      }
    }, 250);
    p.on('exit', (code, signal) => {
      clearInterval(watchdog);
      if (!failure && (code !== 0 || !result)) failure = `child died at case ${current} (seed ${seed}): exit ${code} ${signal ?? ''} ${stderr.slice(-2000)}`;
      resolve({ result, failure, maxCaseMs: Math.max(maxCaseMs, Date.now() - last), seconds: (Date.now() - t0) / 1000 });
    });
  });
}

test(`fuzz: ${CASES} seeded cases per parser end in success or the parser's own error, none hangs or crashes`, { timeout: 900_000 }, async () => {
  const figures = [];
  const failures: string[] = [];
  const only = process.env.FUZZ_PARSERS?.split(',');
  for (const { name, seed, what } of PARSERS.filter((p) => !only || only.includes(p.name))) {
    const dir = mkdtempSync(join(tmpdir(), `ttslab-fuzz-${name}-`));
    try {
      const r = await fuzz(name, seed, dir);
      if (r.result && (r.result as unknown as { slow: unknown[] }).slow.length) console.log(`[reliability] ${name}: cases over 1 s: ${JSON.stringify((r.result as unknown as { slow: unknown[] }).slow)}`);
      if (r.failure) failures.push(`${name}: ${r.failure}`);
      else if (r.result!.unexpectedCount > 0) failures.push(`${name}: ${r.result!.unexpectedCount} cases threw foreign errors, e.g. ${JSON.stringify(r.result!.unexpected.slice(0, 3), null, 1)}`);
      const o = r.result?.outcomes ?? {};
      figures.push({
        name: `fuzz cases run: ${what}`, value: r.result?.cases ?? 0,
        detail: `seed ${seed}; outcomes ${Object.entries(o).map(([k, n]) => `${k} ${n}`).join(', ')}; slowest case ${r.maxCaseMs} ms; ${r.seconds.toFixed(1)} s`,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  recordFigures('fuzz', figures);
  assert.deepEqual(failures, []);
  for (const f of figures) assert.equal(f.value, CASES);
  assert.equal(figures.length, only ? only.length : PARSERS.length);
});
