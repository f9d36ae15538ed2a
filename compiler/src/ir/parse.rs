//! Reads the textual IR that [`super::print::text`] writes:
//!
//! ```text
//! ; a comment
//! %0 = input param.w : f32[3, 2]
//! %1 = input feed.x : f32[B, 3]
//! %2 = matmul %1, %0 : f32[B, 2]
//! output loss_sum = %2
//! ```
//!
//! Node `%k` must be the k-th node line. Nothing is checked beyond the
//! syntax: a parsed graph goes through [`super::verify()`] like any other,
//! which is what makes verifier tests possible.

use super::{BinaryOp, DType, Dist, Graph, Node, NodeId, Op, PoolKind, RandomKey, ReduceOp};
use super::{Size, TensorTy, UnaryOp};
use std::collections::HashMap;

/// A syntax error, at a 1-based line.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

pub fn parse(text: &str) -> Result<Graph, ParseError> {
    let mut graph = Graph::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(';').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |message: String| ParseError {
            line: i + 1,
            message,
        };
        if let Some(rest) = line.strip_prefix("output ") {
            let (name, id) = rest
                .split_once(" = ")
                .ok_or_else(|| at("expected `output NAME = %N`".into()))?;
            let output = name.trim().parse().map_err(at)?;
            graph
                .outputs
                .push((output, node_id(id.trim()).map_err(at)?));
            continue;
        }
        let node = parse_node(line, graph.len()).map_err(at)?;
        graph.nodes.push(node);
    }
    Ok(graph)
}

fn node_id(s: &str) -> Result<NodeId, String> {
    s.strip_prefix('%')
        .and_then(|n| n.parse().ok())
        .map(NodeId)
        .ok_or_else(|| format!("`{s}` is not a node (`%3`)"))
}

/// `%k = OP [ATTRS] [OPERANDS] : TYPE`.
fn parse_node(line: &str, index: usize) -> Result<Node, String> {
    let (lhs, rhs) = line
        .split_once(" = ")
        .ok_or("expected `%N = op ... : type` or `output NAME = %N`")?;
    let id = node_id(lhs.trim())?;
    if id.index() != index {
        return Err(format!("expected %{index} here, found {id}"));
    }
    let (body, ty) = rhs
        .rsplit_once(" : ")
        .ok_or("expected ` : type` at the end")?;
    let ty = parse_type(ty.trim())?;
    let mut words = body.split_whitespace();
    let name = words.next().ok_or("expected an op")?;
    let mut attrs: HashMap<&str, &str> = HashMap::new();
    let mut plain = Vec::new();
    let mut args = Vec::new();
    for w in words {
        let w = w.trim_end_matches(',');
        if w.starts_with('%') {
            args.push(node_id(w)?);
        } else if let Some((k, v)) = w.split_once('=') {
            attrs.insert(k, v);
        } else {
            plain.push(w);
        }
    }
    let op = parse_op(name, &attrs, &plain)?;
    Ok(Node {
        op,
        args,
        ty,
        loc: None,
    })
}

fn parse_type(s: &str) -> Result<TensorTy, String> {
    let (dtype, rest) = s
        .split_once('[')
        .ok_or_else(|| format!("`{s}` is not a type (`f32[B, 64]`)"))?;
    let dtype = DType::from_name(dtype).ok_or_else(|| format!("unknown dtype `{dtype}`"))?;
    let dims = rest
        .strip_suffix(']')
        .ok_or_else(|| format!("`{s}` lacks its `]`"))?;
    let shape = if dims.trim().is_empty() {
        Vec::new()
    } else {
        dims.split(',')
            .map(|d| d.trim().parse::<Size>())
            .collect::<Result<_, _>>()?
    };
    Ok(TensorTy::new(dtype, shape))
}

