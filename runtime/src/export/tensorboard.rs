//! A run record as a TensorBoard event file.
//!
//! An event file is a sequence of TFRecords, each a serialized `Event`
//! protobuf (TensorFlow's `event.proto`):
//!
//! ```text
//! u64 length (little-endian) | u32 masked CRC-32C of the length
//! data (length bytes)        | u32 masked CRC-32C of the data
//! ```
//!
//! The first event says the file's format (`file_version:
//! "brain.Event:2"`, which also tells TensorBoard not to drop values whose
//! step goes back, as the per-epoch series' do after the per-step ones);
//! every other holds one scalar (`summary { value { tag simple_value } }`)
//! of the series [`Record::read`] makes.
//!
//! The file is `<dir>/<run id>/events.out.tfevents.<start>.dlp`: one
//! folder per run, which `tensorboard --logdir <dir>` shows as a run, and
//! a name that depends only on the record, so that exporting again
//! replaces the file instead of adding one whose values TensorBoard would
//! show twice.

use super::{write_synced, Exported, Record};
use prost::Message;
use std::fs;
use std::path::{Path, PathBuf};

/// TensorFlow's `Event`, with the fields dlp writes.
#[derive(Clone, PartialEq, Message)]
pub struct Event {
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    #[prost(int64, tag = "2")]
    pub step: i64,
    #[prost(oneof = "What", tags = "3, 5")]
    pub what: Option<What>,
}

/// `Event`'s `oneof what`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum What {
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(message, tag = "5")]
    Summary(Summary),
}

