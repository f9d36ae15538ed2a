//! ONNX export: a prediction step (the model in evaluation mode, from the
//! dataset's raw inputs to the model's outputs) as an ONNX model, opset 17,
//! with a dynamic batch axis and the trained parameters as initialisers.
//!
//! Each primitive op becomes the standard ONNX operator that computes it
//! (`MatMul`, `Conv`, `MaxPool`, `Add`, `Exp`, `ReduceSum`, ...), and
//! `max(x, 0)` becomes `Relu`, so viewers such as Netron show the layers.
//! Shapes that depend on the batch size (a `Reshape` to `[B, 256]`, an
//! `Expand` to `[B, 10]`) are computed in the graph from the batch size of
//! the first input. Where ONNX's operator means something else (integer
//! division rounds towards zero), the graph computes dlp's meaning. An op
//! ONNX cannot express (random numbers, the gradients) is an error naming
//! the op and the source place that made it, before anything is written.

use crate::diagnostic::Loc;
use crate::ir::{
    BinaryOp, DType, Graph, Input, NodeId, Op, Output, PoolKind, ReduceOp, Size, UnaryOp,
};
use crate::program::PredictStep;
use onnx_protobuf::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
    AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto,
};
use std::collections::HashMap;

mod layers;

use layers::Layer;

/// The opset the exported graph uses.
pub const OPSET: i64 = 17;

/// A trained parameter's value: dtype, shape and little-endian bytes.
pub struct Initializer {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

/// Why a step cannot be exported.
#[derive(Debug)]
pub struct ExportError {
    pub message: String,
    pub loc: Option<Loc>,
}

/// The ONNX model of `step` (its graph inputs are the step's feeds, named
/// as the dataset's fields; its outputs the model's outputs), with
/// `params` as initialisers, serialised.
pub fn export(
    step: &PredictStep,
    params: &HashMap<String, Initializer>,
    producer: &str,
) -> Result<Vec<u8>, ExportError> {
    let graph = step.step.graph();
    // Random numbers first: the seed and sample indices they read would
    // otherwise be reported, with no place to show.
    if let Some(id) = graph
        .ids()
        .find(|&id| matches!(graph.node(id).op, Op::Random { .. }))
    {
        return Err(ExportError {
            message: "random numbers in evaluation cannot be exported to ONNX, which \
                      draws different ones (put them under `where(training(), ...)`)"
                .into(),
            loc: graph.node(id).loc,
        });
    }
    // Walking back from the outputs, each node needed becomes a layer
    // (a fused one reads its first inputs, not the primitives between);
    // then the layers are emitted in graph order.
    let mut layers: Vec<Option<Layer>> = vec![None; graph.len()];
    let mut needed = vec![false; graph.len()];
    for (_, id) in &graph.outputs {
        needed[id.index()] = true;
    }
    for id in graph.ids().rev() {
        if needed[id.index()] {
            let l = layers::layer(graph, id);
            for a in l.operands() {
                needed[a.index()] = true;
            }
            layers[id.index()] = Some(l);
        }
    }
    let mut ex = Exporter::new(graph);
    // An output computed here takes the output's name; one that is an
    // input, or another output too, is copied by an `Identity` below.
    for (output, id) in &graph.outputs {
        if let Output::Prediction(name) = output {
            if !matches!(graph.node(*id).op, Op::Input(_)) && !ex.named.contains_key(id) {
                ex.named.insert(*id, output_name(step, name));
            }
        }
    }
    for id in graph.ids() {
        if let Some(l) = &layers[id.index()] {
            ex.node(id, l, params)?;
        }
    }
    for (output, id) in &graph.outputs {
        if let Output::Prediction(name) = output {
            let value = ex.name(*id);
            let name = output_name(step, name);
            if value != name {
                ex.op("Identity", &[&value], &name, vec![]);
            }
            ex.graph
                .output
                .push(value_info(&name, graph.ty(*id).dtype, &graph.ty(*id).shape));
        }
    }
    let mut model = ModelProto {
        ir_version: 8,
        producer_name: producer.to_string(),
        ..ModelProto::default()
    };
    model.opset_import.push(OperatorSetIdProto {
        domain: String::new(),
        version: OPSET,
        ..OperatorSetIdProto::default()
    });
    ex.graph.name = format!("dlp_{}", step.data.name);
    model.graph = Some(ex.graph).into();
    model.write_to_bytes().map_err(|e| ExportError {
        message: format!("internal error: the ONNX model cannot be encoded: {e}"),
        loc: None,
    })
}

/// The ONNX name of the model output `name`: the name itself, unless an
/// input (a data field) has it, as a graph's values need distinct names.
pub fn output_name(step: &PredictStep, name: &str) -> String {
    let graph = step.step.graph();
    let taken = |n: &str| {
        graph
            .inputs()
            .any(|(i, _)| matches!(i, Input::Feed(f) if f == n))
    };
    if taken(name) {
        format!("{name}_output")
    } else {
        name.to_string()
    }
}

struct Exporter<'g> {
    ir: &'g Graph,
    graph: GraphProto,
    /// A value holding the batch size as an int64[1], once made.
    batch: Option<String>,
    /// Shape tensors made so far, by shape.
    shapes: HashMap<Vec<Size>, String>,
    fresh: usize,
    /// Inputs and parameters, which keep their own names.
    named: HashMap<NodeId, String>,
}

