//! Counter-based random numbers: every draw is a pure function of (seed,
//! stream, counter, index), so the same program and seed give the same
//! numbers in any order, on any backend, after any resume. 32-bit integer
//! mixing only, so that GPU kernels can compute the same bits.

/// A 32-bit integer hash with good avalanche ("lowbias32", Wellons).
pub fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// The random bits for element `index` of draw `counter` of `stream`.
pub fn bits(seed: u32, stream: u32, counter: u32, index: u32) -> u32 {
    let mut h = mix(seed ^ 0x9e37_79b9);
    h = mix(h ^ stream);
    h = mix(h ^ counter.wrapping_mul(0x85eb_ca6b));
    mix(h ^ index)
}

/// Uniform in [0, 1) with 24 random bits (exact in f32).
pub fn uniform(seed: u32, stream: u32, counter: u32, index: u32) -> f64 {
    (bits(seed, stream, counter, index) >> 8) as f64 / (1u32 << 24) as f64
}

/// Standard normal (Box–Muller on two uniforms of the same element).
pub fn normal(seed: u32, stream: u32, counter: u32, index: u32) -> f64 {
    let u1 = uniform(seed, stream, counter, index.wrapping_mul(2));
    let u2 = uniform(seed, stream, counter, index.wrapping_mul(2).wrapping_add(1));
    (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The counter of a draw keyed by sample: a function of the epoch and the
/// sample's global index, so that a sample draws the same numbers in any
/// batch, and new ones every epoch.
pub fn sample_counter(epoch: u32, sample: u32) -> u32 {
    mix(epoch.wrapping_mul(0x85eb_ca6b) ^ mix(sample ^ 0x27d4_eb2f))
}

/// A stream number for a name (FNV-1a), e.g. a parameter's path.
pub fn stream_of(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

/// A deterministic permutation of `0..n` (Fisher–Yates on counter-based
/// draws): the shuffling of records and of each epoch.
pub fn permutation(n: usize, seed: u32, stream: u32, counter: u32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let r = bits(seed, stream, counter, i as u32) as u64;
        let j = ((r * (i as u64 + 1)) >> 32) as usize;
        order.swap(i, j);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_draws_are_in_range_and_balanced() {
        let draws: Vec<f64> = (0..100_000).map(|i| uniform(42, 1, 0, i)).collect();
        assert!(draws.iter().all(|&u| (0.0..1.0).contains(&u)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
        let below = draws.iter().filter(|&&u| u < 0.1).count() as f64 / draws.len() as f64;
        assert!((below - 0.1).abs() < 0.01, "P(u < 0.1) = {below}");
    }

    #[test]
    fn normal_draws_have_unit_variance() {
        let draws: Vec<f64> = (0..100_000).map(|i| normal(7, 3, 5, i)).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.03,
            "mean {mean} var {var}"
        );
    }

    #[test]
    fn streams_and_counters_differ() {
        assert_ne!(bits(1, 0, 0, 0), bits(1, 1, 0, 0));
        assert_ne!(bits(1, 0, 0, 0), bits(1, 0, 1, 0));
        assert_ne!(bits(1, 0, 0, 0), bits(2, 0, 0, 0));
        assert_eq!(bits(9, 8, 7, 6), bits(9, 8, 7, 6));
    }

    #[test]
    fn permutations_are_permutations() {
        let mut p = permutation(1000, 3, 4, 5);
        assert_ne!(p, (0..1000).collect::<Vec<_>>());
        p.sort_unstable();
        assert_eq!(p, (0..1000).collect::<Vec<_>>());
    }
}
