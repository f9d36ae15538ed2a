//! The lowering evaluator: runs declarations with concrete sizes, adding a
//! graph node for each tensor operation.

use super::builtins;
use super::plan::{Feed, ParamSpec};
use super::value::{Init, Read, Value};
use super::{LowerError, Mode};
use crate::diagnostic::Loc;
use crate::ir::{BinaryOp, DType, Graph, NodeId, Op, TensorTy, UnaryOp};
use crate::resolve::{Binding, DefId};
use crate::types::DType as SourceDType;
use crate::Compilation;
use dlp_grammar::ast::{self, DTypeExpr, DimExprKind, DimItem, Expr, ExprKind, Item, StmtKind};
use dlp_grammar::Span;
use std::collections::{HashMap, HashSet};

pub(super) type R<T> = Result<T, LowerError>;

/// The most values one parameter may hold (2^32: 16 GiB of f32), far above
/// any model this runtime trains, but below a size that aborts allocation.
const MAX_PARAM_ELEMENTS: usize = 1 << 32;

/// The names visible in one function body, dataset or train block.
pub(super) struct Env {
    pub module: usize,
    pub vars: HashMap<String, Value>,
}

impl Env {
    pub fn new(module: usize) -> Env {
        Env {
            module,
            vars: HashMap::new(),
        }
    }
}

/// An argument as evaluated at a call.
pub(super) struct Arg {
    pub name: Option<String>,
    pub value: Value,
    pub loc: Loc,
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

pub(super) struct Lowerer<'c> {
    pub comp: &'c Compilation,
    pub graph: Graph,
    pub mode: Mode,
    pub batch: usize,
    pub params: Vec<ParamSpec>,
    /// The class count of `class(n)` tensors.
    pub classes: HashMap<NodeId, usize>,
    /// Leading batch axes that per-sample code does not see: 1 while a
    /// dataset's fields are lowered, 0 in model and function bodies.
    pub lead: usize,
    pub feeds: Vec<Feed>,
    pub(super) current_field: String,
    frames: Vec<Frame>,
    pub random_streams: u32,
    random_inputs: Option<(NodeId, NodeId)>,
    pub(super) model_inputs: HashMap<String, Value>,
    pub(super) model_outputs: Vec<(String, Value)>,
}

impl<'c> Lowerer<'c> {
    pub(super) fn new(comp: &'c Compilation, mode: Mode, batch: usize) -> Lowerer<'c> {
        Lowerer {
            comp,
            graph: Graph::new(),
            mode,
            batch,
            params: Vec::new(),
            classes: HashMap::new(),
            lead: 0,
            feeds: Vec::new(),
            current_field: String::new(),
            frames: vec![Frame::new(String::new(), Some(String::new()))],
            random_streams: 0,
            random_inputs: None,
            model_inputs: HashMap::new(),
            model_outputs: Vec::new(),
        }
    }

    pub fn loc(&self, module: usize, span: Span) -> Loc {
        Loc::new(self.comp.program.modules[module].file, span)
    }

    pub fn item(&self, def: DefId) -> &'c Item {
        &self.comp.program.modules[def.module].ast.items[def.item]
    }

