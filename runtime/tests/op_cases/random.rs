//! Random ops have no reference value: their draws must be deterministic,
//! change with each key, have their distribution's range and moments, and,
//! keyed by sample, depend only on the sample (never on the batch).

use super::harness::{run, Case, Gradient};
use dlp_compiler::ir::{DType, Dist, Hyper, Input, Op, RandomKey, Size, TensorTy};
use dlp_runtime::Tensor;

/// What one random op reads: the seed, the counter (the epoch keyed by
/// sample, the step keyed by step), and the batch's sample indices.
#[derive(Clone)]
struct Key {
    seed: i32,
    counter: i32,
    samples: Vec<i32>,
}

fn key(seed: i32, counter: i32, samples: &[i32]) -> Key {
    Key {
        seed,
        counter,
        samples: samples.to_vec(),
    }
}

/// The draws of `op` (a random op), typed `ty`, for `key`.
fn draw(op: &Op, ty: &TensorTy, key: &Key) -> Tensor {
    let Op::Random { key: by, .. } = op else {
        unreachable!("a random op")
    };
    let seed = Tensor::scalar_i32(key.seed);
    let counter = Tensor::scalar_i32(key.counter);
    let samples = Tensor::i32(vec![key.samples.len()], key.samples.clone());
    let scalar = TensorTy::scalar(DType::I32);
    let inputs = match by {
        RandomKey::Sample => vec![
            (Input::Seed, scalar.clone(), &seed),
            (Input::Hyper(Hyper::Epoch), scalar, &counter),
            (
                Input::SampleIndex,
                TensorTy::new(DType::I32, vec![Size::BATCH]),
                &samples,
            ),
        ],
        RandomKey::Step => vec![
            (Input::Seed, scalar.clone(), &seed),
            (Input::Hyper(Hyper::Step), scalar, &counter),
        ],
    };
    let batch = key.samples.len().max(1);
    run(batch, &inputs, |b, x| b.add(op.clone(), x, ty.clone())).unwrap()
}

/// `per_row` elements for each of `rows` (batched keyed by sample).
fn ty(by: RandomKey, dtype: DType, rows: usize, per_row: usize) -> TensorTy {
    let rows = match by {
        RandomKey::Sample => Size::BATCH,
        RandomKey::Step => Size::fixed(rows),
    };
    TensorTy::new(dtype, vec![rows, Size::fixed(per_row)])
}

/// Sample statistics of 12000 draws against the distribution's. Each
/// bound is at least 5 standard errors of its estimate (the draws are
/// fixed, so this cannot flake; it catches a wrong distribution):
/// uniform mean 1/2 (se 0.0026), variance 1/12 (se 0.0007), P(u < 0.1) =
/// 0.1 (se 0.0027); normal mean 0 (se 0.009), variance 1 (se 0.013),
/// P(|z| < 1) = 0.683 (se 0.0042).
fn assert_moments(dist: Dist, x: &[f64]) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let share = |p: &dyn Fn(f64) -> bool| x.iter().filter(|&&v| p(v)).count() as f64 / n;
    match dist {
        Dist::Uniform => {
            assert!(
                x.iter().all(|u| (0.0..1.0).contains(u)),
                "uniform out of [0, 1)"
            );
            assert!((mean - 0.5).abs() < 0.015, "uniform mean {mean}");
            assert!((var - 1.0 / 12.0).abs() < 0.005, "uniform variance {var}");
            let below = share(&|u| u < 0.1);
            assert!((below - 0.1).abs() < 0.015, "P(u < 0.1) = {below}");
        }
        Dist::Normal => {
            assert!(
                x.iter().all(|z| z.is_finite()),
                "a normal draw is not finite"
            );
            assert!(mean.abs() < 0.05, "normal mean {mean}");
            assert!((var - 1.0).abs() < 0.07, "normal variance {var}");
            let inside = share(&|z| z.abs() < 1.0);
            assert!((inside - 0.6827).abs() < 0.025, "P(|z| < 1) = {inside}");
        }
    }
}

