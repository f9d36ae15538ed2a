//! One kernel's value at one element, as WGSL statements.
//!
//! [`Emitter::at`] gives the value of a node at an index (one WGSL `i32`
//! expression per axis): a node the kernel computes becomes `let`-bound
//! expressions over its operands' values at the indices it reads them at
//! (the same index for elementwise ops, a moved one for views, loops for
//! reductions, products and windows); any other node is read from its
//! buffer. Values are remembered per index within a scope, so that a value
//! used twice is computed once.
//!
//! Every op has a rule, so a kernel of any shape the fusion pass makes
//! compiles: elementwise ops, sources and views here; sums (reductions,
//! argmax, products) in `super::sums`; windows (convolutions, pooling and
//! their gradients) in `super::windows`; gather, scatter and concatenation
//! in `super::indexed`. f64 is computed in f32 and bool stored as u32
//! (WGSL has neither in storage).

use crate::ir::UnaryOp;
use crate::ir::{BinaryOp, DType, Dist, Graph, NodeId, Op, RandomKey};
use std::collections::{BTreeSet, HashMap, HashSet};

/// The WGSL type of a value of `dtype` in expressions.
pub fn value_type(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 | DType::F64 => "f32",
        DType::I32 => "i32",
        DType::Bool => "bool",
    }
}

/// The WGSL type of an element of `dtype` in a buffer.
pub fn storage_type(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 | DType::F64 => "f32",
        DType::I32 => "i32",
        DType::Bool => "u32",
    }
}

/// A literal of `dtype` with value `v`.
pub(super) fn literal(dtype: DType, v: f64, helpers: &mut BTreeSet<&'static str>) -> String {
    match dtype {
        DType::F32 | DType::F64 => {
            let x = v as f32;
            if x.is_finite() {
                let text = format!("{x:?}");
                if text.contains(['.', 'e']) {
                    format!("{text}f")
                } else {
                    format!("{text}.0f")
                }
            } else {
                helpers.insert("f32_bits");
                format!("f32_bits(0x{:08x}u)", x.to_bits())
            }
        }
        DType::I32 => int(v as i32),
        DType::Bool => (v != 0.0).to_string(),
    }
}

pub(super) fn int(v: i32) -> String {
    if v == i32::MIN {
        "(-2147483647i - 1i)".into()
    } else {
        format!("{v}i")
    }
}

/// Row-major strides of `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// An index (one expression per axis) in a shape.
type IndexIn = (Vec<String>, Vec<usize>);

pub struct Emitter<'a> {
    pub(super) graph: &'a Graph,
    pub(super) shapes: &'a HashMap<NodeId, Vec<usize>>,
    pub(super) batch: usize,
    /// The nodes this kernel computes; every other node is read.
    pub(super) computed: HashSet<NodeId>,
    /// The buffers read, in binding order.
    pub reads: Vec<NodeId>,
    /// The helper functions called.
    pub helpers: BTreeSet<&'static str>,
    /// Whether an index is checked against a table (the fault buffer).
    pub faults: bool,
    /// Declarations of workgroup memory.
    pub shared: Vec<String>,
    /// The most elements one binding holds: larger values are bound in
    /// chunks of this many.
    pub chunk: usize,
    pub body: String,
    pub(super) depth: usize,
    pub(super) scopes: Vec<HashMap<(NodeId, Vec<String>), String>>,
    /// Per scope: flat positions already known for an index in a shape
    /// (from [`Emitter::unflatten`]), so that a view read back in the same
    /// layout costs no index arithmetic.
    pub(super) flats: Vec<HashMap<IndexIn, String>>,
    pub(super) next: usize,
}

