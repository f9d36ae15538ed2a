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
    fails_in(program, files).1
}

/// Like [`fails`], and keeps the folder (its run record is in `runs/`).
fn fails_in(program: &str, files: &[(&str, Vec<u8>)]) -> (tempfile::TempDir, String) {
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
    (dir, stderr)
}

/// Runs `program` beside `files`; the run must succeed.
fn trains(program: &str, files: &[(&str, Vec<u8>)]) {
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
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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

// Values are checked against the dtype they are read as.

#[test]
fn csv_value_too_large_for_f32() {
    for big in ["1e39", "3.5e38"] {
        let e = fails(CSV_PROGRAM, &csv(&format!("a,b,label\n1,{big},0\n")));
        assert_has(
            &e,
            &[
                "data.csv",
                "line 2",
                "field `x`, column `b`",
                &format!("{big} does not fit in f32"),
            ],
        );
    }
}

#[test]
fn csv_nan_value() {
    let e = fails(CSV_PROGRAM, &csv("a,b,label\n1,nan,0\n"));
    assert_has(
        &e,
        &["line 2", "column `b`", "`nan` is not a finite number"],
    );
}

#[test]
fn csv_huge_label_is_out_of_range_not_unwhole() {
    let e = fails(CSV_PROGRAM, &csv("a,b,label\n1,2,3e38\n"));
    assert_has(
        &e,
        &["line 2", "field `y`", "label 3e38 is not a class in 0..3"],
    );
    let program = CSV_PROGRAM.replace(
        "    y      = column(\"label\") as class(3)\n",
        "    y      = column(\"label\") as class(3)\n    n      = column(\"a\") as i32\n",
    );
    let e = fails(&program, &csv("a,b,label\n3e38,2,0\n"));
    assert_has(
        &e,
        &[
            "line 2",
            "field `n`, column `a`",
            "3e38 is out of range: integers are read as i32",
        ],
    );
}

#[test]
fn values_outside_u8_are_refused() {
    let program = CSV_PROGRAM.replace(
        "    y      = column(\"label\") as class(3)\n",
        "    y      = column(\"label\") as class(3)\n    p      = column(\"a\") as u8\n",
    );
    for (bad, line) in [("300", "line 3"), ("-1", "line 3")] {
        let e = fails(&program, &csv(&format!("a,b,label\n255,2,0\n{bad},2,1\n")));
        assert_has(
            &e,
            &[
                line,
                "field `p`, column `a`",
                &format!("{bad} is out of range: the field holds values from 0 to 255"),
            ],
        );
    }
    trains(&program, &csv("a,b,label\n0,2,0\n255,2,1\n"));
}

fn f32_idx(dims: &[u32], values: &[f32]) -> Vec<u8> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
    idx(0x0D, dims, &bytes)
}

#[test]
fn idx_float_file_with_nan_or_an_infinity() {
    for (bad, shown) in [(f32::NAN, "NaN"), (f32::INFINITY, "inf")] {
        let mut values = [0.0; 12];
        values[5] = bad;
        let files = vec![
            ("images.idx", f32_idx(&[3, 2, 2], &values)),
            ("labels.idx", idx(8, &[3], &[0, 1, 2])),
        ];
        let e = fails(IDX_PROGRAM, &files);
        assert_has(
            &e,
            &[
                "images.idx",
                "record 1",
                "field `x`",
                &format!("{shown} is not a finite number (the file stores f32 values)"),
            ],
        );
    }
}

