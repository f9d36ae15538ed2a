//! A damaged image or text file never panics: thousands of randomly
//! corrupted PNG and JPEG files (in an image folder), gzipped text files
//! and UTF-8 text read as characters through the loader, which must answer with data or an error naming the
//! file, never a crash. What loads is in range: pixels are bytes, labels
//! are classes of the folder.
//!
//! `DLP_FUZZ_RUNS=N` sets the number of rounds (3,400 by default: 13,600
//! files, a fifth of them intact); each round damages two images and two
//! text files and loads every dataset (the characters both with the
//! vocabulary they hold, as a new run numbers them, and with the intact
//! text's, as `dlpc eval` does).

mod fuzz;

use dlp_runtime::data::{Loaded, Vocabulary};
use dlp_runtime::Data;
use fuzz::{gz, runs, spec, Rng};
use image::{ImageFormat, Rgb, RgbImage};

const PROGRAM: &str = r#"
use std.nn.linear
use std.loss.cross_entropy
use std.optim.sgd

dataset pics {
    source = images("pics", size = [4, 4], channels = 3)
    x      = image() as f32[48] / 255.0
    y      = label() as class(2)
}

dataset book {
    window = text("book.txt.gz") as class(128)[9]
    x      = window[0:8]
    y      = window[8]
}

dataset sayings {
    window = text("sayings.txt", tokens = "chars") as class(64)[5]
    x      = window[0:4]
    y      = window[4]
}

model M {
    input x: f32[B, 48]
    output logits = linear(x, 2)
}

model L {
    input x: class(128)[B, 8]
    output logits = linear(one_hot(x) as f32[B, 1024], 128)
}

model C {
    input x: class(64)[B, 4]
    output logits = linear(one_hot(x) as f32[B, 256], 64)
}

train on_sayings {
    model     = C()
    data      = sayings
    batch     = 1
    epochs    = 1
    loss      = cross_entropy(logits, y)
    optimizer = sgd()
}

train on_pics {
    model     = M()
    data      = pics
    batch     = 1
    epochs    = 1
    loss      = cross_entropy(logits, y)
    optimizer = sgd()
}

train on_book {
    model     = L()
    data      = book
    batch     = 1
    epochs    = 1
    loss      = cross_entropy(logits, y)
    optimizer = sgd()
}
"#;

fn encode(image: RgbImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).unwrap();
    bytes.into_inner()
}

/// Flipped bytes, a cut, or bytes put in, somewhere (often in the header).
fn damage(rng: &mut Rng, good: &[u8]) -> Vec<u8> {
    let mut bytes = good.to_vec();
    for _ in 0..1 + rng.below(4) {
        if bytes.is_empty() {
            break;
        }
        // Headers are where decoders trust sizes: aim there half the time.
        let at = if rng.below(2) == 0 {
            rng.below(bytes.len().min(64))
        } else {
            rng.below(bytes.len())
        };
        match rng.below(4) {
            0 => bytes[at] ^= 1 << rng.below(8),
            1 => bytes[at] = [0x00, 0xff, 0x7f, 0x80][rng.below(4)],
            2 => bytes.truncate(at),
            _ => {
                let junk: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
                bytes.splice(at..at, junk);
            }
        }
    }
    bytes
}

