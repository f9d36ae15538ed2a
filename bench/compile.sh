#!/usr/bin/env bash
# Benchmark: compile time (parse, check, lower, autodiff, update: text to
# the serialised compiled program, `dlpc emit FILE --json`) of every example,
# of bench/w1_mlp.dlp and of the generated 2,000-line program, as the median
# of N runs (default 15), with the size of the serialised program.
# Usage: bash bench/compile.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-15}
cargo build --release --quiet
dlpc=target/release/dlpc
big=$(mktemp --suffix .dlp)
trap 'rm -f "$big"' EXIT
bash bench/big_program.sh > "$big"

median_ms() {
  local times=()
  for _ in $(seq 1 "$runs"); do
    local start end
    start=$(date +%s%N)
    "$dlpc" emit "$1" --json >/dev/null
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {m=a[int((NR+1)/2)]; printf "%.2f ms (min %.2f, max %.2f)", m/1000, a[1]/1000, a[NR]/1000}'
}

for f in examples/*.dlp bench/w1_mlp.dlp "$big"; do
  name=$f
  [ "$f" = "$big" ] && name="generated 2,000-line program"
  bytes=$("$dlpc" emit "$f" --json | wc -c)
  echo "$name: $(median_ms "$f"), serialised program $bytes bytes"
done
