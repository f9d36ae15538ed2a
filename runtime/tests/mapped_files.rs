//! Files mapped into memory instead of read (`DLP_MAP_OVER=0` maps every
//! one): NPY files give the same values as a read file, for every stored
//! type, byte order and memory order; splits keep record numbers; every
//! value is checked when the file is opened; damaged files are errors
//! naming the file, never a crash. A text read as bytes is windowed
//! straight from the map.

mod fuzz;

use dlp_runtime::data::{self, Loaded};
use fuzz::{runs, spec, Rng};
use std::path::Path;

/// Every test of this file maps every NPY file (the same setting in every
/// thread, so the tests may run together).
fn map_every_file() {
    std::env::set_var("DLP_MAP_OVER", "0");
}

const PROGRAM: &str = r#"
use std.nn.linear
use std.loss.cross_entropy
use std.optim.sgd

dataset d {
    x     = npy("x.npy") as f32[2, 3]
    y     = npy("y.npy") as class(3)[]
    split = { train: 0.75, test: 0.25 }
    shuffle = seed(5)
}

model M {
    input x: f32[B, 2, 3]
    output logits = linear(x as f32[B, 6], 3)
}

train t {
    model     = M()
    data      = d.train
    batch     = 1
    epochs    = 1
    loss      = cross_entropy(logits, y)
    optimizer = sgd()
}
"#;

/// An NPY file (version 1) of `values` (already in the stored type's bytes)
/// with the header NumPy writes.
fn npy(descr: &str, fortran: bool, shape: &[usize], values: &[u8]) -> Vec<u8> {
    let dims: String = shape.iter().map(|d| format!("{d}, ")).collect();
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': ({}), }}",
        if fortran { "True" } else { "False" },
        dims.trim_end()
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(values);
    out
}

/// Samples `0..4` of `[4, 2, 3]`: sample `s`, entry `(i, j)` is `s * 10 + i * 3 + j`.
fn expected(s: usize) -> Vec<f64> {
    (0..6).map(|k| (s * 10 + k) as f64).collect()
}

/// The values in the file's memory order, C or Fortran.
fn in_order(fortran: bool) -> Vec<f64> {
    let mut out = Vec::new();
    if fortran {
        for j in 0..3 {
            for i in 0..2 {
                for s in 0..4 {
                    out.push((s * 10 + i * 3 + j) as f64);
                }
            }
        }
    } else {
        for s in 0..4 {
            out.extend(expected(s));
        }
    }
    out
}

fn write(dir: &Path, x: &[u8]) {
    std::fs::write(dir.join("x.npy"), x).unwrap();
    let labels = npy("|u1", false, &[4], &[0, 1, 2, 1]);
    std::fs::write(dir.join("y.npy"), labels).unwrap();
}

/// The samples of every split, by their `y` label order, as `x` rows.
fn all_rows(loaded: &Loaded) -> Vec<Vec<f64>> {
    let mut rows = Vec::new();
    for split in ["train", "test"] {
        let part = loaded.part(Some(split)).unwrap();
        let x = &part.feeds.iter().find(|(n, _)| n.ends_with('x')).unwrap().1;
        let values = x.to_tensor().to_f64();
        rows.extend(values.chunks(6).map(|c| c.to_vec()));
    }
    rows.sort_by(|a, b| a[0].total_cmp(&b[0]));
    rows
}

