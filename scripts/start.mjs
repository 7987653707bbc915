#!/usr/bin/env node
// `npm start`: registers the ttslab kernel if needed, then opens JupyterLab (or, when
// JupyterLab is not installed, the classic Notebook) in notebooks/. Extra arguments go
// to Jupyter, e.g. `npm start -- --no-browser --port 8890`.
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureKernel } from '../kernel-setup/kernel.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
if (ensureKernel() !== 0) process.exit(2);

const has = (sub) => {
  const r = spawnSync('jupyter', [sub, '--version'], { encoding: 'utf8' });
  return !r.error && r.status === 0;
};
const app = has('lab') ? 'lab' : has('notebook') ? 'notebook' : null;
if (!app) {
  console.error('Neither JupyterLab nor the classic Notebook was found. Install one:\n  python3 -m pip install --user jupyterlab\n  sudo apt-get install jupyter-notebook     (Debian / Ubuntu)');
  process.exit(2);
}
const args = process.argv.slice(2);
// Jupyter refuses to start as root without this; containers and cloud VMs often run as root.
if (process.getuid?.() === 0 && !args.includes('--allow-root')) {
  console.log('Running as root: passing --allow-root to Jupyter.');
  args.push('--allow-root');
}
console.log(`Starting jupyter ${app} in notebooks/ (kernel "TypeScript (ttslab)")`);
const child = spawn('jupyter', [app, ...args], { cwd: join(root, 'notebooks'), stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code) => process.exit(code ?? 0));
