#!/usr/bin/env bash
# One GPU-machine session (run through scripts/gpu/run.sh): device facts, runtimeInfo(), the
# runtime tests, the bench. Logs and the results JSON go to $OUT when set (device tool).
set -uo pipefail
out="${OUT:-/tmp/ttslab-gpu/out}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$out/nvidia-smi.txt"
node --import tsx bench/info.ts 2>&1 | grep -v 'artificially reduced' | tee "$out/runtime-info.json"
node scripts/test.mjs runtime 2>&1 | grep -v 'artificially reduced' >"$out/tests.log"
echo "tests exit $?: $(grep -E '^# (tests|pass|fail)' "$out/tests.log" | tr '\n' ' ')"
grep -B2 -A15 '^not ok\|^    not ok' "$out/tests.log" | head -80
BENCH_DATE="${BENCH_DATE:-$(date +%F)}" node --import tsx bench/run.ts --out "$out" 2>&1 | grep -v 'artificially reduced' | tee "$out/bench.log"
