#!/usr/bin/env node
// Registers (or with --uninstall removes) the Jupyter kernel "TypeScript (ttslab)" for
// the current user. The kernel runs the tslab pinned in this project's node_modules with
// the node binary running this script, so notebooks get the same TypeScript, tslab and
// ttslab versions as `npm test`, whatever else is on PATH. Running it again is harmless:
// the spec is rewritten in place.
//
//   npm run kernel                  register (or refresh) the kernel
//   npm run kernel -- --uninstall   remove it
//   npm run kernel -- --print       print the kernel.json it would write, change nothing
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const KERNEL_NAME = 'ttslab';
export const DISPLAY_NAME = 'TypeScript (ttslab)';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const JUPYTER_MISSING = `jupyter was not found on PATH. Install it with one of:
  python3 -m pip install --user jupyterlab
  sudo apt-get install jupyter-notebook python3-nbclient     (Debian / Ubuntu)
then run: npm run kernel`;

/** The kernel.json that starts this project's tslab. */
export function kernelSpec() {
  const tslab = join(root, 'node_modules', 'tslab', 'bin', 'tslab');
  return {
    argv: [process.execPath, tslab, 'kernel', '--config-path', '{connection_file}'],
    display_name: DISPLAY_NAME,
    language: 'typescript',
    interrupt_mode: 'signal',
    metadata: { ttslab_root: root },
  };
}

/**
 * Runs `jupyter kernelspec ARGS`. Some installs (Debian's jupyter-notebook without the
 * jupyter-client package) have jupyter but not its kernelspec subcommand; the same app
 * then runs as a module under the Python that jupyter itself uses.
 */
function kernelspec(args) {
  const r = spawnSync('jupyter', ['kernelspec', ...args], { encoding: 'utf8' });
  if (r.error || !/jupyter-kernelspec` not found/.test(r.stderr ?? '')) return r;
  const which = spawnSync('sh', ['-c', 'command -v jupyter'], { encoding: 'utf8' }).stdout.trim();
  let python = 'python3';
  try {
    const shebang = readFileSync(which, 'utf8').split('\n')[0];
    if (shebang.startsWith('#!')) python = shebang.slice(2).trim().split(/\s+/).pop();
  } catch {
    // keep python3
  }
  return spawnSync(python, ['-m', 'jupyter_client.kernelspecapp', ...args], { encoding: 'utf8' });
}

/** Kernel specs Jupyter knows, or null when jupyter is missing. */
export function listKernels() {
  const r = kernelspec(['list', '--json']);
  if (r.error) return null;
  if (r.status !== 0) throw new Error(`jupyter kernelspec list failed: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout).kernelspecs ?? {};
}

export function install() {
  if (listKernels() === null) {
    console.error(JUPYTER_MISSING);
    return 1;
  }
  const spec = kernelSpec();
  if (!existsSync(spec.argv[1])) {
    console.error(`tslab is not installed in ${join(root, 'node_modules')}: run npm install first`);
    return 1;
  }
  const dir = mkdtempSync(join(tmpdir(), 'ttslab-kernel-'));
  try {
    writeFileSync(join(dir, 'kernel.json'), JSON.stringify(spec, null, 2) + '\n');
    const logo = join(root, 'kernel-setup', 'logo-64x64.png');
    if (existsSync(logo)) copyFileSync(logo, join(dir, 'logo-64x64.png'));
    const r = kernelspec(['install', '--user', '--replace', '--name', KERNEL_NAME, dir]);
    if (r.status !== 0) {
      console.error(`jupyter kernelspec install failed (exit ${r.status}):\n${r.stderr.trim()}`);
      return 1;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const where = listKernels()?.[KERNEL_NAME]?.resource_dir;
  if (!where) {
    console.error('the kernel was installed but `jupyter kernelspec list` does not show it; check JUPYTER_PATH / JUPYTER_DATA_DIR');
    return 1;
  }
  console.log(`Registered Jupyter kernel "${DISPLAY_NAME}" (name: ${KERNEL_NAME}) in ${where}`);
  console.log(`It runs ${spec.argv[0]} ${spec.argv[1]}`);
  return 0;
}

export function uninstall() {
  const kernels = listKernels();
  if (kernels === null) {
    console.error(JUPYTER_MISSING);
    return 1;
  }
  if (!kernels[KERNEL_NAME]) {
    console.log(`Kernel "${KERNEL_NAME}" is not registered; nothing to remove.`);
    return 0;
  }
  const r = kernelspec(['remove', '-y', '-f', KERNEL_NAME]);
  if (r.status !== 0) {
    console.error(`jupyter kernelspec remove failed (exit ${r.status}):\n${r.stderr.trim()}`);
    return 1;
  }
  console.log(`Removed Jupyter kernel "${KERNEL_NAME}".`);
  return 0;
}

/** Registers the kernel unless an up-to-date spec is already there (used by npm start / workshop). */
export function ensureKernel() {
  const kernels = listKernels();
  if (kernels === null) {
    console.error(JUPYTER_MISSING);
    return 1;
  }
  const existing = kernels[KERNEL_NAME];
  if (existing && JSON.stringify(existing.spec?.argv) === JSON.stringify(kernelSpec().argv)) return 0;
  return install();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => !['--uninstall', '--print'].includes(a));
  if (unknown.length) {
    console.error(`unknown option ${unknown.join(' ')}; use --uninstall or --print`);
    process.exit(2);
  }
  if (args.includes('--print')) {
    console.log(JSON.stringify(kernelSpec(), null, 2));
    process.exit(0);
  }
  process.exit(args.includes('--uninstall') ? uninstall() : install());
}
