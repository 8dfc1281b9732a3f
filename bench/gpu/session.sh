#!/usr/bin/env bash
# One device session for the GPU benchmarks, as a lent machine's time is short: a short timing run (3 iterations,
# batch 16, few inference rows) that stops the session if anything breaks, then the default run in the time left.
# Logs and tab-separated results go to $OUT (or gpu-results/). Run from a checkout carrying gpu-bundle/ (bundle.sh).
#   OUT=/tmp/r SESSION_SECONDS=560 bash bench/gpu/session.sh
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-$root/gpu-results}"
mkdir -p "$out"
budget="${SESSION_SECONDS:-560}"
start=$(date +%s)
{ nvidia-smi; python3 -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__)"; nproc; } >"$out/machine.log" 2>&1

CASES="${SHORT_CASES:-fp32 bf16-teacher bf16 channels-last unfused-tpp}" INFERENCE="${SHORT_INFERENCE:-1}" \
ITERATIONS=3 BATCH=16 ROWS=64 ENGINE_CALLS=100 CASE_TIMEOUT=150 RESULTS="$out/short.tsv" \
  bash "$root/bench/gpu/device.sh" >"$out/short.log" 2>&1
status=$?
short=$(( $(date +%s) - start ))
echo "short run: ${short} s, exit $status"
grep -h "^## summary\|failed" "$out/short.log"
if [ "$status" -ne 0 ] || grep -q "failed" "$out/short.log" || [ "${SHORT_ONLY:-0}" = 1 ]; then
  tail -40 "$out/short.log"
  exit "$status"
fi

left=$(( budget - short - 10 ))
timeout "$left" env ENGINE_CALLS="${ENGINE_CALLS:-1000}" RESULTS="$out/full.tsv" \
  bash "$root/bench/gpu/device.sh" >"$out/full.log" 2>&1
status=$?
echo "full run: $(( $(date +%s) - start - short )) s, exit $status (limit ${left} s)"
grep -h "^## summary\|failed\|^| " "$out/full.log" | grep -v "^|---" | tail -60
