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
# The ScaleKD row's median ms/step (column 3 of "| ScaleKD | ms | …") and the PyTorch side's GFLOP/step (column 5).
cell() { awk -F'|' -v col="$2" '$2 ~ /ScaleKD/ { gsub(/ /, "", $col); print $col; exit }' <<<"$1"; }
# Dense bfloat16 peak of the card, for the roofline share: PEAK_TFLOPS overrides; H100 SXM / H200 989, H100 PCIe 756.
card="$([ "$device" = "cuda" ] && nvidia-smi --query-gpu=name --format=csv,noheader | head -1 || echo cpu)"
case "$card" in
  *H100*PCIe*) peak_default=756 ;;
  *H100*|*H200*) peak_default=989 ;;
  *) peak_default="" ;;
esac
peak="${PEAK_TFLOPS:-$peak_default}"

for precision in "${precisions[@]}"; do
  echo "## .NET (TorchSharp on $libtorch) $precision"
  dotnet_table="$(SCALEKD_LIBTORCH_DIR="$libtorch" dotnet "$dll" step --teacher "$teacher" --student "$student" --image-size "$size" \
    --batch "$batch" --iterations "$iterations" $cuda_flag $precision)"
  echo "$dotnet_table"
  echo
  echo "## PyTorch $precision"
  torch_table="$("$python" "$root/bench/reference/scalekd_step.py" --teacher "$teacher" --student "$student" --image-size "$size" \
    --batch "$batch" --iterations "$iterations" --device "$device" $precision)"
  echo "$torch_table"
  echo
  dotnet_ms="$(cell "$dotnet_table" 3)"; torch_ms="$(cell "$torch_table" 3)"; gflop="$(cell "$torch_table" 5)"
  python3 - "$dotnet_ms" "$torch_ms" "$gflop" "$peak" "$card" "$precision" <<'PY'
import sys
dotnet_ms, torch_ms, gflop, peak, card, precision = sys.argv[1:]
line = f"## summary ({card}, teacher {'bfloat16' if precision else 'float32'}): ScaleKD step .NET / PyTorch = {float(torch_ms) / float(dotnet_ms):.2f}x"
if gflop != "n/a":
    tflops = float(gflop) / float(dotnet_ms)
    line += f"; .NET {tflops:.1f} TFLOP/s"
    if peak:
        line += f" = {100 * tflops / float(peak):.1f} % of the {peak} TFLOP/s bfloat16 peak"
print(line)
PY
  echo
done

# Inference on the same device: raw batched forward vs ML.NET Transform vs PredictionEngine (INFERENCE=0 skips it).
if [ "${INFERENCE:-1}" = "1" ]; then
  for model in resnet50 vit_small_patch16_224; do
    SCALEKD_LIBTORCH_DIR="$libtorch" dotnet "$dll" inference --student "$model" --image-size 224 --rows 256 \
      --engine-calls "${ENGINE_CALLS:-2000}" $cuda_flag
    echo
  done
fi