/// TensorFlow's `Summary`.
#[derive(Clone, PartialEq, Message)]
pub struct Summary {
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// `Summary.Value`, with a scalar.
#[derive(Clone, PartialEq, Message)]
pub struct SummaryValue {
    #[prost(string, tag = "1")]
    pub tag: String,
    /// A member of `oneof value` in TensorFlow: it must be written even
    /// when it is 0 (a plain proto3 `float` would leave a 0 out, and
    /// TensorBoard would see no value), hence `optional`.
    #[prost(float, optional, tag = "2")]
    pub simple_value: Option<f32>,
}

/// The format TensorBoard reads (`brain.Event:1` files get out-of-order
/// steps purged).
pub const FILE_VERSION: &str = "brain.Event:2";

/// Writes the run recorded in `run` as an event file in `dir/<run id>/`
/// and returns its path.
pub fn tensorboard(run: &Path, dir: &Path) -> Result<PathBuf, String> {
    export(run, dir).map(|e| e.path)
}

/// [`tensorboard()`], saying what it wrote.
pub fn export(run: &Path, dir: &Path) -> Result<Exported, String> {
    let rec = Record::read(run)?;
    let folder = dir.join(&rec.id);
    fs::create_dir_all(&folder).map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let folder = folder.canonicalize().unwrap_or(folder);
    let name = format!("events.out.tfevents.{}.dlp", rec.start.floor() as i64);
    let path = folder.join(&name);
    let bytes = events(&rec);
    // Staged under a name without `tfevents`, which TensorBoard would read
    // while it is being written, then renamed over the old file.
    let staged = folder.join(format!(".dlp-export-{}.tmp", std::process::id()));
    let written = write_synced(&staged, &bytes).and_then(|()| {
        fs::rename(&staged, &path).map_err(|e| {
            format!(
                "cannot move {} to {}: {e}",
                staged.display(),
                path.display()
            )
        })
    });
    if written.is_err() {
        let _ = fs::remove_file(&staged);
    }
    written?;
    Ok(Exported {
        path,
        id: name,
        scalars: rec.scalars.len(),
        series: rec.series.len(),
        notes: rec.notes,
    })
}

/// The whole event file: the version event, then one event per scalar.
pub fn events(rec: &Record) -> Vec<u8> {
    let mut out = Vec::new();
    let version = Event {
        wall_time: rec.start,
        step: 0,
        what: Some(What::FileVersion(FILE_VERSION.into())),
    };
    frame(&version.encode_to_vec(), &mut out);
    for s in &rec.scalars {
        let Some(series) = rec.series.get(s.series) else {
            continue;
        };
        let event = Event {
            wall_time: s.time,
            step: s.step,
            what: Some(What::Summary(Summary {
                value: vec![SummaryValue {
                    tag: series.tag.clone(),
                    // TensorBoard's scalars are f32.
                    simple_value: Some(s.value as f32),
                }],
            })),
        };
        frame(&event.encode_to_vec(), &mut out);
    }
    out
}

/// Appends one TFRecord holding `data`.
pub fn frame(data: &[u8], out: &mut Vec<u8>) {
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
}

const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

pub fn crc32c(data: &[u8]) -> u32 {
    CRC32C.checksum(data)
}

/// TFRecord's masked CRC: rotated and offset, because a CRC of data that
/// holds CRCs is weak.
pub fn masked_crc(data: &[u8]) -> u32 {
    crc32c(data).rotate_right(15).wrapping_add(0xa282_ead8)
}

/// The records of an event file, checking both checksums of each.
pub fn unframe(mut bytes: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut records = Vec::new();
    while !bytes.is_empty() {
        let (header, rest) = bytes.split_at_checked(12).ok_or("a torn record header")?;
        let (len, len_crc) = header.split_at(8);
        if masked_crc(len).to_le_bytes() != len_crc {
            return Err(format!("record {}: bad length checksum", records.len()));
        }
        let mut n = [0u8; 8];
        n.copy_from_slice(len);
        let n = usize::try_from(u64::from_le_bytes(n)).map_err(|e| e.to_string())?;
        let (data, rest) = rest
            .split_at_checked(n)
            .ok_or_else(|| format!("record {}: torn data", records.len()))?;
        let (crc, rest) = rest
            .split_at_checked(4)
            .ok_or_else(|| format!("record {}: torn checksum", records.len()))?;
        if masked_crc(data).to_le_bytes() != crc {
            return Err(format!("record {}: bad data checksum", records.len()));
        }
        records.push(data);
        bytes = rest;
    }
    Ok(records)
}

/// The events of an event file (for tests and checks).
pub fn read_events(bytes: &[u8]) -> Result<Vec<Event>, String> {
    unframe(bytes)?
        .into_iter()
        .enumerate()
        .map(|(i, r)| Event::decode(r).map_err(|e| format!("record {i}: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::tests::sample_record;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn crc32c_matches_known_vectors() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        // RFC 3720 (iSCSI), B.4.
        assert_eq!(crc32c(&[0; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFF; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
        // TensorBoard's `masked_crc32c(b"123456789")`.
        assert_eq!(masked_crc(b"123456789"), 0xC78A_B0E5);
    }

    /// The bytes TensorBoard's own writer (`RecordWriter` and the
    /// `event_pb2` messages) makes for the same two events.
    const REFERENCE: &str = "1800000000000000a37f4b2209000000000000f83f1a0d627261696e2e4576656e\
        743a322a28646c200000000000000029eda950090000108b5a49da4110022a130a110a0a747261696e2f6c\
        6f737315000000001d2d282b";

    fn reference_events() -> [Event; 2] {
        [
            Event {
                wall_time: 1.5,
                step: 0,
                what: Some(What::FileVersion(FILE_VERSION.into())),
            },
            Event {
                wall_time: 1_764_059_692.25,
                step: 2,
                what: Some(What::Summary(Summary {
                    value: vec![SummaryValue {
                        tag: "train/loss".into(),
                        simple_value: Some(0.0),
                    }],
                })),
            },
        ]
    }

    #[test]
    fn frames_events_as_tensorboard_does() {
        let mut out = Vec::new();
        for e in reference_events() {
            frame(&e.encode_to_vec(), &mut out);
        }
        assert_eq!(out, unhex(REFERENCE));
    }

    #[test]
    fn events_decode_to_what_was_encoded() {
        let mut out = Vec::new();
        for e in reference_events() {
            frame(&e.encode_to_vec(), &mut out);
        }
        assert_eq!(read_events(&out).unwrap(), reference_events());

        // A flipped bit is found.
        out[30] ^= 1;
        assert!(unframe(&out).unwrap_err().contains("bad data checksum"));
        assert!(unframe(&out[..out.len() - 1]).is_err());
    }

    #[test]
    fn writes_one_event_per_scalar_and_replaces_the_file() {
        let root = tempfile::tempdir().unwrap();
        let run = sample_record(root.path(), true);
        let tb = root.path().join("tb");
        let path = tensorboard(&run, &tb).unwrap();
        assert_eq!(
            path,
            tb.canonicalize()
                .unwrap()
                .join("20261125-083451-tiny/events.out.tfevents.1795595691.dlp")
        );
        let events = read_events(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(events.len(), 1 + 10);
        assert_eq!(events[0].what, Some(What::FileVersion(FILE_VERSION.into())));
        assert_eq!(events[0].wall_time, 1_795_595_691.0);
        let scalar = |e: &Event| match &e.what {
            Some(What::Summary(s)) => (s.value[0].tag.clone(), e.step, s.value[0].simple_value),
            _ => panic!("not a scalar: {e:?}"),
        };
        assert_eq!(scalar(&events[1]), ("loss".into(), 1, Some(0.75)));
        assert_eq!(events[1].wall_time, 1_795_595_692.25);
        assert!(scalar(&events[3]).2.unwrap().is_nan());
        assert_eq!(scalar(&events[5]), ("train/accuracy".into(), 1, Some(0.25)));
        assert_eq!(
            scalar(&events[10]),
            ("final/x.test/loss".into(), 1, Some(0.625))
        );

        tensorboard(&run, &tb).unwrap();
        let files: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(files.len(), 1, "exporting again replaces the file");
    }
}
