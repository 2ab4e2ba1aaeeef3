#!/usr/bin/env bash
# Builds everything and runs the whole test suite (GoogleTest via CTest),
# installing dependencies and MNIST first if they are missing. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
ctest --test-dir build --output-on-failure -j 1 "$@"
