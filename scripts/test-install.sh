#!/usr/bin/env bash
# The library as a user installs it: `cmake --install` into a fresh prefix,
# then examples/classify.cpp built against the installed package in a
# separate build tree, once with CMake (find_package(mnist), mnist::mnist)
# and once with pkg-config, and each run on a digit of the test set.
#
#   scripts/test-install.sh [BUILD_DIR] [DATA]      (build, data/mnist)
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
data=$(realpath "${2:-data/mnist}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
echo "test-install: installed into a fresh prefix: $(cd "$work/prefix" && find . -type f | wc -l) files"
cmake -S examples -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/cmake-build" >/dev/null
echo "test-install: examples/ built with find_package(mnist)"
PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --exists mnist
# shellcheck disable=SC2046
c++ -O2 examples/classify.cpp -o "$work/classify-pc" \
  $(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --static --libs mnist)
echo "test-install: examples/classify.cpp built with pkg-config"

# A model, and the first test digit (a 7) as a PNG.
"$work/prefix/bin/mnist" train --model linear --epochs 1 --data "$data" --save "$work/m.safetensors" >/dev/null
python3 - "$data/t10k-images-idx3-ubyte" "$work/seven.png" <<'PY'
import struct, sys, zlib
pixels = open(sys.argv[1], "rb").read()[16:16 + 784]
rows = b"".join(b"\0" + pixels[28 * y:28 * y + 28] for y in range(28))
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
open(sys.argv[2], "wb").write(png)
PY
for program in "$work/cmake-build/classify" "$work/classify-pc"; do
  answer=$("$program" "$work/m.safetensors" "$work/seven.png")
  echo "test-install: $(basename "$program"): $answer"
  [[ $answer == *": 7 (p = "* ]] || { echo "test-install: FAILED: expected the digit 7" >&2; exit 1; }
done
echo "test-install: passed"
