//! A bad data file never panics: thousands of randomly damaged CSV, IDX
//! (plain and gzipped), NPY and NPZ files through the loader, which must answer with
//! data or an error, never a crash. Nothing trains on garbage: what loads
//! is finite, fits its dtype and has its labels in range; an error names
//! the file and stays short.
//!
//! Besides byte damage, the mutations put values out of range for the
//! dtype they are read as (`1e39` as f32, NaN, infinities, `3e38` as an
//! integer), write float IDX files holding such values, give IDX headers
//! dimensions whose product overflows (one wraps to the right size), split
//! gzip data into members, and end CSV lines with `\r` or `\r\n`.
//!
//! `DLP_FUZZ_RUNS=N` sets the number of rounds (3,000 by default); each
//! round writes one set of files and loads every dataset from it.

mod fuzz;

use dlp_compiler::program::{DatasetSpec, Read};
use dlp_runtime::data::Loaded;
use dlp_runtime::Data;
use fuzz::{gz, runs, spec, Rng};
use std::io::Write;
use std::path::Path;

const PROGRAM: &str = r#"
use std.nn.linear
use std.loss.cross_entropy
use std.optim.sgd

dataset tab {
    source  = csv("data.csv", header = true)
    x       = columns(0..2) as f32[2]
    y       = column("label") as class(3)
    k       = column(1) as i32
    split   = { train: 0.5, test: 0.5 }
    shuffle = seed(1)
}

dataset img {
    x = idx("images.idx") as u8[2, 2] as f32[4]
    y = idx("labels.idx.gz") as class(3)[]
}

dataset flt {
    x = idx("floats.idx") as f32[4]
    y = idx("labels.idx.gz") as class(3)[]
}

dataset num {
    x = npy("x.npy") as f32[4]
    y = npz("d.npz", "labels") as class(3)[]
}

model M {
    input x: f32[B, 2]
    output logits = linear(x, 3)
}

model N {
    input x: f32[B, 4]
    output logits = linear(x, 3)
}

train on_tab {
    model     = M()
    data      = tab.train
    epochs    = 1
    loss      = cross_entropy(logits, y)
    optimizer = sgd()
}

train on_img {
    model     = N()
    data      = img
    epochs    = 1
    loss      = cross_entropy(logits, y)
    optimizer = sgd()
}

train on_num {
    model     = N()
    data      = num
    epochs    = 1
    loss      = cross_entropy(logits, y)
    optimizer = sgd()
}

train on_flt {
    model     = N()
    data      = flt
    epochs    = 1
    loss      = cross_entropy(logits, y)
    optimizer = sgd()
}
"#;

fn idx(kind: u8, dims: &[u32], values: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, kind, dims.len() as u8];
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend(values);
    out
}

fn damage(rng: &mut Rng, good: &[u8]) -> Vec<u8> {
    let mut bytes = good.to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(4) {
            0 if at < bytes.len() => bytes[at] = rng.below(256) as u8,
            1 => bytes.truncate(at),
            2 => bytes.insert(at, b",\n-.e9x\"\x00\xff"[rng.below(9)]),
            _ if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => {}
        }
    }
    bytes
}

/// Values that do not fit some dtype, or are no numbers at all.
const CSV_VALUES: &[&str] = &[
    "1e39",
    "3.5e38",
    "-3.5e38",
    "3.4e38",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e400",
    "-1e400",
    "3e38",
    "2147483648",
    "-2147483649",
    "2147483647",
    "1e-400",
    "0.5",
    "300",
    "-1",
    "2",
    "\"7\"",
    "",
    " ",
];

