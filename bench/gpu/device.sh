#!/usr/bin/env bash
# Runs run.sh on a CUDA machine that has PyTorch (and timm) but no .NET, from the gpu-bundle/ that bundle.sh made.
# Settings pass through to run.sh (DEVICE, TEACHER, STUDENT, SIZE, BATCH, BF16, INFERENCE…).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bundle="$root/gpu-bundle"
[ -f "$bundle/dotnet-runtime.tar.xz" ] || { echo "no $bundle: run bash bench/gpu/bundle.sh first (on a machine with the .NET SDK)" >&2; exit 1; }
runtime="$(mktemp -d)"
tar -C "$runtime" -xJf "$bundle/dotnet-runtime.tar.xz"
export DOTNET_ROOT="$runtime" PATH="$runtime:$PATH" DOTNET_CLI_TELEMETRY_OPTOUT=1
SCALEKD_BENCH_DLL="$bundle/bench/ScaleKD.Bench.dll" bash "$root/bench/gpu/run.sh"
