//! Fusion and the memory plan on real programs: every step of every
//! example (and of the W1 benchmark MLP) is cut into kernels that compute
//! each node once, in an order that respects their reads, with a memory
//! plan that passes its own check; and the kernel counts of W1 are pinned,
//! so a change to fusion that adds kernels is seen.

mod common;

use common::{compiled, programs};
use dlp_compiler::fuse::{self, KernelKind, Kernels};
use dlp_compiler::ir::{Graph, Op, OpKind, Size, Verified};
use dlp_compiler::plan;
use dlp_compiler::{compile, lower, NoModules};
use std::path::Path;

/// Every rule a cut must keep, as messages.
fn broken(graph: &Graph, kernels: &Kernels) -> Vec<String> {
    let mut errors = Vec::new();
    let live = graph.live();
    let mut computed_by = vec![None; graph.len()];
    for (i, k) in kernels.kernels.iter().enumerate() {
        for &r in &k.reads {
            let ok = matches!(graph.node(r).op, Op::Input(_))
                || kernels.kernels[..i].iter().any(|e| e.root() == r);
            if !ok {
                errors.push(format!("{} reads {r} before any kernel writes it", k.id));
            }
        }
        for &n in &k.nodes {
            // A transpose that matrix products read in place (the same
            // activation feeding several products' weight gradients) is
            // folded into each of them, not computed.
            let read_in_place = k.kind == KernelKind::Contraction
                && matches!(&graph.node(n).op, Op::Permute(p) if fuse::swaps_last_two(p));
            if read_in_place {
                computed_by[n.index()] = Some(i);
                continue;
            }
            let free = graph.node(n).ty.numel() == Some(Size::ONE)
                || matches!(graph.node(n).op.kind(), OpKind::Source)
                || matches!(graph.node(n).op, Op::Reshape | Op::Broadcast);
            if free {
                continue; // recomputed wherever read
            }
            if let Some(j) = computed_by[n.index()] {
                errors.push(format!("{n} is computed by k{j} and {}", k.id));
            }
            computed_by[n.index()] = Some(i);
        }
    }
    for id in graph.ids().filter(|id| live[id.index()]) {
        let node = graph.node(id);
        let must = !matches!(node.op.kind(), OpKind::Source)
            && !matches!(node.op, Op::Reshape | Op::Broadcast)
            && node.ty.numel() != Some(Size::ONE);
        if must && computed_by[id.index()].is_none() {
            errors.push(format!(
                "{id} ({}) is computed by no kernel",
                node.op.text()
            ));
        }
    }
    for (output, id) in &graph.outputs {
        let written = matches!(graph.node(*id).op, Op::Input(_))
            || kernels.kernels.iter().any(|k| k.root() == *id);
        if !written {
            errors.push(format!("output {output} is written by no kernel"));
        }
    }
    errors
}

fn check_step(name: &str, step: &Verified) -> usize {
    let kernels = fuse::fuse(step);
    let errors = broken(step.graph(), &kernels);
    assert!(errors.is_empty(), "{name}:\n{}", errors.join("\n"));
    let plan = plan::plan(step, &kernels);
    let errors = plan.check(step.graph());
    assert!(
        errors.is_empty(),
        "{name} memory plan:\n{}",
        errors.join("\n")
    );
    kernels.kernels.len()
}

#[test]
fn every_step_of_every_example_is_cut_and_planned_soundly() {
    for path in programs() {
        let program = compiled(&path);
        for (title, step) in program.steps() {
            check_step(&format!("{}, {title}", path.display()), step);
        }
    }
}

#[test]
fn the_w1_steps_have_a_known_number_of_kernels() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let program = compiled(&root.join("bench/w1_mlp.dlp"));
    let counts: Vec<usize> = program
        .steps()
        .iter()
        .map(|(title, step)| check_step(title, step))
        .collect();
    // Forward and backward (the backward's matmuls read their transposed
    // operands in place: no transpose kernels), the Adam update of six
    // parameters (one kernel per output: parameter, first and second
    // moment), evaluation.
    assert_eq!(counts, [32, 18, 11], "kernels per step changed");
    // On the CPU, each parameter's three update kernels run as one pass
    // over its memory: six passes for six parameters (and two elementwise
    // kernels of the loss's gradient share one).
    let passes: Vec<usize> = program
        .steps()
        .iter()
        .map(|(_, step)| {
            dlp_runtime::cpu::CpuStep::new(step)
                .expect("a CPU step")
                .passes(128)
        })
        .collect();
    assert_eq!(passes, [31, 6, 11], "passes per step on the CPU changed");
}

#[test]
fn a_linear_layer_and_its_activation_are_one_kernel() {
    let text = r#"
use std.nn.{linear, relu}
use std.loss.mse
use std.optim.sgd
dataset d {
    source = csv("d.csv", header = true)
    x      = columns(0..3) as f32[3]
    y      = columns(3..4) as f32[1]
}
model M {
    input x: f32[B, 3]
    h = relu(linear(x, 4))
    output p = linear(h, 1)
}
train t {
    model  = M()
    data   = d
    epochs = 1
    loss      = mse(p, y)
    optimizer = sgd()
}
"#;
    let comp = compile("t.dlp", text, &mut NoModules);
    assert!(!comp.has_errors(), "{:?}", comp.diagnostics);
    let program = lower::compile(&comp, None).unwrap();
    let step = &program.eval[0].step;
    let kernels = fuse::fuse(step);
    let matmul = kernels
        .kernels
        .iter()
        .find(|k| k.kind == KernelKind::Contraction)
        .expect("a contraction kernel");
    let ops: Vec<String> = matmul
        .nodes
        .iter()
        .map(|&n| step.node(n).op.text())
        .collect();
    assert!(
        ops.iter().any(|o| o == "add") && ops.iter().any(|o| o == "max"),
        "bias and ReLU are the matmul's epilogue: {ops:?}"
    );
}
