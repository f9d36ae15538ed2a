"""Checks a model written by `dlpc export` with ONNX's own tools (tests/onnx_export.rs
runs this).

    python check_onnx.py MODEL.onnx

Beside MODEL.onnx, `dlpc export --samples N` wrote MODEL.inputs.npz (the
first N samples' inputs, named as the model's inputs) and MODEL.outputs.npz
(dlp's outputs for them). This script

  - validates the model with `onnx.checker` (full check, with shape inference),
  - runs it with onnxruntime on all N samples, on the first one alone and on
    the first seven (the batch axis is dynamic), and
  - compares every output with dlp's within rtol 1e-4, atol 1e-5.

Needs `onnx`, `onnxruntime` and `numpy`. Prints one line per model; exits
non-zero with the worst mismatch on failure.
"""

import sys

import numpy as np
import onnx
import onnxruntime as ort

RTOL, ATOL = 1e-4, 1e-5


def main(path):
    stem = path[: -len(".onnx")]
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    inputs = dict(np.load(stem + ".inputs.npz"))
    expected = dict(np.load(stem + ".outputs.npz"))
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    input_names = [i.name for i in session.get_inputs()]
    output_names = [o.name for o in session.get_outputs()]
    if sorted(input_names) != sorted(inputs):
        fail(f"model inputs {input_names}, samples of {sorted(inputs)}")
    if sorted(output_names) != sorted(expected):
        fail(f"model outputs {output_names}, dlp's outputs {sorted(expected)}")
    n = len(next(iter(inputs.values())))
    for batch in sorted({n, 1, min(7, n)}):
        feeds = {k: v[:batch] for k, v in inputs.items()}
        for name, got in zip(output_names, session.run(None, feeds)):
            want = expected[name][:batch]
            if got.shape != want.shape or got.dtype != want.dtype:
                fail(f"`{name}` at batch {batch}: {got.dtype}{list(got.shape)}, "
                     f"dlp gave {want.dtype}{list(want.shape)}")
            if not np.allclose(got, want, rtol=RTOL, atol=ATOL):
                diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
                i = np.unravel_index(np.argmax(diff), diff.shape)
                fail(f"`{name}` at batch {batch}, index {list(i)}: onnxruntime "
                     f"{got[i]}, dlp {want[i]}")
    ops = sorted({node.op_type for node in model.graph.node})
    print(f"{path}: {n} samples agree; inputs {input_names}, outputs "
          f"{output_names}; ops {' '.join(ops)}")


def fail(message):
    print(f"{sys.argv[1]}: {message}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1])
