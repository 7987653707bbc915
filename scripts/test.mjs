// Runs every test file under test/ with node's built-in test runner (TypeScript through tsx).
// Usage: npm test [-- <substring filter on file paths>]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const filters = process.argv.slice(2);

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    if (name === 'node_modules' || name === 'fixtures' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (/\.test\.(ts|mts|js|mjs)$/.test(name)) out.push(relative(root, p));
  }
  return out;
}

const files = walk(join(root, 'test')).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`no test files match ${JSON.stringify(filters)}`);
  process.exit(1);
}
// Test files run one at a time: several spawn Jupyter kernels or use the (single) GPU
// device, and CI has 2 cores.
const args = ['--import', 'tsx', '--test', '--test-concurrency=1', ...files];
// Mesa's lavapipe (the CPU Vulkan device the WebGPU tests use) warns without a runtime dir.
const env = { ...process.env };
if (!env.XDG_RUNTIME_DIR) {
  env.XDG_RUNTIME_DIR = mkdtempSync(join(tmpdir(), 'ttslab-xdg-'));
}
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env });
process.exit(r.status ?? 1);
