#!/usr/bin/env bash
# Benchmarks one ScaleKD step in .NET and in PyTorch back to back on a Linux CUDA machine with PyTorch (and timm)
# installed, case by case, and prints both tables and a summary line per case; then inference on the same device. The
# .NET app is published without a libtorch package and runs on PyTorch's own libtorch (SCALEKD_LIBTORCH_DIR), the
# route README's "CPU and CUDA" section describes.
#
#   bash bench/gpu/run.sh                    # swin_large_patch4_window7_224 -> resnet50, 224 px, batch 64, CUDA
#   ITERATIONS=3 BATCH=16 ENGINE_CALLS=200 bash bench/gpu/run.sh                          # a short timing run first
#   DEVICE=cpu CASES="fp32" TEACHER=swin_pico_patch2_window4_32 STUDENT=resnet_pico SIZE=64 BATCH=16 \
#     SCALEKD_LIBTORCH_DIR=~/.nuget/packages/libtorch-cpu-linux-x64/2.10.0/runtimes/linux-x64/native PYTHON=/usr/bin/python3 \
#     bash bench/gpu/run.sh                                                                # dry run on the CPU
#
# Cases (CASES="fp32 bf16-teacher ..." picks some; all by default), each .NET against PyTorch eager:
#   fp32            teacher and student in float32
#   bf16-teacher    the teacher's weights in bfloat16 (what the trainer does on CUDA), student float32
#   bf16            teacher bfloat16; .NET student in bfloat16 with float32 masters (BFloat16Student) against PyTorch's
#                   torch.autocast(bfloat16) over student, projectors and losses
#   channels-last   as bf16-teacher, with channels-last images and student on both sides
#   unfused-tpp     as bf16-teacher, .NET only, one TPP pass per view instead of both views stacked (what fusion saves)
# Peak GPU memory per process is the largest nvidia-smi reading while it ran, less the reading before it started
# (the same measure on both sides; it includes each framework's CUDA context and cached blocks).
# RESULTS=FILE appends one tab-separated line per case. Set SCALEKD_BENCH_DLL to a published ScaleKD.Bench.dll to skip
# publishing (for machines without the .NET SDK, carrying a published app and a .NET runtime).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="${PYTHON:-python3}"
device="${DEVICE:-cuda}"
teacher="${TEACHER:-swin_large_patch4_window7_224}"
student="${STUDENT:-resnet50}"
size="${SIZE:-224}"
batch="${BATCH:-64}"
iterations="${ITERATIONS:-10}"
cases="${CASES:-fp32 bf16-teacher bf16 channels-last unfused-tpp}"
limit="${CASE_TIMEOUT:-300}"

libtorch="${SCALEKD_LIBTORCH_DIR:-$("$python" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')}"
dll="${SCALEKD_BENCH_DLL:-}"
if [ -z "$dll" ]; then
  out="$(mktemp -d)"
  dotnet publish "$root/bench/ScaleKD.Bench" -c Release -p:ScaleKDTorchBackend=external -o "$out" >&2
  dll="$out/ScaleKD.Bench.dll"
fi
cuda_flag=""
[ "$device" = "cuda" ] && cuda_flag="--cuda"

# Dense bfloat16 peak of the card, for the roofline share: PEAK_TFLOPS overrides; H100 SXM / H200 989, H100 PCIe 756.
card="$([ "$device" = "cuda" ] && nvidia-smi --query-gpu=name --format=csv,noheader | head -1 || echo cpu)"
case "$card" in
  *H100*PCIe*) peak_default=756 ;;
  *H100*|*H200*) peak_default=989 ;;
  *) peak_default="" ;;
esac
peak="${PEAK_TFLOPS:-$peak_default}"

# The ScaleKD row's median ms/step (column 3 of "| ScaleKD | ms | …") and the PyTorch side's GFLOP/step (column 5).
cell() { awk -F'|' -v col="$2" '$2 ~ /ScaleKD/ { gsub(/ /, "", $col); print $col; exit }' <<<"$1"; }
gpu_used() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 | head -1; }

# measured LABEL COMMAND...: runs the command (bounded by CASE_TIMEOUT), prints its output, and sets $measured_output
# and $measured_peak (MiB above the idle reading, "n/a" on the CPU).
measured() {
  local label="$1"; shift
  local log; log="$(mktemp)"
  measured_peak="n/a"
  if [ "$device" = "cuda" ]; then
    local base; base="$(gpu_used)"
    local samples; samples="$(mktemp)"
    ( while true; do gpu_used >>"$samples"; sleep 0.2; done ) &
    local sampler=$!
    timeout "$limit" "$@" >"$log" 2>&1 || { kill "$sampler" 2>/dev/null; cat "$log"; echo "## $label failed" >&2; return 1; }
    kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
    measured_peak="$(( $(sort -n "$samples" | tail -1) - base ))"
  else
    timeout "$limit" "$@" >"$log" 2>&1 || { cat "$log"; echo "## $label failed" >&2; return 1; }
  fi
  measured_output="$(grep -v '^\[W' "$log")"
  echo "## $label (peak GPU memory above idle: $measured_peak MiB)"
  echo "$measured_output"
  echo
}

