//! The ONNX export's graph, read back with the protobuf crate: the
//! stdlib's layers become ONNX's operators, the model's inputs are as
//! declared (or, asked, the data as stored), parameters are initialisers
//! under their paths, and what ONNX cannot run is refused at its place.
//! (Numerical agreement with onnxruntime: tests/onnx_export.rs.)

use dlp_compiler::lower::{self, Predict};
use dlp_compiler::onnx::{self, Initializer};
use dlp_compiler::{compile, NoModules};
use onnx_protobuf::{type_proto, Message, ModelProto};
use std::collections::HashMap;

fn program(body: &str) -> String {
    format!(
        r#"
use std.nn.{{linear, relu, sigmoid, softmax, log_softmax, layer_norm, conv2d, max_pool2d, flatten}}
use std.loss.cross_entropy
use std.optim.sgd

dataset d {{
    source = csv("d.csv", header = true)
    x      = columns(0..64) as f32[1, 8, 8] / 16.0
    y      = column("y") as class(10)
}}

model M {{
    input x: f32[B, 1, 8, 8]
{body}
}}

train t {{
    model     = M()
    data      = d
    batch     = 4
    epochs    = 1
    loss      = cross_entropy(logits, y)
    optimizer = sgd(lr = 0.5)
}}
"#
    )
}

/// The program exported (parameters all zero), decoded.
fn exported(text: &str, what: Predict) -> Result<ModelProto, onnx::ExportError> {
    let comp = compile("p.dlp", text, &mut NoModules);
    assert!(!comp.has_errors(), "{:?}", comp.diagnostics);
    let step = lower::prediction(&comp, None, "d", what).unwrap();
    let plan = lower::compile(&comp, None).unwrap().plan;
    let params: HashMap<String, Initializer> = plan
        .params
        .iter()
        .map(|p| {
            let count: usize = p.shape.iter().product();
            let init = Initializer {
                dtype: p.dtype,
                shape: p.shape.clone(),
                bytes: vec![0; count * 4],
            };
            (p.path.clone(), init)
        })
        .collect();
    let bytes = onnx::export(&step, &params, "test")?;
    Ok(ModelProto::parse_from_bytes(&bytes).unwrap())
}

fn ops(model: &ModelProto) -> Vec<&str> {
    model
        .graph
        .node
        .iter()
        .map(|n| n.op_type.as_str())
        .collect()
}

/// `name: elem_type[dims]`, with `batch` for the symbolic axis.
fn signature(values: &[onnx_protobuf::ValueInfoProto]) -> Vec<String> {
    values
        .iter()
        .map(|v| {
            let Some(type_proto::Value::TensorType(t)) = &v.type_.value else {
                panic!("{} is not a tensor", v.name);
            };
            let dims: Vec<String> = t
                .shape
                .dim
                .iter()
                .map(|d| match &d.value {
                    Some(onnx_protobuf::tensor_shape_proto::dimension::Value::DimValue(n)) => {
                        n.to_string()
                    }
                    Some(onnx_protobuf::tensor_shape_proto::dimension::Value::DimParam(p)) => {
                        p.clone()
                    }
                    _ => "?".into(),
                })
                .collect();
            format!("{}: {}[{}]", v.name, t.elem_type, dims.join(", "))
        })
        .collect()
}

const CNN: &str = "
    c = relu(conv2d(x, 4, k = 3, pad = 1))
    h = layer_norm(sigmoid(linear(flatten(max_pool2d(c)), 32)))
    output logits = linear(h, 10)
    output probs = softmax(logits)
    output logp = log_softmax(logits)
";

#[test]
fn the_stdlib_layers_become_onnx_operators() {
    let model = exported(&program(CNN), Predict::Model).unwrap();
    assert_eq!(
        ops(&model),
        [
            "Conv",
            "Relu",
            "MaxPool",
            "Constant",
            "Reshape",
            "Gemm",
            "Sigmoid",
            "LayerNormalization",
            "Gemm",
            "Softmax",
            "LogSoftmax",
        ]
    );
    // The conv has its bias; the layer norm its scale and shift.
    let conv = &model.graph.node[0];
    assert_eq!(conv.input, ["x", "c.w", "c.b"]);
    let norm = &model.graph.node[7];
    assert_eq!(norm.input[1..], ["h_2.gamma", "h_2.beta"]);
    assert_eq!(
        norm.attribute
            .iter()
            .find(|a| a.name == "epsilon")
            .unwrap()
            .f,
        1e-5
    );
}

#[test]
fn inputs_are_the_model_inputs_as_declared_and_outputs_its_outputs() {
    let model = exported(&program(CNN), Predict::Model).unwrap();
    // 1 is FLOAT in ONNX's TensorProto.DataType.
    assert_eq!(signature(&model.graph.input), ["x: 1[batch, 1, 8, 8]"]);
    assert_eq!(
        signature(&model.graph.output),
        [
            "logits: 1[batch, 10]",
            "probs: 1[batch, 10]",
            "logp: 1[batch, 10]"
        ]
    );
    let mut inits: Vec<&str> = model
        .graph
        .initializer
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    inits.sort();
    assert_eq!(
        inits,
        [
            "c.b",
            "c.w",
            "h.b",
            "h.w",
            "h_2.beta",
            "h_2.gamma",
            "logits.b",
            "logits.w"
        ]
    );
    assert_eq!(model.opset_import[0].version, onnx::OPSET);
    // The field's `/ 16.0` is not part of the model...
    assert!(!ops(&model).contains(&"Div"));
    // ...unless the export starts from the data as stored.
    let raw = exported(&program(CNN), Predict::Outputs).unwrap();
    assert_eq!(ops(&raw)[..3], ["Constant", "Div", "Conv"]);
}

#[test]
fn broadcasts_onnx_does_itself_are_left_out() {
    let body = "
    h = x * 2.0 + 1.0
    output logits = linear(reshape(h, [B, 64]), 10)
";
    let model = exported(&program(body), Predict::Model).unwrap();
    assert_eq!(
        ops(&model),
        ["Constant", "Mul", "Constant", "Add", "Constant", "Reshape", "Gemm"]
    );
}

#[test]
fn random_numbers_in_evaluation_are_refused_with_their_place() {
    let body = "    output logits = linear(flatten(x + random_normal(x)), 10)";
    let text = program(body);
    let e = exported(&text, Predict::Model).unwrap_err();
    assert!(
        e.message.starts_with("random numbers in evaluation"),
        "{}",
        e.message
    );
    let span = e.loc.expect("a place").span;
    assert_eq!(
        &text[span.start as usize..span.end as usize],
        "random_normal(x)"
    );
}