#[test]
fn mapped_files_give_the_values_of_every_type_order_and_byte_order() {
    map_every_file();
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(PROGRAM, "t");
    type Encode = fn(f64) -> Vec<u8>;
    let types: [(&str, Encode); 8] = [
        ("<f4", |v| (v as f32).to_le_bytes().to_vec()),
        (">f4", |v| (v as f32).to_be_bytes().to_vec()),
        ("<f8", |v| v.to_le_bytes().to_vec()),
        (">i8", |v| (v as i64).to_be_bytes().to_vec()),
        ("<i2", |v| (v as i16).to_le_bytes().to_vec()),
        ("<u4", |v| (v as u32).to_le_bytes().to_vec()),
        ("|u1", |v| vec![v as u8]),
        ("|i1", |v| vec![v as i8 as u8]),
    ];
    let want: Vec<Vec<f64>> = (0..4).map(expected).collect();
    for (descr, encode) in types {
        for fortran in [false, true] {
            let bytes: Vec<u8> = in_order(fortran).into_iter().flat_map(encode).collect();
            write(dir.path(), &npy(descr, fortran, &[4, 2, 3], &bytes));
            let loaded = data::load(&spec, dir.path(), None)
                .unwrap_or_else(|e| panic!("{descr} fortran={fortran}: {e}"));
            assert_eq!(all_rows(&loaded), want, "{descr} fortran={fortran}");
            assert_eq!(loaded.part(Some("train")).unwrap().len, 3);
        }
    }
}

#[test]
fn every_value_is_checked_when_the_file_is_mapped() {
    map_every_file();
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(PROGRAM, "t");
    let mut values: Vec<f32> = in_order(false).into_iter().map(|v| v as f32).collect();
    values[14] = f32::NAN;
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    write(dir.path(), &npy("<f4", false, &[4, 2, 3], &bytes));
    let e = data::load(&spec, dir.path(), None).unwrap_err().to_string();
    assert!(
        e.ends_with(
            "x.npy, sample 2, field `x`: NaN is not a finite number (the file stores f32 values)"
        ),
        "{e}"
    );
    let bytes: Vec<u8> = in_order(false)
        .into_iter()
        .flat_map(|v| (v as f32).to_le_bytes())
        .collect();
    let cut = npy("<f4", false, &[4, 2, 3], &bytes[..bytes.len() - 4]);
    write(dir.path(), &cut);
    let e = data::load(&spec, dir.path(), None).unwrap_err().to_string();
    assert!(
        e.contains("x.npy, field `x`: truncated or damaged: the header says [4, 2, 3] f32 values, but 92 bytes follow it"),
        "{e}"
    );
    write(dir.path(), &npy("<f4", false, &[2, 12], &bytes));
    let e = data::load(&spec, dir.path(), None).unwrap_err().to_string();
    assert!(
        e.contains("each sample has 12 values ([12]) but the program casts them to [2, 3]"),
        "{e}"
    );
    // Labels are checked too.
    write(dir.path(), &npy("<f4", false, &[4, 2, 3], &bytes));
    std::fs::write(
        dir.path().join("y.npy"),
        npy("<i8", false, &[4], &[9u8; 32]),
    )
    .unwrap();
    let e = data::load(&spec, dir.path(), None).unwrap_err().to_string();
    assert!(e.contains("y.npy, sample 0, field `y`: label"), "{e}");
}

/// Flipped bytes, a cut, or bytes put in, often in the header.
fn damage(rng: &mut Rng, good: &[u8]) -> Vec<u8> {
    let mut bytes = good.to_vec();
    for _ in 0..1 + rng.below(3) {
        if bytes.is_empty() {
            break;
        }
        let at = if rng.below(2) == 0 {
            rng.below(bytes.len().min(80))
        } else {
            rng.below(bytes.len())
        };
        match rng.below(4) {
            0 => bytes[at] ^= 1 << rng.below(8),
            1 => bytes[at] = [0x00, 0xff, 0x7f, b'9'][rng.below(4)],
            2 => bytes.truncate(at),
            _ => {
                let junk: Vec<u8> = (0..1 + rng.below(6)).map(|_| rng.next() as u8).collect();
                bytes.splice(at..at, junk);
            }
        }
    }
    bytes
}

