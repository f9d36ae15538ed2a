//! The preprocessing cache: what is expensive and deterministic to prepare
//! (decoding and resizing a folder of images) is kept on disk, so that the
//! next run over the same data skips it.
//!
//! An entry's key is a hash of the data's *content* (every file's name and
//! bytes) and of the preparation's definition (size, channels, crop,
//! conversion, and the cache format's version), never of modification
//! times: changing an image or the size makes a new entry, while changing
//! anything the preparation does not read (dropout, the batch size, the
//! model) reuses it. An entry holds a one-line JSON header (what it is, for
//! `dlpc cache ls`, and the payload's hash) and the payload; an entry that
//! does not match its hash is ignored and rewritten. Entries are written
//! to a temporary file and renamed, so a run never reads a partial one.
//!
//! The cache lives in `$DLP_CACHE` if set (`DLP_CACHE=off` turns it off),
//! else `$XDG_CACHE_HOME/dlp`, else `~/.cache/dlp` (the system's temporary
//! folder when there is no home).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Bumped whenever what an entry holds, or how it is made, changes.
pub const VERSION: u32 = 1;

/// What an entry is, as its header line says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// What was prepared: `images`.
    pub kind: String,
    /// The data it was prepared from (a folder), as the program named it.
    pub source: String,
    /// A short description of the preparation (`1,000 images, 3x64x64`).
    pub what: String,
    /// `sha256:<hex>` of the payload.
    pub payload: String,
    pub created: String,
}

/// One entry of the cache, for `dlpc cache ls`.
#[derive(Clone, Debug)]
pub struct Entry {
    pub path: PathBuf,
    pub bytes: u64,
    pub header: Option<Header>,
}

/// The cache's folder, or `None` when it is turned off.
pub fn folder() -> Option<PathBuf> {
    match std::env::var_os("DLP_CACHE") {
        Some(v) if v == "off" => None,
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
                .unwrap_or_else(std::env::temp_dir);
            Some(base.join("dlp"))
        }
    }
}

/// The key of an entry: a hash of everything that defines it.
pub fn key(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(VERSION.to_le_bytes());
    for p in parts {
        hasher.update((p.len() as u64).to_le_bytes());
        hasher.update(p.as_bytes());
    }
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn entry_path(folder: &Path, key: &str) -> PathBuf {
    folder.join(format!("{key}.dlpcache"))
}

/// The payload of the entry `key`, if there is a whole and intact one.
pub fn load(key: &str) -> Option<Vec<u8>> {
    let path = entry_path(&folder()?, key);
    let mut reader = BufReader::new(std::fs::File::open(path).ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let header: Header = serde_json::from_str(&line).ok()?;
    let mut payload = Vec::new();
    reader.read_to_end(&mut payload).ok()?;
    (header.payload == format!("sha256:{}", hex(&Sha256::digest(&payload)))).then_some(payload)
}

/// Keeps `payload` as the entry `key`. The cache only saves time, so a
/// failure to write it is reported as a warning and the run goes on.
pub fn store(key: &str, kind: &str, source: &str, what: &str, payload: &[u8]) {
    let Some(folder) = folder() else {
        return;
    };
    let header = Header {
        kind: kind.to_string(),
        source: source.to_string(),
        what: what.to_string(),
        payload: format!("sha256:{}", hex(&Sha256::digest(payload))),
        created: crate::record::utc_stamp(std::time::SystemTime::now()),
    };
    if let Err(e) = write_entry(&folder, key, &header, payload) {
        eprintln!(
            "warning: cannot write the preprocessing cache in {}: {e} (the run goes on without it)",
            folder.display()
        );
    }
}

fn write_entry(folder: &Path, key: &str, header: &Header, payload: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(folder)?;
    let path = entry_path(folder, key);
    let partial = folder.join(format!(".{key}.{}.partial", std::process::id()));
    let written = (|| {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&partial)?);
        serde_json::to_writer(&mut file, header)?;
        file.write_all(b"\n")?;
        file.write_all(payload)?;
        file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&partial, &path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
}

/// Every entry in the cache, newest first.
pub fn list() -> std::io::Result<Vec<Entry>> {
    let Some(folder) = folder() else {
        return Ok(Vec::new());
    };
    let read = match std::fs::read_dir(&folder) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut entries = Vec::new();
    for item in read {
        let path = item?.path();
        if path.extension().is_none_or(|e| e != "dlpcache") {
            continue;
        }
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let header = std::fs::File::open(&path).ok().and_then(|f| {
            let mut line = String::new();
            BufReader::new(f).read_line(&mut line).ok()?;
            serde_json::from_str(&line).ok()
        });
        entries.push(Entry {
            path,
            bytes,
            header,
        });
    }
    entries.sort_by(|a, b| {
        let created = |e: &Entry| e.header.as_ref().map(|h| h.created.clone());
        created(b).cmp(&created(a))
    });
    Ok(entries)
}

/// Removes every entry (and what interrupted writes left); returns how
/// many entries and their bytes.
pub fn clear() -> std::io::Result<(usize, u64)> {
    let mut removed = (0, 0);
    for entry in list()? {
        std::fs::remove_file(&entry.path)?;
        removed.0 += 1;
        removed.1 += entry.bytes;
    }
    if let Some(folder) = folder() {
        for item in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let name = item.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.ends_with(".partial") {
                std::fs::remove_file(item.path())?;
            }
        }
    }
    Ok(removed)
}
