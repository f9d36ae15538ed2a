"""The W1 MLP and the W2 CNN of bench/w1_mlp.dlp and bench/w2_cnn.dlp, in
PyTorch (eager or torch.compile) or JAX (jit + optax), for
bench/side_by_side.sh: Fashion-MNIST's training set, x = pixels / 255,
softmax cross entropy, Adam lr 1e-3, shuffled every epoch, 2 threads.

Prints one JSON line: samples/s over the steps after a warm-up of 20,
seconds from process start to the first step, the last step's loss.

Usage: python3 bench/peers.py w1|w2 torch|torch-compile|jax|torch-cuda|torch-cuda-compile
(the CUDA variants keep the model on the GPU and copy each batch there, as
`dlpc run --device gpu` does; bench/gpu.sh runs them).
Needs: pip install torch jax optax numpy (see bench/side_by_side.sh).
"""
import gzip
import json
import os
import sys
import time

WARM_UP = 20
DATA = "/usr/share/datasets/fashion-mnist"


def process_age():
    """Seconds since this process started (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/self/stat") as f:
        start = int(f.read().rsplit(")", 1)[1].split()[19]) / ticks
    with open("/proc/uptime") as f:
        return float(f.read().split()[0]) - start


def idx(name):
    import numpy as np

    data = gzip.open(f"{DATA}/{name}").read()
    ndims = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndims).reshape(dims)


def batches(x, y, batch, steps, seed=1):
    import numpy as np

    rng = np.random.default_rng(seed)
    done = 0
    while done < steps:
        order = rng.permutation(len(x))
        for i in range(len(x) // batch):
            if done == steps:
                return
            rows = order[i * batch:(i + 1) * batch]
            yield x[rows], y[rows]
            done += 1


def settings(model):
    if model == "w1":
        return 128, 468, (-1, 784)
    return 64, 300, (-1, 1, 28, 28)


def run_torch(model, compiled, cuda=False):
    import torch
    import torch.nn as nn

    torch.set_num_threads(2)
    device = torch.device("cuda" if cuda else "cpu")
    batch, steps, shape = settings(model)
    x = torch.from_numpy(idx("train-images-idx3-ubyte.gz").reshape(shape).copy())
    y = torch.from_numpy(idx("train-labels-idx1-ubyte.gz").astype("int64"))
    if model == "w1":
        net = nn.Sequential(
            nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
        )
    else:
        net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10),
        )
    net = net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def step(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb.float() / 255.0), yb)
        loss.backward()
        opt.step()
        return loss

    if compiled:
        step = torch.compile(step)
    return train(step, batches(x.numpy(), y.numpy(), batch, steps), batch,
                 lambda b: (torch.from_numpy(b[0]).to(device, non_blocking=True),
                            torch.from_numpy(b[1]).to(device, non_blocking=True)),
                 lambda loss: float(loss))


def run_jax(model):
    os.environ.setdefault(
        "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=2"
    )
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    batch, steps, shape = settings(model)
    x = idx("train-images-idx3-ubyte.gz").reshape(shape)
    y = idx("train-labels-idx1-ubyte.gz").astype(np.int32)
    key = jax.random.PRNGKey(0)

    def dense(key, i, o):
        limit = (6 / (i + o)) ** 0.5
        return {"w": jax.random.uniform(key, (i, o), minval=-limit, maxval=limit),
                "b": jnp.zeros(o)}

    def conv(key, cin, cout):
        limit = (6 / (9 * cin + 9 * cout)) ** 0.5
        return {"w": jax.random.uniform(key, (cout, cin, 3, 3), minval=-limit, maxval=limit),
                "b": jnp.zeros(cout)}

    keys = jax.random.split(key, 4)
    if model == "w1":
        params = [dense(keys[0], 784, 512), dense(keys[1], 512, 512), dense(keys[2], 512, 10)]

        def forward(p, xb):
            h = jax.nn.relu(xb @ p[0]["w"] + p[0]["b"])
            h = jax.nn.relu(h @ p[1]["w"] + p[1]["b"])
            return h @ p[2]["w"] + p[2]["b"]
    else:
        params = [conv(keys[0], 1, 32), conv(keys[1], 32, 64),
                  dense(keys[2], 3136, 128), dense(keys[3], 128, 10)]

        def block(p, h):
            h = jax.lax.conv_general_dilated(h, p["w"], (1, 1), ((1, 1), (1, 1)))
            h = jax.nn.relu(h + p["b"][None, :, None, None])
            return jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

        def forward(p, xb):
            h = block(p[1], block(p[0], xb))
            h = jax.nn.relu(h.reshape(h.shape[0], -1) @ p[2]["w"] + p[2]["b"])
            return h @ p[3]["w"] + p[3]["b"]

    opt = optax.adam(1e-3)
    state = [params, opt.init(params)]

    def loss_of(p, xb, yb):
        logits = forward(p, xb.astype(jnp.float32) / 255.0)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    @jax.jit
    def update(p, s, xb, yb):
        loss, grads = jax.value_and_grad(loss_of)(p, xb, yb)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    def step(xb, yb):
        state[0], state[1], loss = update(state[0], state[1], xb, yb)
        return loss

    return train(step, batches(x, y, batch, steps), batch, lambda b: b,
                 lambda loss: float(jax.block_until_ready(loss)))


def train(step, data, batch, to_inputs, value):
    """Runs every step; times those after the warm-up."""
    first_step = None
    loss = None
    for i, b in enumerate(data):
        if i == 0:
            first_step = process_age()
        if i == WARM_UP:
            value(loss)
            warm = time.perf_counter()
        loss = step(*to_inputs(b))
    final = value(loss)
    seconds = time.perf_counter() - warm
    return {"steady_samples_per_second": (i + 1 - WARM_UP) * batch / seconds,
            "startup_seconds": first_step, "final_loss": final}


if __name__ == "__main__":
    model, framework = sys.argv[1], sys.argv[2]
    if framework == "jax":
        result = run_jax(model)
    else:
        result = run_torch(model, compiled=framework.endswith("compile"),
                           cuda=framework.startswith("torch-cuda"))
    print(json.dumps(result))
