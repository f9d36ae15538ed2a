#!/usr/bin/env bash
# Benchmark: `dlpc lsp` latency as an editor sees it (diagnostics after a
# change, hover, completion), in-process through the real server, on the
# examples and on the generated 2,000-line program. Prints medians.
# Usage: bash bench/lsp.sh
set -euo pipefail
cd "$(dirname "$0")/.."
big=$(mktemp --suffix .dlp)
trap 'rm -f "$big"' EXIT
bash bench/big_program.sh > "$big"
cargo bench --quiet --bench lsp -- examples/*.dlp "$big"
