//! What the checker reports. Each variant carries every place involved, so
//! a mismatch points at both sides.

use crate::diagnostic::{Diagnostic, Loc};

#[derive(Clone, Debug, PartialEq)]
pub enum CheckError {
    DTypeMismatch {
        op: String,
        left: String,
        right: String,
        left_loc: Loc,
        right_loc: Loc,
    },
    UnknownName {
        name: String,
        loc: Loc,
        hint: Option<String>,
    },
    /// A parameter's default of another kind than the parameter.
    DefaultMismatch {
        param: String,
        expected: String,
        found: String,
        default: Loc,
        param_loc: Loc,
    },
    /// A name of the model's body used in a train block.
    InternalName {
        name: String,
        model: String,
        outputs: String,
        loc: Loc,
        defined: Loc,
    },
    UnknownMember {
        owner: String,
        name: String,
        loc: Loc,
        hint: Option<String>,
        defined: Option<Loc>,
    },
    WrongKind {
        what: String,
        expected: String,
        found: String,
        loc: Loc,
        note: Option<String>,
    },
    /// A call of a name that a local (parameter, variable) of the same
    /// name hides from a function.
    Shadowed {
        name: String,
        /// "parameter" or "local".
        what: &'static str,
        /// The function's full name (`std.nn.dropout`).
        function: String,
        found: String,
        loc: Loc,
        local: Loc,
    },
    TooManyArgs {
        callee: String,
        max: usize,
        found: usize,
        loc: Loc,
        sig: Option<Loc>,
    },
    MissingArg {
        callee: String,
        param: String,
        loc: Loc,
        sig: Option<Loc>,
    },
    UnknownArg {
        callee: String,
        name: String,
        loc: Loc,
        hint: Option<String>,
        sig: Option<Loc>,
    },
    DuplicateArg {
        name: String,
        loc: Loc,
        first: Loc,
    },
    ArgMismatch {
        callee: String,
        param: String,
        expected: String,
        found: String,
        arg: Loc,
        param_loc: Option<Loc>,
        notes: Vec<String>,
    },
    Broadcast {
        op: String,
        left: String,
        right: String,
        left_loc: Loc,
        right_loc: Loc,
        detail: String,
    },
    /// Two operands of `@`, `take` or `conv` that do not fit together.
    MatMul {
        op: &'static str,
        left: String,
        right: String,
        left_loc: Loc,
        right_loc: Loc,
        detail: String,
    },
    CannotInfer {
        name: String,
        callee: String,
        loc: Loc,
    },
    ReturnMismatch {
        expected: String,
        found: String,
        ret: Loc,
        body: Loc,
    },
    NotStatic {
        what: String,
        loc: Loc,
    },
    UnknownDType {
        name: String,
        loc: Loc,
        hint: Option<String>,
    },
    UnboundDim {
        name: String,
        loc: Loc,
        note: String,
    },
    Axis {
        axis: i64,
        shape: String,
        loc: Loc,
        detail: String,
    },
    Reshape {
        from: String,
        to: String,
        loc: Loc,
        shape_loc: Loc,
        help: Option<String>,
    },
    Concat {
        detail: String,
        loc: Loc,
        other: Loc,
    },
    BadDim {
        detail: String,
        loc: Loc,
    },
    /// A `state` misused: an update of something that is not one, a
    /// second update, an update inside a `repeat` the state is not in.
    State {
        detail: String,
        loc: Loc,
        other: Option<(Loc, String)>,
        help: Option<String>,
    },
    /// A call that breaks its function's `where num % den == 0`.
    Indivisible {
        callee: String,
        fact: String,
        detail: String,
        loc: Loc,
        fact_loc: Loc,
    },
    /// An index or slice that cannot apply to the tensor (`x[5]` of 4).
    Index {
        detail: String,
        loc: Loc,
        help: Option<String>,
    },
    Cast {
        from: String,
        to: String,
        loc: Loc,
        target: Loc,
        detail: String,
    },
    RepeatChangesType {
        name: String,
        before: String,
        after: String,
        loc: Loc,
        outer: Loc,
    },
    Misplaced {
        what: String,
        loc: Loc,
        help: String,
    },
    Recursion {
        chain: String,
        loc: Loc,
    },
    DatasetSource {
        detail: String,
        loc: Loc,
        help: Option<String>,
    },
    Split {
        detail: String,
        loc: Loc,
    },
    UnknownKey {
        block: String,
        key: String,
        loc: Loc,
        hint: Option<String>,
    },
    MissingKey {
        block: String,
        key: String,
        loc: Loc,
        help: String,
    },
    DuplicateKey {
        key: String,
        loc: Loc,
        first: Loc,
    },
    OutOfRange {
        what: String,
        value: String,
        range: String,
        loc: Loc,
    },
    MissingField {
        input: String,
        dataset: String,
        input_loc: Loc,
        dataset_loc: Loc,
        fields: String,
    },
    FieldMismatch {
        input: String,
        expected: String,
        found: String,
        input_loc: Loc,
        field_loc: Loc,
        detail: String,
    },
    NotScalar {
        what: String,
        found: String,
        loc: Loc,
    },
    Conflict {
        detail: String,
        loc: Loc,
        other: Loc,
    },
    /// A setting that means nothing without another one.
    Requires {
        detail: String,
        loc: Loc,
        help: String,
    },
}

