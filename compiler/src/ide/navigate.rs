//! From an identifier to its symbol, and from a symbol to every place it
//! occurs: go-to-definition, find references and rename.
//!
//! A symbol is named by its definition's place (see [`Symbol`]). Imports are
//! followed to what they import, so `linear` in a body, in
//! `use std.nn.{linear}` and in `std/nn.dlp` are one symbol; a local assigned
//! twice in one body is one symbol, named by its first definition.

use super::index::{Block, DefKind, Occurrence, Role, Symbol};
use super::text::is_identifier;
use super::{Analysis, FileRange, TextEdit};
use crate::check::builtins;
use crate::diagnostic::{FileId, Loc};
use crate::load::resolve_use;
use crate::resolve::{Binding, DefId};
use dlp_grammar::ast::Item;
use dlp_grammar::Span;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RenameError {
    /// The cursor is on nothing the program defines (a built-in, a stdlib
    /// name, a setting, punctuation).
    NotRenamable(String),
    /// The new name is not an identifier, or is a keyword.
    InvalidName(String),
}

impl fmt::Display for RenameError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            RenameError::NotRenamable(why) | RenameError::InvalidName(why) => f.write_str(why),
        }
    }
}

impl Analysis {
    pub(super) fn text_at(&self, loc: Loc) -> &str {
        self.file(loc.file).slice(loc.span)
    }

    /// The identifier at `offset` of the root file and what it names.
    pub(super) fn symbol_at(&self, offset: usize) -> Option<(&Occurrence, Symbol)> {
        let root = self.root();
        let occurrence = self.index.at(root, offset)?;
        let symbol = self.resolve_occurrence(root, occurrence)?;
        Some((occurrence, symbol))
    }

    pub(super) fn resolve_occurrence(&self, file: FileId, o: &Occurrence) -> Option<Symbol> {
        let loc = Loc::new(file, o.span);
        let text = self.text_at(loc);
        match &o.role {
            Role::Def => Some(self.canonical(loc)),
            Role::Use { .. } => match self.references.get(&loc) {
                Some(def) => Some(self.canonical(*def)),
                None => builtins::find(text).map(|b| Symbol::Builtin(b.name)),
            },
            Role::NamedArg { callee } => self.named_arg(file, *callee, text),
            Role::Setting(block) => Some(Symbol::Setting(*block, text.to_string())),
            Role::Import { path } => {
                let target = resolve_use(&self.compilation.program, path)?;
                match target.rest.as_slice() {
                    [] => Some(Symbol::Module(target.module)),
                    [name] => self
                        .item_named(target.module, name)
                        .map(|def| Symbol::Def(self.def_loc(def))),
                    _ => None,
                }
            }
            Role::Size { owner } => Some(
                self.param_of(*owner, text)
                    .map_or_else(|| Symbol::Size(*owner, text.to_string()), Symbol::Def),
            ),
        }
    }

    /// The symbol a definition place stands for: an import's target, a
    /// local's first definition, or the place itself.
    pub(super) fn canonical(&self, loc: Loc) -> Symbol {
        if let Some(def) = self.index.defs.get(&loc) {
            return Symbol::Def(def.first);
        }
        match self.import_binding(loc) {
            Some(Binding::Item(def)) => Symbol::Def(self.def_loc(def)),
            Some(Binding::Module(m)) => Symbol::Module(m),
            None => Symbol::Def(loc),
        }
    }

    /// What the `use` that binds a name at `loc` brings in.
    fn import_binding(&self, loc: Loc) -> Option<Binding> {
        let module = self
            .compilation
            .program
            .modules
            .iter()
            .position(|m| m.file == loc.file)?;
        self.scopes()
            .modules
            .get(module)?
            .names
            .values()
            .find_map(|(binding, at)| (*at == loc).then_some(*binding))
    }

    /// `p` in `dropout(h, p = 0.1)`: the callee's parameter of that name.
    fn named_arg(&self, file: FileId, callee: Span, name: &str) -> Option<Symbol> {
        let callee_loc = Loc::new(file, callee);
        let Some(def) = self.references.get(&callee_loc) else {
            let callee_name = self.text_at(callee_loc);
            return builtins::find(callee_name).map(|b| Symbol::Builtin(b.name));
        };
        let Symbol::Def(item_loc) = self.canonical(*def) else {
            return None;
        };
        let owner = self.index.defs.get(&item_loc)?.owner;
        self.param_of(owner, name).map(Symbol::Def)
    }

    /// The place of parameter `name` of the fn or model `owner`.
    pub(super) fn param_of(&self, owner: DefId, name: &str) -> Option<Loc> {
        let module = self.compilation.program.modules.get(owner.module)?;
        let params = match module.ast.items.get(owner.item)? {
            Item::Fn(f) => &f.params,
            Item::Model(m) => &m.params,
            _ => return None,
        };
        let p = params.iter().find(|p| p.name.name == name)?;
        Some(Loc::new(module.file, p.name.span))
    }

