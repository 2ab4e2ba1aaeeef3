#!/usr/bin/env bash
# How training and compare scale with MPI ranks on this machine, against one
# process using the same cores through threads:
#   training: one epoch of the course CNN, 1 process x 2 threads against
#             mpirun -n 2 x 1 thread (and x 2 threads, oversubscribed);
#   compare:  a grid of 8 short CNN runs, 1 process running 2 at a time
#             against mpirun -n 2.
# Prints a markdown table of medians (docs/benchmarks.md holds the last).
#
#   bench/mpi_scaling.sh [ROUNDS]     (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
data=${MNIST_DATA:-data/mnist}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cmake --build build -j "$(nproc)" --target mnist >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# images/s of the epoch line ("... 12736 images/s ..."), and wall seconds.
images_per_second() { sed -n 's/.* \([0-9]*\) images\/s.*/\1/p' | tail -1; }
seconds() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }

train=(train --epochs 1 --data "$data" --log-every 1000 --save "$work/m.safetensors")
grid=(compare --optimizers sgd,momentum,adam,nadam --lrs 0.01,0.001 --train-samples 6000 --epochs 1 --data "$data")
for ((r = 0; r < rounds; r++)); do
  build/mnist "${train[@]}" --threads 2 | images_per_second >>"$work/t.1x2"
  mpirun -n 2 build/mnist "${train[@]}" --threads 1 | images_per_second >>"$work/t.2x1"
  mpirun -n 2 build/mnist "${train[@]}" --threads 2 | images_per_second >>"$work/t.2x2"
  rm -rf "$work/c1" "$work/c2"
  seconds build/mnist "${grid[@]}" --jobs 2 --threads 1 --out "$work/c1" >>"$work/c.1"
  seconds mpirun -n 2 build/mnist "${grid[@]}" --threads 1 --out "$work/c2" >>"$work/c.2"
done
median() { sort -g "$1" | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
t1=$(median "$work/t.1x2") t2=$(median "$work/t.2x1") t3=$(median "$work/t.2x2")
c1=$(median "$work/c.1") c2=$(median "$work/c.2")
echo "Machine: $(nproc) cores; medians of $rounds rounds; OpenMPI $(mpirun --version | head -1 | awk '{print $NF}')."
echo
echo "| measure | 1 process | mpirun -n 2 | ratio |"
echo "|---|---|---|---|"
printf "| training, images/s (1 x 2 threads against 2 ranks x 1 thread) | %s | %s | %.2f |\n" "$t1" "$t2" "$(echo "$t2 / $t1" | bc -l)"
printf "| training, images/s (2 ranks x 2 threads, oversubscribed) | | %s | %.2f |\n" "$t3" "$(echo "$t3 / $t1" | bc -l)"
printf "| compare, 8 runs, seconds (2 at a time against 2 ranks) | %.1f | %.1f | %.2f |\n" "$c1" "$c2" "$(echo "$c1 / $c2" | bc -l)"
