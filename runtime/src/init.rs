//! Initial parameter values, drawn from the run seed and the parameter's
//! path: the same program and seed give the same model on every backend,
//! and adding a layer does not change the others' initial values.

use crate::rng;
use crate::tensor::HostTy;
use crate::tensor::Tensor;
use dlp_compiler::program::{Init, ParamSpec};

/// Fan-in and fan-out: `[in, out]` for matrices, `[out, in, kh, kw]` for
/// convolution kernels, the length for vectors.
pub fn fans(shape: &[usize]) -> (f64, f64) {
    match shape {
        [] => (1.0, 1.0),
        [n] => (*n as f64, *n as f64),
        [i, o] => (*i as f64, *o as f64),
        [o, i, rest @ ..] => {
            let field: usize = rest.iter().product();
            ((i * field) as f64, (o * field) as f64)
        }
    }
}

pub fn initialise(spec: &ParamSpec, seed: u64) -> Tensor {
    let ty = HostTy::new(spec.dtype, spec.shape.clone());
    let stream = rng::stream_of(&spec.path);
    let seed = seed as u32 ^ (seed >> 32) as u32;
    let (fan_in, fan_out) = fans(&spec.shape);
    let uniform = |i: usize, low: f64, high: f64| {
        low + (high - low) * rng::uniform(seed, stream, 0, i as u32)
    };
    let normal =
        |i: usize, mean: f64, std: f64| mean + std * rng::normal(seed, stream, 0, i as u32);
    let values: Vec<f64> = (0..ty.numel())
        .map(|i| match &spec.init {
            Init::Zeros => 0.0,
            Init::Ones => 1.0,
            Init::Constant { value } => *value,
            Init::Normal { mean, std } => normal(i, *mean, *std),
            Init::Uniform { low, high } => uniform(i, *low, *high),
            Init::GlorotUniform => {
                let limit = (6.0 / (fan_in + fan_out)).sqrt();
                uniform(i, -limit, limit)
            }
            Init::GlorotNormal => normal(i, 0.0, (2.0 / (fan_in + fan_out)).sqrt()),
            Init::HeUniform => {
                let limit = (6.0 / fan_in).sqrt();
                uniform(i, -limit, limit)
            }
            Init::HeNormal => normal(i, 0.0, (2.0 / fan_in).sqrt()),
        })
        .collect();
    Tensor::from_f64(&ty, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dlp_compiler::ir::DType;

    fn spec(init: Init, shape: Vec<usize>) -> ParamSpec {
        ParamSpec {
            state: false,
            path: "h.w".into(),
            dtype: DType::F32,
            shape,
            init,
        }
    }

    #[test]
    fn glorot_uniform_stays_within_its_limit_and_spreads() {
        let t = initialise(&spec(Init::GlorotUniform, vec![64, 256]), 42);
        let limit = (6.0f64 / 320.0).sqrt();
        let v = t.to_f64();
        assert!(v.iter().all(|x| x.abs() <= limit));
        let var = v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64;
        assert!((var - limit * limit / 3.0).abs() < 0.1 * limit * limit / 3.0);
    }

    #[test]
    fn same_seed_same_values_other_seed_other_values() {
        let a = initialise(&spec(Init::HeNormal, vec![8, 8]), 1);
        assert_eq!(a, initialise(&spec(Init::HeNormal, vec![8, 8]), 1));
        assert_ne!(a, initialise(&spec(Init::HeNormal, vec![8, 8]), 2));
    }
}
