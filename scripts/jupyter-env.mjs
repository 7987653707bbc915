// Shared by workshop.mjs, start.mjs and the notebook tests: locating Jupyter's Python.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Python interpreters to try, best first: $TTSLAB_PYTHON, the one `jupyter` runs on, then python3s. */
function candidates() {
  const out = [];
  if (process.env.TTSLAB_PYTHON) out.push(process.env.TTSLAB_PYTHON);
  const which = spawnSync('sh', ['-c', 'command -v jupyter'], { encoding: 'utf8' }).stdout.trim();
  if (which) {
    try {
      const shebang = readFileSync(which, 'utf8').split('\n')[0];
      if (shebang.startsWith('#!')) out.push(shebang.slice(2).trim().split(/\s+/).pop());
    } catch {
      // not a script
    }
  }
  out.push('python3', '/usr/bin/python3');
  return [...new Set(out)];
}

/** A Python that can import nbclient, or null. */
export function findNbclientPython() {
  for (const py of candidates()) {
    const r = spawnSync(py, ['-c', 'import nbclient, nbformat'], { encoding: 'utf8' });
    if (!r.error && r.status === 0) return py;
  }
  return null;
}

export const NBCLIENT_MISSING = `No Python with nbclient was found (it runs notebooks through the Jupyter kernel protocol).
Install it with one of:
  python3 -m pip install --user jupyterlab nbclient
  sudo apt-get install jupyter-notebook jupyter-client python3-nbclient     (Debian / Ubuntu)
or point TTSLAB_PYTHON at a Python that has it.`;
