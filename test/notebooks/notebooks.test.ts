// Notebooks executed through the real Jupyter kernel protocol (nbclient + the tslab
// kernel registered by kernel-setup), as `npm run workshop` runs them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { isolatedJupyterEnv } from '../helpers/jupyter';

const root = resolve(__dirname, '..', '..');
let data = '';
let env: NodeJS.ProcessEnv = {};

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, string | string[]>;
}
interface Notebook {
  cells: { cell_type: string; outputs?: Output[] }[];
}
const joined = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join('') : (v ?? ''));

before(() => {
  data = mkdtempSync(join(tmpdir(), 'ttslab-nbtest-'));
  env = isolatedJupyterEnv(data, { TTSLAB_RUNS_DIR: join(data, 'runs') });
  const r = spawnSync(process.execPath, [join(root, 'kernel-setup', 'kernel.mjs')], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
});
after(() => rmSync(data, { recursive: true, force: true }));

function workshop(args: string[]) {
  return spawnSync(process.execPath, [join(root, 'scripts', 'workshop.mjs'), ...args], { encoding: 'utf8', env, timeout: 600_000 });
}

function lastRun(): string {
  const runs = readdirSync(join(data, 'runs')).sort();
  return join(data, 'runs', runs[runs.length - 1]!);
}

test('00_setup runs through the ttslab kernel and shows the environment, audio and a plot', () => {
  const r = workshop(['00_setup']);
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /00_setup\.ipynb\s+ok\s+\d+\.\d/);
  const nb = JSON.parse(readFileSync(join(lastRun(), '00_setup.ipynb'), 'utf8')) as Notebook;
  const outputs = nb.cells.flatMap((c) => c.outputs ?? []);
  assert.ok(!outputs.some((o) => o.output_type === 'error'), 'no error outputs');
  const html = outputs.map((o) => joined(o.data?.['text/html'])).join('\n');
  const text = outputs.map((o) => joined(o.text)).join('\n');
  assert.match(text, /^ttslab \d+\.\d+\.\d+/m);
  assert.match(html, /<caption>Environment: ready<\/caption>/);
  for (const component of ['Node.js', 'Tensor backend', 'ffmpeg', 'Jupyter + ttslab kernel']) {
    assert.ok(html.includes(`<td>${component}`), `environment row ${component}`);
  }
  assert.match(html, /<audio controls preload="auto" src="data:audio\/wav;base64,UklGR/, 'an audio player with an inline WAV');
  assert.match(html, /class="ttslab-plot"/, 'a plot');
  assert.match(html, /window\.Plotly = Plotly/, 'plotly.js sent with the notebook');
  assert.match(text, /Ready for the workshop\./);
});

test('a failing cell stops the workshop with notebook, cell and error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ttslab-nbfail-'));
  try {
    const nb = (sources: string[]) =>
      JSON.stringify({
        cells: sources.map((s) => ({ cell_type: 'code', metadata: {}, execution_count: null, outputs: [], source: s })),
        metadata: { kernelspec: { name: 'ttslab', display_name: 'TypeScript (ttslab)', language: 'typescript' } },
        nbformat: 4,
        nbformat_minor: 5,
      });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '01_ok.ipynb'), nb(['console.log("fine")']));
    writeFileSync(join(dir, '02_throws.ipynb'), nb(['const a = 1;', 'throw new Error("clip 7 is longer than 30 s")', 'console.log("never")']));
    writeFileSync(join(dir, '03_later.ipynb'), nb(['console.log("skipped")']));
    const r = workshop(['--notebooks', dir]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /02_throws\.ipynb: cell 2 \(code cell 2\) failed: Error: clip 7 is longer than 30 s/);
    assert.match(r.stdout, /01_ok\.ipynb\s+ok/);
    assert.match(r.stdout, /03_later\.ipynb\s+skipped/);

    writeFileSync(join(dir, '02_throws.ipynb'), nb(['const n: number = "text";']));
    const c = workshop(['--notebooks', dir, '02']);
    assert.equal(c.status, 1);
    assert.match(c.stderr, /02_throws\.ipynb: cell 1 \(code cell 1\) failed: CompileError: 1:7 - Type 'string' is not assignable to type 'number'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
