#!/usr/bin/env bash
# Prints a dlp program of ~2,000 lines: 250 residual MLP blocks and a model
# chaining them. Used by bench/check.sh and bench/lsp.sh.
set -euo pipefail
echo "use std.nn.{linear, relu, dropout, layer_norm}"
echo "use std.loss.cross_entropy"
echo "use std.metrics.accuracy"
echo "use std.optim.adam"
echo
for i in $(seq 1 250); do
  echo "/// Block $i: a residual MLP block."
  echo "fn block$i(x: f32[..N, D], hidden: int) -> f32[..N, D] {"
  echo "    h = relu(linear(layer_norm(x), hidden))"
  echo "    h = dropout(h, p = 0.1)"
  echo "    x + linear(h, D)"
  echo "}"
  echo
done
echo "model Deep(width: int = 64) {"
echo "    input x: f32[B, 64]"
echo "    h = linear(x, width)"
for i in $(seq 1 250); do echo "    h = block$i(h, width * 2)"; done
echo "    output logits = linear(h, 10)"
echo "}"
echo
echo "dataset digits {"
echo "    source  = csv(\"data/digits.csv\", header = true)"
echo "    x       = columns(0..64) as f32[64] / 16.0"
echo "    y       = column(\"target\") as class(10)"
echo "    split   = { train: 0.8, test: 0.2 }"
echo "}"
echo
echo "train deep {"
echo "    model     = Deep(width = 128)"
echo "    data      = digits.train"
echo "    epochs    = 1"
echo "    loss      = cross_entropy(logits, y)"
echo "    optimizer = adam()"
echo "    metrics   = [accuracy(logits, y)]"
echo "}"
