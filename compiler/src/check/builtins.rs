//! The built-in functions: primitives, initialisers and data sources.
//!
//! One row per built-in: its name, parameters, where it may be used, its
//! typing rule, how it lowers to the IR, and a doc line (shown on hover
//! and in the book). They are in
//! scope everywhere without a `use`. Everything else (layers, losses,
//! metrics) is written in dlp on top of these, in `stdlib/`.

use super::call::Bound;
use super::expr::{self, Context, Env};
use super::metrics;
use super::movement as mv;
use super::sources;
use super::statistics;
use super::window;
use super::{CheckError, Checker};
use crate::diagnostic::Loc;
use crate::ir::{BinaryOp, UnaryOp};
use crate::lower::builtins::{self as lw, Lower};
use crate::lower::metrics as lmet;
use crate::lower::movement as lmv;
use crate::lower::settings as host;
use crate::lower::window as lwin;
use crate::types::{broadcast, AxisError, DType, Dim, Shape, ShapeItem, TensorType, Type};
use dlp_grammar::ast::BinOp;

type Rule = fn(&mut Checker, &Env, &[Bound], Loc) -> Type;

pub struct Builtin {
    pub name: &'static str,
    /// Parameter names, and whether each is required.
    pub params: &'static [(&'static str, bool)],
    pub place: Place,
    pub doc: &'static str,
    /// How a call is typed.
    pub(crate) rule: Rule,
    /// How a call lowers to the IR.
    pub(crate) lower: Lower,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Anywhere,
    /// Inside `fn` and `model` bodies.
    Body,
    /// In `dataset` entries.
    Dataset,
    /// As an item of a train block's `metrics`.
    Metric,
}

impl Builtin {
    /// Why it cannot be called in `context`, if it cannot.
    pub fn availability(&self, context: Context) -> Option<&'static str> {
        match (self.place, context) {
            (Place::Anywhere, _) => None,
            (Place::Body, Context::Fn(_) | Context::Model(_)) => None,
            (Place::Dataset, Context::Dataset(_)) => None,
            (Place::Metric, Context::Train) => None,
            (Place::Body, _) => Some("can only be used inside a `fn` or `model` body"),
            (Place::Dataset, _) => Some("can only be used in a `dataset` block"),
            (Place::Metric, _) => Some("can only be an item of a train block's `metrics`"),
        }
    }

    /// Where to use it instead, when [`Builtin::availability`] refuses it.
    pub fn placement_help(&self) -> String {
        let name = self.name;
        match self.place {
            Place::Body | Place::Anywhere => {
                format!("`{name}` works on a model's tensors: call it in a `fn` or a `model`")
            }
            Place::Dataset => format!(
                "`{name}` works on the data, sample by sample: use it in a field of a `dataset` block"
            ),
            Place::Metric => {
                format!("list it with the train block's metrics: `metrics = [{name}(logits, y)]`")
            }
        }
    }
}

const X: &[(&str, bool)] = &[("x", true)];
const REDUCE: &[(&str, bool)] = &[("x", true), ("axis", false), ("keepdims", false)];
const NONE: &[(&str, bool)] = &[];
const SCORED: &[(&str, bool)] = &[("logits", true), ("labels", true)];

macro_rules! row {
    ($name:literal, $params:expr, $place:ident, $rule:expr, $lower:expr, $doc:literal) => {
        Builtin {
            name: $name,
            params: $params,
            place: Place::$place,
            doc: $doc,
            rule: $rule,
            lower: $lower,
        }
    };
}

