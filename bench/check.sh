#!/usr/bin/env bash
# Benchmark: `dlpc check` wall time on the examples and on a generated
# 2,000-line program. Prints the median of N runs (default 15) per input.
# Usage: bash bench/check.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-15}
cargo build --release --quiet
dlpc=target/release/dlpc
big=$(mktemp --suffix .dlp)
trap 'rm -f "$big"' EXIT

# A program of ~2,000 lines: many layers and a model chaining them.
{
  echo "use std.nn.{linear, relu, dropout, layer_norm}"
  echo "use std.loss.cross_entropy"
  echo "use std.metrics.accuracy"
  echo "use std.optim.adam"
  echo
  for i in $(seq 1 250); do
    echo "/// Block $i: a residual MLP block."
    echo "fn block$i(x: f32[..N, D], hidden: int) -> f32[..N, D] {"
    echo "    h = relu(linear(layer_norm(x), hidden))"
    echo "    h = dropout(h, p = 0.1)"
    echo "    x + linear(h, D)"
    echo "}"
    echo
  done
  echo "model Deep(width: int = 64) {"
  echo "    input x: f32[B, 64]"
  echo "    h = linear(x, width)"
  for i in $(seq 1 250); do echo "    h = block$i(h, width * 2)"; done
  echo "    output logits = linear(h, 10)"
  echo "}"
  echo
  echo "dataset digits {"
  echo "    source  = csv(\"data/digits.csv\", header = true)"
  echo "    x       = columns(0..64) as f32[64] / 16.0"
  echo "    y       = column(\"target\") as class(10)"
  echo "    split   = { train: 0.8, test: 0.2 }"
  echo "}"
  echo
  echo "train deep {"
  echo "    model     = Deep(width = 128)"
  echo "    data      = digits.train"
  echo "    epochs    = 1"
  echo "    loss      = cross_entropy(logits, y)"
  echo "    optimizer = adam()"
  echo "    metrics   = [accuracy(logits, y)]"
  echo "}"
} > "$big"
"$dlpc" check "$big"

median_ms() {
  local times=()
  for _ in $(seq 1 "$runs"); do
    local start end
    start=$(date +%s%N)
    "$dlpc" check "$@" >/dev/null
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%.2f ms (min %.2f, max %.2f)\n", m/1000, a[1]/1000, a[NR]/1000}'
}

echo "lines in generated program: $(wc -l < "$big")"
for f in examples/*.dlp; do
  echo "$f: $(median_ms "$f")"
done
echo "generated 2,000-line program: $(median_ms "$big")"