fn check_loaded(loaded: &Loaded) {
    for (_, part) in &loaded.parts {
        for (name, values) in &part.feeds {
            match &values.to_tensor().data {
                Data::I32(v) => assert!(v.iter().all(|&c| (0..128).contains(&c)), "{name}"),
                Data::F32(v) => assert!(v.iter().all(|&p| (0.0..=255.0).contains(&p)), "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}

#[test]
fn damaged_images_and_texts_give_data_or_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for class in ["dark", "light"] {
        std::fs::create_dir_all(dir.path().join("pics").join(class)).unwrap();
    }
    let mut photo = RgbImage::new(6, 5);
    for (x, y, p) in photo.enumerate_pixels_mut() {
        *p = Rgb([(x * 40) as u8, (y * 50) as u8, 128]);
    }
    let png = encode(photo.clone(), ImageFormat::Png);
    let jpeg = encode(photo, ImageFormat::Jpeg);
    let text = gz(b"It was the best of times, it was the worst of times.\n");
    let sayings = "Ça va ? Très bien.\nÀ demain — 再见!\n".as_bytes();
    let specs = [
        spec(PROGRAM, "on_pics"),
        spec(PROGRAM, "on_book"),
        spec(PROGRAM, "on_sayings"),
    ];
    let dir_path = dir.path();
    std::fs::write(dir_path.join("sayings.txt"), sayings).unwrap();
    let trained = Vocabulary::of_texts([&specs[2]], dir_path)
        .unwrap()
        .unwrap();
    let files = [
        ("pics/dark/a.png", &png[..]),
        ("pics/light/b.jpg", &jpeg[..]),
        ("book.txt.gz", &text[..]),
        ("sayings.txt", sayings),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut loaded, mut refused) = ([0; 4], [0; 4]);
    let runs = runs(3400);
    let names_the_file = |e: &dyn std::fmt::Display| {
        let text = e.to_string();
        assert!(
            text.contains(dir_path.to_str().unwrap()),
            "the error names the file: {text}"
        );
        assert!(text.len() < 1000, "a {}-byte error: {text}", text.len());
    };
    for _ in 0..runs {
        for (name, good) in files {
            let bytes = match rng.below(5) {
                0 => good.to_vec(),
                _ => damage(&mut rng, good),
            };
            std::fs::write(dir_path.join(name), bytes).unwrap();
        }
        // The characters are read twice: numbered by their own vocabulary
        // (a new run) and by the intact text's (evaluating a trained model).
        let own = Vocabulary::of_texts([&specs[2]], dir_path);
        for i in 0..4 {
            let vocabulary = match (i, &own) {
                (2, Ok(own)) => own.clone(),
                (2, Err(e)) => {
                    names_the_file(e);
                    refused[i] += 1;
                    continue;
                }
                (3, _) => Some(trained.clone()),
                _ => None,
            };
            let spec = &specs[i.min(2)];
            match dlp_runtime::data::load(spec, dir_path, vocabulary.as_ref()) {
                Ok(data) => {
                    check_loaded(&data);
                    loaded[i] += 1;
                }
                Err(e) => {
                    names_the_file(&e);
                    refused[i] += 1;
                }
            }
        }
    }
    eprintln!(
        "{} files ({runs} rounds): images {} loaded, {} refused; text {} loaded, {} refused; characters {} loaded, {} refused, with the intact text's vocabulary {} loaded, {} refused",
        runs * files.len(),
        loaded[0],
        refused[0],
        loaded[1],
        refused[1],
        loaded[2],
        refused[2],
        loaded[3],
        refused[3]
    );
    for i in 0..4 {
        assert!(loaded[i] > runs / 100 && refused[i] > runs / 100);
    }
}

#[test]
fn the_folder_hash_follows_names_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for class in ["dark", "light"] {
        std::fs::create_dir_all(dir.path().join("pics").join(class)).unwrap();
    }
    let png = |v: u8| encode(RgbImage::from_pixel(4, 4, Rgb([v, v, v])), ImageFormat::Png);
    std::fs::write(dir.path().join("pics/dark/a.png"), png(10)).unwrap();
    std::fs::write(dir.path().join("pics/light/b.png"), png(240)).unwrap();
    let spec = spec(PROGRAM, "on_pics");
    let hash = || {
        let loaded = dlp_runtime::data::load(&spec, dir.path(), None).unwrap();
        loaded.files[0].1.clone()
    };
    let first = hash();
    assert_eq!(hash(), first, "the same folder, the same hash");
    std::fs::write(dir.path().join("pics/light/b.png"), png(241)).unwrap();
    let changed = hash();
    assert_ne!(changed, first, "a changed image changes it");
    std::fs::rename(
        dir.path().join("pics/light/b.png"),
        dir.path().join("pics/light/c.png"),
    )
    .unwrap();
    assert_ne!(hash(), changed, "a renamed image changes it");
}