pub static BUILTINS: &[Builtin] = &[
    // elementwise
    row!("exp", X, Anywhere, float_unary, Lower::Unary(UnaryOp::Exp), "e^x, elementwise."),
    row!("log", X, Anywhere, float_unary, Lower::Unary(UnaryOp::Log), "Natural logarithm, elementwise."),
    row!("sqrt", X, Anywhere, float_unary, Lower::Unary(UnaryOp::Sqrt), "Square root, elementwise."),
    row!("abs", X, Anywhere, float_unary, Lower::Unary(UnaryOp::Abs), "Absolute value, elementwise."),
    row!("tanh", X, Anywhere, float_unary, Lower::Unary(UnaryOp::Tanh), "Hyperbolic tangent, elementwise."),
    row!("sin", X, Anywhere, float_unary, Lower::Unary(UnaryOp::Sin), "Sine, elementwise."),
    row!("cos", X, Anywhere, float_unary, Lower::Unary(UnaryOp::Cos), "Cosine, elementwise."),
    row!("erf", X, Anywhere, float_unary, Lower::Unary(UnaryOp::Erf), "Error function, elementwise."),
    row!("max", &[("a", true), ("b", true)], Anywhere, pairwise, Lower::Pairwise(BinaryOp::Max), "Larger of a and b, elementwise with broadcasting."),
    row!("min", &[("a", true), ("b", true)], Anywhere, pairwise, Lower::Pairwise(BinaryOp::Min), "Smaller of a and b, elementwise with broadcasting."),
    row!("pow", &[("a", true), ("b", true)], Anywhere, pairwise, Lower::Pairwise(BinaryOp::Pow), "a raised to b, elementwise with broadcasting."),
    row!("where", &[("cond", true), ("a", true), ("b", true)], Anywhere, select, Lower::With(lw::select), "a where cond is true, else b; all three broadcast."),
    // reductions
    row!("sum", REDUCE, Anywhere, |cx, env, args, call| reduce(cx, env, args, call, "sum"), Lower::With(lw::sum), "Sum over `axis` (all axes if omitted); `keepdims` keeps it as size 1."),
    row!("mean", REDUCE, Anywhere, |cx, env, args, call| reduce(cx, env, args, call, "mean"), Lower::With(lw::mean), "Mean over `axis` (all axes if omitted); `keepdims` keeps it as size 1."),
    row!("reduce_max", REDUCE, Anywhere, |cx, env, args, call| reduce(cx, env, args, call, "reduce_max"), Lower::With(lw::reduce_max), "Maximum over `axis` (all axes if omitted)."),
    row!("reduce_min", REDUCE, Anywhere, |cx, env, args, call| reduce(cx, env, args, call, "reduce_min"), Lower::With(lw::reduce_min), "Minimum over `axis` (all axes if omitted)."),
    row!("argmax", &[("x", true), ("axis", false)], Anywhere, argmax, Lower::With(lw::argmax), "Index of the largest value along `axis` (default -1), as i64."),
    // movement
    row!("reshape", &[("x", true), ("shape", true)], Anywhere, reshape, Lower::With(lw::reshape), "The same elements in a new shape: `reshape(x, [B, 16, 4])`."),
    row!("transpose", &[("x", true), ("a", false), ("b", false)], Anywhere, mv::transpose, Lower::With(lmv::transpose), "Swaps axes `a` and `b` (default the last two): `transpose(x, 1, 2)`."),
    row!("permute", &[("x", true), ("axes", true)], Anywhere, mv::permute, Lower::With(lmv::permute), "Reorders the axes: result axis i is axis `axes[i]` of x: `permute(x, [0, 2, 1, 3])`."),
    row!("concat", &[("xs", true), ("axis", false)], Anywhere, concat, Lower::With(lw::concat), "Joins a list of tensors along `axis` (default 0)."),
    row!("stack", &[("xs", true), ("axis", false)], Anywhere, mv::stack, Lower::With(lmv::stack), "Joins a list of tensors of one type along a new axis at `axis` (default 0)."),
    row!("pad", &[("x", true), ("width", true), ("axis", false), ("value", false)], Anywhere, mv::pad, Lower::With(lmv::pad), "x with `width` values (an int, or `[before, after]`) added at both ends of `axis` (default -1), set to `value` (default 0)."),
    row!("arange", &[("n", true)], Body, mv::arange, Lower::With(lmv::arange), "The positions 0, 1, ..., n - 1 as an i64[n] tensor (for masks: `arange(T) < 3`)."),
    // contraction
    row!("conv", &[("x", true), ("w", true), ("stride", false), ("pad", false), ("dilation", false), ("groups", false)], Anywhere, window::conv, Lower::With(lwin::conv), "2-D convolution of x[B, C, H, W] with w[O, C / groups, KH, KW]; `dilation` spaces the kernel's taps, `groups` splits the channels into independent groups."),
    row!("max_pool", &[("x", true), ("k", true), ("stride", false)], Anywhere, window::pool, Lower::With(lwin::max_pool), "Max over k x k windows of x[B, C, H, W] (stride defaults to k)."),
    row!("avg_pool", &[("x", true), ("k", true), ("stride", false)], Anywhere, window::pool, Lower::With(lwin::avg_pool), "Mean over k x k windows of x[B, C, H, W] (stride defaults to k)."),
    // gather
    row!("one_hot", &[("labels", true), ("n", false)], Anywhere, one_hot, Lower::With(lw::one_hot), "f32 vectors with a 1 at each label: class(C)[..N] gives f32[..N, C]."),
    row!("take", &[("table", true), ("ids", true)], Anywhere, take, Lower::With(lw::take), "Rows of `table` picked by integer `ids`: f32[V, D] and [..N] give f32[..N, D]."),
    // augmentation
    row!("flip", &[("x", true), ("axis", false)], Anywhere, flip, Lower::With(lw::flip), "The elements of x in reverse order along `axis` (default -1): `flip(img)` mirrors an image left to right."),
    row!("random_flip", &[("x", true), ("axis", false), ("p", false)], Anywhere, random_flip, Lower::With(lw::random_flip), "While training, flips each sample along `axis` (default -1) with probability `p` (default 0.5); x unchanged in validation and test."),
    row!("crop", &[("x", true), ("top", true), ("left", true), ("size", true)], Anywhere, crop, Lower::With(lw::crop), "The `size` x `size` window of x[.., H, W] whose top-left corner is (`top`, `left`): ints, or integer tensors with one value per sample; offsets past the edge are moved inside."),
    row!("random_erasing", &[("x", true), ("size", true), ("p", false)], Anywhere, random_erasing, Lower::With(lw::random_erasing), "While training, zeroes a `size` x `size` square of x[.., H, W] at a random place, in each sample with probability `p` (default 0.5); x unchanged in validation and test."),
    row!("random_crop", &[("x", true), ("size", true), ("pad", false)], Anywhere, random_crop, Lower::With(lw::random_crop), "While training, a `size` x `size` window of x[.., H, W] zero-padded by `pad` on each side, at a random place per sample; its centre in validation and test."),
    // random and modes
    row!("random_uniform", X, Body, like_x, Lower::With(lw::random_uniform), "Uniform samples in [0, 1) shaped like x, from the run's seeded stream."),
    row!("random_normal", X, Body, like_x, Lower::With(lw::random_normal), "Standard normal samples shaped like x, from the run's seeded stream."),
    row!("training", NONE, Body, training, Lower::With(lw::training), "True while training, false in validation and test."),
    // metrics of a whole evaluation pass
    row!("precision", SCORED, Metric, metrics::score, Lower::With(lmet::precision), "Precision of each class (right among those predicted as it), averaged over the classes, over a whole evaluation pass."),
    row!("recall", SCORED, Metric, metrics::score, Lower::With(lmet::recall), "Recall of each class (found among those labelled as it), averaged over the classes, over a whole evaluation pass."),
    row!("f1", SCORED, Metric, metrics::score, Lower::With(lmet::f1), "F1 of each class (harmonic mean of its precision and recall), averaged over the classes, over a whole evaluation pass."),
    row!("confusion_matrix", SCORED, Metric, metrics::matrix, Lower::With(lmet::confusion_matrix), "Counts of (labelled, predicted) class pairs over a whole evaluation pass, kept in the run record."),
    row!("perplexity", SCORED, Metric, metrics::score, Lower::With(lmet::perplexity), "e to the mean cross entropy of the labels under the scores, over a whole evaluation pass."),
    // initialisers
    row!("zeros", NONE, Anywhere, init, Lower::With(host::zeros), "Initialise a parameter to 0."),
    row!("ones", NONE, Anywhere, init, Lower::With(host::ones), "Initialise a parameter to 1."),
    row!("constant", &[("value", true)], Anywhere, init, Lower::With(host::constant), "Initialise a parameter to `value`."),
    row!("normal", &[("mean", false), ("std", false)], Anywhere, init, Lower::With(host::normal), "Initialise from N(mean, std^2); defaults 0 and 1."),
    row!("uniform", &[("low", false), ("high", false)], Anywhere, init, Lower::With(host::uniform), "Initialise from U(low, high); defaults -0.05 and 0.05."),
    row!("glorot_uniform", NONE, Anywhere, init, Lower::With(host::glorot_uniform), "Glorot/Xavier uniform initialisation."),
    row!("glorot_normal", NONE, Anywhere, init, Lower::With(host::glorot_normal), "Glorot/Xavier normal initialisation."),
    row!("he_uniform", NONE, Anywhere, init, Lower::With(host::he_uniform), "He/Kaiming uniform initialisation."),
    row!("he_normal", NONE, Anywhere, init, Lower::With(host::he_normal), "He/Kaiming normal initialisation."),
    // data
    row!("csv", &[("path", true), ("header", false), ("delimiter", false)], Dataset, sources::csv, Lower::With(host::csv), "A CSV file, one sample per row; the path is relative to the .dlp file."),
    row!("idx", &[("path", true)], Dataset, sources::idx, Lower::With(host::idx), "An IDX (MNIST-format) file, plain or .gz; cast its records to a shape: `idx(\"x.idx\") as u8[28, 28]`."),
    row!("text", &[("path", true), ("stride", false), ("tokens", false)], Dataset, sources::text, Lower::With(host::text), "A text file (plain or .gz) as a stream of tokens, cut into windows of the cast's length every `stride` tokens (default: the window's length): `text(\"book.txt\", stride = 64) as class(256)[65]`. Tokens are bytes, or with `tokens = \"chars\"` characters, numbered by the run's vocabulary (every character its texts hold, in code-point order)."),
    row!("npy", &[("path", true)], Dataset, sources::npy, Lower::With(host::npy), "A NumPy .npy file; its first axis is the samples; cast each to a shape: `npy(\"x.npy\") as f32[28, 28]`."),
    row!("npz", &[("path", true), ("array", true)], Dataset, sources::npz, Lower::With(host::npz), "The array `array` of a NumPy .npz archive (`np.savez`); its first axis is the samples: `npz(\"d.npz\", \"x\") as f32[64]`."),
    row!("standardize", &[("x", true), ("per_channel", false)], Dataset, statistics::standardize, Lower::With(crate::lower::statistics::standardize), "x minus its mean, divided by its standard deviation, both measured on the training data before the first step (per value of the sample; `per_channel = true`: per entry of its first axis) and kept in the checkpoints for validation, test and prediction."),
    row!("images", &[("path", true), ("size", true), ("channels", false), ("crop", false), ("convert", false)], Dataset, sources::images, Lower::With(host::images), "A folder of PNG and JPEG images with one sub-folder per class (sorted names are the classes 0, 1, ...), each image resized to `size = [height, width]` (`crop = true`: scaled and centre-cropped instead of stretched) with `channels` 1, 3 (default) or 4; `convert = true` converts images of another colour type."),
    row!("image", NONE, Dataset, sources::image, Lower::With(host::image), "The pixels of an image-folder source's image, f32[channels, height, width] with values 0 to 255."),
    row!("label", NONE, Dataset, sources::label, Lower::With(host::label), "The class of an image-folder source's image (the index of its sub-folder, by sorted name): cast it with `as class(n)`."),
    row!("column", &[("c", true)], Dataset, sources::column, Lower::With(host::column), "One CSV column, by header name or 0-based index, as an f32 scalar."),
    row!("columns", &[("c", true)], Dataset, sources::columns, Lower::With(host::columns), "CSV columns by index range (`0..64`) or list, as f32[n]."),
    row!("seed", &[("n", true)], Anywhere, seed, Lower::With(host::seed), "A fixed random seed (e.g. for `shuffle`)."),
];

pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|b| b.name)
}

// ---- argument helpers ----------------------------------------------------

/// Whether a size holds a division that could not be simplified.
fn has_floor(d: &Dim) -> bool {
    d.to_string().contains('/')
}

pub(super) fn tensor(cx: &mut Checker, name: &str, what: &str, arg: &Bound) -> Option<TensorType> {
    match arg {
        Some((Type::Tensor(t), _)) => Some(t.clone()),
        Some((Type::Error, _)) | None => None,
        Some((other, at)) => {
            expr::wrong_kind(
                cx,
                &format!("argument `{what}` of `{name}`"),
                "a tensor",
                other,
                *at,
            );
            None
        }
    }
}

/// A compile-time int argument, or its default.
pub(super) fn static_int(
    cx: &mut Checker,
    name: &str,
    what: &str,
    arg: &Bound,
    default: Option<Dim>,
) -> Option<Dim> {
    match arg {
        None => default,
        Some((Type::Int(Some(d)), _)) => Some(d.clone()),
        Some((Type::Int(None), at)) => {
            cx.error(CheckError::NotStatic {
                what: format!("argument `{what}` of `{name}`"),
                loc: *at,
            });
            None
        }
        Some((Type::Error, _)) => None,
        Some((other, at)) => {
            expr::wrong_kind(
                cx,
                &format!("argument `{what}` of `{name}`"),
                "an int",
                other,
                *at,
            );
            None
        }
    }
}

