//! `dlpc devices`: the GPU adapters wgpu finds, best first, with the limits
//! that decide what fits (the largest buffer a kernel binds, workgroup
//! sizes), and which one training would use.

use dlp_runtime::gpu::{self, AdapterSummary};
use std::process::ExitCode;

pub fn run() -> ExitCode {
    let adapters = gpu::adapters();
    if adapters.is_empty() {
        say!("{}", gpu::NO_ADAPTER);
        say!("`--device auto` trains on the CPU.");
        return ExitCode::SUCCESS;
    }
    for (i, a) in adapters.iter().enumerate() {
        say!("{}", describe(i, a));
    }
    let best = &adapters[0];
    say!("`--device gpu` uses adapter 0 ({}).", best.name);
    if best.hardware {
        say!("`--device auto` uses adapter 0.");
    } else {
        say!("`--device auto` trains on the CPU: adapter 0 is software, slower than the CPU back end.");
    }
    ExitCode::SUCCESS
}

fn describe(i: usize, a: &AdapterSummary) -> String {
    let l = &a.limits;
    let mib = |b: u64| format!("{} MiB", b >> 20);
    format!(
        "{i}: {} ({}, {})\n   driver: {}\n   largest buffer binding: {}, buffer: {}\n   \
         storage buffers per kernel: {}, workgroup: {} invocations, {} bytes shared\n   \
         workgroups per dispatch axis: {}",
        a.name,
        a.backend,
        a.kind,
        if a.driver.is_empty() {
            "(not reported)"
        } else {
            &a.driver
        },
        mib(l.max_storage_buffer_binding_size),
        mib(l.max_buffer_size),
        l.max_storage_buffers_per_shader_stage,
        l.max_compute_invocations_per_workgroup,
        l.max_compute_workgroup_storage_size,
        l.max_compute_workgroups_per_dimension,
    )
}
