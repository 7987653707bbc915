// `npm start`: opens JupyterLab, or the classic Notebook where JupyterLab is missing, in
// notebooks/ with the ttslab kernel registered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { freePort } from '../browser/jupyter-server';
import { isolatedJupyterEnv } from '../helpers/jupyter';

const root = resolve(__dirname, '..', '..');

test('npm start serves notebooks/ with the ttslab kernel available', async () => {
  const data = mkdtempSync(join(tmpdir(), 'ttslab-start-'));
  const port = await freePort();
  const child = spawn(process.execPath, [join(root, 'scripts', 'start.mjs'), '--no-browser', '--ip=127.0.0.1', `--port=${port}`, '--port-retries=0'], {
    env: isolatedJupyterEnv(data),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  let exited = false;
  child.on('exit', () => (exited = true));
  try {
    // The server prints its URL (with a token) once it listens.
    const deadline = Date.now() + 60_000;
    let token = '';
    while (Date.now() < deadline && !exited) {
      const m = /http:\/\/127\.0\.0\.1:\d+\/(?:\S*)\?token=([0-9a-f]+)/.exec(log);
      if (m) {
        token = m[1]!;
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(token, `server did not start:\n${log}`);
    assert.match(log, /Starting jupyter (lab|notebook) in notebooks\//);
    const api = await fetch(`http://127.0.0.1:${port}/api/contents?token=${token}`).then((r) => r.json() as Promise<{ content: { name: string }[] }>);
    assert.ok(api.content.some((f) => f.name === '00_setup.ipynb'), 'the server root is notebooks/');
    const specs = await fetch(`http://127.0.0.1:${port}/api/kernelspecs?token=${token}`).then((r) => r.json() as Promise<{ kernelspecs: Record<string, { spec: { display_name: string } }> }>);
    assert.equal(specs.kernelspecs.ttslab?.spec.display_name, 'TypeScript (ttslab)');
  } finally {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
    await new Promise((r) => setTimeout(r, 500));
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    rmSync(data, { recursive: true, force: true });
  }
});
