//! No input makes `parse` or `compile` panic: the examples, the stdlib and
//! the error suite, mutated 10,000+ times (bytes and tokens deleted,
//! inserted, swapped; truncation; invalid UTF-8 made lossy; deep nesting).

mod common;

use dlp_compiler::lower;
use dlp_compiler::{compile, NoModules};

/// xorshift64*: deterministic, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    "..",
    "...",
    "::",
    "[:, ",
    "=",
    "==",
    ":",
    "->",
    "@",
    "+",
    "-",
    "*",
    "/",
    "as",
    "fn",
    "model",
    "train",
    "dataset",
    "use",
    "param",
    "input",
    "output",
    "repeat",
    "where",
    "% 2 == 0",
    "///",
    "//",
    "\"",
    "0",
    "1e-3",
    "x",
    "B",
    "..N",
    "f32",
    "class(",
    "\n",
    "é",
    "\u{1F600}",
    "\0",
];

fn corpus() -> Vec<String> {
    let mut texts = Vec::new();
    for dir in ["examples", "stdlib", "tests/errors"] {
        for p in common::dlp_files(dir) {
            let text = std::fs::read_to_string(p).unwrap();
            texts.extend(text.split("\n--- ").map(str::to_string));
        }
    }
    texts
}

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(6) {
            0 if !bytes.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                bytes.splice(at..at, token.bytes());
            }
            2 => bytes.truncate(at),
            3 => bytes.insert(at, rng.next() as u8),
            4 => {
                // Swap two whitespace-separated tokens.
                let s = String::from_utf8_lossy(&bytes).into_owned();
                let mut words: Vec<&str> = s.split(' ').collect();
                if words.len() > 2 {
                    let (i, j) = (rng.below(words.len()), rng.below(words.len()));
                    words.swap(i, j);
                }
                bytes = words.join(" ").into_bytes();
            }
            _ => {
                let dup = bytes[at.min(bytes.len())..]
                    .iter()
                    .take(rng.below(40))
                    .copied()
                    .collect::<Vec<_>>();
                bytes.splice(at..at, dup);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn mutated_programs_never_panic() {
    let corpus = corpus();
    // Fixed by default so a failure reproduces; fuzz longer or elsewhere with
    // DLP_FUZZ_SEED=<n> DLP_FUZZ_RUNS=<n> cargo test --release --test no_panic.
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let mut rng = Rng(env("DLP_FUZZ_SEED", 0x9e37_79b9_7f4a_7c15));
    let total = env("DLP_FUZZ_RUNS", 10_000);
    let mut runs = 0;
    let mut lowered = 0;
    while runs < total {
        let base = &corpus[rng.below(corpus.len())];
        let input = mutate(&mut rng, base);
        let _ = dlp_grammar::parse(&input);
        let comp = compile("fuzz.dlp", &input, &mut NoModules);
        if !comp.has_errors() {
            // A program that checks must lower (or say why) without a panic.
            let _ = lower::compile(&comp, None);
            lowered += 1;
        }
        let _ = dlp_grammar::format::format(&input);
        runs += 1;
    }
    println!("{runs} mutated programs, {lowered} of them checked and were lowered");
    assert!(
        lowered > 50,
        "too few mutants reach lowering ({lowered}) to test it"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for depth in [100, 1_000, 20_000] {
        let expr = format!("{}x{}", "(".repeat(depth), ")".repeat(depth));
        let src = format!("fn f(x: f32) -> f32 {{ {expr} }}");
        let _ = compile("deep.dlp", &src, &mut NoModules);
        let list = format!(
            "fn f(x: f32) -> f32 {{ {}x{} }}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let _ = compile("deep.dlp", &list, &mut NoModules);
        let neg = format!("fn f(x: f32) -> f32 {{ {}x }}", "-".repeat(depth));
        let _ = compile("deep.dlp", &neg, &mut NoModules);
    }
}
