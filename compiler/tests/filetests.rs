//! IR filetests, in the manner of Cranelift's: each `tests/ir/*.ir` file is
//! a graph in the textual IR, a `; pass: NAME` line saying what to run on
//! it, and an `; expect:` block with what that pass must print, one `; `
//! line each. The passes:
//!
//! - `verify`: every broken invariant, one per line (`ok` for none);
//! - `print`: the graph printed back (the parser and printer agree);
//! - `prune`: the graph without what no output needs;
//! - `share`: the graph rebuilt through `ir::Builder`, which builds a node
//!   that computes what an earlier one does (same op, operands and type)
//!   only once;
//! - `autodiff`: the graph with the gradient of `loss_sum` with respect to
//!   every `param.*` input added as `grad.*` outputs, verified.
//!
//! `DLP_BLESS=1 cargo test --test filetests` rewrites the expectations
//! from what the passes print now: review the diff before committing.

use dlp_compiler::autodiff::backward;
use dlp_compiler::ir::{self, print, Builder, Graph, Input, Output};
use std::path::Path;

const EXPECT: &str = "; expect:";

#[test]
fn ir_filetests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ir");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/ir exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "ir"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the filetests are missing");
    let bless = std::env::var_os("DLP_BLESS").is_some();
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a readable file");
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let (input, expected) = text.split_once(EXPECT).unwrap_or((&text, ""));
        let got = match run(input) {
            Ok(out) => out,
            Err(e) => format!("error: {e}\n"),
        };
        let want: String = expected
            .lines()
            .filter_map(|l| l.strip_prefix("; ").or(l.strip_prefix(";")))
            .map(|l| format!("{l}\n"))
            .collect();
        if got != want {
            if bless {
                let block: String = got.lines().map(|l| format!("; {l}\n")).collect();
                let updated = format!(
                    "{}{EXPECT}\n{block}",
                    input.trim_end_matches('\n').to_owned() + "\n"
                );
                std::fs::write(file, updated).expect("a writable file");
            } else {
                failures.push(format!("{name}:\n--- expected\n{want}--- got\n{got}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Runs the file's pass on its graph; what it prints.
fn run(input: &str) -> Result<String, String> {
    let pass = input
        .lines()
        .find_map(|l| l.strip_prefix("; pass: "))
        .ok_or("no `; pass:` line")?
        .trim();
    let graph = ir::parse(input).map_err(|e| e.to_string())?;
    match pass {
        "verify" => {
            let errors = ir::verify::check(&graph);
            Ok(if errors.is_empty() {
                "ok\n".into()
            } else {
                errors.iter().map(|e| format!("{e}\n")).collect()
            })
        }
        "print" => Ok(print::text(&graph)),
        "prune" => Ok(print::text(&verified(graph)?.graph().pruned())),
        "share" => Ok(print::text(&rebuilt(verified(graph)?.graph())?)),
        "autodiff" => {
            let differentiated = verified(differentiate(graph)?)?;
            Ok(print::text(differentiated.graph()))
        }
        other => Err(format!("unknown pass `{other}`")),
    }
}

fn verified(graph: Graph) -> Result<ir::Verified, String> {
    ir::verify(graph).map_err(|errors| ir::verify::render(&errors))
}

/// Every node added again through a `Builder`, in order.
fn rebuilt(graph: &Graph) -> Result<Graph, String> {
    let mut b = Builder::new();
    let mut ids = Vec::with_capacity(graph.len());
    for node in &graph.nodes {
        let args: Vec<ir::NodeId> = node.args.iter().map(|a| ids[a.index()]).collect();
        let id = b
            .try_add(node.op.clone(), &args, node.ty.clone())
            .map_err(|e| e.to_string())?;
        ids.push(id);
    }
    for (output, id) in &graph.outputs {
        b.set_output(output.clone(), ids[id.index()]);
    }
    Ok(b.finish())
}

fn differentiate(graph: Graph) -> Result<Graph, String> {
    let graph = verified(graph)?.into_graph();
    let loss = graph
        .output(&Output::LossSum)
        .ok_or("the graph has no `loss_sum` output")?;
    let params: Vec<(String, ir::NodeId)> = graph
        .inputs()
        .filter_map(|(i, id)| match i {
            Input::Param(p) => Some((p.clone(), id)),
            _ => None,
        })
        .collect();
    let mut b = Builder::on(graph);
    let nodes: Vec<ir::NodeId> = params.iter().map(|(_, n)| *n).collect();
    let grads = backward(&mut b, loss, &nodes)?;
    for ((path, _), g) in params.iter().zip(grads) {
        b.set_output(Output::Gradient(path.clone()), g);
    }
    Ok(b.finish())
}
