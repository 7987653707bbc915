#!/usr/bin/env bash
# Packs what a GPU machine without a package registry needs to run ttslab's tests and bench
# into .gpu/ (git-ignored), under the device tool's 64 MiB carry limit:
#   .gpu/node.xz          this machine's node binary (process.execPath)
#   .gpu/payload.tar.xz   dist/ (built here) + node_modules without @tensorflow/tfjs-node-gpu
#                         (its native addon needs CUDA 11.2) and without notebook-only
#                         packages (tslab, zeromq, typescript), source maps, browser bundles
#   .gpu/debs/*.deb       the Vulkan loader and GL dispatch libraries the NVIDIA Vulkan ICD
#                         needs (libvulkan1 alone fails in vkCreateInstance: ../shared/GPU.md)
# Then on the GPU machine: scripts/gpu/run.sh <npm-script | command>  (carry: [".gpu"]).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
out=.gpu
limit_mib=64

rm -rf "$out"
mkdir -p "$out/debs"

# dist/ is git-ignored, so it must travel (built with the project's TypeScript 5.9, as `npm run build`:
# node_modules/.bin/tsc is tslab's 5.0). tsc emits even when files elsewhere in the tree
# have type errors; those belong to their own folders and must not stop a GPU run.
node node_modules/typescript/bin/tsc -p tsconfig.json || echo "pack: tsc reported errors (above); dist/ was emitted anyway" >&2

node_bin="$(node -p process.execPath)"
xz -T0 -6 -c "$node_bin" >"$out/node.xz"

# Only this platform's Dawn build travels (the others are 60 MB).
tar -cf - \
  --exclude='node_modules/@tensorflow/tfjs-node-gpu' \
  --exclude='node_modules/@tensorflow/tfjs-node' \
  --exclude='node_modules/webgpu/dist/darwin-*' \
  --exclude='node_modules/webgpu/dist/win32-*' \
  --exclude='node_modules/webgpu/dist/linux-arm64' \
  --exclude='node_modules/tslab' --exclude='node_modules/@tslab' --exclude='node_modules/zeromq' \
  --exclude='node_modules/typescript' --exclude='node_modules/cmake-ts' --exclude='node_modules/core-js' \
  --exclude='node_modules/rollup' --exclude='node_modules/@rollup' \
  --exclude='*.map' --exclude='*.min.js' --exclude='*.es2017.js' --exclude='*.fesm.js' --exclude='miniprogram' \
  dist node_modules | xz -T0 -6 >"$out/payload.tar.xz"

# amd64 .debs from Debian's archive (apt's own download, no install).
(cd "$out/debs" && apt-get download libvulkan1 libglvnd0 libglx0 libgl1 libegl1 libgles2 libopengl0 >/dev/null)

du -b "$out"/* "$out"/debs/* | awk '{printf "%8.1f MiB  %s\n", $1 / 1048576, $2}'
total=$(du -sb "$out" | cut -f1)
printf 'pack: %.1f MiB in %s (limit %d MiB)\n' "$(echo "$total / 1048576" | bc -l)" "$out" "$limit_mib"
if [ "$total" -gt $((limit_mib * 1048576)) ]; then
  echo "pack: over the ${limit_mib} MiB limit" >&2
  exit 1
fi