pub(super) fn const_int(
    cx: &mut Checker,
    name: &str,
    what: &str,
    arg: &Bound,
    default: Option<i64>,
) -> Option<i64> {
    let d = static_int(cx, name, what, arg, default.map(Dim::constant))?;
    match d.as_const() {
        Some(v) => Some(v),
        None => {
            cx.error(CheckError::NotStatic {
                what: format!("argument `{what}` of `{name}` (here {d})"),
                loc: arg
                    .as_ref()
                    .map(|(_, l)| *l)
                    .expect("a symbolic value came from an argument"),
            });
            None
        }
    }
}

pub(super) fn loc_of(arg: &Bound, call: Loc) -> Loc {
    arg.as_ref().map_or(call, |(_, l)| *l)
}

/// A number or tensor argument as a tensor (numbers become scalars of `like`).
fn operand(arg: &Bound, like: Option<&DType>) -> Option<TensorType> {
    match arg {
        Some((Type::Tensor(t), _)) => Some(t.clone()),
        Some((Type::Int(_), _)) => Some(TensorType::scalar(like.cloned().unwrap_or(DType::I64))),
        Some((Type::Float(_), _)) => Some(TensorType::scalar(
            like.filter(|d| d.is_float()).cloned().unwrap_or(DType::F32),
        )),
        _ => None,
    }
}

// ---- rules -----------------------------------------------------------------

fn float_unary(cx: &mut Checker, _: &Env, args: &[Bound], _: Loc) -> Type {
    match &args[0] {
        Some((Type::Tensor(t), _)) if t.dtype.is_float() => Type::Tensor(t.clone()),
        Some((Type::Float(_) | Type::Int(_), _)) => Type::Float(None),
        Some((other, at)) => expr::wrong_kind(cx, "the argument", "a float tensor", other, *at),
        None => Type::Error,
    }
}

fn pairwise(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc) -> Type {
    // Same dtype and broadcasting rules as arithmetic.
    let (Some((a, al)), Some((b, bl))) = (&args[0], &args[1]) else {
        return Type::Error;
    };
    let _ = call;
    expr::binary(cx, BinOp::Add, (a, *al), (b, *bl))
}

fn select(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc) -> Type {
    let cond = match &args[0] {
        Some((Type::Tensor(t), _)) if t.dtype == DType::Bool => t.clone(),
        Some((Type::Bool(_), _)) => TensorType::scalar(DType::Bool),
        Some((Type::Error, _)) | None => return Type::Error,
        Some((other, at)) => {
            return expr::wrong_kind(cx, "the condition of `where`", "a bool tensor", other, *at)
        }
    };
    let like = [&args[1], &args[2]].iter().find_map(|a| match a {
        Some((Type::Tensor(t), _)) => Some(t.dtype.clone()),
        _ => None,
    });
    let (Some(a), Some(b)) = (
        operand(&args[1], like.as_ref()),
        operand(&args[2], like.as_ref()),
    ) else {
        let bad = if operand(&args[1], None).is_none() {
            &args[1]
        } else {
            &args[2]
        };
        let (ty, at) = bad.clone().unwrap_or((Type::Error, call));
        return expr::wrong_kind(cx, "a branch of `where`", "a number or a tensor", &ty, at);
    };
    let values = expr::binary(
        cx,
        BinOp::Add,
        (&Type::Tensor(a), loc_of(&args[1], call)),
        (&Type::Tensor(b), loc_of(&args[2], call)),
    );
    let Type::Tensor(v) = values else {
        return values;
    };
    match broadcast(&cond.shape, &v.shape) {
        Ok(shape) => Type::tensor(v.dtype, shape),
        Err(e) => cx.error(CheckError::Broadcast {
            op: "where".to_string(),
            left: cond.shape.to_string(),
            right: v.shape.to_string(),
            left_loc: loc_of(&args[0], call),
            right_loc: loc_of(&args[1], call),
            detail: format!(
                "counting from the last axis, dim {} is {} and {}",
                e.from_end + 1,
                e.left,
                e.right
            ),
        }),
    }
}

