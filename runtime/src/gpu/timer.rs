//! The GPU's clock for `dlpc run --profile` (see [`crate::profile`]). Each
//! kernel is then dispatched in a compute pass of its own with timestamps
//! at its start and end (the adapter must offer timestamp queries), and
//! the steps wait for each other: a profiled run is slower, its shares are
//! what counts.

use super::device::Gpu;

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
