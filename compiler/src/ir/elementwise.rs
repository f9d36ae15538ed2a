//! The elementwise ops, each in one place: its name in the textual IR, its
//! one scalar definition and its derivative.
//!
//! The scalar rules are what constant folding in lowering, the reference
//! interpreter and (in their tests) the code generators compute, so that
//! `7 % -2` or `erf(0.5)` cannot mean two things. They are generic over the
//! element types ([`Num`], [`Float`]); an op a type does not support (the
//! type rule in [`super::infer()`] refuses it) gives `None`.
//!
//! Adding an op here is a compile error everywhere it must be handled; the
//! book's "Adding an op" chapter lists the two other places (the built-in's
//! row in `check::builtins`, and its line in the book).

use super::scalar::{Float, Num};
use super::{Builder, NodeId};

/// Like `named_enum!`, and also defines `$dispatch!(op, OP => body)`:
/// `body` with `OP` a constant equal to the runtime op `op`, so that a
/// loop over elements is compiled once per op with no match inside
/// (the interpreter's kernels use it).
macro_rules! elementwise_enum {
    ($d:tt $name:ident, $dispatch:ident { $($(#[$vm:meta])* $v:ident => $text:literal,)* }) => {
        named_enum!($name { $($(#[$vm])* $v => $text,)* });

        #[macro_export]
        #[doc = concat!("`body` with `OP` bound to a constant equal to a [`", stringify!($name), "`].")]
        macro_rules! $dispatch {
            ($d e:expr, $d op:ident => $d body:expr) => {
                match $d e {
                    $($crate::ir::$name::$v => {
                        const $d op: $crate::ir::$name = $crate::ir::$name::$v;
                        $d body
                    })*
                }
            };
        }
    };
}

elementwise_enum!($ UnaryOp, with_unary_op {
    Neg => "neg",
    Exp => "exp",
    Log => "log",
    Sqrt => "sqrt",
    Abs => "abs",
    Tanh => "tanh",
    Sin => "sin",
    Cos => "cos",
    Erf => "erf",
    /// -1, 0 or 1 (0 for NaN).
    Sign => "sign",
    Not => "not",
});

elementwise_enum!($ BinaryOp, with_binary_op {
    Add => "add",
    Sub => "sub",
    Mul => "mul",
    /// Integers round down; a zero divisor gives 0.
    Div => "div",
    /// Floored remainder: the result has the sign of the divisor.
    Rem => "rem",
    /// Integers: a negative exponent counts as 0 (the result is 1).
    Pow => "pow",
    Max => "max",
    Min => "min",
    Eq => "eq",
    Ne => "ne",
    Lt => "lt",
    Le => "le",
    Gt => "gt",
    Ge => "ge",
    And => "and",
});

impl UnaryOp {
    /// On any number: `neg`, `abs`, `sign`.
    #[inline(always)]
    pub fn num<T: Num>(self, x: T) -> Option<T> {
        match self {
            UnaryOp::Neg => Some(x.neg()),
            UnaryOp::Abs => Some(x.abs()),
            UnaryOp::Sign => Some(x.sign()),
            UnaryOp::Exp
            | UnaryOp::Log
            | UnaryOp::Sqrt
            | UnaryOp::Tanh
            | UnaryOp::Sin
            | UnaryOp::Cos
            | UnaryOp::Erf
            | UnaryOp::Not => None,
        }
    }

    /// On a float: every op but `not`.
    #[inline(always)]
    pub fn float<T: Float>(self, x: T) -> Option<T> {
        match self {
            UnaryOp::Exp => Some(x.exp()),
            UnaryOp::Log => Some(x.ln()),
            UnaryOp::Sqrt => Some(x.sqrt()),
            UnaryOp::Tanh => Some(x.tanh()),
            UnaryOp::Sin => Some(x.sin()),
            UnaryOp::Cos => Some(x.cos()),
            UnaryOp::Erf => Some(x.erf()),
            UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign | UnaryOp::Not => self.num(x),
        }
    }

    /// On a bool: `not`.
    #[inline(always)]
    pub fn logic(self, x: bool) -> Option<bool> {
        match self {
            UnaryOp::Not => Some(!x),
            UnaryOp::Neg
            | UnaryOp::Exp
            | UnaryOp::Log
            | UnaryOp::Sqrt
            | UnaryOp::Abs
            | UnaryOp::Tanh
            | UnaryOp::Sin
            | UnaryOp::Cos
            | UnaryOp::Erf
            | UnaryOp::Sign => None,
        }
    }

    /// The gradient of `x` given the gradient `g` of `out = op(x)`, for a
    /// float `x`; `None` where the op is not differentiable.
    pub fn vjp(self, b: &mut Builder, x: NodeId, out: NodeId, g: NodeId) -> Option<NodeId> {
        use BinaryOp as B;
        use UnaryOp as U;
        Some(match self {
            U::Neg => b.unary(U::Neg, g),
            U::Exp => b.binary(B::Mul, g, out),
            U::Log => b.binary(B::Div, g, x),
            U::Sqrt => {
                let two = b.full_like(2.0, out);
                let den = b.binary(B::Mul, two, out);
                b.binary(B::Div, g, den)
            }
            U::Abs => {
                let s = b.unary(U::Sign, x);
                b.binary(B::Mul, g, s)
            }
            U::Tanh => {
                let one = b.full_like(1.0, out);
                let sq = b.binary(B::Mul, out, out);
                let d = b.binary(B::Sub, one, sq);
                b.binary(B::Mul, g, d)
            }
            U::Sin => {
                let c = b.unary(U::Cos, x);
                b.binary(B::Mul, g, c)
            }
            U::Cos => {
                let s = b.unary(U::Sin, x);
                let d = b.binary(B::Mul, g, s);
                b.unary(U::Neg, d)
            }
            U::Erf => {
                // d/dx erf(x) = 2 / sqrt(pi) * exp(-x^2)
                let sq = b.binary(B::Mul, x, x);
                let neg = b.unary(U::Neg, sq);
                let e = b.unary(U::Exp, neg);
                let k = b.full_like(std::f64::consts::FRAC_2_SQRT_PI, x);
                let d = b.binary(B::Mul, k, e);
                b.binary(B::Mul, g, d)
            }
            U::Sign | U::Not => return None,
        })
    }
}

impl BinaryOp {
    pub fn is_comparison(self) -> bool {
        self.compare(0, 0).is_some()
    }

    /// Arithmetic on numbers of one type.
    #[inline(always)]
    pub fn arith<T: Num>(self, x: T, y: T) -> Option<T> {
        Some(match self {
            BinaryOp::Add => x.add(y),
            BinaryOp::Sub => x.sub(y),
            BinaryOp::Mul => x.mul(y),
            BinaryOp::Div => x.div(y),
            BinaryOp::Rem => x.rem(y),
            BinaryOp::Pow => x.pow(y),
            BinaryOp::Max => x.max(y),
            BinaryOp::Min => x.min(y),
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge
            | BinaryOp::And => return None,
        })
    }

    /// Comparisons, of numbers or of bools (`false < true`).
    #[inline(always)]
    pub fn compare<T: PartialOrd>(self, x: T, y: T) -> Option<bool> {
        Some(match self {
            BinaryOp::Eq => x == y,
            BinaryOp::Ne => x != y,
            BinaryOp::Lt => x < y,
            BinaryOp::Le => x <= y,
            BinaryOp::Gt => x > y,
            BinaryOp::Ge => x >= y,
            BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Rem
            | BinaryOp::Pow
            | BinaryOp::Max
            | BinaryOp::Min
            | BinaryOp::And => return None,
        })
    }

    /// On bools: `and` and the comparisons.
    #[inline(always)]
    pub fn logic(self, x: bool, y: bool) -> Option<bool> {
        match self {
            BinaryOp::And => Some(x && y),
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => self.compare(x, y),
            BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Rem
            | BinaryOp::Pow
            | BinaryOp::Max
            | BinaryOp::Min => None,
        }
    }

    /// The gradients of `x` and `y` given the gradient `g` of
    /// `out = op(x, y)`, for float operands; `None` where the op is not
    /// differentiable in that operand.
    pub fn vjp(
        self,
        b: &mut Builder,
        x: NodeId,
        y: NodeId,
        out: NodeId,
        g: NodeId,
    ) -> [Option<NodeId>; 2] {
        use BinaryOp as B;
        use UnaryOp as U;
        match self {
            B::Add => [Some(g), Some(g)],
            B::Sub => [Some(g), Some(b.unary(U::Neg, g))],
            B::Mul => [Some(b.binary(B::Mul, g, y)), Some(b.binary(B::Mul, g, x))],
            B::Div => {
                let gx = b.binary(B::Div, g, y);
                let t = b.binary(B::Mul, gx, out);
                [Some(gx), Some(b.unary(U::Neg, t))]
            }
            B::Pow => {
                // d/dx x^y = y x^(y-1); d/dy x^y = x^y log x
                let one = b.full_like(1.0, y);
                let ym1 = b.binary(B::Sub, y, one);
                let p = b.binary(B::Pow, x, ym1);
                let dx = b.binary(B::Mul, y, p);
                let gx = b.binary(B::Mul, g, dx);
                let lx = b.unary(U::Log, x);
                let dy = b.binary(B::Mul, out, lx);
                [Some(gx), Some(b.binary(B::Mul, g, dy))]
            }
            B::Max | B::Min => {
                // Ties send the gradient to the first operand.
                let pick = if self == B::Max { B::Ge } else { B::Le };
                let first = b.binary(pick, x, y);
                let zero = b.full_like(0.0, g);
                [
                    Some(b.select(first, g, zero)),
                    Some(b.select(first, zero, g)),
                ]
            }
            B::Rem => {
                // x % y = x - y * floor(x / y): slope 1 in x; -floor(x / y)
                // in y (the floor is flat almost everywhere).
                let q = b.binary(B::Div, x, y);
                let one = b.full_like(1.0, q);
                let frac = b.binary(B::Rem, q, one);
                let floor = b.binary(B::Sub, q, frac);
                let d = b.binary(B::Mul, g, floor);
                [Some(g), Some(b.unary(U::Neg, d))]
            }
            B::Eq | B::Ne | B::Lt | B::Le | B::Gt | B::Ge | B::And => [None, None],
        }
    }
}
