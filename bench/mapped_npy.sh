#!/usr/bin/env bash
# Benchmark: the memory and time of training from a large NPY file, read
# whole into memory or memory-mapped.
#
# Writes a 1 GiB f32 NPY file (262,144 samples of 1,024 values; labels in
# a small u8 file) and trains a linear classifier on it for 200 steps of
# 128 samples, N times (default 3) each way, alternating:
#   read:   DLP_MAP_OVER=1e15 (no file is mapped: the loader reads it whole)
#   mapped: the default (files over 64 MiB are mapped)
# Printed per mode, medians: the wall time of the run (loading, hashing and
# checking every value included), the peak anonymous resident memory
# (RssAnon: what the process allocated; it cannot be evicted) and the peak
# file-backed resident memory (RssFile: pages of the mapped file, which the
# system evicts under pressure), sampled every 20 ms from /proc.
# Usage: bash bench/mapped_npy.sh [runs] [folder to write the files in, kept]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
cargo build --release --quiet
dlpc=$PWD/target/release/dlpc
if [ -n "${2:-}" ]; then
  work=$2 # kept afterwards
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

python3 - "$work" <<'EOF'
import array, random, sys
work = sys.argv[1]
n, width = 262144, 1024
def header(descr, shape):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join("%d, " % d for d in shape).strip())
    h += " " * (63 - (10 + len(h)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h.encode()
random.seed(0)
block = array.array("f", [random.uniform(-1, 1) for _ in range(width * 64)]).tobytes()
with open(f"{work}/x.npy", "wb") as f:
    f.write(header("<f4", (n, width)))
    for _ in range(n // 64):
        f.write(block)
with open(f"{work}/y.npy", "wb") as f:
    f.write(header("|u1", (n,)))
    f.write(bytes(random.randrange(10) for _ in range(n)))
EOF
cat > "$work/big.dlp" <<'EOF'
use std.nn.linear
use std.loss.cross_entropy
use std.optim.sgd

dataset big {
    x = npy("x.npy") as f32[1024]
    y = npy("y.npy") as class(10)[]
}

model Linear {
    input x: f32[B, 1024]
    output logits = linear(x, 10)
}

train fit {
    model     = Linear()
    data      = big
    batch     = 128
    steps     = 200
    loss      = cross_entropy(logits, y)
    optimizer = sgd(lr = 0.01)
}
EOF

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Runs dlpc with the environment given, and prints "seconds anon_mib file_mib".
measure() {
  local start end pid anon=0 file=0 a f
  start=$(date +%s.%N)
  env "$@" "$dlpc" run "$work/big.dlp" --runs "$work/runs" >/dev/null 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    a=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    f=$(awk '/^RssFile/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${a:-0}" -gt "$anon" ] && anon=$a
    [ "${f:-0}" -gt "$file" ] && file=$f
    sleep 0.02
  done
  wait "$pid"
  end=$(date +%s.%N)
  echo "$(awk "BEGIN {print $end - $start}") $((anon / 1024)) $((file / 1024))"
}

declare -A results
for i in $(seq 1 "$runs"); do
  results[read]+="$(measure DLP_MAP_OVER=1000000000000000)"$'\n'
  results[mapped]+="$(measure -u DLP_MAP_OVER)"$'\n'
done
for mode in read mapped; do
  rows=$(printf '%s' "${results[$mode]}")
  s=$(echo "$rows" | awk '{print $1}' | median)
  anon=$(echo "$rows" | awk '{print $2}' | median)
  file=$(echo "$rows" | awk '{print $3}' | median)
  echo "$mode: ${s} s, peak RssAnon ${anon} MiB, peak RssFile ${file} MiB (median of $runs)"
done
