//! Checkpoints: parameters and optimiser state in one safetensors file.
//!
//! Parameters are stored under their paths (`h.w`, `logits.b`), so other
//! tools can read a dlp model directly; optimiser state under
//! `optimizer/<name>` (`optimizer/m.h.w`: a `/` never occurs in a path);
//! where training was (epoch, step, ...) in the file's string metadata.
//! Files are written atomically; [`encode`] gives the bytes for a caller
//! that writes several files as one set (see `train::start`).

use crate::atomic;
use crate::tensor::{Data, Tensor};
use dlp_compiler::ir::DType;
use dlp_compiler::program::ParamSpec;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

const STATE_PREFIX: &str = "optimizer/";
pub const FORMAT: &str = "dlp-checkpoint-1";

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    pub params: HashMap<String, Tensor>,
    pub states: HashMap<String, Tensor>,
    pub meta: BTreeMap<String, String>,
}

fn bytes(t: &Tensor) -> (Dtype, Vec<u8>) {
    let dtype = match &t.data {
        Data::F32(_) => Dtype::F32,
        Data::F64(_) => Dtype::F64,
        Data::I32(_) => Dtype::I32,
        Data::Bool(_) => Dtype::BOOL,
    };
    (dtype, t.to_le_bytes())
}

fn tensor(view: &TensorView) -> Result<Tensor, String> {
    let raw = view.data();
    let shape = view.shape().to_vec();
    let data = match view.dtype() {
        Dtype::F32 => Data::F32(
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        Dtype::F64 => Data::F64(
            raw.chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        ),
        Dtype::I32 => Data::I32(
            raw.chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        Dtype::BOOL => Data::Bool(raw.iter().map(|&b| b != 0).collect()),
        other => return Err(format!("tensors of type {other:?} are not supported")),
    };
    Ok(Tensor::new(shape, data))
}

/// Writes `ck` to `path` atomically.
pub fn save(path: &Path, ck: &Checkpoint) -> Result<(), String> {
    let bytes = encode(ck)?;
    atomic::write(path, &bytes).map_err(|e| write_error(path, &e))
}

/// "cannot write <path>: <why>".
pub fn write_error(path: &Path, e: &std::io::Error) -> String {
    format!("cannot write {}: {e}", path.display())
}

/// `ck` as the bytes of a safetensors file, with the format in its metadata.
pub fn encode(ck: &Checkpoint) -> Result<Vec<u8>, String> {
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, t) in &ck.params {
        let (dtype, data) = bytes(t);
        owned.push((name.clone(), dtype, t.shape.clone(), data));
    }
    for (name, t) in &ck.states {
        let (dtype, data) = bytes(t);
        owned.push((
            format!("{STATE_PREFIX}{name}"),
            dtype,
            t.shape.clone(),
            data,
        ));
    }
    let mut views = Vec::with_capacity(owned.len());
    for (name, dtype, shape, data) in &owned {
        let view =
            TensorView::new(*dtype, shape.clone(), data).map_err(|e| format!("{name}: {e:?}"))?;
        views.push((name.clone(), view));
    }
    let mut meta: HashMap<String, String> = ck.meta.clone().into_iter().collect();
    meta.insert("format".into(), FORMAT.into());
    let bytes = safetensors::tensor::serialize(views, &Some(meta)).map_err(|e| format!("{e:?}"))?;
    Ok(with_sorted_header(bytes))
}

/// `bytes` with the keys of its JSON header in sorted order: `safetensors`
/// writes the metadata in a hash map's order, which differs between
/// processes, and two runs that computed the same must write the same bytes
/// (`dlpc runs reproduce` compares checkpoint hashes). The sorted header is
/// the same JSON with the same length (only the order of its members
/// changes), so the tensors' offsets stay valid.
fn with_sorted_header(mut bytes: Vec<u8>) -> Vec<u8> {
    let Some(len) = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as usize)
    else {
        return bytes;
    };
    let Some(header) = bytes.get(8..8 + len) else {
        return bytes;
    };
    // serde_json's maps are sorted by key (no `preserve_order` feature).
    let sorted = serde_json::from_slice::<serde_json::Value>(header)
        .ok()
        .and_then(|v| serde_json::to_vec(&v).ok());
    match sorted {
        Some(mut sorted) if sorted.len() <= len => {
            // safetensors pads its header with spaces to an aligned length.
            sorted.resize(len, b' ');
            bytes[8..8 + len].copy_from_slice(&sorted);
            bytes
        }
        _ => bytes,
    }
}

