#!/usr/bin/env bash
# Packs what a GPU machine without a package registry needs to run ttslab's bench and runtime
# tests into .gpu/ (git-ignored), small enough that it and the working tree fit together under
# the device tool's 64 MiB limit (target: ~32 MiB):
#   .gpu/node.xz          this machine's node binary (process.execPath)
#   .gpu/dawn.node.xz     the linux-x64 Dawn addon of the `webgpu` package
#   .gpu/bundle.tar.xz    bundle/*.js: one minified CommonJS bundle per entry the GPU machine runs
#                         (scripts/gpu/bundle.mjs: bench/{run,info,whisper,csm}.ts and
#                         test/runtime/*.test.ts, tfjs and the `webgpu` JS inside; no node_modules,
#                         no dist/) + the tfjs wasm binaries
#   .gpu/debs/*.deb       the Vulkan loader and GL dispatch libraries the NVIDIA Vulkan ICD
#                         needs (libvulkan1 alone fails in vkCreateInstance: ../shared/GPU.md)
# Then on the GPU machine (carry: [".gpu"]):
#   scripts/gpu/run.sh node .gpu-run/bundle/bench-run.js --out $OUT
#   scripts/gpu/run.sh bash scripts/gpu/session.sh
# Python scripts in bench/ are tracked files and travel with the tree.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
out=.gpu
target_mib=32
limit_mib=64

rm -rf "$out"
mkdir -p "$out/debs"
# run.sh unpacks into .gpu-run/ in the checkout; keep it out of what the device tool sends.
grep -qx '/.gpu-run/' .git/info/exclude 2>/dev/null || echo '/.gpu-run/' >>.git/info/exclude

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
node scripts/gpu/bundle.mjs "$stage/bundle"
# Each bundle repeats tfjs (~2.5 MiB): one xz stream with a large dictionary stores it about once.
tar -cf - -C "$stage" bundle | xz -T0 -9 >"$out/bundle.tar.xz"

xz -T0 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node >"$out/dawn.node.xz"
xz -T0 -6 -c "$(node -p process.execPath)" >"$out/node.xz"

# amd64 .debs from Debian's archive (apt's own download, no install).
(cd "$out/debs" && apt-get download libvulkan1 libglvnd0 libglx0 libgl1 libegl1 libgles2 libopengl0 >/dev/null)

find "$out" -type f -printf '%s %p\n' | sort -k2 | awk '{printf "%8.2f MiB  %s\n", $1 / 1048576, $2}'
total=$(du -sb "$out" | cut -f1)
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
mib() { echo "scale=1; $1 / 1048576" | bc; }
echo "pack: $(mib "$total") MiB in $out (target ${target_mib} MiB); working tree that travels with it: $(mib "$tree") MiB; together $(mib $((total + tree))) of ${limit_mib} MiB"
if [ $((total + tree)) -gt $((limit_mib * 1048576)) ]; then
  echo "pack: pack + working tree over the ${limit_mib} MiB limit" >&2
  exit 1
fi
