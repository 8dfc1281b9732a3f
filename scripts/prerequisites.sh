#!/usr/bin/env bash
# Installs what ScaleKD.MLNet needs on a fresh Debian 12 machine and is a quick no-op when it is all there.
# Used by ./scalekd and .ci/run.
set -euo pipefail

if ! command -v dotnet >/dev/null 2>&1; then
  echo "error: the .NET 10 SDK (dotnet) is not on PATH; install it first (https://dot.net)." >&2
  exit 1
fi

packages=()
# Fashion-MNIST, the default data set of the main job and the training tests.
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || packages+=(dataset-fashion-mnist)
# A font for the text in the report's PNG plots.
[ -d /usr/share/fonts/truetype/dejavu ] || packages+=(fonts-dejavu-core)
# Chinese, Japanese and Korean class names in the confusion-matrix plot (DejaVu has Latin, Greek and Cyrillic only).
[ -d /usr/share/fonts/truetype/wqy ] || packages+=(fonts-wqy-microhei)
# Debian's PyTorch (1.13, CPU) runs the jobs scalekd export-job writes (torchrun, gloo) and their tests; PIL reads a
# job's image files. Looked for under /usr/bin/python3, where Debian installs them.
/usr/bin/python3 -c "import torch" >/dev/null 2>&1 || packages+=(python3-torch)
/usr/bin/python3 -c "import PIL" >/dev/null 2>&1 || packages+=(python3-pil)
# unzip, for the consumer test's look inside the packages.
command -v unzip >/dev/null 2>&1 || packages+=(unzip)

if [ ${#packages[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing Debian packages: ${packages[*]}" >&2
  $sudo apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${packages[@]}" >&2
fi
