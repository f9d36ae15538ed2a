//! Name resolution: what each top-level name of each module refers to.
//!
//! A module's scope holds its own declarations and what its `use`s bring in.
//! Local names (parameters, `h = ...`) are the checker's business; the
//! built-in primitives sit behind every scope (see [`builtins`]).
//!
//! [`builtins`]: crate::check::builtins

use crate::diagnostic::{did_you_mean, Diagnostic, Loc};
use crate::load::{resolve_use, Program};
use dlp_grammar::ast::{EntriesDecl, Item, UseDecl};
use std::collections::HashMap;

/// A top-level declaration: module index and item index in its AST.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DefId {
    pub module: usize,
    pub item: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    Item(DefId),
    Module(usize),
}

#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Each name and where it was bound (the declaration's name, or the `use`).
    pub names: HashMap<String, (Binding, Loc)>,
    /// Names a `use` failed to import, or that an item which did not
    /// parse declares (reported there): their uses are not reported again
    /// as unknown.
    pub unusable: std::collections::HashSet<String>,
}

/// One scope per module, in `Program::modules` order.
#[derive(Clone, Debug, Default)]
pub struct Scopes {
    pub modules: Vec<Scope>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ResolveError {
    Duplicate {
        name: String,
        first: Loc,
        second: Loc,
    },
    NotInModule {
        name: String,
        module: String,
        loc: Loc,
        hint: Option<String>,
    },
    ImportCycle {
        at: Loc,
        other: Loc,
        chain: String,
    },
    ExternOutsideStd {
        loc: Loc,
    },
}

impl ResolveError {
    pub fn diagnostic(&self) -> Diagnostic {
        match self {
            ResolveError::Duplicate {
                name,
                first,
                second,
            } => Diagnostic::error("E0103", *second, format!("`{name}` is defined twice"))
                .here("defined again here")
                .label(*first, "first defined here"),
            ResolveError::NotInModule {
                name,
                module,
                loc,
                hint,
            } => {
                let d =
                    Diagnostic::error("E0102", *loc, format!("module `{module}` has no `{name}`"))
                        .here("not found in the module");
                match hint {
                    Some(h) => d.help(h.clone()),
                    None => d,
                }
            }
            ResolveError::ImportCycle { at, other, chain } => {
                Diagnostic::error("E0104", *at, format!("modules import each other: {chain}"))
                    .here("this import closes the cycle")
                    .label(*other, "the cycle starts here")
                    .help("move what both need into a third module")
            }
            ResolveError::ExternOutsideStd { loc } => Diagnostic::error(
                "E0113",
                *loc,
                "`extern fn` is reserved for the standard library",
            )
            .here("no implementation can be found for this")
            .help("write the function's body in dlp"),
        }
    }
}

pub fn resolve(program: &Program) -> (Scopes, Vec<ResolveError>) {
    let mut errors = Vec::new();
    let mut scopes = Scopes::default();
    for (m, module) in program.modules.iter().enumerate() {
        let mut scope = Scope::default();
        scope
            .unusable
            .extend(module.ast.broken.iter().map(|n| n.name.clone()));
        let file = module.file;
        for (i, item) in module.ast.items.iter().enumerate() {
            if let Item::Fn(f) = item {
                if f.body.is_none() && !program.sources.get(file).is_stdlib {
                    errors.push(ResolveError::ExternOutsideStd {
                        loc: Loc::new(file, f.name.span),
                    });
                }
            }
            if let Some(name) = item.name() {
                let binding = Binding::Item(DefId { module: m, item: i });
                declare(
                    &mut scope,
                    &mut errors,
                    &name.name,
                    binding,
                    Loc::new(file, name.span),
                );
            }
        }
        for item in &module.ast.items {
            if let Item::Use(u) = item {
                import(program, &mut scope, &mut errors, m, u);
            }
        }
        scopes.modules.push(scope);
    }
    find_cycles(program, &mut errors);
    (scopes, errors)
}

fn declare(
    scope: &mut Scope,
    errors: &mut Vec<ResolveError>,
    name: &str,
    binding: Binding,
    loc: Loc,
) {
    if let Some((_, first)) = scope.names.get(name) {
        errors.push(ResolveError::Duplicate {
            name: name.to_string(),
            first: *first,
            second: loc,
        });
    } else {
        scope.names.insert(name.to_string(), (binding, loc));
    }
}

fn import(
    program: &Program,
    scope: &mut Scope,
    errors: &mut Vec<ResolveError>,
    m: usize,
    u: &UseDecl,
) {
    let file = program.modules[m].file;
    let segments: Vec<String> = u.path.iter().map(|s| s.name.clone()).collect();
    // A missing module was reported while loading; what the `use` would
    // have bound is not reported again where it is used.
    let Some(target) = resolve_use(program, &segments) else {
        let names: Vec<&str> = match &u.group {
            Some(group) => group
                .iter()
                .map(|n| n.alias.as_ref().unwrap_or(&n.name).name.as_str())
                .collect(),
            None => u
                .alias
                .iter()
                .chain(u.path.last())
                .take(1)
                .map(|n| n.name.as_str())
                .collect(),
        };
        scope.unusable.extend(names.into_iter().map(str::to_string));
        return;
    };
    let module_path = program.modules[target.module].path.clone();
    let lookup = |name: &str, loc: Loc, errors: &mut Vec<ResolveError>| -> Option<Binding> {
        let found = program.modules[target.module]
            .ast
            .items
            .iter()
            .position(|i| i.name().is_some_and(|n| n.name == name));
        match found {
            Some(item) => Some(Binding::Item(DefId {
                module: target.module,
                item,
            })),
            // Declared by an item that did not parse: reported there.
            None if program.modules[target.module]
                .ast
                .broken
                .iter()
                .any(|n| n.name == name) =>
            {
                None
            }
            None => {
                let names = program.modules[target.module]
                    .ast
                    .items
                    .iter()
                    .filter_map(|i| i.name());
                // From the wrong stdlib module: name the right one.
                let home = crate::stdlib::home_of(name)
                    .filter(|_| module_path.starts_with("std."))
                    .map(|m| format!("`{name}` is in std.{m}: `use std.{m}.{name}`"));
                errors.push(ResolveError::NotInModule {
                    name: name.to_string(),
                    module: module_path.clone(),
                    loc,
                    hint: home.or_else(|| did_you_mean(name, names.map(|n| n.name.as_str()))),
                });
                None
            }
        }
    };
    match (&u.group, target.rest.as_slice()) {
        (Some(group), []) => {
            for n in group {
                let loc = Loc::new(file, n.name.span);
                let local = n.alias.as_ref().unwrap_or(&n.name);
                match lookup(&n.name.name, loc, errors) {
                    Some(b) => declare(scope, errors, &local.name, b, Loc::new(file, local.span)),
                    None => {
                        scope.unusable.insert(local.name.clone());
                    }
                }
            }
        }
        (None, []) => {
            let last = u.path.last().expect("a use path has a segment");
            let local = u.alias.as_ref().unwrap_or(last);
            declare(
                scope,
                errors,
                &local.name,
                Binding::Module(target.module),
                Loc::new(file, local.span),
            );
        }
        (None, [name]) => {
            let seg = u.path.last().expect("a use path has a segment");
            let local = u.alias.as_ref().unwrap_or(seg);
            match lookup(name, Loc::new(file, seg.span), errors) {
                Some(b) => declare(scope, errors, &local.name, b, Loc::new(file, local.span)),
                None => {
                    scope.unusable.insert(local.name.clone());
                }
            }
        }
        (_, rest) => {
            let seg = &u.path[u.path.len() - rest.len()];
            let _ = lookup(&rest[0], Loc::new(file, seg.span), errors);
        }
    }
}

/// Reports each import cycle once, at the `use` that closes it.
fn find_cycles(program: &Program, errors: &mut Vec<ResolveError>) {
    // Edges: module -> (imported module, the use's location).
    let edges: Vec<Vec<(usize, Loc)>> = program
        .modules
        .iter()
        .map(|module| {
            module
                .ast
                .items
                .iter()
                .filter_map(|i| match i {
                    Item::Use(u) => {
                        let segments: Vec<String> = u.path.iter().map(|s| s.name.clone()).collect();
                        let t = resolve_use(program, &segments)?;
                        Some((t.module, Loc::new(module.file, u.span)))
                    }
                    _ => None,
                })
                .collect()
        })
        .collect();
    let mut state = vec![0u8; edges.len()]; // 0 new, 1 on stack, 2 done
    let mut stack: Vec<(usize, Loc)> = Vec::new();
    fn visit(
        m: usize,
        edges: &[Vec<(usize, Loc)>],
        state: &mut [u8],
        stack: &mut Vec<(usize, Loc)>,
        program: &Program,
        errors: &mut Vec<ResolveError>,
    ) {
        state[m] = 1;
        for &(to, loc) in &edges[m] {
            match state[to] {
                0 => {
                    stack.push((m, loc));
                    visit(to, edges, state, stack, program, errors);
                    stack.pop();
                }
                1 => {
                    let start = stack.iter().position(|(from, _)| *from == to);
                    let other = start.map_or(loc, |s| stack[s].1);
                    let mut chain: Vec<&str> = start
                        .map(|s| {
                            stack[s..]
                                .iter()
                                .map(|(f, _)| program.modules[*f].path.as_str())
                                .collect()
                        })
                        .unwrap_or_default();
                    chain.push(&program.modules[m].path);
                    chain.push(&program.modules[to].path);
                    errors.push(ResolveError::ImportCycle {
                        at: loc,
                        other,
                        chain: chain.join(" -> "),
                    });
                }
                _ => {}
            }
        }
        state[m] = 2;
    }
    for m in 0..edges.len() {
        if state[m] == 0 {
            visit(m, &edges, &mut state, &mut stack, program, errors);
        }
    }
}

/// The dataset declared with `name` in any module of the program (datasets
/// are named across modules: `digits.train` in a train block).
pub fn dataset_named<'p>(program: &'p Program, name: &str) -> Option<(DefId, &'p EntriesDecl)> {
    program.modules.iter().enumerate().find_map(|(m, module)| {
        module
            .ast
            .items
            .iter()
            .enumerate()
            .find_map(|(i, item)| match item {
                Item::Dataset(d) if d.name.name == name => Some((DefId { module: m, item: i }, d)),
                _ => None,
            })
    })
}
