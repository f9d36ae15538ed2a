//! The augmentation built-ins (`flip`, `random_flip`, `random_crop`,
//! `random_erasing`) on real data: the values a model's inputs take in
//! evaluation and while training, computed by the prediction steps of a
//! program whose fields are augmented images with distinct pixels, on the
//! interpreter and the CPU back end.

use dlp_compiler::lower::{self, Predict};
use dlp_compiler::{compile, NoModules};
use dlp_runtime::backend::Backend;
use dlp_runtime::train::infer::{self, Trained};
use std::collections::HashMap;
use std::path::Path;

const SAMPLES: usize = 64;

/// 4x4 images whose pixel `k` of sample `s` is `100 s + k`.
fn csv(dir: &Path) {
    let mut text: String = (0..16).map(|k| format!("p{k},")).collect();
    text.push_str("y\n");
    for s in 0..SAMPLES {
        for k in 0..16 {
            text.push_str(&format!("{},", 100 * s + k));
        }
        text.push_str("0\n");
    }
    std::fs::write(dir.join("images.csv"), text).unwrap();
}

const PROGRAM: &str = r#"
use std.loss.mse
use std.optim.sgd

dataset d {
    source = csv("images.csv", header = true)
    x      = columns(0..16) as f32[1, 4, 4]
    mirror = flip(columns(0..16) as f32[1, 4, 4])
    maybe  = random_flip(columns(0..16) as f32[1, 4, 4])
    upside = random_flip(columns(0..16) as f32[1, 4, 4], axis = -2, p = 1.0)
    shift  = random_crop(columns(0..16) as f32[1, 4, 4], 4, pad = 1)
    small  = random_crop(columns(0..16) as f32[1, 4, 4], 2)
    erased = random_erasing(columns(0..16) as f32[1, 4, 4], 2, p = 1.0)
    y      = column("y")
}

model M {
    input x: f32[B, 1, 4, 4]
    input mirror: f32[B, 1, 4, 4]
    input maybe: f32[B, 1, 4, 4]
    input upside: f32[B, 1, 4, 4]
    input shift: f32[B, 1, 4, 4]
    input small: f32[B, 1, 2, 2]
    input erased: f32[B, 1, 4, 4]
    all = reshape(x + mirror + maybe + upside + shift + erased, [B, 16])
    output s = sum(all, axis = 1) + sum(reshape(small, [B, 4]), axis = 1)
}

train t {
    model     = M()
    data      = d
    batch     = 8
    epochs    = 1
    loss      = mse(s, y)
    optimizer = sgd(lr = 0.1)
}
"#;