#[test]
fn damaged_mapped_files_give_data_or_an_error() {
    map_every_file();
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(PROGRAM, "t");
    let bytes: Vec<u8> = in_order(true)
        .into_iter()
        .flat_map(|v| (v as f32).to_be_bytes())
        .collect();
    let good = npy(">f4", true, &[4, 2, 3], &bytes);
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let (mut loaded, mut refused) = (0, 0);
    let runs = runs(3000);
    for _ in 0..runs {
        write(dir.path(), &damage(&mut rng, &good));
        match data::load(&spec, dir.path(), None) {
            Ok(data) => {
                let rows = all_rows(&data);
                assert!(rows.iter().flatten().all(|v| v.is_finite()));
                loaded += 1;
            }
            Err(e) => {
                let text = e.to_string();
                assert!(text.contains("x.npy"), "the error names the file: {text}");
                assert!(text.len() < 1000, "a {}-byte error: {text}", text.len());
                refused += 1;
            }
        }
    }
    eprintln!("{runs} damaged mapped NPY files: {loaded} loaded, {refused} refused");
    assert!(loaded > runs / 100 && refused > runs / 100);
}

const TEXT: &str = r#"
use std.nn.{embedding, linear}
use std.loss.cross_entropy
use std.optim.sgd

dataset book {
    window = text("book.txt", stride = 1) as class(128)[5]
    x      = window[0:4]
    y      = window[1:5]
}

model M {
    input x: class(128)[B, T]
    output logits = linear(embedding(x, 4), 128)
}

train t {
    model     = M()
    data      = book
    batch     = 1
    epochs    = 1
    loss      = cross_entropy(logits, y)
    optimizer = sgd()
}
"#;

#[test]
fn a_mapped_text_gives_every_window() {
    map_every_file();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("book.txt"), "hello, world").unwrap();
    let spec = spec(TEXT, "t");
    let loaded = data::load(&spec, dir.path(), None).unwrap();
    let whole = loaded.part(None).unwrap();
    // Windows of 5 bytes, one starting at every byte: 12 - 5 + 1 of them.
    assert_eq!(whole.len, 8);
    let window = whole.feeds[0].1.gather(&[7, 0]).to_f64();
    let text: Vec<f64> = "world"
        .bytes()
        .chain("hello".bytes())
        .map(f64::from)
        .collect();
    assert_eq!(window, text);
    std::fs::write(dir.path().join("book.txt"), "hello, w\u{f6}rld").unwrap();
    let e = data::load(&spec, dir.path(), None).unwrap_err().to_string();
    assert!(
        e.ends_with("book.txt, line 1, byte 8, field `window`: byte 195: label 195 is not a class in 0..128 (`class(128)`)"),
        "{e}"
    );
}

const IDX: &str = r#"
use std.nn.linear
use std.loss.cross_entropy
use std.optim.sgd

dataset d {
    x = idx("x.idx") as f32[3]
    y = idx("y.idx") as class(3)[]
}

model M {
    input x: f32[B, 3]
    output logits = linear(x, 3)
}

train t {
    model     = M()
    data      = d
    batch     = 1
    epochs    = 1
    loss      = cross_entropy(logits, y)
    optimizer = sgd()
}
"#;

/// An IDX file: type byte, dimensions, then the values (big-endian).
fn idx(kind: u8, dims: &[u32], values: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, kind, dims.len() as u8];
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend(values);
    out
}

#[test]
fn a_mapped_idx_file_gives_its_big_endian_values() {
    map_every_file();
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<i16> = vec![-300, 2, 3, 4, 5, 6, 7, 8, 1000, 10, 11, 12];
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    std::fs::write(dir.path().join("x.idx"), idx(0x0B, &[4, 3], &bytes)).unwrap();
    std::fs::write(dir.path().join("y.idx"), idx(0x08, &[4], &[0, 1, 2, 1])).unwrap();
    let loaded = data::load(&spec(IDX, "t"), dir.path(), None).unwrap();
    let whole = loaded.part(None).unwrap();
    let x = &whole
        .feeds
        .iter()
        .find(|(n, _)| n.ends_with('x'))
        .unwrap()
        .1;
    assert_eq!(
        x.gather(&[2, 0]).to_f64(),
        vec![7.0, 8.0, 1000.0, -300.0, 2.0, 3.0]
    );
    // A label outside the classes, named by its record.
    std::fs::write(dir.path().join("y.idx"), idx(0x08, &[4], &[0, 1, 3, 1])).unwrap();
    let e = data::load(&spec(IDX, "t"), dir.path(), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("y.idx, record 2, field `y`: label 3"), "{e}");
}
