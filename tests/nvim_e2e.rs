//! End to end with a real editor: headless Neovim's built-in LSP client
//! starts `dlpc lsp` on the digits example, waits for diagnostics, asks for
//! hover and definitions, edits the buffer and waits for the new
//! diagnostics (`tests/nvim/e2e.lua`). This test checks the transcript the
//! script writes, and prints it.
//!
//! Without `nvim` on the PATH it passes with a printed reason, except under
//! CI (`CI` set), where it fails: CI installs Neovim so this really runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn nvim() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nvim"))
        .find(|candidate| candidate.is_file())
}

#[test]
fn neovim_gets_diagnostics_hover_and_definitions() {
    let Some(nvim) = nvim() else {
        if std::env::var_os("CI").is_some() {
            panic!("nvim is not installed, and under CI this test must run (see .ci/run)");
        }
        println!("skipped: nvim is not on the PATH (apt-get install neovim)");
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scratch = std::env::temp_dir().join(format!("dlp-nvim-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("a scratch folder");
    let file = scratch.join("digits_mlp.dlp");
    std::fs::copy(root.join("examples/digits_mlp.dlp"), &file).expect("the example copies");
    let out = scratch.join("transcript.json");
    let source = std::fs::read_to_string(&file).expect("the example reads");
    let h = position_after(&source, "h = dropout(");
    let linear = position_after(&source, "h = relu(");
    let relu = position_after(&source, "h = ");

    let mut child = Command::new(&nvim)
        .args(["--headless", "--clean", "-n", "-i", "NONE", "-c"])
        .arg(format!(
            "luafile {}",
            root.join("tests/nvim/e2e.lua").display()
        ))
        .env("DLPC", env!("CARGO_BIN_EXE_dlpc"))
        .env("DLP_FILE", &file)
        .env("DLP_OUT", &out)
        .env("DLP_H", format!("{},{}", h.0, h.1))
        .env("DLP_LINEAR", format!("{},{}", linear.0, linear.1))
        .env("DLP_RELU", format!("{},{}", relu.0, relu.1))
        .env("XDG_CACHE_HOME", scratch.join("cache"))
        .env("XDG_STATE_HOME", scratch.join("state"))
        .env("XDG_DATA_HOME", scratch.join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nvim starts");
    let started = Instant::now();
    while child.try_wait().expect("nvim runs").is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("nvim did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&out).expect("the script wrote its transcript");
    let transcript: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    println!(
        "{}",
        serde_json::to_string_pretty(&transcript).expect("prints")
    );
    let _ = std::fs::remove_dir_all(&scratch);

    assert_eq!(transcript.get("failure"), None, "the script failed");
    let event = |what: &str| -> &serde_json::Value {
        transcript["events"]
            .as_array()
            .expect("events")
            .iter()
            .find(|e| e["what"] == what)
            .map(|e| &e["value"])
            .unwrap_or_else(|| panic!("no `{what}` in the transcript"))
    };
    assert_eq!(
        event("diagnostics after open")["diagnostics"],
        serde_json::json!([])
    );
    assert_eq!(
        event("hover on h")["result"]["contents"]["value"],
        "```dlp\nh: f32[B, hidden]\n```"
    );
    let h_def = &event("definition of h")["result"];
    assert!(h_def["uri"]
        .as_str()
        .expect("a uri")
        .ends_with("/digits_mlp.dlp"));
    // The first `h = ` of the model is the definition.
    let def_line = source
        .lines()
        .position(|l| l.trim_start().starts_with("h = "))
        .expect("an h") as u32;
    assert_eq!(
        h_def["range"],
        serde_json::json!({"start": {"line": def_line, "character": 4}, "end": {"line": def_line, "character": 5}})
    );
    let linear = &event("definition of linear")["result"];
    assert!(
        linear["uri"].as_str().expect("a uri").ends_with("/nn.dlp"),
        "{linear}"
    );
    assert_eq!(
        linear["range"]["start"],
        serde_json::json!({"line": 4, "character": 3})
    );
    let after = event("diagnostics after the edit")["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .clone();
    assert!(
        after.iter().any(|d| d["code"] == "E0100"
            && d["message"]
                .as_str()
                .is_some_and(|m| m.contains("did you mean `relu`?"))),
        "{after:?}"
    );
}

/// Line and column (0-based; the example is ASCII) just after the first `before`.
fn position_after(text: &str, before: &str) -> (u32, u32) {
    let at = text.find(before).expect("the example has the text") + before.len();
    let line = text[..at].matches('\n').count() as u32;
    let column = at - text[..at].rfind('\n').map_or(0, |n| n + 1);
    (line, column as u32)
}