#[test]
fn idx_float_values_read_as_integers() {
    let program = IDX_PROGRAM.replace("as u8[2, 2] as f32[4] / 255.0", "as f32[4]");
    let mut values = [0.0f32; 12];
    values[11] = 3e38;
    let files = vec![
        ("images.idx", f32_idx(&[3, 2, 2], &values)),
        ("labels.idx", f32_idx(&[3], &[0.0, 1.0, 3e38])),
    ];
    let e = fails(&program, &files);
    assert_has(
        &e,
        &[
            "labels.idx",
            "record 2",
            "label 3e38 is not a class in 0..3",
        ],
    );
    values[11] = 2.5;
    let files = vec![
        ("images.idx", f32_idx(&[3, 2, 2], &values)),
        ("labels.idx", idx(8, &[3], &[0, 1, 2])),
    ];
    let e = fails(IDX_PROGRAM, &files);
    assert_has(&e, &["images.idx", "record 2", "2.5 is not a whole number"]);
    values[11] = 3e38;
    let files = vec![
        ("images.idx", f32_idx(&[3, 2, 2], &values)),
        ("labels.idx", idx(8, &[3], &[0, 1, 2])),
    ];
    let e = fails(IDX_PROGRAM, &files);
    assert_has(&e, &["images.idx", "record 2", "3e38 is out of range"]);
}

// IDX header arithmetic.

#[test]
fn idx_header_whose_sizes_overflow() {
    // 4 × 11 × 2996173443 × 1119412321 is 4 modulo 2^64: wrapped, each
    // record would have the 4 values the program casts to.
    let files = vec![
        (
            "images.idx",
            idx(8, &[3, 4, 11, 2996173443, 1119412321], &[0; 12]),
        ),
        ("labels.idx", idx(8, &[3], &[0, 1, 2])),
    ];
    let e = fails(IDX_PROGRAM, &files);
    assert_has(
        &e,
        &[
            "images.idx",
            "field `x`",
            "the header says 3 × 4 × 11 × 2996173443 × 1119412321 u8 values, which overflows",
        ],
    );
}

#[test]
fn multi_member_gzip_is_read_whole() {
    let labels = idx(8, &[3], &[0, 1, 2]);
    let mut two = gz(&labels[..7]);
    two.extend(gz(&labels[7..]));
    let images: Vec<u8> = (0..12).collect();
    trains(
        IDX_PROGRAM,
        &[
            ("images.idx", idx(8, &[3, 2, 2], &images)),
            ("labels.idx", two),
        ],
    );
}

// CSV line endings, special paths, long values.

#[test]
fn csv_line_numbers_with_carriage_return_endings() {
    let e = fails(CSV_PROGRAM, &csv("a,b,label\r1,2,0\r3,x,1\r"));
    assert_has(&e, &["line 3", "`x` is not a number"]);
    let e = fails(CSV_PROGRAM, &csv("a,b,label\r1,2,0\r\r3,x,1\r"));
    assert_has(&e, &["line 4", "`x` is not a number"]);
}

