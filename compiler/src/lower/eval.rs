//! The lowering evaluator: runs declarations with concrete sizes, adding a
//! graph node for each tensor operation.

use super::builtins;
use super::value::Value;
use super::{LowerError, Mode};
use crate::diagnostic::Loc;
use crate::ir::{Builder, DType, Input, NodeId, TensorTy, UnaryOp};
use crate::program::{Feed, Init, ParamSpec};
use crate::resolve::{Binding, DefId};
use crate::Compilation;
use dlp_grammar::ast::{self, Expr, ExprKind, Item, StmtKind};
use dlp_grammar::Span;
use std::collections::{HashMap, HashSet};

pub(crate) type R<T> = Result<T, LowerError>;

/// The most values one parameter may hold (2^32: 16 GiB of f32), far above
/// any model this runtime trains, but below a size that aborts allocation.
const MAX_PARAM_ELEMENTS: usize = 1 << 32;

/// The most values all parameters together may hold (2^32: 16 GiB of f32,
/// 64 GiB with Adam's state and the gradients): a model beyond it would
/// exhaust memory before its first step.
const MAX_MODEL_ELEMENTS: usize = 1 << 32;

/// The most operations one step may have while it is lowered. The largest
/// example has about 1,000 and a 250-block residual network 30,000; a
/// `repeat` with an absurd count reaches this bound in seconds, with a
/// clear error, instead of taking all memory.
pub(crate) const MAX_NODES: usize = 1_000_000;

/// The code of the error that stops lowering at a budget below
/// [`MAX_NODES`] (see [`super::check_quick`]): never shown to a user.
pub(crate) const OVER_BUDGET: &str = "budget";

/// The names visible in one function body, dataset or train block.
pub(crate) struct Env {
    pub module: usize,
    pub vars: HashMap<String, Value>,
    /// The path of each `state` declared in this body, by name.
    pub states: HashMap<String, String>,
    /// Where the train block wrote the value of a variable that holds it
    /// unchanged (`Mlp(hidden = 0)`'s `hidden`, then `linear(x, hidden)`'s
    /// `out`): a problem with the value is shown there, where it is fixed.
    pub written: HashMap<String, Loc>,
}

impl Env {
    /// Where the train block wrote the value of `e`, when `e` names a
    /// variable holding it unchanged.
    pub fn written_at(&self, e: &Expr) -> Option<Loc> {
        match &e.kind {
            ExprKind::Name(id) => self.written.get(&id.name).copied(),
            ExprKind::Paren(inner) => self.written_at(inner),
            _ => None,
        }
    }

    pub fn new(module: usize) -> Env {
        Env {
            module,
            vars: HashMap::new(),
            states: HashMap::new(),
            written: HashMap::new(),
        }
    }
}

/// An argument as evaluated at a call.
pub(crate) struct Arg {
    pub name: Option<String>,
    pub value: Value,
    pub loc: Loc,
    /// Where the train block wrote the value (see [`Env::written`]).
    pub written: Option<Loc>,
}

/// One function instance being lowered, for parameter paths.
struct Frame {
    /// The name the instance would like: what its result is bound to, or
    /// the function's name.
    proposed: String,
    /// Claimed lazily, when the instance (or one inside it) declares a
    /// parameter, so that calls without parameters use up no names.
    path: Option<String>,
    /// Names claimed by instances called from this one.
    claimed: HashSet<String>,
    /// The statement being lowered, and the `repeat` indices around it.
    stmt_name: Option<String>,
    repeat: Vec<usize>,
}

impl Frame {
    fn new(proposed: String, path: Option<String>) -> Frame {
        Frame {
            proposed,
            path,
            claimed: HashSet::new(),
            stmt_name: None,
            repeat: Vec::new(),
        }
    }
}