/// Index of `axis` in `t`, reported against the call if unusable.
pub(super) fn axis_index(cx: &mut Checker, t: &TensorType, axis: i64, at: Loc) -> Option<usize> {
    match t.shape.axis(axis) {
        Ok(i) => Some(i),
        Err(reason) => {
            let detail = match reason {
                AxisError::OutOfRange => format!("{} has {} axes", t.shape, t.shape.0.len()),
                AxisError::BehindGroup => {
                    "this axis lies inside a `..` group; count from the other end (e.g. -1)"
                        .to_string()
                }
            };
            cx.error(CheckError::Axis {
                axis,
                shape: t.shape.to_string(),
                loc: at,
                detail,
            });
            None
        }
    }
}

/// `sum`, `mean`, `reduce_max` and `reduce_min`, named `name` in messages.
fn reduce(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc, name: &str) -> Type {
    let Some(x) = tensor(cx, name, "x", &args[0]) else {
        return Type::Error;
    };
    let keep = matches!(&args[2], Some((Type::Bool(Some(true)), _)));
    if let Some((t, at)) = &args[2] {
        if !matches!(t, Type::Bool(Some(_))) {
            return expr::wrong_kind(cx, "`keepdims`", "true or false", t, *at);
        }
    }
    if args[1].is_none() {
        if keep {
            let Some(dims) = x.shape.fixed() else {
                return expr::wrong_kind(
                    cx,
                    "`keepdims` over all axes",
                    "a shape without `..` groups",
                    &Type::Tensor(x),
                    loc_of(&args[0], call),
                );
            };
            return Type::tensor(x.dtype, Shape::dims(dims.iter().map(|_| Dim::constant(1))));
        }
        return Type::tensor(x.dtype, Shape::scalar());
    }
    let Some(axis) = const_int(cx, name, "axis", &args[1], None) else {
        return Type::Error;
    };
    let Some(i) = axis_index(cx, &x, axis, loc_of(&args[1], call)) else {
        return Type::Error;
    };
    let mut items = x.shape.0.clone();
    if keep {
        items[i] = ShapeItem::Dim(Dim::constant(1));
    } else {
        items.remove(i);
    }
    Type::tensor(x.dtype, Shape(items))
}

fn argmax(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc) -> Type {
    let Some(x) = tensor(cx, "argmax", "x", &args[0]) else {
        return Type::Error;
    };
    let Some(axis) = const_int(cx, "argmax", "axis", &args[1], Some(-1)) else {
        return Type::Error;
    };
    let Some(i) = axis_index(cx, &x, axis, loc_of(&args[1], loc_of(&args[0], call))) else {
        return Type::Error;
    };
    let mut items = x.shape.0.clone();
    items.remove(i);
    Type::tensor(DType::I64, Shape(items))
}

fn reshape(cx: &mut Checker, env: &Env, args: &[Bound], call: Loc) -> Type {
    let Some(x) = tensor(cx, "reshape", "x", &args[0]) else {
        return Type::Error;
    };
    let shape_loc = loc_of(&args[1], call);
    let dims = match &args[1] {
        Some((Type::List(items), _)) => {
            let mut dims = Vec::new();
            for item in items {
                match item {
                    Type::Int(Some(d)) => dims.push(d.clone()),
                    Type::Error => return Type::Error,
                    Type::Int(None) => {
                        return cx.error(CheckError::NotStatic {
                            what: "each size in a reshape".to_string(),
                            loc: shape_loc,
                        })
                    }
                    other => {
                        return expr::wrong_kind(
                            cx,
                            "each size in a reshape",
                            "an int",
                            other,
                            shape_loc,
                        )
                    }
                }
            }
            dims
        }
        Some((Type::Error, _)) | None => return Type::Error,
        Some((other, at)) => {
            return expr::wrong_kind(cx, "the shape of a reshape", "a list of ints", other, *at)
        }
    };
    let target = Shape::dims(dims);
    let (from, to) = (x.shape.numel(), target.numel());
    match (from, to) {
        (Ok(Some(a)), Ok(Some(b))) if env.dims.simplify(&a) == env.dims.simplify(&b) => {
            Type::tensor(x.dtype, target)
        }
        (Ok(Some(a)), Ok(Some(b))) => {
            let floor = has_floor(&a) || has_floor(&b);
            cx.error(CheckError::Reshape {
                from: x.to_string(),
                to: target.to_string(),
                loc: loc_of(&args[0], call),
                shape_loc,
                help: floor.then(|| {
                    "a `/` between sizes rounds down, so the counts may differ; if one size \
                     divides the other, say so on the function: `where D % heads == 0`"
                        .to_string()
                }),
            })
        }
        _ => cx.error(CheckError::Reshape {
            from: x.to_string(),
            to: target.to_string(),
            loc: loc_of(&args[0], call),
            shape_loc,
            help: None,
        }),
    }
}

