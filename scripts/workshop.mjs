#!/usr/bin/env node
// `npm run workshop [-- FILTER...]`: executes every notebook in notebooks/ in order through
// the ttslab Jupyter kernel, writes the executed copies to runs/<timestamp>/, prints a
// table of status and seconds, and exits non-zero naming the failing notebook and cell.
// FILTERs (e.g. `00 03`) run only the notebooks whose names contain one of them;
// `--notebooks DIR` runs the notebooks of another folder (used by the tests).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureKernel } from '../kernel-setup/kernel.mjs';
import { findNbclientPython, NBCLIENT_MISSING } from './jupyter-env.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
let dir = join(root, 'notebooks');
const at = argv.indexOf('--notebooks');
if (at >= 0) {
  if (!argv[at + 1]) {
    console.error('--notebooks needs a folder');
    process.exit(2);
  }
  dir = resolve(argv[at + 1]);
  argv.splice(at, 2);
}
const filters = argv;

const python = findNbclientPython();
if (!python) {
  console.error(NBCLIENT_MISSING);
  process.exit(2);
}
if (ensureKernel() !== 0) process.exit(2);

const notebooks = readdirSync(dir)
  .filter((f) => /^\d\d_.*\.ipynb$/.test(f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (notebooks.length === 0) {
  console.error(`no notebook in ${dir} matches ${filters.join(' ')}`);
  process.exit(2);
}

const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/Z$/, '');
// TTSLAB_RUNS_DIR moves the run folders elsewhere (the tests use a temporary one).
const runDir = join(process.env.TTSLAB_RUNS_DIR ? resolve(process.env.TTSLAB_RUNS_DIR) : join(root, 'runs'), stamp);
mkdirSync(runDir, { recursive: true });
console.log(`ttslab workshop: ${notebooks.length} notebooks -> ${runDir}`);

const r = spawnSync(
  python,
  [join(root, 'scripts', 'run_notebooks.py'), '--out', runDir, '--json', join(runDir, 'results.json'), ...notebooks.map((n) => join(dir, n))],
  {
    stdio: 'inherit',
    // Notebooks read TTSLAB_RUN_DIR to put what they produce next to the executed copies.
    env: { ...process.env, TTSLAB_RUN_DIR: runDir, TTSLAB_HEADLESS: '1' },
  },
);
process.exit(r.status ?? 1);
