//! What the runtime reads for a dataset: its sources, splits, shuffle,
//! and the raw per-sample values ([`Feed`]s) each step takes as inputs.

use crate::ir::DType;
use serde::{Deserialize, Serialize};

/// A dataset, or one of its splits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DataRef {
    pub dataset: String,
    pub split: Option<String>,
}

impl std::fmt::Display for DataRef {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match &self.split {
            Some(s) => write!(f, "{}.{s}", self.dataset),
            None => f.write_str(&self.dataset),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetSpec {
    pub name: String,
    pub source: SourceSpec,
    /// Fractions by split name, when one source is split (`split = {...}`).
    pub splits: Vec<(String, f64)>,
    /// The seed that shuffles the records before splitting.
    pub shuffle: Option<u64>,
    /// The raw reads the steps take as inputs (`Input::Feed(name)`).
    pub feeds: Vec<Feed>,
}

impl DatasetSpec {
    /// The names of the parts the data comes in (`None`: the whole).
    pub fn split_names(&self) -> Vec<String> {
        match &self.source {
            SourceSpec::PerSplit(sources) => sources.iter().map(|(n, _)| n.clone()).collect(),
            SourceSpec::None | SourceSpec::One(_) => {
                self.splits.iter().map(|(n, _)| n.clone()).collect()
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceSpec {
    /// No `source`: every field reads its own file (IDX).
    None,
    One(Source),
    /// `source = { train: csv(..), test: csv(..) }`.
    PerSplit(Vec<(String, Source)>),
}

/// A file that samples come from; the path is relative to the program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    Csv {
        path: String,
        header: bool,
        delimiter: char,
    },
    /// A folder with one sub-folder of images per class; every image is
    /// made `channels` x `height` x `width`.
    Images {
        path: String,
        height: usize,
        width: usize,
        channels: usize,
        /// Scale the shorter side to fit, then cut the centre (instead of
        /// stretching the image to the size).
        crop: bool,
        /// Convert images of another colour type (instead of refusing them).
        convert: bool,
    },
}

/// Raw per-sample values read from a dataset and fed to the steps as
/// `Input::Feed(name)`, with a batch axis in front of `shape`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Feed {
    pub name: String,
    /// The dataset field (`x`) it is read for: data errors name it.
    pub field: String,
    pub read: Read,
    pub dtype: DType,
    /// Per-sample shape.
    pub shape: Vec<usize>,
    /// `class(n)`: values must lie in `0..n`.
    pub classes: Option<usize>,
    /// The bounds of the written dtype when it is narrower than `dtype`
    /// (`u8` is read as i32 but holds only `0..=255`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<(i64, i64)>,
}

/// One read of raw per-sample values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Read {
    /// CSV columns (each a header name or a 0-based index), one value each.
    Columns { columns: Vec<Column>, scalar: bool },
    /// Every record of an IDX file.
    Idx { path: String },
    /// Every record (the first axis) of an NPY file, or of the array
    /// `array` of an NPZ archive.
    Npy {
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        array: Option<String>,
    },
    /// The pixels of each image of the dataset's image-folder source,
    /// `[channels, height, width]`.
    Image {
        channels: usize,
        height: usize,
        width: usize,
    },
    /// The class of each image of the image-folder source: the index of its
    /// sub-folder among the sorted names.
    Label,
    /// Windows of a text file's tokens, one every `stride` tokens (`None`:
    /// the window's length, so that windows do not overlap).
    Text {
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<usize>,
        #[serde(default, skip_serializing_if = "Tokens::is_bytes")]
        tokens: Tokens,
    },
}

/// What a text source's tokens are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tokens {
    /// Bytes (UTF-8 code units): any file reads, 256 of them cover it.
    #[default]
    Bytes,
    /// Characters, numbered by the run's vocabulary: the characters of
    /// every character-level text the run reads, in code-point order.
    Chars,
}

impl Tokens {
    pub fn is_bytes(&self) -> bool {
        *self == Tokens::Bytes
    }

    /// The name a program gives it (`tokens = "chars"`).
    pub fn name(self) -> &'static str {
        match self {
            Tokens::Bytes => "bytes",
            Tokens::Chars => "chars",
        }
    }

    pub fn named(name: &str) -> Option<Tokens> {
        [Tokens::Bytes, Tokens::Chars]
            .into_iter()
            .find(|t| t.name() == name)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Column {
    Index(usize),
    Name(String),
}
