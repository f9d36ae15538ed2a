//! `images(...)` sources end to end: a folder of PNG and JPEG files trains,
//! and every mistake in one (a wrong class count, a colour the program did
//! not ask for, a broken file, splits with different classes) stops the run
//! with an error that names the file or folder.

mod common;

use image::{GrayImage, ImageFormat, Luma, Rgb, RgbImage};
use std::path::Path;
use std::process::Command;

/// Two classes of 4x4 images: `dark/` and `light/`.
const PROGRAM: &str = r#"
use std.nn.linear
use std.loss.cross_entropy
use std.metrics.accuracy
use std.optim.adam

dataset d {
    source  = images("pics", size = [4, 4], channels = 1)
    x       = image() as f32[16] / 255.0
    y       = label() as class(2)
    split   = { train: 0.5, test: 0.5 }
    shuffle = seed(1)
}

model M {
    input x: f32[B, 16]
    output logits = linear(x, 2)
}

train t {
    model     = M()
    data      = d.train
    batch     = 4
    epochs    = 30
    loss      = cross_entropy(logits, y)
    optimizer = adam(lr = 0.1)
    metrics   = [accuracy(logits, y)]
    validate  = d.test
}
"#;

fn gray(value: u8, size: u32) -> Vec<u8> {
    encode(
        &GrayImage::from_pixel(size, size, Luma([value])).into(),
        ImageFormat::Png,
    )
}

fn encode(image: &image::DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).unwrap();
    bytes.into_inner()
}

/// Eight dark and eight light images, of assorted sizes (resized to 4x4).
fn good_folder() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for i in 0..8u8 {
        files.push((format!("pics/dark/{i}.png"), gray(10 + i, 4 + u32::from(i))));
        files.push((format!("pics/light/{i}.png"), gray(240 - i, 4)));
    }
    files
}

