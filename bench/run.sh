#!/usr/bin/env bash
# Side-by-side speed of the course CNN: this project against PyTorch's C++
# library (libtorch) and PyTorch itself, on this machine, in one run.
# Builds everything, alternates the implementations ROUNDS times, and prints
# the medians and ratios as a markdown table (docs/benchmarks.md holds the
# last one). Installs libtorch-dev, python3-torch and time when missing.
#
#   bench/run.sh [ROUNDS]          (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
data=data/mnist

need=()
for p in libtorch-dev python3-torch time; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
scripts/setup.sh --no-build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target mnist throughput kernel_bench >/dev/null
cmake -S bench/peers -B build/peers >/dev/null
cmake --build build/peers -j "$(nproc)" >/dev/null
[[ -f build/mnist.json.gz ]] || build/mnist convert --data "$data" --out build/mnist.json.gz >/dev/null

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for ((r = 0; r < rounds; r++)); do
  for threads in 2 1; do
    build/bench/throughput "$data" "$threads" >>"$out/mnist.$threads"
    build/peers/libtorch_train "$data" "$threads" >>"$out/libtorch.$threads"
    /usr/bin/python3 bench/peers/torch_train.py "$data" "$threads" >>"$out/pytorch.$threads"
  done
  build/bench/throughput build/mnist.json.gz >>"$out/json"
done
# Peak memory (max RSS) of the default training run, one epoch, and of the
# libtorch peer's run.
/usr/bin/time -f %M build/mnist train --epochs 1 --save "$out/m.safetensors" >/dev/null 2>"$out/rss.mnist"
/usr/bin/time -f %M build/peers/libtorch_train "$data" 2 600 >/dev/null 2>"$out/rss.libtorch"

/usr/bin/python3 - "$out" <<'PY'
import json, pathlib, platform, statistics, subprocess, sys
out = pathlib.Path(sys.argv[1])
def runs(name):
    return [json.loads(l) for l in (out / name).read_text().splitlines() if l.strip()]
def med(name, key):
    return statistics.median(r[key] for r in runs(name))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
flags = open("/proc/cpuinfo").read()
isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
rows = [("training, images/s (batch 100, Adam, 2 threads)", "train_ips", "2", True),
        ("training, images/s (1 thread)", "train_ips", "1", True),
        ("evaluation, images/s (2 threads)", "eval_ips", "2", True),
        ("predict one image, µs (model loaded)", "predict_us", "2", False),
        ("loading the IDX data, ms", "load_ms", "2", False)]
print(f"Machine: {cpu}, {isa}, {subprocess.getoutput('nproc')} cores; medians of {len(runs('mnist.2'))} alternating rounds.\n")
print("| measure | mnist | libtorch | PyTorch | mnist vs libtorch |")
print("|---|---|---|---|---|")
for label, key, t, higher in rows:
    m, l, p = med(f"mnist.{t}", key), med(f"libtorch.{t}", key), med(f"pytorch.{t}", key)
    ratio = m / l if higher else l / m
    print(f"| {label} | {m:,.1f} | {l:,.1f} | {p:,.1f} | {ratio:.2f}× {'faster' if ratio >= 1 else 'slower'} |")
scale = {i: med(f"{i}.2", "train_ips") / med(f"{i}.1", "train_ips") for i in ("mnist", "libtorch", "pytorch")}
print(f"| training speed-up, 1 → 2 threads | {scale['mnist']:.2f}× | {scale['libtorch']:.2f}× | {scale['pytorch']:.2f}× | |")
rss_m = int((out / "rss.mnist").read_text().split()[-1]) / 1024
rss_l = int((out / "rss.libtorch").read_text().split()[-1]) / 1024
print(f"| peak memory of a training run, MB | {rss_m:.0f} | {rss_l:.0f} | | {rss_l / rss_m:.1f}× less |")
print(f"| loading the course's mnist.json.gz, ms | {med('json', 'load_ms'):,.0f} | | | |")
PY
