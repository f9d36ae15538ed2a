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

bash bench/big_program.sh > "$big"
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