impl<'g> Exporter<'g> {
    fn new(ir: &'g Graph) -> Exporter<'g> {
        Exporter {
            ir,
            graph: GraphProto::default(),
            batch: None,
            shapes: HashMap::new(),
            fresh: 0,
            named: HashMap::new(),
        }
    }

    /// The ONNX value of IR node `id`. Internal values have a `/` in
    /// their names, which no field or output name can have.
    fn name(&self, id: NodeId) -> String {
        match self.named.get(&id) {
            Some(name) => name.clone(),
            None => format!("dlp/n{}", id.index()),
        }
    }

    fn temp(&mut self, what: &str) -> String {
        self.fresh += 1;
        format!("dlp/{what}_{}", self.fresh)
    }

    fn op(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        output: &str,
        attributes: Vec<AttributeProto>,
    ) {
        self.graph.node.push(NodeProto {
            op_type: op_type.to_string(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: output.to_string(),
            attribute: attributes,
            ..NodeProto::default()
        });
    }

    /// A constant tensor value.
    fn constant(&mut self, what: &str, tensor: TensorProto) -> String {
        let name = self.temp(what);
        let attr = AttributeProto {
            name: "value".into(),
            type_: AttributeType::TENSOR.into(),
            t: Some(tensor).into(),
            ..AttributeProto::default()
        };
        self.op("Constant", &[], &name, vec![attr]);
        name
    }

    fn ints(&mut self, values: &[i64]) -> String {
        self.constant("ints", int64s(values))
    }

    /// The batch size, as int64[1], from the first input that has it.
    fn batch(&mut self) -> Result<String, ExportError> {
        if let Some(b) = &self.batch {
            return Ok(b.clone());
        }
        let (input, axis) = self
            .ir
            .inputs()
            .find_map(|(i, id)| match i {
                Input::Feed(name) => self
                    .ir
                    .ty(id)
                    .shape
                    .iter()
                    .position(|s| *s == Size::BATCH)
                    .map(|axis| (name.clone(), axis)),
                _ => None,
            })
            .ok_or_else(|| ExportError {
                message: "no input of the model has a batch axis to take the batch size from"
                    .into(),
                loc: None,
            })?;
        let shape = self.temp("shape");
        self.op("Shape", &[&input], &shape, vec![]);
        let (start, end) = (self.ints(&[axis as i64]), self.ints(&[axis as i64 + 1]));
        let batch = self.temp("batch");
        self.op("Slice", &[&shape, &start, &end], &batch, vec![]);
        self.batch = Some(batch.clone());
        Ok(batch)
    }

    /// `size` as an int64[1] value.
    fn size(&mut self, size: Size) -> Result<String, ExportError> {
        if size.batch == 0 {
            return Ok(self.ints(&[size.fixed as i64]));
        }
        let mut value = self.batch()?;
        if size.batch != 1 {
            let k = self.ints(&[size.batch as i64]);
            let scaled = self.temp("size");
            self.op("Mul", &[&value, &k], &scaled, vec![]);
            value = scaled;
        }
        if size.fixed != 0 {
            let f = self.ints(&[size.fixed as i64]);
            let sum = self.temp("size");
            self.op("Add", &[&value, &f], &sum, vec![]);
            value = sum;
        }
        Ok(value)
    }

    /// A shape as an int64 vector value.
    fn shape(&mut self, sizes: &[Size]) -> Result<String, ExportError> {
        if let Some(name) = self.shapes.get(sizes) {
            return Ok(name.clone());
        }
        let name = if sizes.iter().all(|s| s.batch == 0) {
            let fixed: Vec<i64> = sizes.iter().map(|s| s.fixed as i64).collect();
            self.ints(&fixed)
        } else {
            let parts: Vec<String> = sizes
                .iter()
                .map(|&s| self.size(s))
                .collect::<Result<_, _>>()?;
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            let name = self.temp("shape");
            self.op("Concat", &refs, &name, vec![int("axis", 0)]);
            name
        };
        self.shapes.insert(sizes.to_vec(), name.clone());
        Ok(name)
    }

    fn node(
        &mut self,
        id: NodeId,
        layer: &Layer,
        params: &HashMap<String, Initializer>,
    ) -> Result<(), ExportError> {
        let node = self.ir.node(id);
        let out = self.name(id);
        let args: Vec<String> = layer.operands().iter().map(|&a| self.name(a)).collect();
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let last = || int("axis", node.ty.rank() as i64 - 1);
        match layer {
            Layer::Plain(_) => {}
            Layer::Relu(_) => self.op("Relu", &a, &out, vec![]),
            Layer::Sigmoid(_) => self.op("Sigmoid", &a, &out, vec![]),
            Layer::Softmax(_) => self.op("Softmax", &a, &out, vec![last()]),
            Layer::LogSoftmax(_) => self.op("LogSoftmax", &a, &out, vec![last()]),
            Layer::Gemm { .. } => self.op("Gemm", &a, &out, vec![]),
            Layer::ConvBias { stride, pad, .. } => self.conv(*stride, *pad, &a, &out),
            Layer::Mean { axes, .. } => {
                let axes: Vec<i64> = axes.iter().map(|&x| x as i64).collect();
                let attributes = vec![ints("axes", &axes), int("keepdims", 0)];
                self.op("ReduceMean", &a, &out, attributes);
            }
            Layer::Norm { epsilon, .. } => {
                let eps = AttributeProto {
                    name: "epsilon".into(),
                    type_: AttributeType::FLOAT.into(),
                    f: *epsilon as f32,
                    ..AttributeProto::default()
                };
                self.op("LayerNormalization", &a, &out, vec![last(), eps]);
            }
        }
        if !matches!(layer, Layer::Plain(_)) {
            return Ok(());
        }
        let ty = &node.ty;
        let cannot = |what: &str| ExportError {
            message: format!("{what} cannot be exported to ONNX"),
            loc: node.loc,
        };
        match &node.op {
            Op::Input(Input::Feed(name)) => {
                self.graph.input.push(value_info(name, ty.dtype, &ty.shape));
                self.named.insert(id, name.clone());
            }
            Op::Input(Input::Param(path) | Input::ModelState(path)) => {
                let Some(init) = params.get(path) else {
                    return Err(ExportError {
                        message: format!("the checkpoint has no parameter `{path}`"),
                        loc: node.loc,
                    });
                };
                // Parameters keep their paths (`l1.w`) as names, for
                // viewers, unless an input or output has the name (`w`).
                let taken = |n: &str| {
                    let input = |(i, _): (&Input, NodeId)| matches!(i, Input::Feed(f) if f == n);
                    let output =
                        |(o, _): &(Output, NodeId)| matches!(o, Output::Prediction(p) if p == n);
                    self.ir.inputs().any(input) || self.ir.outputs.iter().any(output)
                };
                let name = if taken(path) {
                    format!("param/{path}")
                } else {
                    path.clone()
                };
                self.graph.initializer.push(TensorProto {
                    name: name.clone(),
                    dims: init.shape.iter().map(|&d| d as i64).collect(),
                    data_type: data_type(init.dtype) as i32,
                    raw_data: init.bytes.clone(),
                    ..TensorProto::default()
                });
                self.named.insert(id, name);
            }
            Op::Input(other) => return Err(cannot(&format!("the step input `{other}`"))),
            Op::Constant(bits) => {
                let v = f64::from_bits(*bits);
                self.graph
                    .node
                    .push(constant_node(&out, scalar(ty.dtype, v)));
            }
            Op::SizeOf(size) => {
                let value = self.size(*size)?;
                let shape = self.ints(&[]);
                let scalar = self.temp("size");
                self.op("Reshape", &[&value, &shape], &scalar, vec![]);
                self.op(
                    "Cast",
                    &[&scalar],
                    &out,
                    vec![int("to", data_type(ty.dtype) as i64)],
                );
            }
            Op::Unary(u) => {
                let op_type = match u {
                    UnaryOp::Neg => "Neg",
                    UnaryOp::Exp => "Exp",
                    UnaryOp::Log => "Log",
                    UnaryOp::Sqrt => "Sqrt",
                    UnaryOp::Abs => "Abs",
                    UnaryOp::Tanh => "Tanh",
                    UnaryOp::Sin => "Sin",
                    UnaryOp::Cos => "Cos",
                    UnaryOp::Erf => "Erf",
                    UnaryOp::Sign => "Sign",
                    UnaryOp::Not => "Not",
                };
                self.op(op_type, &a, &out, vec![]);
            }
            Op::Binary(b) => self.binary(*b, id, &a, &out),
            Op::Select => self.op("Where", &a, &out, vec![]),
            Op::Cast => self.op(
                "Cast",
                &a,
                &out,
                vec![int("to", data_type(ty.dtype) as i64)],
            ),
            Op::Reduce { op, axes } => {
                let axes: Vec<i64> = axes.iter().map(|&x| x as i64).collect();
                let keep = int("keepdims", 0);
                match op {
                    // Reducing no axes is the identity (ONNX would reduce all).
                    _ if axes.is_empty() => self.op("Identity", &a, &out, vec![]),
                    // Opset 13 made ReduceSum's axes an input; the others
                    // keep an attribute until opset 18.
                    ReduceOp::Sum => {
                        let axes = self.ints(&axes);
                        self.op("ReduceSum", &[a[0], &axes], &out, vec![keep]);
                    }
                    ReduceOp::Max => {
                        self.op("ReduceMax", &a, &out, vec![ints("axes", &axes), keep])
                    }
                    ReduceOp::Min => {
                        self.op("ReduceMin", &a, &out, vec![ints("axes", &axes), keep])
                    }
                }
            }
            Op::ArgMax(axis) => {
                let index = self.temp("argmax");
                self.op(
                    "ArgMax",
                    &a,
                    &index,
                    vec![int("axis", *axis as i64), int("keepdims", 0)],
                );
                self.op(
                    "Cast",
                    &[&index],
                    &out,
                    vec![int("to", data_type(ty.dtype) as i64)],
                );
            }
            Op::Broadcast => {
                let shape = self.shape(&ty.shape)?;
                self.op("Expand", &[a[0], &shape], &out, vec![]);
            }
            Op::Reshape => {
                // One size that depends on the batch is ONNX's -1 (the
                // rest); more are computed.
                let batched = ty.shape.iter().filter(|s| s.is_batched()).count();
                let empty = ty.shape.contains(&Size::fixed(0));
                let shape = if batched == 1 && !empty {
                    let sizes: Vec<i64> = ty
                        .shape
                        .iter()
                        .map(|s| s.as_fixed().map_or(-1, |n| n as i64))
                        .collect();
                    self.ints(&sizes)
                } else {
                    self.shape(&ty.shape)?
                };
                // A 0 in the shape is a size of 0, not "as the input".
                self.op("Reshape", &[a[0], &shape], &out, vec![int("allowzero", 1)]);
            }
            Op::Permute(perm) => {
                let perm: Vec<i64> = perm.iter().map(|&p| p as i64).collect();
                self.op("Transpose", &a, &out, vec![ints("perm", &perm)]);
            }
            Op::Concat(axis) => self.op("Concat", &a, &out, vec![int("axis", *axis as i64)]),
            Op::Slice { axis, start, end } => {
                let (start, end) = (self.size(*start)?, self.size(*end)?);
                let axes = self.ints(&[*axis as i64]);
                self.op("Slice", &[a[0], &start, &end, &axes], &out, vec![]);
            }
            Op::MatMul => self.op("MatMul", &a, &out, vec![]),
            Op::Conv { stride, pad } => self.conv(*stride, *pad, &a, &out),
            Op::Pool { kind, k, stride } => {
                let op_type = match kind {
                    PoolKind::Max => "MaxPool",
                    PoolKind::Avg => "AveragePool",
                };
                let (k, s) = (*k as i64, *stride as i64);
                self.op(
                    op_type,
                    &a,
                    &out,
                    vec![ints("kernel_shape", &[k, k]), ints("strides", &[s, s])],
                );
            }
            Op::Gather => self.op("Gather", &a, &out, vec![int("axis", 0)]),
            Op::Iota(axis) => self.iota(*axis, ty.dtype, &ty.shape, &out)?,
            Op::Random { .. } => return Err(cannot("random numbers")),
            Op::ConvInputGrad { .. }
            | Op::ConvWeightGrad { .. }
            | Op::PoolGrad { .. }
            | Op::ScatterAdd => return Err(cannot("a gradient op")),
        }
        Ok(())
    }

    fn conv(&mut self, stride: usize, pad: usize, a: &[&str], out: &str) {
        let (s, p) = (stride as i64, pad as i64);
        self.op(
            "Conv",
            a,
            out,
            vec![ints("strides", &[s, s]), ints("pads", &[p, p, p, p])],
        );
    }

    fn binary(&mut self, b: BinaryOp, id: NodeId, a: &[&str], out: &str) {
        let float = self.ir.ty(self.ir.node(id).args[0]).dtype.is_float();
        match b {
            BinaryOp::Add => self.op("Add", a, out, vec![]),
            BinaryOp::Sub => self.op("Sub", a, out, vec![]),
            BinaryOp::Mul => self.op("Mul", a, out, vec![]),
            BinaryOp::Div if float => self.op("Div", a, out, vec![]),
            BinaryOp::Pow if float => self.op("Pow", a, out, vec![]),
            // Floored remainder: x - floor(x / y) * y.
            BinaryOp::Rem if float => {
                let q = self.temp("div");
                self.op("Div", a, &q, vec![]);
                let f = self.temp("floor");
                self.op("Floor", &[&q], &f, vec![]);
                let m = self.temp("mul");
                self.op("Mul", &[&f, a[1]], &m, vec![]);
                self.op("Sub", &[a[0], &m], out, vec![]);
            }
            BinaryOp::Div => {
                let q = self.floored_div(a);
                self.op("Identity", &[&q], out, vec![]);
            }
            // x - y * (x / y), and 0 for a zero divisor, as dlp computes it.
            BinaryOp::Rem => {
                let q = self.floored_div(a);
                let yq = self.temp("mul");
                self.op("Mul", &[a[1], &q], &yq, vec![]);
                let r = self.temp("rem");
                self.op("Sub", &[a[0], &yq], &r, vec![]);
                let zero_divisor = self.zero_divisor(a[1]);
                let zero = self.constant("zero", scalar(DType::I32, 0.0));
                self.op("Where", &[&zero_divisor, &zero, &r], out, vec![]);
            }
            // dlp treats a negative integer exponent as 0.
            BinaryOp::Pow => {
                let zero = self.constant("zero", scalar(DType::I32, 0.0));
                let e = self.temp("exponent");
                self.op("Max", &[a[1], &zero], &e, vec![]);
                self.op("Pow", &[a[0], &e], out, vec![]);
            }
            BinaryOp::Max => self.op("Max", a, out, vec![]),
            BinaryOp::Min => self.op("Min", a, out, vec![]),
            BinaryOp::Eq => self.op("Equal", a, out, vec![]),
            BinaryOp::Ne => {
                let eq = self.temp("eq");
                self.op("Equal", a, &eq, vec![]);
                self.op("Not", &[&eq], out, vec![]);
            }
            BinaryOp::Lt => self.op("Less", a, out, vec![]),
            BinaryOp::Le => self.op("LessOrEqual", a, out, vec![]),
            BinaryOp::Gt => self.op("Greater", a, out, vec![]),
            BinaryOp::Ge => self.op("GreaterOrEqual", a, out, vec![]),
            BinaryOp::And => self.op("And", a, out, vec![]),
        }
    }

    /// Integer division rounding down, and 0 for a zero divisor, as dlp
    /// computes it (ONNX's rounds towards zero): the floor of the f64
    /// quotient, which is exact for i32 operands.
    fn floored_div(&mut self, a: &[&str]) -> String {
        let double = int("to", DataType::DOUBLE as i64);
        let (x, y) = (self.temp("x"), self.temp("y"));
        self.op("Cast", &[a[0]], &x, vec![double.clone()]);
        self.op("Cast", &[a[1]], &y, vec![double]);
        let q = self.temp("div");
        self.op("Div", &[&x, &y], &q, vec![]);
        let f = self.temp("floor");
        self.op("Floor", &[&q], &f, vec![]);
        let i = self.temp("quotient");
        self.op("Cast", &[&f], &i, vec![int("to", DataType::INT32 as i64)]);
        let zero_divisor = self.zero_divisor(a[1]);
        let zero = self.constant("zero", scalar(DType::I32, 0.0));
        let out = self.temp("quotient");
        self.op("Where", &[&zero_divisor, &zero, &i], &out, vec![]);
        out
    }

    fn zero_divisor(&mut self, y: &str) -> String {
        let zero = self.constant("zero", scalar(DType::I32, 0.0));
        let is_zero = self.temp("zero_divisor");
        self.op("Equal", &[y, &zero], &is_zero, vec![]);
        is_zero
    }

    /// Each element's index along `axis`: a `Range` over that axis,
    /// shaped to broadcast, expanded to the whole shape.
    fn iota(
        &mut self,
        axis: usize,
        dtype: DType,
        shape: &[Size],
        out: &str,
    ) -> Result<(), ExportError> {
        let n = self.size(shape[axis])?;
        let scalar_shape = self.ints(&[]);
        let n64 = self.temp("n");
        self.op("Reshape", &[&n, &scalar_shape], &n64, vec![]);
        let limit = self.temp("n");
        self.op(
            "Cast",
            &[&n64],
            &limit,
            vec![int("to", data_type(dtype) as i64)],
        );
        let start = self.constant("zero", scalar(dtype, 0.0));
        let delta = self.constant("one", scalar(dtype, 1.0));
        let range = self.temp("range");
        self.op("Range", &[&start, &limit, &delta], &range, vec![]);
        let mut along: Vec<Size> = vec![Size::fixed(1); shape.len()];
        along[axis] = shape[axis];
        let along = self.shape(&along)?;
        let column = self.temp("range");
        self.op("Reshape", &[&range, &along], &column, vec![]);
        let full = self.shape(shape)?;
        self.op("Expand", &[&column, &full], out, vec![]);
        Ok(())
    }
}

fn data_type(d: DType) -> DataType {
    match d {
        DType::F32 => DataType::FLOAT,
        DType::F64 => DataType::DOUBLE,
        DType::I32 => DataType::INT32,
        DType::Bool => DataType::BOOL,
    }
}

/// A graph input or output: its dtype, and its shape with the batch as
/// the symbolic dimension `batch` (`batch*49` where it is a multiple).
fn value_info(name: &str, dtype: DType, shape: &[Size]) -> ValueInfoProto {
    let dim = shape
        .iter()
        .map(|s| tensor_shape_proto::Dimension {
            value: Some(match (s.batch, s.fixed) {
                (0, f) => tensor_shape_proto::dimension::Value::DimValue(f as i64),
                (1, 0) => tensor_shape_proto::dimension::Value::DimParam("batch".into()),
                (b, f) => tensor_shape_proto::dimension::Value::DimParam(format!("batch*{b}+{f}")),
            }),
            ..Default::default()
        })
        .collect();
    let tensor = type_proto::Tensor {
        elem_type: data_type(dtype) as i32,
        shape: Some(TensorShapeProto {
            dim,
            ..Default::default()
        })
        .into(),
        ..Default::default()
    };
    ValueInfoProto {
        name: name.to_string(),
        type_: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(tensor)),
            ..Default::default()
        })
        .into(),
        ..Default::default()
    }
}

fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: AttributeType::INT.into(),
        i,
        ..AttributeProto::default()
    }
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        type_: AttributeType::INTS.into(),
        ints: values.to_vec(),
        ..AttributeProto::default()
    }
}

fn int64s(values: &[i64]) -> TensorProto {
    TensorProto {
        dims: vec![values.len() as i64],
        data_type: DataType::INT64 as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..TensorProto::default()
    }
}

/// A scalar of `dtype`.
fn scalar(dtype: DType, v: f64) -> TensorProto {
    let raw_data = match dtype {
        DType::F32 => (v as f32).to_le_bytes().to_vec(),
        DType::F64 => v.to_le_bytes().to_vec(),
        DType::I32 => (v as i32).to_le_bytes().to_vec(),
        DType::Bool => vec![u8::from(v != 0.0)],
    };
    TensorProto {
        data_type: data_type(dtype) as i32,
        raw_data,
        ..TensorProto::default()
    }
}

fn constant_node(out: &str, tensor: TensorProto) -> NodeProto {
    NodeProto {
        op_type: "Constant".into(),
        output: vec![out.to_string()],
        name: out.to_string(),
        attribute: vec![AttributeProto {
            name: "value".into(),
            type_: AttributeType::TENSOR.into(),
            t: Some(tensor).into(),
            ..AttributeProto::default()
        }],
        ..NodeProto::default()
    }
}
