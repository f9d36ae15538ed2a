//! `--set KEY=VALUE`: settings and model arguments of a train block given
//! on the command line.
//!
//! An override is written into the program's text, where the user would
//! have written it (`optimizer = adam(lr = 3e-3)`), and the program is then
//! checked as usual: a bad value gets the same diagnostic as in the file,
//! with a note naming the `--set` it came from. The run record keeps the
//! program as the user wrote it, and the overrides beside it.
//!
//! Keys: a setting of the train block (`epochs`, `batch`, `seed`, ...),
//! or an argument of its `model`, `optimizer` or `schedule` call
//! (`model.hidden`, `optimizer.lr`). Values are dlp expressions. A value
//! list (`--set optimizer.lr=1e-3,3e-3`) makes a sweep: [`grid`] gives every
//! combination.

use dlp_compiler::check::SETTINGS;
use dlp_compiler::diagnostic::did_you_mean;
use dlp_grammar::ast::{Arg, EntriesDecl, Expr, ExprKind, Item};
use dlp_grammar::Span;

/// One `--set`, its values split at top-level commas.
#[derive(Clone, Debug, PartialEq)]
pub struct Set {
    /// The argument as typed, for messages.
    pub text: String,
    pub key: String,
    pub values: Vec<String>,
}

/// `KEY=VALUE[,VALUE...]`.
pub fn parse(text: &str) -> Result<Set, String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!(
            "`--set {text}`: expected KEY=VALUE, such as `--set optimizer.lr=3e-3`"
        ));
    };
    let key = key.trim();
    let values = split_top_level(value);
    if key.is_empty() || values.iter().any(|v| v.is_empty()) {
        return Err(format!(
            "`--set {text}`: expected KEY=VALUE, such as `--set optimizer.lr=3e-3`"
        ));
    }
    Ok(Set {
        text: text.to_string(),
        key: key.to_string(),
        values,
    })
}

/// `a,b` → `a`, `b`; commas inside brackets, parentheses or quotes
/// belong to one value (`[1, 2]`, `cosine(steps = 10, min = 0.1)`).
fn split_top_level(text: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            '(' | '[' | '{' if !quoted => depth += 1,
            ')' | ']' | '}' if !quoted => depth -= 1,
            ',' if depth == 0 && !quoted => {
                values.push(current.trim().to_string());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    values.push(current.trim().to_string());
    values
}

/// Every combination of the sets' values, the first set varying slowest:
/// one list of `(key, value)` per run.
pub fn grid(sets: &[Set]) -> Vec<Vec<(String, String)>> {
    let mut runs: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for set in sets {
        runs = runs
            .into_iter()
            .flat_map(|run| {
                set.values.iter().map(move |v| {
                    let mut run = run.clone();
                    run.push((set.key.clone(), v.clone()));
                    run
                })
            })
            .collect();
    }
    runs
}

/// Where an override went in the rewritten text, for diagnostics there.
#[derive(Clone, Debug)]
pub struct Applied {
    /// The bytes of the rewritten text the value occupies.
    pub span: Span,
    /// `--set optimizer.lr=abc`.
    pub set: String,
}

/// `text` (a program's root file) with `assignments` written into its
/// train block `train` (the first when `None`).
pub fn apply(
    text: &str,
    train: Option<&str>,
    assignments: &[(String, String)],
) -> Result<(String, Vec<Applied>), String> {
    let mut text = text.to_string();
    let mut applied: Vec<Applied> = Vec::new();
    for (key, value) in assignments {
        if assignments.iter().filter(|(k, _)| k == key).count() > 1 {
            return Err(format!("`--set {key}` is given more than once"));
        }
        // Parsed afresh each time: earlier overrides moved the spans.
        let (ast, _) = dlp_grammar::parse(&text);
        let block = train_block(&ast.items, train)?;
        let edit = edit_for(&ast.items, block, key, value)?;
        let start = edit.at.start as usize;
        text.replace_range(start..edit.at.end as usize, &edit.insert);
        let shift = edit.insert.len() as i64 - (edit.at.end - edit.at.start) as i64;
        for a in &mut applied {
            if a.span.start as usize >= start {
                a.span.start = (a.span.start as i64 + shift) as u32;
                a.span.end = (a.span.end as i64 + shift) as u32;
            }
        }
        let value_start = start + edit.value_offset;
        applied.push(Applied {
            span: Span {
                start: value_start as u32,
                end: (value_start + value.len()) as u32,
            },
            set: format!("--set {key}={value}"),
        });
    }
    Ok((text, applied))
}

/// A replacement: `at` becomes `insert`, whose value starts `value_offset`
/// bytes in.
struct Edit {
    at: Span,
    insert: String,
    value_offset: usize,
}

fn train_block<'a>(items: &'a [Item], name: Option<&str>) -> Result<&'a EntriesDecl, String> {
    items
        .iter()
        .find_map(|i| match i {
            Item::Train(t) if name.is_none_or(|n| t.name.name == n) => Some(t),
            _ => None,
        })
        .ok_or_else(|| match name {
            Some(n) => format!("`--set`: the program has no train block `{n}`"),
            None => "`--set`: the program has no train block".to_string(),
        })
}

