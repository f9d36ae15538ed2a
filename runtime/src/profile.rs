//! `dlpc run --profile`: where a step's time goes, kernel by kernel, on the
//! CPU (wall time of each kernel, its split across threads included) or on
//! the GPU (the adapter's timestamps, see `gpu::timer`).

use std::collections::BTreeMap;

/// Time spent per kernel, over every run of a step.
#[derive(Default)]
pub struct Profile {
    /// By kernel: what it is (`contraction (matmul)`), its label
    /// (`gradients k3`), nanoseconds.
    pub kernels: BTreeMap<String, (String, f64)>,
}

impl Profile {
    pub fn add(&mut self, label: String, what: String, ns: f64) {
        self.kernels.entry(label).or_insert((what, 0.0)).1 += ns;
    }

    /// The report `dlpc run --profile` prints for `device` (`CPU`, `GPU`):
    /// the share of each kind of kernel, then the kernels that took
    /// longest.
    pub fn report(device: &str, profiles: &[&Profile]) -> String {
        let all: Vec<(&String, &String, f64)> = profiles
            .iter()
            .flat_map(|p| p.kernels.iter().map(|(k, (what, ns))| (k, what, *ns)))
            .collect();
        let total: f64 = all.iter().map(|k| k.2).sum();
        if total <= 0.0 {
            return format!("{device} profile: no kernel time was recorded");
        }
        let mut by_kind: BTreeMap<&str, f64> = BTreeMap::new();
        for (_, what, ns) in &all {
            *by_kind.entry(what.as_str()).or_default() += ns;
        }
        let mut kinds: Vec<(&str, f64)> = by_kind.into_iter().collect();
        kinds.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut out = format!(
            "{device} time in kernels: {:.1} ms; by kind:\n",
            total / 1e6
        );
        for (kind, ns) in kinds {
            out.push_str(&format!("  {:5.1}%  {kind}\n", 100.0 * ns / total));
        }
        let mut top = all.clone();
        top.sort_by(|a, b| b.2.total_cmp(&a.2));
        out.push_str("the longest kernels:\n");
        for (label, what, ns) in top.iter().take(8) {
            out.push_str(&format!("  {:5.1}%  {label}  {what}\n", 100.0 * ns / total));
        }
        out.trim_end().to_string()
    }
}

/// What a kernel is, as a profile names it: its kind, and the op it is
/// built around (`contraction (matmul)`).
pub fn kernel_kind(graph: &dlp_compiler::ir::Graph, k: &dlp_compiler::fuse::Kernel) -> String {
    match k.anchor {
        Some(a) => format!("{} ({})", k.kind.name(), graph.node(a).op.text()),
        None => k.kind.name().to_string(),
    }
}
