//! The GPU the process computes on: wgpu adapters, how one is chosen, and
//! the one device opened on it (shared by every step of the process, since
//! opening a device is slow).
//!
//! wgpu reports validation errors and device loss through callbacks; they
//! are collected here and turned into errors of the step that ran into
//! them, never a panic.

use std::sync::{Arc, Mutex, OnceLock};

/// An adapter as `dlpc devices` lists it.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub name: String,
    /// `vulkan`, `metal`, `dx12`, `gl`.
    pub backend: String,
    /// `discrete GPU`, `integrated GPU`, `CPU (software)`...
    pub kind: String,
    pub driver: String,
    pub limits: wgpu::Limits,
    /// A real GPU, not a software rasteriser: what `--device auto` picks.
    pub hardware: bool,
}

/// The device every GPU step runs on.
pub struct Gpu {
    pub adapter: AdapterSummary,
    /// Whether kernels can be timed (timestamp queries).
    pub timestamps: bool,
    pub limits: wgpu::Limits,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    errors: Arc<Mutex<Vec<String>>>,
    lost: Arc<Mutex<Option<String>>>,
}

impl Gpu {
    /// What went wrong on the device since the last call: validation or
    /// out-of-memory errors, or the device lost.
    pub fn take_error(&self) -> Option<String> {
        if let Some(lost) = self.lost.lock().ok().and_then(|l| l.clone()) {
            return Some(format!("the GPU ({}) was lost: {lost}", self.adapter.name));
        }
        let mut errors = self.errors.lock().ok()?;
        if errors.is_empty() {
            return None;
        }
        let all = errors.join("\n");
        errors.clear();
        Some(all)
    }
}

fn instance() -> wgpu::Instance {
    quiet_mesa();
    // `WGPU_BACKEND=vulkan` (and the other `WGPU_*` variables) narrow the
    // search.
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

/// Mesa's Vulkan drivers print `error: XDG_RUNTIME_DIR is invalid or not
/// set` (three times) when a process without a desktop session looks for
/// adapters, which every `dlpc run` does (`--device auto`). dlp draws
/// nothing on screen, so a temporary folder serves: set once, before the
/// first instance, while no other thread reads the environment.
fn quiet_mesa() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let valid = std::env::var_os("XDG_RUNTIME_DIR")
            .is_some_and(|dir| std::path::Path::new(&dir).is_dir());
        if !valid {
            std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
        }
    });
}

fn summary(adapter: &wgpu::Adapter) -> AdapterSummary {
    let info = adapter.get_info();
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => "discrete GPU",
        wgpu::DeviceType::IntegratedGpu => "integrated GPU",
        wgpu::DeviceType::VirtualGpu => "virtual GPU",
        wgpu::DeviceType::Cpu => "CPU (software)",
        wgpu::DeviceType::Other => "other",
    };
    AdapterSummary {
        name: info.name.clone(),
        backend: info.backend.to_str().to_string(),
        kind: kind.to_string(),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
        limits: adapter.limits(),
        hardware: matches!(
            info.device_type,
            wgpu::DeviceType::DiscreteGpu
                | wgpu::DeviceType::IntegratedGpu
                | wgpu::DeviceType::VirtualGpu
        ),
    }
}

/// Preference among adapters: discrete, integrated, virtual, software.
fn rank(adapter: &wgpu::Adapter) -> u8 {
    match adapter.get_info().device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    }
}

/// Vulkan, Metal and DX12 adapters; GL ones only where there are none
/// (GL is the fallback, and probing it wakes up EGL, which complains on
/// machines without a display).
fn all_adapters() -> Vec<wgpu::Adapter> {
    let instance = instance();
    let mut adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY));
    if adapters.is_empty() {
        adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::SECONDARY));
    }
    adapters.sort_by_key(rank);
    adapters
}

/// Every adapter wgpu finds, best first.
pub fn adapters() -> Vec<AdapterSummary> {
    all_adapters().iter().map(summary).collect()
}

/// Why no adapter was found, with what to try.
pub const NO_ADAPTER: &str = "no GPU adapter found: wgpu found no Vulkan, Metal, DX12 or GL device. \
On Linux install the Vulkan loader and a driver (for a software adapter: \
`apt-get install mesa-vulkan-drivers libvulkan1`), check `dlpc devices`, or train with `--device cpu`";

static GPU: OnceLock<Result<Gpu, String>> = OnceLock::new();

/// The process's device on the best adapter, opened on first use.
pub fn gpu() -> Result<&'static Gpu, String> {
    GPU.get_or_init(open).as_ref().map_err(Clone::clone)
}

fn open() -> Result<Gpu, String> {
    let adapter = all_adapters().into_iter().next().ok_or(NO_ADAPTER)?;
    let summary = summary(&adapter);
    let limits = adapter.limits();
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("dlp"),
        required_limits: limits.clone(),
        // For `dlpc run --profile`, where the adapter can time kernels.
        required_features: adapter.features() & wgpu::Features::TIMESTAMP_QUERY,
        ..Default::default()
    }))
    .map_err(|e| format!("could not open the GPU ({}): {e}", summary.name))?;
    let errors = Arc::new(Mutex::new(Vec::new()));
    let lost = Arc::new(Mutex::new(None));
    let sink = errors.clone();
    device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
        if let Ok(mut errors) = sink.lock() {
            errors.push(e.to_string());
        }
    }));
    let flag = lost.clone();
    device.set_device_lost_callback(move |reason, message| {
        if let Ok(mut lost) = flag.lock() {
            *lost = Some(format!("{reason:?}: {message}"));
        }
    });
    Ok(Gpu {
        timestamps: device.features().contains(wgpu::Features::TIMESTAMP_QUERY),
        adapter: summary,
        limits,
        device,
        queue,
        errors,
        lost,
    })
}

/// Whether `--device auto` should train on the GPU: a hardware adapter
/// exists (a software one is slower than the CPU back end).
pub fn hardware_available() -> bool {
    could_have_hardware() && all_adapters().iter().any(|a| summary(a).hardware)
}

/// Whether a hardware GPU may be there at all. On Linux a GPU driver
/// gives the process a device file (`/dev/dri/renderD*` for the kernel's
/// drivers, `/dev/nvidia*` for NVIDIA's own, `/dev/dxg` under WSL): without
/// one, asking wgpu
/// would only load every installed driver, software ones included (a
/// software Vulkan driver adds ~60 MB and ~50 ms to every CPU run), to
/// find none. Elsewhere, wgpu is asked.
fn could_have_hardware() -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    let has = |dir: &str, prefix: &str| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
        })
    };
    has("/dev/dri", "renderD") || has("/dev", "nvidia") || has("/dev", "dxg")
}