fn parse_op(name: &str, attrs: &HashMap<&str, &str>, plain: &[&str]) -> Result<Op, String> {
    let num = |key: &str| -> Result<usize, String> {
        attrs
            .get(key)
            .ok_or_else(|| format!("`{name}` needs `{key}=`"))?
            .parse()
            .map_err(|_| format!("`{key}` of `{name}` must be a number"))
    };
    let size = |key: &str| -> Result<Size, String> {
        attrs
            .get(key)
            .ok_or_else(|| format!("`{name}` needs `{key}=`"))?
            .parse()
    };
    let list = |key: &str| -> Result<Vec<usize>, String> {
        let v = attrs
            .get(key)
            .ok_or_else(|| format!("`{name}` needs `{key}=[..]`"))?;
        let inner = v
            .strip_prefix('[')
            .and_then(|v| v.strip_suffix(']'))
            .ok_or_else(|| format!("`{key}` of `{name}` must be a list like [0,1]"))?;
        if inner.is_empty() {
            return Ok(Vec::new());
        }
        inner
            .split(',')
            .map(|x| x.parse().map_err(|_| format!("`{x}` is not an axis")))
            .collect()
    };
    let word = || -> Result<&str, String> {
        plain
            .first()
            .copied()
            .ok_or_else(|| format!("`{name}` needs a value"))
    };
    if let Some(u) = UnaryOp::from_name(name) {
        return Ok(Op::Unary(u));
    }
    if let Some(b) = BinaryOp::from_name(name) {
        return Ok(Op::Binary(b));
    }
    if let Some(dist) = name.strip_prefix("random_").and_then(Dist::from_name) {
        let key = match attrs.get("key").copied() {
            Some("sample") => RandomKey::Sample,
            Some("step") => RandomKey::Step,
            _ => return Err(format!("`{name}` needs `key=sample` or `key=step`")),
        };
        let stream = num("stream")?;
        let stream = u32::try_from(stream).map_err(|_| "stream is too large".to_string())?;
        return Ok(Op::Random { dist, stream, key });
    }
    if let Some(op) = name.strip_prefix("reduce_").and_then(ReduceOp::from_name) {
        return Ok(Op::Reduce {
            op,
            axes: list("axes")?,
        });
    }
    for (suffix, grad) in [("_pool", false), ("_pool_grad", true)] {
        if let Some(kind) = name.strip_suffix(suffix).and_then(PoolKind::from_name) {
            let (k, stride) = (num("k")?, num("stride")?);
            return Ok(if grad {
                Op::PoolGrad { kind, k, stride }
            } else {
                Op::Pool { kind, k, stride }
            });
        }
    }
    Ok(match name {
        "input" => Op::Input(word()?.parse()?),
        "const" => Op::constant(
            word()?
                .parse::<f64>()
                .map_err(|_| format!("`{}` is not a number", plain[0]))?,
        ),
        "size" => Op::SizeOf(word()?.parse()?),
        "iota" => Op::Iota(num("axis")?),
        "select" => Op::Select,
        "cast" => Op::Cast,
        "argmax" => Op::ArgMax(num("axis")?),
        "broadcast" => Op::Broadcast,
        "reshape" => Op::Reshape,
        "permute" => Op::Permute(list("perm")?),
        "concat" => Op::Concat(num("axis")?),
        "slice" => Op::Slice {
            axis: num("axis")?,
            start: size("start")?,
            end: size("end")?,
        },
        "matmul" => Op::MatMul,
        "conv" => Op::Conv {
            stride: num("stride")?,
            pad: num("pad")?,
        },
        "conv_input_grad" => Op::ConvInputGrad {
            stride: num("stride")?,
            pad: num("pad")?,
        },
        "conv_weight_grad" => Op::ConvWeightGrad {
            stride: num("stride")?,
            pad: num("pad")?,
        },
        "gather" => Op::Gather,
        "scatter_add" => Op::ScatterAdd,
        other => return Err(format!("unknown op `{other}`")),
    })
}
