//! A training step on the CPU back end, in steady state, allocates no
//! tensor-sized buffer: temporaries reuse the buffers of values no longer
//! needed, gradients reuse the buffers the caller gives back (last step's),
//! and the update writes the new parameters and optimiser state over the
//! old ones the caller hands over — as the training loop does. Counted with a global allocator: every
//! allocation of 64 KiB or more, per step, on the W1 MLP's two groups at
//! its batch of 128 (where a fresh buffer costs page faults and zeroing).
//! What remains: bookkeeping (small), and `gemm`'s packing space, one
//! buffer per matrix product, allocated inside the crate (from the heap's
//! free lists once warm: no page faults).
//!
//! So the update group allocates nothing that large, and the forward and
//! backward group one buffer per matrix product — plus, once per thread,
//! `gemm`'s per-thread scratch, made whenever a pool thread first runs a
//! product (under load that can be a few steps in).

mod common;

use common::{compiled, inputs_at, Gen};
use dlp_compiler::fuse;
use dlp_compiler::ir::{Input, Output};
use dlp_runtime::cpu::CpuStep;
use dlp_runtime::Tensor;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Allocations of at least this many bytes are counted.
const LARGE: usize = 64 * 1024;

/// W1's batch.
const BATCH: usize = 128;

static LARGE_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= LARGE {
            LARGE_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= LARGE {
            LARGE_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= LARGE {
            LARGE_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn a_steady_training_step_allocates_no_large_buffer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let program = compiled(&root.join("bench/w1_mlp.dlp"));
    let mut gen = Gen(1);
    let feeds = inputs_at(program.train.gradients.graph(), &program, &mut gen, BATCH);
    // Parameters and optimiser state, owned as the training loop owns
    // them, and handed to the update; hyper-parameters, looked up.
    let (mut held, hypers): (HashMap<Input, Tensor>, HashMap<Input, Tensor>) =
        inputs_at(program.train.update.graph(), &program, &mut gen, BATCH)
            .into_iter()
            .filter(|(i, _)| !matches!(i, Input::Gradient(_)))
            .partition(|(i, _)| matches!(i, Input::Param(_) | Input::OptimizerState { .. }));
    let mut gradients = CpuStep::new(&program.train.gradients).expect("a CPU step");
    let mut update = CpuStep::new(&program.train.update).expect("a CPU step");
    let products = fuse::fuse(&program.train.gradients)
        .kernels
        .iter()
        .filter(|k| k.kind == fuse::KernelKind::Contraction)
        .count();
    let count = || LARGE_ALLOCATIONS.load(Ordering::Relaxed);
    let address = |t: &Tensor| t.as_f32().expect("f32").as_ptr();
    let (mut in_gradients, mut in_update) = (Vec::new(), Vec::new());
    for _ in 0..8 {
        let before = count();
        let forward = gradients
            .run(BATCH, &|i| {
                held.get(i)
                    .or_else(|| hypers.get(i))
                    .or_else(|| feeds.get(i))
            })
            .expect("runs");
        in_gradients.push(count() - before);
        let grads: HashMap<Input, &Tensor> = forward
            .iter()
            .filter_map(|(o, t)| match o {
                Output::Gradient(p) => Some((Input::Gradient(p.clone()), t)),
                _ => None,
            })
            .collect();
        let owned: Vec<(Input, Tensor)> = held.drain().collect();
        let addresses: HashMap<Input, *const f32> =
            owned.iter().map(|(i, t)| (i.clone(), address(t))).collect();
        let before = count();
        let updated = update
            .run_owning(
                BATCH,
                &|i| grads.get(i).copied().or_else(|| hypers.get(i)),
                owned,
            )
            .expect("runs");
        in_update.push(count() - before);
        drop(grads);
        gradients.recycle(forward.into_iter().map(|(_, t)| t));
        for (output, t) in updated {
            let key = match output {
                Output::NewParam(p) => Input::Param(p),
                Output::NewOptimizerState { slot, param } => Input::OptimizerState { slot, param },
                _ => continue,
            };
            // Every update is written over the value it replaces.
            assert_eq!(addresses.get(&key), Some(&address(&t)), "{key} in place");
            held.insert(key, t);
        }
    }
    // The first steps compile and fill the pools.
    assert!(
        in_update[2..].iter().all(|&n| n == 0),
        "update: large allocations per step: {in_update:?}"
    );
    let once_per_thread: usize = in_gradients[2..]
        .iter()
        .map(|&n| n.saturating_sub(products))
        .sum();
    assert!(
        once_per_thread <= dlp_runtime::cpu::threads(),
        "forward and backward ({products} matrix products): large allocations per step: {in_gradients:?}"
    );
}