    /// The seed and counter inputs that random ops read (made once).
    pub fn random_inputs(&mut self) -> (NodeId, NodeId) {
        if let Some(r) = self.random_inputs {
            return r;
        }
        let saved = self.graph.loc.take();
        let scalar = TensorTy::scalar(DType::I32);
        let seed = self
            .graph
            .add(Op::Input(super::SEED_INPUT.into()), &[], scalar.clone());
        let counter = self
            .graph
            .add(Op::Input(super::COUNTER_INPUT.into()), &[], scalar);
        self.graph.loc = saved;
        self.random_inputs = Some((seed, counter));
        (seed, counter)
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
                    values.push(Arg {
                        name: a.name.as_ref().map(|n| n.name.clone()),
                        value: self.expr(env, &a.value)?,
                        loc: self.loc(env.module, a.span),
                    });
                }
                self.graph.loc = Some(loc);
                self.call(f, values, loc)?
            }
            ExprKind::Neg(inner) => {
                let v = self.expr(env, inner)?;
                self.graph.loc = Some(loc);
                match v {
                    Value::Int(i) => Value::Int(-i),
                    Value::Float(f) => Value::Float(-f),
                    other => {
                        let n = self.node(other, loc)?;
                        Value::Tensor(self.graph.unary(UnaryOp::Neg, n))
                    }
                }
            }
            ExprKind::Binary(op, a, b) => {
                let x = self.expr(env, a)?;
                let y = self.expr(env, b)?;
                self.graph.loc = Some(loc);
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
                self.graph.loc = Some(loc);
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
                    args.into_iter().map(|a| (a.name, a.value)).collect(),
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
        result.map_err(|e| match e.loc {
            Some(at) if self.is_stdlib(at) && !self.is_stdlib(loc) => LowerError::new(
                format!("in this call of `{}`: {}", decl.name.name, e.message),
                Some(loc),
            ),
            _ => e,
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
        if self.is_stdlib(self.loc(def.module, decl.span)) {
            // Hyper-parameters that only now have values (`dropout(h, p = p)`
            // with the model's `p`) get the checker's range rules.
            for p in &decl.params {
                let Some(value) = env.vars.get(&p.name.name).and_then(Value::as_f64) else {
                    continue;
                };
                if let Some(range) = crate::check::builtins::out_of_range(&p.name.name, value) {
                    return Err(LowerError::new(
                        format!(
                            "`{}` of `{}` is {value}, but must be {range}",
                            p.name.name, decl.name.name
                        ),
                        Some(loc),
                    ));
                }
            }
        }
        let Some(body) = &decl.body else {
            return builtins::extern_call(&decl.name.name, &env, loc);
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
        }
        for (p, slot) in params.iter().zip(slots) {
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
        }
        Ok(())
    }

    /// Binds the size names of a written type (`f32[..N, I]`,
    /// `class(C)[..N]`) to the sizes of `node`.
    fn bind_type(&mut self, ty: &ast::TypeExpr, node: NodeId, env: &mut Env, loc: Loc) -> R<()> {
        if let DTypeExpr::Class(dim, _) = &ty.dtype {
            if let (DimExprKind::Name(n), Some(&c)) = (&dim.kind, self.classes.get(&node)) {
                self.bind_size(env, &n.name, c, loc)?;
            }
        }
        let Some(items) = &ty.shape else {
            return Ok(());
        };
        let shape = self.graph.ty(node).shape.clone();
        let groups = items
            .iter()
            .filter(|i| matches!(i, DimItem::Variadic(_)))
            .count();
        let fixed = items.len() - groups;
        if shape.len() < fixed || (groups == 0 && shape.len() != fixed) {
            return Err(LowerError::new(
                format!("expected rank {fixed}, found a tensor of shape {shape:?}"),
                Some(loc),
            ));
        }
        let group_len = shape.len() - fixed;
        let mut at = 0;
        for item in items {
            match item {
                DimItem::Variadic(name) => {
                    let dims = shape[at..at + group_len].to_vec();
                    env.vars
                        .entry(name.name.clone())
                        .or_insert(Value::Group(dims));
                    at += group_len;
                }
                DimItem::Dim(d) => {
                    match &d.kind {
                        DimExprKind::Name(n) => self.bind_size(env, &n.name, shape[at], loc)?,
                        DimExprKind::Int(v) if *v as usize != shape[at] => {
                            return Err(LowerError::new(
                                format!("expected size {v}, found {}", shape[at]),
                                Some(loc),
                            ))
                        }
                        _ => {}
                    }
                    at += 1;
                }
            }
        }
        Ok(())
    }

    fn bind_size(&mut self, env: &mut Env, name: &str, size: usize, loc: Loc) -> R<()> {
        match env.vars.get(name) {
            Some(Value::Int(v)) if *v as usize != size => Err(LowerError::new(
                format!("size `{name}` is {v} here but {size} in the argument"),
                Some(loc),
            )),
            Some(_) => Ok(()),
            None => {
                env.vars.insert(name.to_string(), Value::Int(size as i64));
                Ok(())
            }
        }
    }

    /// A tensor value as a node; raw reads become f32 feeds.
    pub fn node(&mut self, v: Value, loc: Loc) -> R<NodeId> {
        match v {
            Value::Tensor(n) => Ok(n),
            Value::Read(r) => self.feed(r, DType::F32, None, None, loc),
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
            last = self.stmt(env, stmt)?;
        }
        Ok(last)
    }

    fn stmt(&mut self, env: &mut Env, stmt: &ast::Stmt) -> R<Option<Value>> {
        let loc = self.loc(env.module, stmt.span);
        self.graph.loc = Some(loc);
        match &stmt.kind {
            StmtKind::Param { name, ty, init } => {
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
                let numel = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
                match numel {
                    Some(0) => {
                        return Err(LowerError::new(
                            format!("parameter `{path}` would have shape {shape:?}, with no elements: a size is 0"),
                            Some(loc),
                        ))
                    }
                    Some(n) if n <= MAX_PARAM_ELEMENTS => {}
                    _ => {
                        return Err(LowerError::new(
                            format!(
                                "parameter `{path}` would have shape {shape:?}: more than {MAX_PARAM_ELEMENTS} values"
                            ),
                            Some(loc),
                        ))
                    }
                }
                self.params.push(ParamSpec {
                    path: path.clone(),
                    dtype,
                    shape: shape.clone(),
                    init,
                });
                let node = self
                    .graph
                    .add(Op::Param(path), &[], TensorTy::new(dtype, shape));
                env.vars.insert(name.name.clone(), Value::Tensor(node));
                Ok(None)
            }
            StmtKind::Input { name, ty } => {
                let Some(v) = self.model_inputs.get(&name.name).cloned() else {
                    return Err(LowerError::new(
                        format!("the data has no field `{}` for this input", name.name),
                        Some(loc),
                    ));
                };
                if let Value::Tensor(n) = v {
                    self.bind_type(ty, n, env, loc)?;
                }
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

    // ---- types ----------------------------------------------------------

    pub fn dtype_of(&self, d: &DTypeExpr) -> DType {
        match d {
            DTypeExpr::Class(..) => DType::I32,
            DTypeExpr::Named(n) => {
                ir_dtype(&SourceDType::from_name(&n.name).unwrap_or(SourceDType::F32))
            }
        }
    }

    /// The sizes of a written shape, with the names bound in `env`.
    pub fn shape_of(&mut self, env: &Env, ty: &ast::TypeExpr, loc: Loc) -> R<Vec<usize>> {
        let mut out = Vec::new();
        for item in ty.shape.iter().flatten() {
            match item {
                DimItem::Variadic(n) => match env.vars.get(&n.name) {
                    Some(Value::Group(dims)) => out.extend(dims),
                    _ => {
                        return Err(LowerError::new(
                            format!("the sizes of `..{}` are not known here", n.name),
                            Some(loc),
                        ))
                    }
                },
                DimItem::Dim(d) => {
                    let v = self.dim(env, d)?;
                    if v < 0 {
                        return Err(LowerError::new(
                            format!("this size is {v}: sizes cannot be negative"),
                            Some(self.loc(env.module, d.span)),
                        ));
                    }
                    out.push(v as usize);
                }
            }
        }
        Ok(out)
    }

    fn dim(&self, env: &Env, d: &ast::DimExpr) -> R<i64> {
        Ok(match &d.kind {
            DimExprKind::Int(v) => *v,
            DimExprKind::Paren(inner) => self.dim(env, inner)?,
            DimExprKind::Name(n) => match env.vars.get(&n.name) {
                Some(Value::Int(v)) => *v,
                _ => {
                    return Err(LowerError::new(
                        format!("the size `{}` is not known here", n.name),
                        Some(self.loc(env.module, d.span)),
                    ))
                }
            },
            DimExprKind::Binary(op, a, b) => {
                let (a, b) = (self.dim(env, a)?, self.dim(env, b)?);
                host_int(*op, a, b).ok_or_else(|| {
                    LowerError::new(
                        "this size divides by zero",
                        Some(self.loc(env.module, d.span)),
                    )
                })?
            }
        })
    }

    fn cast(&mut self, env: &Env, v: Value, ty: &ast::TypeExpr, loc: Loc) -> R<Value> {
        let dtype = self.dtype_of(&ty.dtype);
        let classes = match &ty.dtype {
            DTypeExpr::Class(d, _) => Some(self.dim(env, d)?.max(0) as usize),
            _ => None,
        };
        let shape = match &ty.shape {
            Some(_) => Some(self.shape_of(env, ty, loc)?),
            None => None,
        };
        match v {
            Value::Read(r) => Ok(Value::Tensor(self.feed(r, dtype, classes, shape, loc)?)),
            Value::Tensor(n) => {
                let mut n = self.graph.cast(n, dtype);
                if let Some(shape) = shape {
                    let have = self.graph.ty(n).shape.clone();
                    let mut full = have[..self.lead.min(have.len())].to_vec();
                    full.extend(shape);
                    if full.iter().product::<usize>() != have.iter().product::<usize>() {
                        return Err(LowerError::new(
                            format!("cannot cast a tensor of shape {have:?} to {full:?}"),
                            Some(loc),
                        ));
                    }
                    n = self.graph.reshape(n, &full);
                }
                if let Some(c) = classes {
                    self.classes.insert(n, c);
                }
                Ok(Value::Tensor(n))
            }
            Value::Int(i) if dtype.is_float() => Ok(Value::Float(i as f64)),
            Value::Float(f) if !dtype.is_float() => Ok(Value::Int(f as i64)),
            v @ (Value::Int(_) | Value::Float(_) | Value::Bool(_)) => Ok(v),
            other => Err(LowerError::new(
                format!("{} cannot be cast", other.kind()),
                Some(loc),
            )),
        }
    }

    /// A graph input for raw values read from the dataset, with a batch axis.
    fn feed(
        &mut self,
        read: Read,
        dtype: DType,
        classes: Option<usize>,
        shape: Option<Vec<usize>>,
        loc: Loc,
    ) -> R<NodeId> {
        let natural = match &read {
            Read::Columns { columns, scalar } => {
                Some(if *scalar { vec![] } else { vec![columns.len()] })
            }
            Read::Idx { .. } => None,
        };
        let shape = match (shape, natural) {
            (Some(s), Some(n)) if s.iter().product::<usize>() != n.iter().product::<usize>() => {
                return Err(LowerError::new(
                    format!(
                        "{} values per sample cannot be cast to shape {s:?}",
                        n.iter().product::<usize>()
                    ),
                    Some(loc),
                ))
            }
            (Some(s), _) => s,
            (None, Some(n)) => n,
            (None, None) => {
                return Err(LowerError::new(
                    "give IDX records a shape with `as`, e.g. `as u8[28, 28]`",
                    Some(loc),
                ))
            }
        };
        let taken = self
            .feeds
            .iter()
            .filter(|f| f.field == self.current_field)
            .count();
        let name = if taken == 0 {
            self.current_field.clone()
        } else {
            format!("{}.{}", self.current_field, taken + 1)
        };
        let mut full = vec![self.batch];
        full.extend(&shape);
        let node = self
            .graph
            .add(Op::Input(name.clone()), &[], TensorTy::new(dtype, full));
        self.feeds.push(Feed {
            name,
            field: self.current_field.clone(),
            read,
            dtype,
            shape,
            classes,
        });
        if let Some(c) = classes {
            self.classes.insert(node, c);
        }
        Ok(node)
    }

    // ---- operators ------------------------------------------------------

    fn binary(&mut self, op: ast::BinOp, x: Value, y: Value, loc: Loc) -> R<Value> {
        use ast::BinOp as A;
        if op == A::MatMul {
            let (a, b) = (self.node(x, loc)?, self.node(y, loc)?);
            return builtins::matmul(self, a, b, loc).map(Value::Tensor);
        }
        let b = match op {
            A::Add => BinaryOp::Add,
            A::Sub => BinaryOp::Sub,
            A::Mul => BinaryOp::Mul,
            A::Div => BinaryOp::Div,
            A::Rem => BinaryOp::Rem,
            A::Eq => BinaryOp::Eq,
            A::Ne => BinaryOp::Ne,
            A::Lt => BinaryOp::Lt,
            A::Le => BinaryOp::Le,
            A::Gt => BinaryOp::Gt,
            A::Ge => BinaryOp::Ge,
            A::MatMul => unreachable!("handled above"),
        };
        match (&x, &y) {
            (Value::Int(a), Value::Int(c)) => {
                if op.is_comparison() {
                    return Ok(Value::Bool(compare(op, *a as f64, *c as f64)));
                }
                host_int(op, *a, *c)
                    .map(Value::Int)
                    .ok_or_else(|| LowerError::new("division by zero", Some(loc)))
            }
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                let (a, c) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                if op.is_comparison() {
                    return Ok(Value::Bool(compare(op, a, c)));
                }
                Ok(Value::Float(match op {
                    A::Add => a + c,
                    A::Sub => a - c,
                    A::Mul => a * c,
                    A::Div => a / c,
                    _ => a % c,
                }))
            }
            (Value::Bool(a), Value::Bool(c)) if matches!(op, A::Eq | A::Ne) => {
                Ok(Value::Bool((a == c) == (op == A::Eq)))
            }
            _ => self.elementwise(b, &[x, y], loc).map(Value::Tensor),
        }
    }

    /// Nodes for the operands of an elementwise op: host numbers become
    /// constants, integer tensors meet floats as floats, and every operand
    /// is broadcast to the common shape.
    pub fn operands(&mut self, values: &[Value], loc: Loc) -> R<Vec<NodeId>> {
        let mut nodes: Vec<Option<NodeId>> = Vec::with_capacity(values.len());
        for v in values {
            nodes.push(match v {
                Value::Int(_) | Value::Float(_) | Value::Bool(_) => None,
                other => Some(self.node(other.clone(), loc)?),
            });
        }
        let tensor_dtypes: Vec<DType> = nodes
            .iter()
            .flatten()
            .map(|&n| self.graph.ty(n).dtype)
            .collect();
        let any_float_host = values.iter().any(|v| matches!(v, Value::Float(_)));
        let dtype = tensor_dtypes
            .iter()
            .copied()
            .find(|d| d.is_float())
            .or(if any_float_host {
                Some(DType::F32)
            } else {
                None
            })
            .or(tensor_dtypes.first().copied())
            .unwrap_or(DType::F32);
        let mut shape: Vec<usize> = Vec::new();
        for n in nodes.iter().flatten() {
            let s = self.graph.ty(*n).shape.clone();
            shape = broadcast_shapes(&shape, &s).ok_or_else(|| {
                LowerError::new(
                    format!("shapes {shape:?} and {s:?} do not broadcast"),
                    Some(loc),
                )
            })?;
        }
        let mut out = Vec::with_capacity(values.len());
        for (v, n) in values.iter().zip(nodes) {
            let node = match (n, v) {
                (Some(n), _) => {
                    let from = self.graph.ty(n).dtype;
                    // Conditions stay bool; numbers meet at the common dtype.
                    if from == DType::Bool && dtype != DType::Bool {
                        n
                    } else {
                        self.graph.cast(n, dtype)
                    }
                }
                (None, Value::Bool(b)) => self.graph.constant(f64::from(u8::from(*b)), DType::Bool),
                (None, v) => self.graph.constant(v.as_f64().unwrap_or(0.0), dtype),
            };
            out.push(self.graph.broadcast_to(node, &shape));
        }
        Ok(out)
    }

    pub fn elementwise(&mut self, b: BinaryOp, values: &[Value], loc: Loc) -> R<NodeId> {
        let nodes = self.operands(values, loc)?;
        self.graph
            .try_add(Op::Binary(b), &nodes, TensorTy::scalar(DType::F32))
            .map_err(|e| LowerError::new(e.0, Some(loc)))
    }
}

fn compare(op: ast::BinOp, a: f64, b: f64) -> bool {
    use ast::BinOp as A;
    match op {
        A::Eq => a == b,
        A::Ne => a != b,
        A::Lt => a < b,
        A::Le => a <= b,
        A::Gt => a > b,
        _ => a >= b,
    }
}

/// Integer arithmetic as in sizes: `/` rounds down. `None` on division by 0.
fn host_int(op: ast::BinOp, a: i64, b: i64) -> Option<i64> {
    use ast::BinOp as A;
    Some(match op {
        A::Add => a.wrapping_add(b),
        A::Sub => a.wrapping_sub(b),
        A::Mul => a.wrapping_mul(b),
        A::Div => a.checked_div_euclid(b)?,
        A::Rem => a.checked_rem_euclid(b)?,
        _ => return None,
    })
}

/// NumPy broadcasting of two shapes.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let at = |s: &[usize], i: usize| {
        let pad = rank - s.len();
        if i < pad {
            1
        } else {
            s[i - pad]
        }
    };
    (0..rank)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

pub fn ir_dtype(d: &SourceDType) -> DType {
    match d {
        SourceDType::F32 => DType::F32,
        SourceDType::F64 => DType::F64,
        SourceDType::Bool => DType::Bool,
        _ => DType::I32,
    }
}