impl CheckError {
    pub fn diagnostic(&self) -> Diagnostic {
        use CheckError::*;
        match self {
            UnknownName { name, loc, hint } => {
                with_help(Diagnostic::error("E0100", *loc, format!("unknown name `{name}`")).here("not found in this scope"), hint)
            }
            DefaultMismatch { param, expected, found, default, param_loc } => Diagnostic::error(
                "E0201",
                *default,
                format!("the default of `{param}` is {found}, but `{param}` is declared {expected}"),
            )
            .here(format!("this is {found}"))
            .label(*param_loc, format!("`{param}` is declared here as {expected}")),
            InternalName { name, model, outputs, loc, defined } => Diagnostic::error(
                "E0100",
                *loc,
                format!("`{name}` is an internal value of model `{model}`, not one of its outputs ({outputs})"),
            )
            .here("not visible in the train block")
            .label(*defined, format!("`{name}` is defined here, inside `{model}`"))
            .help(format!("the loss and the metrics see the model's outputs and the data's fields: to use `{name}`, declare it `output {name} = ...`")),
            UnknownMember { owner, name, loc, hint, defined } => {
                let d = Diagnostic::error("E0106", *loc, format!("{owner} has no `{name}`")).here("not found");
                let d = match defined {
                    Some(at) => d.label(*at, format!("{owner} is defined here")),
                    None => d,
                };
                with_help(d, hint)
            }
            WrongKind { what, expected, found, loc, note } => {
                let d = Diagnostic::error("E0200", *loc, format!("{what} must be {expected}, found {found}")).here(format!("this is {found}"));
                match note {
                    Some(n) => d.note(n.clone()),
                    None => d,
                }
            }
            Shadowed { name, what, function, found, loc, local } => Diagnostic::error(
                "E0200",
                *loc,
                format!("`{name}` here is a {what} ({found}), which shadows the function `{function}`"),
            )
            .here("called here")
            .label(*local, format!("the {what} `{name}` is declared here"))
            .help(format!("rename the {what} (`{name}_rate`, `p`, ...) to call the function")),
            TooManyArgs { callee, max, found, loc, sig } => {
                let d = Diagnostic::error("E0110", *loc, format!("`{callee}` takes {max} argument{}, but {found} were given", plural(*max)))
                    .here("unexpected argument");
                with_sig(d, sig, callee)
            }
            MissingArg { callee, param, loc, sig } => {
                let d = Diagnostic::error("E0109", *loc, format!("missing argument `{param}` of `{callee}`")).here(format!("`{param}` is not given"));
                with_sig(d, sig, callee)
            }
            UnknownArg { callee, name, loc, hint, sig } => {
                let d = Diagnostic::error("E0107", *loc, format!("`{callee}` has no parameter `{name}`")).here("unknown parameter");
                with_help(with_sig(d, sig, callee), hint)
            }
            DuplicateArg { name, loc, first } => Diagnostic::error("E0108", *loc, format!("argument `{name}` is given twice"))
                .here("given again here")
                .label(*first, "first given here"),
            ArgMismatch { callee, param, expected, found, arg, param_loc, notes } => {
                let mut d = Diagnostic::error("E0201", *arg, format!("argument `{param}` of `{callee}` must be {expected}, found {found}"))
                    .here(format!("this is {found}"));
                if let Some(p) = param_loc {
                    d = d.label(*p, format!("`{param}` is declared here as {expected}"));
                }
                for n in notes {
                    d = d.note(n.clone());
                }
                d
            }
            Broadcast { op, left, right, left_loc, right_loc, detail } => {
                Diagnostic::error("E0202", *left_loc, format!("shapes {left} and {right} do not broadcast for `{op}`"))
                    .here(format!("this is {left}"))
                    .label(*right_loc, format!("this is {right}"))
                    .note(detail.clone())
            }
            DTypeMismatch { op, left, right, left_loc, right_loc } => {
                Diagnostic::error("E0217", *left_loc, format!("`{op}` needs the same dtype on both sides, found {left} and {right}"))
                    .here(format!("this is {left}"))
                    .label(*right_loc, format!("this is {right}"))
                    .help("convert one side with `as`, e.g. `x as f32`")
            }
            MatMul { op, left, right, left_loc, right_loc, detail } => {
                let message = match *op {
                    "take" => format!("`take` cannot pick rows of {left} by the ids {right}"),
                    "conv" => format!("`conv` cannot convolve {left} with the kernels {right}"),
                    _ => format!("cannot multiply {left} by {right}"),
                };
                Diagnostic::error("E0203", *left_loc, message)
                    .here(format!("this is {left}"))
                    .label(*right_loc, format!("this is {right}"))
                    .note(detail.clone())
            }
            CannotInfer { name, callee, loc } => {
                Diagnostic::error("E0204", *loc, format!("cannot tell the size `{name}` in this call of `{callee}`"))
                    .here(format!("no argument decides `{name}`"))
                    .help(format!("use `{name}` as a plain dimension of a parameter, or pass it as an int"))
            }
            ReturnMismatch { expected, found, ret, body } => {
                Diagnostic::error("E0205", *body, format!("the body's result is {found}, but the function returns {expected}"))
                    .here(format!("this is {found}"))
                    .label(*ret, format!("declared as {expected}"))
            }
            NotStatic { what, loc } => Diagnostic::error("E0206", *loc, format!("{what} must be known when the program is compiled"))
                .here("this depends on data")
                .help("use an int literal, an int parameter, or arithmetic on those"),
            UnknownDType { name, loc, hint } => with_help(
                Diagnostic::error("E0207", *loc, format!("unknown type `{name}`"))
                    .here("not a type")
                    .note("types are f32, f64, i32, i64, u8, bool, class(n), int, float, str, optimizer, schedule"),
                hint,
            ),
            UnboundDim { name, loc, note } => Diagnostic::error("E0208", *loc, format!("the size `{name}` is not defined here"))
                .here("unknown size")
                .note(note.clone()),
            Axis { axis, shape, loc, detail } => {
                Diagnostic::error("E0209", *loc, format!("axis {axis} is not usable on {shape}")).here(detail.clone())
            }
            Reshape { from, to, loc, shape_loc, help } => with_help(
                Diagnostic::error("E0210", *shape_loc, format!("cannot reshape {from} into {to}"))
                    .here(format!("{to} holds a different number of elements"))
                    .label(*loc, format!("this is {from}")),
                help,
            ),
            Concat { detail, loc, other } => {
                Diagnostic::error("E0211", *loc, format!("cannot concatenate: {detail}")).here("this one").label(*other, "does not fit this one")
            }
            BadDim { detail, loc } => Diagnostic::error("E0212", *loc, detail.clone()).here("invalid size"),
            State { detail, loc, other, help } => {
                let d = Diagnostic::error("E0220", *loc, detail.clone()).here("here");
                let d = match other {
                    Some((at, what)) => d.label(*at, what.clone()),
                    None => d,
                };
                with_help(d, help)
            }
            Indivisible { callee, fact, detail, loc, fact_loc } => {
                Diagnostic::error("E0219", *loc, format!("this call of `{callee}` breaks `{fact}`: {detail}"))
                    .here("here")
                    .label(*fact_loc, "required here")
            }
            Index { detail, loc, help } => with_help(Diagnostic::error("E0218", *loc, detail.clone()).here("here"), help),
            Cast { from, to, loc, target, detail } => Diagnostic::error("E0214", *target, format!("cannot cast {from} to {to}"))
                .here(detail.clone())
                .label(*loc, format!("this is {from}")),
            RepeatChangesType { name, before, after, loc, outer } => {
                Diagnostic::error("E0215", *loc, format!("`repeat` changes the type of `{name}` from {before} to {after}"))
                    .here(format!("now {after}"))
                    .label(*outer, format!("{before} before the loop"))
                    .note("each round of a `repeat` must leave its variables' types as they were")
            }
            Misplaced { what, loc, help } => Diagnostic::error("E0216", *loc, what.clone()).here("not allowed here").help(help.clone()),
            Recursion { chain, loc } => Diagnostic::error("E0112", *loc, format!("recursive call: {chain}"))
                .here("calls itself")
                .note("each call of a function is unrolled into the model, so recursion would never end"),
            DatasetSource { detail, loc, help } => with_help(Diagnostic::error("E0300", *loc, detail.clone()).here("here"), help),
            Split { detail, loc } => Diagnostic::error("E0301", *loc, detail.clone()).here("in this split"),
            UnknownKey { block, key, loc, hint } => {
                with_help(Diagnostic::error("E0303", *loc, format!("`{key}` is not a setting of a {block} block")).here("unknown setting"), hint)
            }
            MissingKey { block, key, loc, help } => {
                Diagnostic::error("E0304", *loc, format!("{block} block has no `{key}`")).here(format!("`{key}` is missing")).help(help.clone())
            }
            DuplicateKey { key, loc, first } => Diagnostic::error("E0309", *loc, format!("`{key}` is set twice"))
                .here("set again here")
                .label(*first, "first set here"),
            OutOfRange { what, value, range, loc } => {
                Diagnostic::error("E0305", *loc, format!("{what} is {value}, but it must be {range}")).here("out of range")
            }
            MissingField { input, dataset, input_loc, dataset_loc, fields } => {
                Diagnostic::error("E0306", *input_loc, format!("model input `{input}` has no field of the same name in dataset `{dataset}`"))
                    .here("this input needs a field")
                    .label(*dataset_loc, format!("`{dataset}` has fields {fields}"))
            }
            FieldMismatch { input, expected, found, input_loc, field_loc, detail } => {
                Diagnostic::error("E0307", *input_loc, format!("model input `{input}` is {expected}, but the dataset field batches to {found}"))
                    .here(format!("input declared as {expected}"))
                    .label(*field_loc, format!("field gives {found} per batch"))
                    .note(detail.clone())
            }
            NotScalar { what, found, loc } => Diagnostic::error("E0308", *loc, format!("{what} must be a scalar f32, found {found}"))
                .here(format!("this is {found}"))
                .help("reduce it, e.g. with `mean(...)`"),
            Conflict { detail, loc, other } => Diagnostic::error("E0310", *loc, detail.clone()).here("here").label(*other, "conflicts with this"),
            Requires { detail, loc, help } => with_help(Diagnostic::error("E0311", *loc, detail.clone()).here("here"), &Some(help.clone())),
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn with_help(d: Diagnostic, hint: &Option<String>) -> Diagnostic {
    match hint {
        Some(h) => d.help(h.clone()),
        None => d,
    }
}

fn with_sig(d: Diagnostic, sig: &Option<Loc>, callee: &str) -> Diagnostic {
    match sig {
        Some(at) => d.label(*at, format!("`{callee}` is declared here")),
        None => d,
    }
}
