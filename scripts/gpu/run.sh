#!/usr/bin/env bash
# Runs a command on a GPU machine from what scripts/gpu/pack.sh put in .gpu/ (device tool:
# carry [".gpu"]). Unpacks node to /tmp/ttslab-gpu/bin, the bundles and dawn.node to .gpu-run/bundle/,
# installs the Vulkan/GL loader .debs when the system has no libvulkan, points the loader at
# the NVIDIA driver, and runs the command from the repository root:
#   scripts/gpu/run.sh node .gpu-run/bundle/bench-run.js --out $OUT
#   scripts/gpu/run.sh bench-whisper --quick     # short for node .gpu-run/bundle/bench-whisper.js --quick
#   scripts/gpu/run.sh node --test --test-concurrency=1 .gpu-run/bundle/test-runtime-*.test.js
#   scripts/gpu/run.sh bash scripts/gpu/session.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if [ $# -eq 0 ]; then
  echo "usage: scripts/gpu/run.sh <bundle name | command ...>" >&2
  exit 2
fi
[ -f .gpu/node.xz ] || { echo "run.sh: no .gpu/node.xz: run scripts/gpu/pack.sh first and carry .gpu" >&2; exit 2; }

bin=/tmp/ttslab-gpu/bin
mkdir -p "$bin"
if [ ! -x "$bin/node" ]; then
  xz -dc .gpu/node.xz >"$bin/node.tmp" && chmod +x "$bin/node.tmp" && mv "$bin/node.tmp" "$bin/node"
fi
# Bundles are re-unpacked when the pack is newer than what is there.
if [ ! -f .gpu-run/bundle/dawn.node ] || [ .gpu/bundle.tar.xz -nt .gpu-run/stamp ]; then
  rm -rf .gpu-run && mkdir -p .gpu-run
  tar -xJf .gpu/bundle.tar.xz -C .gpu-run
  xz -dc .gpu/dawn.node.xz >.gpu-run/bundle/dawn.node
  touch .gpu-run/stamp
fi

# The image has the NVIDIA driver's Vulkan ICD but no loader: unpack the Debian libraries.
if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  for f in .gpu/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
nvidia_egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
if [ -f "$nvidia_icd" ]; then export VK_DRIVER_FILES="$nvidia_icd"; fi
if [ -f "$nvidia_egl" ]; then export __EGL_VENDOR_LIBRARY_FILENAMES="$nvidia_egl"; fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/ttslab-gpu/xdg}"
mkdir -p "$XDG_RUNTIME_DIR"
export PATH="$bin:$PATH"

echo "run.sh: node $(node --version), VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}" >&2
if [ -f ".gpu-run/bundle/$1.js" ]; then
  name="$1"; shift
  exec node ".gpu-run/bundle/$name.js" "$@"
fi
exec "$@"
