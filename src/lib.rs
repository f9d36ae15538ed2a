//! The parts of `dlpc` that tests drive in-process: the language server.
//! (The command-line driver itself is `main.rs`.)

pub mod lsp;