/// The edit that gives `key` the value `value` in `block`.
fn edit_for(items: &[Item], block: &EntriesDecl, key: &str, value: &str) -> Result<Edit, String> {
    let setting = |name: &str| block.entries.iter().find(|e| e.key.name == name);
    match key.split_once('.') {
        None => {
            if !SETTINGS.iter().any(|(s, _)| *s == key) {
                let hint = did_you_mean(key, SETTINGS.iter().map(|(s, _)| *s))
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                return Err(format!(
                    "`--set {key}={value}`: `{key}` is not a setting of a train block{hint}; settings are {}, and arguments of the model, optimizer and schedule as `model.NAME`, `optimizer.NAME`, `schedule.NAME`",
                    SETTINGS.iter().map(|(s, _)| format!("`{s}`")).collect::<Vec<_>>().join(", ")
                ));
            }
            // How long to train is said once: `--set epochs=1` on a block
            // that trains for `steps` replaces them (and the other way round).
            let other = match key {
                "epochs" => setting("steps"),
                "steps" => setting("epochs"),
                _ => None,
            };
            Ok(match (setting(key), other) {
                (Some(entry), _) => Edit {
                    at: entry.value.span,
                    insert: value.to_string(),
                    value_offset: 0,
                },
                (None, Some(entry)) => {
                    let insert = format!("{key} = {value}");
                    Edit {
                        at: Span {
                            start: entry.key.span.start,
                            end: entry.value.span.end,
                        },
                        value_offset: insert.len() - value.len(),
                        insert,
                    }
                }
                // A new line before the block's closing brace.
                (None, None) => {
                    let end = block.span.end - 1;
                    let insert = format!("    {key} = {value}\n");
                    Edit {
                        at: Span { start: end, end },
                        value_offset: insert.len() - value.len() - 1,
                        insert,
                    }
                }
            })
        }
        Some((call, arg)) if matches!(call, "model" | "optimizer" | "schedule") => {
            let Some(entry) = setting(call) else {
                return Err(format!(
                    "`--set {key}={value}`: train block `{}` has no `{call}` to set `{arg}` of; set the whole `{call}` instead (`--set {call}=...`)",
                    block.name.name
                ));
            };
            if call == "model" {
                check_model_argument(items, &entry.value, arg, key, value)?;
            }
            call_argument_edit(&entry.value, arg, value).ok_or_else(|| {
                format!(
                    "`--set {key}={value}`: `{call}` is not written as a call (`{call} = name(...)`), so it has no argument `{arg}`"
                )
            })
        }
        Some((first, _)) => Err(format!(
            "`--set {key}={value}`: `{first}` has no arguments to set; dotted keys set an argument of `model`, `optimizer` or `schedule`"
        )),
    }
}

/// The argument `name` of the call `e` (`adam(lr = 1e-3)`), replaced, or
/// added when missing; a bare name (`model = Mlp`) becomes a call.
fn call_argument_edit(e: &Expr, name: &str, value: &str) -> Option<Edit> {
    match &e.kind {
        ExprKind::Call(_, args) => {
            if let Some(a) = args
                .iter()
                .find(|a: &&Arg| a.name.as_ref().is_some_and(|n| n.name == name))
            {
                return Some(Edit {
                    at: a.value.span,
                    insert: value.to_string(),
                    value_offset: 0,
                });
            }
            // Before the closing parenthesis.
            let end = e.span.end - 1;
            let prefix = if args.is_empty() {
                format!("{name} = ")
            } else {
                format!(", {name} = ")
            };
            Some(Edit {
                at: Span { start: end, end },
                value_offset: prefix.len(),
                insert: format!("{prefix}{value}"),
            })
        }
        ExprKind::Name(_) | ExprKind::Field(..) => {
            let prefix = format!("({name} = ");
            Some(Edit {
                at: Span {
                    start: e.span.end,
                    end: e.span.end,
                },
                value_offset: prefix.len(),
                insert: format!("{prefix}{value})"),
            })
        }
        ExprKind::Paren(inner) => call_argument_edit(inner, name, value),
        _ => None,
    }
}

/// `model.NAME` must name a parameter of the model (when the model is
/// declared in this file; the checker covers the rest).
fn check_model_argument(
    items: &[Item],
    model: &Expr,
    arg: &str,
    key: &str,
    value: &str,
) -> Result<(), String> {
    let callee = match &model.kind {
        ExprKind::Call(callee, _) => callee,
        _ => model,
    };
    let ExprKind::Name(id) = &callee.kind else {
        return Ok(());
    };
    let Some(decl) = items.iter().find_map(|i| match i {
        Item::Model(m) if m.name.name == id.name => Some(m),
        _ => None,
    }) else {
        return Ok(());
    };
    if decl.params.iter().any(|p| p.name.name == arg) {
        return Ok(());
    }
    let names: Vec<&str> = decl.params.iter().map(|p| p.name.name.as_str()).collect();
    let hint = did_you_mean(arg, names.iter().copied())
        .map(|h| format!(" ({h})"))
        .unwrap_or_default();
    Err(if names.is_empty() {
        format!(
            "`--set {key}={value}`: model `{}` takes no arguments",
            id.name
        )
    } else {
        format!(
            "`--set {key}={value}`: model `{}` has no parameter `{arg}`{hint}; its parameters are {}",
            id.name,
            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        )
    })
}

