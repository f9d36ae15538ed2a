#!/usr/bin/env bash
# Benchmark: training throughput (samples/s, from summary.json) of the
# `cpu` back end against the reference interpreter, side by side, median of
# N runs each (default 3), on the MNIST example and the W1 MLP
# (bench/w1_mlp.dlp, one epoch of Fashion-MNIST: apt-get install
# dataset-fashion-mnist). Nothing else should run meanwhile.
# Usage: bash bench/backends.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
cargo build --release --quiet
dlpc=target/release/dlpc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for f in examples/mnist_mlp.dlp bench/w1_mlp.dlp; do
  declare -A rates=()
  for i in $(seq 1 "$runs"); do
    # Interleaved, so that a drift in the machine's speed hits both.
    for backend in cpu interp; do
      "$dlpc" run "$f" --backend "$backend" --runs "$work/$backend-$i" >/dev/null 2>&1
      summary=$(ls -d "$work/$backend-$i"/*/ | tail -1)summary.json
      rates[$backend]+="$(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['samples_per_second']))" "$summary") "
    done
  done
  cpu=$(echo "${rates[cpu]}" | tr ' ' '\n' | grep . | median)
  interp=$(echo "${rates[interp]}" | tr ' ' '\n' | grep . | median)
  ratio=$(python3 -c "print(f'{$cpu / $interp:.2f}')")
  printf '%-24s cpu %8s samples/s   interp %8s samples/s   cpu/interp %s\n' "$f" "$cpu" "$interp" "$ratio"
  unset rates
done
