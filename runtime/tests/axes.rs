//! Indexing, slicing and the axis built-ins (`permute`, `transpose`,
//! `stack`, `pad`, `arange`) on real data: each output of a program is
//! compared, sample by sample, with the values picked by hand from the
//! sample's `[2, 3, 4]` block, on the interpreter and the CPU back end;
//! and the gradient of a loss through all of them agrees with central
//! finite differences.

mod common;

use common::{inputs, Gen, BATCH};
use dlp_compiler::ir::{Input, Output};
use dlp_compiler::lower::{self, Predict};
use dlp_compiler::{compile, NoModules};
use dlp_runtime::backend::Backend;
use dlp_runtime::interp::Interpreter;
use dlp_runtime::train::infer::{self, Trained};
use dlp_runtime::Tensor;
use std::collections::HashMap;

const SAMPLES: usize = 12;

/// Element (i, j, k) of sample `s`: distinct everywhere.
fn v(s: usize, i: usize, j: usize, k: usize) -> f64 {
    (100 * s + 12 * i + 4 * j + k) as f64
}

const PROGRAM: &str = r#"
use std.loss.mse
use std.optim.sgd

dataset d {
    source = csv("blocks.csv", header = true)
    x      = columns(0..24) as f32[2, 3, 4]
    z      = (columns(0..24) as f32[2, 3, 4])[1, ::-1, 0]
    w      = permute(columns(0..24) as f32[2, 3, 4], [2, 0, 1])
    o      = column("o") as i64
    y      = column("y")
}

model M {
    input x: f32[B, 2, 3, 4]
    input z: f32[B, 3]
    input w: f32[B, 4, 2, 3]
    input o: i64[B]
    output a = x[:, 1, 0:3:2, -1]
    output b = x[:, ::-1, 2, ::2]
    output c = permute(x, [0, 3, 1, 2])
    output d = stack([x[:, 0], x[:, 1]], axis = -1)
    output e = pad(x, [1, 2], axis = -1, value = -1.0)
    output f = transpose(x, 1, 3)
    output g = x[..., 1]
    output h = x[:, :, 1:, ::3]
    output i = x[:, 1, 2:0:-1, 0]
    output m = where(arange(4) >= 2, x[:, 0, 0], 0.0)
    output zz = z
    output k = crop(x, 1, 2, 2)
    output l = crop(x, o, o, 2)
    output ww = w
    output s = sum(reshape(x, [B, 24]), axis = 1)
}

train t {
    model     = M()
    data      = d
    batch     = 4
    epochs    = 1
    loss      = mse(s, y)
    optimizer = sgd(lr = 0.1)
}
"#;

fn outputs(backend: Backend) -> HashMap<String, Vec<Vec<f64>>> {
    let dir = tempfile::tempdir().unwrap();
    let mut text: String = (0..24).map(|k| format!("c{k},")).collect();
    text.push_str("o,y\n");
    for s in 0..SAMPLES {
        for i in 0..2 {
            for j in 0..3 {
                for k in 0..4 {
                    text.push_str(&format!("{},", v(s, i, j, k)));
                }
            }
        }
        text.push_str(&format!("{},0\n", s % 3));
    }
    std::fs::write(dir.path().join("blocks.csv"), text).unwrap();
    let comp = compile("p.dlp", PROGRAM, &mut NoModules);
    assert!(!comp.has_errors(), "{:?}", comp.diagnostics);
    let step = lower::prediction(&comp, None, "d", Predict::Outputs).unwrap();
    let params = HashMap::new();
    let model = Trained {
        params: &params,
        seed: 7,
        vocabulary: None,
    };
    let p = infer::predict(&step, None, dir.path(), &model, backend).unwrap();
    assert_eq!(p.samples, SAMPLES);
    p.outputs
        .into_iter()
        .map(|(o, _, values)| {
            let width: usize = o.shape.iter().product();
            (o.name, values.chunks(width).map(<[f64]>::to_vec).collect())
        })
        .collect()
}

/// What each output of [`PROGRAM`] holds for sample `s`, in row-major order.
fn expected(s: usize) -> Vec<(&'static str, Vec<f64>)> {
    let v = |i, j, k| v(s, i, j, k);
    let mut out = Vec::new();
    out.push(("a", [0, 2].map(|j| v(1, j, 3)).to_vec()));
    let mut b = Vec::new();
    for i in [1, 0] {
        for k in [0, 2] {
            b.push(v(i, 2, k));
        }
    }
    out.push(("b", b));
    let (mut c, mut f) = (Vec::new(), Vec::new());
    for k in 0..4 {
        for i in 0..2 {
            for j in 0..3 {
                c.push(v(i, j, k));
            }
        }
        for j in 0..3 {
            for i in 0..2 {
                f.push(v(i, j, k));
            }
        }
    }
    out.push(("c", c));
    out.push(("f", f));
    let (mut d, mut g) = (Vec::new(), Vec::new());
    for j in 0..3 {
        for k in 0..4 {
            d.extend([v(0, j, k), v(1, j, k)]);
        }
    }
    for i in 0..2 {
        for j in 0..3 {
            g.push(v(i, j, 1));
        }
    }
    out.push(("d", d));
    out.push(("g", g));
    let mut e = Vec::new();
    for i in 0..2 {
        for j in 0..3 {
            for m in 0..7 {
                e.push(if (1..5).contains(&m) {
                    v(i, j, m - 1)
                } else {
                    -1.0
                });
            }
        }
    }
    out.push(("e", e));
    let mut h = Vec::new();
    for i in 0..2 {
        for j in [1, 2] {
            for k in [0, 3] {
                h.push(v(i, j, k));
            }
        }
    }
    out.push(("h", h));
    out.push(("i", [2, 1].map(|j| v(1, j, 0)).to_vec()));
    out.push(("m", vec![0.0, 0.0, v(0, 0, 2), v(0, 0, 3)]));
    out.push(("zz", [2, 1, 0].map(|j| v(1, j, 0)).to_vec()));
    let mut w = Vec::new();
    for k in 0..4 {
        for i in 0..2 {
            for j in 0..3 {
                w.push(v(i, j, k));
            }
        }
    }
    out.push(("ww", w));
    // `crop` offsets past the edge are moved inside: at most 3 - 2 and 4 - 2.
    let window = |top: usize, left: usize| {
        let mut w = Vec::new();
        for i in 0..2 {
            for j in top..top + 2 {
                for k in left..left + 2 {
                    w.push(v(i, j, k));
                }
            }
        }
        w
    };
    out.push(("k", window(1, 2)));
    out.push(("l", window((s % 3).min(1), (s % 3).min(2))));
    out
}