fn concat(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc) -> Type {
    let list_loc = loc_of(&args[0], call);
    let items = match &args[0] {
        Some((Type::List(items), _)) => items.clone(),
        Some((Type::Error, _)) | None => return Type::Error,
        Some((other, at)) => {
            return expr::wrong_kind(
                cx,
                "the argument of `concat`",
                "a list of tensors",
                other,
                *at,
            )
        }
    };
    let mut tensors = Vec::new();
    for t in &items {
        match t {
            Type::Tensor(t) => tensors.push(t.clone()),
            Type::Error => return Type::Error,
            other => {
                return expr::wrong_kind(cx, "each item of `concat`", "a tensor", other, list_loc)
            }
        }
    }
    let Some(first) = tensors.first().cloned() else {
        return expr::wrong_kind(
            cx,
            "the argument of `concat`",
            "a non-empty list",
            &Type::List(Vec::new()),
            list_loc,
        );
    };
    let Some(axis) = const_int(cx, "concat", "axis", &args[1], Some(0)) else {
        return Type::Error;
    };
    let Some(i) = axis_index(cx, &first, axis, loc_of(&args[1], list_loc)) else {
        return Type::Error;
    };
    let mut total = match &first.shape.0[i] {
        ShapeItem::Dim(d) => d.clone(),
        ShapeItem::Group(_) => return Type::Error,
    };
    for (k, t) in tensors.iter().enumerate().skip(1) {
        let same_rest = t.dtype == first.dtype
            && t.shape.0.len() == first.shape.0.len()
            && t.shape
                .0
                .iter()
                .zip(&first.shape.0)
                .enumerate()
                .all(|(j, (a, b))| j == i || a == b);
        if !same_rest {
            return cx.error(CheckError::Concat {
                detail: format!(
                    "item {k} is {t}, item 0 is {first}; all but axis {axis} must match"
                ),
                loc: list_loc,
                other: list_loc,
            });
        }
        if let ShapeItem::Dim(d) = &t.shape.0[i] {
            total = total.add(d).unwrap_or(total);
        }
    }
    let mut out = first.shape.0.clone();
    out[i] = ShapeItem::Dim(total);
    Type::tensor(first.dtype, Shape(out))
}

fn one_hot(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc) -> Type {
    let Some(labels) = tensor(cx, "one_hot", "labels", &args[0]) else {
        return Type::Error;
    };
    let n = match (&labels.dtype, &args[1]) {
        (DType::Class(c), None) => c.clone(),
        (d, _) if d.is_integer() => match static_int(cx, "one_hot", "n", &args[1], None) {
            Some(n) => n,
            None if args[1].is_none() => {
                return cx.error(CheckError::MissingArg {
                    callee: "one_hot".to_string(),
                    param: "n".to_string(),
                    loc: call,
                    sig: None,
                })
            }
            None => return Type::Error,
        },
        _ => {
            return expr::wrong_kind(
                cx,
                "the labels of `one_hot`",
                "class labels or an integer tensor",
                &Type::Tensor(labels),
                loc_of(&args[0], call),
            )
        }
    };
    let mut items = labels.shape.0.clone();
    items.push(ShapeItem::Dim(n));
    Type::tensor(DType::F32, Shape(items))
}

fn take(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc) -> Type {
    let (Some(table), Some(ids)) = (
        tensor(cx, "take", "table", &args[0]),
        tensor(cx, "take", "ids", &args[1]),
    ) else {
        return Type::Error;
    };
    if !ids.dtype.is_integer() {
        return expr::wrong_kind(
            cx,
            "the ids of `take`",
            "an integer or class tensor",
            &Type::Tensor(ids),
            loc_of(&args[1], call),
        );
    }
    let Some(ShapeItem::Dim(rows)) = table.shape.0.first() else {
        return expr::wrong_kind(
            cx,
            "the table of `take`",
            "a tensor whose first dim is known",
            &Type::Tensor(table),
            loc_of(&args[0], call),
        );
    };
    if let DType::Class(c) = &ids.dtype {
        if c != rows {
            return cx.error(CheckError::MatMul {
                op: "take",
                left: table.to_string(),
                right: ids.to_string(),
                left_loc: loc_of(&args[0], call),
                right_loc: loc_of(&args[1], call),
                detail: format!("the table has {rows} rows but the ids are labels in 0..{c}"),
            });
        }
    }
    let mut items = ids.shape.0.clone();
    items.extend(table.shape.0[1..].iter().cloned());
    Type::tensor(table.dtype, Shape(items))
}

/// An f32 tensor argument (`flip` and the augmentations gather its
/// elements, which every back end does for f32).
pub(super) fn float_tensor(
    cx: &mut Checker,
    name: &str,
    arg: &Bound,
    call: Loc,
) -> Option<TensorType> {
    let x = tensor(cx, name, "x", arg)?;
    if x.dtype != DType::F32 {
        expr::wrong_kind(
            cx,
            &format!("the x of `{name}`"),
            "an f32 tensor",
            &Type::Tensor(x),
            loc_of(arg, call),
        );
        return None;
    }
    Some(x)
}

fn flip(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc) -> Type {
    let Some(x) = float_tensor(cx, "flip", &args[0], call) else {
        return Type::Error;
    };
    let Some(axis) = const_int(cx, "flip", "axis", &args[1], Some(-1)) else {
        return Type::Error;
    };
    match axis_index(cx, &x, axis, loc_of(&args[1], loc_of(&args[0], call))) {
        Some(_) => Type::Tensor(x),
        None => Type::Error,
    }
}

