#!/usr/bin/env bash
# A 2-host MPI job on this one machine, as on a real cluster but with no
# second computer: two network namespaces joined by a veth pair, each with
# its own address and host name, and MPI over TCP between them. mpirun runs
# on "host 1" (10.77.0.1) and starts the second rank on "host 2" (10.77.0.2)
# through a small agent that stands in for ssh. It checks that:
#   - mpirun -n 2 mnist train across the two hosts gives the weights of one
#     process, bit for bit;
#   - mpirun -n 2 mnist compare across them writes the same summary as one
#     process.
# Needs root (network namespaces) and Debian's openmpi-bin and iproute2.
#
#   scripts/mpi-two-hosts.sh [--binary build/mnist] [--data data/mnist]
#
# Exit codes: 0 passed, 1 failed, 77 namespaces cannot be made here (CTest
# reports it as skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
binary=build/mnist
data=${MNIST_DATA:-data/mnist}
while (($#)); do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    *) echo "usage: scripts/mpi-two-hosts.sh [--binary PATH] [--data DIR]" >&2; exit 2 ;;
  esac
done
binary=$(realpath "$binary")
data=$(realpath "$data")
[[ -x $binary ]] || { echo "mpi-two-hosts: no binary at $binary (build it: scripts/setup.sh)" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "mpi-two-hosts: mpirun is missing (apt-get install openmpi-bin)" >&2; exit 1; }
if [[ $(id -u) -ne 0 ]]; then
  echo "mpi-two-hosts: needs root to make network namespaces (run it with sudo)" >&2
  exit 77
fi

# Names unique to this run, so two runs (or a leftover) do not collide.
tag=m$$
host1=$tag-h1 host2=$tag-h2
work=$(mktemp -d)
cleanup() {
  ip netns del "$host1" 2>/dev/null || true
  ip netns del "$host2" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

if ! ip netns add "$host1" 2>/dev/null; then
  echo "mpi-two-hosts: cannot make network namespaces here (no CAP_NET_ADMIN?)" >&2
  exit 77
fi
ip netns add "$host2"
ip link add "$tag-v1" type veth peer name "$tag-v2"
ip link set "$tag-v1" netns "$host1"
ip link set "$tag-v2" netns "$host2"
ip -n "$host1" addr add 10.77.0.1/24 dev "$tag-v1"
ip -n "$host2" addr add 10.77.0.2/24 dev "$tag-v2"
for ns in "$host1" "$host2"; do
  ip -n "$ns" link set lo up
done
ip -n "$host1" link set "$tag-v1" up
ip -n "$host2" link set "$tag-v2" up

# mpirun starts a rank on another host the way ssh would: "AGENT HOST
# COMMAND-LINE". This agent enters host 2's namespace (with a host name of
# its own, so MPI sees two nodes) and runs the line with a shell.
cat >"$work/agent" <<EOF
#!/bin/sh
host=\$1; shift
[ "\$host" = 10.77.0.2 ] || { echo "agent: unknown host \$host" >&2; exit 1; }
exec ip netns exec $host2 unshare --uts sh -c "hostname $host2; \$*"
EOF
chmod +x "$work/agent"
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' >"$work/hostfile"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# TCP only (no shared memory between the "hosts"), on the veth link only.
mpi=(mpirun --hostfile "$work/hostfile" --mca plm_rsh_agent "$work/agent"
     --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 -n 2)
on_host1() { ip netns exec "$host1" "$@"; }

echo "mpi-two-hosts: host 1 10.77.0.1 ($host1), host 2 10.77.0.2 ($host2), MPI over TCP"
echo "mpi-two-hosts: where each rank runs:"
on_host1 "${mpi[@]}" hostname | sed 's/^/  /'

run=(train --model mlp --optimizer adam --epochs 2 --train-samples 6000 --data "$data" --log-every 30)
echo "mpi-two-hosts: training on two hosts, then in one process"
on_host1 "${mpi[@]}" "$binary" "${run[@]}" --threads 1 --save "$work/two.safetensors" | sed 's/^/  /'
"$binary" "${run[@]}" --save "$work/one.safetensors" >/dev/null

grid=(compare --optimizers sgd,adam,lion --model linear --train-samples 2000 --epochs 1 --data "$data")
echo "mpi-two-hosts: a comparison on two hosts, then in one process"
on_host1 "${mpi[@]}" "$binary" "${grid[@]}" --out "$work/cmp-two" | grep -E '^run ' | sed 's/^/  /'
"$binary" "${grid[@]}" --out "$work/cmp-one" >/dev/null

# The checkpoints' tensors (weights and optimizer state), bit for bit.
python3 - "$work/one.safetensors" "$work/two.safetensors" <<'EOF'
import json, struct, sys
def tensors(path):
    blob = open(path, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n]); header.pop("__metadata__", None)
    return {k: blob[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in header.items()}
one, two = tensors(sys.argv[1]), tensors(sys.argv[2])
differ = sorted(k for k in one if one[k] != two.get(k)) + sorted(set(two) - set(one))
if differ:
    sys.exit(f"mpi-two-hosts: FAILED: the weights differ from one process's in {', '.join(differ)}")
print(f"mpi-two-hosts: the {len(one)} tensors equal one process's, bit for bit")
EOF
for file in summary.csv summary.md; do
  if ! cmp -s "$work/cmp-one/$file" "$work/cmp-two/$file"; then
    echo "mpi-two-hosts: FAILED: $file differs from one process's" >&2
    diff "$work/cmp-one/$file" "$work/cmp-two/$file" >&2 || true
    exit 1
  fi
done
echo "mpi-two-hosts: the comparison's summary equals one process's"
echo "mpi-two-hosts: passed"
