//! Dilated and grouped convolutions (rewrites of the kernel onto the IR's
//! `conv`) against a direct loop over the definition, on the interpreter
//! and the CPU back end.

use dlp_compiler::ir::Input;
use dlp_compiler::lower::{self, Predict};
use dlp_compiler::{compile, NoModules};
use dlp_runtime::backend::Backend;
use dlp_runtime::train::infer::{self, Trained};
use dlp_runtime::Tensor;
use std::collections::HashMap;

const SAMPLES: usize = 3;
const C: usize = 4;
const S: usize = 5;

const PROGRAM: &str = r#"
use std.loss.mse
use std.optim.sgd

dataset d {
    source = csv("x.csv", header = true)
    x      = columns(0..100) as f32[4, 5, 5]
    y      = column("y")
}

model M {
    input x: f32[B, 4, 5, 5]
    param wd: f32[2, 4, 2, 2] = normal()
    param wg: f32[6, 2, 3, 3] = normal()
    output a = conv(x, wd, dilation = 2)
    output b = conv(x, wg, pad = 1, groups = 2)
    output c = conv(x, wg, stride = 2, pad = 2, dilation = 2, groups = 2)
    output s = sum(reshape(a, [B, 18]), axis = 1)
}

train t {
    model     = M()
    data      = d
    batch     = 3
    epochs    = 1
    loss      = mse(s, y)
    optimizer = sgd(lr = 0.1)
}
"#;

/// Channel `c`, row `i`, column `j` of sample `s`.
fn x(s: usize, c: usize, i: usize, j: usize) -> f64 {
    ((s * 31 + c * 7 + i * 3 + j) % 11) as f64 - 5.0
}

/// A kernel's values, distinct and small.
fn kernel(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::f32(
        shape.to_vec(),
        (0..n).map(|i| ((i * 5) % 13) as f32 / 4.0 - 1.5).collect(),
    )
}

/// The definition: output (o, p, q) sums w[o, ci, u, v] * x[g * I + ci,
/// p * stride - pad + u * dilation, q * stride - pad + v * dilation] over
/// the input channels `ci` of the output's group `g` (zero outside x).
#[allow(clippy::too_many_arguments)]
fn reference(
    s: usize,
    w: &Tensor,
    stride: usize,
    pad: usize,
    dilation: usize,
    groups: usize,
    out_side: usize,
) -> Vec<f64> {
    let (o_n, i_n, k) = (w.shape[0], w.shape[1], w.shape[2]);
    let wv = w.to_f64();
    let mut out = Vec::new();
    for o in 0..o_n {
        let g = o / (o_n / groups);
        for p in 0..out_side {
            for q in 0..out_side {
                let mut acc = 0.0;
                for ci in 0..i_n {
                    for u in 0..k {
                        for v in 0..k {
                            let i = (p * stride + u * dilation) as isize - pad as isize;
                            let j = (q * stride + v * dilation) as isize - pad as isize;
                            if (0..S as isize).contains(&i) && (0..S as isize).contains(&j) {
                                let wi = ((o * i_n + ci) * k + u) * k + v;
                                acc += wv[wi] * x(s, g * i_n + ci, i as usize, j as usize);
                            }
                        }
                    }
                }
                out.push(acc);
            }
        }
    }
    out
}

fn outputs(backend: Backend, params: &HashMap<String, Tensor>) -> HashMap<String, Vec<f64>> {
    let dir = tempfile::tempdir().unwrap();
    let mut text: String = (0..C * S * S).map(|k| format!("c{k},")).collect();
    text.push_str("y\n");
    for s in 0..SAMPLES {
        for c in 0..C {
            for i in 0..S {
                for j in 0..S {
                    text.push_str(&format!("{},", x(s, c, i, j)));
                }
            }
        }
        text.push_str("0\n");
    }
    std::fs::write(dir.path().join("x.csv"), text).unwrap();
    let comp = compile("p.dlp", PROGRAM, &mut NoModules);
    assert!(!comp.has_errors(), "{:?}", comp.diagnostics);
    let step = lower::prediction(&comp, None, "d", Predict::Outputs).unwrap();
    assert!(step
        .step
        .graph()
        .input(&Input::Param("wd".into()))
        .is_some());
    let model = Trained {
        params,
        seed: 7,
        vocabulary: None,
    };
    let p = infer::predict(&step, None, dir.path(), &model, backend).unwrap();
    p.outputs
        .into_iter()
        .map(|(o, _, values)| (o.name, values))
        .collect()
}

#[test]
fn dilated_and_grouped_convolutions_follow_the_definition() {
    let params = HashMap::from([
        ("wd".to_string(), kernel(&[2, 4, 2, 2])),
        ("wg".to_string(), kernel(&[6, 2, 3, 3])),
    ]);
    let cases = [
        ("a", "wd", 1, 0, 2, 1, 3),
        ("b", "wg", 1, 1, 1, 2, 5),
        ("c", "wg", 2, 2, 2, 2, 3),
    ];
    for backend in [Backend::Interp, Backend::Cpu] {
        let got = outputs(backend, &params);
        for (name, w, stride, pad, dilation, groups, side) in cases {
            let per_sample = got[name].len() / SAMPLES;
            for s in 0..SAMPLES {
                let want = reference(s, &params[w], stride, pad, dilation, groups, side);
                let have = &got[name][s * per_sample..(s + 1) * per_sample];
                assert_eq!(have.len(), want.len(), "{name}");
                for (i, (h, w)) in have.iter().zip(&want).enumerate() {
                    assert!(
                        (h - w).abs() <= 1e-4 * (1.0 + w.abs()),
                        "{backend:?} {name}[{s}][{i}]: {h}, expected {w}"
                    );
                }
            }
        }
    }
}
