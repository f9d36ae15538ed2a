#!/usr/bin/env bash
# Benchmark: what loading the data costs a training step, on W1 (the MLP,
# bench/w1_mlp.dlp) and W2 (the CNN, bench/w2_cnn.dlp).
#
# Each workload runs N times (default 5) as `dlpc run` always does, each
# batch gathered (rows picked, bytes widened to f32) on a pool thread
# while the step before it runs, and N times with
# DLP_BENCH_RESIDENT_BATCHES=1, which gathers all of an epoch's batches
# before its first step, so that every step finds its batch already in
# memory. The two modes alternate, so that drift in the machine's speed
# touches both. Printed: the median of summary.json's `step_ms` (the mean
# time of a step after the warm-up, from its start to its end, waiting
# for its batch included) in each mode, and how much longer a step is
# with loading. The losses of the two modes are equal: the batches are
# the same.
# Needs `apt-get install dataset-fashion-mnist`.
# Usage: bash bench/loader.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release --quiet
dlpc=target/release/dlpc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
step_ms() {
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['step_ms'])" \
    "$(ls -d "$1"/*/ | tail -1)summary.json"
}

for f in bench/w1_mlp.dlp bench/w2_cnn.dlp; do
  loading=() resident=()
  for i in $(seq 1 "$runs"); do
    "$dlpc" run "$f" --runs "$work/l$i" >/dev/null 2>&1
    loading+=("$(step_ms "$work/l$i")")
    DLP_BENCH_RESIDENT_BATCHES=1 "$dlpc" run "$f" --runs "$work/r$i" >/dev/null 2>&1
    resident+=("$(step_ms "$work/r$i")")
  done
  with=$(printf '%s\n' "${loading[@]}" | median)
  without=$(printf '%s\n' "${resident[@]}" | median)
  printf '%-18s step %7.3f ms with loading, %7.3f ms with the batches in memory: %+.1f%%\n' \
    "$f" "$with" "$without" "$(python3 -c "print(100 * ($with / $without - 1))")"
  rm -rf "${work:?}"/*
done
