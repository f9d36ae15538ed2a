//! The number types the elementwise ops' scalar rules
//! ([`super::elementwise`]) are written over: [`Num`] for every number,
//! [`Float`] for floats. Each type's arithmetic is defined once here:
//! `%` is floored, integer `/` rounds down, `erf` is libm's.

/// Numbers: the IR's floats and integers (and the host's `i64`).
pub trait Num: Copy + PartialOrd {
    fn add(self, y: Self) -> Self;
    fn sub(self, y: Self) -> Self;
    fn mul(self, y: Self) -> Self;
    /// Integers round towards negative infinity (Euclid for positive
    /// divisors) and give 0 for a zero divisor.
    fn div(self, y: Self) -> Self;
    /// The floored remainder `x - y * floor(x / y)`: the sign of `y`.
    /// Integers give 0 for a zero divisor.
    fn rem(self, y: Self) -> Self;
    fn pow(self, y: Self) -> Self;
    fn max(self, y: Self) -> Self;
    fn min(self, y: Self) -> Self;
    fn neg(self) -> Self;
    fn abs(self) -> Self;
    /// -1, 0 or 1 (0 for NaN).
    fn sign(self) -> Self;
}

/// Floating-point numbers.
pub trait Float: Num {
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn tanh(self) -> Self;
    fn sin(self) -> Self;
    fn cos(self) -> Self;
    fn erf(self) -> Self;
}

macro_rules! float_impl {
    ($t:ty, $erf:path) => {
        impl Num for $t {
            fn add(self, y: $t) -> $t {
                self + y
            }
            fn sub(self, y: $t) -> $t {
                self - y
            }
            fn mul(self, y: $t) -> $t {
                self * y
            }
            fn div(self, y: $t) -> $t {
                self / y
            }
            fn rem(self, y: $t) -> $t {
                self - y * (self / y).floor()
            }
            fn pow(self, y: $t) -> $t {
                self.powf(y)
            }
            fn max(self, y: $t) -> $t {
                <$t>::max(self, y)
            }
            fn min(self, y: $t) -> $t {
                <$t>::min(self, y)
            }
            fn neg(self) -> $t {
                -self
            }
            fn abs(self) -> $t {
                <$t>::abs(self)
            }
            fn sign(self) -> $t {
                if self > 0.0 {
                    1.0
                } else if self < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
        }

        impl Float for $t {
            fn exp(self) -> $t {
                <$t>::exp(self)
            }
            fn ln(self) -> $t {
                <$t>::ln(self)
            }
            fn sqrt(self) -> $t {
                <$t>::sqrt(self)
            }
            fn tanh(self) -> $t {
                <$t>::tanh(self)
            }
            fn sin(self) -> $t {
                <$t>::sin(self)
            }
            fn cos(self) -> $t {
                <$t>::cos(self)
            }
            fn erf(self) -> $t {
                $erf(self)
            }
        }
    };
}

float_impl!(f32, libm::erff);
float_impl!(f64, libm::erf);

macro_rules! int_impl {
    ($t:ty) => {
        impl Num for $t {
            fn add(self, y: $t) -> $t {
                self.wrapping_add(y)
            }
            fn sub(self, y: $t) -> $t {
                self.wrapping_sub(y)
            }
            fn mul(self, y: $t) -> $t {
                self.wrapping_mul(y)
            }
            fn div(self, y: $t) -> $t {
                if y == 0 {
                    return 0;
                }
                let q = self.wrapping_div(y);
                // Round down rather than towards zero.
                if self.wrapping_rem(y) != 0 && ((self < 0) != (y < 0)) {
                    q - 1
                } else {
                    q
                }
            }
            fn rem(self, y: $t) -> $t {
                if y == 0 {
                    return 0;
                }
                self.wrapping_sub(y.wrapping_mul(Num::div(self, y)))
            }
            fn pow(self, y: $t) -> $t {
                self.wrapping_pow(u32::try_from(Ord::max(y, 0)).unwrap_or(u32::MAX))
            }
            fn max(self, y: $t) -> $t {
                Ord::max(self, y)
            }
            fn min(self, y: $t) -> $t {
                Ord::min(self, y)
            }
            fn neg(self) -> $t {
                self.wrapping_neg()
            }
            fn abs(self) -> $t {
                self.wrapping_abs()
            }
            fn sign(self) -> $t {
                self.signum()
            }
        }
    };
}

int_impl!(i32);
int_impl!(i64);

#[cfg(test)]
mod tests {
    use crate::ir::{BinaryOp, UnaryOp};

    #[test]
    fn remainders_are_floored_for_every_type() {
        for (x, y, r) in [(7, 2, 1), (-7, 2, 1), (7, -2, -1), (-7, -2, -1), (6, 3, 0)] {
            assert_eq!(BinaryOp::Rem.arith(x, y), Some(r), "{x} % {y}");
            assert_eq!(BinaryOp::Rem.arith(x as i64, y as i64), Some(r as i64));
            assert_eq!(BinaryOp::Rem.arith(x as f64, y as f64), Some(r as f64));
            assert_eq!(BinaryOp::Rem.arith(x as f32, y as f32), Some(r as f32));
            // x == y * (x / y) + x % y, with `/` rounding down.
            let q = BinaryOp::Div.arith(x, y).unwrap();
            assert_eq!(q * y + r, x);
        }
        assert_eq!(BinaryOp::Div.arith(5, 0), Some(0));
        assert_eq!(BinaryOp::Rem.arith(i32::MIN, -1), Some(0));
    }

    #[test]
    fn erf_is_libm_in_both_precisions() {
        assert_eq!(UnaryOp::Erf.float(0.5f64), Some(libm::erf(0.5)));
        assert_eq!(UnaryOp::Erf.float(0.5f32), Some(libm::erff(0.5)));
        assert!((libm::erf(0.5) - 0.520_499_877_813_046_5).abs() < 1e-15);
    }

    #[test]
    fn ops_a_type_lacks_give_none() {
        assert_eq!(UnaryOp::Exp.num(3i32), None);
        assert_eq!(UnaryOp::Not.float(1.0f32), None);
        assert_eq!(UnaryOp::Neg.logic(true), None);
        assert_eq!(BinaryOp::Lt.arith(1.0, 2.0), None);
        assert_eq!(BinaryOp::Add.compare(1.0, 2.0), None);
        assert_eq!(BinaryOp::And.logic(true, false), Some(false));
        assert_eq!(BinaryOp::Add.logic(true, false), None);
    }
}
