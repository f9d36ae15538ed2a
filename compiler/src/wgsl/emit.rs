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
//! Every op has a rule here, so a kernel of any shape the fusion pass makes
//! compiles; f64 is computed in f32 and bool stored as u32 (WGSL has
//! neither in storage).

use crate::ir::UnaryOp;
use crate::ir::{BinaryOp, DType, Dist, Graph, NodeId, Op, PoolKind, RandomKey, ReduceOp};
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
fn literal(dtype: DType, v: f64, helpers: &mut BTreeSet<&'static str>) -> String {
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

fn int(v: i32) -> String {
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
    graph: &'a Graph,
    shapes: &'a HashMap<NodeId, Vec<usize>>,
    batch: usize,
    /// The nodes this kernel computes; every other node is read.
    computed: HashSet<NodeId>,
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
    depth: usize,
    scopes: Vec<HashMap<(NodeId, Vec<String>), String>>,
    /// Per scope: flat positions already known for an index in a shape
    /// (from [`Emitter::unflatten`]), so that a view read back in the same
    /// layout costs no index arithmetic.
    flats: Vec<HashMap<IndexIn, String>>,
    next: usize,
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

    fn remembered(&self, key: &(NodeId, Vec<String>)) -> Option<String> {
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
    fn load(&mut self, id: NodeId, at: &str) -> String {
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

    fn compute(&mut self, id: NodeId, idx: &[String]) -> String {
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

    fn unary(&mut self, u: UnaryOp, dtype: DType, x: String) -> String {
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

    fn call(&mut self, helper: &'static str, args: &[String]) -> String {
        self.helpers.insert(helper);
        format!("{helper}({})", args.join(", "))
    }

    fn binary(&mut self, b: BinaryOp, dtype: DType, x: String, y: String) -> String {
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

    fn cast(&mut self, from: DType, to: DType, x: String) -> String {
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
    fn random(
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

    /// A new accumulator `var` of `dtype` starting at `init`.
    fn accumulator(&mut self, dtype: DType, init: f64) -> String {
        let name = self.fresh("acc");
        let start = literal(dtype, init, &mut self.helpers);
        self.line(&format!("var {name}: {} = {start};", value_type(dtype)));
        name
    }

    fn reduce(&mut self, id: NodeId, op: ReduceOp, axes: &[usize], idx: &[String]) -> String {
        let x = self.graph.args(id)[0];
        let from = self.shape(x).to_vec();
        let dtype = self.dtype(id);
        let init = match op {
            ReduceOp::Sum => 0.0,
            ReduceOp::Max => f64::NEG_INFINITY,
            ReduceOp::Min => f64::INFINITY,
        };
        if dtype.is_float() && op != ReduceOp::Sum {
            self.helpers.insert("is_nan");
        }
        let acc = self.accumulator(dtype, init);
        let mut kept = idx.iter();
        let mut full = Vec::with_capacity(from.len());
        let mut loops = 0;
        for (ax, &n) in from.iter().enumerate() {
            if axes.contains(&ax) {
                let var = self.fresh("r");
                self.open_loop(&var, n);
                loops += 1;
                full.push(var);
            } else {
                full.push(kept.next().cloned().unwrap_or_else(|| "0i".into()));
            }
        }
        let v = self.at(x, &full);
        match (op, dtype.is_float()) {
            (ReduceOp::Sum, _) => self.line(&format!("{acc} = {acc} + {v};")),
            (ReduceOp::Max, true) => self.line(&format!(
                "if ({v} > {acc} || is_nan({v})) {{ {acc} = {v}; }}"
            )),
            (ReduceOp::Min, true) => self.line(&format!(
                "if ({v} < {acc} || is_nan({v})) {{ {acc} = {v}; }}"
            )),
            (ReduceOp::Max, false) => self.line(&format!("{acc} = max({acc}, {v});")),
            (ReduceOp::Min, false) => self.line(&format!("{acc} = min({acc}, {v});")),
        }
        for _ in 0..loops {
            self.close();
        }
        acc
    }

    /// Node `id` at `idx`, a reduction or a convolution's weight gradient,
    /// by the whole workgroup (every invocation of it has the same
    /// `idx`): each invocation folds every `WORKGROUP`-th term of the run,
    /// then the partial results are combined in a tree in workgroup memory
    /// (`partial`). Summing a long run in 256 short ones and a tree keeps
    /// f32's rounding error far below one long sequential sum's, and gives
    /// a run's work to 256 invocations instead of one. Gives the result,
    /// the same in every invocation.
    pub fn together(&mut self, id: NodeId, idx: &[String], lane: &str) -> String {
        let dtype = self.dtype(id);
        let (op, count) = match &self.graph.node(id).op {
            Op::Reduce { op, axes } => {
                let from = self.shape(self.graph.args(id)[0]);
                (*op, axes.iter().map(|&a| from[a]).product::<usize>())
            }
            // The sum over samples and output positions.
            Op::ConvWeightGrad { .. } => {
                let g = self.shape(self.graph.args(id)[1]);
                (ReduceOp::Sum, g[0] * g[2] * g[3])
            }
            other => unreachable!("{} is not summed by a workgroup", other.text()),
        };
        let init = match op {
            ReduceOp::Sum => 0.0,
            ReduceOp::Max => f64::NEG_INFINITY,
            ReduceOp::Min => f64::INFINITY,
        };
        if dtype.is_float() && op != ReduceOp::Sum {
            self.helpers.insert("is_nan");
        }
        let fold = |acc: &str, v: &str| match (op, dtype.is_float()) {
            (ReduceOp::Sum, _) => format!("{acc} = {acc} + {v};"),
            (ReduceOp::Max, true) => format!("if ({v} > {acc} || is_nan({v})) {{ {acc} = {v}; }}"),
            (ReduceOp::Min, true) => format!("if ({v} < {acc} || is_nan({v})) {{ {acc} = {v}; }}"),
            (ReduceOp::Max, false) => format!("{acc} = max({acc}, {v});"),
            (ReduceOp::Min, false) => format!("{acc} = min({acc}, {v});"),
        };
        let acc = self.accumulator(dtype, init);
        let t = self.fresh("t");
        self.open(&format!(
            "for (var {t} = i32({lane}); {t} < {}; {t} += {})",
            int(count as i32),
            int(super::WORKGROUP as i32)
        ));
        let term = self.term(id, idx, &t);
        if let Some(v) = term {
            self.line(&fold(&acc, &v));
        }
        self.close();
        let declaration = format!(
            "var<workgroup> partial: array<{}, {}>;",
            value_type(dtype),
            super::WORKGROUP
        );
        if !self.shared.contains(&declaration) {
            self.shared.push(declaration);
        }
        self.line(&format!("partial[{lane}] = {acc};"));
        self.line("workgroupBarrier();");
        let s = self.fresh("s");
        self.open(&format!(
            "for (var {s} = {}u; {s} > 0u; {s} = {s} >> 1u)",
            super::WORKGROUP / 2
        ));
        self.open(&format!("if ({lane} < {s})"));
        let other = self.fresh("w");
        self.line(&format!("let {other} = partial[{lane} + {s}];"));
        self.line(&fold(&format!("partial[{lane}]"), &other));
        self.close();
        self.line("workgroupBarrier();");
        self.close();
        let total = self.fresh("total");
        self.line(&format!("let {total} = partial[0];"));
        self.remember(id, idx, total.clone());
        total
    }

    /// Term `t` of the run that `id` at `idx` sums (see
    /// [`Emitter::together`]); `None` where a convolution's window is
    /// outside the image (the term is zero, and has been skipped).
    fn term(&mut self, id: NodeId, idx: &[String], t: &str) -> Option<String> {
        let args = self.graph.args(id).to_vec();
        match self.graph.node(id).op.clone() {
            Op::Reduce { axes, .. } => {
                let from = self.shape(args[0]).to_vec();
                let reduced: Vec<usize> = axes.iter().map(|&a| from[a]).collect();
                let mut inner = self.unflatten(t, &reduced).into_iter();
                let mut kept = idx.iter();
                let full: Vec<String> = (0..from.len())
                    .map(|ax| {
                        let next = if axes.contains(&ax) {
                            inner.next()
                        } else {
                            kept.next().cloned()
                        };
                        next.unwrap_or_else(|| "0i".into())
                    })
                    .collect();
                Some(self.at(args[0], &full))
            }
            // g[b, o, i, j] * x[b, c, i * s + ki - p, j * s + kj - p] for
            // term (b, i, j), at idx [o, c, ki, kj].
            Op::ConvWeightGrad { stride, pad } => {
                let (x, g) = (args[0], args[1]);
                let (xs, gs) = (self.shape(x).to_vec(), self.shape(g).to_vec());
                let at = self.unflatten(t, &[gs[0], gs[2], gs[3]]);
                let y = self.window_at(&at[1], stride, &idx[2], pad);
                let xx = self.window_at(&at[2], stride, &idx[3], pad);
                let product = self.fresh("x");
                self.line(&format!("var {product}: f32 = 0.0f;"));
                self.open(&format!(
                    "if ({y} >= 0i && {y} < {}i && {xx} >= 0i && {xx} < {}i)",
                    xs[2], xs[3]
                ));
                let gv = self.at(
                    g,
                    &[at[0].clone(), idx[0].clone(), at[1].clone(), at[2].clone()],
                );
                let xv = self.at(x, &[at[0].clone(), idx[1].clone(), y, xx]);
                self.line(&format!("{product} = {gv} * {xv};"));
                self.close();
                Some(product)
            }
            _ => None,
        }
    }

    fn argmax(&mut self, x: NodeId, axis: usize, dtype: DType, idx: &[String]) -> String {
        let n = self.shape(x)[axis];
        let mut full = idx.to_vec();
        full.insert(axis, "0i".into());
        if n <= 1 {
            return self.cast(DType::I32, dtype, "0i".into());
        }
        let first = self.at(x, &full);
        let best = self.fresh("best");
        let value = self.fresh("top");
        let ty = value_type(self.dtype(x));
        self.line(&format!("var {best}: i32 = 0i;"));
        self.line(&format!("var {value}: {ty} = {first};"));
        let var = self.fresh("r");
        self.open(&format!(
            "for (var {var} = 1i; {var} < {}; {var}++)",
            int(n as i32)
        ));
        full[axis] = var.clone();
        let v = self.at(x, &full);
        self.line(&format!(
            "if ({v} > {value}) {{ {best} = {var}; {value} = {v}; }}"
        ));
        self.close();
        self.cast(DType::I32, dtype, best)
    }

    fn concat(&mut self, parts: &[NodeId], axis: usize, dtype: DType, idx: &[String]) -> String {
        let result = self.fresh("cat");
        self.line(&format!("var {result}: {};", value_type(dtype)));
        let mut offset = 0;
        for &part in parts {
            let end = offset + self.shape(part)[axis];
            let at = &idx[axis];
            self.open(&format!(
                "if ({at} >= {} && {at} < {})",
                int(offset as i32),
                int(end as i32)
            ));
            let mut moved = idx.to_vec();
            if offset != 0 {
                moved[axis] = self.index(format!("{at} - {}", int(offset as i32)));
            }
            let v = self.at(part, &moved);
            self.line(&format!("{result} = {v};"));
            self.close();
            offset = end;
        }
        result
    }

    fn matmul(&mut self, a: NodeId, b: NodeId, idx: &[String]) -> String {
        let r = idx.len();
        let k = self.shape(a)[r - 1];
        let acc = self.accumulator(self.dtype(a), 0.0);
        let p = self.fresh("p");
        self.open_loop(&p, k);
        let mut ia = idx.to_vec();
        ia[r - 1] = p.clone();
        let mut ib = idx.to_vec();
        ib[r - 2] = p.clone();
        let x = self.at(a, &ia);
        let y = self.at(b, &ib);
        self.line(&format!("{acc} = {acc} + {x} * {y};"));
        self.close();
        acc
    }

    /// `i * stride + k - pad`, without the `* 1` and `- 0`.
    pub fn window_at(&mut self, i: &str, stride: usize, k: &str, pad: usize) -> String {
        let mut expr = match stride {
            1 => format!("{i} + {k}"),
            s => format!("{i} * {} + {k}", int(s as i32)),
        };
        if pad != 0 {
            expr = format!("{expr} - {}", int(pad as i32));
        }
        self.index(expr)
    }

    /// `if (0 <= at < n)`, opened.
    fn open_within(&mut self, at: &str, n: usize) {
        self.open(&format!("if ({at} >= 0i && {at} < {})", int(n as i32)));
    }

    fn conv(&mut self, x: NodeId, w: NodeId, stride: usize, pad: usize, idx: &[String]) -> String {
        let xs = self.shape(x).to_vec();
        let ws = self.shape(w).to_vec();
        let acc = self.accumulator(self.dtype(x), 0.0);
        let (b, o, i, j) = (&idx[0], &idx[1], &idx[2], &idx[3]);
        let (c, ki, kj) = (self.fresh("c"), self.fresh("ki"), self.fresh("kj"));
        self.open_loop(&c, xs[1]);
        self.open_loop(&ki, ws[2]);
        let y = self.index(format!(
            "{i} * {} + {ki} - {}",
            int(stride as i32),
            int(pad as i32)
        ));
        self.open_within(&y, xs[2]);
        self.open_loop(&kj, ws[3]);
        let xx = self.index(format!(
            "{j} * {} + {kj} - {}",
            int(stride as i32),
            int(pad as i32)
        ));
        self.open_within(&xx, xs[3]);
        let xv = self.at(x, &[b.clone(), c.clone(), y, xx]);
        let wv = self.at(w, &[o.clone(), c, ki, kj]);
        self.line(&format!("{acc} = {acc} + {xv} * {wv};"));
        for _ in 0..5 {
            self.close();
        }
        acc
    }

    /// `if` the window position `at + pad - k` is a multiple of the stride
    /// whose quotient is in `0..n`: opened, giving the quotient.
    pub fn open_source(
        &mut self,
        at: &str,
        k: &str,
        stride: usize,
        pad: usize,
        n: usize,
    ) -> String {
        let t = match pad {
            0 => self.index(format!("{at} - {k}")),
            p => self.index(format!("{at} + {} - {k}", int(p as i32))),
        };
        if stride == 1 {
            self.open_within(&t, n);
            return t;
        }
        let s = int(stride as i32);
        self.open(&format!(
            "if ({t} >= 0i && {t} % {s} == 0i && {t} / {s} < {})",
            int(n as i32)
        ));
        self.index(format!("{t} / {s}"))
    }

    fn conv_input_grad(
        &mut self,
        id: NodeId,
        g: NodeId,
        w: NodeId,
        stride: usize,
        pad: usize,
        idx: &[String],
    ) -> String {
        let gs = self.shape(g).to_vec();
        let ws = self.shape(w).to_vec();
        let acc = self.accumulator(self.dtype(id), 0.0);
        let (b, c, y, x) = (&idx[0], &idx[1], &idx[2], &idx[3]);
        let (o, ki, kj) = (self.fresh("o"), self.fresh("ki"), self.fresh("kj"));
        self.open_loop(&o, ws[0]);
        self.open_loop(&ki, ws[2]);
        let i = self.open_source(y, &ki, stride, pad, gs[2]);
        self.open_loop(&kj, ws[3]);
        let j = self.open_source(x, &kj, stride, pad, gs[3]);
        let gv = self.at(g, &[b.clone(), o.clone(), i, j]);
        let wv = self.at(w, &[o, c.clone(), ki, kj]);
        self.line(&format!("{acc} = {acc} + {gv} * {wv};"));
        for _ in 0..5 {
            self.close();
        }
        acc
    }

    fn conv_weight_grad(
        &mut self,
        id: NodeId,
        x: NodeId,
        g: NodeId,
        stride: usize,
        pad: usize,
        idx: &[String],
    ) -> String {
        let xs = self.shape(x).to_vec();
        let gs = self.shape(g).to_vec();
        let acc = self.accumulator(self.dtype(id), 0.0);
        let (o, c, ki, kj) = (&idx[0], &idx[1], &idx[2], &idx[3]);
        let (b, i, j) = (self.fresh("b"), self.fresh("i"), self.fresh("j"));
        self.open_loop(&b, gs[0]);
        self.open_loop(&i, gs[2]);
        let y = self.index(format!(
            "{i} * {} + {ki} - {}",
            int(stride as i32),
            int(pad as i32)
        ));
        self.open_within(&y, xs[2]);
        self.open_loop(&j, gs[3]);
        let xx = self.index(format!(
            "{j} * {} + {kj} - {}",
            int(stride as i32),
            int(pad as i32)
        ));
        self.open_within(&xx, xs[3]);
        let gv = self.at(g, &[b.clone(), o.clone(), i, j]);
        let xv = self.at(x, &[b, c.clone(), y, xx]);
        self.line(&format!("{acc} = {acc} + {gv} * {xv};"));
        for _ in 0..5 {
            self.close();
        }
        acc
    }

    fn pool(
        &mut self,
        x: NodeId,
        kind: PoolKind,
        k: usize,
        stride: usize,
        idx: &[String],
    ) -> String {
        let dtype = self.dtype(x);
        let acc = match kind {
            PoolKind::Max => self.accumulator(dtype, f64::NEG_INFINITY),
            PoolKind::Avg => self.accumulator(dtype, 0.0),
        };
        let (ki, kj) = (self.fresh("ki"), self.fresh("kj"));
        self.open_loop(&ki, k);
        self.open_loop(&kj, k);
        let y = self.window_at(&idx[2], stride, &ki, 0);
        let xx = self.window_at(&idx[3], stride, &kj, 0);
        let v = self.at(x, &[idx[0].clone(), idx[1].clone(), y, xx]);
        match kind {
            PoolKind::Max => {
                let m = self.call("max_f32", &[acc.clone(), v]);
                self.line(&format!("{acc} = {m};"));
            }
            PoolKind::Avg => self.line(&format!("{acc} = {acc} + {v};")),
        }
        self.close();
        self.close();
        match kind {
            PoolKind::Max => acc,
            PoolKind::Avg => format!(
                "({acc} / {})",
                literal(dtype, (k * k) as f64, &mut self.helpers)
            ),
        }
    }

    fn pool_grad(
        &mut self,
        x: NodeId,
        g: NodeId,
        kind: PoolKind,
        k: usize,
        stride: usize,
        idx: &[String],
    ) -> String {
        let gs = self.shape(g).to_vec();
        let dtype = self.dtype(g);
        let acc = self.accumulator(dtype, 0.0);
        let (b, c, y, xx) = (&idx[0], &idx[1], &idx[2], &idx[3]);
        let (ki, kj) = (self.fresh("ki"), self.fresh("kj"));
        self.open_loop(&ki, k);
        let i = self.open_source(y, &ki, stride, 0, gs[2]);
        self.open_loop(&kj, k);
        let j = self.open_source(xx, &kj, stride, 0, gs[3]);
        let gv = self.at(g, &[b.clone(), c.clone(), i.clone(), j.clone()]);
        match kind {
            PoolKind::Avg => {
                let n = literal(dtype, (k * k) as f64, &mut self.helpers);
                self.line(&format!("{acc} = {acc} + {gv} / {n};"));
            }
            PoolKind::Max => {
                // The window's first largest element takes the gradient.
                let s = int(stride as i32);
                let (top, wi, wj) = (self.fresh("top"), self.fresh("wi"), self.fresh("wj"));
                let (y0, x0) = (
                    self.index(format!("{i} * {s}")),
                    self.index(format!("{j} * {s}")),
                );
                let first = self.at(x, &[b.clone(), c.clone(), y0.clone(), x0.clone()]);
                let ty = value_type(self.dtype(x));
                self.line(&format!("var {top}: {ty} = {first};"));
                self.line(&format!("var {wi}: i32 = 0i;"));
                self.line(&format!("var {wj}: i32 = 0i;"));
                let (ai, aj) = (self.fresh("ai"), self.fresh("aj"));
                self.open_loop(&ai, k);
                self.open_loop(&aj, k);
                let (yy, xw) = (
                    self.index(format!("{y0} + {ai}")),
                    self.index(format!("{x0} + {aj}")),
                );
                let v = self.at(x, &[b.clone(), c.clone(), yy, xw]);
                self.line(&format!(
                    "if ({v} > {top}) {{ {top} = {v}; {wi} = {ai}; {wj} = {aj}; }}"
                ));
                self.close();
                self.close();
                self.line(&format!(
                    "if ({wi} == {ki} && {wj} == {kj}) {{ {acc} = {acc} + {gv}; }}"
                ));
            }
        }
        for _ in 0..4 {
            self.close();
        }
        acc
    }

    /// `id` checked to be a row of a table of `rows`: an index out of range
    /// is reported through the fault buffer (and row 0 read instead).
    fn checked_row(&mut self, id: &str, rows: usize) -> String {
        self.faults = true;
        let n = int(rows as i32);
        self.line(&format!(
            "if ({id} < 0i || {id} >= {n}) {{ atomicStore(&fault[0], 1u); atomicStore(&fault[1], bitcast<u32>({id})); atomicStore(&fault[2], {rows}u); }}"
        ));
        self.index(format!("select({id}, 0i, {id} < 0i || {id} >= {n})"))
    }

    fn gather(&mut self, table: NodeId, ids: NodeId, idx: &[String]) -> String {
        let rows = self.shape(table)[0];
        let r = idx.len();
        let id = self.at(ids, &idx[..r - 1]);
        let row = self.checked_row(&id, rows);
        self.at(table, &[row, idx[r - 1].clone()])
    }

    fn scatter_add(&mut self, id: NodeId, ids: NodeId, g: NodeId, idx: &[String]) -> String {
        let ids_shape = self.shape(ids).to_vec();
        let g_shape = self.shape(g).to_vec();
        let rows = self.shape(id)[0];
        let n: usize = ids_shape.iter().product();
        let acc = self.accumulator(self.dtype(id), 0.0);
        let var = self.fresh("n");
        self.open_loop(&var, n);
        let at = self.unflatten(&var, &ids_shape);
        let row = self.at(ids, &at);
        let row = self.checked_row(&row, rows);
        self.open(&format!("if ({row} == {})", idx[0]));
        let mut gi = at.clone();
        gi.push(idx[1].clone());
        debug_assert_eq!(gi.len(), g_shape.len());
        let v = self.at(g, &gi);
        self.line(&format!("{acc} = {acc} + {v};"));
        self.close();
        self.close();
        acc
    }
}
