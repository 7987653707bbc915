/**
 * The environment check behind notebooks/00_setup.ipynb: what the workshop needs, what
 * was found, and the fix for each missing part.
 */
import { existsSync, statfsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { INSTALL_HINTS, probeTool } from './tools';
import { version } from '../version';
import { PROJECT_ROOT } from '../paths';
import { initRuntime, type RuntimeInfo } from '../runtime';

export type CheckStatus = 'ok' | 'warn' | 'missing';

export interface CheckRow {
  component: string;
  /** `required` parts stop the workshop; `recommended` ones limit it; `optional` add to it. */
  need: 'required' | 'recommended' | 'optional';
  status: CheckStatus;
  found: string;
  /** What to do when status is not ok (empty when ok). */
  fix: string;
}

export interface EnvironmentReport {
  rows: CheckRow[];
  /** True when every required component is ok. */
  ok: boolean;
}


function nodeRow(): CheckRow {
  const [maj, min] = process.versions.node.split('.').map(Number) as [number, number];
  const ok = maj > 20 || (maj === 20 && min >= 19);
  return {
    component: 'Node.js',
    need: 'required',
    status: ok ? 'ok' : 'missing',
    found: `v${process.versions.node} (${process.execPath})`,
    fix: ok ? '' : `Node ${process.versions.node} is too old: ttslab needs require(esm). Install ${INSTALL_HINTS.node}`,
  };
}

async function backendRows(): Promise<CheckRow[]> {
  let info: RuntimeInfo;
  try {
    // `auto` picks the fastest backend that starts and never fails where cpu works.
    info = await initRuntime({ backend: 'auto' });
  } catch (e) {
    return [{ component: 'Tensor backend', need: 'required', status: 'missing', found: (e as Error).message, fix: 'npm install (installs @tensorflow/tfjs and its backends)' }];
  }
  const rows: CheckRow[] = [
    { component: 'Tensor backend', need: 'required', status: 'ok', found: `${info.backend}: ${info.reason}`, fix: '' },
  ];
  const gpu = info.webgpu;
  const webgpuSkipped = info.skipped.find((s) => s.backend === 'webgpu');
  if (gpu && !gpu.isFallbackAdapter) {
    const f16 = gpu.features.includes('shader-f16') ? 'f16' : 'no f16';
    const tc = gpu.subgroupMatrixConfigs.length ? `${gpu.subgroupMatrixConfigs.length} subgroup-matrix configs` : 'no subgroup matrices';
    rows.push({ component: 'GPU (WebGPU)', need: 'optional', status: 'ok', found: `${gpu.description || gpu.vendor} (${f16}, ${tc})`, fix: '' });
  } else {
    rows.push({
      component: 'GPU (WebGPU)',
      need: 'optional',
      status: 'warn',
      found: gpu ? `software adapter only (${gpu.description})` : (webgpuSkipped?.why ?? 'not used'),
      fix: 'Training the real models needs a GPU: on Linux install your GPU driver and libvulkan1 (sudo apt-get install libvulkan1); the mini models run on the CPU',
    });
  }
  return rows;
}

function toolRow(component: string, command: string, need: CheckRow['need'], hint: string, args = ['--version']): CheckRow {
  const t = probeTool(command, args);
  return {
    component,
    need,
    status: t.found ? 'ok' : need === 'optional' ? 'warn' : 'missing',
    found: t.found ? t.version! : t.problem!,
    fix: t.found ? '' : hint,
  };
}

function kernelRow(): CheckRow {
  const t = probeTool('jupyter', ['kernelspec', 'list', '--json']);
  if (!t.found) {
    return { component: 'Jupyter + ttslab kernel', need: 'recommended', status: 'missing', found: t.problem!, fix: INSTALL_HINTS.jupyter + '; then npm run kernel' };
  }
  // probeTool keeps only the first line; ask again for the whole JSON.
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
  const r = spawnSync('jupyter', ['kernelspec', 'list', '--json'], { encoding: 'utf8' });
  let specs: Record<string, { resource_dir: string }> = {};
  try {
    specs = JSON.parse(r.stdout).kernelspecs ?? {};
  } catch {
    // fall through: reported as not registered
  }
  const spec = specs['ttslab'];
  return spec
    ? { component: 'Jupyter + ttslab kernel', need: 'recommended', status: 'ok', found: `kernel "ttslab" in ${spec.resource_dir}`, fix: '' }
    : { component: 'Jupyter + ttslab kernel', need: 'recommended', status: 'missing', found: 'jupyter found, kernel "ttslab" not registered', fix: INSTALL_HINTS.kernel };
}

function diskRow(): CheckRow {
  try {
    const s = statfsSync(PROJECT_ROOT);
    const freeGiB = (s.bavail * s.bsize) / 2 ** 30;
    // The offline default needs little; real checkpoints need several GB each.
    const ok = freeGiB >= 10;
    return {
      component: 'Free disk (project folder)',
      need: 'recommended',
      status: ok ? 'ok' : 'warn',
      found: `${freeGiB.toFixed(1)} GiB free`,
      fix: ok ? '' : 'Real checkpoints need 3-16 GB each (plus the Hugging Face cache): free some space or set HF_HOME to a larger disk',
    };
  } catch (e) {
    return { component: 'Free disk (project folder)', need: 'recommended', status: 'warn', found: (e as Error).message, fix: '' };
  }
}

function tokenRow(): CheckRow {
  // Only whether a token is configured: its value is never read into the report.
  const home = process.env.HF_HOME ?? join(process.env.HOME ?? '', '.cache', 'huggingface');
  const fromEnv = Boolean(process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN);
  const fromFile = existsSync(process.env.HF_TOKEN_PATH ?? join(home, 'token'));
  return {
    component: 'Hugging Face token',
    need: 'optional',
    status: fromEnv || fromFile ? 'ok' : 'warn',
    found: fromEnv ? 'set in the environment' : fromFile ? 'token file present' : 'none',
    fix: fromEnv || fromFile ? '' : 'Only for gated models or pushing adapters: export HF_TOKEN=... (never paste it into a notebook cell)',
  };
}

/** Runs every check. Nothing here changes the machine. */
export async function checkEnvironment(): Promise<EnvironmentReport> {
  const built = existsSync(join(PROJECT_ROOT, 'dist', 'index.js'));
  const rows: CheckRow[] = [
    nodeRow(),
    {
      component: 'ttslab library',
      need: 'required',
      status: built ? 'ok' : 'missing',
      found: built ? `ttslab ${version}` : 'dist/ not built',
      fix: built ? '' : 'npm run build',
    },
    ...(await backendRows()),
    toolRow('ffmpeg (audio decoding)', 'ffmpeg', 'recommended', INSTALL_HINTS.ffmpeg, ['-version']),
    toolRow('yt-dlp (downloading talks)', 'yt-dlp', 'optional', INSTALL_HINTS['yt-dlp']),
    kernelRow(),
    diskRow(),
    {
      component: 'Memory',
      need: 'recommended',
      status: totalmem() >= 8 * 2 ** 30 ? 'ok' : 'warn',
      found: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
      fix: totalmem() >= 8 * 2 ** 30 ? '' : 'Less than 8 GiB: use the mini models and small batches',
    },
    tokenRow(),
  ];
  return { rows, ok: rows.every((r) => r.need !== 'required' || r.status === 'ok') };
}
