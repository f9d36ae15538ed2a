//! What the loader fuzz tests share: a seeded generator, the round count,
//! gzip, and a program's training dataset as the runtime reads it.

#![allow(dead_code)]

use dlp_compiler::program::DatasetSpec;
use dlp_compiler::{compile, lower, NoModules};
use std::io::Write;

/// xorshift64: the same damage on every machine, without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `DLP_FUZZ_RUNS`, or `default` rounds.
pub fn runs(default: usize) -> usize {
    std::env::var("DLP_FUZZ_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The dataset train block `train` of `program` trains on.
pub fn spec(program: &str, train: &str) -> DatasetSpec {
    let comp = compile("p.dlp", program, &mut NoModules);
    assert!(!comp.has_errors(), "{:?}", comp.diagnostics);
    lower::compile(&comp, Some(train))
        .unwrap()
        .datasets
        .remove(0)
}
