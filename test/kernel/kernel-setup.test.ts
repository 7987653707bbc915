// `npm run kernel`: registers the ttslab kernel idempotently and removes it, against a
// real Jupyter installation with a throw-away JUPYTER_DATA_DIR.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { isolatedJupyterEnv } from '../helpers/jupyter';

const root = resolve(__dirname, '..', '..');
const script = join(root, 'kernel-setup', 'kernel.mjs');

function run(args: string[], env: NodeJS.ProcessEnv) {
  return spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', env });
}

function kernelspecs(env: NodeJS.ProcessEnv): Record<string, { resource_dir: string }> {
  const r = spawnSync('jupyter', ['kernelspec', 'list', '--json'], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout).kernelspecs;
}

test('kernel: registers, is idempotent, and uninstalls', () => {
  const data = mkdtempSync(join(tmpdir(), 'ttslab-jupyter-'));
  const env = isolatedJupyterEnv(data);
  try {
    const first = run([], env);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /Registered Jupyter kernel "TypeScript \(ttslab\)"/);
    const spec = JSON.parse(readFileSync(join(data, 'data', 'kernels', 'ttslab', 'kernel.json'), 'utf8'));
    assert.equal(spec.display_name, 'TypeScript (ttslab)');
    assert.equal(spec.argv[0], process.execPath, 'runs the node that ran the setup');
    assert.equal(spec.argv[1], join(root, 'node_modules', 'tslab', 'bin', 'tslab'), "runs the project's pinned tslab");
    assert.ok(existsSync(spec.argv[1]));
    assert.deepEqual(spec.argv.slice(2), ['kernel', '--config-path', '{connection_file}']);
    assert.ok(kernelspecs(env).ttslab, 'jupyter kernelspec list shows it');

    const second = run([], env);
    assert.equal(second.status, 0, second.stderr);
    assert.deepEqual(readdirSync(join(data, 'data', 'kernels')), ['ttslab'], 'running twice leaves one kernel');

    const un = run(['--uninstall'], env);
    assert.equal(un.status, 0, un.stderr);
    assert.equal(kernelspecs(env).ttslab, undefined);
    const again = run(['--uninstall'], env);
    assert.equal(again.status, 0, 'uninstalling twice is harmless');
    assert.match(again.stdout, /not registered/);
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
});

test('kernel: without jupyter it prints the install commands and fails', () => {
  const emptyPath = mkdtempSync(join(tmpdir(), 'ttslab-nopath-'));
  try {
    const r = run([], { ...process.env, PATH: emptyPath });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /python3 -m pip install --user jupyterlab/);
    assert.match(r.stderr, /apt-get install jupyter-notebook python3-nbclient/);
  } finally {
    rmSync(emptyPath, { recursive: true, force: true });
  }
});

test('kernel: unknown options are rejected', () => {
  const r = run(['--bogus'], process.env);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown option --bogus/);
});