/// Replaces one field of the CSV with an out-of-range value (or a very
/// long one), and sometimes changes every line ending to `\r` or `\r\n`.
fn mutate_csv(rng: &mut Rng, good: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(good);
    let mut lines: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    for _ in 0..1 + rng.below(2) {
        let row = rng.below(lines.len());
        let col = rng.below(lines[row].len());
        lines[row][col] = if rng.below(20) == 0 {
            "9".repeat(20_000 + rng.below(1000))
        } else {
            CSV_VALUES[rng.below(CSV_VALUES.len())].to_string()
        };
    }
    let ending = ["\n", "\r", "\r\n"][rng.below(3)];
    let mut out = String::new();
    for line in lines {
        out.push_str(&line.join(","));
        out.push_str(ending);
    }
    out.into_bytes()
}

/// Float values that are out of range for some dtype, or not finite.
const FLOAT_VALUES: &[f64] = &[
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f32::MAX as f64,
    1e39,
    -1e39,
    3e38,
    300.0,
    -1.0,
    2.5,
    1e-45,
    0.0,
    1.0,
    2.0,
];

/// A float IDX file (f32 or f64) of `records` records of 4 values, some of
/// them from [`FLOAT_VALUES`] or random bits.
fn float_idx(rng: &mut Rng, records: u32) -> Vec<u8> {
    let f64s = rng.below(2) == 0;
    let mut values = Vec::new();
    for _ in 0..records * 4 {
        let v = match rng.below(4) {
            0 => FLOAT_VALUES[rng.below(FLOAT_VALUES.len())],
            1 => f32::from_bits(rng.next() as u32) as f64,
            _ => rng.below(256) as f64 / 8.0,
        };
        if f64s {
            values.extend(v.to_be_bytes());
        } else {
            values.extend((v as f32).to_be_bytes());
        }
    }
    idx(if f64s { 0x0E } else { 0x0D }, &[records, 2, 2], &values)
}

/// Dimensions an IDX header may claim, overflowing or not.
const DIMS: &[u32] = &[
    0,
    1,
    2,
    3,
    4,
    11,
    65536,
    1 << 31,
    u32::MAX,
    2996173443,
    1119412321,
];

/// An IDX file whose header dimensions may multiply past `usize`; one
/// choice wraps, modulo 2^64, to exactly the 4 values a record should have.
/// Says whether the sizes overflow (the file must then be refused).
fn overflowing_idx(rng: &mut Rng, good: &[u8]) -> (Vec<u8>, bool) {
    let dims: Vec<u32> = if rng.below(3) == 0 {
        vec![3, 4, 11, 2996173443, 1119412321]
    } else {
        (0..1 + rng.below(6))
            .map(|_| DIMS[rng.below(DIMS.len())])
            .collect()
    };
    let kind = good.get(2).copied().unwrap_or(8);
    let size = [(0x0D, 4), (0x0E, 8)]
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(1, |(_, s)| *s);
    let product = |dims: &[u32]| -> Option<u64> {
        dims.iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)))
    };
    let overflows =
        product(&dims[1..]).is_none() || product(&dims).and_then(|n| n.checked_mul(size)).is_none();
    let body = &good[good.len().min(4 + 4 * 3)..];
    (idx(kind, &dims, body), overflows)
}

/// `bytes` gzipped as two members (`cat a.gz b.gz`).
fn two_members(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let cut = rng.below(bytes.len() + 1);
    let mut out = gz(&bytes[..cut]);
    out.extend(gz(&bytes[cut..]));
    out
}

/// What is loaded is no garbage: floats finite, labels whole and in
/// range (`class(n)` feeds are stored as i32).
fn check_loaded(spec: &DatasetSpec, loaded: &Loaded) {
    for (_, part) in &loaded.parts {
        for (name, values) in &part.feeds {
            let feed = spec.feeds.iter().find(|f| &f.name == name).unwrap();
            let t = values.to_tensor();
            assert_eq!(t.dtype(), feed.dtype, "{name}: batches in the feed's dtype");
            match (&t.data, feed.classes) {
                (Data::I32(v), Some(n)) => assert!(
                    v.iter().all(|&c| c >= 0 && (c as usize) < n),
                    "{name}: labels out of 0..{n}: {v:?}"
                ),
                (Data::F32(v), _) => {
                    assert!(v.iter().all(|x| x.is_finite()), "{name}: {v:?}")
                }
                (Data::F64(v), _) => {
                    assert!(v.iter().all(|x| x.is_finite()), "{name}: {v:?}")
                }
                _ => {}
            }
        }
    }
}

