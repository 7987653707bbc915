#!/usr/bin/env bash
# Runs an npm script or a command on a GPU machine from what scripts/gpu/pack.sh put in .gpu/
# (device tool: carry [".gpu"]). Unpacks node, dist/ and node_modules into this checkout,
# installs the Vulkan/GL loader .debs when the system has no libvulkan, points the loader at
# the NVIDIA driver, and runs.
#   scripts/gpu/run.sh bench                 # an npm script (npm itself is emulated: not packed)
#   scripts/gpu/run.sh node scripts/test.mjs runtime
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if [ $# -eq 0 ]; then
  echo "usage: scripts/gpu/run.sh <npm-script | command ...>" >&2
  exit 2
fi
[ -f .gpu/node.xz ] || { echo "run.sh: no .gpu/node.xz: run scripts/gpu/pack.sh first and carry .gpu" >&2; exit 2; }

bin=/tmp/ttslab-gpu/bin
mkdir -p "$bin"
if [ ! -x "$bin/node" ]; then
  xz -dc .gpu/node.xz >"$bin/node.tmp" && chmod +x "$bin/node.tmp" && mv "$bin/node.tmp" "$bin/node"
  tar -xJf .gpu/payload.tar.xz -C "$root"
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

# npm is not packed. This stand-in runs `npm run <script> [-- args]` and `npm test` from
# package.json the way npm does (node_modules/.bin on PATH); `build` is skipped when dist/
# came with the pack (typescript does not travel).
cat >"$bin/npm" <<'NPM'
#!/usr/bin/env bash
set -euo pipefail
case "${1:-}" in run | run-script) shift ;; test | t) ;; *) echo "npm stand-in: only 'npm run <script>' and 'npm test'" >&2; exit 2 ;; esac
name="$1"; shift
args=()
for a in "$@"; do case "$a" in --silent | -s) ;; --) ;; *) args+=("$a") ;; esac; done
if [ "$name" = build ] && [ -d dist ] && ! command -v tsc >/dev/null; then echo "npm stand-in: using packed dist/" >&2; exit 0; fi
cmd="$(node -e 'const s = require("./package.json").scripts || {}; if (!(process.argv[1] in s)) process.exit(3); console.log(s[process.argv[1]])' "$name")" || { echo "npm stand-in: no script '$name' in package.json" >&2; exit 2; }
exec bash -c "$cmd \"\$@\"" -- "${args[@]+"${args[@]}"}"
NPM
chmod +x "$bin/npm"
export PATH="$bin:$root/node_modules/.bin:$PATH"

echo "run.sh: node $(node --version), VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}" >&2
if node -e 'process.exit((require("./package.json").scripts || {})[process.argv[1]] ? 0 : 1)' "$1"; then
  exec npm run "$@"
fi
exec "$@"
