//! Data: reading a dataset's sources, shuffling, splitting and batching.
//!
//! The compiler says which raw values each field needs ([`Feed`]s: CSV
//! columns, IDX records) with their dtype and per-sample shape; this module
//! reads them into one tensor per feed (`[samples, ..shape]`), checks every
//! value (numbers parse, are finite and fit the dtype they are read as,
//! labels lie in `0..n`, files are complete), then
//! splits and batches. Field arithmetic (`/ 16.0`) is part of the step
//! graph, not done here. Every error names the file, the line or record,
//! and the field.

pub mod cache;
mod csv;
mod idx;
mod images;
mod npy;
mod records;
mod text;
mod values;
pub mod vocabulary;

use crate::rng;
use crate::tensor::{Data, Tensor};
use dlp_compiler::ir::DType;
use dlp_compiler::program::{DatasetSpec, Feed, Read, Source, SourceSpec, Tokens};
use records::Bytes;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub use values::FeedValues;
pub use vocabulary::Vocabulary;

/// A problem with a data file, and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct DataError {
    pub file: PathBuf,
    /// "line 12" (CSV, 1-based, counting the header) or "record 7" (IDX, 0-based).
    pub place: Option<String>,
    /// The dataset field and, for CSV, the column.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = &self.place {
            write!(f, ", {p}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for DataError {}

impl DataError {
    pub fn new(file: &Path, message: impl Into<String>) -> DataError {
        DataError {
            file: file.to_path_buf(),
            place: None,
            field: None,
            message: message.into(),
        }
    }

    /// A problem with what `file` holds for `feed`'s field, at `place`.
    pub fn in_field(file: &Path, feed: &Feed, place: Option<String>, message: String) -> DataError {
        DataError {
            file: file.to_path_buf(),
            place,
            field: Some(format!("field `{}`", feed.field)),
            message,
        }
    }
}

/// Samples with the values of every feed, all with the same number
/// of rows.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    pub len: usize,
    pub feeds: Vec<(String, FeedValues)>,
}

/// The samples of one step: a tensor per feed, in the feed's dtype.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub len: usize,
    pub feeds: Vec<(String, Tensor)>,
}

impl Samples {
    /// The samples of every part, one after the other (the parts have the
    /// same feeds, as they come from one dataset).
    pub fn concat(parts: &[&Samples]) -> Samples {
        let Some(first) = parts.first() else {
            return Samples::default();
        };
        let feeds = first
            .feeds
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let pieces: Vec<&FeedValues> = parts.iter().map(|p| &p.feeds[i].1).collect();
                let column = FeedValues::concat(&pieces)
                    .expect("the parts of one dataset have the same feeds");
                (name.clone(), column)
            })
            .collect();
        Samples {
            len: parts.iter().map(|p| p.len).sum(),
            feeds,
        }
    }

    /// The rows `rows` of every feed, in that order.
    pub fn rows(&self, rows: &[usize]) -> Samples {
        let feeds = self
            .feeds
            .iter()
            .map(|(name, c)| (name.clone(), c.rows(rows)))
            .collect();
        Samples {
            len: rows.len(),
            feeds,
        }
    }

    /// The rows `rows` of every feed, in that order, as tensors.
    pub fn batch(&self, rows: &[usize]) -> Batch {
        let feeds = self
            .feeds
            .iter()
            .map(|(name, c)| (name.clone(), c.gather(rows)))
            .collect();
        Batch {
            len: rows.len(),
            feeds,
        }
    }
}

/// A loaded dataset: its splits (or the whole under `None`) and the
/// content hash of every file read.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    pub name: String,
    pub parts: Vec<(Option<String>, Samples)>,
    pub files: Vec<(PathBuf, String)>,
}

impl Loaded {
    pub fn part(&self, split: Option<&str>) -> Option<&Samples> {
        self.parts
            .iter()
            .find(|(s, _)| s.as_deref() == split)
            .map(|(_, p)| p)
    }
}