/// One round's files: byte damage, value mutations, overflowing headers,
/// multi-member gzip, all at random. Returns the files whose headers
/// overflow: the datasets reading them must be refused.
fn write_round(rng: &mut Rng, dir: &Path, good: &Good) -> Vec<&'static str> {
    let mut overflowing = Vec::new();
    let csv = match rng.below(3) {
        0 => mutate_csv(rng, &good.csv),
        1 => {
            let mutated = mutate_csv(rng, &good.csv);
            damage(rng, &mutated)
        }
        _ => damage(rng, &good.csv),
    };
    std::fs::write(dir.join("data.csv"), csv).unwrap();
    let images = match rng.below(5) {
        0 => {
            let (bytes, overflows) = overflowing_idx(rng, &good.images);
            if overflows {
                overflowing.push("images.idx");
            }
            bytes
        }
        1 => float_idx(rng, 3),
        2 => good.images.clone(),
        _ => damage(rng, &good.images),
    };
    std::fs::write(dir.join("images.idx"), images).unwrap();
    let floats = match rng.below(3) {
        0 => {
            let floats = float_idx(rng, 3);
            damage(rng, &floats)
        }
        1 => {
            let floats = float_idx(rng, 3);
            let (bytes, overflows) = overflowing_idx(rng, &floats);
            if overflows {
                overflowing.push("floats.idx");
            }
            bytes
        }
        _ => float_idx(rng, 3),
    };
    std::fs::write(dir.join("floats.idx"), floats).unwrap();
    let labels = match rng.below(4) {
        0 => gz(&damage(rng, &good.labels)),
        1 => two_members(rng, &good.labels),
        2 => {
            let damaged = damage(rng, &good.labels);
            two_members(rng, &damaged)
        }
        _ => damage(rng, &gz(&good.labels)),
    };
    std::fs::write(dir.join("labels.idx.gz"), labels).unwrap();
    overflowing
}

/// Whether `spec` reads the IDX file `name`.
fn reads(spec: &DatasetSpec, name: &str) -> bool {
    spec.feeds
        .iter()
        .any(|f| matches!(&f.read, Read::Idx { path } if path == name))
}

struct Good {
    csv: Vec<u8>,
    images: Vec<u8>,
    labels: Vec<u8>,
}

#[test]
fn damaged_files_give_data_or_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = Good {
        csv: b"a,b,label\n1,2,0\n3.5,-4,1\n5e-1,6,2\n7,8,1\n".to_vec(),
        images: idx(8, &[3, 2, 2], &(0..12).collect::<Vec<u8>>()),
        labels: idx(8, &[3], &[0, 1, 2]),
    };
    let specs = [
        spec(PROGRAM, "on_tab"),
        spec(PROGRAM, "on_img"),
        spec(PROGRAM, "on_flt"),
    ];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut loaded, mut refused) = ([0; 3], [0; 3]);
    let runs = runs(3000);
    for _ in 0..runs {
        let overflowing = write_round(&mut rng, dir.path(), &good);
        for (i, spec) in specs.iter().enumerate() {
            match dlp_runtime::data::load(spec, dir.path(), None) {
                Ok(data) => {
                    assert!(
                        !overflowing.iter().any(|f| reads(spec, f)),
                        "{}: loaded a file whose header overflows",
                        spec.name
                    );
                    check_loaded(spec, &data);
                    loaded[i] += 1;
                }
                Err(e) => {
                    let text = e.to_string();
                    assert!(
                        text.contains(dir.path().to_str().unwrap()),
                        "the error names the file: {text}"
                    );
                    assert!(text.len() < 1000, "a {}-byte error: {text}", text.len());
                    refused[i] += 1;
                }
            }
        }
    }
    let per_dataset: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{} {} loaded, {} refused", s.name, loaded[i], refused[i]))
        .collect();
    eprintln!(
        "{} inputs ({runs} rounds of {} datasets): {}",
        runs * specs.len(),
        specs.len(),
        per_dataset.join("; ")
    );
    for i in 0..specs.len() {
        assert!(
            loaded[i] > runs / 100 && refused[i] > runs / 100,
            "{}",
            per_dataset[i]
        );
    }
}

