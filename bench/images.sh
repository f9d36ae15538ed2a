#!/usr/bin/env bash
# Benchmark: loading an image folder (`images(...)` source) of 10,000
# generated 64x64 RGB PNG files: decode + resize to 32x32 throughput with
# the preprocessing cache off (on 1 thread and on every core), and a run's
# start with the cache missed (decode, then write the entry) and hit.
# Each figure is the median of N runs (default 5) of `dlpc run` for one
# step of a tiny model, so it is the loading that is timed.
# Usage: bash bench/images.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release --quiet
dlpc=$PWD/target/release/dlpc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 bench/make_images.py "$work/pics" 10000 64
cat > "$work/load.dlp" <<'DLP'
use std.nn.linear
use std.loss.cross_entropy
use std.optim.sgd

dataset pics {
    source = images("pics", size = [32, 32], channels = 3)
    x      = image() as f32[3072] / 255.0
    y      = label() as class(10)
}

model M {
    input x: f32[B, 3072]
    output logits = linear(x, 10)
}

train load {
    model     = M()
    data      = pics
    batch     = 32
    steps     = 1
    loss      = cross_entropy(logits, y)
    optimizer = sgd()
}
DLP

# Median seconds of `runs` runs of "$@" (before each, `prepare` runs).
median_s() {
  local prepare=$1
  shift
  local times=()
  for _ in $(seq 1 "$runs"); do
    eval "$prepare"
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]/1000}'
}

run() { "$dlpc" run "$work/load.dlp" --runs "$work/runs" "$@"; }
per_second() { awk -v s="$1" 'BEGIN {printf "%.0f", 10000 / s}'; }

cores=$(nproc)
one=$(DLP_CACHE=off median_s : run --threads 1)
all=$(DLP_CACHE=off median_s : run)
export DLP_CACHE="$work/cache"
miss=$(median_s 'rm -rf "$work/cache"' run)
hit=$(median_s : run)
echo "10,000 PNG files of 64x64 RGB, resized to 32x32 (median of $runs runs of a one-step run):"
echo "  cache off, 1 thread:      ${one} s  ($(per_second "$one") images/s per core)"
echo "  cache off, $cores threads:     ${all} s  ($(per_second "$all") images/s)"
echo "  cache miss (decode+write): ${miss} s"
echo "  cache hit:                 ${hit} s"
