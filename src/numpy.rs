//! NumPy files that dlpc writes: `.npy` arrays (`dlpc predict -o x.npy`)
//! and `.npz` archives of them (`dlpc export --samples`).

use dlp_runtime::tensor::{Data, Tensor};
use std::io::Write;

/// An `.npy` file of `values`, row-major, with shape `shape`.
pub fn npy<T: npyz::AutoSerialize>(
    shape: &[u64],
    values: impl Iterator<Item = T>,
) -> Result<Vec<u8>, String> {
    use npyz::WriterBuilder;
    let mut out = Vec::new();
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut out)
        .begin_nd()
        .map_err(|e| e.to_string())?;
    writer.extend(values).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// A tensor as an `.npy` file, in its own dtype.
pub fn tensor_npy(t: &Tensor) -> Result<Vec<u8>, String> {
    let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
    match &t.data {
        Data::F32(v) => npy(&shape, v.iter().copied()),
        Data::F64(v) => npy(&shape, v.iter().copied()),
        Data::I32(v) => npy(&shape, v.iter().copied()),
        Data::Bool(v) => npy(&shape, v.iter().copied()),
    }
}

/// An `.npz` archive (as `np.savez` writes) of named tensors.
pub fn npz(members: &[(String, Tensor)]) -> Result<Vec<u8>, String> {
    let mut archive = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut archive);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, t) in members {
        zip.start_file(format!("{name}.npy"), options)
            .map_err(|e| e.to_string())?;
        zip.write_all(&tensor_npy(t)?).map_err(|e| e.to_string())?;
    }
    zip.finish().map_err(|e| e.to_string())?;
    Ok(archive.into_inner())
}
