#!/usr/bin/env bash
# Builds and runs the test suite under AddressSanitizer + UndefinedBehaviorSanitizer,
# and the threaded code (trainer, thread pool, evaluation, compare's parallel runs)
# under ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-build

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMNIST_SANITIZE=address,undefined -DMNIST_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j "$(nproc)" >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp" \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j 1 -L 'unit|cli' -E 'EndToEnd|PyTorchParity'
# Left to scripts/test.sh's release build: the browser, MPI, ONNX and install
# tests (Python and a browser driving the same code), and the two long runs
# (a full MNIST training, 30 CNN steps of every optimizer against PyTorch),
# whose code paths the unit and CLI tests already take under ASan in
# seconds rather than minutes. CI's whole run stays well inside 45 minutes.

# OpenBLAS is not instrumented; its internal buffer pool synchronises with
# atomics TSan cannot see, so races reported inside it are suppressed.
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMNIST_SANITIZE=thread -DMNIST_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsan -j "$(nproc)" --target unit_tests >/dev/null
TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/scripts/tsan.supp" \
  build-tsan/tests/unit_tests --gtest_filter='Train.*:ThreadPool.*:Grid.*'
