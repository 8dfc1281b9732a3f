#!/usr/bin/env bash
# Packs what a CUDA machine without the .NET SDK needs for run.sh: the benchmark published for linux-x64 without a
# libtorch package (it runs on PyTorch's own libtorch), and the .NET runtime. Writes gpu-bundle/ at the repository root
# (ignored by git; about 45 MB). On the CUDA machine: bash bench/gpu/device.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$root/gpu-bundle"
rm -rf "$out"
mkdir -p "$out"
dotnet publish "$root/bench/ScaleKD.Bench" -c Release -r linux-x64 --self-contained false \
  -p:ScaleKDTorchBackend=external -o "$out/bench" >&2
dotnet_root="$(dirname "$(readlink -f "$(command -v dotnet)")")"
runtime="$(dotnet --list-runtimes | awk '/^Microsoft.NETCore.App / { v = $2 } END { print v }')"
tar -C "$dotnet_root" -cJf "$out/dotnet-runtime.tar.xz" dotnet host "shared/Microsoft.NETCore.App/$runtime"
du -sh "$out"
