#!/usr/bin/env bash
# Installs the Debian packages ttslab's tests need (run as root, or with sudo available).
#  - jupyter-notebook, python3-nbclient: the real Jupyter kernel protocol for notebook runs
#  - ffmpeg: audio decoding
#  - chromium: browser tests of notebooks (driven by playwright-core)
#  - mesa-vulkan-drivers (bookworm-backports, >= 25): lavapipe, a CPU Vulkan device for WebGPU tests
#  - libvulkan1: the Vulkan loader Dawn opens
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

src=/etc/apt/sources.list.d/debian.sources
bp=/etc/apt/sources.list.d/ttslab-backports.sources
if [ ! -f "$bp" ] && [ -f "$src" ]; then
  uris=$(grep -m1 '^URIs:' "$src" | sed 's/^URIs:[[:space:]]*//')
  key=$(grep -m1 '^Signed-By:' "$src" | sed 's/^Signed-By:[[:space:]]*//')
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' "$uris" "$key" | $SUDO tee "$bp" >/dev/null
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends jupyter-notebook jupyter-client python3-nbclient ffmpeg flite chromium yt-dlp >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
