#!/usr/bin/env bash
# Benchmark: `dlpc run` (reference interpreter, CPU) on every example.
# For each: the median over N runs (default 5) of the whole command's wall
# time, of the training throughput (samples/s, from summary.json) and the
# final metrics of the last run.
# Usage: bash bench/train.sh [runs] [example.dlp ...]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
shift || true
examples=("$@")
[ ${#examples[@]} -eq 0 ] && examples=(examples/*.dlp)
cargo build --release --quiet
dlpc=target/release/dlpc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for f in "${examples[@]}"; do
  walls=() rates=()
  for i in $(seq 1 "$runs"); do
    start=$(date +%s%N)
    "$dlpc" run "$f" --runs "$work/$i" >/dev/null 2>&1
    end=$(date +%s%N)
    walls+=($(( (end - start) / 1000000 )))
    summary=$(ls -d "$work/$i"/*/ | tail -1)summary.json
    rates+=($(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['samples_per_second']))" "$summary"))
  done
  final=$(python3 -c "import json,sys; f=json.load(open(sys.argv[1]))['final']; print('; '.join(k+': '+', '.join(f'{m} {v:.4f}' for m,v in d.items()) for k,d in f.items()))" "$summary")
  printf '%-28s wall %6s ms   %8s samples/s   %s\n' "$f" "$(printf '%s\n' "${walls[@]}" | median)" "$(printf '%s\n' "${rates[@]}" | median)" "$final"
  rm -rf "$work"/*
done

# The same MNIST MLP hand-written in numpy, as a point of comparison.
if python3 -c "import numpy" 2>/dev/null; then
  for i in $(seq 1 "$runs"); do python3 bench/numpy_mnist_mlp.py; done |
    awk '{print $2}' | median | xargs printf 'numpy baseline (bench/numpy_mnist_mlp.py)   %8s samples/s\n'
fi
