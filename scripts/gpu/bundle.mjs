// Bundles each entry a GPU machine runs into one minified CommonJS file (esbuild, the copy tsx
// depends on), so the pack carries no node_modules:
//   node scripts/gpu/bundle.mjs OUTDIR
// writes OUTDIR/<name>.js for bench/run.ts, bench/info.ts, bench/whisper.ts, bench/csm.ts, bench/lora_llama.ts and
// test/runtime/*.test.ts (as test-runtime-<name>.test.js), plus the tfjs wasm binaries the
// wasm backend loads from its own directory. The bundles expect, at run time:
//   - dawn.node next to them (scripts/gpu/pack.sh ships it xz-compressed, run.sh unpacks it):
//     the `webgpu` package (ESM, finds dawn.node from import.meta.url) is bundled with its
//     lookup rewritten to `<bundle dir>/dawn.node` (env TTSLAB_DAWN_NODE overrides);
//   - to live two folders below the repository root (.gpu-run/bundle/): `__dirname` and
//     `__filename` in the project's own sources are rewritten to their original place under
//     that root, so bench/results, package.json and test fixtures are found where git put them.
import { build } from '../../node_modules/esbuild/lib/main.js';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const outDir = resolve(process.argv[2] ?? join(root, '.gpu/bundle'));
mkdirSync(outDir, { recursive: true });

const entries = {};
for (const name of ['run', 'info', 'whisper', 'csm', 'lora_llama']) {
  const file = join(root, 'bench', `${name}.ts`);
  try {
    statSync(file);
    entries[`bench-${name}`] = file;
  } catch {
    console.error(`bundle: bench/${name}.ts missing, skipped`);
  }
}
for (const name of readdirSync(join(root, 'test/runtime')).sort()) {
  if (name.endsWith('.test.ts')) entries[`test-runtime-${name.replace(/\.ts$/, '')}`] = join(root, 'test/runtime', name);
}

/** `webgpu/index.js`: dawn.node from beside the bundle instead of from import.meta.url. */
const dawnPlugin = {
  name: 'dawn-beside-bundle',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]webgpu[\\/]index\.js$/ }, (args) => {
      let src = readFileSync(args.path, 'utf8');
      const before = src;
      src = src
        .replace(/const __dirname = dirname\(fileURLToPath\(import\.meta\.url\)\);/, '')
        .replace(/const require = createRequire\(import\.meta\.url\);/, '')
        .replace(
          /const dawnNodePath = join\(__dirname, 'dist', `\$\{process\.platform\}-\$\{arch\}`, 'dawn\.node'\);/,
          "const dawnNodePath = process.env.TTSLAB_DAWN_NODE || join(__ttslab_bundle_dir, 'dawn.node');",
        );
      if (src === before || /import\.meta/.test(src)) throw new Error(`bundle: webgpu/index.js changed shape; update the dawn plugin (${args.path})`);
      return { contents: src, loader: 'js' };
    });
  },
};

/** The project's own __dirname / __filename: their place in the checkout, not the bundle's. */
const dirnamePlugin = {
  name: 'project-dirname',
  setup(b) {
    b.onLoad({ filter: /\.(ts|mts|cts|js|mjs|cjs)$/ }, (args) => {
      if (args.path.includes(`${'/'}node_modules/`) || !args.path.startsWith(root)) return undefined;
      const src = readFileSync(args.path, 'utf8');
      if (!/\b__(dirname|filename)\b/.test(src)) return undefined;
      const relDir = relative(root, dirname(args.path));
      const relFile = relative(root, args.path);
      const contents = src
        .replace(/\b__dirname\b/g, `__ttslab_root_path(${JSON.stringify(relDir)})`)
        .replace(/\b__filename\b/g, `__ttslab_root_path(${JSON.stringify(relFile)})`);
      const ext = args.path.split('.').pop();
      return { contents, loader: ext.includes('ts') ? 'ts' : 'js' };
    });
  },
};

/**
 * Packages that never load on the GPU machine (tfjs-node needs CUDA 11.2; notebook-only ones):
 * a stub that throws MODULE_NOT_FOUND, as a missing package does, whatever node_modules sit
 * near the bundle (locally, an `external` would find the real tfjs-node and load a second tfjs).
 */
const ABSENT = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', 'tslab', 'zeromq', 'playwright-core'];
const absentPlugin = {
  name: 'absent-packages',
  setup(b) {
    const filter = new RegExp(`^(${ABSENT.map((p) => p.replace(/[/.-]/g, (c) => `\\${c}`)).join('|')})(/.*)?$`);
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'absent' }));
    b.onLoad({ filter: /.*/, namespace: 'absent' }, (args) => ({
      contents: `const e = new Error(${JSON.stringify(`Cannot find module '${args.path}' (not packed for the GPU machine: scripts/gpu/bundle.mjs)`)}); e.code = 'MODULE_NOT_FOUND'; throw e;`,
      loader: 'js',
    }));
  },
};

const banner = [
  '"use strict";',
  'var __ttslab_bundle_dir = __dirname;',
  "var __ttslab_root_path = (p) => require('node:path').resolve(process.env.TTSLAB_ROOT || require('node:path').join(__dirname, '..', '..'), p);",
].join('\n');

const result = await build({
  entryPoints: entries,
  outdir: outDir,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minify: true,
  treeShaking: true,
  legalComments: 'none',
  external: ['*.node'],
  banner: { js: banner },
  plugins: [absentPlugin, dawnPlugin, dirnamePlugin],
  logLevel: 'warning',
  metafile: true,
});

for (const f of readdirSync(join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist'))) {
  if (f.endsWith('.wasm')) copyFileSync(join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist', f), join(outDir, f));
}
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
  console.log(`${(meta.bytes / 1048576).toFixed(2).padStart(7)} MiB  ${basename(file)}`);
}