/// A probability argument `p` of `name`, if given: a number from 0 to 1.
fn probability_ok(cx: &mut Checker, name: &str, arg: &Bound) -> bool {
    let Some((ty, at)) = arg else {
        return true;
    };
    let p = match ty {
        Type::Float(p) => *p,
        Type::Int(d) => d.as_ref().and_then(Dim::as_const).map(|v| v as f64),
        Type::Error => None,
        _ => {
            expr::wrong_kind(
                cx,
                &format!("argument `p` of `{name}`"),
                "a number",
                ty,
                *at,
            );
            return false;
        }
    };
    if let Some(p) = p.filter(|p| !(0.0..=1.0).contains(p)) {
        cx.error(CheckError::OutOfRange {
            what: format!("the probability `p` of `{name}`"),
            value: p.to_string(),
            range: "from 0 to 1".into(),
            loc: *at,
        });
        return false;
    }
    true
}

fn random_flip(cx: &mut Checker, env: &Env, args: &[Bound], call: Loc) -> Type {
    if !probability_ok(cx, "random_flip", &args[2]) {
        return Type::Error;
    }
    flip(cx, env, &args[..2], call)
}

/// The `x` of `name` as an f32 image `[.., H, W]` (known height and width)
/// and a window size from `size_arg` that fits it; `what` names the window.
fn image_and_window(
    cx: &mut Checker,
    name: &str,
    what: &str,
    (x_arg, size_arg): (&Bound, &Bound),
    call: Loc,
) -> Option<(TensorType, i64)> {
    let x = float_tensor(cx, name, x_arg, call)?;
    let n = x.shape.0.len();
    let sides: Option<Vec<Option<i64>>> = x.shape.0[n.saturating_sub(2)..]
        .iter()
        .map(|d| match d {
            ShapeItem::Dim(d) => Some(d.as_const()),
            ShapeItem::Group(_) => None,
        })
        .collect();
    let Some(sides) = sides.filter(|_| n >= 2) else {
        expr::wrong_kind(
            cx,
            &format!("the x of `{name}`"),
            "a tensor whose last two dims (height, width) are known",
            &Type::Tensor(x),
            loc_of(x_arg, call),
        );
        return None;
    };
    let size = const_int(cx, name, "size", size_arg, None)?;
    let limit = sides.iter().flatten().min().copied();
    if size < 1 || limit.is_some_and(|l| size > l) {
        cx.error(CheckError::OutOfRange {
            what: format!("the {what} size of `{name}`"),
            value: size.to_string(),
            range: limit.map_or("1 or more".into(), |l| format!("from 1 to {l}")),
            loc: loc_of(size_arg, call),
        });
        return None;
    }
    Some((x, size))
}

fn crop(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc) -> Type {
    let Some((x, size)) = image_and_window(cx, "crop", "window", (&args[0], &args[3]), call) else {
        return Type::Error;
    };
    let n = x.shape.0.len();
    for (k, what) in [(1, "top"), (2, "left")] {
        match &args[k] {
            Some((Type::Int(_), _)) | Some((Type::Error, _)) | None => {}
            Some((Type::Tensor(t), _))
                if t.dtype.is_integer()
                    && (t.shape.is_scalar()
                        || (t.shape.0.len() == 1 && t.shape.0.first() == x.shape.0.first())) => {}
            Some((other, at)) => {
                let per_sample = match x.shape.0.first() {
                    Some(ShapeItem::Dim(d)) if n > 2 => format!(" (i64[{d}])"),
                    _ => String::new(),
                };
                return expr::wrong_kind(
                    cx,
                    &format!("argument `{what}` of `crop`"),
                    &format!("an int, or an integer tensor with one value per sample{per_sample}"),
                    other,
                    *at,
                );
            }
        }
    }
    let mut items = x.shape.0.clone();
    items[n - 2] = ShapeItem::Dim(Dim::constant(size));
    items[n - 1] = ShapeItem::Dim(Dim::constant(size));
    Type::tensor(x.dtype, Shape(items))
}

fn random_erasing(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc) -> Type {
    let image = image_and_window(cx, "random_erasing", "square", (&args[0], &args[1]), call);
    match image {
        Some((x, _)) if probability_ok(cx, "random_erasing", &args[2]) => Type::Tensor(x),
        _ => Type::Error,
    }
}

