/** Shared pieces of the reliability suite: seeded numbers, child processes, figures. */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..', '..');

/** mulberry32: a small seeded PRNG in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const bundles = new Map<string, Promise<string>>();

/**
 * A child script bundled once (esbuild, the compiler tsx itself runs) into one CommonJS
 * file under node_modules/.cache, so the dozens of children a kill-point test starts each
 * load in a fraction of the time tsx takes to compile the sources again. Packages stay
 * external and resolve from the repository's node_modules; `__dirname` and `__filename`
 * keep the values they have in each source file (src/paths.ts finds the project root by them).
 */
export function bundled(file: string): Promise<string> {
  let out = bundles.get(file);
  if (out) return out;
  const esbuild = require('esbuild') as { build(o: Record<string, unknown>): Promise<unknown> };
  const outfile = join(ROOT, 'node_modules', '.cache', 'ttslab-reliability', `${process.pid}-${file.replace(/[^A-Za-z0-9]+/g, '_')}.cjs`);
  const sourcePaths = {
    name: 'source-paths',
    setup(b: { onLoad(o: { filter: RegExp }, f: (a: { path: string }) => { contents: string; loader: string }): void }) {
      b.onLoad({ filter: /\.ts$/ }, (a) => ({
        contents: readFileSync(a.path, 'utf8').replace(/\b__dirname\b/g, JSON.stringify(dirname(a.path))).replace(/\b__filename\b/g, JSON.stringify(a.path)),
        loader: 'ts',
      }));
    },
  };
  out = esbuild.build({ entryPoints: [join(ROOT, file)], bundle: true, platform: 'node', format: 'cjs', target: 'node20', packages: 'external', outfile, logLevel: 'error', plugins: [sourcePaths] })
    .then(() => {
      process.on('exit', () => rmSync(outfile, { force: true }));
      return outfile;
    });
  bundles.set(file, out);
  return out;
}

/** Runs a TypeScript file (bundled, see `bundled`) with node from the repository root; resolves when it exits. */
export async function runTs(file: string, args: string[] = [], env: Record<string, string> = {}, options: { timeoutMs?: number; nodeArgs?: string[] } = {}): Promise<ChildResult> {
  const script = await bundled(file);
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], {
      cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const timer = options.timeoutMs ? setTimeout(() => p.kill('SIGKILL'), options.timeoutMs) : undefined;
    p.on('error', rej);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, stdout, stderr });
    });
  });
}

// ---- figures: each test file records its numbers; z_summary.test.ts prints them -------

/** Where this run's figures go: one folder per test-runner process (the parent of every test file). */
export function figuresDir(): string {
  const dir = join(tmpdir(), `ttslab-reliability-figures-${process.ppid}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface Figure {
  /** What was measured (e.g. "kill points survived: dataset writing"). */
  name: string;
  value: number | string;
  unit?: string;
  detail?: string;
}

export function recordFigures(group: string, figures: Figure[]): void {
  writeFileSync(join(figuresDir(), `${group}.json`), JSON.stringify({ group, at: new Date().toISOString(), figures }, null, 2));
  for (const f of figures) console.log(`[reliability] ${group}: ${f.name} = ${f.value}${f.unit ? ` ${f.unit}` : ''}${f.detail ? ` (${f.detail})` : ''}`);
}

export function readFigures(): { group: string; at: string; figures: Figure[] }[] {
  const dir = figuresDir();
  return readdirSync(dir).filter((n) => n.endsWith('.json')).sort()
    .map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as { group: string; at: string; figures: Figure[] });
}

// ---- kill points ----------------------------------------------------------------------

export interface KillRun extends ChildResult {
  /** What the child's KILL_NOTE recorded: the operation it died at, or (not killed) how many it made. */
  note: { killedAt?: number; op?: string; operations?: number };
}

/**
 * Runs a child that imports helpers/killpoint.ts first, SIGKILLed at counted filesystem
 * operation `killAt` under `root` (0: not killed, the note says how many it made).
 */
export async function runWithKillPoint(file: string, args: string[], root: string, killAt: number, noteFile: string, env: Record<string, string> = {}): Promise<KillRun> {
  writeFileSync(noteFile, '');
  const r = await runTs(file, args, { ...env, KILL_ROOT: root, KILL_AT: String(killAt), KILL_NOTE: noteFile }, { timeoutMs: 120_000 });
  const text = readFileSync(noteFile, 'utf8').trim();
  return { ...r, note: text ? JSON.parse(text) : {} };
}

/** `n` seeded kill points in [1, max]. */
export function killPoints(seed: number, n: number, max: number): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => 1 + Math.floor(r() * max));
}