/// The string metadata of the checkpoint at `path` (`epoch`, `step`, ...),
/// read from its header alone: the tensors, which may be large, are not read.
pub fn read_meta(path: &Path) -> Result<BTreeMap<String, String>, String> {
    Ok(read_header(path)?.meta)
}

/// What a checkpoint's header says, without its tensors.
pub struct Header {
    pub meta: BTreeMap<String, String>,
    /// Each parameter's dtype and shape (optimiser state left out).
    pub params: BTreeMap<String, (DType, Vec<usize>)>,
}

/// Whether the parameters in `header` are exactly those `params` declares,
/// with their dtypes and shapes; if not, every difference, one per line
/// (what is missing, what is extra, what has another shape).
pub fn fits(header: &Header, params: &[ParamSpec]) -> Result<(), String> {
    let mut problems = Vec::new();
    for p in params {
        match header.params.get(&p.path) {
            None => problems.push(format!(
                "missing: `{}` ({}{:?}) is not in the checkpoint",
                p.path, p.dtype, p.shape
            )),
            Some((dtype, shape)) if *dtype != p.dtype || *shape != p.shape => {
                problems.push(format!(
                "mis-shaped: `{}` is {dtype}{shape:?} in the checkpoint but {}{:?} in the program",
                p.path, p.dtype, p.shape
            ))
            }
            Some(_) => {}
        }
    }
    for (name, (dtype, shape)) in &header.params {
        if !params.iter().any(|p| &p.path == name) {
            problems.push(format!(
                "extra: `{name}` ({dtype}{shape:?}) is in the checkpoint but the program declares no such parameter"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// The header of the checkpoint at `path`: its metadata and each
/// parameter's dtype and shape, read without the tensors.
pub fn read_header(path: &Path) -> Result<Header, String> {
    let not_safetensors =
        |why: &str| format!("{} is not a safetensors file: {why}", path.display());
    let mut f =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .map_err(|e| not_safetensors(&e.to_string()))?;
    let len = u64::from_le_bytes(len);
    if len > MAX_HEADER {
        return Err(not_safetensors("its header is too large"));
    }
    let mut header = Vec::new();
    f.take(len)
        .read_to_end(&mut header)
        .map_err(|e| not_safetensors(&e.to_string()))?;
    let header: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| not_safetensors(&e.to_string()))?;
    let meta: BTreeMap<String, String> = header
        .get("__metadata__")
        .and_then(serde_json::Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    if meta.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(format!("{} is not a dlp checkpoint", path.display()));
    }
    let mut params = BTreeMap::new();
    for (name, info) in header.as_object().into_iter().flatten() {
        if name == "__metadata__" || name.starts_with(STATE_PREFIX) {
            continue;
        }
        let dtype = match info.get("dtype").and_then(serde_json::Value::as_str) {
            Some("F32") => DType::F32,
            Some("F64") => DType::F64,
            Some("I32") => DType::I32,
            Some("BOOL") => DType::Bool,
            other => {
                return Err(not_safetensors(&format!(
                    "tensor `{name}` has the unsupported dtype {}",
                    other.unwrap_or("(none)")
                )))
            }
        };
        let shape: Option<Vec<usize>> = info
            .get("shape")
            .and_then(serde_json::Value::as_array)
            .map(|dims| {
                dims.iter()
                    .filter_map(|d| d.as_u64().map(|d| d as usize))
                    .collect()
            });
        let Some(shape) = shape else {
            return Err(not_safetensors(&format!("tensor `{name}` has no shape")));
        };
        params.insert(name.clone(), (dtype, shape));
    }
    Ok(Header { meta, params })
}

/// The largest header [`read_meta`] reads (the safetensors format's limit).
const MAX_HEADER: u64 = 100_000_000;

pub fn load(path: &Path) -> Result<Checkpoint, String> {
    let buffer = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file = SafeTensors::deserialize(&buffer)
        .map_err(|e| format!("{} is not a safetensors file: {e:?}", path.display()))?;
    let (_, header) = SafeTensors::read_metadata(&buffer)
        .map_err(|e| format!("{} is not a safetensors file: {e:?}", path.display()))?;
    let meta: BTreeMap<String, String> = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    if meta.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(format!("{} is not a dlp checkpoint", path.display()));
    }
    let mut ck = Checkpoint {
        meta,
        ..Checkpoint::default()
    };
    for (name, view) in file.tensors() {
        let t = tensor(&view).map_err(|e| format!("{}: `{name}`: {e}", path.display()))?;
        match name.strip_prefix(STATE_PREFIX) {
            Some(state) => ck.states.insert(state.to_string(), t),
            None => ck.params.insert(name, t),
        };
    }
    Ok(ck)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_params_state_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("last.safetensors");
        let mut ck = Checkpoint::default();
        ck.params.insert(
            "h.w".into(),
            Tensor::f32(vec![2, 3], vec![1.0, -2.0, 3.5, 0.0, 1e-8, -0.0]),
        );
        ck.params
            .insert("h.b".into(), Tensor::f64(vec![2], vec![0.25, 7.0]));
        ck.states
            .insert("m.h.w".into(), Tensor::f32(vec![2, 3], vec![0.5; 6]));
        ck.meta.insert("epoch".into(), "3".into());
        save(&path, &ck).unwrap();
        let back = load(&path).unwrap();
        assert_eq!(back.params, ck.params);
        assert_eq!(back.states, ck.states);
        assert_eq!(back.meta.get("epoch").map(String::as_str), Some("3"));
    }

    #[test]
    fn the_same_checkpoint_gives_the_same_bytes() {
        let mut ck = Checkpoint::default();
        for (i, name) in ["a.w", "b.w", "c.b"].iter().enumerate() {
            ck.params
                .insert(name.to_string(), Tensor::f32(vec![2], vec![i as f32, 1.0]));
        }
        for key in ["epoch", "step", "best", "bad_validations", "seed"] {
            ck.meta.insert(key.into(), format!("{key}-value"));
        }
        let first = encode(&ck).unwrap();
        // Hash maps iterate in a different order in every new map.
        for _ in 0..20 {
            let again = Checkpoint {
                params: ck.params.clone().into_iter().collect(),
                meta: ck.meta.clone(),
                ..Checkpoint::default()
            };
            assert_eq!(encode(&again).unwrap(), first);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        std::fs::write(&path, &first).unwrap();
        assert_eq!(load(&path).unwrap().params, ck.params);
    }

    #[test]
    fn a_torn_write_leaves_the_previous_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("last.safetensors");
        let mut ck = Checkpoint::default();
        ck.params
            .insert("w".into(), Tensor::f32(vec![1], vec![1.0]));
        save(&path, &ck).unwrap();
        // A process that dies mid-write leaves only its temporary file.
        std::fs::write(
            dir.path().join(".last.safetensors.tmp-999"),
            b"\x10\x00\x00",
        )
        .unwrap();
        assert_eq!(load(&path).unwrap().params, ck.params);
    }

    #[test]
    fn reads_the_metadata_from_the_header_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("last.safetensors");
        let mut ck = Checkpoint::default();
        ck.params
            .insert("w".into(), Tensor::f32(vec![3], vec![1.0, 2.0, 3.0]));
        ck.meta.insert("epoch".into(), "7".into());
        save(&path, &ck).unwrap();
        let meta = read_meta(&path).unwrap();
        assert_eq!(meta.get("epoch").map(String::as_str), Some("7"));
        assert_eq!(meta.get("format").map(String::as_str), Some(FORMAT));
        std::fs::write(&path, b"\x02\x00\x00\x00\x00\x00\x00\x00{}").unwrap();
        assert!(read_meta(&path)
            .unwrap_err()
            .contains("not a dlp checkpoint"));
        std::fs::write(&path, b"\xff\xff\xff\xff\xff\xff\xff\xff").unwrap();
        assert!(read_meta(&path).unwrap_err().contains("too large"));
    }

    #[test]
    fn rejects_files_that_are_not_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.safetensors");
        std::fs::write(&path, b"not a checkpoint").unwrap();
        assert!(load(&path).unwrap_err().contains("not a safetensors file"));
    }
}
