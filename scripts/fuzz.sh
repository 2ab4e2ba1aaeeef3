#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, AddressSanitizer, UndefinedBehaviorSanitizer)
# and runs each reader's fuzzer for SECONDS (default 20), starting from the
# committed seeds in fuzz/corpus/<target>/. A crash fails the run and its
# input is kept in fuzz/regressions/<target>/: commit it, and
# FuzzCorpus.EverySeedAndPastCrashIsHandled replays it from then on.
#
#   scripts/fuzz.sh            20 s per target (what CI runs)
#   scripts/fuzz.sh 3600       an hour per target
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
for p in clang libclang-rt-14-dev; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    sudo_cmd=()
    [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null
    break
  fi
done
targets=(idx gzip course_json safetensors image)
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMNIST_FUZZ=ON \
  -DMNIST_BUILD_TESTS=OFF -DMNIST_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null
status=0
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  cp fuzz/corpus/"$t"/* "$work"/
  mkdir -p fuzz/regressions/"$t"
  log=$(mktemp)
  if build-fuzz/fuzz/fuzz_"$t" "$work" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
       -print_final_stats=1 -artifact_prefix=fuzz/regressions/"$t"/ >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    echo "fuzz $t: ${runs:-?} executions in ${seconds}s, no crash"
  else
    echo "fuzz $t: FAILED; the input is in fuzz/regressions/$t/"
    grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -5
    status=1
  fi
  rm -rf "$work" "$log"
done
exit $status
