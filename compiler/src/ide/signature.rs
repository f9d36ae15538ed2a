//! Signature help: the parameters of the call being typed, and which one
//! the cursor is at.
//!
//! It reads the text (the call being typed rarely parses yet): the innermost
//! open `(` before the cursor, the name before it, and the commas and
//! `name =` of the argument list so far.

use super::describe::param_text;
use super::text::{self, is_ident_char};
use super::Analysis;
use crate::check::builtins;
use crate::resolve::{Binding, DefId};
use dlp_grammar::ast::Item;

#[derive(Clone, Debug, PartialEq)]
pub struct SignatureHelp {
    /// `fn linear(x: f32[..N, I], out: int) -> f32[..N, out]`
    pub label: String,
    /// Each parameter's byte range in `label`.
    pub params: Vec<(usize, usize)>,
    /// The parameter the cursor's argument goes to.
    pub active: Option<usize>,
    pub doc: Option<String>,
}

/// What a call can call: its label pieces and parameter names.
pub(super) struct Callee {
    pub head: String,
    pub params: Vec<(String, String)>,
    pub tail: String,
    pub doc: Option<String>,
}

pub fn signature_help(a: &Analysis, offset: usize) -> Option<SignatureHelp> {
    let text = a.root_text();
    let from = enclosing_item_start(text, offset);
    let open = text::open_paren(text, from, offset)?;
    let callee = callee(a, text::dotted_name_before(text, open)?)?;
    let args = text::mask_strings_and_comments(&text[open + 1..offset]);
    let active = active_param(&args, &callee.params);
    let mut label = callee.head.clone();
    let mut ranges = Vec::new();
    for (i, (_, shown)) in callee.params.iter().enumerate() {
        if i > 0 {
            label.push_str(", ");
        }
        ranges.push((label.len(), label.len() + shown.len()));
        label.push_str(shown);
    }
    label.push_str(&callee.tail);
    Some(SignatureHelp {
        label,
        params: ranges,
        active,
        doc: callee.doc,
    })
}

/// Where the top-level item around `offset` starts (the search for an open
/// call stops there).
pub(super) fn enclosing_item_start(text: &str, offset: usize) -> usize {
    dlp_grammar::split::split_items(text)
        .into_iter()
        .map(|r| r.start)
        .take_while(|&start| start <= offset)
        .last()
        .unwrap_or(0)
}

/// The parameter the last argument in `args` (the text after `(`) binds to.
fn active_param(args: &str, params: &[(String, String)]) -> Option<usize> {
    let mut depth = 0i32;
    let mut index = 0;
    let mut current_start = 0;
    for (i, c) in args.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                index += 1;
                current_start = i + 1;
            }
            _ => {}
        }
    }
    let current = args[current_start..].trim_start();
    let name_len = current.chars().take_while(|c| is_ident_char(*c)).count();
    let after = current[name_len..].trim_start();
    if name_len > 0 && after.starts_with('=') && !after.starts_with("==") {
        let name = &current[..name_len];
        return params.iter().position(|(p, _)| p == name);
    }
    (index < params.len()).then_some(index)
}

/// The function, model or built-in that `name` (maybe `module.name`) calls
/// from the root file.
pub(super) fn callee(a: &Analysis, name: &str) -> Option<Callee> {
    let def = match name.split_once('.') {
        Some((module, item)) => match a.scopes().modules.first()?.names.get(module)? {
            (Binding::Module(m), _) => a.item_named(*m, item),
            _ => None,
        },
        None => match a.scopes().modules.first()?.names.get(name) {
            Some((Binding::Item(def), _)) => Some(*def),
            _ => None,
        },
    };
    match def {
        Some(def) => declared_callee(a, def),
        None => {
            let b = builtins::find(name)?;
            let params = b
                .params
                .iter()
                .map(|(p, required)| {
                    let shown = if *required {
                        p.to_string()
                    } else {
                        format!("{p}?")
                    };
                    (p.to_string(), shown)
                })
                .collect();
            Some(Callee {
                head: format!("fn {}(", b.name),
                params,
                tail: ")".to_string(),
                doc: Some(b.doc.to_string()),
            })
        }
    }
}

fn declared_callee(a: &Analysis, def: DefId) -> Option<Callee> {
    let item = a
        .compilation
        .program
        .modules
        .get(def.module)?
        .ast
        .items
        .get(def.item)?;
    let (head, params, tail, doc) = match item {
        Item::Fn(f) => {
            let prefix = if f.body.is_none() { "extern fn" } else { "fn" };
            let tail = f.ret.as_ref().map_or(")".to_string(), |r| {
                format!(") -> {}", dlp_grammar::format::ty(r))
            });
            (
                format!("{prefix} {}(", f.name.name),
                &f.params,
                tail,
                &f.doc,
            )
        }
        Item::Model(m) => (
            format!("model {}(", m.name.name),
            &m.params,
            ")".to_string(),
            &m.doc,
        ),
        _ => return None,
    };
    Some(Callee {
        head,
        params: params
            .iter()
            .map(|p| (p.name.name.clone(), param_text(p)))
            .collect(),
        tail,
        doc: doc.as_ref().map(|d| d.text()),
    })
}

#[cfg(test)]
mod tests {
    use super::active_param;

    #[test]
    fn the_active_parameter_follows_commas_and_names() {
        let params: Vec<(String, String)> = ["x", "out", "p"]
            .iter()
            .map(|p| (p.to_string(), p.to_string()))
            .collect();
        assert_eq!(active_param("", &params), Some(0));
        assert_eq!(active_param("h, ", &params), Some(1));
        assert_eq!(active_param("f(a, b), ", &params), Some(1));
        assert_eq!(active_param("h, p = ", &params), Some(2));
        assert_eq!(active_param("h, p == ", &params), Some(1));
        assert_eq!(active_param("a, b, c, ", &params), None);
    }
}