pub(crate) struct Lowerer<'c> {
    pub comp: &'c Compilation,
    pub b: Builder,
    pub mode: Mode,
    /// The most operations the step may grow to: [`MAX_NODES`], or less
    /// for an editor that must answer within moments.
    pub max_nodes: usize,
    /// How many statements have been lowered (each `repeat` pass counts).
    statements: usize,
    /// How many values the parameters declared so far hold.
    param_elements: usize,
    pub params: Vec<ParamSpec>,
    /// The class count of `class(n)` tensors.
    pub classes: HashMap<NodeId, usize>,
    /// Leading batch axes that per-sample code does not see: 1 while a
    /// dataset's fields are lowered, 0 in model and function bodies.
    pub lead: usize,
    pub feeds: Vec<Feed>,
    pub(super) current_field: String,
    /// `[channels, height, width]` of the image-folder source of the
    /// dataset being lowered, for its `image()` field.
    pub(crate) image_shape: Option<[usize; 3]>,
    /// The `standardize` calls lowered so far.
    pub(crate) standardized: Vec<super::statistics::Standardized>,
    frames: Vec<Frame>,
    pub random_streams: u32,
    pub(super) model_inputs: HashMap<String, Value>,
    pub(super) model_outputs: Vec<(String, Value)>,
    /// The model's inputs, as its body read them (for [`Predict::Inputs`]).
    ///
    /// [`Predict::Inputs`]: super::Predict::Inputs
    pub(super) inputs_read: Vec<(String, Value)>,
    /// Each `state`'s value after the step, by path (training only).
    pub(super) state_updates: Vec<(String, NodeId)>,
    /// Metrics of a whole pass lowered so far (see [`super::metrics`]):
    /// the node the pass sums, how the sum is finished, and the call.
    pub(super) pass_metrics: Vec<(NodeId, crate::program::Finish, Loc)>,
    /// The samples of every training batch, when lowering the training
    /// step: the batch size `where` facts are checked against.
    pub(super) training_batch: Option<usize>,
    /// Set while the model's body is lowered for `dlpc summary`: each of
    /// its statements (in `repeat`s, each time) becomes a [`Row`].
    pub(super) recording: bool,
    pub(super) rows: Vec<Row>,
}

/// One statement of a model's body as lowered: what it made.
#[derive(Clone, Debug)]
pub struct Row {
    /// The name it binds (`h`; `h.2` in a `repeat`'s third pass).
    pub name: String,
    /// Its expression as written (`relu(linear(x, hidden))`).
    pub call: String,
    /// The nodes it added: `nodes.0..nodes.1`.
    pub nodes: (usize, usize),
    /// The parameters it declared: `params.0..params.1` of the plan's.
    pub params: (usize, usize),
    /// Its value, when a tensor.
    pub value: Option<NodeId>,
}

impl<'c> Lowerer<'c> {
    /// Whether `training()` is true: in the train step, and in the
    /// prediction of what training feeds the model.
    pub(super) fn training(&self) -> bool {
        matches!(
            self.mode,
            super::Mode::Train | super::Mode::Predict(super::Predict::TrainingInputs)
        )
    }

    pub(super) fn new(comp: &'c Compilation, mode: Mode) -> Lowerer<'c> {
        Lowerer {
            comp,
            b: Builder::new(),
            mode,
            max_nodes: MAX_NODES,
            statements: 0,
            param_elements: 0,
            params: Vec::new(),
            classes: HashMap::new(),
            lead: 0,
            feeds: Vec::new(),
            current_field: String::new(),
            image_shape: None,
            standardized: Vec::new(),
            frames: vec![Frame::new(String::new(), Some(String::new()))],
            random_streams: 0,
            model_inputs: HashMap::new(),
            model_outputs: Vec::new(),
            inputs_read: Vec::new(),
            state_updates: Vec::new(),
            pass_metrics: Vec::new(),
            training_batch: None,
            recording: false,
            rows: Vec::new(),
        }
    }

    pub fn loc(&self, module: usize, span: Span) -> Loc {
        Loc::new(self.comp.program.modules[module].file, span)
    }

    pub fn item(&self, def: DefId) -> &'c Item {
        &self.comp.program.modules[def.module].ast.items[def.item]
    }

    // ---- expressions ----------------------------------------------------

