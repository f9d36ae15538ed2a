//! WGSL functions the generated kernels call, each written once: the
//! scalar rules WGSL's built-ins do not match (floored integer division,
//! Rust's `powf`, `max` ignoring NaN, `erf`), non-finite constants, and the
//! counter-based random stream of `crate::rng`, bit for bit.
//!
//! A kernel includes only the helpers it calls (and theirs).

/// A helper: its name (as called), the helpers it calls, its text.
pub struct Helper {
    pub name: &'static str,
    pub needs: &'static [&'static str],
    pub text: &'static str,
}

pub const HELPERS: &[Helper] = &[
    Helper {
        name: "is_nan",
        needs: &[],
        // By the bits: WGSL lets a compiler assume floats are never NaN and
        // fold `x != x` to false.
        text: "fn is_nan(x: f32) -> bool {\n    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;\n}\n",
    },
    Helper {
        name: "is_inf",
        needs: &[],
        text: "fn is_inf(x: f32) -> bool {\n    return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u;\n}\n",
    },
    Helper {
        name: "f32_bits",
        needs: &[],
        // A function call, so that an infinity or a NaN is a run-time value
        // (WGSL refuses non-finite constant expressions).
        text: "fn f32_bits(b: u32) -> f32 {\n    return bitcast<f32>(b);\n}\n",
    },
    Helper {
        name: "div_i32",
        needs: &[],
        text: "// Rounds down; a zero divisor gives 0 (dlp's integer division).
fn div_i32(x: i32, y: i32) -> i32 {
    if (y == 0i) { return 0i; }
    if (y == -1i) { return -x; }
    let q = x / y;
    if ((x % y != 0i) && ((x < 0i) != (y < 0i))) { return q - 1i; }
    return q;
}
",
    },
    Helper {
        name: "rem_i32",
        needs: &["div_i32"],
        text: "// The floored remainder: the sign of the divisor; 0 for a zero divisor.
fn rem_i32(x: i32, y: i32) -> i32 {
    if (y == 0i) { return 0i; }
    return x - y * div_i32(x, y);
}
",
    },
    Helper {
        name: "rem_f32",
        needs: &[],
        text: "fn rem_f32(x: f32, y: f32) -> f32 {\n    return x - y * floor(x / y);\n}\n",
    },
    Helper {
        name: "pow_i32",
        needs: &[],
        text: "// A negative exponent counts as 0; products wrap.
fn pow_i32(x: i32, y: i32) -> i32 {
    var r = 1i;
    var b = x;
    var e = max(y, 0i);
    while (e > 0i) {
        if ((e & 1i) == 1i) { r = r * b; }
        b = b * b;
        e = e >> 1u;
    }
    return r;
}
",
    },
    Helper {
        name: "pow_f32",
        needs: &["f32_bits", "is_nan", "is_inf"],
        text: "// Rust's powf (C's pow): WGSL's pow is undefined for x <= 0 and
// says nothing of infinities.
fn pow_f32(x: f32, y: f32) -> f32 {
    if (y == 0.0f || x == 1.0f) { return 1.0f; }
    if (is_nan(x) || is_nan(y)) { return f32_bits(0x7fc00000u); }
    let ax = abs(x);
    if (is_inf(y)) {
        if (ax == 1.0f) { return 1.0f; }
        if ((ax < 1.0f) == (y < 0.0f)) { return f32_bits(0x7f800000u); }
        return 0.0f;
    }
    let integer = floor(y) == y;
    let odd = integer && fract(y * 0.5f) != 0.0f;
    let negative = (bitcast<u32>(x) & 0x80000000u) != 0u;
    if (ax == 0.0f || is_inf(x)) {
        var m = 0.0f;
        if ((ax == 0.0f) == (y < 0.0f)) { m = f32_bits(0x7f800000u); }
        if (odd && negative) { return -m; }
        return m;
    }
    if (negative && !integer) { return f32_bits(0x7fc00000u); }
    let m = pow(ax, y);
    if (negative && odd) { return -m; }
    return m;
}
",
    },
    Helper {
        name: "max_f32",
        needs: &["is_nan"],
        text: "// Rust's max: a NaN operand gives the other; of two zeros, the first.
fn max_f32(x: f32, y: f32) -> f32 {
    if (is_nan(x)) { return y; }
    if (is_nan(y)) { return x; }
    return select(x, y, x < y);
}
",
    },
    Helper {
        name: "min_f32",
        needs: &["is_nan"],
        text: "// Rust's min: a NaN operand gives the other; of two zeros, the first.
fn min_f32(x: f32, y: f32) -> f32 {
    if (is_nan(x)) { return y; }
    if (is_nan(y)) { return x; }
    return select(x, y, y < x);
}
",
    },
    Helper {
        name: "tanh_f32",
        needs: &[],
        // Some drivers compute tanh through exp, which overflows to NaN.
        text: "fn tanh_f32(x: f32) -> f32 {
    if (abs(x) > 15.0f) { return sign(x); }
    return tanh(x);
}
",
    },
    Helper {
        name: "erf_f32",
        needs: &[],
        // Abramowitz and Stegun 7.1.26 refined: |error| < 1.5e-7, below f32's
        // resolution near 1 (libm's erff is the reference).
        text: "fn erf_f32(x: f32) -> f32 {
    let a = abs(x);
    let t = 1.0f / (1.0f + 0.3275911f * a);
    let p = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f
        + t * (-1.453152027f + t * 1.061405429f))));
    let y = 1.0f - p * exp(-a * a);
    if (a < 1e-4f) { return x * 1.1283791671f; }
    return select(y, -y, x < 0.0f);
}
",
    },
    Helper {
        name: "f32_to_i32",
        needs: &["is_nan"],
        text: "// Rust's `as i32`: saturating, NaN gives 0.
fn f32_to_i32(x: f32) -> i32 {
    if (is_nan(x)) { return 0i; }
    if (x >= 2147483648.0f) { return 2147483647i; }
    if (x <= -2147483648.0f) { return -2147483647i - 1i; }
    return i32(x);
}
",
    },
    Helper {
        name: "rng_mix",
        needs: &[],
        text: "// crate::rng::mix (lowbias32).
fn rng_mix(v: u32) -> u32 {
    var x = v;
    x = x ^ (x >> 16u);
    x = x * 0x7feb352du;
    x = x ^ (x >> 15u);
    x = x * 0x846ca68bu;
    x = x ^ (x >> 16u);
    return x;
}
",
    },
    Helper {
        name: "rng_bits",
        needs: &["rng_mix"],
        text: "// crate::rng::bits.
fn rng_bits(seed: u32, stream: u32, counter: u32, index: u32) -> u32 {
    var h = rng_mix(seed ^ 0x9e3779b9u);
    h = rng_mix(h ^ stream);
    h = rng_mix(h ^ (counter * 0x85ebca6bu));
    return rng_mix(h ^ index);
}
",
    },
    Helper {
        name: "rng_uniform",
        needs: &["rng_bits"],
        text: "// crate::rng::uniform: 24 random bits, exact in f32.
fn rng_uniform(seed: u32, stream: u32, counter: u32, index: u32) -> f32 {
    return f32(rng_bits(seed, stream, counter, index) >> 8u) / 16777216.0f;
}
",
    },
    Helper {
        name: "rng_normal",
        needs: &["rng_uniform"],
        text: "// crate::rng::normal (Box-Muller), in f32.
fn rng_normal(seed: u32, stream: u32, counter: u32, index: u32) -> f32 {
    let u1 = rng_uniform(seed, stream, counter, index * 2u);
    let u2 = rng_uniform(seed, stream, counter, index * 2u + 1u);
    return sqrt(-2.0f * log(1.0f - u1)) * cos(6.2831853071795864f * u2);
}
",
    },
    Helper {
        name: "rng_sample_counter",
        needs: &["rng_mix"],
        text: "// crate::rng::sample_counter.
fn rng_sample_counter(epoch: u32, sample: u32) -> u32 {
    return rng_mix((epoch * 0x85ebca6bu) ^ rng_mix(sample ^ 0x27d4eb2fu));
}
",
    },
];

/// The text of `used` helpers and those they call, in a fixed order.
pub fn text(used: &std::collections::BTreeSet<&'static str>) -> String {
    let mut all = std::collections::BTreeSet::new();
    let mut todo: Vec<&str> = used.iter().copied().collect();
    while let Some(name) = todo.pop() {
        if all.insert(name) {
            let h = find(name);
            todo.extend(h.needs.iter().copied());
        }
    }
    HELPERS
        .iter()
        .filter(|h| all.contains(h.name))
        .map(|h| h.text)
        .collect::<Vec<_>>()
        .join("\n")
}

fn find(name: &str) -> &'static Helper {
    HELPERS
        .iter()
        .find(|h| h.name == name)
        .unwrap_or_else(|| panic!("no WGSL helper `{name}`"))
}