/// Each input's values, sample by sample (16 or 4 pixels each), as the
/// step computing `what` gives them on `backend`.
fn inputs(what: Predict, backend: Backend) -> HashMap<String, Vec<Vec<f64>>> {
    let dir = tempfile::tempdir().unwrap();
    csv(dir.path());
    let comp = compile("p.dlp", PROGRAM, &mut NoModules);
    assert!(!comp.has_errors(), "{:?}", comp.diagnostics);
    let step = lower::prediction(&comp, None, "d", what).unwrap();
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

/// Sample `s`'s image, row by row.
fn image(s: usize) -> Vec<Vec<f64>> {
    (0..4)
        .map(|r| (0..4).map(|c| (100 * s + 4 * r + c) as f64).collect())
        .collect()
}

fn flat(rows: Vec<Vec<f64>>) -> Vec<f64> {
    rows.concat()
}

fn mirrored(s: usize) -> Vec<f64> {
    flat(
        image(s)
            .into_iter()
            .map(|r| r.into_iter().rev().collect())
            .collect(),
    )
}

fn upside_down(s: usize) -> Vec<f64> {
    flat(image(s).into_iter().rev().collect())
}

/// The `size` x `size` window at (`top`, `left`) of sample `s`'s image
/// zero-padded by `pad`.
fn window(s: usize, pad: usize, size: usize, top: usize, left: usize) -> Vec<f64> {
    let at = |r: usize, c: usize| {
        let (r, c) = (r as i64 - pad as i64, c as i64 - pad as i64);
        if (0..4).contains(&r) && (0..4).contains(&c) {
            image(s)[r as usize][c as usize]
        } else {
            0.0
        }
    };
    (0..size)
        .flat_map(|i| (0..size).map(move |j| (i, j)))
        .map(|(i, j)| at(top + i, left + j))
        .collect()
}

/// Sample `s`'s image with the 2 x 2 square at (`top`, `left`) set to 0.
fn erased_square(s: usize, top: usize, left: usize) -> Vec<f64> {
    let mut rows = image(s);
    for row in rows.iter_mut().skip(top).take(2) {
        for v in row.iter_mut().skip(left).take(2) {
            *v = 0.0;
        }
    }
    flat(rows)
}

// `s` is a sample: it indexes every field, and the expected images.
#[allow(clippy::needless_range_loop)]
#[test]
fn in_evaluation_only_flip_changes_the_image_and_crops_take_the_centre() {
    for backend in [Backend::Interp, Backend::Cpu] {
        let v = inputs(Predict::Inputs, backend);
        for s in 0..SAMPLES {
            let original = flat(image(s));
            assert_eq!(v["x"][s], original);
            assert_eq!(v["mirror"][s], mirrored(s), "{backend:?}");
            assert_eq!(v["maybe"][s], original, "{backend:?}");
            assert_eq!(v["upside"][s], original, "{backend:?}");
            assert_eq!(v["shift"][s], original, "{backend:?}");
            assert_eq!(v["small"][s], window(s, 0, 2, 1, 1), "{backend:?}");
            assert_eq!(v["erased"][s], original, "{backend:?}");
        }
    }
}

#[allow(clippy::needless_range_loop)]
#[test]
fn while_training_each_sample_draws_its_own_flip_and_window() {
    let v = inputs(Predict::TrainingInputs, Backend::Interp);
    let mut flipped = 0;
    let mut offsets = std::collections::HashSet::new();
    let mut squares = std::collections::HashSet::new();
    for s in 0..SAMPLES {
        assert_eq!(v["mirror"][s], mirrored(s));
        assert_eq!(v["upside"][s], upside_down(s), "p = 1 always flips");
        let maybe = &v["maybe"][s];
        assert!(
            *maybe == flat(image(s)) || *maybe == mirrored(s),
            "{maybe:?}"
        );
        flipped += usize::from(*maybe == mirrored(s));
        let shift = &v["shift"][s];
        let place = (0..3)
            .flat_map(|t| (0..3).map(move |l| (t, l)))
            .find(|&(t, l)| window(s, 1, 4, t, l) == *shift)
            .unwrap_or_else(|| panic!("sample {s}: {shift:?} is no window of the padded image"));
        offsets.insert(place);
        let erased = &v["erased"][s];
        let square = (0..3)
            .flat_map(|t| (0..3).map(move |l| (t, l)))
            .find(|&(t, l)| erased_square(s, t, l) == *erased)
            .unwrap_or_else(|| {
                panic!("sample {s}: {erased:?} is not the image with a 2x2 square zeroed")
            });
        squares.insert(square);
        let small = &v["small"][s];
        assert!(
            (0..3).any(|t| (0..3).any(|l| window(s, 0, 2, t, l) == *small)),
            "sample {s}: {small:?}"
        );
    }
    // 64 fair coins: fewer than 16 or more than 48 heads is a 1e-4 event.
    assert!(
        (16..=48).contains(&flipped),
        "{flipped} of {SAMPLES} flipped"
    );
    assert!(
        offsets.len() >= 6,
        "only {offsets:?} of the 9 windows drawn"
    );
    assert!(
        squares.len() >= 6,
        "only {squares:?} of the 9 squares erased"
    );
    // The same seed draws the same, on every back end.
    assert_eq!(v, inputs(Predict::TrainingInputs, Backend::Interp));
    assert_eq!(v, inputs(Predict::TrainingInputs, Backend::Cpu));
}
