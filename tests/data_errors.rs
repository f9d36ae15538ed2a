//! Bad data files never panic: `dlpc run` stops with an error that names
//! the file, the line (CSV) or record (IDX), and the field.

use std::io::Write;
use std::path::Path;
use std::process::Command;

const CSV_PROGRAM: &str = r#"
use std.nn.linear
use std.loss.cross_entropy
use std.optim.sgd

dataset d {
    source = csv("data.csv", header = true)
    x      = columns(0..2) as f32[2]
    y      = column("label") as class(3)
}

model M {
    input x: f32[B, 2]
    output logits = linear(x, 3)
}

train t {
    model     = M()
    data      = d
    batch     = 2
    epochs    = 1
    loss      = cross_entropy(logits, y)
    optimizer = sgd()
}
"#;

const IDX_PROGRAM: &str = r#"
use std.nn.linear
use std.loss.cross_entropy
use std.optim.sgd

dataset d {
    x = idx("images.idx") as u8[2, 2] as f32[4] / 255.0
    y = idx("labels.idx") as class(3)[]
}

model M {
    input x: f32[B, 4]
    output logits = linear(x, 3)
}

train t {
    model     = M()
    data      = d
    batch     = 2
    epochs    = 1
    loss      = cross_entropy(logits, y)
    optimizer = sgd()
}
"#;