impl<'a> Emitter<'a> {
    pub fn new(
        graph: &'a Graph,
        shapes: &'a HashMap<NodeId, Vec<usize>>,
        batch: usize,
        computed: impl IntoIterator<Item = NodeId>,
        chunk: usize,
    ) -> Emitter<'a> {
        Emitter {
            chunk,
            graph,
            shapes,
            batch,
            computed: computed.into_iter().collect(),
            reads: Vec::new(),
            helpers: BTreeSet::new(),
            faults: false,
            shared: Vec::new(),
            body: String::new(),
            depth: 1,
            scopes: vec![HashMap::new()],
            flats: vec![HashMap::new()],
            next: 0,
        }
    }

    pub fn args(&self, id: NodeId) -> Vec<NodeId> {
        self.graph.args(id).to_vec()
    }

    pub fn shape(&self, id: NodeId) -> &'a [usize] {
        &self.shapes[&id]
    }

    pub fn dtype(&self, id: NodeId) -> DType {
        self.graph.ty(id).dtype
    }

    pub fn line(&mut self, text: &str) {
        for _ in 0..self.depth {
            self.body.push_str("    ");
        }
        self.body.push_str(text);
        self.body.push('\n');
    }

    /// A new name: `v_12` (the underscore keeps it from ever spelling a
    /// WGSL keyword such as `i32`).
    pub fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}_{}", self.next)
    }

    /// `value` of node `id` as its buffer stores it (bools as u32).
    pub fn store(&self, id: NodeId, value: String) -> String {
        match self.dtype(id) {
            DType::Bool => format!("select(0u, 1u, {value})"),
            _ => value,
        }
    }

    /// `expr` bound to a new `let` (unless it is a name or literal already).
    pub fn bind(&mut self, ty: &str, expr: String) -> String {
        let simple = expr
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if simple {
            return expr;
        }
        let name = self.fresh("v");
        self.line(&format!("let {name}: {ty} = {expr};"));
        name
    }

    pub fn index(&mut self, expr: String) -> String {
        self.bind("i32", expr)
    }

    /// Opens a block (`for`, `if`): values computed inside are forgotten
    /// when it closes.
    pub fn open(&mut self, head: &str) {
        self.line(&format!("{head} {{"));
        self.depth += 1;
        self.scopes.push(HashMap::new());
        self.flats.push(HashMap::new());
    }

    pub fn close(&mut self) {
        self.scopes.pop();
        self.flats.pop();
        self.depth -= 1;
        self.line("}");
    }

    /// A loop of `var` over `0..n`.
    pub fn open_loop(&mut self, var: &str, n: usize) {
        self.open(&format!(
            "for (var {var} = 0i; {var} < {}; {var}++)",
            int(n as i32)
        ));
    }

    pub(super) fn remembered(&self, key: &(NodeId, Vec<String>)) -> Option<String> {
        self.scopes.iter().rev().find_map(|s| s.get(key).cloned())
    }

    /// Makes `name` the value of `id` at `idx` in the current scope (an
    /// anchor computed by a specialised loop, whose epilogue follows).
    pub fn remember(&mut self, id: NodeId, idx: &[String], name: String) {
        let scope = self.scopes.last_mut().expect("a scope");
        scope.insert((id, idx.to_vec()), name);
    }

    /// The flat position of `idx` in a row-major `shape`.
    pub fn linear(&mut self, idx: &[String], shape: &[usize]) -> String {
        let key = (idx.to_vec(), shape.to_vec());
        if let Some(flat) = self.flats.iter().rev().find_map(|f| f.get(&key)) {
            return flat.clone();
        }
        let st = strides(shape);
        let terms: Vec<String> = (0..shape.len())
            .filter(|&i| shape[i] != 1 && idx[i] != "0i")
            .map(|i| match st[i] {
                1 => idx[i].clone(),
                s => format!("{} * {}", idx[i], int(s as i32)),
            })
            .collect();
        if terms.is_empty() {
            return "0i".into();
        }
        self.index(terms.join(" + "))
    }

    /// The index in a row-major `shape` of flat position `flat`.
    pub fn unflatten(&mut self, flat: &str, shape: &[usize]) -> Vec<String> {
        let st = strides(shape);
        let idx: Vec<String> = (0..shape.len())
            .map(|i| {
                if shape[i] == 1 {
                    return "0i".to_string();
                }
                let outermost = shape[..i].iter().all(|&d| d == 1);
                let quotient = match st[i] {
                    1 => flat.to_string(),
                    s => format!("({flat} / {})", int(s as i32)),
                };
                let expr = if outermost {
                    quotient
                } else {
                    format!("{quotient} % {}", int(shape[i] as i32))
                };
                self.index(expr)
            })
            .collect();
        let known = self.flats.last_mut().expect("a scope");
        known.insert((idx.clone(), shape.to_vec()), flat.to_string());
        idx
    }

    /// Whether a value of `id`'s size is bound in chunks (it is larger
    /// than one binding may be).
    pub fn is_split(&self, id: NodeId) -> bool {
        self.shape(id).iter().product::<usize>() > self.chunk
    }

    /// Element `at` of `id`'s buffer: `b3[at]`, or `read_b3(at)` where the
    /// buffer is bound in chunks.
    pub(super) fn load(&mut self, id: NodeId, at: &str) -> String {
        let k = match self.reads.iter().position(|&r| r == id) {
            Some(k) => k,
            None => {
                self.reads.push(id);
                self.reads.len() - 1
            }
        };
        if self.is_split(id) {
            format!("read_b{k}({at})")
        } else {
            format!("b{k}[{at}]")
        }
    }

    /// The statement storing `value` (of the kernel's result, `root`) at
    /// element `at`.
    pub fn store_at(&self, root: NodeId, at: &str, value: String) -> String {
        let value = self.store(root, value);
        if self.is_split(root) {
            format!("write_out({at}, {value});")
        } else {
            format!("out[{at}] = {value};")
        }
    }

    /// The value of `id` at `idx`.
    pub fn at(&mut self, id: NodeId, idx: &[String]) -> String {
        let key = (id, idx.to_vec());
        if let Some(name) = self.remembered(&key) {
            return name;
        }
        let dtype = self.dtype(id);
        let expr = if self.computed.contains(&id) {
            self.compute(id, idx)
        } else {
            let at = self.linear(idx, self.shape(id));
            let element = self.load(id, &at);
            match dtype {
                DType::Bool => format!("({element} != 0u)"),
                _ => element,
            }
        };
        let name = self.bind(value_type(dtype), expr);
        self.scopes
            .last_mut()
            .expect("a scope")
            .insert(key, name.clone());
        name
    }

    pub(super) fn compute(&mut self, id: NodeId, idx: &[String]) -> String {
        let node = self.graph.node(id);
        let args = node.args.clone();
        let dtype = node.ty.dtype;
        match &node.op {
            // Inputs are never computed: they are read (above).
            Op::Input(_) => unreachable!("inputs are read, not computed"),
            Op::Constant(bits) => literal(dtype, f64::from_bits(*bits), &mut self.helpers),
            Op::SizeOf(size) => {
                let n = size.at(self.batch).unwrap_or(usize::MAX);
                literal(dtype, n as f64, &mut self.helpers)
            }
            Op::Iota(axis) => self.cast(DType::I32, dtype, idx[*axis].clone()),
            Op::Unary(u) => {
                let x = self.at(args[0], idx);
                self.unary(*u, self.dtype(args[0]), x)
            }
            Op::Binary(b) => {
                let x = self.at(args[0], idx);
                let y = self.at(args[1], idx);
                self.binary(*b, self.dtype(args[0]), x, y)
            }
            Op::Select => {
                let c = self.at(args[0], idx);
                let a = self.at(args[1], idx);
                let b = self.at(args[2], idx);
                format!("select({b}, {a}, {c})")
            }
            Op::Cast => {
                let x = self.at(args[0], idx);
                self.cast(self.dtype(args[0]), dtype, x)
            }
            Op::Random { dist, stream, key } => self.random(id, *dist, *stream, *key, idx),
            Op::Reduce { op, axes } => self.reduce(id, *op, axes, idx),
            Op::ArgMax(axis) => self.argmax(args[0], *axis, dtype, idx),
            Op::Broadcast => {
                let from = self.shape(args[0]);
                let moved: Vec<String> = idx
                    .iter()
                    .zip(from)
                    .map(|(i, &d)| if d == 1 { "0i".into() } else { i.clone() })
                    .collect();
                self.at(args[0], &moved)
            }
            Op::Reshape => {
                let flat = self.linear(idx, self.shape(id));
                let moved = self.unflatten(&flat, self.shape(args[0]));
                self.at(args[0], &moved)
            }
            Op::Permute(perm) => {
                let mut moved = vec![String::new(); perm.len()];
                for (i, &p) in perm.iter().enumerate() {
                    moved[p] = idx[i].clone();
                }
                self.at(args[0], &moved)
            }
            Op::Slice { axis, start, .. } => {
                let start = start.at(self.batch).unwrap_or(0);
                let mut moved = idx.to_vec();
                if start != 0 {
                    moved[*axis] = self.index(format!("{} + {}", idx[*axis], int(start as i32)));
                }
                self.at(args[0], &moved)
            }
            Op::Concat(axis) => self.concat(&args, *axis, dtype, idx),
            Op::MatMul => self.matmul(args[0], args[1], idx),
            Op::Conv { stride, pad } => self.conv(args[0], args[1], *stride, *pad, idx),
            Op::ConvInputGrad { stride, pad } => {
                self.conv_input_grad(id, args[0], args[1], *stride, *pad, idx)
            }
            Op::ConvWeightGrad { stride, pad } => {
                self.conv_weight_grad(id, args[0], args[1], *stride, *pad, idx)
            }
            Op::Pool { kind, k, stride } => self.pool(args[0], *kind, *k, *stride, idx),
            Op::PoolGrad { kind, k, stride } => {
                self.pool_grad(args[0], args[1], *kind, *k, *stride, idx)
            }
            Op::Gather => self.gather(args[0], args[1], idx),
            Op::ScatterAdd => self.scatter_add(id, args[0], args[1], idx),
        }
    }

    pub(super) fn unary(&mut self, u: UnaryOp, dtype: DType, x: String) -> String {
        let float = dtype.is_float();
        match u {
            UnaryOp::Neg => format!("(-{x})"),
            UnaryOp::Exp => format!("exp({x})"),
            UnaryOp::Log => format!("log({x})"),
            UnaryOp::Sqrt => format!("sqrt({x})"),
            UnaryOp::Abs => format!("abs({x})"),
            UnaryOp::Sin => format!("sin({x})"),
            UnaryOp::Cos => format!("cos({x})"),
            UnaryOp::Tanh => self.call("tanh_f32", &[x]),
            UnaryOp::Erf => self.call("erf_f32", &[x]),
            UnaryOp::Sign => {
                let (one, zero) = if float {
                    ("1.0f", "0.0f")
                } else {
                    ("1i", "0i")
                };
                format!("select(select({zero}, -{one}, {x} < {zero}), {one}, {x} > {zero})")
            }
            UnaryOp::Not => format!("(!{x})"),
        }
    }

    pub(super) fn call(&mut self, helper: &'static str, args: &[String]) -> String {
        self.helpers.insert(helper);
        format!("{helper}({})", args.join(", "))
    }

    pub(super) fn binary(&mut self, b: BinaryOp, dtype: DType, x: String, y: String) -> String {
        use BinaryOp as B;
        let float = dtype.is_float();
        match (b, dtype) {
            (B::Lt, DType::Bool) => format!("(!{x} && {y})"),
            (B::Le, DType::Bool) => format!("(!{x} || {y})"),
            (B::Gt, DType::Bool) => format!("({x} && !{y})"),
            (B::Ge, DType::Bool) => format!("({x} || !{y})"),
            (B::Eq, _) => format!("({x} == {y})"),
            (B::Ne, _) => format!("({x} != {y})"),
            (B::Lt, _) => format!("({x} < {y})"),
            (B::Le, _) => format!("({x} <= {y})"),
            (B::Gt, _) => format!("({x} > {y})"),
            (B::Ge, _) => format!("({x} >= {y})"),
            (B::And, _) => format!("({x} && {y})"),
            (B::Add, _) => format!("({x} + {y})"),
            (B::Sub, _) => format!("({x} - {y})"),
            (B::Mul, _) => format!("({x} * {y})"),
            (B::Div, _) if float => format!("({x} / {y})"),
            (B::Div, _) => self.call("div_i32", &[x, y]),
            (B::Rem, _) if float => self.call("rem_f32", &[x, y]),
            (B::Rem, _) => self.call("rem_i32", &[x, y]),
            (B::Pow, _) if float => self.call("pow_f32", &[x, y]),
            (B::Pow, _) => self.call("pow_i32", &[x, y]),
            (B::Max, _) if float => self.call("max_f32", &[x, y]),
            (B::Min, _) if float => self.call("min_f32", &[x, y]),
            (B::Max, _) => format!("max({x}, {y})"),
            (B::Min, _) => format!("min({x}, {y})"),
        }
    }

    pub(super) fn cast(&mut self, from: DType, to: DType, x: String) -> String {
        match (value_type(from), value_type(to)) {
            (a, b) if a == b => x,
            ("f32", "i32") => self.call("f32_to_i32", &[x]),
            ("f32", "bool") => format!("({x} != 0.0f)"),
            ("i32", "bool") => format!("({x} != 0i)"),
            ("bool", "f32") => format!("select(0.0f, 1.0f, {x})"),
            ("bool", "i32") => format!("select(0i, 1i, {x})"),
            (_, to) => format!("{to}({x})"),
        }
    }

    /// Counter-based random numbers, as `crate::rng` draws them.
    pub(super) fn random(
        &mut self,
        id: NodeId,
        dist: Dist,
        stream: u32,
        key: RandomKey,
        idx: &[String],
    ) -> String {
        let args = self.graph.args(id).to_vec();
        let seed = self.at(args[0], &[]);
        let counter = self.at(args[1], &[]);
        let shape = self.shape(id).to_vec();
        let (counter, index) = match key {
            RandomKey::Step => (format!("bitcast<u32>({counter})"), self.linear(idx, &shape)),
            RandomKey::Sample => {
                let ty = self.graph.ty(id);
                let axis = ty.batch_axis().expect("verified: a batch axis");
                let per_sample = ty.shape[axis].batch.max(1);
                let row = self.index(format!("{} / {}", idx[axis], int(per_sample as i32)));
                let sample = self.at(args[2], &[row]);
                let mut inner_shape = shape.clone();
                inner_shape[axis] = per_sample;
                let mut inner = idx.to_vec();
                inner[axis] = self.index(format!("{} % {}", idx[axis], int(per_sample as i32)));
                let index = self.linear(&inner, &inner_shape);
                let counter = self.call(
                    "rng_sample_counter",
                    &[
                        format!("bitcast<u32>({counter})"),
                        format!("bitcast<u32>({sample})"),
                    ],
                );
                (counter, index)
            }
        };
        let draw = match dist {
            Dist::Uniform => "rng_uniform",
            Dist::Normal => "rng_normal",
        };
        let value = self.call(
            draw,
            &[
                format!("bitcast<u32>({seed})"),
                format!("{stream}u"),
                counter,
                format!("bitcast<u32>({index})"),
            ],
        );
        let dtype = self.dtype(id);
        self.cast(DType::F32, dtype, value)
    }
}