    pub fn expr(&mut self, env: &mut Env, e: &Expr) -> R<Value> {
        let loc = self.loc(env.module, e.span);
        let value = match &e.kind {
            ExprKind::Int(v, _) => Value::Int(*v),
            ExprKind::Float(v, _) => Value::Float(*v),
            ExprKind::Str(s) => Value::Str(s.clone()),
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::Paren(inner) => self.expr(env, inner)?,
            ExprKind::Name(id) => self.name(env, &id.name, loc)?,
            ExprKind::Field(owner, field) => {
                let owner = self.expr(env, owner)?;
                self.field(owner, &field.name, loc)?
            }
            ExprKind::Call(callee, args) => {
                let f = self.expr(env, callee)?;
                let mut values = Vec::with_capacity(args.len());
                for a in args {
                    let written = env.written_at(&a.value);
                    values.push(Arg {
                        name: a.name.as_ref().map(|n| n.name.clone()),
                        value: self.expr(env, &a.value)?,
                        loc: self.loc(env.module, a.span),
                        written,
                    });
                }
                self.b.loc = Some(loc);
                self.call(f, values, loc)?
            }
            ExprKind::Index(base, items) => {
                let v = super::index::lower(self, env, base, items, loc);
                self.b.loc = Some(loc);
                v?
            }
            ExprKind::Neg(inner) => {
                let v = self.expr(env, inner)?;
                self.b.loc = Some(loc);
                match v {
                    Value::Int(i) => Value::Int(-i),
                    Value::Float(f) => Value::Float(-f),
                    other => {
                        let n = self.node(other, loc)?;
                        Value::Tensor(self.b.unary(UnaryOp::Neg, n))
                    }
                }
            }
            ExprKind::Binary(op, a, b) => {
                let x = self.expr(env, a)?;
                let y = self.expr(env, b)?;
                self.b.loc = Some(loc);
                self.binary(*op, x, y, loc)?
            }
            ExprKind::Range(a, b) => match (self.expr(env, a)?, self.expr(env, b)?) {
                (Value::Int(a), Value::Int(b)) => Value::Range(a, b),
                _ => return Err(LowerError::new("a range needs integer ends", Some(loc))),
            },
            ExprKind::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.expr(env, i)?);
                }
                Value::List(out)
            }
            ExprKind::Record(fields) => {
                let mut out = Vec::with_capacity(fields.len());
                for f in fields {
                    out.push((f.name.name.clone(), self.expr(env, &f.value)?));
                }
                Value::Record(out)
            }
            ExprKind::Cast(inner, ty) => {
                let v = self.expr(env, inner)?;
                self.b.loc = Some(loc);
                self.cast(env, v, ty, loc)?
            }
        };
        Ok(value)
    }

    fn name(&mut self, env: &Env, name: &str, loc: Loc) -> R<Value> {
        if let Some(v) = env.vars.get(name) {
            return Ok(v.clone());
        }
        if let Some((binding, _)) = self.comp.scopes.modules[env.module].names.get(name) {
            return Ok(match binding {
                Binding::Item(def) => self.item_value(*def),
                Binding::Module(m) => Value::Module(*m),
            });
        }
        if let Some(b) = crate::check::builtins::find(name) {
            return Ok(Value::Builtin(b.name));
        }
        Err(LowerError::new(
            format!("`{name}` is not known here"),
            Some(loc),
        ))
    }

    fn item_value(&self, def: DefId) -> Value {
        match self.item(def) {
            Item::Dataset(_) => Value::Dataset(def),
            _ => Value::Def(def),
        }
    }

    fn field(&mut self, owner: Value, name: &str, loc: Loc) -> R<Value> {
        match owner {
            Value::Module(m) => match self.comp.scopes.modules[m].names.get(name) {
                Some((Binding::Item(def), _)) => Ok(self.item_value(*def)),
                Some((Binding::Module(m), _)) => Ok(Value::Module(*m)),
                None => Err(LowerError::new(
                    format!("the module has no `{name}`"),
                    Some(loc),
                )),
            },
            Value::Dataset(def) => Ok(Value::Split(def, name.to_string())),
            other => Err(LowerError::new(
                format!("{} has no member `{name}`", other.kind()),
                Some(loc),
            )),
        }
    }

    fn call(&mut self, f: Value, args: Vec<Arg>, loc: Loc) -> R<Value> {
        match f {
            Value::Builtin(name) => builtins::call(self, name, args, loc),
            Value::Def(def) => match self.item(def) {
                Item::Fn(decl) => self.call_fn(def, decl, args, loc),
                Item::Model(_) => Ok(Value::Model(
                    def,
                    args.into_iter().map(|a| (a.name, a.value, a.loc)).collect(),
                )),
                _ => Err(LowerError::new("this cannot be called", Some(loc))),
            },
            other => Err(LowerError::new(
                format!("{} cannot be called", other.kind()),
                Some(loc),
            )),
        }
    }

    fn call_fn(&mut self, def: DefId, decl: &'c ast::FnDecl, args: Vec<Arg>, loc: Loc) -> R<Value> {
        let result = self.call_fn_inner(def, decl, args, loc);
        // A problem inside the stdlib is the user's call's problem: report
        // it there, where it can be fixed.
        result.map_err(|mut e| {
            if self.is_stdlib(loc) {
                return e;
            }
            let name = &decl.name.name;
            for (at, message) in &mut e.labels {
                if self.is_stdlib(*at) {
                    *at = loc;
                    *message = format!("{message}, in this call of `{name}`");
                }
            }
            match e.loc {
                Some(at) if self.is_stdlib(at) => LowerError {
                    message: format!("in this call of `{name}`: {}", e.message),
                    loc: Some(loc),
                    ..e
                },
                _ => e,
            }
        })
    }

    fn is_stdlib(&self, loc: Loc) -> bool {
        self.comp.program.sources.get(loc.file).is_stdlib
    }

    fn call_fn_inner(
        &mut self,
        def: DefId,
        decl: &'c ast::FnDecl,
        args: Vec<Arg>,
        loc: Loc,
    ) -> R<Value> {
        let mut env = Env::new(def.module);
        self.bind_args(&decl.params, args, &mut env, loc)?;
        self.check_facts(&env, decl, loc)?;
        if self.is_stdlib(self.loc(def.module, decl.span)) {
            // Hyper-parameters that only now have values (`dropout(h, p = p)`
            // with the model's `p`) get the checker's range rules.
            for p in &decl.params {
                let Some(value) = env.vars.get(&p.name.name).and_then(Value::as_f64) else {
                    continue;
                };
                if let Some(range) = crate::check::hyper::out_of_range(&p.name.name, value) {
                    let (param, callee) = (&p.name.name, &decl.name.name);
                    let message =
                        format!("`{param}` of `{callee}` is {value}, but it must be {range}");
                    return Err(match env.written.get(param) {
                        Some(&at) => LowerError::new(message, Some(at))
                            .here("out of range")
                            .label(loc, format!("used as `{param}` of `{callee}` here")),
                        None => LowerError::new(message, Some(loc)).here("out of range"),
                    }
                    .code("E0305"));
                }
            }
        }
        let Some(body) = &decl.body else {
            return super::settings::extern_call(&decl.name.name, &env, loc);
        };
        let frame = self.frames.last().expect("the root frame");
        let proposed = frame
            .stmt_name
            .clone()
            .unwrap_or_else(|| decl.name.name.clone());
        self.frames.push(Frame::new(proposed, None));
        let result = self.block(&mut env, body);
        self.frames.pop();
        result?.ok_or_else(|| {
            LowerError::new(
                format!("`{}` ends without a result expression", decl.name.name),
                Some(loc),
            )
        })
    }

    /// Binds arguments (positional first, then by name, then defaults) to
    /// `params` in `env`, and the size names of tensor parameters' written
    /// types to the arguments' sizes.
    pub fn bind_args(
        &mut self,
        params: &[ast::Param],
        args: Vec<Arg>,
        env: &mut Env,
        loc: Loc,
    ) -> R<()> {
        let mut slots: Vec<Option<Value>> = vec![None; params.len()];
        let mut written = vec![None; params.len()];
        let mut next = 0;
        for a in args {
            let i = match &a.name {
                Some(n) => params.iter().position(|p| &p.name.name == n),
                None => {
                    next += 1;
                    (next <= params.len()).then_some(next - 1)
                }
            };
            let Some(i) = i else {
                return Err(LowerError::new("unexpected argument", Some(a.loc)));
            };
            slots[i] = Some(a.value);
            written[i] = a.written;
        }
        for ((p, slot), written) in params.iter().zip(slots).zip(written) {
            let value = match (slot, &p.default) {
                (Some(v), _) => v,
                (None, Some(d)) => self.expr(env, d)?,
                (None, None) => {
                    return Err(LowerError::new(
                        format!("missing argument `{}`", p.name.name),
                        Some(loc),
                    ))
                }
            };
            let value = match value {
                Value::Read(_) => Value::Tensor(self.node(value, loc)?),
                v => v,
            };
            if let Value::Tensor(n) = value {
                self.bind_type(&p.ty, n, env, loc)?;
            }
            env.vars.insert(p.name.name.clone(), value);
            if let Some(at) = written {
                env.written.insert(p.name.name.clone(), at);
            }
        }
        Ok(())
    }

    /// A tensor value as a node; raw reads become f32 feeds.
    pub fn node(&mut self, v: Value, loc: Loc) -> R<NodeId> {
        match v {
            Value::Tensor(n) => Ok(n),
            Value::Read(r) => self.feed(r, DType::F32, None, None, None, loc),
            other => Err(LowerError::new(
                format!("expected a tensor, found {}", other.kind()),
                Some(loc),
            )),
        }
    }

    // ---- statements -----------------------------------------------------

    /// Lowers a body; its value is the last statement's when that is an
    /// expression.
    pub fn block(&mut self, env: &mut Env, block: &ast::Block) -> R<Option<Value>> {
        let mut last = None;
        for stmt in &block.stmts {
            // Statements of the model's own body (not of the functions it calls).
            let start = (self.recording && self.frames.len() == 1)
                .then(|| (self.b.graph().len(), self.params.len()));
            last = self.stmt(env, stmt)?;
            if let Some(start) = start {
                self.record_row(env, stmt, start);
            }
        }
        Ok(last)
    }

    fn record_row(&mut self, env: &Env, stmt: &ast::Stmt, start: (usize, usize)) {
        let (name, value) = match &stmt.kind {
            StmtKind::Let { name, value } | StmtKind::Output { name, value, .. } => {
                let mut row_name = name.name.clone();
                for i in &self.frames[0].repeat {
                    row_name.push_str(&format!(".{i}"));
                }
                (row_name, value)
            }
            StmtKind::Expr(e) => ("-".to_string(), e),
            StmtKind::Param { .. }
            | StmtKind::Update { .. }
            | StmtKind::Input { .. }
            | StmtKind::Repeat { .. } => return,
        };
        let bound = match &stmt.kind {
            StmtKind::Let { name, .. } | StmtKind::Output { name, .. } => env.vars.get(&name.name),
            _ => None,
        };
        self.rows.push(Row {
            name,
            call: dlp_grammar::format::expr(value),
            nodes: (start.0, self.b.graph().len()),
            params: (start.1, self.params.len()),
            value: match bound {
                Some(Value::Tensor(n)) => Some(*n),
                _ => None,
            },
        });
    }

    fn stmt(&mut self, env: &mut Env, stmt: &ast::Stmt) -> R<Option<Value>> {
        let loc = self.loc(env.module, stmt.span);
        // Statements that add no operation (`repeat 1000 { repeat 1000 {
        // n = 1 } }`) are bounded too: ten per operation allowed.
        self.statements += 1;
        if self.b.graph().len() > self.max_nodes || self.statements > 10 * self.max_nodes {
            if self.max_nodes < MAX_NODES {
                return Err(
                    LowerError::new("over the editor's budget", Some(loc)).code(OVER_BUDGET)
                );
            }
            return Err(LowerError::new(
                format!(
                    "the step has grown past {} operations (or {} statements run) here: the model is too large to compile (a `repeat` with a huge count?)",
                    scientific(MAX_NODES as f64),
                    scientific(10.0 * MAX_NODES as f64)
                ),
                Some(loc),
            ));
        }
        self.b.loc = Some(loc);
        match &stmt.kind {
            StmtKind::Param {
                name,
                ty,
                init,
                state,
            } => {
                let shape = self.shape_of(env, ty, loc)?;
                let dtype = self.dtype_of(&ty.dtype);
                let init = match init {
                    Some(e) => match self.expr(env, e)? {
                        Value::Init(i) => i,
                        other => {
                            return Err(LowerError::new(
                                format!("expected an initialiser, found {}", other.kind()),
                                Some(self.loc(env.module, e.span)),
                            ))
                        }
                    },
                    None if shape.len() >= 2 => Init::GlorotUniform,
                    None => Init::Zeros,
                };
                let path = self.param_path(&name.name);
                let Some(shape) = shape
                    .iter()
                    .map(|s| s.as_fixed())
                    .collect::<Option<Vec<usize>>>()
                else {
                    return Err(LowerError::new(
                        format!("parameter `{path}` would have shape {}: a parameter's size cannot depend on the batch size", super::types::shape_text(&shape)),
                        Some(loc),
                    ));
                };
                let numel = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
                match numel {
                    Some(0) => {
                        let message = format!("parameter `{path}` would have shape {shape:?}, with no elements: a size is 0");
                        return Err(match written_size(env, ty, |v| v == 0) {
                            Some((at, name)) => LowerError::new(message, Some(at))
                                .here("this size is 0")
                                .label(loc, format!("sizes parameter `{path}` as `{name}`")),
                            None => LowerError::new(message, Some(loc)),
                        });
                    }
                    Some(n) if n <= MAX_PARAM_ELEMENTS => {
                        self.param_elements += n;
                        let total = self.param_elements;
                        if total > MAX_MODEL_ELEMENTS {
                            return Err(LowerError::new(
                                format!(
                                    "with parameter `{path}`, the model has {} parameters ({} as f32): more than {} fit in memory",
                                    scientific(total as f64),
                                    crate::plan::bytes_text(total as f64 * 4.0),
                                    scientific(MAX_MODEL_ELEMENTS as f64)
                                ),
                                Some(loc),
                            ));
                        }
                    }
                    _ => {
                        let message = format!(
                            "parameter `{path}` would have shape {shape:?}: more than {MAX_PARAM_ELEMENTS} values"
                        );
                        return Err(match written_size(env, ty, |v| v > 1) {
                            Some((at, name)) => LowerError::new(message, Some(at))
                                .here("too large")
                                .label(loc, format!("sizes parameter `{path}` as `{name}`")),
                            None => LowerError::new(message, Some(loc)),
                        });
                    }
                }
                self.params.push(ParamSpec {
                    path: path.clone(),
                    dtype,
                    shape: shape.clone(),
                    init,
                    state: *state,
                });
                let input = if *state {
                    env.states.insert(name.name.clone(), path.clone());
                    Input::ModelState(path)
                } else {
                    Input::Param(path)
                };
                let node = self.b.input(input, TensorTy::fixed(dtype, &shape));
                env.vars.insert(name.name.clone(), Value::Tensor(node));
                env.written.remove(&name.name);
                Ok(None)
            }
            StmtKind::Update { name, value } => {
                // Only a training step changes a state.
                if self.mode != Mode::Train {
                    return Ok(None);
                }
                let Some(path) = env.states.get(&name.name).cloned() else {
                    return Err(LowerError::new(
                        format!("`{}` is not a state of this body", name.name),
                        Some(loc),
                    ));
                };
                let v = self.expr(env, value)?;
                let node = self.node(v, loc)?;
                if self.state_updates.iter().any(|(p, _)| *p == path) {
                    return Err(LowerError::new(
                        format!("state `{path}` is updated twice in one step"),
                        Some(loc),
                    ));
                }
                self.state_updates.push((path, node));
                Ok(None)
            }
            StmtKind::Input { name, ty } => {
                env.written.remove(&name.name);
                let Some(v) = self.model_inputs.get(&name.name).cloned() else {
                    return Err(LowerError::new(
                        format!("the data has no field `{}` for this input", name.name),
                        Some(loc),
                    ));
                };
                if let Value::Tensor(n) = v {
                    self.bind_type(ty, n, env, loc)?;
                }
                self.inputs_read.push((name.name.clone(), v.clone()));
                env.vars.insert(name.name.clone(), v);
                Ok(None)
            }
            StmtKind::Let { name, value } | StmtKind::Output { name, value, .. } => {
                let frame = self.frames.last_mut().expect("the root frame");
                let mut stmt_name = name.name.clone();
                for i in &frame.repeat {
                    stmt_name.push_str(&format!(".{i}"));
                }
                frame.stmt_name = Some(stmt_name);
                let v = self.expr(env, value);
                self.frames.last_mut().expect("the root frame").stmt_name = None;
                let v = v?;
                if matches!(stmt.kind, StmtKind::Output { .. }) {
                    self.model_outputs.push((name.name.clone(), v.clone()));
                }
                match env.written_at(value) {
                    Some(at) => env.written.insert(name.name.clone(), at),
                    None => env.written.remove(&name.name),
                };
                env.vars.insert(name.name.clone(), v);
                Ok(None)
            }
            StmtKind::Repeat { count, body } => {
                let n = match self.expr(env, count)? {
                    Value::Int(n) if n >= 0 => n as usize,
                    other => {
                        return Err(LowerError::new(
                            format!(
                                "`repeat` needs a count of 0 or more, found {}",
                                other.kind()
                            ),
                            Some(loc),
                        ))
                    }
                };
                if n > MAX_NODES {
                    let message = format!(
                        "`repeat` {n} times is more than a step can hold (at most {} operations)",
                        scientific(MAX_NODES as f64)
                    );
                    return Err(match env.written_at(count) {
                        Some(at) => LowerError::new(message, Some(at))
                            .here("too many")
                            .label(loc, "repeats this many times"),
                        None => LowerError::new(message, Some(loc)),
                    });
                }
                for i in 0..n {
                    self.frames.last_mut().expect("root").repeat.push(i);
                    let r = self.block(env, body);
                    self.frames.last_mut().expect("root").repeat.pop();
                    r?;
                }
                Ok(None)
            }
            StmtKind::Expr(e) => Ok(Some(self.expr(env, e)?)),
        }
    }

    /// `<instance path>.<name>`, claiming the instance's path first.
    fn param_path(&mut self, name: &str) -> String {
        let prefix = self.claim(self.frames.len() - 1);
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        }
    }

    fn claim(&mut self, i: usize) -> String {
        if let Some(p) = &self.frames[i].path {
            return p.clone();
        }
        let parent = self.claim(i - 1);
        let proposed = self.frames[i].proposed.clone();
        let taken = &mut self.frames[i - 1].claimed;
        let mut name = proposed.clone();
        let mut n = 1;
        while taken.contains(&name) {
            n += 1;
            name = format!("{proposed}_{n}");
        }
        taken.insert(name.clone());
        let path = if parent.is_empty() {
            name
        } else {
            format!("{parent}.{name}")
        };
        self.frames[i].path = Some(path.clone());
        path
    }
}

/// `1.2e12`, or the number itself below a million.
fn scientific(v: f64) -> String {
    if v < 1e6 {
        format!("{v}")
    } else {
        format!("{v:.1e}")
    }
}

/// The first size of `ty` that names a variable the train block wrote
/// (see [`Env::written`]) and whose value passes `pick`: where it was
/// written, and the name.
fn written_size(
    env: &Env,
    ty: &ast::TypeExpr,
    pick: impl Fn(i64) -> bool,
) -> Option<(Loc, String)> {
    ty.shape.iter().flatten().find_map(|item| {
        let ast::DimItem::Dim(d) = item else {
            return None;
        };
        let ast::DimExprKind::Name(n) = &d.kind else {
            return None;
        };
        let at = *env.written.get(&n.name)?;
        match env.vars.get(&n.name) {
            Some(Value::Int(v)) if pick(*v) => Some((at, n.name.clone())),
            _ => None,
        }
    })
}
