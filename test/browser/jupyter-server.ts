// A Jupyter server on loopback with the ttslab kernel, for browser tests: JupyterLab when
// installed, else the classic Notebook. Everything (data, runtime, config dirs) lives in a
// temporary folder removed by stop().
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { isolatedJupyterEnv } from '../helpers/jupyter';

const root = resolve(__dirname, '..', '..');

export interface JupyterServer {
  app: 'lab' | 'notebook';
  url: string;
  token: string;
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

export async function startJupyter(notebookDir: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<JupyterServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ttslab-browser-'));
  const env = isolatedJupyterEnv(dir, extraEnv);
  const reg = spawnSync(process.execPath, [join(root, 'kernel-setup', 'kernel.mjs')], { encoding: 'utf8', env });
  if (reg.status !== 0) throw new Error(`kernel registration failed: ${reg.stderr}`);
  const lab = spawnSync('jupyter', ['lab', '--version'], { encoding: 'utf8', env });
  const app = !lab.error && lab.status === 0 ? 'lab' : 'notebook';
  const port = await freePort();
  const token = 'ttslab-test-token';
  const args = [app, '--no-browser', '--ip=127.0.0.1', `--port=${port}`, '--port-retries=0', `--NotebookApp.token=${token}`, `--ServerApp.token=${token}`];
  if (process.getuid?.() === 0) args.push('--allow-root');
  const child: ChildProcess = spawn('jupyter', args, { cwd: notebookDir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const r = await fetch(`${url}/api/status?token=${token}`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`jupyter ${app} did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    app,
    url,
    token,
    env,
    async stop() {
      // Kernels run in process sessions of their own, so killing the server's group misses
      // them; alive, they would keep the server's stdout pipes (and this test process) open.
      try {
        const kernels = (await (await fetch(`${url}/api/kernels?token=${token}`)).json()) as { id: string }[];
        await Promise.all(kernels.map((k) => fetch(`${url}/api/kernels/${k.id}?token=${token}`, { method: 'DELETE' })));
      } catch {
        // server already gone
      }
      for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
        try {
          process.kill(-child.pid!, sig);
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      child.stdout!.destroy();
      child.stderr!.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Chromium flags for a closed network: no background connections, no sandbox as root. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];
