#!/usr/bin/env bash
# One GPU-machine session (run through scripts/gpu/run.sh): device facts, runtimeInfo(), the
# runtime tests, the bench. Logs and the results JSON go to $OUT when set (device tool).
# All entries are the bundles scripts/gpu/pack.sh made (.gpu-run/bundle/, unpacked by run.sh).
set -uo pipefail
out="${OUT:-/tmp/ttslab-gpu/out}"
b=.gpu-run/bundle
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$out/nvidia-smi.txt"
node $b/bench-info.js 2>&1 | grep -v 'artificially reduced' | tee "$out/runtime-info.json"
node --test --test-concurrency=1 $b/test-runtime-*.test.js 2>&1 | grep -v 'artificially reduced' >"$out/tests.log"
echo "tests exit $?: $(grep -E '^# (tests|pass|fail)' "$out/tests.log" | tr '\n' ' ')"
grep -B2 -A15 '^not ok\|^    not ok' "$out/tests.log" | head -80
BENCH_DATE="${BENCH_DATE:-$(date +%F)}" node $b/bench-run.js --out "$out" 2>&1 | grep -v 'artificially reduced' | tee "$out/bench.log"
