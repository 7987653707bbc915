/**
 * Finding the external programs the workshop uses (ffmpeg, yt-dlp, jupyter) and saying
 * exactly how to install the ones that are missing.
 */
import { spawnSync } from 'node:child_process';

export interface ToolStatus {
  /** Program name as run. */
  command: string;
  found: boolean;
  /** First line of its version output, when found. */
  version?: string;
  /** Why it was not usable (ENOENT, non-zero exit, ...). */
  problem?: string;
}

/** Runs `command args` without a shell and reports the first line it prints. */
export function probeTool(command: string, args: string[] = ['--version'], env: NodeJS.ProcessEnv = process.env): ToolStatus {
  const r = spawnSync(command, args, { encoding: 'utf8', env, timeout: 30_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    return { command, found: false, problem: code === 'ENOENT' ? 'not on PATH' : r.error.message };
  }
  if (r.status !== 0) {
    return { command, found: false, problem: `exited with ${r.status}: ${(r.stderr || r.stdout).trim().split('\n')[0] ?? ''}` };
  }
  const first = `${r.stdout}\n${r.stderr}`.trim().split('\n')[0] ?? '';
  return { command, found: true, version: first.trim() };
}

/** How to install each tool, on Debian/Ubuntu and elsewhere. */
export const INSTALL_HINTS = {
  node: 'Node.js >= 20.19 (require(esm) on by default): https://nodejs.org, or Debian/Ubuntu: NodeSource packages',
  ffmpeg: 'sudo apt-get install ffmpeg   (macOS: brew install ffmpeg)',
  'yt-dlp': "pipx install yt-dlp   (or: python3 -m pip install --user yt-dlp; Debian's apt package is often too old for YouTube)",
  jupyter: 'python3 -m pip install --user jupyterlab   (Debian/Ubuntu: sudo apt-get install jupyter-notebook python3-nbclient)',
  kernel: 'npm run kernel',
} as const;