#[test]
fn a_device_is_refused_as_a_data_source() {
    for device in ["/dev/zero", "/dev/urandom"] {
        let program = CSV_PROGRAM.replace("\"data.csv\"", &format!("\"{device}\""));
        let e = fails(&program, &[]);
        assert_has(
            &e,
            &[&format!(
                "{device}: is a character device, not a regular file"
            )],
        );
    }
    let program = CSV_PROGRAM.replace("\"data.csv\"", "\"data\"");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("p.dlp"), program).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(["run", "p.dlp", "--runs", "runs"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_has(
        &String::from_utf8_lossy(&out.stderr),
        &["data: is a folder, not a regular file"],
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_without_a_writer_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.dlp"), CSV_PROGRAM).unwrap();
    let made = Command::new("mkfifo")
        .arg(dir.path().join("data.csv"))
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("no mkfifo here: skipped");
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(["run", "p.dlp", "--runs", "runs"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("`dlpc run` blocked on a FIFO with no writer");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert_has(
        &String::from_utf8_lossy(&out.stderr),
        &["data.csv: is a FIFO (named pipe), not a regular file"],
    );
}

#[test]
fn a_huge_value_is_quoted_short() {
    let value = "x".repeat(1_000_000);
    let e = fails(CSV_PROGRAM, &csv(&format!("a,b,label\n1,{value},0\n")));
    assert_has(&e, &["line 2", "column `b`", "…` is not a number"]);
    assert!(e.len() < 1000, "a {}-byte error", e.len());
}

// A figure that is not finite stops the run, recorded as failed.

/// Four rows of which the last two (the `test` split) overflow f32 once
/// scaled by 10.
const TWO_HALVES_PROGRAM: &str = r#"
use std.nn.linear
use std.loss.cross_entropy
use std.optim.sgd

dataset d {
    source = csv("data.csv", header = true)
    x      = columns(0..2) as f32[2] * 10.0
    y      = column("label") as class(3)
    split  = { train: 0.5, test: 0.5 }
}

model M {
    input x: f32[B, 2]
    output logits = linear(x, 3)
}

train t {
    model     = M()
    data      = d.train
    batch     = 2
    epochs    = 1
    loss      = cross_entropy(logits, y)
    optimizer = sgd()
}
"#;

const HALVES_CSV: &str = "a,b,label\n1,2,0\n3,4,1\n5,6,2\n1e30,3e38,1\n";

/// The run record's summary.json.
fn summary(dir: &Path) -> serde_json::Value {
    let runs: Vec<_> = std::fs::read_dir(dir.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let text = std::fs::read_to_string(runs[0].join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn assert_failed_with(dir: &Path, stderr: &str, message: &str) {
    assert_has(stderr, &[message, "try a lower learning rate"]);
    let s = summary(dir);
    assert_eq!(s["status"], "failed", "{s}");
    assert!(s["error"].as_str().unwrap().contains(message), "{s}");
}

#[test]
fn a_non_finite_final_evaluation_fails_the_run() {
    let (dir, e) = fails_in(TWO_HALVES_PROGRAM, &csv(HALVES_CSV));
    assert_failed_with(
        dir.path(),
        &e,
        "the final evaluation on `d.test` gave a loss of NaN",
    );
}

#[test]
fn a_non_finite_validation_loss_fails_the_run() {
    let program = TWO_HALVES_PROGRAM.replace(
        "    optimizer = sgd()\n",
        "    optimizer = sgd()\n    validate  = d.test\n",
    );
    let (dir, e) = fails_in(&program, &csv(HALVES_CSV));
    assert_failed_with(
        dir.path(),
        &e,
        "the validation loss on `d.test` became NaN at epoch 1",
    );
}

#[test]
fn a_non_finite_training_metric_fails_the_run() {
    let program = TWO_HALVES_PROGRAM.replace(
        "    optimizer = sgd()\n",
        "    optimizer = sgd()\n    metrics   = [cross_entropy(logits * 1e38 * 1e38, y)]\n",
    );
    let (dir, e) = fails_in(&program, &csv("a,b,label\n1,2,0\n3,4,1\n5,6,2\n7,8,1\n"));
    assert_failed_with(
        dir.path(),
        &e,
        "the training metric `cross_entropy` became NaN at epoch 1, step 1",
    );
}

const TEXT_PROGRAM: &str = r#"
use std.nn.{embedding, linear}
use std.loss.cross_entropy
use std.optim.sgd

dataset d {
    text = text("book.txt") as class(128)[5]
    x    = text[0:4]
    y    = text[1:5]
}

model M {
    input x: class(128)[B, T]
    output logits = linear(embedding(x, 4), 128)
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

#[test]
fn text_byte_outside_the_vocabulary() {
    // `é` is two bytes in UTF-8, both above 127.
    let files = vec![(
        "book.txt",
        "plain ascii\ncaf\u{e9} and more\n".as_bytes().to_vec(),
    )];
    let e = fails(TEXT_PROGRAM, &files);
    assert_has(
        &e,
        &[
            "book.txt",
            "line 2, byte 15",
            "field `text`",
            "byte 195: label 195 is not a class in 0..128",
        ],
    );
}

#[test]
fn text_shorter_than_a_window() {
    let e = fails(TEXT_PROGRAM, &[("book.txt", b"abc".to_vec())]);
    assert_has(
        &e,
        &[
            "book.txt",
            "field `text`",
            "has 3 bytes, fewer than one window of 5",
        ],
    );
    trains(
        TEXT_PROGRAM,
        &[("book.txt", gz(b"a longer text, gzip-compressed"))],
    );
}