/// Reads a dataset; paths are relative to `base` (the program's folder).
/// Character-level text is numbered by `vocabulary` (the run's).
pub fn load(
    spec: &DatasetSpec,
    base: &Path,
    vocabulary: Option<&Vocabulary>,
) -> Result<Loaded, DataError> {
    let mut loaded = Loaded {
        name: spec.name.clone(),
        ..Loaded::default()
    };
    match &spec.source {
        SourceSpec::PerSplit(sources) => {
            images::same_classes(sources, base)?;
            for (split, source) in sources {
                let samples = read(spec, Some(source), base, vocabulary, &mut loaded.files)?;
                loaded.parts.push((Some(split.clone()), samples));
            }
            // The whole dataset is every split's samples, in order.
            let parts: Vec<&Samples> = loaded.parts.iter().map(|(_, p)| p).collect();
            let whole = Samples::concat(&parts);
            loaded.parts.push((None, whole));
        }
        SourceSpec::One(source) => {
            let all = read(spec, Some(source), base, vocabulary, &mut loaded.files)?;
            loaded.parts = split(spec, all).map_err(|m| {
                let file = loaded
                    .files
                    .first()
                    .map_or_else(|| base.to_path_buf(), |f| f.0.clone());
                DataError::new(&file, m)
            })?;
        }
        SourceSpec::None => {
            let all = read(spec, None, base, vocabulary, &mut loaded.files)?;
            loaded.parts = split(spec, all).map_err(|m| {
                let file = loaded
                    .files
                    .first()
                    .map_or_else(|| base.to_path_buf(), |f| f.0.clone());
                DataError::new(&file, m)
            })?;
        }
    }
    Ok(loaded)
}

/// Reads every feed of the dataset from `source` (CSV columns) or its own
/// file (IDX, NPY, NPZ, text), and checks that they agree on the number of
/// samples.
fn read(
    spec: &DatasetSpec,
    source: Option<&Source>,
    base: &Path,
    vocabulary: Option<&Vocabulary>,
    files: &mut Vec<(PathBuf, String)>,
) -> Result<Samples, DataError> {
    let mut feeds = Vec::new();
    let mut first: Option<(usize, PathBuf)> = None;
    let csv_feeds: Vec<&Feed> = spec
        .feeds
        .iter()
        .filter(|f| matches!(f.read, Read::Columns { .. }))
        .collect();
    if !csv_feeds.is_empty() {
        let Some(Source::Csv {
            path,
            header,
            delimiter,
        }) = source
        else {
            return Err(DataError::new(
                base,
                format!(
                    "dataset `{}` reads CSV columns but has no CSV source",
                    spec.name
                ),
            ));
        };
        let file = base.join(path);
        let bytes = read_file(&file, files)?;
        let table = csv::read(&file, &bytes, *header, *delimiter, &csv_feeds)?;
        first = Some((table.len, file));
        feeds.extend(table.feeds);
    }
    let image_feeds: Vec<&Feed> = spec
        .feeds
        .iter()
        .filter(|f| matches!(f.read, Read::Image { .. } | Read::Label))
        .collect();
    if !image_feeds.is_empty() {
        let Some((path, wanted)) = source.and_then(images::Wanted::of) else {
            return Err(DataError::new(
                base,
                format!(
                    "dataset `{}` reads images but has no image-folder source",
                    spec.name
                ),
            ));
        };
        let dir = base.join(path);
        let (listing, values) = images::read(&dir, wanted, &image_feeds, files)?;
        first = Some((listing.images.len(), dir));
        feeds.extend(values);
    }
    for feed in spec.feeds.iter() {
        let path = match &feed.read {
            Read::Columns { .. } | Read::Image { .. } | Read::Label => continue,
            Read::Idx { path } | Read::Npy { path, .. } | Read::Text { path, .. } => path,
        };
        let file = base.join(path);
        let bytes: Bytes = if size_of(&file)? > records::map_over() && mappable(&feed.read) {
            let map = records::map_file(&file)?;
            note_file(files, &file, content_hash(&map[..]));
            map
        } else {
            Arc::new(read_file(&file, files)?)
        };
        let t = read_values(&file, bytes, &feed.read, vocabulary, feed)?;
        let n = t.samples();
        match &first {
            Some((m, other)) if *m != n => {
                return Err(DataError::new(
                    &file,
                    format!(
                        "has {n} records but {} has {m}: every field needs one value per sample",
                        other.display()
                    ),
                ))
            }
            Some(_) => {}
            None => first = Some((n, file.clone())),
        }
        feeds.push((feed.name.clone(), t));
    }
    // Keep the feeds in the compiler's order.
    feeds.sort_by_key(|(name, _)| spec.feeds.iter().position(|f| &f.name == name));
    Ok(Samples {
        len: first.map_or(0, |(n, _)| n),
        feeds,
    })
}