/// Runs `program` beside `files`; returns stderr of a run that must fail.
fn fails(program: &str, files: &[(&str, Vec<u8>)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.dlp"), program).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(["run", "p.dlp", "--runs", "runs"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "expected a failure, got success:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn csv(text: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![("data.csv", text.as_bytes().to_vec())]
}

fn idx(kind: u8, dims: &[u32], values: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, kind, dims.len() as u8];
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend(values);
    out
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn assert_has(stderr: &str, parts: &[&str]) {
    for p in parts {
        assert!(stderr.contains(p), "missing `{p}` in:\n{stderr}");
    }
}

const GOOD_CSV: &str = "a,b,label\n1,2,0\n3,4,1\n5,6,2\n";

#[test]
fn the_good_files_train() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.dlp"), CSV_PROGRAM).unwrap();
    std::fs::write(dir.path().join("data.csv"), GOOD_CSV).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(["run", "p.dlp"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let images: Vec<u8> = (0..12).collect();
    std::fs::write(dir.path().join("p.dlp"), IDX_PROGRAM).unwrap();
    std::fs::write(dir.path().join("images.idx"), idx(8, &[3, 2, 2], &images)).unwrap();
    std::fs::write(dir.path().join("labels.idx"), gz(&idx(8, &[3], &[0, 1, 2]))).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(["run", "p.dlp"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn csv_row_with_too_few_fields() {
    let e = fails(CSV_PROGRAM, &csv("a,b,label\n1,2,0\n3,4\n5,6,2\n"));
    assert_has(
        &e,
        &["data.csv", "line 3", "has 2 fields but the header has 3"],
    );
}

#[test]
fn csv_value_that_is_not_a_number() {
    let e = fails(CSV_PROGRAM, &csv("a,b,label\n1,2,0\n3,x7,1\n"));
    assert_has(
        &e,
        &[
            "data.csv",
            "line 3",
            "field `x`, column `b`",
            "`x7` is not a number",
        ],
    );
}

#[test]
fn csv_label_out_of_range() {
    let e = fails(CSV_PROGRAM, &csv("a,b,label\n1,2,0\n3,4,3\n"));
    assert_has(
        &e,
        &[
            "data.csv",
            "line 3",
            "field `y`, column `label`",
            "label 3 is not a class in 0..3",
        ],
    );
}

#[test]
fn csv_label_that_is_not_whole() {
    let e = fails(CSV_PROGRAM, &csv("a,b,label\n1,2,0.5\n3,4,1\n"));
    assert_has(&e, &["line 2", "field `y`", "label 0.5 is not a class"]);
}

#[test]
fn csv_infinite_value() {
    let e = fails(CSV_PROGRAM, &csv("a,b,label\n1,inf,0\n3,4,1\n"));
    assert_has(&e, &["line 2", "column `b`", "not a finite number"]);
}

#[test]
fn csv_header_without_the_named_column() {
    let e = fails(CSV_PROGRAM, &csv("a,b,target\n1,2,0\n3,4,1\n"));
    assert_has(
        &e,
        &[
            "data.csv",
            "line 1",
            "field `y`",
            "the header has no column `label`",
            "`target`",
        ],
    );
}

#[test]
fn csv_named_column_without_a_header() {
    let program = CSV_PROGRAM.replace("header = true", "header = false");
    let e = fails(&program, &csv("1,2,0\n3,4,1\n"));
    assert_has(&e, &["data.csv", "field `y`", "the file has no header"]);
}

#[test]
fn csv_column_index_past_the_end() {
    let program = CSV_PROGRAM.replace("columns(0..2)", "columns(2..4)");
    let e = fails(&program, &csv(GOOD_CSV));
    assert_has(
        &e,
        &["data.csv", "line 2", "field `x`", "there is no column 3"],
    );
}

#[test]
fn csv_without_rows() {
    let e = fails(CSV_PROGRAM, &csv("a,b,label\n"));
    assert_has(&e, &["data.csv", "has no data rows"]);
}

#[test]
fn missing_data_file() {
    let e = fails(CSV_PROGRAM, &[]);
    assert_has(&e, &["data.csv", "cannot read the file"]);
}

#[test]
fn fewer_samples_than_one_batch() {
    let program = CSV_PROGRAM.replace("batch     = 2", "batch     = 8");
    let e = fails(&program, &csv(GOOD_CSV));
    assert_has(&e, &["`d` has 3 samples, fewer than one batch of 8"]);
}

#[test]
fn idx_with_a_wrong_magic_number() {
    let files = vec![
        ("images.idx", b"\x08\x03\x00\x00garbage".to_vec()),
        ("labels.idx", idx(8, &[3], &[0, 1, 2])),
    ];
    let e = fails(IDX_PROGRAM, &files);
    assert_has(
        &e,
        &["images.idx", "field `x`", "wrong magic number 08 03 00 00"],
    );
}

#[test]
fn idx_with_an_unknown_value_type() {
    let files = vec![
        ("images.idx", idx(0x42, &[3, 2, 2], &[0; 12])),
        ("labels.idx", idx(8, &[3], &[0, 1, 2])),
    ];
    let e = fails(IDX_PROGRAM, &files);
    assert_has(&e, &["images.idx", "unknown IDX value type 0x42"]);
}

#[test]
fn idx_with_a_truncated_header() {
    let files = vec![
        ("images.idx", vec![0, 0, 8, 3, 0, 0]),
        ("labels.idx", idx(8, &[3], &[0, 1, 2])),
    ];
    let e = fails(IDX_PROGRAM, &files);
    assert_has(
        &e,
        &[
            "images.idx",
            "truncated: the header needs 16 bytes, the file has 6",
        ],
    );
}

#[test]
fn idx_with_truncated_records() {
    let files = vec![
        ("images.idx", idx(8, &[3, 2, 2], &[0; 9])),
        ("labels.idx", idx(8, &[3], &[0, 1, 2])),
    ];
    let e = fails(IDX_PROGRAM, &files);
    assert_has(
        &e,
        &[
            "images.idx",
            "record 2",
            "field `x`",
            "truncated: 3 records of 4 u8 values need 12 bytes",
        ],
    );
}

#[test]
fn idx_records_of_the_wrong_shape() {
    let files = vec![
        ("images.idx", idx(8, &[2, 3, 3], &[0; 18])),
        ("labels.idx", idx(8, &[2], &[0, 1])),
    ];
    let e = fails(IDX_PROGRAM, &files);
    assert_has(
        &e,
        &[
            "images.idx",
            "each record has 9 values ([3, 3]) but the program casts them to [2, 2]",
        ],
    );
}

#[test]
fn idx_label_out_of_range() {
    let files = vec![
        ("images.idx", idx(8, &[3, 2, 2], &[0; 12])),
        ("labels.idx", idx(8, &[3], &[0, 7, 1])),
    ];
    let e = fails(IDX_PROGRAM, &files);
    assert_has(
        &e,
        &[
            "labels.idx",
            "record 1",
            "field `y`",
            "label 7 is not a class in 0..3",
        ],
    );
}

#[test]
fn idx_files_that_disagree_on_the_sample_count() {
    let files = vec![
        ("images.idx", idx(8, &[3, 2, 2], &[0; 12])),
        ("labels.idx", idx(8, &[2], &[0, 1])),
    ];
    let e = fails(IDX_PROGRAM, &files);
    assert_has(&e, &["labels.idx", "has 2 records but", "images.idx has 3"]);
}

#[test]
fn idx_with_corrupt_gzip() {
    let mut bad = gz(&idx(8, &[3, 2, 2], &[0; 12]));
    let n = bad.len();
    bad.truncate(n / 2);
    let files = vec![
        ("images.idx", bad),
        ("labels.idx", idx(8, &[3], &[0, 1, 2])),
    ];
    let e = fails(IDX_PROGRAM, &files);
    assert_has(
        &e,
        &["images.idx", "field `x`", "cannot decompress the gzip data"],
    );
}

#[test]
fn resuming_from_a_folder_that_is_no_run() {
    let dir = tempfile::tempdir().unwrap();
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/iris.dlp");
    let out = Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args([
            "run",
            program.to_str().unwrap(),
            "--resume",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_has(&e, &["is not a run record (no config.json)"]);
}

#[test]
fn csv_row_with_a_single_field() {
    let e = fails(CSV_PROGRAM, &csv("a,b,label\n1,2,0\n7\n"));
    assert_has(
        &e,
        &["data.csv", "line 3", "has 1 field but the header has 3"],
    );
}

#[test]
fn csv_line_numbers_count_blank_lines_and_crlf_endings() {
    let e = fails(CSV_PROGRAM, &csv("a,b,label\r\n1,2,0\r\n3,x,1\r\n"));
    assert_has(&e, &["line 3", "`x` is not a number"]);
    let e = fails(CSV_PROGRAM, &csv("a,b,label\n1,2,0\n\n\n3,x,1\n"));
    assert_has(&e, &["line 5", "`x` is not a number"]);
}

#[test]
fn a_split_too_small_to_get_a_sample() {
    let program = CSV_PROGRAM.replace(
        "    y      = column(\"label\") as class(3)\n",
        "    y      = column(\"label\") as class(3)\n    split  = { train: 0.1, test: 0.9 }\n",
    );
    let e = fails(&program, &csv(GOOD_CSV));
    assert_has(
        &e,
        &[
            "data.csv",
            "split `train` of dataset `d` gets none of its 3 samples",
        ],
    );
}

#[test]
fn csv_header_naming_a_column_twice() {
    let e = fails(CSV_PROGRAM, &csv("a,label,label\n1,2,0\n3,4,1\n"));
    assert_has(
        &e,
        &[
            "line 1",
            "field `y`",
            "the header names column `label` twice (columns 1 and 2)",
        ],
    );
}
