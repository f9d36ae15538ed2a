#!/usr/bin/env bash
# The GPU back end on a machine with a GPU, in one script (for the device
# machine: build here, carry target/release/dlpc and the test binaries):
#   1. the adapters wgpu finds (`dlpc devices`);
#   2. conformance: the GPU test binaries given in DLP_GPU_TESTS (paths of
#      the `gpu`, `ops` and `gpu_run` test executables built with
#      `cargo test --release --no-run`), with DLP_REQUIRE_GPU=1;
#   3. the W1 MLP and the W2 CNN (bench/w1_mlp.dlp, bench/w2_cnn.dlp):
#      `dlpc run --device gpu` beside PyTorch CUDA eager and torch.compile
#      (bench/peers.py), interleaved for N rounds (default 3): the median
#      steady samples/s, start-up seconds and last loss of each;
#   4. `dlpc run --profile` of each: the share of GPU time per kind of
#      kernel (matrix products, convolutions...).
# Needs Fashion-MNIST under /usr/share/datasets/fashion-mnist (or FASHION=
# a folder holding its four .gz files, linked there), and for the peers a
# Python with torch (PYTHON=..., default python3).
# Usage: bash bench/gpu.sh [rounds] [w1|w2|both]
set -uo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
which=${2:-both}
python=${PYTHON:-python3}
dlpc=${DLPC:-target/release/dlpc}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -n "${FASHION:-}" ] && [ ! -d /usr/share/datasets/fashion-mnist ]; then
  mkdir -p /usr/share/datasets && ln -s "$(realpath "$FASHION")" /usr/share/datasets/fashion-mnist
fi

echo "== adapters"
"$dlpc" devices

echo "== conformance"
for t in ${DLP_GPU_TESTS:-}; do
  DLP_REQUIRE_GPU=1 "$t" --test-threads 1 2>&1 | grep -E "^test |test result|GPU:|largest|panicked" || true
done

# One measurement as a JSON line.
measure() {
  local model=$1 who=$2 file
  file=bench/${model}_$([ "$model" = w1 ] && echo mlp || echo cnn).dlp
  if [ "$who" = dlp-gpu ]; then
    rm -rf "$work/runs"
    "$dlpc" run "$file" --device gpu --runs "$work/runs" >/dev/null 2>"$work/err" || {
      tail -3 "$work/err" >&2
      return 1
    }
    python3 - "$work/runs" <<'PY'
import glob, json, sys
run = glob.glob(sys.argv[1] + "/*/")[0]
s = json.load(open(run + "summary.json"))
last = [json.loads(l) for l in open(run + "metrics.jsonl") if '"step"' in l][-1]
print(json.dumps({"steady_samples_per_second": s["steady_samples_per_second"],
                  "startup_seconds": s["startup_seconds"], "final_loss": last["loss"]}))
PY
  else
    "$python" bench/peers.py "$model" "$who" 2>"$work/err" | tail -1
    [ "${PIPESTATUS[0]}" = 0 ] || { tail -3 "$work/err" >&2; return 1; }
  fi
}

models=(w1 w2)
[ "$which" = both ] || models=("$which")
for model in "${models[@]}"; do
  echo "== $model"
  : >"$work/$model.jsonl"
  for round in $(seq 1 "$rounds"); do
    for who in dlp-gpu torch-cuda torch-cuda-compile; do
      if line=$(measure "$model" "$who"); then
        echo "{\"who\": \"$who\", \"figures\": $line}" >>"$work/$model.jsonl"
      else
        echo "$model $who: failed (round $round)" >&2
      fi
    done
  done
  python3 - "$work/$model.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for who in dict.fromkeys(r["who"] for r in rows):
    figs = [r["figures"] for r in rows if r["who"] == who]
    med = lambda k: statistics.median(f[k] for f in figs)
    print(f"{who:20} {med('steady_samples_per_second'):12.0f} samples/s  "
          f"start-up {med('startup_seconds'):6.2f} s  last loss {figs[-1]['final_loss']:.4f}  ({len(figs)} runs)")
PY
done

for model in "${models[@]}"; do
  echo "== $model, profiled"
  file=bench/${model}_$([ "$model" = w1 ] && echo mlp || echo cnn).dlp
  rm -rf "$work/runs"
  "$dlpc" run "$file" --device gpu --profile --runs "$work/runs" 2>&1 |
    sed -n '/GPU time in kernels/,/^$/p' | head -20
done