fn folder(program: &str, files: &[(String, Vec<u8>)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.dlp"), program).unwrap();
    for (name, bytes) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    dir
}

/// `dlpc args` in `dir`, with the preprocessing cache in `dir/cache`.
fn dlpc_in(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dlpc"))
        .args(args)
        .env("DLP_CACHE", dir.join("cache"))
        .current_dir(dir)
        .output()
        .unwrap()
}

fn run(dir: &Path) -> std::process::Output {
    dlpc_in(dir, &["run", "p.dlp", "--runs", "runs"])
}

/// The error of a run that must fail, without a panic.
fn fails(program: &str, files: &[(String, Vec<u8>)]) -> String {
    let dir = folder(program, files);
    let out = run(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "expected a failure:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn assert_has(text: &str, parts: &[&str]) {
    for p in parts {
        assert!(text.contains(p), "missing `{p}` in:\n{text}");
    }
}

#[test]
fn a_folder_of_images_trains_and_is_recorded() {
    let mut files = good_folder();
    // Hidden files are not images and are skipped; so are loose files at the top.
    files.push(("pics/dark/.DS_Store".into(), b"junk".to_vec()));
    files.push(("pics/LICENSE".into(), b"CC0".to_vec()));
    let dir = folder(PROGRAM, &files);
    let out = run(dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("d.test"), "{stdout}");
    let run = common::only_run(&dir.path().join("runs"));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    let data = &config["data"][0];
    assert_eq!(data["file"], "pics", "{config}");
    assert!(data["hash"].as_str().unwrap().starts_with("sha256:"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["final"]["d.test"]["accuracy"], 1.0, "{summary}");
}

#[test]
fn the_class_count_must_be_the_number_of_sub_folders() {
    let program = PROGRAM
        .replace("class(2)", "class(3)")
        .replace("linear(x, 2)", "linear(x, 3)");
    let stderr = fails(&program, &good_folder());
    assert_has(
        &stderr,
        &[
            "pics",
            "field `y`",
            "2 class folders (`dark`, `light`)",
            "class(3)",
        ],
    );
}

#[test]
fn an_image_of_another_colour_is_refused_unless_converted() {
    let mut files = good_folder();
    let rgb = RgbImage::from_pixel(4, 4, Rgb([200, 10, 10]));
    files.push((
        "pics/light/red.png".into(),
        encode(&rgb.into(), ImageFormat::Png),
    ));
    let stderr = fails(PROGRAM, &files);
    assert_has(
        &stderr,
        &[
            "red.png",
            "an RGB image (3 channels)",
            "grayscale",
            "convert = true",
        ],
    );
    let converting = PROGRAM.replace("channels = 1)", "channels = 1, convert = true)");
    let dir = folder(&converting, &files);
    assert!(run(dir.path()).status.success());
}

#[test]
fn jpeg_images_read_and_rgb_is_channels_first() {
    // One red and one blue class, as JPEG; the model sees [3, 4, 4].
    let program = PROGRAM
        .replace("channels = 1", "channels = 3")
        .replace("f32[B, 16]", "f32[B, 48]")
        .replace("f32[16]", "f32[48]");
    let mut files = Vec::new();
    for i in 0..8 {
        for (class, colour) in [("blue", Rgb([0, 0, 250])), ("red", Rgb([250, 0, 0]))] {
            let image = RgbImage::from_pixel(8, 6, colour);
            files.push((
                format!("pics/{class}/{i}.jpg"),
                encode(&image.into(), ImageFormat::Jpeg),
            ));
        }
    }
    let dir = folder(&program, &files);
    let out = run(dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_broken_or_foreign_file_is_named() {
    let mut files = good_folder();
    let mut broken = gray(100, 4);
    broken.truncate(broken.len() / 2);
    files.push(("pics/dark/broken.png".into(), broken));
    let stderr = fails(PROGRAM, &files);
    assert_has(&stderr, &["broken.png", "cannot decode the Png image"]);

    let mut files = good_folder();
    files.push(("pics/dark/notes.txt".into(), b"not an image".to_vec()));
    let stderr = fails(PROGRAM, &files);
    assert_has(&stderr, &["notes.txt", "is not a PNG or JPEG image"]);
}

#[test]
fn empty_and_missing_folders_are_named() {
    let mut files = good_folder();
    files.push(("pics/empty/.keep".into(), Vec::new()));
    let stderr = fails(PROGRAM, &files);
    assert_has(
        &stderr,
        &["pics/empty", "class folder `empty` holds no images"],
    );

    let stderr = fails(PROGRAM, &[("pics/a.png".to_string(), gray(1, 4))]);
    assert_has(&stderr, &["pics", "has no sub-folders"]);

    let stderr = fails(PROGRAM, &[]);
    assert_has(&stderr, &["pics", "cannot read the folder"]);
}

#[test]
fn split_folders_must_name_the_same_classes() {
    let program = PROGRAM
        .replace(
            r#"source  = images("pics", size = [4, 4], channels = 1)"#,
            r#"source  = { train: images("pics", size = [4, 4], channels = 1), test: images("other", size = [4, 4], channels = 1) }"#,
        )
        .replace("    split   = { train: 0.5, test: 0.5 }\n    shuffle = seed(1)\n", "");
    let mut files = good_folder();
    files.push(("other/dark/0.png".into(), gray(1, 4)));
    files.push(("other/lite/0.png".into(), gray(250, 4)));
    let stderr = fails(&program, &files);
    assert_has(
        &stderr,
        &[
            "other",
            "`dark`, `lite`",
            "`dark`, `light`",
            "same class folders",
        ],
    );
}

/// The entries of the cache in `dir/cache`, by name.
fn cache_entries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut entries: Vec<_> = std::fs::read_dir(dir.join("cache"))
        .map(|r| r.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    entries.sort();
    entries
}

#[test]
fn decoded_folders_are_cached_by_content_and_definition() {
    let dir = folder(PROGRAM, &good_folder());
    let trains = |dir: &Path| {
        let out = run(dir);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = trains(dir.path());
    let entries = cache_entries(dir.path());
    assert_eq!(entries.len(), 1, "{entries:?}");
    let payload = |entry: &Path| {
        let bytes = std::fs::read(entry).unwrap();
        let start = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
        bytes[start..].to_vec()
    };
    let pixels = payload(&entries[0]);
    assert_eq!(pixels.len(), 16 * 16, "16 images of 1x4x4 bytes");

    // A hit gives the same data: the same run, to the last digit.
    let again = trains(dir.path());
    let figures = |out: &str| {
        out.lines()
            .filter(|l| l.starts_with("d.test"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(figures(&again), figures(&first));
    assert_eq!(cache_entries(dir.path()), entries);

    // What the preparation does not read reuses the entry.
    let batch = PROGRAM.replace("batch     = 4", "batch     = 2");
    std::fs::write(dir.path().join("p.dlp"), &batch).unwrap();
    trains(dir.path());
    assert_eq!(cache_entries(dir.path()), entries);

    // A changed image, or another size, makes a new one.
    std::fs::write(dir.path().join("pics/dark/0.png"), gray(60, 4)).unwrap();
    trains(dir.path());
    assert_eq!(cache_entries(dir.path()).len(), 2);
    let resized = batch
        .replace("size = [4, 4]", "size = [2, 2]")
        .replace("f32[16]", "f32[4]")
        .replace("f32[B, 16]", "f32[B, 4]");
    std::fs::write(dir.path().join("p.dlp"), &resized).unwrap();
    trains(dir.path());
    assert_eq!(cache_entries(dir.path()).len(), 3);

    // A damaged entry is not trusted: it is prepared again and rewritten.
    for entry in cache_entries(dir.path()) {
        let mut bytes = std::fs::read(&entry).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&entry, bytes).unwrap();
    }
    std::fs::write(dir.path().join("p.dlp"), PROGRAM).unwrap();
    std::fs::write(dir.path().join("pics/dark/0.png"), gray(10, 4)).unwrap();
    assert_eq!(figures(&trains(dir.path())), figures(&first));
    assert_eq!(payload(&entries[0]), pixels, "rewritten whole");

    let listed = dlpc_in(dir.path(), &["cache", "ls"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("3 entries") && listed.contains("16 images, 1x4x4"),
        "{listed}"
    );
    let cleared = dlpc_in(dir.path(), &["cache", "clear"]);
    assert!(String::from_utf8_lossy(&cleared.stdout).contains("removed 3 entries"));
    assert!(cache_entries(dir.path()).is_empty());
}