/// `d` with a note naming the `--set` its place came from, when it lies
/// in an overridden value of the root file.
pub fn explain(
    mut d: dlp_compiler::Diagnostic,
    root: dlp_compiler::FileId,
    applied: &[Applied],
) -> dlp_compiler::Diagnostic {
    let loc = d.primary.loc;
    if loc.file != root {
        return d;
    }
    for a in applied {
        let inside =
            loc.span.start < a.span.end && a.span.start < loc.span.end.max(loc.span.start + 1);
        if inside {
            d.notes.push(format!("this value comes from `{}`", a.set));
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROGRAM: &str = "model Mlp(hidden: int = 8) {\n    input x: f32[B, 4]\n    output y = x\n}\n\ntrain t {\n    model     = Mlp(hidden = 16)\n    optimizer = adam(lr = 1e-3)\n    epochs    = 3\n}\n";

    fn set(assignments: &[(&str, &str)]) -> Result<String, String> {
        let owned: Vec<(String, String)> = assignments
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        apply(PROGRAM, None, &owned).map(|(text, applied)| {
            for a in &applied {
                let value = &text[a.span.start as usize..a.span.end as usize];
                assert!(a.set.ends_with(value), "{a:?} spans `{value}`");
            }
            text
        })
    }

    #[test]
    fn replaces_settings_and_arguments_where_they_are_written() {
        let text = set(&[
            ("epochs", "5"),
            ("optimizer.lr", "3e-3"),
            ("model.hidden", "64"),
        ])
        .unwrap();
        assert!(text.contains("epochs    = 5\n"), "{text}");
        assert!(text.contains("adam(lr = 3e-3)"), "{text}");
        assert!(text.contains("Mlp(hidden = 64)"), "{text}");
    }

    #[test]
    fn adds_settings_and_arguments_that_are_missing() {
        let text = set(&[
            ("batch", "8"),
            ("optimizer.weight_decay", "0.1"),
            ("seed", "4"),
        ])
        .unwrap();
        assert!(text.contains("    batch = 8\n"), "{text}");
        assert!(text.contains("    seed = 4\n}"), "{text}");
        assert!(
            text.contains("adam(lr = 1e-3, weight_decay = 0.1)"),
            "{text}"
        );
        let bare = PROGRAM.replace("Mlp(hidden = 16)", "Mlp");
        let (text, _) = apply(&bare, None, &[("model.hidden".into(), "2".into())]).unwrap();
        assert!(text.contains("model     = Mlp(hidden = 2)"), "{text}");
    }

    #[test]
    fn steps_replace_epochs_and_epochs_replace_steps() {
        let text = set(&[("steps", "100")]).unwrap();
        assert!(text.contains("    steps = 100\n}"), "{text}");
        assert!(!text.contains("epochs"), "{text}");
        let by_steps = PROGRAM.replace("epochs    = 3", "steps = 600");
        let (text, applied) = apply(&by_steps, None, &[("epochs".into(), "1".into())]).unwrap();
        assert!(text.contains("    epochs = 1\n}"), "{text}");
        assert!(!text.contains("steps"), "{text}");
        assert_eq!(
            &text[applied[0].span.start as usize..applied[0].span.end as usize],
            "1"
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_a_suggestion() {
        let e = set(&[("epoch", "5")]).unwrap_err();
        assert!(e.contains("did you mean `epochs`?"), "{e}");
        let e = set(&[("model.hiden", "5")]).unwrap_err();
        assert!(e.contains("did you mean `hidden`?"), "{e}");
        assert!(e.contains("its parameters are `hidden`"), "{e}");
        let e = set(&[("schedule.steps", "5")]).unwrap_err();
        assert!(e.contains("has no `schedule`"), "{e}");
        let e = set(&[("epochs", "5"), ("epochs", "6")]).unwrap_err();
        assert!(e.contains("more than once"), "{e}");
    }

    #[test]
    fn values_split_at_top_level_commas_into_a_grid() {
        let a = parse("model.hidden=128,256").unwrap();
        let b = parse("optimizer=adam(lr = 1e-3, weight_decay = 0.1),sgd(lr = 0.1)").unwrap();
        assert_eq!(b.values.len(), 2, "{b:?}");
        let runs = grid(&[a, b]);
        assert_eq!(runs.len(), 4);
        assert_eq!(runs[1][0], ("model.hidden".to_string(), "128".to_string()));
        assert_eq!(runs[1][1].1, "sgd(lr = 0.1)");
        assert!(parse("epochs").is_err());
        assert!(parse("epochs=").is_err());
    }
}