/// 12000 draws (10 samples of 1200, or 120 rows of 100 for one step), in
/// f64; in f32 they are the f64 draws rounded.
fn moments(op: &Op, dist: Dist, by: RandomKey) -> usize {
    let (rows, per_row) = match by {
        RandomKey::Sample => (10, 1200),
        RandomKey::Step => (120, 100),
    };
    let k = key(42, 3, &(100..110).collect::<Vec<_>>());
    let wide = draw(op, &ty(by, DType::F64, rows, per_row), &k);
    assert_eq!(wide.len(), 12000);
    assert_moments(dist, &wide.to_f64());
    let narrow = draw(op, &ty(by, DType::F32, rows, per_row), &k);
    let rounded: Vec<f32> = wide.to_f64().iter().map(|&v| v as f32).collect();
    assert_eq!(
        narrow.as_f32(),
        Some(&rounded[..]),
        "f32 draws are f64 draws rounded"
    );
    2 * wide.len()
}

/// Equal keys give equal draws; changing any part of the key (or the
/// op's stream) changes every one of them.
fn determinism(op: &Op, by: RandomKey) -> usize {
    let Op::Random {
        dist,
        stream,
        key: _,
    } = *op
    else {
        unreachable!("a random op")
    };
    let ty = ty(by, DType::F64, 4, 5);
    let base = key(7, 2, &[0, 1, 2, 3]);
    let first = draw(op, &ty, &base);
    assert_eq!(draw(op, &ty, &base), first, "the same key twice");
    let other_stream = Op::Random {
        dist,
        stream: stream + 1,
        key: by,
    };
    let mut changed = vec![
        ("seed", draw(op, &ty, &key(8, 2, &base.samples))),
        ("counter", draw(op, &ty, &key(7, 3, &base.samples))),
        ("stream", draw(&other_stream, &ty, &base)),
    ];
    if by == RandomKey::Sample {
        changed.push(("samples", draw(op, &ty, &key(7, 2, &[4, 5, 6, 7]))));
    }
    for (what, other) in &changed {
        let same = first
            .to_f64()
            .iter()
            .zip(other.to_f64())
            .filter(|(a, b)| **a == *b)
            .count();
        assert_eq!(same, 0, "another {what} repeats {same} draws");
    }
    first.len() * (1 + changed.len())
}

/// A sample draws the same numbers in a batch of 3 as alone, whether
/// its numbers are rows (`[B*2, 3]`: two rows each) or a column (`[3, B]`).
fn batch_independence(op: &Op) -> usize {
    let (all, one) = (key(5, 1, &[10, 11, 12]), key(5, 1, &[11]));
    let two_rows = Size { batch: 2, fixed: 0 };
    let rows = TensorTy::new(DType::F64, vec![two_rows, Size::fixed(3)]);
    let (big, small) = (
        draw(op, &rows, &all).to_f64(),
        draw(op, &rows, &one).to_f64(),
    );
    assert_eq!(
        &big[6..12],
        &small[..],
        "sample 11's rows, in a batch and alone"
    );
    assert_ne!(&big[0..6], &small[..], "sample 10 draws other numbers");
    let columns = TensorTy::new(DType::F64, vec![Size::fixed(3), Size::BATCH]);
    let (big, small) = (
        draw(op, &columns, &all).to_f64(),
        draw(op, &columns, &one).to_f64(),
    );
    let column: Vec<f64> = (0..3).map(|r| big[r * 3 + 1]).collect();
    assert_eq!(column, small, "sample 11's column, in a batch and alone");
    small.len() * 2 + 6
}

pub fn random(op: &Op) -> Case {
    let Op::Random { dist, key: by, .. } = *op else {
        unreachable!("a random op")
    };
    let op = op.clone();
    Case::new(
        move |_| {
            let by_sample = match by {
                RandomKey::Sample => batch_independence(&op),
                RandomKey::Step => 0,
            };
            moments(&op, dist, by) + determinism(&op, by) + by_sample
        },
        Gradient::None("not differentiable: its operands are integer seeds and counters"),
    )
}
