#!/usr/bin/env bash
# Benchmark: the W1 MLP and the W2 CNN (bench/w1_mlp.dlp, bench/w2_cnn.dlp)
# in dlp (`cpu` back end) beside PyTorch eager, torch.compile and JAX
# (bench/peers.py), interleaved (dlp, torch, torch.compile, jax, dlp, ...)
# for N rounds (default 3); prints the median of each figure:
#   samples/s over the steps after a warm-up of 20,
#   seconds from process start to the first step,
#   peak RSS, and the last step's loss.
# Needs `apt-get install dataset-fashion-mnist` and, for the peers, a
# Python with torch, jax and optax: PYTHON=/path/to/venv/bin/python
# (python3 -m venv v && v/bin/pip install torch jax optax numpy).
# Nothing else should run meanwhile; the machine's threads are all used.
# Usage: PYTHON=... bash bench/side_by_side.sh [rounds] [w1|w2|both]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
which=${2:-both}
python=${PYTHON:-python3}
cargo build --release --quiet
dlpc=target/release/dlpc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One measurement as a JSON line: the figures, plus peak RSS in MB.
measure() {
  local model=$1 who=$2 out=$work/out rss=$work/rss
  if [ "$who" = dlp ]; then
    rm -rf "$work/runs"
    /usr/bin/time -f %M -o "$rss" "$dlpc" run "bench/${model}_$([ "$model" = w1 ] && echo mlp || echo cnn).dlp" \
      --runs "$work/runs" >/dev/null 2>&1
    python3 - "$work/runs" >"$out" <<'EOF'
import glob, json, sys
run = glob.glob(sys.argv[1] + "/*/")[0]
s = json.load(open(run + "summary.json"))
last = [json.loads(l) for l in open(run + "metrics.jsonl") if '"step"' in l][-1]
print(json.dumps({"steady_samples_per_second": s["steady_samples_per_second"],
                  "startup_seconds": s["startup_seconds"], "final_loss": last["loss"]}))
EOF
  else
    /usr/bin/time -f %M -o "$rss" "$python" bench/peers.py "$model" "$who" 2>/dev/null | tail -1 >"$out"
  fi
  python3 -c "import json,sys; d=json.loads(open(sys.argv[1]).read()); d['rss_mb']=int(open(sys.argv[2]).read().split()[-1])/1024; print(json.dumps(d))" "$out" "$rss"
}

models=(w1 w2)
[ "$which" = both ] || models=("$which")
for model in "${models[@]}"; do
  : >"$work/$model.jsonl"
  for round in $(seq 1 "$rounds"); do
    for who in dlp torch torch-compile jax; do
      if line=$(measure "$model" "$who"); then
        echo "{\"who\": \"$who\", \"figures\": $line}" >>"$work/$model.jsonl"
      else
        echo "$model $who: failed (round $round)" >&2
      fi
    done
  done
  python3 - "$work/$model.jsonl" "$model" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{sys.argv[2]}  (medians of {max(1, len(rows) // 4)} rounds)")
print(f"{'':14} {'samples/s':>10} {'dlp÷this':>8} {'startup s':>10} {'peak MB':>8} {'last loss':>10}")
def median(who, key):
    return statistics.median(r["figures"][key] for r in rows if r["who"] == who)
dlp = median("dlp", "steady_samples_per_second")
for who in ["dlp", "torch", "torch-compile", "jax"]:
    if not any(r["who"] == who for r in rows):
        continue
    rate = median(who, "steady_samples_per_second")
    print(f"{who:14} {rate:10.0f} {dlp / rate:8.2f} {median(who, 'startup_seconds'):10.2f} "
          f"{median(who, 'rss_mb'):8.0f} {median(who, 'final_loss'):10.4f}")
EOF
done
