//! Training curves as TensorBoard event files, which TensorBoard reads and
//! `wandb sync --sync-tensorboard` uploads. Written by hand: an event file is a sequence of
//! TFRecords (length, CRC-32C, bytes, CRC-32C) holding `Event` protocol buffers, and a scalar
//! event needs five protobuf fields; the crates that write these are unmaintained or pull
//! in a whole protobuf toolchain.
//!
//! Format: tensorflow/core/util/event.proto, summary.proto; record framing:
//! tensorflow/core/lib/io/record_writer.cc.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// TFRecord's masked CRC-32C.
fn masked_crc(bytes: &[u8]) -> u32 {
    let c = CRC32C.checksum(bytes);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited protobuf field.
fn bytes_field(field: u32, bytes: &[u8], out: &mut Vec<u8>) {
    varint(((field << 3) | 2) as u64, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// `Event { wall_time = 1 (double), step = 2 (int64), file_version = 3 | summary = 5 }`.
fn event(wall_time: f64, step: i64, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut e = vec![0x09];
    e.extend_from_slice(&wall_time.to_le_bytes());
    e.push(0x10);
    varint(step as u64, &mut e);
    body(&mut e);
    e
}

/// Appends scalar summaries to one event file.
pub struct EventWriter {
    file: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl EventWriter {
    /// A new event file in `dir` (earlier ones there, from an interrupted run, are removed
    /// so that TensorBoard does not show two curves for one run).
    pub fn create(dir: &Path) -> Result<EventWriter> {
        for e in std::fs::read_dir(dir)?.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with("events.out.tfevents.")
            {
                std::fs::remove_file(e.path())?;
            }
        }
        let path = dir.join(format!("events.out.tfevents.{:.0}.w2s", now()));
        let file =
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut w = EventWriter {
            file: std::io::BufWriter::new(file),
            path,
        };
        let version = event(now(), 0, |e| bytes_field(3, b"brain.Event:2", e));
        w.record(&version)?;
        Ok(w)
    }

    fn record(&mut self, data: &[u8]) -> Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        self.file.write_all(&len)?;
        self.file.write_all(&masked_crc(&len).to_le_bytes())?;
        self.file.write_all(data)?;
        self.file.write_all(&masked_crc(data).to_le_bytes())?;
        Ok(())
    }

    /// Scalars `(tag, value)` at `step`.
    pub fn scalars(&mut self, step: i64, values: &[(&str, f64)]) -> Result<()> {
        let mut summary = Vec::new();
        for (tag, v) in values {
            // Summary.Value { tag = 1 (string), simple_value = 2 (float) }
            let mut value = Vec::new();
            bytes_field(1, tag.as_bytes(), &mut value);
            value.push(0x15);
            value.extend_from_slice(&(*v as f32).to_le_bytes());
            bytes_field(1, &value, &mut summary);
        }
        let e = event(now(), step, |e| bytes_field(5, &summary, e));
        self.record(&e)
    }

    pub fn finish(mut self) -> Result<PathBuf> {
        self.file.flush()?;
        Ok(self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_and_varints_match_known_values() {
        // CRC-32C of "123456789" is 0xE3069283 (the check value of the Castagnoli CRC).
        assert_eq!(CRC32C.checksum(b"123456789"), 0xe306_9283);
        let mut v = Vec::new();
        varint(300, &mut v);
        assert_eq!(v, [0xac, 0x02]);
    }
}
