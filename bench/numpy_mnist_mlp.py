"""Baseline for bench/train.sh: the MNIST MLP of examples/mnist_mlp.dlp
(784-256-10, ReLU, dropout 0.2, softmax cross entropy, Adam lr 1e-3 with
100 warmup steps then cosine, global-norm clipping at 5, batch 64, 12
epochs on 8,000 samples) hand-written in float32 numpy, single process.
Prints training samples/s and test accuracy.

Usage: python3 bench/numpy_mnist_mlp.py
"""
import gzip
import time

import numpy as np


def idx(path):
    data = gzip.open(path).read()
    ndims = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndims).reshape(dims)


x = idx("examples/data/mnist10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255
y = idx("examples/data/mnist10k-labels-idx1-ubyte.gz").astype(np.int64)
rng = np.random.default_rng(1)
order = rng.permutation(len(x))
train, test = order[:8000], order[8000:]

def glorot(i, o):
    limit = np.sqrt(6 / (i + o))
    return rng.uniform(-limit, limit, (i, o)).astype(np.float32)

params = {"w1": glorot(784, 256), "b1": np.zeros(256, np.float32), "w2": glorot(256, 10), "b2": np.zeros(10, np.float32)}
m = {k: np.zeros_like(v) for k, v in params.items()}
v = {k: np.zeros_like(p) for k, p in params.items()}
batch, epochs, base_lr = 64, 12, 1e-3
steps_per_epoch = len(train) // batch
total = epochs * steps_per_epoch


def lr_at(step):
    if step < 100:
        return base_lr * (step + 1) / 100
    progress = (step - 100) / (total - 100)
    return base_lr * 0.5 * (1 + np.cos(np.pi * progress))


def forward(xb, p, train_mode):
    z = xb @ p["w1"] + p["b1"]
    h = np.maximum(z, 0)
    mask = None
    if train_mode:
        mask = (rng.random(h.shape, dtype=np.float32) >= 0.2).astype(np.float32) / 0.8
        h = h * mask
    logits = h @ p["w2"] + p["b2"]
    return z, h, mask, logits


step = 0
start = time.perf_counter()
for epoch in range(epochs):
    perm = rng.permutation(train)
    for s in range(steps_per_epoch):
        rows = perm[s * batch:(s + 1) * batch]
        xb, yb = x[rows], y[rows]
        z, h, mask, logits = forward(xb, params, True)
        shifted = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted)
        probs /= probs.sum(axis=1, keepdims=True)
        d = probs
        d[np.arange(batch), yb] -= 1
        d /= batch
        g = {"w2": h.T @ d, "b2": d.sum(0)}
        dh = (d @ params["w2"].T) * mask * (z > 0)
        g["w1"] = xb.T @ dh
        g["b1"] = dh.sum(0)
        norm = np.sqrt(sum(float((gi * gi).sum()) for gi in g.values()))
        scale = min(1.0, 5.0 / (norm + 1e-6))
        t, lr = step + 1, lr_at(step)
        for k in params:
            gk = g[k] * scale
            m[k] = 0.9 * m[k] + 0.1 * gk
            v[k] = 0.999 * v[k] + 0.001 * gk * gk
            params[k] -= lr * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
        step += 1
seconds = time.perf_counter() - start
_, _, _, logits = forward(x[test], params, False)
accuracy = (logits.argmax(1) == y[test]).mean()
print(f"numpy: {step * batch / seconds:.0f} samples/s over {step} steps ({seconds:.2f} s), test accuracy {accuracy:.4f}")