// `s` is a sample: it indexes every output, and the expected values.
#[allow(clippy::needless_range_loop)]
#[test]
fn indexing_and_axis_built_ins_pick_the_values_numpy_would() {
    for backend in [Backend::Interp, Backend::Cpu] {
        let got = outputs(backend);
        for s in 0..SAMPLES {
            for (name, want) in expected(s) {
                let sample = &got[name][s];
                assert_eq!(sample, &want, "{backend:?}: output `{name}` of sample {s}");
            }
        }
    }
}

/// A loss through every construct above, of a parameter: quadratic, so
/// central differences are exact up to rounding.
const GRADIENT_PROGRAM: &str = r#"
use std.loss.mse
use std.optim.sgd

dataset d {
    source = csv("blocks.csv", header = true)
    x      = columns(0..24) as f32[2, 3, 4]
    y      = column("y")
}

model M {
    input x: f32[B, 2, 3, 4]
    param p: f32[2, 3, 4] = normal()
    q = x * p
    parts = [
        reshape(q[:, 1, 0:3:2, -1], [B, 2]),
        reshape(q[:, ::-1, 2, ::2], [B, 4]),
        reshape(permute(q, [0, 3, 1, 2]), [B, 24]) * 0.5,
        reshape(stack([q[:, 0], q[:, 1]], axis = -1), [B, 24]) * 0.25,
        reshape(pad(q, [1, 2], axis = 3, value = -1.0), [B, 42]),
        reshape(transpose(q, 1, 3), [B, 24]) * 2.0,
        reshape(q[:, :, 1:, ::3], [B, 8]),
        reshape(where(arange(4) >= 2, q[:, 0, 0], 0.0), [B, 4]),
        reshape(crop(q, 1, 2, 2), [B, 8]),
    ]
    output s = sum(concat(parts, axis = 1), axis = 1)
}

train t {
    model     = M()
    data      = d
    batch     = 4
    epochs    = 1
    loss      = mse(s, y)
    optimizer = sgd(lr = 0.1)
}
"#;

#[test]
fn gradients_through_indexing_agree_with_finite_differences() {
    let comp = compile("p.dlp", GRADIENT_PROGRAM, &mut NoModules);
    assert!(!comp.has_errors(), "{:?}", comp.diagnostics);
    let program = lower::compile(&comp, None).expect("compiles");
    let step = &program.train.gradients;
    let mut gen = Gen(3);
    let mut values = inputs(step.graph(), &program, &mut gen);
    // Small inputs keep the loss, and so its rounding, small.
    for (input, t) in values.iter_mut() {
        if matches!(input, Input::Feed(_) | Input::Param(_)) {
            *t = Tensor::f32(
                t.shape.clone(),
                t.to_f64().iter().map(|x| *x as f32 * 0.1).collect(),
            );
        }
    }
    let run = |values: &HashMap<Input, Tensor>| {
        let lookup = |i: &Input| values.get(i);
        Interpreter::new(step)
            .run(BATCH, &lookup)
            .expect("the interpreter")
    };
    let out = run(&values);
    let find = |out: &[(Output, Tensor)], o: &Output| {
        out.iter()
            .find(|(k, _)| k == o)
            .expect("the output")
            .1
            .to_f64()
    };
    let grad = find(&out, &Output::Gradient("p".into()));
    let param = Input::param("p");
    let base = values[&param].to_f64();
    // Exact for a quadratic at any step: a large one keeps rounding small.
    let h = 0.5;
    for (k, g) in grad.iter().enumerate() {
        let loss_at = |delta: f64| {
            let mut moved = values.clone();
            let mut p = base.clone();
            p[k] += delta;
            moved.insert(
                param.clone(),
                Tensor::f32(vec![2, 3, 4], p.iter().map(|x| *x as f32).collect()),
            );
            find(&run(&moved), &Output::LossSum)[0] / BATCH as f64
        };
        let fd = (loss_at(h) - loss_at(-h)) / (2.0 * h);
        assert!(
            (fd - g).abs() <= 1e-3 + 1e-2 * g.abs(),
            "d loss / d p[{k}]: autodiff {g}, finite differences {fd}"
        );
    }
}
