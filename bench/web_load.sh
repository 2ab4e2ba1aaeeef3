#!/usr/bin/env bash
# Load test of the web lab's predict endpoint (docs/benchmarks.md, "The web
# lab's predict endpoint"): starts `mnist serve` with a checkpoint on a free
# port, checks that one predict answers, runs wrk with bench/wrk_predict.lua
# (one fixed 200x200 PNG), prints wrk's report and a summary line, and stops
# the server. Needs Debian's wrk (apt-get install wrk).
#
#   bench/web_load.sh [CHECKPOINT] [DURATION]     (default: a model trained now; 15s)
#
# Without CHECKPOINT (or when the file does not exist) it trains one the
# course's way first: `mnist train --optimizer adam --epochs 1` (a CNN, about
# a minute). MNIST=path/to/mnist picks the binary (default build/mnist),
# WRK_THREADS and WRK_CONNECTIONS the load (default 2 and 8).
set -euo pipefail
cd "$(dirname "$0")/.."
mnist=${MNIST:-build/mnist}
duration=${2:-15s}
threads=${WRK_THREADS:-2}
connections=${WRK_CONNECTIONS:-8}
data=${MNIST_DATA:-data/mnist}

command -v wrk >/dev/null || { echo "web_load.sh: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[[ -x $mnist ]] || { echo "web_load.sh: $mnist not found: build it first (or set MNIST)" >&2; exit 1; }

tmp=$(mktemp -d)
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

model=${1:-}
if [[ -z $model || ! -f $model ]]; then
  model=$tmp/adam1.safetensors
  echo "training $model (mnist train --optimizer adam --epochs 1)"
  "$mnist" train --optimizer adam --epochs 1 --save "$model" --data "$data" >"$tmp/train.log"
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
"$mnist" serve --port "$port" --runs "$tmp/runs" --model "$model" --data "$data" >"$tmp/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -sf "$url/api/info" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/serve.log" >&2; exit 1; }
  sleep 0.1
done

# One request first: the model answers, and what it is.
python3 - "$url" <<'EOF'
import json, re, sys, urllib.request
url = sys.argv[1]
lua = open("bench/wrk_predict.lua").read()
body = bytearray()
for piece in re.findall(r'"((?:[^"\\]|\\.)*)"', lua.split("local png =", 1)[1].split("wrk.method", 1)[0]):
    for m in re.finditer(r"\\(\d{1,3})|([A-Za-z])", piece):
        body.append(int(m.group(1)) if m.group(1) else ord(m.group(2)))
models = json.load(urllib.request.urlopen(url + "/api/models"))
answer = json.load(urllib.request.urlopen(urllib.request.Request(url + "/api/predict", bytes(body), method="POST")))
m = models[0]
print(f"model: {m['id']} ({m['model']}, test accuracy {m['accuracy']}); the PNG ({len(body)} bytes) "
      f"is read as a {answer['digit']} with p = {max(answer['probabilities']):.3f}")
EOF

echo "cores: $(nproc), shared by wrk and the server"
echo "wrk -t$threads -c$connections -d$duration --latency -s bench/wrk_predict.lua $url/api/predict"
wrk -t"$threads" -c"$connections" -d"$duration" --latency -s bench/wrk_predict.lua "$url/api/predict"
