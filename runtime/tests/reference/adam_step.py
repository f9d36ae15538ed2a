"""Reference for runtime/tests/adam_reference.rs: two Adam steps (L2 weight
decay 0.1, lr 0.01) on a 3-4-2 ReLU MLP with cross entropy, in float64 numpy,
independently of dlp. Regenerate with `python3 adam_step.py > adam_step.json`."""
import json
import numpy as np

rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, (5, 3))
y = np.array([0, 1, 1, 0, 1])
params = {
    "h.w": rng.uniform(-0.5, 0.5, (3, 4)),
    "h.b": rng.uniform(-0.1, 0.1, (4,)),
    "logits.w": rng.uniform(-0.5, 0.5, (4, 2)),
    "logits.b": rng.uniform(-0.1, 0.1, (2,)),
}
x = x.astype(np.float32).astype(np.float64)
params = {k: v.astype(np.float32).astype(np.float64) for k, v in params.items()}
initial = {k: v.copy() for k, v in params.items()}
lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.1
m = {k: np.zeros_like(v) for k, v in params.items()}
v = {k: np.zeros_like(p) for k, p in params.items()}
losses = []
for t in (1, 2):
    z = x @ params["h.w"] + params["h.b"]
    h = np.maximum(z, 0)
    logits = h @ params["logits.w"] + params["logits.b"]
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    onehot = np.eye(2)[y]
    losses.append(float(-(logp * onehot).sum(axis=1).mean()))
    dlogits = (np.exp(logp) - onehot) / len(y)
    grads = {"logits.w": h.T @ dlogits, "logits.b": dlogits.sum(axis=0)}
    dh = dlogits @ params["logits.w"].T
    dz = dh * (z > 0)
    grads["h.w"] = x.T @ dz
    grads["h.b"] = dz.sum(axis=0)
    for k in params:
        g = grads[k] + wd * params[k]
        m[k] = b1 * m[k] + (1 - b1) * g
        v[k] = b2 * v[k] + (1 - b2) * g * g
        m_hat = m[k] / (1 - b1 ** t)
        v_hat = v[k] / (1 - b2 ** t)
        params[k] = params[k] - lr * m_hat / (np.sqrt(v_hat) + eps)

tolist = lambda d: {k: {"shape": list(a.shape), "values": a.ravel().tolist()} for k, a in d.items()}
print(json.dumps({
    "x": x.ravel().tolist(),
    "y": y.tolist(),
    "initial": tolist(initial),
    "losses": losses,
    "after_two_steps": tolist(params),
}, indent=1))
