//! The dlp compiler: from `.dlp` text to a checked program.
//!
//! Stages, in order (each consumes the previous one's output):
//! - [`load`]: parse the root file and every module it `use`s
//!   (pest grammar in `dlp-grammar`; the stdlib is embedded, see [`stdlib`]);
//! - [`resolve`]: what each top-level name refers to, across modules;
//! - [`check`]: names inside bodies, types and shapes of every expression,
//!   datasets and train blocks (symbolic dims in [`types`]);
//! - [`lower`]: a `train` block to graphs of primitive ops ([`ir`]), with
//!   [`autodiff`] for the backward pass and [`optim`] for the update, into
//!   the [`program::CompiledProgram`] the runtime executes.
//!
//! Then, for the back ends: [`fuse`] cuts a step into kernels, [`plan`]
//! lays out their memory, [`wgsl`] generates (and validates) the GPU's
//! compute shaders and [`clif`] the CPU's functions as Cranelift IR (see
//! the book's `internals/architecture.md`).
//!
//! The compiler is pure: no file system, no threads, no devices. Drivers
//! supply user modules through a [`Loader`] and print diagnostics with
//! [`render`]/[`render_json`].

pub mod autodiff;
pub mod check;
pub mod clif;
pub mod diagnostic;
pub mod fuse;
pub mod ide;
pub mod ir;
pub mod lint;
pub mod load;
pub mod lower;
pub mod onnx;
pub mod optim;
pub mod plan;
pub mod program;
mod render;
pub mod resolve;
pub mod source;
pub mod stdlib;
pub mod summary;
pub mod types;
pub mod wgsl;

pub use check::Checked;
pub use diagnostic::{Diagnostic, FileId, Loc, Severity};
pub use load::Program;
pub use program::CompiledProgram;
pub use render::{render, render_json};
pub use resolve::Scopes;
pub use source::{Loader, NoModules, SourceFile, SourceMap};

/// Everything `dlpc check` computes about one program.
pub struct Compilation {
    pub program: Program,
    pub scopes: Scopes,
    pub checked: Checked,
    /// Every problem found, in the order of the files and then of the source.
    pub diagnostics: Vec<Diagnostic>,
}

impl Compilation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Loads, resolves and checks a program whose root file is `name` with
/// text `text`. Never panics on any input.
pub fn compile(name: &str, text: &str, loader: &mut dyn Loader) -> Compilation {
    let (program, mut diagnostics) = load::load(name, text, loader);
    let (scopes, resolve_errors) = resolve::resolve(&program);
    diagnostics.extend(resolve_errors.iter().map(|e| e.diagnostic()));
    let (checked, check_errors) = check::check(&program, &scopes);
    diagnostics.extend(check_errors.iter().map(|e| e.diagnostic()));
    // Warnings only for a program without errors: one mistake, one message.
    if !diagnostics.iter().any(Diagnostic::is_error) {
        diagnostics.extend(lint::lint(&program, &scopes, &checked));
    }
    diagnostics.sort_by_key(|d| (d.primary.loc.file, d.primary.loc.span.start));
    diagnostics.dedup();
    Compilation {
        program,
        scopes,
        checked,
        diagnostics,
    }
}