/// Whether a large file of `read` is memory-mapped rather than read whole:
/// an NPY or IDX file, or text read as bytes (whose values are the file's
/// bytes). An NPZ member or characters are unpacked or decoded into memory
/// anyway (as is a gzipped file, from the map).
fn mappable(read: &Read) -> bool {
    matches!(
        read,
        Read::Npy { array: None, .. }
            | Read::Idx { .. }
            | Read::Text {
                tokens: Tokens::Bytes,
                ..
            }
    )
}

/// The values of one feed read from its own file, whose bytes are `bytes`
/// (read whole, or memory-mapped).
fn read_values(
    file: &Path,
    bytes: Bytes,
    read: &Read,
    vocabulary: Option<&Vocabulary>,
    feed: &Feed,
) -> Result<FeedValues, DataError> {
    match read {
        Read::Npy { array, .. } => npy::read(file, bytes, array.as_deref(), feed),
        Read::Text { stride, tokens, .. } => {
            let how = text::Reading {
                stride: *stride,
                tokens: *tokens,
                vocabulary,
            };
            text::read(file, bytes, how, feed)
        }
        _ => idx::read(file, bytes, feed),
    }
}

fn read_file(path: &Path, files: &mut Vec<(PathBuf, String)>) -> Result<Vec<u8>, DataError> {
    check_regular(path)?;
    let bytes = std::fs::read(path)
        .map_err(|e| DataError::new(path, format!("cannot read the file: {e}")))?;
    if !files.iter().any(|(p, _)| p == path) {
        note_file(files, path, content_hash(&bytes));
    }
    Ok(bytes)
}

/// Records that the run read `path`, whose content hash is `hash`.
fn note_file(files: &mut Vec<(PathBuf, String)>, path: &Path, hash: String) {
    if !files.iter().any(|(p, _)| p == path) {
        files.push((path.to_path_buf(), hash));
    }
}

/// The size in bytes of the regular file `path`.
fn size_of(path: &Path) -> Result<u64, DataError> {
    check_regular(path)?;
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| DataError::new(path, format!("cannot read the file: {e}")))
}

