//! User modules: `use mylayers.{block}` finds a sibling file; cycles and
//! duplicates are errors that show both places.

use dlp_compiler::{compile, Loader};
use std::collections::HashMap;

struct Files(HashMap<&'static str, &'static str>);

impl Loader for Files {
    fn load(&mut self, _from: &str, module: &[String]) -> Option<(String, String)> {
        let name = module.join("/");
        self.0
            .get(name.as_str())
            .map(|text| (format!("{name}.dlp"), text.to_string()))
    }
}

fn messages(root: &str, files: &[(&'static str, &'static str)]) -> Vec<(String, usize)> {
    let mut loader = Files(files.iter().copied().collect());
    let c = compile("main.dlp", root, &mut loader);
    c.diagnostics
        .iter()
        .map(|d| (d.message.clone(), d.labels.len()))
        .collect()
}

#[test]
fn user_modules_resolve() {
    let layers = "use std.nn.{linear, relu}\n/// Doc.\nfn block(x: f32[B, D]) -> f32[B, D] { relu(linear(x, D)) }\n";
    let root = "use mylayers.{block}\nuse mylayers\nfn f(x: f32[B, 8]) -> f32[B, 8] { mylayers.block(block(x)) }\n";
    assert_eq!(messages(root, &[("mylayers", layers)]), vec![]);
}

#[test]
fn import_cycles_show_both_uses() {
    let a = "use b.{g}\nfn f(x: f32) -> f32 { g(x) }\n";
    let b = "use a.{f}\nfn g(x: f32) -> f32 { x }\n";
    let got = messages("use a.{f}\n", &[("a", a), ("b", b)]);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].0.contains("modules import each other: a -> b -> a"),
        "{got:?}"
    );
    assert_eq!(got[0].1, 1, "the other `use` is labelled");
}

#[test]
fn shape_errors_in_imported_modules_are_reported_there() {
    let bad = "fn g(x: f32[N]) -> f32[N, 2] { x }\n";
    let got = messages("use bad.{g}\n", &[("bad", bad)]);
    assert_eq!(got.len(), 1, "{got:?}");
}
