//! `dlpc run --profile`: how the GPU's time goes, kernel by kernel. Each
//! kernel is then dispatched in a compute pass of its own with timestamps
//! at its start and end (the adapter must offer timestamp queries), and
//! the steps wait for each other: a profiled run is slower, its shares are
//! what counts.

use super::device::Gpu;
use std::collections::BTreeMap;

/// Timestamps for the `n` kernels of one step at one batch size.
pub(super) struct Timer {
    pub queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    read: wgpu::Buffer,
    n: u32,
}

impl Timer {
    pub fn new(gpu: &Gpu, n: usize) -> Timer {
        let n = n.max(1) as u32;
        let bytes = 16 * n as u64;
        Timer {
            queries: gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("kernel times"),
                ty: wgpu::QueryType::Timestamp,
                count: 2 * n,
            }),
            resolve: gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("kernel times"),
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            read: gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("kernel times"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            n,
        }
    }

    /// The timestamps of kernel `i`'s pass.
    pub fn writes(&self, i: usize) -> wgpu::ComputePassTimestampWrites<'_> {
        wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(2 * i as u32),
            end_of_pass_write_index: Some(2 * i as u32 + 1),
        }
    }

    /// Records copying the timestamps to where they can be read.
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.resolve_query_set(&self.queries, 0..2 * self.n, &self.resolve, 0);
        encoder.copy_buffer_to_buffer(&self.resolve, 0, &self.read, 0, self.resolve.size());
    }

    /// Each kernel's time in nanoseconds, once the submission has run.
    pub fn read(&self, gpu: &Gpu) -> Vec<f64> {
        self.read.map_async(wgpu::MapMode::Read, .., |_| {});
        let _ = gpu.device.poll(wgpu::PollType::wait_indefinitely());
        let period = gpu.queue.get_timestamp_period() as f64;
        let times = match self.read.get_mapped_range(..) {
            Ok(view) => view
                .chunks_exact(16)
                .map(|t| {
                    let start = u64::from_le_bytes(t[..8].try_into().unwrap_or_default());
                    let end = u64::from_le_bytes(t[8..].try_into().unwrap_or_default());
                    end.saturating_sub(start) as f64 * period
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        self.read.unmap();
        times
    }
}

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

    /// The report `dlpc run --profile` prints: the share of each kind of
    /// kernel, then the kernels that took longest.
    pub fn report(profiles: &[&Profile]) -> String {
        let all: Vec<(&String, &String, f64)> = profiles
            .iter()
            .flat_map(|p| p.kernels.iter().map(|(k, (what, ns))| (k, what, *ns)))
            .collect();
        let total: f64 = all.iter().map(|k| k.2).sum();
        if total <= 0.0 {
            return "GPU profile: no kernel time was recorded".into();
        }
        let mut by_kind: BTreeMap<&str, f64> = BTreeMap::new();
        for (_, what, ns) in &all {
            *by_kind.entry(what.as_str()).or_default() += ns;
        }
        let mut kinds: Vec<(&str, f64)> = by_kind.into_iter().collect();
        kinds.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut out = format!("GPU time in kernels: {:.1} ms; by kind:\n", total / 1e6);
        for (kind, ns) in kinds {
            out.push_str(&format!("  {:5.1}%  {kind}\n", 100.0 * ns / total));
        }
        let mut top = all.clone();
        top.sort_by(|a, b| b.2.total_cmp(&a.2));
        out.push_str("the longest kernels:\n");
        for (label, what, ns) in top.iter().take(5) {
            out.push_str(&format!("  {:5.1}%  {label}  {what}\n", 100.0 * ns / total));
        }
        out.trim_end().to_string()
    }
}