fn random_crop(cx: &mut Checker, _: &Env, args: &[Bound], call: Loc) -> Type {
    let Some(x) = float_tensor(cx, "random_crop", &args[0], call) else {
        return Type::Error;
    };
    let (Some(size), Some(pad)) = (
        const_int(cx, "random_crop", "size", &args[1], None),
        const_int(cx, "random_crop", "pad", &args[2], Some(0)),
    ) else {
        return Type::Error;
    };
    let n = x.shape.0.len();
    let image = n >= 2
        && x.shape.0[n - 2..]
            .iter()
            .all(|i| matches!(i, ShapeItem::Dim(_)));
    if !image {
        return expr::wrong_kind(
            cx,
            "the x of `random_crop`",
            "a tensor whose last two dims (height, width) are known",
            &Type::Tensor(x),
            loc_of(&args[0], call),
        );
    }
    if pad < 0 {
        return cx.error(CheckError::OutOfRange {
            what: "the padding of `random_crop`".into(),
            value: pad.to_string(),
            range: "0 or more".into(),
            loc: loc_of(&args[2], call),
        });
    }
    // The largest window: the smaller padded side, where the sides are known.
    let padded = |d: &ShapeItem| match d {
        ShapeItem::Dim(d) => d.as_const().map(|h| h + 2 * pad),
        ShapeItem::Group(_) => None,
    };
    let sides = [padded(&x.shape.0[n - 2]), padded(&x.shape.0[n - 1])];
    let limit = sides.iter().flatten().min().copied();
    if size < 1 || limit.is_some_and(|l| size > l) {
        let range = match limit {
            Some(l) => format!(
                "from 1 to {l} (the {} image padded by {pad})",
                Shape(x.shape.0[n - 2..].to_vec())
            ),
            None => "1 or more".into(),
        };
        return cx.error(CheckError::OutOfRange {
            what: "the window size of `random_crop`".into(),
            value: size.to_string(),
            range,
            loc: loc_of(&args[1], call),
        });
    }
    let mut items = x.shape.0.clone();
    items[n - 2] = ShapeItem::Dim(Dim::constant(size));
    items[n - 1] = ShapeItem::Dim(Dim::constant(size));
    Type::tensor(x.dtype, Shape(items))
}

fn like_x(cx: &mut Checker, _: &Env, args: &[Bound], _: Loc) -> Type {
    match tensor(cx, "random", "x", &args[0]) {
        Some(x) => Type::tensor(DType::F32, x.shape),
        None => Type::Error,
    }
}

fn training(_: &mut Checker, _: &Env, _: &[Bound], _: Loc) -> Type {
    Type::tensor(DType::Bool, Shape::scalar())
}

fn init(cx: &mut Checker, _: &Env, args: &[Bound], _: Loc) -> Type {
    for (ty, at) in args.iter().flatten() {
        if !matches!(ty, Type::Float(_) | Type::Int(_) | Type::Error) {
            return expr::wrong_kind(cx, "an initialiser's argument", "a number", ty, *at);
        }
    }
    Type::Init
}

fn seed(cx: &mut Checker, _: &Env, args: &[Bound], _: Loc) -> Type {
    match &args[0] {
        Some((Type::Int(Some(d)), at)) if d.as_const().is_none_or(|v| v < 0) => {
            cx.error(CheckError::OutOfRange {
                what: "the seed".to_string(),
                value: d.to_string(),
                range: "a non-negative integer".to_string(),
                loc: *at,
            })
        }
        Some((Type::Int(Some(_)) | Type::Error, _)) => Type::Seed,
        Some((other, at)) => expr::wrong_kind(cx, "the seed", "an int", other, *at),
        None => Type::Error,
    }
}

/// `a @ b`, NumPy style: [..., n, k] @ [k, m] or [..., k, m]; a 1-D side
/// is a vector.
pub(crate) fn matmul(
    cx: &mut Checker,
    (a, aloc): (&TensorType, Loc),
    (b, bloc): (&TensorType, Loc),
) -> Type {
    let fail = |cx: &mut Checker, detail: String| {
        cx.error(CheckError::MatMul {
            op: "@",
            left: a.to_string(),
            right: b.to_string(),
            left_loc: aloc,
            right_loc: bloc,
            detail,
        })
    };
    if a.dtype != b.dtype {
        return fail(
            cx,
            format!("the dtypes differ ({} and {})", a.dtype, b.dtype),
        );
    }
    let (pa, pb) = (&a.shape.0, &b.shape.0);
    if pa.is_empty() || pb.is_empty() {
        return fail(
            cx,
            "`@` needs at least one axis on each side; use `*` for scalars".to_string(),
        );
    }
    let k_left = match pa.last() {
        Some(ShapeItem::Dim(d)) => d.clone(),
        _ => {
            return fail(
                cx,
                "the left side's last axis is inside a `..` group".to_string(),
            )
        }
    };
    let k_index = if pb.len() == 1 { 0 } else { pb.len() - 2 };
    let k_right = match &pb[k_index] {
        ShapeItem::Dim(d) => d.clone(),
        ShapeItem::Group(_) => {
            return fail(
                cx,
                "the right side's contracted axis is inside a `..` group".to_string(),
            )
        }
    };
    if k_left != k_right {
        let which = if pb.len() == 1 {
            "only dim"
        } else {
            "second-to-last dim"
        };
        return fail(cx, format!("the left's last dim is {k_left}, but the right's {which} is {k_right}; they must be equal"));
    }
    let mut out: Vec<ShapeItem> = pa[..pa.len() - 1].to_vec();
    if pb.len() >= 2 {
        let batch_b = Shape(pb[..pb.len() - 2].to_vec());
        if !batch_b.is_scalar() {
            let (rows, batch_a) = match out.pop() {
                Some(r) => (r, Shape(out.clone())),
                None => {
                    return fail(
                        cx,
                        "a vector on the left cannot meet a batch of matrices".to_string(),
                    )
                }
            };
            match broadcast(&batch_a, &batch_b) {
                Ok(s) => out = s.0,
                Err(e) => {
                    return fail(
                        cx,
                        format!(
                            "the batch dims do not broadcast ({} against {})",
                            e.left, e.right
                        ),
                    )
                }
            }
            out.push(rows);
        }
        out.push(pb[pb.len() - 1].clone());
    }
    Type::tensor(a.dtype.clone(), Shape(out))
}