/// An NPY file of `values` with shape `shape`.
fn npy<T: npyz::AutoSerialize>(shape: &[u64], values: Vec<T>) -> Vec<u8> {
    use npyz::WriterBuilder;
    let mut out = Vec::new();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut out)
        .begin_nd()
        .unwrap();
    w.extend(values).unwrap();
    w.finish().unwrap();
    out
}

/// An NPZ archive of `members` (name, NPY bytes), deflated.
fn npz(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut archive = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut archive);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        zip.start_file(format!("{name}.npy"), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    archive.into_inner()
}

/// An NPY file whose header lies: another shape, dtype or order than its
/// data, written by replacing text in the header.
fn lying_header(rng: &mut Rng, good: &[u8]) -> Vec<u8> {
    let lies: [(&[u8], &[u8]); 7] = [
        (b"(3, 4)", b"(9, 4)"),
        (b"(3, 4)", b"(3, 5)"),
        (b"(3, 4)", b"(4, 4)"),
        (b"<f4", b"<f8"),
        (b"<f4", b"|u1"),
        (b"<f4", b"<c8"),
        (b"False", b"True "),
    ];
    let (from, to) = lies[rng.below(lies.len())];
    let mut out = good.to_vec();
    if let Some(at) = out.windows(from.len()).position(|w| w == from) {
        out.splice(at..at + from.len(), to.iter().copied());
    }
    out
}

#[test]
fn damaged_npy_and_npz_files_give_data_or_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(PROGRAM, "on_num");
    let good_x = npy(&[3, 4], (0..12).map(|v| v as f32 * 0.5).collect());
    let good_labels = npy(&[3], vec![0i64, 2, 1]);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut loaded, mut refused) = (0, 0);
    // Two files a round: 10,000 damaged files by default.
    let rounds = runs(3000) * 5 / 3;
    for _ in 0..rounds {
        let x = match rng.below(4) {
            0 => lying_header(&mut rng, &good_x),
            1 => good_x.clone(),
            _ => damage(&mut rng, &good_x),
        };
        std::fs::write(dir.path().join("x.npy"), x).unwrap();
        let labels = match rng.below(3) {
            0 => damage(&mut rng, &good_labels),
            1 => npy(&[3], vec![0i64, rng.below(5) as i64, 1]),
            _ => good_labels.clone(),
        };
        let archive = match rng.below(4) {
            0 => damage(&mut rng, &npz(&[("labels", labels)])),
            1 => npz(&[("other", labels)]),
            _ => npz(&[("labels", labels), ("x", good_x.clone())]),
        };
        std::fs::write(dir.path().join("d.npz"), archive).unwrap();
        match dlp_runtime::data::load(&spec, dir.path(), None) {
            Ok(data) => {
                check_loaded(&spec, &data);
                loaded += 1;
            }
            Err(e) => {
                let text = e.to_string();
                assert!(
                    text.contains(dir.path().to_str().unwrap()),
                    "the error names the file: {text}"
                );
                assert!(text.len() < 1000, "a {}-byte error: {text}", text.len());
                refused += 1;
            }
        }
    }
    eprintln!(
        "{} NPY and NPZ files ({rounds} rounds): {loaded} loaded, {refused} refused",
        2 * rounds
    );
    assert!(
        loaded > rounds / 100 && refused > rounds / 100,
        "{loaded} loaded, {refused} refused"
    );
}
