#!/usr/bin/env bash
# Packs flite (its voices are compiled into libflite_cmu_*.so) and espeak-ng (binary, libs,
# English data) with every shared library they load, their own ld-linux included, into
# .mini-tools/tools.tar.xz: a self-contained copy for a machine without a package registry
# (the GPU machine). corpus.py --tools DIR runs them as DIR/lib/ld-linux-x86-64.so.2
# --library-path DIR/lib DIR/bin/<tool>. Needs: apt-get install -y flite espeak-ng.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
out="$root/.mini-tools"
grep -qx '/.mini-tools/' "$root/.git/info/exclude" || echo '/.mini-tools/' >> "$root/.git/info/exclude"
stage=$(mktemp -d)
mkdir -p "$stage/tools/bin" "$stage/tools/lib" "$stage/tools/espeak-ng-data" "$out"
cp /usr/bin/flite /usr/bin/espeak-ng "$stage/tools/bin/"
for b in /usr/bin/flite /usr/bin/espeak-ng; do
  ldd "$b" | awk '/=>/ {print $3} /ld-linux/ {print $1}'
done | sort -u | while read -r so; do cp -L "$so" "$stage/tools/lib/$(basename "$so")"; done
data=/usr/lib/x86_64-linux-gnu/espeak-ng-data
cp -r "$data/phondata" "$data/phonindex" "$data/phontab" "$data/intonations" "$data/en_dict" "$data/lang" "$data/voices" "$stage/tools/espeak-ng-data/"
tar -C "$stage" -cJf "$out/tools.tar.xz" tools
rm -rf "$stage"
ls -l "$out/tools.tar.xz"
