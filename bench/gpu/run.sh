#!/usr/bin/env bash
# Benchmarks one ScaleKD step in .NET and in PyTorch back to back on a Linux CUDA machine with PyTorch (and timm)
# installed, and prints both tables. The .NET app is published without a libtorch package and runs on PyTorch's own
# libtorch (SCALEKD_LIBTORCH_DIR), the route README's "CPU and CUDA" section describes.
#
#   bash bench/gpu/run.sh                    # swin_large_patch4_window7_224 -> resnet50, 224 px, batch 64, CUDA
#   DEVICE=cpu BF16=0 TEACHER=swin_pico_patch2_window4_32 STUDENT=resnet_pico SIZE=64 BATCH=16 \
#     SCALEKD_LIBTORCH_DIR=~/.nuget/packages/libtorch-cpu-linux-x64/2.10.0/runtimes/linux-x64/native PYTHON=/usr/bin/python3 \
#     bash bench/gpu/run.sh                                                                # dry run on the CPU
#
# Set SCALEKD_BENCH_DLL to a published ScaleKD.Bench.dll to skip publishing (for machines without the .NET SDK,
# carrying a published app and a .NET runtime).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="${PYTHON:-python3}"
device="${DEVICE:-cuda}"
teacher="${TEACHER:-swin_large_patch4_window7_224}"
student="${STUDENT:-resnet50}"
size="${SIZE:-224}"
batch="${BATCH:-64}"
iterations="${ITERATIONS:-10}"

libtorch="${SCALEKD_LIBTORCH_DIR:-$("$python" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')}"
dll="${SCALEKD_BENCH_DLL:-}"
if [ -z "$dll" ]; then
  out="$(mktemp -d)"
  dotnet publish "$root/bench/ScaleKD.Bench" -c Release -p:ScaleKDTorchBackend=external -o "$out" >&2
  dll="$out/ScaleKD.Bench.dll"
fi
cuda_flag=""
[ "$device" = "cuda" ] && cuda_flag="--cuda"

# Float32 teacher first, then the bfloat16 teacher the trainer uses on CUDA (BF16=0 skips it).
precisions=("")
[ "${BF16:-1}" = "1" ] && precisions+=("--teacher-bf16")
for precision in "${precisions[@]}"; do
  echo "## .NET (TorchSharp on $libtorch) $precision"
  SCALEKD_LIBTORCH_DIR="$libtorch" dotnet "$dll" step --teacher "$teacher" --student "$student" --image-size "$size" \
    --batch "$batch" --iterations "$iterations" $cuda_flag $precision
  echo
  echo "## PyTorch $precision"
  "$python" "$root/bench/reference/scalekd_step.py" --teacher "$teacher" --student "$student" --image-size "$size" \
    --batch "$batch" --iterations "$iterations" --device "$device" $precision
  echo
done