dotnet_step=(env SCALEKD_LIBTORCH_DIR="$libtorch" dotnet "$dll" step --teacher "$teacher" --student "$student" --image-size "$size"
  --batch "$batch" --iterations "$iterations" $cuda_flag)
torch_step=("$python" "$root/bench/reference/scalekd_step.py" --teacher "$teacher" --student "$student" --image-size "$size"
  --batch "$batch" --iterations "$iterations" --device "$device")

for case_name in $cases; do
  case "$case_name" in
    fp32) net_flags=(); torch_flags=() ;;
    bf16-teacher) net_flags=(--teacher-bf16); torch_flags=(--teacher-bf16) ;;
    bf16) net_flags=(--teacher-bf16 --student-bf16); torch_flags=(--teacher-bf16 --autocast-bf16) ;;
    channels-last) net_flags=(--teacher-bf16 --channels-last); torch_flags=(--teacher-bf16 --channels-last) ;;
    unfused-tpp) net_flags=(--teacher-bf16 --unfused-tpp); torch_flags=() ;;
    *) echo "unknown case '$case_name'" >&2; exit 2 ;;
  esac
  measured ".NET, $case_name" "${dotnet_step[@]}" "${net_flags[@]}" || continue
  dotnet_table="$measured_output"; dotnet_peak="$measured_peak"
  dotnet_ms="$(cell "$dotnet_table" 3)"
  if [ "$case_name" = "unfused-tpp" ]; then
    line="## summary ($card, $case_name): .NET ScaleKD step $dotnet_ms ms, $(awk -v b="$batch" -v ms="$dotnet_ms" 'BEGIN { printf "%.1f", b / ms * 1000 }') img/s; peak GPU memory $dotnet_peak MiB"
    echo "$line"; echo
    [ -n "${RESULTS:-}" ] && printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$card" "$case_name" "$batch" "$dotnet_ms" "" "" "$dotnet_peak" "" >>"$RESULTS"
    continue
  fi
  measured "PyTorch, $case_name" "${torch_step[@]}" "${torch_flags[@]}" || continue
  torch_table="$measured_output"; torch_peak="$measured_peak"
  torch_ms="$(cell "$torch_table" 3)"; gflop="$(cell "$torch_table" 5)"
  python3 - "$dotnet_ms" "$torch_ms" "$gflop" "$peak" "$card" "$case_name" "$batch" "$dotnet_peak" "$torch_peak" "${RESULTS:-}" <<'PY'
import sys
dotnet_ms, torch_ms, gflop, peak, card, case, batch, dotnet_peak, torch_peak, results = sys.argv[1:]
b = int(batch)
line = (f"## summary ({card}, {case}): ScaleKD step .NET {b / float(dotnet_ms) * 1000:.1f} img/s, PyTorch "
        f"{b / float(torch_ms) * 1000:.1f} img/s, .NET / PyTorch = {float(torch_ms) / float(dotnet_ms):.2f}x")
share = ""
if gflop != "n/a":
    tflops = float(gflop) / float(dotnet_ms)
    line += f"; .NET {tflops:.1f} TFLOP/s"
    if peak:
        share = f"{100 * tflops / float(peak):.1f}"
        line += f" = {share} % of the {peak} TFLOP/s bfloat16 peak"
line += f"; peak GPU memory .NET {dotnet_peak} MiB, PyTorch {torch_peak} MiB"
print(line)
if results:
    with open(results, "a") as f:
        f.write("\t".join([card, case, batch, dotnet_ms, torch_ms, gflop, dotnet_peak, torch_peak]) + "\n")
PY
  echo
done

# Inference on the same device: raw batched forward vs ML.NET Transform (with and without the next-batch prefetch) vs
# PredictionEngine (INFERENCE=0 skips it).
if [ "${INFERENCE:-1}" = "1" ]; then
  for model in resnet50 vit_small_patch16_224; do
    measured "inference, $model" env SCALEKD_LIBTORCH_DIR="$libtorch" dotnet "$dll" inference --student "$model" --image-size 224 \
      --rows "${ROWS:-256}" --engine-calls "${ENGINE_CALLS:-2000}" $cuda_flag || true
  done
fi
