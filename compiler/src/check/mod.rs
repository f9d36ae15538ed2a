//! Type and shape checking.
//!
//! Every expression gets a dtype and a shape, in symbols where the sizes are
//! the caller's to choose (`f32[..N, out]`). The checker works in passes:
//!
//! 1. [`signature`]: every `fn`'s parameter and result types;
//! 2. [`body`]: each `fn` and `model` body, calls checked against the
//!    callee's signature (never its body: a body is checked once, generically);
//! 3. [`dataset`]: per-sample field types, sources and splits;
//! 4. [`train`]: model inputs bound to dataset fields, loss and metrics, settings.
//!
//! Errors never stop the pass: a broken expression gets [`Type::Error`],
//! which everything downstream accepts silently, so each mistake is reported
//! once.

mod body;
pub mod builtins;
pub(crate) mod call;
mod dataset;
mod error;
mod expr;
pub mod hyper;
mod index;
mod metrics;
mod movement;
mod signature;
mod sources;
mod statistics;
mod train;
pub use train::SETTINGS;
mod window;
mod written;

pub use error::CheckError;
pub use signature::{FnSig, ParamKind, ParamSig};
/// The settings a `train` block accepts, each with what it holds (for the editor).
pub use train::SETTINGS as TRAIN_SETTINGS;

use crate::diagnostic::Loc;
use crate::load::Program;
use crate::resolve::{Binding, DefId, Scopes};
use crate::types::{TensorType, Type};
use std::collections::HashMap;

/// What checking learned about the program, for later stages and the editor.
#[derive(Clone, Debug, Default)]
pub struct Checked {
    /// The type of every checked expression and declared name.
    pub types: Vec<(Loc, Type)>,
    /// Each use of a name and the place it refers to.
    pub references: Vec<(Loc, Loc)>,
    pub functions: HashMap<DefId, FnSig>,
    pub models: HashMap<DefId, ModelSig>,
    pub datasets: HashMap<DefId, DatasetInfo>,
}

/// A model's interface, in its own size names (`B`, `hidden`).
#[derive(Clone, Debug)]
pub struct ModelSig {
    pub name: String,
    pub params: Vec<ParamSig>,
    pub inputs: Vec<(String, TensorType, Loc)>,
    pub outputs: Vec<(String, Type, Loc)>,
    pub loc: Loc,
    /// An input whose written type has an error (already reported): the
    /// train block binds nothing to the model, and checks nothing that
    /// reads the data.
    pub broken_input: bool,
}

/// A dataset's per-sample fields and its splits.
#[derive(Clone, Debug)]
pub struct DatasetInfo {
    pub name: String,
    pub fields: Vec<(String, TensorType, Loc)>,
    /// Fields whose expression has an error (already reported): uses of
    /// them are not reported again.
    pub broken_fields: Vec<(String, Loc)>,
    pub splits: Vec<(String, Loc)>,
    pub loc: Loc,
}

pub fn check(program: &Program, scopes: &Scopes) -> (Checked, Vec<CheckError>) {
    let mut cx = Checker {
        program,
        scopes,
        out: Checked::default(),
        errors: Vec::new(),
        calls: Vec::new(),
    };
    cx.out.functions = signature::all(&mut cx);
    body::all(&mut cx);
    dataset::all(&mut cx);
    train::all(&mut cx);
    body::report_recursion(&mut cx);
    (cx.out, cx.errors)
}

pub(crate) struct Checker<'p> {
    pub program: &'p Program,
    pub scopes: &'p Scopes,
    pub out: Checked,
    pub errors: Vec<CheckError>,
    /// Calls between user functions, for the recursion check: caller, callee, place.
    pub calls: Vec<(DefId, DefId, Loc)>,
}

impl Checker<'_> {
    pub fn error(&mut self, e: CheckError) -> Type {
        self.errors.push(e);
        Type::Error
    }

    pub fn file(&self, module: usize) -> crate::diagnostic::FileId {
        self.program.modules[module].file
    }

    pub fn item(&self, def: DefId) -> &dlp_grammar::ast::Item {
        &self.program.modules[def.module].ast.items[def.item]
    }

    pub fn def_loc(&self, def: DefId) -> Loc {
        let item = self.item(def);
        let span = item.name().map_or(item.span(), |n| n.span);
        Loc::new(self.file(def.module), span)
    }

    /// A top-level name in a module's scope.
    pub fn lookup(&self, module: usize, name: &str) -> Option<(Binding, Loc)> {
        self.scopes.modules[module].names.get(name).copied()
    }
}