/// `sha256:<hex>` of a file's bytes, as run records name data files.
pub fn content_hash(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// [`content_hash`] of the file at `path`, read in pieces (a data file
/// may be larger than memory).
pub fn file_hash(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(format!("sha256:{hex}"))
}

/// Refuses, before anything opens it, a path that is not a regular file
/// (symbolic links followed): a FIFO without a writer would block the run,
/// and a device such as `/dev/zero` never ends.
fn check_regular(path: &Path) -> Result<(), DataError> {
    let kind = std::fs::metadata(path)
        .map_err(|e| DataError::new(path, format!("cannot read the file: {e}")))?
        .file_type();
    if kind.is_file() {
        return Ok(());
    }
    Err(DataError::new(
        path,
        format!(
            "is {}, not a regular file: a data source must be a regular file",
            kind_name(kind)
        ),
    ))
}

/// What a file that is not a regular file is, for messages.
fn kind_name(kind: std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

/// Shuffles (when the dataset says so) and cuts into the named fractions.
/// Split sizes are rounded down, and the last split takes the remainder;
/// the whole dataset is kept as the part named `None`.
fn split(spec: &DatasetSpec, all: Samples) -> Result<Vec<(Option<String>, Samples)>, String> {
    if spec.splits.is_empty() {
        return Ok(vec![(None, all)]);
    }
    // The whole dataset stays usable too (`data = digits`).
    let whole = all.clone();
    let n = all.len;
    let order: Vec<usize> = match spec.shuffle {
        Some(seed) => rng::permutation(n, seed as u32, rng::stream_of("split"), 0),
        None => (0..n).collect(),
    };
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, (name, fraction)) in spec.splits.iter().enumerate() {
        let end = if i + 1 == spec.splits.len() {
            n
        } else {
            // A small tolerance, so that 0.29 of 100 rows is 29, not 28.
            (start + (fraction * n as f64 + 1e-9).floor() as usize).min(n)
        };
        if end == start {
            return Err(format!(
                "split `{name}` of dataset `{}` gets none of its {n} samples ({fraction} of {n} rounds down to 0): give it a larger fraction",
                spec.name
            ));
        }
        parts.push((Some(name.clone()), all.rows(&order[start..end])));
        start = end;
    }
    parts.push((None, whole));
    Ok(parts)
}

/// Checks one value against what its feed reads it as (its dtype and
/// class count); returns it as stored (class labels and integers as exact
/// integers). `shown` gives the value as messages write it (see
/// [`number`]): it is called only for an error, never for the millions of
/// values that pass.
///
/// Callers refuse NaN and infinities first, with the text or record they
/// came from; an infinity that gets here is a number too large for f64.
/// `values` (read from a file that stores `stores` values: `f32`, `u8`)
/// checked and converted into the feed's dtype: a NaN or an infinity is an
/// error, and every value must fit what the feed reads it as. An error
/// comes with its 0-based record (`per_record` values each).
pub(crate) fn checked_values(
    values: impl Iterator<Item = f64>,
    stores: &str,
    per_record: usize,
    feed: &Feed,
) -> Result<Data, (usize, String)> {
    let values = values
        .enumerate()
        .map(|(i, v)| check_stored(v, stores, feed).map_err(|m| (i / per_record.max(1), m)));
    // Straight into the feed's dtype (as `Tensor::from_f64` converts).
    Ok(match feed.dtype {
        DType::F32 => Data::F32(
            values
                .map(|v| v.map(|v| v as f32))
                .collect::<Result<_, _>>()?,
        ),
        DType::F64 => Data::F64(values.collect::<Result<_, _>>()?),
        DType::I32 => Data::I32(
            values
                .map(|v| v.map(|v| v as i32))
                .collect::<Result<_, _>>()?,
        ),
        DType::Bool => Data::Bool(
            values
                .map(|v| v.map(|v| v != 0.0))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// Checks one value a file stores as `stores` (`f32`, `i64`): finite, and
/// fit for the field.
pub(crate) fn check_stored(v: f64, stores: &str, feed: &Feed) -> Result<f64, String> {
    let shown = || {
        if stores == "f32" {
            number(v as f32)
        } else {
            number(v)
        }
    };
    if v.is_finite() {
        check_value(v, &shown, feed)
    } else {
        Err(format!(
            "{} is not a finite number (the file stores {stores} values)",
            shown()
        ))
    }
}

pub fn check_value(v: f64, shown: &dyn Fn() -> String, feed: &Feed) -> Result<f64, String> {
    if v.is_nan() {
        return Err(format!("{} is not a finite number", shown()));
    }
    if let Some(n) = feed.classes {
        if v.fract() != 0.0 || v < 0.0 || v >= n as f64 {
            return Err(format!(
                "label {} is not a class in 0..{n} (`class({n})`)",
                shown()
            ));
        }
    }
    match feed.dtype {
        DType::I32 => check_integer(v, shown)?,
        DType::F32 if !(v as f32).is_finite() => {
            return Err(format!(
                "{} does not fit in f32 (whose largest value is {:e})",
                shown(),
                f32::MAX
            ))
        }
        DType::F64 if !v.is_finite() => return Err(format!("{} does not fit in f64", shown())),
        DType::Bool if v != 0.0 && v != 1.0 => {
            return Err(format!(
                "{} is not a bool: write 0, 1, `true` or `false`",
                shown()
            ))
        }
        DType::F32 | DType::F64 | DType::Bool => {}
    }
    if let Some((lo, hi)) = feed.range {
        if v < lo as f64 || v > hi as f64 {
            return Err(format!(
                "{} is out of range: the field holds values from {lo} to {hi}",
                shown()
            ));
        }
    }
    Ok(v)
}

/// An integer feed (`i32`, `i64`, `u8`: all are read as i32).
fn check_integer(v: f64, shown: &dyn Fn() -> String) -> Result<(), String> {
    if v < f64::from(i32::MIN) || v > f64::from(i32::MAX) {
        return Err(format!(
            "{} is out of range: integers are read as i32, from {} to {}",
            shown(),
            i32::MIN,
            i32::MAX
        ));
    }
    if v.fract() != 0.0 {
        return Err(format!(
            "{} is not a whole number (the field is read as an integer)",
            shown()
        ));
    }
    Ok(())
}

/// A number for messages: plain when short (`3`, `0.5`), in scientific
/// notation when very large or small (`3e38`, not 39 digits). Written in
/// its own type, so an f32 read from a file shows as that f32 (`3e38`, not
/// `3.0000000054977558e38`).
pub fn number<T>(v: T) -> String
where
    T: Copy + fmt::Display + fmt::LowerExp + Into<f64>,
{
    let a = v.into().abs();
    if a != 0.0 && a.is_finite() && !(1e-6..1e16).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// The longest text a message quotes, in characters.
const QUOTE_CHARS: usize = 80;

/// Text from a file, quoted for a message: in backticks, control characters
/// escaped, and cut at [`QUOTE_CHARS`] characters with `…`, so that a
/// megabyte-long value does not make a megabyte-long error.
pub fn quote(text: &str) -> String {
    let mut out = String::from("`");
    for (i, c) in text.chars().enumerate() {
        if i == QUOTE_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out.push('`');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_text_is_cut_short_and_escaped() {
        assert_eq!(quote("x7"), "`x7`");
        assert_eq!(quote("a\nb"), "`a\\nb`");
        let long = "é".repeat(1000);
        let q = quote(&long);
        assert_eq!(q, format!("`{}…`", "é".repeat(80)));
        assert_eq!(quote(&"a".repeat(80)), format!("`{}`", "a".repeat(80)));
    }

    #[test]
    fn numbers_are_short_in_messages() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(3e38), "3e38");
        assert_eq!(number(3e38f32), "3e38");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::NEG_INFINITY), "-inf");
        assert_eq!(number(1e-300), "1e-300");
    }

    #[cfg(unix)]
    #[test]
    fn only_regular_files_are_read() {
        let mut files = Vec::new();
        for path in ["/dev/zero", "/dev/null", "/"] {
            let e = read_file(Path::new(path), &mut files).unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.csv");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            // No writer: opening it would block; it is refused first.
            let e = read_file(&fifo, &mut files).unwrap_err().to_string();
            assert!(
                e.contains("pipe.csv: is a FIFO (named pipe), not a regular file"),
                "{e}"
            );
        }
        assert!(files.is_empty());
    }
}
