//! A bad data file never panics: thousands of randomly damaged CSV and IDX
//! files (plain and gzipped) through the loader, which must answer with
//! data or an error, never a crash.

use dlp_compiler::lower;
use dlp_compiler::program::DatasetSpec;
use dlp_compiler::{compile, NoModules};
use std::io::Write;

const PROGRAM: &str = r#"
use std.nn.linear
use std.loss.cross_entropy
use std.optim.sgd

dataset tab {
    source  = csv("data.csv", header = true)
    x       = columns(0..2) as f32[2]
    y       = column("label") as class(3)
    split   = { train: 0.5, test: 0.5 }
    shuffle = seed(1)
}

dataset img {
    x = idx("images.idx") as u8[2, 2] as f32[4]
    y = idx("labels.idx.gz") as class(3)[]
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
"#;

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

fn spec(train: &str) -> DatasetSpec {
    let comp = compile("p.dlp", PROGRAM, &mut NoModules);
    assert!(!comp.has_errors(), "{:?}", comp.diagnostics);
    lower::compile(&comp, Some(train))
        .unwrap()
        .datasets
        .remove(0)
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

#[test]
fn damaged_files_give_data_or_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let good_csv = b"a,b,label\n1,2,0\n3.5,-4,1\n5e-1,6,2\n7,8,1\n".to_vec();
    let good_images = idx(8, &[3, 2, 2], &(0..12).collect::<Vec<u8>>());
    let good_labels = idx(8, &[3], &[0, 1, 2]);
    let (tab, img) = (spec("on_tab"), spec("on_img"));
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut loaded, mut refused) = (0, 0);
    for _ in 0..3000 {
        std::fs::write(dir.path().join("data.csv"), damage(&mut rng, &good_csv)).unwrap();
        std::fs::write(
            dir.path().join("images.idx"),
            damage(&mut rng, &good_images),
        )
        .unwrap();
        let labels = if rng.below(2) == 0 {
            gz(&damage(&mut rng, &good_labels))
        } else {
            damage(&mut rng, &gz(&good_labels))
        };
        std::fs::write(dir.path().join("labels.idx.gz"), labels).unwrap();
        for spec in [&tab, &img] {
            match dlp_runtime::data::load(spec, dir.path()) {
                Ok(_) => loaded += 1,
                Err(e) => {
                    let text = e.to_string();
                    assert!(
                        text.contains(dir.path().to_str().unwrap()),
                        "the error names the file: {text}"
                    );
                    refused += 1;
                }
            }
        }
    }
    assert!(
        loaded > 100 && refused > 100,
        "{loaded} loaded, {refused} refused"
    );
}