    pub(super) fn item_named(&self, module: usize, name: &str) -> Option<DefId> {
        let items = &self.compilation.program.modules.get(module)?.ast.items;
        let item = items
            .iter()
            .position(|i| i.name().is_some_and(|n| n.name == name))?;
        Some(DefId { module, item })
    }

    pub(super) fn def_loc(&self, def: DefId) -> Loc {
        let module = &self.compilation.program.modules[def.module];
        let item = &module.ast.items[def.item];
        Loc::new(module.file, item.name().map_or(item.span(), |n| n.span))
    }

    /// Every occurrence of `symbol` in every file, in file and source order.
    fn occurrences_of(&self, symbol: &Symbol) -> Vec<(Loc, &Occurrence)> {
        let mut found = Vec::new();
        let mut files: Vec<&FileId> = self.index.occurrences.keys().collect();
        files.sort();
        for file in files {
            for o in &self.index.occurrences[file] {
                if self.resolve_occurrence(*file, o).as_ref() == Some(symbol) {
                    found.push((Loc::new(*file, o.span), o));
                }
            }
        }
        found
    }
}

pub fn definition(a: &Analysis, offset: usize) -> Option<FileRange> {
    match a.symbol_at(offset)?.1 {
        Symbol::Def(loc) => Some(loc.into()),
        Symbol::Module(m) => Some(FileRange {
            file: a.compilation.program.modules.get(m)?.file,
            span: Span::new(0, 0),
        }),
        Symbol::Builtin(_) | Symbol::Setting(..) | Symbol::Size(..) => None,
    }
}

pub fn references(a: &Analysis, offset: usize, include_declaration: bool) -> Vec<FileRange> {
    let Some((_, symbol)) = a.symbol_at(offset) else {
        return Vec::new();
    };
    let declaration = match &symbol {
        Symbol::Def(loc) => Some(*loc),
        _ => None,
    };
    a.occurrences_of(&symbol)
        .into_iter()
        .filter(|(loc, o)| {
            include_declaration || !(o.role == Role::Def && Some(*loc) == declaration)
        })
        .map(|(loc, _)| loc.into())
        .collect()
}

pub fn prepare_rename(a: &Analysis, offset: usize) -> Result<Span, RenameError> {
    let (occurrence, symbol) = a
        .symbol_at(offset)
        .ok_or_else(|| RenameError::NotRenamable("no name here".to_string()))?;
    renamable(a, &symbol)?;
    Ok(occurrence.span)
}

pub fn rename(a: &Analysis, offset: usize, new_name: &str) -> Result<Vec<TextEdit>, RenameError> {
    let (_, symbol) = a
        .symbol_at(offset)
        .ok_or_else(|| RenameError::NotRenamable("no name here".to_string()))?;
    let old_name = renamable(a, &symbol)?;
    if !is_identifier(new_name) {
        return Err(RenameError::InvalidName(format!(
            "`{new_name}` is not a name: use letters, digits and `_`, not starting with a digit, and no keyword"
        )));
    }
    // An alias (`use m.{block as b}`) keeps its own spelling.
    Ok(a.occurrences_of(&symbol)
        .into_iter()
        .filter(|(loc, _)| a.text_at(*loc) == old_name)
        .map(|(loc, _)| TextEdit {
            file: loc.file,
            span: loc.span,
            new_text: new_name.to_string(),
        })
        .collect())
}

/// The symbol's name, if the user's own files define it.
fn renamable(a: &Analysis, symbol: &Symbol) -> Result<String, RenameError> {
    let not = |what: &str| {
        Err(RenameError::NotRenamable(format!(
            "{what} cannot be renamed"
        )))
    };
    match symbol {
        Symbol::Def(loc) if a.file(loc.file).is_stdlib => not("a standard library name"),
        Symbol::Def(loc) => match a.index.defs.get(loc) {
            Some(def) if def.kind == DefKind::Field && binds_an_input(a, &def.name) => {
                not("a dataset field that a model input binds to by name")
            }
            Some(def) => Ok(def.name.clone()),
            None => not("this name"),
        },
        Symbol::Module(_) => not("a module"),
        Symbol::Builtin(_) => not("a built-in function"),
        Symbol::Setting(Block::Train, _) | Symbol::Setting(Block::Dataset, _) => not("a setting"),
        Symbol::Size(..) => not("a size name"),
    }
}

/// Whether some model has an input called `name` (bound to the field by name).
fn binds_an_input(a: &Analysis, name: &str) -> bool {
    a.compilation
        .checked
        .models
        .values()
        .any(|m| m.inputs.iter().any(|(input, _, _)| input == name))
}
